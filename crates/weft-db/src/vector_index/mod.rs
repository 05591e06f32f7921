//! The vector indexes of a collection: one per vector name (`""` for the legacy vector), HNSW
//! or flat as the class says, keyed by doc id.
//!
//! The vectors bucket of the shard is the source of truth; the indexes are derived state,
//! persisted as snapshots (`<shard>/vector_index/<name>.snapshot`, see [`files`] and
//! `docs/format/vector-index-snapshot.md`) so that opening a shard costs a file read plus the
//! changes made since the snapshot, not a rebuild ([`load`]). Snapshots are written on
//! orderly close and in the background ([`worker`]).

pub(crate) mod files;
pub(crate) mod load;
pub(crate) mod oplog;
#[cfg(test)]
mod tests;
pub(crate) mod worker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;
use roaring::RoaringBitmap;
use weft_hnsw::{FlatIndex, Hnsw, IndexError, Metric, Neighbor, Quantizer, Rescore, SnapshotInfo};

use crate::schema::{Distance, VectorIndexConfig, VectorSetup};

pub(crate) use load::LoadReport;
pub(crate) use worker::SnapshotPolicy;

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

/// The index settings of a schema `hnsw` config.
pub(crate) fn hnsw_config(c: &crate::schema::HnswConfig) -> weft_hnsw::HnswConfig {
    weft_hnsw::HnswConfig {
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
    }
}

/// The compression a vector index config asks for, as weft applies it (decision 0015).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    /// f32 vectors.
    None,
    /// `bq`: from the first vector; every candidate of the walk (`ef`) is rescored.
    Bq,
    /// `sq`: trained once `trainingLimit` vectors are indexed, or at once when enabled later.
    Sq { training_limit: u64, rescore: usize },
    /// `rq` with 8, 4 or 1 bits: from the first vector, no training.
    Rq { bits: u32, rescore: usize },
    /// `pq`: trained once `trainingLimit` vectors are indexed, or at once when enabled later
    /// (on up to `trainingLimit` of them); every candidate of the walk is rescored.
    Pq {
        training_limit: u64,
        segments: u32,
        centroids: u32,
    },
    /// A flat index's `bq`, from creation.
    FlatBq { rescore: usize },
    /// A flat index's `rq` with 8 or 1 bits, from creation.
    FlatRq { bits: u32, rescore: usize },
}

impl Compression {
    pub(crate) fn of(config: &VectorIndexConfig) -> Compression {
        let c = match config {
            VectorIndexConfig::Hnsw(c) => c,
            // Flat: bq or rq (8 or 1 bits), fixed at creation; every search keeps the best
            // max(rescoreLimit, k) by codes and rescores them (rescoreLimit −1 → k).
            VectorIndexConfig::Flat(f) => {
                let rescore = |l: i64| usize::try_from(l).unwrap_or(0);
                return if f.bq.enabled {
                    Compression::FlatBq {
                        rescore: rescore(f.bq.rescore_limit),
                    }
                } else if f.rq.enabled {
                    Compression::FlatRq {
                        bits: f.rq_bits,
                        rescore: rescore(f.rq.rescore_limit),
                    }
                } else {
                    Compression::None
                };
            }
        };
        let rescore = |l: i64| usize::try_from(l).unwrap_or(0);
        if c.sq.enabled {
            Compression::Sq {
                training_limit: c.sq.training_limit,
                rescore: rescore(c.sq.rescore_limit),
            }
        } else if c.pq.enabled {
            Compression::Pq {
                training_limit: c.pq.training_limit,
                segments: c.pq.segments,
                centroids: c.pq.centroids,
            }
        } else if c.bq_enabled {
            Compression::Bq
        } else if c.rq.enabled {
            Compression::Rq {
                bits: c.rq.bits,
                rescore: rescore(c.rq.rescore_limit),
            }
        } else {
            Compression::None
        }
    }

