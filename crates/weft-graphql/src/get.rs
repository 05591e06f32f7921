//! `Get { <Class>(…) { … } }`: the arguments become one [`weft_db::Query`] (and an optional
//! group-by), run by [`weft_api::search::run`] as gRPC `Search` runs its plans; the hits are
//! rendered as the selection asks (decision 0014 §3, §5).

use std::collections::HashMap;

use async_graphql::dynamic::{FieldValue, ResolverContext};
use async_graphql::indexmap::IndexMap;
use async_graphql::{Name, Value};
use serde_json::{Map, Value as Json};
use uuid::Uuid;
use weft_api::QueryLimits;
use weft_db::object::{LEGACY_VECTOR, StoredObject};
use weft_db::query::refs::{ReferenceTarget, ResolvedReference};
use weft_db::query::{Fusion, GroupBy, HitGroup, HybridQuery, KeywordQuery, SortBy};
use weft_db::schema::ClassDef;
use weft_db::{Near, NearQuery, Query, SearchHit};

use crate::args::{self, float, int, string, strings};
use crate::names;
use crate::resolve::{ResolveError, f32_value, f64_value, json_value, vector_value};
use crate::schema::CLASS_KEY;
use crate::selection::{Shape, Walker};

/// A `Get` ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct GetPlan {
    /// The database query.
    pub query: Query,
    /// `groupBy`.
    pub group_by: Option<GroupBy>,
}

fn invalid(message: impl Into<String>) -> ResolveError {
    ResolveError(message.into())
}

/// The resolver of `Get.<class>`.
pub(crate) fn resolve(
    ctx: &ResolverContext<'_>,
    class: &str,
) -> async_graphql::Result<Option<FieldValue<'static>>> {
    let (backend, def) = args::class_backend(ctx, class)?;
    let db = &backend.db;
    let lookup = |name: &str| db.class(name);
    let walker = Walker::new(&ctx.query_env.fragments, &lookup);
    let shape = walker
        .shape(&ctx.item.node.selection_set.node, &def)
        .map_err(ResolveError)?;
    let plan = plan(&def, &args::json_args(&ctx.args), &shape, backend.limits)?;
    // As gRPC `Search`: small pages run in place.
    let small = plan.group_by.is_none()
        && plan.query.offset.saturating_add(plan.query.limit) <= 100
        && shape.refs.is_empty();
    let items = backend
        .call(small, || run(db, &def, &plan, &shape))
        .ok_or_else(|| invalid("internal: the search did not run"))??;
    Ok(Some(FieldValue::value(Value::List(items))))
}

/// Runs a plan and renders its hits (or groups) as `shape` asks.
pub fn run(
    db: &weft_db::Db,
    def: &ClassDef,
    plan: &GetPlan,
    shape: &Shape,
) -> Result<Vec<Value>, ResolveError> {
    let ran = weft_api::search::run(
        db,
        &plan.query,
        plan.group_by.as_ref(),
        shape.additional.contains("certainty"),
        Some(def),
    )?;
    Ok(match ran {
        weft_api::search::Ran::Hits(hits) => hits
            .into_iter()
            .map(|h| hit_value(h, shape, None))
            .collect(),
        weft_api::search::Ran::Groups(groups) => {
            let property = plan
                .group_by
                .as_ref()
                .map(|g| g.property.clone())
                .unwrap_or_default();
            groups
                .into_iter()
                .enumerate()
                .filter_map(|(i, g)| group_value(i, g, &property, shape))
                .collect()
        }
    })
}

