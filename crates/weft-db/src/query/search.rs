//! [`Query`], the value every protocol builds for a read, and [`Db::search`], which runs it:
//! a listing (cursor, filter, sort, paging) or a nearest-neighbour search (`nearVector`,
//! `nearObject`; distance / certainty thresholds, the filter as an allow-list, autocut).

use uuid::Uuid;

use crate::Db;
use crate::error::{DbError, UserError};
use crate::object::{LEGACY_VECTOR, ListRequest, StoredObject};
use crate::query::Filter;
use crate::schema::{ClassDef, Distance, VectorSetup};

/// What to search near.
#[derive(Debug, Clone, PartialEq)]
pub enum Near {
    /// `nearVector`.
    Vector(Vec<f32>),
    /// `nearObject`: the vector of this object.
    Object(Uuid),
}

/// A nearest-neighbour part of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct NearQuery {
    /// The query.
    pub near: Near,
    /// Target vector name; `None` picks the class's only vector.
    pub target: Option<String>,
    /// Keep hits with distance ≤ this.
    pub max_distance: Option<f32>,
    /// Keep hits with certainty ≥ this (cosine only).
    pub min_certainty: Option<f32>,
}

impl NearQuery {
    /// `nearVector` with no target name and no threshold.
    pub fn vector(v: Vec<f32>) -> Self {
        Self {
            near: Near::Vector(v),
            target: None,
            max_distance: None,
            min_certainty: None,
        }
    }
}

/// A query over one class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Class name (first letter may be lower-case).
    pub class: String,
    /// Results wanted (already defaulted by the caller).
    pub limit: u64,
    /// Results to skip.
    pub offset: u64,
    /// Cursor for listing without a search.
    pub after: Option<Uuid>,
    /// Only objects matching this filter (checked against the class first).
    pub filter: Option<Filter>,
    /// Order of a listing (not of a vector search).
    pub sort: Vec<crate::query::SortBy>,
    /// Keep the hits of a vector search before the n-th jump in distance.
    pub autocut: Option<usize>,
    /// Nearest-neighbour search.
    pub near: Option<NearQuery>,
    /// Keyword (BM25) search.
    pub keyword: Option<crate::query::KeywordQuery>,
    /// Hybrid (keyword + vector) search.
    pub hybrid: Option<crate::query::HybridQuery>,
    /// Return vectors.
    pub with_vectors: bool,
    /// References to resolve on every hit (`return_references`).
    pub references: Vec<crate::query::refs::ReferenceRequest>,
    /// The tenant (multi-tenant classes).
    pub tenant: Option<String>,
}

/// One result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The object.
    pub object: StoredObject,
    /// Distance to the query (searches only).
    pub distance: Option<f32>,
    /// Certainty (cosine searches only): 1 − distance / 2.
    pub certainty: Option<f32>,
    /// Score of a keyword or hybrid search.
    pub score: Option<f32>,
    /// How the score came about (`explainScore`), keyword and hybrid searches.
    pub explain_score: Option<String>,
    /// The references the query asked for, resolved.
    pub references: Vec<crate::query::refs::ResolvedReference>,
}

impl SearchHit {
    /// A hit without distance or score (listings).
    pub fn plain(object: StoredObject) -> Self {
        Self {
            object,
            distance: None,
            certainty: None,
            score: None,
            explain_score: None,
            references: Vec::new(),
        }
    }
}

pub(crate) fn invalid(msg: String) -> DbError {
    UserError::Invalid(msg).into()
}