    /// The quantizer of the compressions that need no training (rq, bq), for vectors of
    /// `dim` components and `metric`; None for none and for sq.
    pub(crate) fn untrained(self, metric: Metric, dim: usize) -> Option<Quantizer> {
        match self {
            Compression::Rq { bits: 1, .. } | Compression::FlatRq { bits: 1, .. } => {
                Quantizer::rq1(metric, dim, weft_hnsw::RQ_SEED).ok()
            }
            Compression::Rq { bits: 4, .. } => Quantizer::rq4(metric, dim, weft_hnsw::RQ_SEED).ok(),
            Compression::Rq { .. } | Compression::FlatRq { .. } => {
                Quantizer::rq8(metric, dim, weft_hnsw::RQ_SEED).ok()
            }
            Compression::Bq | Compression::FlatBq { .. } => Quantizer::bq(metric, dim).ok(),
            Compression::None | Compression::Sq { .. } | Compression::Pq { .. } => None,
        }
    }

    fn rescore_limit(self) -> usize {
        match self {
            Compression::None => 0,
            // Weaviate rescores all ef candidates of a bq or pq search.
            Compression::Bq | Compression::Pq { .. } => usize::MAX,
            Compression::Sq { rescore, .. }
            | Compression::Rq { rescore, .. }
            | Compression::FlatBq { rescore }
            | Compression::FlatRq { rescore, .. } => rescore,
        }
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
                let h = Hnsw::new(dim, hnsw_config(c));
                // rq and bq need no training: compressed from the first vector on. sq waits
                // for its training sample (the worker).
                if let Some(q) = Compression::of(config).untrained(metric(c.distance), dim) {
                    let _ = h.compress(q);
                }
                AnnIndex::Hnsw(h)
            }
            VectorIndexConfig::Flat(c) => {
                let m = metric(c.distance);
                AnnIndex::Flat(match Compression::of(config).untrained(m, dim) {
                    Some(q) => FlatIndex::compressed(q),
                    None => FlatIndex::new(dim, m),
                })
            }
        }
    }

    pub(crate) fn insert(&self, id: u32, v: &[f32]) -> Result<(), IndexError> {
        match self {
            AnnIndex::Hnsw(h) => h.insert(id, v),
            AnnIndex::Flat(f) => f.insert(id, v),
        }
    }

    pub(crate) fn delete(&self, id: u32) -> bool {
        match self {
            AnnIndex::Hnsw(h) => h.delete(id),
            AnnIndex::Flat(f) => f.delete(id),
        }
    }

    /// Whether `id` is live.
    pub(crate) fn contains(&self, id: u32) -> bool {
        match self {
            AnnIndex::Hnsw(h) => h.contains(id),
            AnnIndex::Flat(f) => f.contains(id),
        }
    }

    /// Whether `id` is in the index: live or tombstoned (for HNSW also removed by a cleanup
    /// that has not freed its slot yet).
    pub(crate) fn holds(&self, id: u32) -> bool {
        match self {
            AnnIndex::Hnsw(h) => h.holds(id),
            AnnIndex::Flat(f) => f.vector(id).is_some(),
        }
    }

    /// Number of live vectors.
    pub(crate) fn len(&self) -> usize {
        match self {
            AnnIndex::Hnsw(h) => h.len(),
            AnnIndex::Flat(f) => f.len(),
        }
    }

    fn search(
        &self,
        q: &[f32],
        k: usize,
        allow: Option<&RoaringBitmap>,
        rescore: Option<&Rescore<'_>>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        match self {
            AnnIndex::Hnsw(h) => h.search_rescored(q, k, None, allow, rescore),
            AnnIndex::Flat(f) => f.search_rescored(q, k, allow, rescore),
        }
    }

    /// Whether the vectors are held compressed.
    pub(crate) fn is_compressed(&self) -> bool {
        match self {
            AnnIndex::Hnsw(h) => h.is_compressed(),
            AnnIndex::Flat(f) => f.quantizer().is_some(),
        }
    }

    pub(crate) fn write_snapshot(
        &self,
        mark: weft_hnsw::SnapshotMark,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<SnapshotInfo> {
        match self {
            AnnIndex::Hnsw(h) => h.write_snapshot_at(mark, out),
            AnnIndex::Flat(f) => f.write_snapshot_at(mark, out),
        }
    }
}

