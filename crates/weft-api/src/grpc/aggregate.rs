//! gRPC `Aggregate` (`aggregate.over_all`, `len(collection)`, `aggregate.near_vector`, …):
//! request → [`AggregateRequest`], results → the reply with exactly the metrics asked for.

use weft_db::NearQuery;
use weft_db::query::{
    AggregateGroup, AggregateRequest, GroupValue, PropertyMetrics, PropertyStats,
};

use super::filters;
use crate::error::{ErrorCode, WireError};
use crate::proto::v1::aggregate_reply::aggregations::Aggregation as ReplyAgg;
use crate::proto::v1::aggregate_reply::aggregations::aggregation::text::TopOccurrences;
use crate::proto::v1::aggregate_reply::aggregations::aggregation::text::top_occurrences::TopOccurrence;
use crate::proto::v1::aggregate_reply::aggregations::aggregation::{
    Aggregation as ReplyKind, Boolean as RBool, Date as RDate, Integer as RInt, Number as RNum,
    Text as RText,
};
use crate::proto::v1::aggregate_reply::group::GroupedBy;
use crate::proto::v1::aggregate_reply::group::grouped_by::Value as GroupedValue;
use crate::proto::v1::aggregate_reply::{
    Aggregations, Group, Grouped, Result as ReplyResult, Single,
};
use crate::proto::v1::aggregate_request::aggregation::Aggregation as Asked;
use crate::proto::v1::{AggregateReply, AggregateRequest as WireRequest};

fn invalid(message: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::InvalidInput, message)
}

/// A planned aggregation and what the reply must contain.
#[derive(Debug, Clone)]
pub struct AggregatePlan {
    /// The database query.
    pub query: AggregateRequest,
    /// `objects_count` was asked.
    pub objects_count: bool,
    /// Per property, the metrics asked (same order as `query.properties`).
    pub asked: Vec<(String, Option<Asked>)>,
}

/// Reads the request (its vector part converted as Search converts it).
pub fn plan(req: WireRequest) -> Result<AggregatePlan, WireError> {
    use crate::proto::v1::aggregate_request::Search;
    let WireRequest {
        collection,
        tenant,
        objects_count,
        aggregations,
        object_limit,
        group_by,
        limit,
        filters: wire_filter,
        search,
    } = req;
    let near: Option<NearQuery> = match search {
        None => None,
        Some(Search::NearVector(v)) => Some(super::search::near_vector_query(v)?),
        Some(Search::NearObject(o)) => Some(super::search::near_object_query(o)?),
        Some(_) => {
            return Err(invalid(
                "this aggregation search (hybrid, near_text or a media search) is not supported by weft yet",
            ));
        }
    };
    if collection.is_empty() {
        return Err(invalid("collection is required"));
    }
    let mut asked = Vec::new();
    let mut properties = Vec::new();
    for a in aggregations {
        let top = match &a.aggregation {
            Some(Asked::Text(t)) if t.top_occurences => {
                Some(t.top_occurences_limit.map_or(5, |l| l as usize))
            }
            _ => None,
        };
        properties.push(PropertyMetrics {
            property: a.property.clone(),
            top_occurrences: top,
        });
        asked.push((a.property, a.aggregation));
    }
    let filter = wire_filter.map(filters::filter).transpose()?;
    Ok(AggregatePlan {
        query: AggregateRequest {
            class: collection,
            filter,
            near,
            object_limit: object_limit.map(u64::from),
            properties,
            group_by: group_by.map(|g| g.property),
            limit: limit.map(u64::from),
            tenant: (!tenant.is_empty()).then_some(tenant),
        },
        objects_count,
        asked,
    })
}

fn i(x: Option<f64>) -> Option<i64> {
    x.map(|v| v.round() as i64)
}

fn count(c: u64) -> Option<i64> {
    Some(i64::try_from(c).unwrap_or(i64::MAX))
}

