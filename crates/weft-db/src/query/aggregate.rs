//! Aggregations over the objects of a class, optionally filtered, restricted to the nearest
//! neighbours of a vector, and grouped by a property: count, and per property type the
//! metrics Weaviate computes (median averages the two middle values, the mode is the most
//! frequent value and the smallest among equals, top occurrences order by count, then value).
//! A plain total count is answered from the stored counter, without reading objects.

use std::collections::BTreeMap;

use serde_json::Value;

use super::filter::Filter;
use crate::Db;
use crate::error::{DbError, UserError};
use crate::object::StoredObject;
use crate::object::coerce::parse_date;
use crate::query::search::{NearQuery, Query};
use crate::schema::{ClassDef, Primitive};

/// The metrics wanted of one property.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyMetrics {
    /// The property.
    pub property: String,
    /// Top occurrences wanted for text (`None`: not asked), with their limit (default 5).
    pub top_occurrences: Option<usize>,
}

/// An aggregation query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AggregateRequest {
    /// The class.
    pub class: String,
    /// Only matching objects.
    pub filter: Option<Filter>,
    /// Only the `object_limit` nearest objects.
    pub near: Option<NearQuery>,
    /// How many neighbours a `near` aggregation takes.
    pub object_limit: Option<u64>,
    /// Per-property metrics.
    pub properties: Vec<PropertyMetrics>,
    /// Group by this property.
    pub group_by: Option<String>,
    /// At most this many groups.
    pub limit: Option<u64>,
    /// The tenant (multi-tenant classes).
    pub tenant: Option<String>,
}

/// Metrics of one property over a set of objects; `None` where the set had no value.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyStats {
    /// `int` / `int[]` and `number` / `number[]`.
    Numeric {
        /// The property is an integer type (metrics reported as ints where Weaviate does).
        int: bool,
        /// The metrics.
        stats: NumericStats,
    },
    /// `text` / `text[]`: whole values.
    Text {
        /// Values counted.
        count: u64,
        /// Most frequent values with their counts.
        top: Vec<(String, u64)>,
    },
    /// `boolean` / `boolean[]`.
    Boolean {
        /// Values counted.
        count: u64,
        /// `true` values.
        total_true: u64,
        /// `false` values.
        total_false: u64,
        /// Share of `true` (0–1).
        percentage_true: Option<f64>,
        /// Share of `false` (0–1).
        percentage_false: Option<f64>,
    },
    /// `date` / `date[]`, as RFC 3339.
    Date {
        /// Values counted.
        count: u64,
        /// Median.
        median: Option<String>,
        /// Most frequent (earliest among equals).
        mode: Option<String>,
        /// Latest.
        maximum: Option<String>,
        /// Earliest.
        minimum: Option<String>,
    },
    /// Any other type: values counted.
    Other {
        /// Objects with a value.
        count: u64,
    },
}

/// Metrics of numbers; `None` where the set had no value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NumericStats {
    /// Values counted (array elements each).
    pub count: u64,
    /// Arithmetic mean.
    pub mean: Option<f64>,
    /// Median.
    pub median: Option<f64>,
    /// Most frequent value (smallest among equals).
    pub mode: Option<f64>,
    /// Largest.
    pub maximum: Option<f64>,
    /// Smallest.
    pub minimum: Option<f64>,
    /// Sum.
    pub sum: Option<f64>,
}

/// The value a group was formed by.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupValue {
    /// A text.
    Text(String),
    /// An integer.
    Int(i64),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
}

/// One group (or the single result).
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateGroup {
    /// `(property, value)` for a grouped aggregation.
    pub grouped_by: Option<(String, GroupValue)>,
    /// Objects in the group.
    pub count: u64,
    /// Metrics per property, in the order asked.
    pub properties: Vec<(String, PropertyStats)>,
}

fn invalid(msg: String) -> DbError {
    UserError::Invalid(msg).into()
}