/// Reads the arguments of `Get.<class>` into a plan.
pub fn plan(
    class: &ClassDef,
    args: &Map<String, Json>,
    shape: &Shape,
    limits: QueryLimits,
) -> Result<GetPlan, ResolveError> {
    if args.contains_key("group") {
        return Err(invalid("group is not supported by weft yet"));
    }
    let near = args::near(args)?;
    let keyword = args.get("bm25").map(bm25).transpose()?;
    let hybrid = args.get("hybrid").map(hybrid).transpose()?;
    let searches = usize::from(near.is_some())
        + usize::from(keyword.is_some())
        + usize::from(hybrid.is_some());
    if searches > 1 {
        return Err(invalid(
            "only one of nearVector, nearObject, bm25 and hybrid can be used in one search",
        ));
    }
    let sort = match args.get("sort") {
        Some(s) => sort(s)?,
        None => Vec::new(),
    };
    if !sort.is_empty() && keyword.is_some() {
        return Err(invalid("bm25 search is not compatible with sort"));
    }
    if !sort.is_empty() && hybrid.is_some() {
        return Err(invalid("hybrid search is not compatible with sort"));
    }
    let filter = args.get("where").map(args::where_filter).transpose()?;
    let by_distance = near
        .as_ref()
        .is_some_and(|n| n.max_distance.is_some() || n.min_certainty.is_some());
    let (limit, offset) = page(args, by_distance, limits)?;
    let autocut = int(args, "autocut")?
        .filter(|a| *a > 0)
        .map(|a| usize::try_from(a).unwrap_or(usize::MAX));
    let group_by = args.get("groupBy").map(group_by).transpose()?;
    if group_by.is_some() && searches == 0 {
        return Err(invalid(
            "groupBy needs a search (nearVector, nearObject, bm25 or hybrid)",
        ));
    }
    let after = match string(args, "after") {
        None => None,
        Some(raw) => {
            if searches > 0 || group_by.is_some() {
                return Err(invalid(
                    "other params cannot be set with after and limit parameters",
                ));
            }
            let present: Vec<&str> = ["offset", "where", "sort"]
                .into_iter()
                .filter(|k| args.contains_key(*k))
                .collect();
            if !present.is_empty() {
                return Err(invalid(format!(
                    "{} cannot be set with after and limit parameters",
                    present.join(",")
                )));
            }
            Some(Uuid::parse_str(raw).map_err(|e| {
                invalid(format!("after parameter '{raw}' is not a valid uuid: {e}"))
            })?)
        }
    };
    let references = shape.requests();
    Ok(GetPlan {
        query: Query {
            class: class.name.clone(),
            limit,
            offset,
            after,
            filter,
            sort,
            autocut,
            with_vectors: shape.wants_vectors(),
            near,
            keyword,
            hybrid,
            references,
            tenant: string(args, "tenant").map(str::to_string),
        },
        group_by,
    })
}

/// `(limit, offset)` as Weaviate's GraphQL pages (decision 0014 §3).
fn page(
    args: &Map<String, Json>,
    by_distance: bool,
    limits: QueryLimits,
) -> Result<(u64, u64), ResolveError> {
    let limit = int(args, "limit")?;
    let offset = int(args, "offset")?;
    let autocut = int(args, "autocut")?;
    let offset_n = offset.unwrap_or(0);
    let limit_n = match limit.filter(|l| *l >= 0) {
        Some(l) => l,
        None if by_distance => i64::try_from(limits.maximum_results)
            .unwrap_or(i64::MAX)
            .saturating_sub(offset_n.max(0))
            .max(0),
        None if limit.is_none() && offset.is_none() && autocut.is_none() => {
            i64::try_from(limits.graphql_default_limit).unwrap_or(i64::MAX)
        }
        None => i64::try_from(limits.default_limit).unwrap_or(i64::MAX),
    };
    let max = limits.maximum_results;
    let max_i = i64::try_from(max).unwrap_or(i64::MAX);
    if offset_n < 0 || offset_n > max_i || offset_n.saturating_add(limit_n) > max_i {
        return Err(invalid(format!(
            "query maximum results exceeded: the total limit calculated from the provided offset '{offset_n}' and limit '{limit_n}' exceeds the configured value for QUERY_MAXIMUM_RESULTS '{max}'. If you've supplied a negative offset or limit, this may be an underflow error"
        )));
    }
    Ok((
        u64::try_from(limit_n).unwrap_or(0),
        u64::try_from(offset_n).unwrap_or(0),
    ))
}