/// An index with its persistence bookkeeping.
#[derive(Debug)]
pub(crate) struct IndexEntry {
    pub(crate) index: AnnIndex,
    /// Inserts and deletes since the last snapshot began.
    pub(crate) changes: AtomicU64,
    /// When the last snapshot was published (or the index was opened), ms since an
    /// arbitrary process-local origin.
    pub(crate) last_snapshot_ms: AtomicU64,
    /// How long the last snapshot took, ms.
    pub(crate) last_took_ms: AtomicU64,
    /// A config update enabled compression: the worker compresses what is indexed now
    /// instead of waiting for `trainingLimit` vectors.
    pub(crate) compress_now: AtomicBool,
    /// The graph-operation log (HNSW indexes, once the shard is open).
    pub(crate) log: std::sync::OnceLock<Arc<oplog::OpLog>>,
    /// An insert failed since the open: snapshots record no LSN (never exact).
    pub(crate) unclean: AtomicBool,
}

impl IndexEntry {
    pub(crate) fn new(index: AnnIndex, changes: u64) -> Self {
        IndexEntry {
            index,
            changes: AtomicU64::new(changes),
            last_snapshot_ms: AtomicU64::new(worker::now_ms()),
            last_took_ms: AtomicU64::new(0),
            compress_now: AtomicBool::new(false),
            log: std::sync::OnceLock::new(),
            unclean: AtomicBool::new(false),
        }
    }

    /// Starts logging the graph operations of an HNSW index of vector `name` in `shard_dir`,
    /// at a generation of at least `at_least` (above every log file on disk). A no-op for
    /// flat indexes and for an index that logs already.
    pub(crate) fn start_log(&self, shard_dir: &std::path::Path, name: &str, at_least: u64) {
        let AnnIndex::Hnsw(h) = &self.index else {
            return;
        };
        if self.log.get().is_some() {
            return;
        }
        match oplog::OpLog::open(shard_dir, name, at_least) {
            Ok(log) => {
                let log = Arc::new(log);
                if self.log.set(Arc::clone(&log)).is_ok() {
                    h.observe(log);
                }
            }
            Err(err) => {
                tracing::warn!(action = "vector_index_oplog", dir = %shard_dir.display(), "cannot list the graph-operation logs ({err}); the index of {name:?} runs without one");
            }
        }
    }
}

