//! Filters through references: a condition on a reference path runs first as a filter on the
//! target class (recursively, so paths nest to any depth), and its hits become the beacons
//! the referring objects must hold ([`Filter::Beacons`]), answered by the reference property's
//! filterable index. Every protocol's filter goes through [`Db::filter_ids`], so searches,
//! aggregates and deletes by filter walk references alike.

use std::collections::BTreeSet;
use std::sync::Arc;

use roaring::RoaringTreemap;

use super::filter::{Filter, Target};
use super::resolve::Resolver;
use crate::Db;
use crate::collection::Collection;
use crate::error::{DbError, UserError};
use crate::object::beacon::{Beacon, LOCAL_HOST};
use crate::object::coerce::no_such_property;
use crate::schema::validation::uppercase_first;
use crate::schema::{ClassDef, DataType};

/// Most target objects a reference condition matches before its referrers are looked up
/// (Weaviate's `QUERY_NESTED_CROSS_REFERENCE_LIMIT` default).
pub const NESTED_REFERENCE_LIMIT: u64 = 100_000;

fn invalid(msg: String) -> DbError {
    UserError::Invalid(msg).into()
}

impl Db {
    /// The doc ids of `class` (in `coll`) matching `filter`: reference paths bound, then
    /// validated and evaluated.
    pub(crate) fn filter_ids(
        &self,
        coll: &Collection,
        class: &ClassDef,
        filter: &Filter,
        tenant: Option<&str>,
    ) -> Result<RoaringTreemap, DbError> {
        let bound = self.bind_references(class, filter, tenant)?;
        bound.validate(class)?;
        Resolver::new(coll, class).eval(&bound)
    }

    /// `filter` with every reference-path condition replaced by the beacons of the target
    /// objects it matches.
    pub(crate) fn bind_references(
        &self,
        class: &ClassDef,
        filter: &Filter,
        tenant: Option<&str>,
    ) -> Result<Filter, DbError> {
        Ok(match filter {
            Filter::And(fs) => Filter::And(
                fs.iter()
                    .map(|f| self.bind_references(class, f, tenant))
                    .collect::<Result<_, _>>()?,
            ),
            Filter::Or(fs) => Filter::Or(
                fs.iter()
                    .map(|f| self.bind_references(class, f, tenant))
                    .collect::<Result<_, _>>()?,
            ),
            Filter::Not(f) => Filter::Not(Box::new(self.bind_references(class, f, tenant)?)),
            Filter::Condition {
                target:
                    Target::Reference {
                        on,
                        class: target_class,
                        target,
                    },
                op,
                value,
            } => {
                let prop = class
                    .property(on)
                    .ok_or_else(|| DbError::from(no_such_property(&class.name, on)))?;
                let DataType::Reference(targets) = &prop.data_type else {
                    return Err(invalid(format!(
                        "property '{on}' is not a reference-type: a path through it needs one"
                    )));
                };
                let name = match (target_class, targets.as_slice()) {
                    (Some(c), _) => uppercase_first(c),
                    (None, [only]) => only.clone(),
                    (None, _) => {
                        return Err(invalid(format!(
                            "expected reference property with a single target, got [{}] for {on} ",
                            targets.join(" ")
                        )));
                    }
                };
                let target_def = self
                    .class(&name)
                    .ok_or_else(|| UserError::ClassNotFound(name.clone()))?;
                let inner = Filter::Condition {
                    target: (**target).clone(),
                    op: *op,
                    value: value.clone(),
                };
                let target_coll = self.reference_collection(&target_def, tenant)?;
                let hits = self.filter_ids(&target_coll, &target_def, &inner, tenant)?;
                if hits.len() > NESTED_REFERENCE_LIMIT {
                    tracing::warn!(
                        action = "reference_filter",
                        class = %class.name,
                        property = %prop.name,
                        matched = hits.len(),
                        "a reference filter matched more target objects than the limit; only \
                         the first ones are followed"
                    );
                }
                let mut beacons = BTreeSet::new();
                for doc_id in hits.iter().take(NESTED_REFERENCE_LIMIT as usize) {
                    if let Some(id) = target_coll.uuid_of(doc_id)? {
                        beacons.insert(Beacon::local(&target_def.name, id).to_string());
                        let legacy = Beacon {
                            host: LOCAL_HOST.into(),
                            class: None,
                            id,
                        };
                        beacons.insert(legacy.to_string());
                    }
                }
                Filter::Beacons {
                    property: prop.name.clone(),
                    beacons,
                }
            }
            other => other.clone(),
        })
    }
}

/// References to return with each hit (`return_references`): the objects a reference
/// property points to, with their own references nested to any depth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceRequest {
    /// The reference property.
    pub property: String,
    /// The target class (required for a multi-target property; `None` = its only target).
    pub class: Option<String>,
    /// Load the targets' vectors.
    pub with_vectors: bool,
    /// References of the targets to return in turn.
    pub references: Vec<ReferenceRequest>,
}