fn sort(v: &Json) -> Result<Vec<SortBy>, ResolveError> {
    let items: Vec<&Json> = match v {
        Json::Array(a) => a.iter().collect(),
        one => vec![one],
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let wrap = |m: &str| {
                invalid(format!(
                    "invalid 'sort' parameter: sort parameter at position {i}: {m}"
                ))
            };
            let m = item
                .as_object()
                .ok_or_else(|| wrap("sort parameter must be an object"))?;
            let path = strings(m, "path");
            let ascending = string(m, "order") != Some("desc");
            match path.as_slice() {
                [] => Err(wrap("path parameter cannot be empty")),
                [one] => Ok(SortBy::named(one, ascending)),
                _ => Err(wrap(
                    "sorting by reference not supported, path must have exactly one argument",
                )),
            }
        })
        .collect()
}

fn group_by(v: &Json) -> Result<GroupBy, ResolveError> {
    let m = v
        .as_object()
        .ok_or_else(|| invalid("groupBy must be an object"))?;
    let path = strings(m, "path");
    let count = |k: &str| {
        m.get(k)
            .and_then(Json::as_i64)
            .map_or(0, |n| usize::try_from(n.max(0)).unwrap_or(0))
    };
    match path.as_slice() {
        [one] => Ok(GroupBy {
            property: one.clone(),
            groups: count("groups"),
            per_group: count("objectsPerGroup"),
        }),
        _ => Err(invalid(format!(
            "groupBy path can only have one entry, received {path:?}"
        ))),
    }
}

fn bm25(v: &Json) -> Result<KeywordQuery, ResolveError> {
    let m = v
        .as_object()
        .ok_or_else(|| invalid("bm25 must be an object"))?;
    Ok(KeywordQuery {
        query: string(m, "query").unwrap_or_default().to_string(),
        properties: strings(m, "properties"),
        operator: args::keyword_operator(m.get("searchOperator"))?,
    })
}

fn hybrid(v: &Json) -> Result<HybridQuery, ResolveError> {
    let m = v
        .as_object()
        .ok_or_else(|| invalid("hybrid must be an object"))?;
    let alpha = float(m, "alpha").map_or(weft_db::query::hybrid::DEFAULT_ALPHA, |a| a as f32);
    if !(0.0..=1.0).contains(&alpha) {
        return Err(invalid("alpha should be between 0.0 and 1.0"));
    }
    let fusion = match string(m, "fusionType") {
        Some("rankedFusion") => Fusion::Ranked,
        _ => Fusion::RelativeScore,
    };
    let mut targets = strings(m, "targetVectors");
    if let Some(Json::Object(t)) = m.get("targets")
        && targets.is_empty()
    {
        targets = strings(t, "targetVectors");
    }
    if targets.len() > 1 {
        return Err(invalid(
            "multiple target vectors are not supported by weft yet",
        ));
    }
    let target = targets.pop();
    let sub_search = match m.get("searches") {
        Some(Json::Array(s)) => s.first(),
        one => one,
    }
    .and_then(|s| s.get("nearVector"));
    let vector = match (m.get("vector"), sub_search) {
        (Some(_), Some(_)) => {
            return Err(invalid("cannot have both vector and nearVectorParams"));
        }
        (Some(Json::Array(v)), None) => {
            let v: Vec<f32> = v
                .iter()
                .filter_map(Json::as_f64)
                .map(|x| x as f32)
                .collect();
            (!v.is_empty()).then(|| NearQuery {
                near: Near::Vector(v),
                target: target.clone(),
                max_distance: None,
                min_certainty: None,
            })
        }
        (None, Some(nv)) => {
            let mut q = args::near_vector(nv)?;
            match (&q.target, &target) {
                (Some(a), Some(b)) if a != b => {
                    return Err(invalid(
                        "a query vector for a target other than the one searched is not supported by weft yet",
                    ));
                }
                (None, Some(t)) => q.target = Some(t.clone()),
                _ => {}
            }
            Some(q)
        }
        _ => None,
    };
    Ok(HybridQuery {
        query: string(m, "query").unwrap_or_default().to_string(),
        alpha,
        fusion,
        properties: strings(m, "properties"),
        operator: args::keyword_operator(m.get("bm25SearchOperator"))?,
        vector,
        max_vector_distance: float(m, "maxVectorDistance").map(|d| d as f32),
        vector_sub_search: sub_search.is_some(),
    })
}

