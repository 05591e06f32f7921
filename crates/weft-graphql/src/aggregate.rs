//! `Aggregate { <Class>(…) { meta { count } groupedBy { … } <prop> { … } } }`: one
//! [`AggregateRequest`] (the value gRPC `Aggregate` builds), its groups rendered as the
//! selection asks (decision 0014 §6).

use async_graphql::dynamic::{FieldValue, ResolverContext};
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{FragmentDefinition, Selection, SelectionSet};
use async_graphql::{Name, Positioned, Value};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use weft_db::query::{
    AggregateGroup, AggregateRequest, GroupValue, PropertyMetrics, PropertyStats,
};
use weft_db::schema::{ClassDef, DataType};

use crate::args::{self, int, string, strings};
use crate::resolve::{ResolveError, go_number};
use crate::schema::{AggKind, aggregation_kind};

/// Default of `topOccurrences(limit:)`.
const DEFAULT_TOP_OCCURRENCES: usize = 5;

fn invalid(message: impl Into<String>) -> ResolveError {
    ResolveError(message.into())
}

/// Looks up a variable (its value or the operation's default).
type Variable<'a> = dyn Fn(&Name) -> Option<Value> + 'a;

/// The properties a selection aggregates, each with its `topOccurrences(limit:)` if asked.
pub type Asked = Vec<(String, Option<usize>)>;

/// The resolver of `Aggregate.<class>`.
pub(crate) fn resolve(
    ctx: &ResolverContext<'_>,
    class: &str,
) -> async_graphql::Result<Option<FieldValue<'static>>> {
    let (backend, def) = args::class_backend(ctx, class)?;
    let db = &backend.db;
    let mut asked = Vec::new();
    let (given, defs) = (
        &ctx.query_env.variables,
        &ctx.query_env.operation.node.variable_definitions,
    );
    // A variable's value, or its default in the operation.
    let variable = |name: &Name| {
        given.get(name).cloned().or_else(|| {
            defs.iter()
                .find(|d| d.node.name.node == *name)
                .and_then(|d| d.node.default_value.as_ref().map(|v| v.node.clone()))
        })
    };
    fields(
        &ctx.item.node.selection_set.node,
        &ctx.query_env.fragments,
        &variable,
        &mut asked,
    );
    let request = plan(&def, &args::json_args(&ctx.args), &asked, backend.limits)?;
    let groups = backend
        .call(false, || db.aggregate(&request))
        .ok_or_else(|| invalid("internal: the aggregation did not run"))?
        .map_err(|e| ResolveError::from(weft_api::error::WireError::from_db(&e)))?;
    let items = render(&def, &request, &asked, groups);
    Ok(Some(FieldValue::value(Value::List(items))))
}

/// The property fields of an `Aggregate` selection (through fragments).
fn fields(
    set: &SelectionSet,
    fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    variables: &Variable<'_>,
    out: &mut Asked,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => {
                let name = f.node.name.node.as_str();
                if matches!(name, "meta" | "groupedBy" | "__typename") {
                    continue;
                }
                let top = top_occurrences(&f.node.selection_set.node, fragments, variables);
                match out.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = slot.1.max(top),
                    None => out.push((name.to_string(), top)),
                }
            }
            Selection::InlineFragment(fr) => {
                fields(&fr.node.selection_set.node, fragments, variables, out);
            }
            Selection::FragmentSpread(sp) => {
                if let Some(def) = fragments.get(&sp.node.fragment_name.node) {
                    fields(&def.node.selection_set.node, fragments, variables, out);
                }
            }
        }
    }
}