/// The resolved references of one property of one object (absent when the object does not
/// hold the property), in the order the object holds them; targets that do not exist
/// (deleted, or never imported) are left out.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedReference {
    /// Which request (index into the requests) this answers.
    pub request: usize,
    /// The reference property.
    pub property: String,
    /// The class the targets were looked up in.
    pub class: String,
    /// The target objects, each with the references asked for on it.
    pub targets: Vec<ReferenceTarget>,
}

/// One resolved target.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceTarget {
    /// The object.
    pub object: crate::object::StoredObject,
    /// Its references, as the nested requests asked.
    pub references: Vec<ResolvedReference>,
}

/// Targets read during one query, by (class, id, with vectors).
pub(crate) type TargetCache =
    std::collections::HashMap<(String, uuid::Uuid, bool), Option<crate::object::StoredObject>>;

/// A [`ReferenceRequest`] bound to its target class; the target's collection is looked up on
/// first need (a query whose hits hold no such reference never routes to it).
pub(crate) struct BoundRequest<'r> {
    request: &'r ReferenceRequest,
    target: ClassDef,
    coll: Option<Arc<Collection>>,
    nested: Vec<BoundRequest<'r>>,
}

impl Db {
    /// Checks reference requests against the schema and binds each to its target class,
    /// once per query (before it runs).
    pub(crate) fn bind_reference_requests<'r>(
        &self,
        class: &ClassDef,
        requests: &'r [ReferenceRequest],
    ) -> Result<Vec<BoundRequest<'r>>, DbError> {
        requests
            .iter()
            .map(|r| {
                let target = self.reference_target_class(class, r)?;
                let nested = self.bind_reference_requests(&target, &r.references)?;
                Ok(BoundRequest {
                    request: r,
                    target,
                    coll: None,
                    nested,
                })
            })
            .collect()
    }

    fn reference_target_class(
        &self,
        class: &ClassDef,
        r: &ReferenceRequest,
    ) -> Result<ClassDef, DbError> {
        let prop = class
            .property(&r.property)
            .ok_or_else(|| DbError::from(no_such_property(&class.name, &r.property)))?;
        let DataType::Reference(targets) = &prop.data_type else {
            return Err(invalid(format!(
                "property '{}' of class {} is not a reference property",
                prop.name, class.name
            )));
        };
        let name = match (&r.class, targets.as_slice()) {
            (Some(c), _) if !c.is_empty() => uppercase_first(c),
            (_, [only]) => only.clone(),
            _ => {
                return Err(invalid(format!(
                    "multi target references from collection {} and property {} with need an \
                     explicitlinked collection. Available linked collections are [{}]",
                    class.name,
                    prop.name,
                    targets.join(" ")
                )));
            }
        };
        self.class(&name)
            .ok_or_else(|| UserError::ClassNotFound(name).into())
    }

    /// The references the bound `requests` ask for on `obj`. `cache` holds the targets read
    /// so far in the query (a popular target is read once).
    pub(crate) fn resolve_references(
        &self,
        obj: &crate::object::StoredObject,
        requests: &mut [BoundRequest<'_>],
        tenant: Option<&str>,
        cache: &mut TargetCache,
    ) -> Result<Vec<ResolvedReference>, DbError> {
        let mut out = Vec::with_capacity(requests.len());
        for (request, bound) in requests.iter_mut().enumerate() {
            let r = bound.request;
            let Some(value) = obj.properties.get(&r.property) else {
                continue;
            };
            let coll = match &bound.coll {
                Some(coll) => Arc::clone(coll),
                None => {
                    let coll = self.reference_collection(&bound.target, tenant)?;
                    bound.coll = Some(Arc::clone(&coll));
                    coll
                }
            };
            let target_class = &bound.target;
            let mut targets = Vec::new();
            for beacon in crate::object::coerce::stored_beacons(Some(value)) {
                if beacon
                    .class
                    .as_ref()
                    .is_some_and(|c| *c != target_class.name)
                {
                    continue;
                }
                let key = (target_class.name.clone(), beacon.id, r.with_vectors);
                let target = match cache.get(&key) {
                    Some(t) => t.clone(),
                    None => {
                        let t = coll.get(beacon.id, r.with_vectors)?;
                        cache.insert(key, t.clone());
                        t
                    }
                };
                let Some(target) = target else {
                    continue;
                };
                let references =
                    self.resolve_references(&target, &mut bound.nested, tenant, cache)?;
                targets.push(ReferenceTarget {
                    object: target,
                    references,
                });
            }
            out.push(ResolvedReference {
                request,
                property: r.property.clone(),
                class: target_class.name.clone(),
                targets,
            });
        }
        Ok(out)
    }
}
