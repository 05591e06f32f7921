//! The vector indexes of a collection: one per vector name (`""` for the legacy vector), HNSW
//! or flat as the class says, keyed by doc id.
//!
//! The vectors bucket of the shard is the source of truth; the indexes are derived state.
//! This first version rebuilds them from the bucket when the shard opens (the persisted graph
//! with an LSN watermark comes next, see docs/decisions/0006-vector-index.md).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use roaring::RoaringBitmap;
use weft_hnsw::{FlatIndex, Hnsw, IndexError, Metric, Neighbor};

use crate::schema::{Distance, VectorIndexConfig, VectorSetup};

/// Maps the schema's distance to the kernel metric.
pub fn metric(distance: Distance) -> Metric {
    match distance {
        Distance::Cosine => Metric::Cosine,
        Distance::Dot => Metric::Dot,
        Distance::L2Squared => Metric::L2Squared,
        Distance::Manhattan => Metric::Manhattan,
        Distance::Hamming => Metric::Hamming,
    }
}

/// One index.
#[derive(Debug)]
pub(crate) enum AnnIndex {
    Hnsw(Hnsw),
    Flat(FlatIndex),
}

impl AnnIndex {
    fn new(dim: usize, config: &VectorIndexConfig) -> Self {
        match config {
            VectorIndexConfig::Hnsw(c) => {
                let cfg = weft_hnsw::HnswConfig {
                    metric: metric(c.distance),
                    max_connections: c.max_connections as usize,
                    ef_construction: c.ef_construction as usize,
                    ef: c.ef,
                    dynamic_ef_min: usize::try_from(c.dynamic_ef_min).unwrap_or(100),
                    dynamic_ef_max: usize::try_from(c.dynamic_ef_max).unwrap_or(500),
                    dynamic_ef_factor: usize::try_from(c.dynamic_ef_factor).unwrap_or(8),
                    flat_search_cutoff: usize::try_from(c.flat_search_cutoff).unwrap_or(usize::MAX),
                    cleanup_interval_seconds: c.cleanup_interval_seconds,
                    ..weft_hnsw::HnswConfig::default()
                };
                AnnIndex::Hnsw(Hnsw::new(dim, cfg))
            }
            VectorIndexConfig::Flat(c) => AnnIndex::Flat(FlatIndex::new(dim, metric(c.distance))),
        }
    }

    fn insert(&self, id: u32, v: &[f32]) -> Result<(), IndexError> {
        match self {
            AnnIndex::Hnsw(h) => h.insert(id, v),
            AnnIndex::Flat(f) => f.insert(id, v),
        }
    }

    fn delete(&self, id: u32) {
        match self {
            AnnIndex::Hnsw(h) => {
                h.delete(id);
            }
            AnnIndex::Flat(f) => {
                f.delete(id);
            }
        }
    }

    fn search(
        &self,
        q: &[f32],
        k: usize,
        allow: Option<&RoaringBitmap>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        match self {
            AnnIndex::Hnsw(h) => h.search(q, k, allow),
            AnnIndex::Flat(f) => f.search(q, k, allow),
        }
    }
}

/// The indexes of one collection, created on the first vector of each name (which fixes the
/// dimension).
#[derive(Debug, Default)]
pub(crate) struct VectorIndexes {
    configs: RwLock<BTreeMap<String, VectorIndexConfig>>,
    indexes: RwLock<BTreeMap<String, Arc<AnnIndex>>>,
}

/// Doc ids are u64 in storage and u32 in the indexes.
pub(crate) fn index_id(doc_id: u64) -> Result<u32, IndexError> {
    u32::try_from(doc_id).map_err(|_| IndexError::MissingVector(u32::MAX))
}

impl VectorIndexes {
    /// Takes the (possibly updated) index settings of the class.
    pub fn configure(&self, setup: &VectorSetup) {
        let mut configs = self.configs.write();
        for (name, config) in setup.indexes() {
            configs.insert(name.to_string(), config.clone());
        }
    }

    fn index_for(&self, name: &str, dim: usize) -> Option<Arc<AnnIndex>> {
        if let Some(index) = self.indexes.read().get(name) {
            return Some(Arc::clone(index));
        }
        let config = self.configs.read().get(name)?.clone();
        let mut indexes = self.indexes.write();
        Some(Arc::clone(
            indexes
                .entry(name.to_string())
                .or_insert_with(|| Arc::new(AnnIndex::new(dim, &config))),
        ))
    }

    /// Adds a vector (after its write is durable).
    pub fn insert(&self, name: &str, doc_id: u64, v: &[f32]) -> Result<(), IndexError> {
        let id = index_id(doc_id)?;
        match self.index_for(name, v.len()) {
            Some(index) => index.insert(id, v),
            None => Ok(()),
        }
    }

    /// Removes a doc id from the index of `name`.
    pub fn delete(&self, name: &str, doc_id: u64) {
        if let (Some(index), Ok(id)) = (self.indexes.read().get(name), index_id(doc_id)) {
            index.delete(id);
        }
    }

    /// Nearest doc ids of `q` in the index of `name`; empty when nothing was indexed yet.
    pub fn search(
        &self,
        name: &str,
        q: &[f32],
        k: usize,
        allow: Option<&RoaringBitmap>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        let index = self.indexes.read().get(name).cloned();
        match index {
            Some(index) => index.search(q, k, allow),
            None => Ok(Vec::new()),
        }
    }
}
