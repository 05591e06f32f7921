//! The flat index (`vectorIndexType: flat`): exhaustive scan, for small classes.

use std::collections::BinaryHeap;

use parking_lot::RwLock;
use roaring::RoaringBitmap;
use weft_vector::{ArenaError, DistanceFn, Metric, VectorArena, normalize};

use crate::search::Cand;
use crate::{IndexError, Neighbor};

/// Vectors in an arena and a bitmap of live ids; every search scans them all (or the
/// intersection with the allow-list), so results are exact.
pub struct FlatIndex {
    metric: Metric,
    dist: DistanceFn,
    vectors: VectorArena,
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
            dist: metric.distance_fn(),
            vectors: VectorArena::new(dim),
            live: RwLock::new(RoaringBitmap::new()),
        }
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.vectors.dim()
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
        self.vectors
            .insert_with(id, vector, |dst, src| {
                dst.copy_from_slice(src);
                if norm {
                    normalize(dst);
                }
            })
            .map_err(|e| match e {
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

    /// The stored (for cosine: normalised) vector of `id`, if it was ever inserted.
    pub fn vector(&self, id: u32) -> Option<&[f32]> {
        self.vectors.get(id)
    }

    /// Inserts a vector taken from a snapshot as is (already normalised).
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

    /// The exact `k` nearest live vectors, closest first, restricted to `allow` if given.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        allow: Option<&RoaringBitmap>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        if query.len() != self.dim() {
            return Err(IndexError::Dimension {
                expected: self.dim(),
                got: query.len(),
            });
        }
        let mut q = query.to_vec();
        if self.metric.normalizes() {
            normalize(&mut q);
        }
        let live = self.live.read();
        let scan = |ids: &mut dyn Iterator<Item = u32>| {
            let mut heap = BinaryHeap::with_capacity(k.min(1 << 16) + 1);
            for id in ids {
                let Some(v) = self.vectors.get(id) else {
                    continue;
                };
                let d = (self.dist)(&q, v);
                if heap.len() < k {
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
        Ok(found
            .into_iter()
            .map(|c| Neighbor {
                id: c.id,
                distance: c.d,
            })
            .collect())
    }
}