/// The vector name a query targets, and its distance.
pub(crate) fn target(
    class: &ClassDef,
    wanted: Option<&str>,
) -> Result<(String, Distance), DbError> {
    match (&class.vectors, wanted) {
        (VectorSetup::Legacy { index, .. }, None | Some("")) => {
            Ok((LEGACY_VECTOR.to_string(), index.distance()))
        }
        (VectorSetup::Legacy { .. }, Some(name)) => Err(invalid(format!(
            "class {} has no named vector {name:?}",
            class.name
        ))),
        (VectorSetup::Named(named), Some(name)) => named
            .get(name)
            .map(|v| (name.to_string(), v.index.distance()))
            .ok_or_else(|| invalid(format!("class {} has no named vector {name:?}", class.name))),
        (VectorSetup::Named(named), None) => match (named.len(), named.iter().next()) {
            (1, Some((name, v))) => Ok((name.clone(), v.index.distance())),
            _ => Err(invalid(format!(
                "class {} has several named vectors: name the target vector",
                class.name
            ))),
        },
    }
}

impl Db {
    /// Runs a query; then resolves the references it asks for on every hit.
    pub fn search(&self, req: &Query) -> Result<Vec<SearchHit>, DbError> {
        let class = self
            .class(&req.class)
            .ok_or_else(|| UserError::ClassNotFound(req.class.clone()))?;
        if req.references.is_empty() {
            return self.search_class(&class, req);
        }
        let mut bound = self.bind_reference_requests(&class, &req.references)?;
        let mut hits = self.search_class(&class, req)?;
        let mut cache = crate::query::refs::TargetCache::new();
        for hit in &mut hits {
            hit.references = self.resolve_references(
                &hit.object,
                &mut bound,
                req.tenant.as_deref(),
                &mut cache,
            )?;
        }
        Ok(hits)
    }

    fn search_class(&self, class: &ClassDef, req: &Query) -> Result<Vec<SearchHit>, DbError> {
        let tenant = req.tenant.as_deref();
        // Errors of a missing or wrong tenant come first, whatever the query.
        let coll = self.collection_for(class, tenant)?;
        let plain = SearchHit::plain;
        let allowed = match &req.filter {
            Some(filter) => Some(self.filter_ids(&coll, class, filter, tenant)?),
            None => None,
        };
        let searches = [
            req.near.is_some(),
            req.keyword.is_some(),
            req.hybrid.is_some(),
        ];
        if searches.iter().filter(|s| **s).count() > 1 {
            return Err(invalid(
                "only one of nearVector/nearObject, bm25 and hybrid can be used in one query"
                    .into(),
            ));
        }
        if !req.sort.is_empty() {
            if searches.iter().any(|s| *s) {
                return Err(invalid("sorting cannot be combined with search".into()));
            }
            if req.after.is_some() {
                return Err(invalid("sort cannot be combined with 'after'".into()));
            }
            crate::query::sort::validate(class, &req.sort)?;
            let mut objects = match &allowed {
                Some(ids) => {
                    let mut out = Vec::new();
                    for doc_id in ids.iter() {
                        if let Some(o) = coll.by_doc_id(doc_id, false)? {
                            out.push(o);
                        }
                    }
                    out
                }
                None => coll.list(None, 0, u64::MAX, false)?,
            };
            crate::query::sort::sort(class, &req.sort, &mut objects);
            let skip = usize::try_from(req.offset).unwrap_or(usize::MAX);
            let take = usize::try_from(req.limit).unwrap_or(usize::MAX);
            let mut out = Vec::new();
            for o in objects.into_iter().skip(skip).take(take) {
                let o = if req.with_vectors {
                    coll.get(o.id, true)?.unwrap_or(o)
                } else {
                    o
                };
                out.push(plain(o));
            }
            return Ok(out);
        }
        if req.keyword.is_some() || req.hybrid.is_some() {
            return crate::query::hybrid::run(self, class, req, allowed.as_ref());
        }
        if let (Some(ids), None) = (&allowed, &req.near) {
            // A filtered listing: matching objects in doc-id order.
            let skip = usize::try_from(req.offset).unwrap_or(usize::MAX);
            let take = usize::try_from(req.limit).unwrap_or(usize::MAX);
            let mut out = Vec::new();
            for doc_id in ids.iter().skip(skip).take(take) {
                if let Some(obj) = coll.by_doc_id(doc_id, req.with_vectors)? {
                    out.push(plain(obj));
                }
            }
            return Ok(out);
        }
        let Some(near) = &req.near else {
            let list = ListRequest {
                class: Some(class.name.clone()),
                offset: req.offset,
                limit: req.limit,
                after: req.after,
                tenant: req.tenant.clone(),
            };
            return Ok(self
                .list_objects(&list, req.with_vectors)?
                .into_iter()
                .map(plain)
                .collect());
        };
        let k = usize::try_from(req.offset.saturating_add(req.limit)).unwrap_or(usize::MAX);
        let mut hits =
            self.near_hits(class, tenant, near, k, allowed.as_ref(), req.with_vectors)?;
        hits.drain(
            ..usize::try_from(req.offset)
                .unwrap_or(usize::MAX)
                .min(hits.len()),
        );
        if let Some(cut) = req.autocut.filter(|&c| c > 0) {
            let d: Vec<f32> = hits.iter().filter_map(|h| h.distance).collect();
            hits.truncate(crate::query::group::autocut(&d, cut));
        }
        Ok(hits)
    }

