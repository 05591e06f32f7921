//! The flat index (`vectorIndexType: flat`): exhaustive scan, for small classes.

use std::collections::BinaryHeap;

use parking_lot::RwLock;
use roaring::RoaringBitmap;
use weft_vector::{ArenaError, DistanceFn, Metric, Quantizer, VectorArena, normalize};

use crate::search::Cand;
use crate::store::rescore_hits;
use crate::{IndexError, Neighbor, Rescore};

/// Vectors (or, compressed, their codes) in an arena and a bitmap of live ids; every search
/// scans them all (or the intersection with the allow-list), so results are exact — for a
/// compressed index after rescoring the best candidates with the f32 vectors.
pub struct FlatIndex {
    metric: Metric,
    dim: usize,
    dist: DistanceFn,
    /// Rows by id: the vectors, or their codes.
    vectors: VectorArena,
    quant: Option<Quantizer>,
    live: RwLock<RoaringBitmap>,
}

impl std::fmt::Debug for FlatIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlatIndex")
            .field("metric", &self.metric)
            .field("dim", &self.vectors.dim())
            .field("len", &self.len())
            .finish()
    }
}

impl FlatIndex {
    /// An empty flat index.
    pub fn new(dim: usize, metric: Metric) -> FlatIndex {
        FlatIndex {
            metric,
            dim,
            dist: metric.distance_fn(),
            vectors: VectorArena::new(dim),
            quant: None,
            live: RwLock::new(RoaringBitmap::new()),
        }
    }

    /// An empty flat index holding `q`'s codes instead of the vectors (Weaviate's flat `bq` /
    /// `rq`: decided at creation, never changed).
    pub fn compressed(q: Quantizer) -> FlatIndex {
        FlatIndex {
            metric: q.metric(),
            dim: q.dim(),
            dist: q.distance_fn(),
            vectors: VectorArena::new(q.row_words()),
            quant: Some(q),
            live: RwLock::new(RoaringBitmap::new()),
        }
    }

    /// The quantizer, if compressed.
    pub fn quantizer(&self) -> Option<&Quantizer> {
        self.quant.as_ref()
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of live vectors.
    pub fn len(&self) -> usize {
        self.live.read().len() as usize
    }

    /// Whether no vector is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u32) -> bool {
        self.live.read().contains(id)
    }

    /// Inserts `vector` under `id` (ids are never reused).
    pub fn insert(&self, id: u32, vector: &[f32]) -> Result<(), IndexError> {
        let norm = self.metric.normalizes();
        if vector.len() != self.dim {
            return Err(IndexError::Dimension {
                expected: self.dim,
                got: vector.len(),
            });
        }
        let written = match &self.quant {
            None => self.vectors.insert_with(id, vector, |dst, src| {
                dst.copy_from_slice(src);
                if norm {
                    normalize(dst);
                }
            }),
            Some(q) => {
                let mut v = vector.to_vec();
                if norm {
                    normalize(&mut v);
                }
                self.vectors.write_with(id, |dst| q.encode(&v, dst))
            }
        };
        written.map_err(|e| match e {
            ArenaError::Dimension { expected, got } => IndexError::Dimension { expected, got },
            ArenaError::Occupied(id) => IndexError::Exists(id),
        })?;
        self.live.write().insert(id);
        Ok(())
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Live ids in increasing order (a copy).
    pub(crate) fn live_ids(&self) -> RoaringBitmap {
        self.live.read().clone()
    }

    /// The stored (for cosine: normalised) vector of `id`, if it was ever inserted; its row of
    /// codes once compressed.
    pub fn vector(&self, id: u32) -> Option<&[f32]> {
        self.vectors.get(id)
    }

    /// Inserts a row taken from a snapshot as is (a normalised vector, or codes).
    pub(crate) fn restore(&self, id: u32, vector: &[f32]) -> Result<(), IndexError> {
        self.vectors.insert(id, vector).map_err(|e| match e {
            ArenaError::Dimension { expected, got } => IndexError::Dimension { expected, got },
            ArenaError::Occupied(id) => IndexError::Exists(id),
        })?;
        self.live.write().insert(id);
        Ok(())
    }

    /// Deletes `id`; false if it was not live.
    pub fn delete(&self, id: u32) -> bool {
        self.live.write().remove(id)
    }

    /// The exact `k` nearest live vectors, closest first, restricted to `allow` if given
    /// (code distances once compressed: see [`FlatIndex::search_rescored`]).
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        allow: Option<&RoaringBitmap>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        self.search_rescored(query, k, allow, None)
    }

    /// As [`FlatIndex::search`]; a compressed index with `rescore` keeps the best
    /// max(`rescore.limit`, `k`) by code distance, gives them their exact distance from the
    /// f32 vectors and returns the best `k` (Weaviate's flat rule: `rescoreLimit` −1, passed as
    /// 0, re-orders the best `k`).
    pub fn search_rescored(
        &self,
        query: &[f32],
        k: usize,
        allow: Option<&RoaringBitmap>,
        rescore: Option<&Rescore<'_>>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        if query.len() != self.dim() {
            return Err(IndexError::Dimension {
                expected: self.dim(),
                got: query.len(),
            });
        }
        let mut exact_q = query.to_vec();
        if self.metric.normalizes() {
            normalize(&mut exact_q);
        }
        let rescore = rescore.filter(|_| self.quant.is_some());
        let keep = rescore.map_or(k, |r| r.limit.max(k));
        let q = match &self.quant {
            None => exact_q.clone(),
            Some(quant) => quant.encode_query(&exact_q),
        };
        let live = self.live.read();
        let scan = |ids: &mut dyn Iterator<Item = u32>| {
            let mut heap = BinaryHeap::with_capacity(keep.min(1 << 16) + 1);
            for id in ids {
                let Some(v) = self.vectors.get(id) else {
                    continue;
                };
                let d = (self.dist)(&q, v);
                if heap.len() < keep {
                    heap.push(Cand { d, id });
                } else if heap.peek().is_some_and(|w: &Cand| d < w.d) {
                    heap.pop();
                    heap.push(Cand { d, id });
                }
            }
            heap.into_sorted_vec()
        };
        let found = match allow {
            Some(a) => scan(&mut (a & &*live).iter()),
            None => scan(&mut live.iter()),
        };
        drop(live);
        let mut hits: Vec<Neighbor> = found
            .into_iter()
            .map(|c| Neighbor {
                id: c.id,
                distance: c.d,
            })
            .collect();
        if let Some(rescore) = rescore {
            hits = rescore_hits(self.metric, self.dim, &exact_q, hits, rescore)?;
        }
        hits.truncate(k);
        Ok(hits)
    }
}
