//! `Explore(nearVector | nearObject, limit, offset) { beacon className certainty distance }`:
//! one vector [`weft_db::Query`] per class, merged by distance (decision 0014 §7).
//!
//! Differs from Weaviate on purpose: multi-tenant classes are left out (Weaviate fails the
//! whole exploration on them, as it searches every class without a tenant).

use async_graphql::Value;
use async_graphql::dynamic::{FieldValue, ResolverContext};
use async_graphql::parser::types::Selection;
use weft_db::object::LEGACY_VECTOR;
use weft_db::schema::{ClassDef, Distance, VectorSetup};
use weft_db::{Db, Near, NearQuery, Query};

use crate::args::{self, int};
use crate::resolve::{ResolveError, f32_value};

/// Default `limit` of `Explore`.
const DEFAULT_LIMIT: i64 = 20;

fn invalid(message: impl Into<String>) -> ResolveError {
    ResolveError(message.into())
}

/// The metric of the index `target` names (the legacy one when `None`).
fn metric(class: &ClassDef, target: Option<&str>) -> Option<Distance> {
    match (&class.vectors, target) {
        (VectorSetup::Legacy { index, .. }, None) => Some(index.distance()),
        (VectorSetup::Named(named), Some(t)) => named.get(t).map(|n| n.index.distance()),
        (VectorSetup::Named(named), None) if named.len() == 1 => {
            named.values().next().map(|n| n.index.distance())
        }
        _ => None,
    }
}

/// Whether a selection asks for `field` (through fragments).
fn asks(
    set: &async_graphql::parser::types::SelectionSet,
    fragments: &std::collections::HashMap<
        async_graphql::Name,
        async_graphql::Positioned<async_graphql::parser::types::FragmentDefinition>,
    >,
    field: &str,
    depth: usize,
) -> bool {
    depth <= 16
        && set.items.iter().any(|i| match &i.node {
            Selection::Field(f) => f.node.name.node == field,
            Selection::InlineFragment(fr) => {
                asks(&fr.node.selection_set.node, fragments, field, depth + 1)
            }
            Selection::FragmentSpread(sp) => fragments
                .get(&sp.node.fragment_name.node)
                .is_some_and(|d| asks(&d.node.selection_set.node, fragments, field, depth + 1)),
        })
}

/// The resolver of `Explore`.
pub(crate) fn resolve(
    ctx: &ResolverContext<'_>,
) -> async_graphql::Result<Option<FieldValue<'static>>> {
    let backend = args::backend(ctx.ctx)?;
    let args = args::json_args(&ctx.args);
    let certainty_asked = asks(
        &ctx.item.node.selection_set.node,
        &ctx.query_env.fragments,
        "certainty",
        0,
    );
    let items = backend
        .call(false, || {
            explore(&backend.db, &args, certainty_asked, backend.limits)
        })
        .ok_or_else(|| invalid("internal: the exploration did not run"))??;
    Ok(Some(FieldValue::value(Value::List(items))))
}

/// Searches every single-tenant class and merges the hits by distance.
pub fn explore(
    db: &Db,
    args: &serde_json::Map<String, serde_json::Value>,
    certainty_asked: bool,
    limits: weft_api::QueryLimits,
) -> Result<Vec<Value>, ResolveError> {
    let mut near = args::near(args)?.ok_or_else(|| {
        invalid(
            "invalid params: received no search params, one of [nearVector, nearObject] or module search params is required for an exploration",
        )
    })?;
    let classes: Vec<ClassDef> = db
        .classes()
        .into_iter()
        .filter(|c| !c.multi_tenancy.enabled)
        .collect();
    let mut metrics: Vec<(String, Distance)> = Vec::new();
    for c in &classes {
        if let Some(m) = metric(c, near.target.as_deref()) {
            metrics.push((c.name.clone(), m));
        }
    }
    if let Some((first_class, first)) = metrics.first()
        && let Some((other_class, other)) = metrics.iter().find(|(_, m)| m != first)
    {
        return Err(invalid(format!(
            "vector search across classes not possible: found different distance metrics: class '{first_class}' uses distance metric '{}', class '{other_class}' uses distance metric '{}'",
            first.as_str(),
            other.as_str()
        )));
    }
    let cosine = metrics.first().is_none_or(|(_, m)| *m == Distance::Cosine);
    if (certainty_asked || near.min_certainty.is_some()) && !cosine {
        let d = metrics.first().map_or("", |(_, m)| m.as_str());
        return Err(invalid(format!(
            "can't compute and return certainty when vector index is configured with {d} distance"
        )));
    }
    if let Near::Object(id) = near.near {
        near.near = Near::Vector(object_vector(db, &classes, id, near.target.as_deref())?);
    }
    let limit = int(args, "limit")?.unwrap_or(DEFAULT_LIMIT).max(0);
    let offset = int(args, "offset")?.unwrap_or(0).max(0);
    let wanted = u64::try_from(limit.saturating_add(offset)).unwrap_or(u64::MAX);
    if wanted > limits.maximum_results {
        return Err(invalid(format!(
            "query maximum results exceeded: offset ({offset}) + limit ({limit}) > QUERY_MAXIMUM_RESULTS ({})",
            limits.maximum_results
        )));
    }
    let mut found: Vec<(f32, String, uuid::Uuid)> = Vec::new();
    let mut errors = Vec::new();
    for c in &classes {
        let query = Query {
            class: c.name.clone(),
            limit: wanted,
            near: Some(NearQuery {
                near: near.near.clone(),
                target: near.target.clone(),
                max_distance: near.max_distance,
                min_certainty: near.min_certainty,
            }),
            ..Query::default()
        };
        match db.search(&query) {
            Ok(hits) => found.extend(
                hits.into_iter()
                    .filter_map(|h| h.distance.map(|d| (d, h.object.class.clone(), h.object.id))),
            ),
            Err(e) => errors.push(format!(
                "search index {}: {}",
                c.name,
                weft_db::error::chain(&e)
            )),
        }
    }
    if !errors.is_empty() {
        return Err(invalid(errors.join(", ")));
    }
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(found
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(d, class, id)| {
            crate::resolve::object([
                (
                    "beacon",
                    Value::String(format!("weaviate://localhost/{class}/{id}")),
                ),
                ("className", Value::String(class)),
                ("distance", f32_value(d)),
                (
                    "certainty",
                    if cosine {
                        f32_value(1.0 - d / 2.0)
                    } else {
                        Value::Null
                    },
                ),
            ])
        })
        .collect())
}

/// The vector of the object `id`, looked up in every class.
fn object_vector(
    db: &Db,
    classes: &[ClassDef],
    id: uuid::Uuid,
    target: Option<&str>,
) -> Result<Vec<f32>, ResolveError> {
    for c in classes {
        let found = db
            .get_object(&c.name, id, true)
            .map_err(|e| invalid(weft_db::error::chain(&e)))?;
        if let Some(obj) = found {
            let key = target.unwrap_or(LEGACY_VECTOR);
            let vector = obj
                .vectors
                .get(key)
                .or_else(|| obj.vectors.values().next().filter(|_| target.is_none()));
            return vector
                .cloned()
                .ok_or_else(|| invalid(format!("nearObject: object {id} has no vector {key:?}")));
        }
    }
    Err(invalid(format!(
        "nearObject: no object with id {id} in any class"
    )))
}