    /// The `k` nearest neighbours of a `nearVector` / `nearObject` within `allowed`, with
    /// distance and certainty, the thresholds applied.
    pub(crate) fn near_hits(
        &self,
        class: &ClassDef,
        tenant: Option<&str>,
        near: &NearQuery,
        k: usize,
        allowed: Option<&roaring::RoaringTreemap>,
        with_vectors: bool,
    ) -> Result<Vec<SearchHit>, DbError> {
        let coll = self.collection_for(class, tenant)?;
        let mut out = Vec::new();
        for n in self.near_ranked(class, tenant, near, k, allowed)? {
            if let Some(object) = coll.by_doc_id(n.doc, with_vectors)? {
                out.push(SearchHit {
                    distance: Some(n.distance),
                    certainty: n.certainty,
                    ..SearchHit::plain(object)
                });
            }
        }
        Ok(out)
    }

    /// [`Db::near_hits`] without loading the objects: doc ids, nearest first.
    pub(crate) fn near_ranked(
        &self,
        class: &ClassDef,
        tenant: Option<&str>,
        near: &NearQuery,
        k: usize,
        allowed: Option<&roaring::RoaringTreemap>,
    ) -> Result<Vec<Neighbour>, DbError> {
        let (name, distance) = target(class, near.target.as_deref())?;
        if near.min_certainty.is_some() && distance != Distance::Cosine {
            return Err(invalid(format!(
                "can't compute and return certainty when vector index is configured with {} distance",
                distance.as_str()
            )));
        }
        let coll = self.collection_for(class, tenant)?;
        let query = match &near.near {
            Near::Vector(v) => v.clone(),
            Near::Object(id) => {
                let source = coll.get(*id, true)?.ok_or_else(|| {
                    invalid(format!(
                        "nearObject: object {id} not found in class {}",
                        class.name
                    ))
                })?;
                source.vectors.get(&name).cloned().ok_or_else(|| {
                    invalid(format!("nearObject: object {id} has no vector {name:?}"))
                })?
            }
        };
        let allow: Option<roaring::RoaringBitmap> =
            allowed.map(|ids| ids.iter().filter_map(|d| u32::try_from(d).ok()).collect());
        let cosine = distance == Distance::Cosine;
        Ok(coll
            .near_vector_ids(&name, &query, k, allow.as_ref())?
            .into_iter()
            .map(|(doc, d)| Neighbour {
                doc,
                distance: d,
                certainty: cosine.then_some(1.0 - d / 2.0),
            })
            .filter(|n| near.max_distance.is_none_or(|m| n.distance <= m))
            .filter(|n| {
                near.min_certainty
                    .is_none_or(|m| n.certainty.is_some_and(|c| c >= m))
            })
            .collect())
    }
}

/// A nearest neighbour before its object is loaded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Neighbour {
    /// Internal doc id.
    pub doc: u64,
    /// Distance to the query.
    pub distance: f32,
    /// Certainty (cosine only).
    pub certainty: Option<f32>,
}

#[cfg(test)]
mod tests;