/// `topOccurrences(limit: n)` in a property's selection: `Some(n)` (default 5) if asked.
fn top_occurrences(
    set: &SelectionSet,
    fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    variables: &Variable<'_>,
) -> Option<usize> {
    let mut found = None;
    for item in &set.items {
        let here = match &item.node {
            Selection::Field(f) if f.node.name.node == "topOccurrences" => {
                let limit = f.node.get_argument("limit").and_then(|v| {
                    v.node
                        .clone()
                        .into_const_with(|name| variables(&name).ok_or(()))
                        .ok()
                });
                Some(match limit {
                    Some(Value::Number(n)) => n
                        .as_u64()
                        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
                    _ => DEFAULT_TOP_OCCURRENCES,
                })
            }
            Selection::Field(_) => None,
            Selection::InlineFragment(fr) => {
                top_occurrences(&fr.node.selection_set.node, fragments, variables)
            }
            Selection::FragmentSpread(sp) => fragments
                .get(&sp.node.fragment_name.node)
                .and_then(|d| top_occurrences(&d.node.selection_set.node, fragments, variables)),
        };
        found = found.max(here);
    }
    found
}

/// Reads the arguments of `Aggregate.<class>` into the database request.
pub fn plan(
    class: &ClassDef,
    args: &Map<String, Json>,
    asked: &Asked,
    limits: weft_api::QueryLimits,
) -> Result<AggregateRequest, ResolveError> {
    let near = args::near(args)?;
    let mut object_limit = int(args, "objectLimit")?;
    if let Some(n) = object_limit {
        if n <= 0 {
            return Err(invalid("objectLimit must be a positive integer"));
        }
        if u64::try_from(n).unwrap_or(u64::MAX) > limits.maximum_results {
            return Err(invalid(format!(
                "objectLimit {n} exceeds QUERY_MAXIMUM_RESULTS ({})",
                limits.maximum_results
            )));
        }
        if near.is_none() {
            return Err(invalid(
                "objectLimit can only be used with a near<Media> or hybrid filter",
            ));
        }
    }
    if let Some(n) = &near
        && object_limit.is_none()
        && n.min_certainty.is_none()
        && n.max_distance.is_none()
    {
        return Err(invalid(
            "must provide certainty or objectLimit with vector search",
        ));
    }
    // By distance alone: every match, up to QUERY_MAXIMUM_RESULTS (as `Get` searches).
    if near.is_some() && object_limit.is_none() {
        object_limit = Some(i64::try_from(limits.maximum_results).unwrap_or(i64::MAX));
    }
    let group_by = match args.get("groupBy") {
        None => None,
        Some(_) => {
            let path = strings(args, "groupBy");
            match path.as_slice() {
                [one] => Some(one.clone()),
                _ => {
                    return Err(invalid(format!(
                        "could not extract groupBy path: the path must name exactly one property, got {path:?}"
                    )));
                }
            }
        }
    };
    let filter = args.get("where").map(args::where_filter).transpose()?;
    let properties = asked
        .iter()
        .filter_map(|(name, top)| {
            let p = class.properties.iter().find(|p| p.name == *name)?;
            match aggregation_kind(&p.data_type)? {
                AggKind::Reference => None,
                AggKind::Text => Some(PropertyMetrics {
                    property: name.clone(),
                    top_occurrences: Some(top.unwrap_or(DEFAULT_TOP_OCCURRENCES)),
                }),
                _ => Some(PropertyMetrics {
                    property: name.clone(),
                    top_occurrences: None,
                }),
            }
        })
        .collect();
    let limit = int(args, "limit")?.map(|l| u64::try_from(l.max(0)).unwrap_or(0));
    Ok(AggregateRequest {
        class: class.name.clone(),
        filter,
        near,
        object_limit: object_limit.map(|n| u64::try_from(n).unwrap_or(0)),
        properties,
        group_by,
        limit,
        tenant: string(args, "tenant").map(str::to_string),
    })
}

fn count(n: u64) -> Value {
    Value::Number(n.into())
}

fn opt(x: Option<f64>) -> Value {
    x.map_or(Value::Null, go_number)
}

fn text(x: &Option<String>) -> Value {
    x.clone().map_or(Value::Null, Value::String)
}