/// The properties `shape` asks of `obj` (not references).
fn property_fields(obj: &StoredObject, shape: &Shape, out: &mut IndexMap<Name, Value>) {
    for p in &shape.properties {
        if let Some(v) = obj.properties.get(p) {
            out.insert(Name::new(p), json_value(v));
        }
    }
}

/// The `_additional` fields every object has (hits and reference targets alike).
fn object_additional(obj: &StoredObject, shape: &Shape, out: &mut IndexMap<Name, Value>) {
    let asked = |f: &str| shape.additional.contains(f);
    if asked("id") {
        out.insert(Name::new("id"), Value::String(obj.id.to_string()));
    }
    if asked("vector")
        && let Some(v) = obj.vectors.get(LEGACY_VECTOR)
    {
        out.insert(Name::new("vector"), vector_value(v));
    }
    if asked("vectors") {
        let named: IndexMap<Name, Value> = obj
            .vectors
            .iter()
            .filter(|(k, _)| k.as_str() != LEGACY_VECTOR)
            .map(|(k, v)| (Name::new(k), vector_value(v)))
            .collect();
        out.insert(Name::new("vectors"), Value::Object(named));
    }
    if asked("creationTimeUnix") {
        out.insert(
            Name::new("creationTimeUnix"),
            Value::String(obj.created_ms.to_string()),
        );
    }
    if asked("lastUpdateTimeUnix") {
        out.insert(
            Name::new("lastUpdateTimeUnix"),
            Value::String(obj.updated_ms.to_string()),
        );
    }
}

/// One hit as the selection asks; `group` goes into its `_additional`.
fn hit_value(hit: SearchHit, shape: &Shape, group: Option<Value>) -> Value {
    let SearchHit {
        object,
        distance,
        certainty,
        score,
        explain_score,
        references,
    } = hit;
    let mut out = IndexMap::new();
    property_fields(&object, shape, &mut out);
    reference_fields(&object, references, shape, &mut out);
    if !shape.additional.is_empty() || group.is_some() {
        let asked = |f: &str| shape.additional.contains(f);
        let mut add = IndexMap::new();
        object_additional(&object, shape, &mut add);
        if asked("distance")
            && let Some(d) = distance
        {
            add.insert(Name::new("distance"), f32_value(d));
        }
        if asked("certainty")
            && let (Some(d), Some(_)) = (distance, certainty)
        {
            // As Weaviate: computed in float64 from the float32 distance.
            add.insert(Name::new("certainty"), f64_value(1.0 - f64::from(d) / 2.0));
        }
        if asked("score")
            && let Some(s) = score
        {
            add.insert(Name::new("score"), Value::String(s.to_string()));
        }
        if asked("explainScore") {
            add.insert(
                Name::new("explainScore"),
                Value::String(explain_score.unwrap_or_default()),
            );
        }
        if let Some(g) = group {
            add.insert(Name::new("group"), g);
        }
        out.insert(Name::new("_additional"), Value::Object(add));
    }
    Value::Object(out)
}

