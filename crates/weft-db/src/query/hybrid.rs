//! Keyword and hybrid queries: [`run`] answers a [`Query`] with `keyword` (BM25, ranked by
//! `keyword::search`) or `hybrid` (a vector search and a keyword search fused by
//! `weft_inverted::fusion`, Weaviate's `rankedFusion` or `relativeScoreFusion`).

use roaring::RoaringTreemap;
use uuid::Uuid;
use weft_inverted::fusion::{self, Hit};

use crate::Db;
use crate::error::DbError;
use crate::query::keyword::{self, KeywordOperator, KeywordQuery};
use crate::query::search::{NearQuery, Query, SearchHit, invalid};
use crate::schema::ClassDef;

/// How hybrid search fuses its two result sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fusion {
    /// `rankedFusion`: reciprocal rank.
    Ranked,
    /// `relativeScoreFusion` (the default): min-max normalised values.
    #[default]
    RelativeScore,
}

/// Weaviate's default `alpha`.
pub const DEFAULT_ALPHA: f32 = 0.75;

/// Results each side of a hybrid search fetches at least (Weaviate's hybrid default limit).
pub const HYBRID_SIDE_LIMIT: usize = 100;

/// A hybrid query.
#[derive(Debug, Clone, PartialEq)]
pub struct HybridQuery {
    /// The keyword query.
    pub query: String,
    /// Weight of the vector side (0 = keyword only, 1 = vector only).
    pub alpha: f32,
    /// Fusion algorithm.
    pub fusion: Fusion,
    /// Properties of the keyword side (boosts allowed).
    pub properties: Vec<String>,
    /// Operator of the keyword side.
    pub operator: KeywordOperator,
    /// The vector side: an explicit vector or `nearVector` (with its own thresholds) and the
    /// target vector; `None` needs a vectorizer, which weft does not have.
    pub vector: Option<NearQuery>,
    /// Vector hits farther than this are dropped before fusion, and keyword hits the vector
    /// side did not find within it (`max_vector_distance`).
    pub max_vector_distance: Option<f32>,
    /// The vector came as a `near_vector` sub-search (explanations name it `nearVector`).
    pub vector_sub_search: bool,
}

impl Default for HybridQuery {
    fn default() -> Self {
        Self {
            query: String::new(),
            alpha: DEFAULT_ALPHA,
            fusion: Fusion::default(),
            properties: Vec::new(),
            operator: KeywordOperator::default(),
            vector: None,
            max_vector_distance: None,
            vector_sub_search: false,
        }
    }
}

/// Weaviate's order: the ranked list cut to `offset + limit`, autocut on the scores (offset
/// hits included), then the offset.
fn page(hits: &mut Vec<SearchHit>, req: &Query) {
    let total = usize::try_from(req.offset.saturating_add(req.limit)).unwrap_or(usize::MAX);
    hits.truncate(total);
    if let Some(cut) = req.autocut.filter(|&c| c > 0) {
        let scores: Vec<f32> = hits.iter().filter_map(|h| h.score).collect();
        hits.truncate(crate::query::group::autocut(&scores, cut));
    }
    hits.drain(
        ..usize::try_from(req.offset)
            .unwrap_or(usize::MAX)
            .min(hits.len()),
    );
}

/// Runs a query with `keyword` or `hybrid` set.
pub(crate) fn run(
    db: &Db,
    class: &ClassDef,
    req: &Query,
    allowed: Option<&RoaringTreemap>,
) -> Result<Vec<SearchHit>, DbError> {
    let wanted = usize::try_from(req.offset.saturating_add(req.limit)).unwrap_or(usize::MAX);
    let coll = db.collection_for(class, req.tenant.as_deref())?;
    let mut hits = if let Some(kq) = &req.keyword {
        keyword::search(&coll, class, kq, allowed, wanted, req.with_vectors)?
            .into_iter()
            .map(|h| SearchHit {
                score: Some(h.score),
                explain_score: Some(h.explain),
                ..SearchHit::plain(h.object)
            })
            .collect()
    } else if let Some(hq) = &req.hybrid {
        let limit = usize::try_from(req.limit).unwrap_or(usize::MAX);
        let offset = usize::try_from(req.offset).unwrap_or(usize::MAX);
        hybrid(db, class, req, hq, allowed, (limit, offset))?
    } else {
        return Err(invalid("neither bm25 nor hybrid given".into()));
    };
    page(&mut hits, req);
    Ok(hits)
}