fn property(stats: &PropertyStats, asked: Option<&Asked>, name: &str) -> Option<ReplyAgg> {
    let kind = match (stats, asked) {
        (PropertyStats::Numeric { int, stats: n }, Some(Asked::Int(a))) => ReplyKind::Int(RInt {
            count: a.count.then(|| count(n.count)).flatten(),
            r#type: a
                .r#type
                .then(|| if *int { "int" } else { "number" }.to_string()),
            mean: a.mean.then_some(n.mean).flatten(),
            median: a.median.then_some(n.median).flatten(),
            mode: a.mode.then(|| i(n.mode)).flatten(),
            maximum: a.maximum.then(|| i(n.maximum)).flatten(),
            minimum: a.minimum.then(|| i(n.minimum)).flatten(),
            sum: a.sum.then(|| i(n.sum)).flatten(),
        }),
        (PropertyStats::Numeric { stats: n, .. }, Some(Asked::Number(a))) => {
            ReplyKind::Number(RNum {
                count: a.count.then(|| count(n.count)).flatten(),
                r#type: a.r#type.then(|| "number".to_string()),
                mean: a.mean.then_some(n.mean).flatten(),
                median: a.median.then_some(n.median).flatten(),
                mode: a.mode.then_some(n.mode).flatten(),
                maximum: a.maximum.then_some(n.maximum).flatten(),
                minimum: a.minimum.then_some(n.minimum).flatten(),
                sum: a.sum.then_some(n.sum).flatten(),
            })
        }
        (PropertyStats::Text { count: c, top }, Some(Asked::Text(a))) => ReplyKind::Text(RText {
            count: a.count.then(|| count(*c)).flatten(),
            r#type: a.r#type.then(|| "text".to_string()),
            top_occurences: a.top_occurences.then(|| TopOccurrences {
                items: top
                    .iter()
                    .map(|(v, n)| TopOccurrence {
                        value: v.clone(),
                        occurs: i64::try_from(*n).unwrap_or(i64::MAX),
                    })
                    .collect(),
            }),
        }),
        (
            PropertyStats::Boolean {
                count: c,
                total_true,
                total_false,
                percentage_true,
                percentage_false,
            },
            Some(Asked::Boolean(a)),
        ) => ReplyKind::Boolean(RBool {
            count: a.count.then(|| count(*c)).flatten(),
            r#type: a.r#type.then(|| "boolean".to_string()),
            total_true: a.total_true.then(|| count(*total_true)).flatten(),
            total_false: a.total_false.then(|| count(*total_false)).flatten(),
            percentage_true: a.percentage_true.then_some(*percentage_true).flatten(),
            percentage_false: a.percentage_false.then_some(*percentage_false).flatten(),
        }),
        (
            PropertyStats::Date {
                count: c,
                median,
                mode,
                maximum,
                minimum,
            },
            Some(Asked::Date(a)),
        ) => ReplyKind::Date(RDate {
            count: a.count.then(|| count(*c)).flatten(),
            r#type: a.r#type.then(|| "date".to_string()),
            median: a.median.then(|| median.clone()).flatten(),
            mode: a.mode.then(|| mode.clone()).flatten(),
            maximum: a.maximum.then(|| maximum.clone()).flatten(),
            minimum: a.minimum.then(|| minimum.clone()).flatten(),
        }),
        _ => return None,
    };
    Some(ReplyAgg {
        property: name.to_string(),
        aggregation: Some(kind),
    })
}

/// Checks that each property was asked with metrics of its type.
pub fn check_types(plan: &AggregatePlan, groups: &[AggregateGroup]) -> Result<(), WireError> {
    let Some(first) = groups.first() else {
        return Ok(());
    };
    for ((name, asked), (_, stats)) in plan.asked.iter().zip(&first.properties) {
        let fits = matches!(
            (stats, asked),
            (
                PropertyStats::Numeric { .. },
                Some(Asked::Int(_) | Asked::Number(_))
            ) | (PropertyStats::Text { .. }, Some(Asked::Text(_)))
                | (PropertyStats::Boolean { .. }, Some(Asked::Boolean(_)))
                | (PropertyStats::Date { .. }, Some(Asked::Date(_)))
        );
        if !fits {
            return Err(invalid(format!(
                "aggregation of property {name:?}: the metrics asked do not fit its data type"
            )));
        }
    }
    Ok(())
}

fn aggregations(plan: &AggregatePlan, g: &AggregateGroup) -> Option<Aggregations> {
    if plan.asked.is_empty() {
        return None;
    }
    Some(Aggregations {
        aggregations: plan
            .asked
            .iter()
            .zip(&g.properties)
            .filter_map(|((name, asked), (_, stats))| property(stats, asked.as_ref(), name))
            .collect(),
    })
}

/// The reply for the groups the database computed.
pub fn reply(plan: &AggregatePlan, groups: Vec<AggregateGroup>, took: f32) -> AggregateReply {
    let objects_count = |g: &AggregateGroup| plan.objects_count.then(|| count(g.count)).flatten();
    let result = if plan.query.group_by.is_some() {
        ReplyResult::GroupedResults(Grouped {
            groups: groups
                .iter()
                .map(|g| Group {
                    objects_count: objects_count(g),
                    aggregations: aggregations(plan, g),
                    grouped_by: g.grouped_by.as_ref().map(|(p, v)| GroupedBy {
                        path: vec![p.clone()],
                        value: Some(match v {
                            GroupValue::Text(t) => GroupedValue::Text(t.clone()),
                            GroupValue::Int(i) => GroupedValue::Int(*i),
                            GroupValue::Number(n) => GroupedValue::Number(*n),
                            GroupValue::Bool(b) => GroupedValue::Boolean(*b),
                        }),
                    }),
                })
                .collect(),
        })
    } else {
        let single = groups.first();
        ReplyResult::SingleResult(Single {
            objects_count: single.and_then(objects_count),
            aggregations: single.and_then(|g| aggregations(plan, g)),
        })
    };
    AggregateReply {
        took,
        result: Some(result),
    }
}