/// The value of a group as Weaviate prints it (`fmt.Sprint`).
fn group_text(v: &GroupValue) -> String {
    match v {
        GroupValue::Text(t) => t.clone(),
        GroupValue::Int(i) => i.to_string(),
        GroupValue::Number(n) => go_number(*n).to_string(),
        GroupValue::Bool(b) => b.to_string(),
    }
}

fn stats_value(
    stats: &PropertyStats,
    data_type: &str,
    top_limit: Option<usize>,
) -> IndexMap<Name, Value> {
    let mut m = IndexMap::new();
    let mut put = |k: &str, v: Value| {
        m.insert(Name::new(k), v);
    };
    match stats {
        PropertyStats::Numeric { stats: n, .. } => {
            put("count", count(n.count));
            put("sum", opt(n.sum));
            put("minimum", opt(n.minimum));
            put("maximum", opt(n.maximum));
            put("mean", opt(n.mean));
            put("median", opt(n.median));
            put("mode", opt(n.mode));
            put("type", Value::String(data_type.to_string()));
        }
        PropertyStats::Text { count: c, top } => {
            put("count", count(*c));
            put("type", Value::String(data_type.to_string()));
            let limit = top_limit.unwrap_or(DEFAULT_TOP_OCCURRENCES);
            put(
                "topOccurrences",
                Value::List(
                    top.iter()
                        .take(limit)
                        .map(|(v, n)| {
                            crate::resolve::object([
                                ("value", Value::String(v.clone())),
                                ("occurs", count(*n)),
                            ])
                        })
                        .collect(),
                ),
            );
        }
        PropertyStats::Boolean {
            count: c,
            total_true,
            total_false,
            percentage_true,
            percentage_false,
        } => {
            put("count", count(*c));
            put("totalTrue", count(*total_true));
            put("totalFalse", count(*total_false));
            put("percentageTrue", opt(*percentage_true));
            put("percentageFalse", opt(*percentage_false));
            put("type", Value::String(data_type.to_string()));
        }
        PropertyStats::Date {
            count: c,
            median,
            mode,
            maximum,
            minimum,
        } => {
            put("count", count(*c));
            put("minimum", text(minimum));
            put("maximum", text(maximum));
            put("mode", text(mode));
            put("median", text(median));
        }
        PropertyStats::Other { count: c } => {
            put("count", count(*c));
            put("type", Value::String(data_type.to_string()));
        }
    }
    m
}

/// One `Aggregate<Class>` object per group (one in all without `groupBy`).
pub fn render(
    class: &ClassDef,
    request: &AggregateRequest,
    asked: &Asked,
    groups: Vec<AggregateGroup>,
) -> Vec<Value> {
    groups
        .into_iter()
        .map(|g| {
            let mut out = IndexMap::new();
            out.insert(
                Name::new("meta"),
                crate::resolve::object([("count", count(g.count))]),
            );
            if let (Some((path, value)), Some(_)) = (&g.grouped_by, &request.group_by) {
                out.insert(
                    Name::new("groupedBy"),
                    crate::resolve::object([
                        ("path", Value::List(vec![Value::String(path.clone())])),
                        ("value", Value::String(group_text(value))),
                    ]),
                );
            }
            for (name, top) in asked {
                let Some(p) = class.properties.iter().find(|p| p.name == *name) else {
                    continue;
                };
                if let DataType::Reference(targets) = &p.data_type {
                    out.insert(
                        Name::new(name),
                        crate::resolve::object([
                            ("type", Value::String("cref".to_string())),
                            (
                                "pointingTo",
                                Value::List(targets.iter().cloned().map(Value::String).collect()),
                            ),
                        ]),
                    );
                    continue;
                }
                let Some((_, stats)) = g.properties.iter().find(|(n, _)| n == name) else {
                    continue;
                };
                let data_type = p.data_type.to_names().join(",");
                out.insert(
                    Name::new(name),
                    Value::Object(stats_value(stats, &data_type, *top)),
                );
            }
            Value::Object(out)
        })
        .collect()
}