impl Db {
    /// Runs an aggregation; one group without `group_by`.
    pub fn aggregate(&self, req: &AggregateRequest) -> Result<Vec<AggregateGroup>, DbError> {
        let class = self
            .class(&req.class)
            .ok_or_else(|| UserError::ClassNotFound(req.class.clone()))?;
        for p in req
            .properties
            .iter()
            .map(|p| &p.property)
            .chain(req.group_by.iter())
        {
            if class.property(p).is_none() {
                return Err(invalid(format!(
                    "no such prop with name '{p}' found in class '{}' in the schema. Check your schema files for which properties in this class are available",
                    class.name
                )));
            }
        }
        let coll = self.collection_for(&class, req.tenant.as_deref())?;
        if req.filter.is_none()
            && req.near.is_none()
            && req.group_by.is_none()
            && req.properties.is_empty()
        {
            return Ok(vec![AggregateGroup {
                grouped_by: None,
                count: coll.object_count(),
                properties: Vec::new(),
            }]);
        }
        let objects = self.aggregation_objects(&class, req)?;
        let Some(group_prop) = &req.group_by else {
            let all: Vec<&StoredObject> = objects.iter().collect();
            return Ok(vec![group(&class, req, None, &all)]);
        };
        let mut groups: BTreeMap<GroupKey, Vec<&StoredObject>> = BTreeMap::new();
        for obj in &objects {
            for key in group_keys(obj.properties.get(group_prop)) {
                groups.entry(key).or_default().push(obj);
            }
        }
        let mut groups: Vec<(GroupKey, Vec<&StoredObject>)> = groups.into_iter().collect();
        groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        let limit = req
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        Ok(groups
            .into_iter()
            .take(limit)
            .map(|(key, members)| {
                group(
                    &class,
                    req,
                    Some((group_prop.clone(), key.value())),
                    &members,
                )
            })
            .collect())
    }

    fn aggregation_objects(
        &self,
        class: &ClassDef,
        req: &AggregateRequest,
    ) -> Result<Vec<StoredObject>, DbError> {
        if let Some(near) = &req.near {
            let limit = req.object_limit.ok_or_else(|| {
                invalid("a near_vector / near_object aggregation needs object_limit".into())
            })?;
            let search = Query {
                class: class.name.clone(),
                limit,
                filter: req.filter.clone(),
                near: Some(near.clone()),
                tenant: req.tenant.clone(),
                ..Query::default()
            };
            return Ok(self
                .search(&search)?
                .into_iter()
                .map(|h| h.object)
                .collect());
        }
        let coll = self.collection_for(class, req.tenant.as_deref())?;
        match &req.filter {
            None => coll.list(None, 0, u64::MAX, false),
            Some(filter) => {
                let ids = self.filter_ids(&coll, class, filter, req.tenant.as_deref())?;
                let mut out = Vec::with_capacity(usize::try_from(ids.len()).unwrap_or(0));
                for doc_id in ids.iter() {
                    if let Some(o) = coll.by_doc_id(doc_id, false)? {
                        out.push(o);
                    }
                }
                Ok(out)
            }
        }
    }
}

/// A group key that sorts (numbers by their bits made order-preserving).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum GroupKey {
    Bool(bool),
    Int(i64),
    Number(u64),
    Text(String),
}

impl GroupKey {
    fn value(&self) -> GroupValue {
        match self {
            GroupKey::Bool(b) => GroupValue::Bool(*b),
            GroupKey::Int(i) => GroupValue::Int(*i),
            GroupKey::Number(bits) => GroupValue::Number(f64::from_bits(if bits >> 63 == 1 {
                bits ^ (1 << 63)
            } else {
                !bits
            })),
            GroupKey::Text(t) => GroupValue::Text(t.clone()),
        }
    }
}