fn hybrid(
    db: &Db,
    class: &ClassDef,
    req: &Query,
    hq: &HybridQuery,
    allowed: Option<&RoaringTreemap>,
    (limit, offset): (usize, usize),
) -> Result<Vec<SearchHit>, DbError> {
    let with_vectors = req.with_vectors;
    // As Weaviate: each side fetches at least QUERY_HYBRID_MAXIMUM_RESULTS (100); the keyword
    // side also covers the offset. Both sides rank doc ids; only the fused page is loaded.
    let side = limit.max(HYBRID_SIDE_LIMIT);
    let alpha = f64::from(hq.alpha);
    let coll = db.collection_for(class, req.tenant.as_deref())?;
    // Vector side (skipped when alpha is 0): (doc id, uuid, 1 - distance).
    let near = match (&hq.vector, alpha > 0.0) {
        (_, false) => None,
        (Some(near), true) => Some(near),
        (None, true) => {
            return Err(invalid(format!(
                "VectorFromInput was called without vectorizer on class {} for input {}",
                class.name, hq.query
            )));
        }
    };
    let vector_search = || -> Result<Vec<(u64, Uuid, f64)>, DbError> {
        let mut out = Vec::new();
        let Some(near) = near else { return Ok(out) };
        for n in db.near_ranked(class, req.tenant.as_deref(), near, side, allowed)? {
            if hq.max_vector_distance.is_some_and(|max| n.distance > max) {
                break;
            }
            if let Some(id) = coll.uuid_of(n.doc)? {
                out.push((n.doc, id, f64::from(1.0 - n.distance)));
            }
        }
        Ok(out)
    };
    // Keyword side (skipped when alpha is 1, empty for an empty query).
    let keyword_search = || -> Result<Vec<keyword::Ranked>, DbError> {
        if alpha >= 1.0 || hq.query.is_empty() {
            return Ok(Vec::new());
        }
        let kq = KeywordQuery {
            query: hq.query.clone(),
            properties: hq.properties.clone(),
            operator: hq.operator,
        };
        keyword::rank(&coll, class, &kq, allowed, side.saturating_add(offset))
    };
    // Both sides at once when both run (each is single-threaded).
    let (vector_side, keyword_side) = if near.is_some() && alpha < 1.0 {
        std::thread::scope(|s| {
            let v = s.spawn(vector_search);
            let k = keyword_search();
            let v = v
                .join()
                .unwrap_or_else(|_| Err(invalid("the vector side of hybrid search failed".into())));
            (v, k)
        })
    } else {
        (vector_search(), keyword_search())
    };
    let (vector_side, mut keyword_side) = (vector_side?, keyword_side?);
    if hq.max_vector_distance.is_some() && alpha > 0.0 {
        // Weaviate keeps only keyword hits that the vector side also found within the distance.
        keyword_side.retain(|k| vector_side.iter().any(|v| v.0 == k.doc));
    }
    let vector_name = if hq.vector_sub_search {
        "vector,nearVector"
    } else {
        "vector,hybridVector"
    };
    let named: [(&str, Vec<Hit<Uuid>>); 2] = [
        (
            vector_name,
            vector_side
                .iter()
                .map(|&(_, id, value)| Hit { id, value })
                .collect(),
        ),
        (
            "keyword,bm25",
            keyword_side
                .iter()
                .map(|h| Hit {
                    id: h.id,
                    value: f64::from(h.score),
                })
                .collect(),
        ),
    ];
    let weights = [alpha, 1.0 - alpha];
    let sets: Vec<Vec<Hit<Uuid>>> = named.iter().map(|(_, s)| s.clone()).collect();
    let fused = match hq.fusion {
        Fusion::Ranked => fusion::ranked(&sets, &weights),
        Fusion::RelativeScore => fusion::relative(&sets, &weights),
    };
    let docs: std::collections::HashMap<Uuid, u64> = vector_side
        .iter()
        .map(|&(doc, id, _)| (id, doc))
        .chain(keyword_side.iter().map(|k| (k.id, k.doc)))
        .collect();
    let mut out = Vec::new();
    for f in fused.into_iter().take(limit.saturating_add(offset)) {
        let Some(object) = docs
            .get(&f.id)
            .map(|&doc| coll.by_doc_id(doc, with_vectors))
            .transpose()?
            .flatten()
        else {
            continue;
        };
        let explain = explanation(hq.fusion, &named, &weights, f.id);
        out.push(SearchHit {
            score: Some(f.score as f32),
            explain_score: Some(explain),
            ..SearchHit::plain(object)
        });
    }
    Ok(out)
}

/// Weaviate's `explainScore` of a fused hit, the sets in the order they were fused.
fn explanation(
    fusion: Fusion,
    sets: &[(&str, Vec<Hit<Uuid>>)],
    weights: &[f64],
    id: Uuid,
) -> String {
    let mut out = String::new();
    for ((name, hits), weight) in sets.iter().zip(weights) {
        let Some(rank) = hits.iter().position(|h| h.id == id) else {
            continue;
        };
        let contributed = contribution(fusion, hits, rank, *weight);
        match fusion {
            Fusion::Ranked => {
                out = format!(
                    "{out}\nHybrid (Result Set {name}) Document {id} contributed {contributed} to the score"
                );
            }
            Fusion::RelativeScore => {
                let mut line = format!(
                    "Hybrid (Result Set {name}) Document {id}: original score {}, normalized score: {contributed}",
                    hits[rank].value as f32
                );
                if !out.is_empty() {
                    line = format!("{line} - {out}");
                    out = String::new();
                }
                out = format!("{out}\n{line}");
            }
        }
    }
    out
}

/// What the hit at `rank` of `set` added to the fused score.
fn contribution(fusion: Fusion, set: &[Hit<Uuid>], rank: usize, weight: f64) -> f32 {
    match fusion {
        Fusion::Ranked => (weight / (rank as f64 + 60.0)) as f32,
        Fusion::RelativeScore => {
            let values = set.iter().map(|h| h.value);
            let min = values.clone().fold(f64::INFINITY, f64::min);
            let max = values.fold(f64::NEG_INFINITY, f64::max);
            let v = set.get(rank).map_or(0.0, |h| h.value);
            if max > min {
                (weight * (v - min) / (max - min)) as f32
            } else {
                weight as f32
            }
        }
    }
}