/// One group of a `groupBy`, as Weaviate returns it: the group's first hit carrying the group
/// in `_additional.group`.
fn group_value(i: usize, g: HitGroup, property: &str, shape: &Shape) -> Option<Value> {
    let HitGroup { name, hits } = g;
    let distances: Vec<f32> = hits.iter().filter_map(|h| h.distance).collect();
    let count = hits.len();
    let first = hits.first()?.clone();
    let members: Vec<Value> = hits
        .into_iter()
        .map(|h| {
            let mut out: IndexMap<Name, Value> = h
                .object
                .properties
                .iter()
                .map(|(k, v)| (Name::new(k), json_value(v)))
                .collect();
            let mut add = IndexMap::new();
            add.insert(Name::new("id"), Value::String(h.object.id.to_string()));
            if let Some(v) = h.object.vectors.get(LEGACY_VECTOR) {
                add.insert(Name::new("vector"), vector_value(v));
            }
            if let Some(d) = h.distance {
                add.insert(Name::new("distance"), f32_value(d));
            }
            out.insert(Name::new("_additional"), Value::Object(add));
            Value::Object(out)
        })
        .collect();
    let group = crate::resolve::object([
        ("id", Value::Number(i.into())),
        (
            "groupedBy",
            crate::resolve::object([
                (
                    "path",
                    Value::List(vec![Value::String(property.to_string())]),
                ),
                ("value", Value::String(name)),
            ]),
        ),
        ("count", Value::Number(count.into())),
        (
            "minDistance",
            distances.first().copied().map_or(Value::Null, f32_value),
        ),
        (
            "maxDistance",
            distances.last().copied().map_or(Value::Null, f32_value),
        ),
        ("hits", Value::List(members)),
    ]);
    Some(hit_value(first, shape, Some(group)))
}

/// A reference target: its selection, its metadata (Weaviate fills only `id`, vectors and
/// the two timestamps inside references) and its own references.
fn target_value(t: ReferenceTarget, shape: &Shape) -> Value {
    let ReferenceTarget { object, references } = t;
    let mut out = IndexMap::new();
    out.insert(
        Name::new(CLASS_KEY),
        Value::String(names::class_type(&object.class)),
    );
    property_fields(&object, shape, &mut out);
    reference_fields(&object, references, shape, &mut out);
    if !shape.additional.is_empty() {
        let mut add = IndexMap::new();
        object_additional(&object, shape, &mut add);
        out.insert(Name::new("_additional"), Value::Object(add));
    }
    Value::Object(out)
}

/// The reference properties `shape` asks of `obj`: its beacons in stored order, each
/// resolved to its target if that target's class was asked (`... on Class`) and it exists.
fn reference_fields(
    obj: &StoredObject,
    resolved: Vec<ResolvedReference>,
    shape: &Shape,
    out: &mut IndexMap<Name, Value>,
) {
    if shape.refs.is_empty() {
        return;
    }
    let answers = shape.answers();
    let mut found: Vec<HashMap<(String, Uuid), Value>> = vec![HashMap::new(); shape.refs.len()];
    for r in resolved {
        let Some(&(i, j)) = answers.get(r.request) else {
            continue;
        };
        let Some((_, sub)) = shape.refs.get(i).and_then(|rs| rs.targets.get(j)) else {
            continue;
        };
        for t in r.targets {
            let key = (t.object.class.clone(), t.object.id);
            let v = target_value(t, sub);
            if let Some(slot) = found.get_mut(i) {
                slot.insert(key, v);
            }
        }
    }
    for (i, rs) in shape.refs.iter().enumerate() {
        let Some(Json::Array(beacons)) = obj.properties.get(&rs.property) else {
            continue;
        };
        let Some(targets) = found.get(i) else {
            continue;
        };
        let list = beacons
            .iter()
            .filter_map(|b| b.get("beacon").and_then(Json::as_str))
            .filter_map(|b| weft_db::object::beacon::Beacon::parse(b).ok())
            .filter_map(|b| match &b.class {
                Some(c) => targets.get(&(c.clone(), b.id)).cloned(),
                None => targets
                    .iter()
                    .find(|((_, id), _)| *id == b.id)
                    .map(|(_, v)| v.clone()),
            })
            .collect();
        out.insert(Name::new(&rs.property), Value::List(list));
    }
}