fn group_keys(v: Option<&Value>) -> Vec<GroupKey> {
    let one = |v: &Value| -> Option<GroupKey> {
        match v {
            Value::String(s) => Some(GroupKey::Text(s.clone())),
            Value::Bool(b) => Some(GroupKey::Bool(*b)),
            Value::Number(n) => match n.as_i64() {
                Some(i) if n.is_i64() => Some(GroupKey::Int(i)),
                _ => n.as_f64().map(|f| {
                    let bits = f.to_bits();
                    GroupKey::Number(if bits >> 63 == 1 {
                        !bits
                    } else {
                        bits ^ (1 << 63)
                    })
                }),
            },
            _ => None,
        }
    };
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(one).collect(),
        Some(v) => one(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn group(
    class: &ClassDef,
    req: &AggregateRequest,
    grouped_by: Option<(String, GroupValue)>,
    objects: &[&StoredObject],
) -> AggregateGroup {
    let properties = req
        .properties
        .iter()
        .filter_map(|m| {
            let p = class.property(&m.property)?;
            let values: Vec<&Value> = objects
                .iter()
                .filter_map(|o| o.properties.get(&p.name))
                .flat_map(|v| match v {
                    Value::Array(a) => a.iter().collect::<Vec<_>>(),
                    Value::Null => Vec::new(),
                    other => vec![other],
                })
                .collect();
            Some((
                m.property.clone(),
                stats(p.data_type.primitive(), m, &values),
            ))
        })
        .collect();
    AggregateGroup {
        grouped_by,
        count: objects.len() as u64,
        properties,
    }
}

fn stats(p: Option<Primitive>, m: &PropertyMetrics, values: &[&Value]) -> PropertyStats {
    use Primitive as P;
    match p {
        Some(P::Int | P::IntArray) => {
            numeric(true, values.iter().filter_map(|v| v.as_f64()).collect())
        }
        Some(P::Number | P::NumberArray) => {
            numeric(false, values.iter().filter_map(|v| v.as_f64()).collect())
        }
        Some(P::Text | P::TextArray) => {
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            for v in values.iter().filter_map(|v| v.as_str()) {
                *counts.entry(v).or_default() += 1;
            }
            let mut top: Vec<(String, u64)> = counts
                .into_iter()
                .map(|(k, c)| (k.to_string(), c))
                .collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            top.truncate(m.top_occurrences.unwrap_or(0));
            PropertyStats::Text {
                count: values.iter().filter(|v| v.is_string()).count() as u64,
                top,
            }
        }
        Some(P::Boolean | P::BooleanArray) => {
            let t = values.iter().filter(|v| v.as_bool() == Some(true)).count() as u64;
            let f = values.iter().filter(|v| v.as_bool() == Some(false)).count() as u64;
            let n = t + f;
            let share = |x: u64| (n > 0).then(|| x as f64 / n as f64);
            PropertyStats::Boolean {
                count: n,
                total_true: t,
                total_false: f,
                percentage_true: share(t),
                percentage_false: share(f),
            }
        }
        Some(P::Date | P::DateArray) => {
            let mut ts: Vec<jiff::Timestamp> = values
                .iter()
                .filter_map(|v| v.as_str())
                .filter_map(parse_date)
                .collect();
            ts.sort();
            let fmt = |t: jiff::Timestamp| t.to_string();
            let n = ts.len();
            let median = match n {
                0 => None,
                _ if n % 2 == 1 => ts.get(n / 2).copied().map(fmt),
                _ => match (ts.get(n / 2 - 1), ts.get(n / 2)) {
                    (Some(a), Some(b)) => {
                        let mid = a.as_nanosecond() + (b.as_nanosecond() - a.as_nanosecond()) / 2;
                        jiff::Timestamp::from_nanosecond(mid).ok().map(fmt)
                    }
                    _ => None,
                },
            };
            PropertyStats::Date {
                count: n as u64,
                median,
                mode: mode_of(&ts).map(fmt),
                maximum: ts.last().copied().map(fmt),
                minimum: ts.first().copied().map(fmt),
            }
        }
        _ => PropertyStats::Other {
            count: values.len() as u64,
        },
    }
}

/// The most frequent of sorted values, the smallest among equals.
fn mode_of<T: PartialEq + Copy>(sorted: &[T]) -> Option<T> {
    let mut best: Option<(T, usize)> = None;
    let mut i = 0;
    while let Some(&v) = sorted.get(i) {
        let run = sorted[i..].iter().take_while(|&&x| x == v).count();
        if best.is_none_or(|(_, n)| run > n) {
            best = Some((v, run));
        }
        i += run;
    }
    best.map(|(v, _)| v)
}

fn numeric(int: bool, mut v: Vec<f64>) -> PropertyStats {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let some = |x: f64| (n > 0).then_some(x);
    let sum: f64 = v.iter().sum();
    let median = match n {
        0 => None,
        _ if n % 2 == 1 => v.get(n / 2).copied(),
        _ => match (v.get(n / 2 - 1), v.get(n / 2)) {
            (Some(a), Some(b)) => Some((a + b) / 2.0),
            _ => None,
        },
    };
    PropertyStats::Numeric {
        int,
        stats: NumericStats {
            count: n as u64,
            mean: some(sum / n as f64),
            median,
            mode: mode_of(&v),
            maximum: v.last().copied(),
            minimum: v.first().copied(),
            sum: some(sum),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_metrics_match_a_hand_computation() {
        let PropertyStats::Numeric {
            stats:
                NumericStats {
                    count,
                    mean,
                    median,
                    mode,
                    maximum,
                    minimum,
                    sum,
                },
            ..
        } = numeric(true, vec![3.0, 1.0, 2.0, 2.0, 10.0, 1.0])
        else {
            panic!()
        };
        assert_eq!(count, 6);
        assert_eq!(sum, Some(19.0));
        assert_eq!(mean, Some(19.0 / 6.0));
        assert_eq!(median, Some(2.0));
        assert_eq!(mode, Some(1.0), "ties go to the smallest value");
        assert_eq!((minimum, maximum), (Some(1.0), Some(10.0)));
        let PropertyStats::Numeric { stats, .. } = numeric(false, vec![1.0, 4.0]) else {
            panic!()
        };
        assert_eq!(stats.median, Some(2.5));
        let PropertyStats::Numeric { stats, .. } = numeric(false, vec![]) else {
            panic!()
        };
        assert_eq!(
            stats,
            NumericStats::default(),
            "an empty set has a count of 0 and no metrics"
        );
    }
}