/// The indexes of one collection, created on the first vector of each name (which fixes the
/// dimension).
#[derive(Debug, Default)]
pub(crate) struct VectorIndexes {
    configs: RwLock<BTreeMap<String, VectorIndexConfig>>,
    indexes: RwLock<BTreeMap<String, Arc<IndexEntry>>>,
    /// Every doc id below this has had its index changes applied (stored after the changes,
    /// with release ordering, by the writer holding the collection's writer lock).
    applied_below: AtomicU64,
    /// LSN of the shard write that allocated the doc ids below `applied_below` (stored before
    /// it).
    applied_lsn: AtomicU64,
    /// Held while snapshots are written (the background worker and a backup may both ask).
    pub(crate) snapshot_lock: parking_lot::Mutex<()>,
    /// Held (read) by a writer from its first index change to its `advance`, and (write) by a
    /// snapshot while it switches the log generation and reads the watermark: so no write is
    /// half applied at that moment, and every graph change of a write the snapshot's
    /// watermark leaves out is in the new generation.
    pub(crate) apply_gate: RwLock<()>,
    /// The shard directory, once the open is done: indexes created from then on log their
    /// graph operations there.
    pub(crate) log_dir: std::sync::OnceLock<std::path::PathBuf>,
    /// Vectors inserted and deleted since the shard opened (loading included), for metrics.
    pub(crate) inserted: AtomicU64,
    pub(crate) deleted: AtomicU64,
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
            let was = configs.insert(name.to_string(), config.clone());
            let enabled_now = Compression::of(config) != Compression::None
                && was.is_none_or(|w| Compression::of(&w) == Compression::None);
            if enabled_now && let Some(entry) = self.entry(name) {
                entry.compress_now.store(true, Ordering::Release);
            }
        }
    }

    /// Takes the settings of the vectors of `setup` that have none yet (a write carrying a
    /// class read before a concurrent update must not put old settings back).
    pub fn configure_missing(&self, setup: &VectorSetup) {
        let mut configs = self.configs.write();
        for (name, config) in setup.indexes() {
            configs
                .entry(name.to_string())
                .or_insert_with(|| config.clone());
        }
    }

    /// Whether any index holds compressed vectors.
    pub(crate) fn any_compressed(&self) -> bool {
        self.indexes
            .read()
            .values()
            .any(|e| e.index.is_compressed())
    }

    pub(crate) fn config(&self, name: &str) -> Option<VectorIndexConfig> {
        self.configs.read().get(name).cloned()
    }

    fn entry_for(&self, name: &str, dim: usize) -> Option<Arc<IndexEntry>> {
        if let Some(entry) = self.indexes.read().get(name) {
            return Some(Arc::clone(entry));
        }
        let config = self.configs.read().get(name)?.clone();
        let mut indexes = self.indexes.write();
        Some(Arc::clone(indexes.entry(name.to_string()).or_insert_with(
            || {
                let entry = IndexEntry::new(AnnIndex::new(dim, &config), 0);
                if let Some(dir) = self.log_dir.get() {
                    entry.start_log(dir, name, 1);
                }
                Arc::new(entry)
            },
        )))
    }

    /// The index of `name`, if it exists.
    pub(crate) fn entry(&self, name: &str) -> Option<Arc<IndexEntry>> {
        self.indexes.read().get(name).cloned()
    }

    /// Every index with its name.
    pub(crate) fn entries(&self) -> Vec<(String, Arc<IndexEntry>)> {
        self.indexes
            .read()
            .iter()
            .map(|(n, e)| (n.clone(), Arc::clone(e)))
            .collect()
    }

    /// Installs an index (loaded from a snapshot, or replacing one during the open).
    pub(crate) fn install(&self, name: &str, entry: IndexEntry) {
        self.indexes
            .write()
            .insert(name.to_string(), Arc::new(entry));
    }

    /// Drops the index of `name` (during the open, before a rebuild).
    pub(crate) fn remove(&self, name: &str) {
        self.indexes.write().remove(name);
    }

    /// Adds a vector (after its write is durable).
    pub fn insert(&self, name: &str, doc_id: u64, v: &[f32]) -> Result<(), IndexError> {
        let id = index_id(doc_id)?;
        match self.entry_for(name, v.len()) {
            Some(entry) => {
                if let Err(err) = entry.index.insert(id, v) {
                    // The vector is stored but not indexed: no snapshot of this index may
                    // claim to be exact, so the next open compares and inserts it.
                    entry.unclean.store(true, Ordering::Release);
                    return Err(err);
                }
                entry.changes.fetch_add(1, Ordering::Relaxed);
                self.inserted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Removes a doc id from the index of `name`.
    pub fn delete(&self, name: &str, doc_id: u64) {
        if let (Some(entry), Ok(id)) = (self.entry(name), index_id(doc_id))
            && entry.index.delete(id)
        {
            entry.changes.fetch_add(1, Ordering::Relaxed);
            self.deleted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records that every doc id below `next_doc_id` is applied, by the write at `lsn`. Call
    /// with the writer lock held, after the index changes.
    pub(crate) fn advance(&self, next_doc_id: u64, lsn: u64) {
        self.applied_lsn.fetch_max(lsn, Ordering::Release);
        self.applied_below.fetch_max(next_doc_id, Ordering::Release);
        for entry in self.indexes.read().values() {
            // An index that failed an insert stops marking: its next open compares.
            if let Some(log) = entry.log.get()
                && !entry.unclean.load(Ordering::Acquire)
            {
                log.mark_applied(lsn);
            }
        }
    }

    /// The watermark a snapshot started now may claim, and the LSN that must be durable
    /// before it is published.
    pub(crate) fn watermark(&self) -> (u64, u64) {
        let below = self.applied_below.load(Ordering::Acquire);
        (below, self.applied_lsn.load(Ordering::Acquire))
    }

    /// Nearest doc ids of `q` in the index of `name`; empty when nothing was indexed yet. A
    /// compressed index rescores with the f32 vectors `source` reads (by index id).
    pub fn search(
        &self,
        name: &str,
        q: &[f32],
        k: usize,
        allow: Option<&RoaringBitmap>,
        source: &weft_hnsw::VectorSource<'_>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        let Some(entry) = self.entry(name) else {
            return Ok(Vec::new());
        };
        let limit = self
            .config(name)
            .map_or(0, |c| Compression::of(&c).rescore_limit());
        let rescore = Rescore { limit, source };
        entry.index.search(q, k, allow, Some(&rescore))
    }
}
