//! Opening the indexes of a shard: newest snapshot, then the difference to the vectors bucket.
//!
//! 1. Per configured vector with a known dimension, load `<name>.snapshot`. A missing,
//!    corrupt, truncated, other-version or other-config snapshot is logged (naming the file)
//!    and that index is rebuilt from the bucket instead.
//! 2. One scan of the `vectors` bucket (keys are doc id BE + name, so doc-id order). For a
//!    loaded index with watermark `W`: a key below `W` whose node is live is just marked seen;
//!    a key at or above `W` (or missing from the snapshot) is inserted. Keys of rebuilt
//!    indexes are all inserted. Inserts run on all cores.
//! 3. Live nodes below `W` that were not seen were deleted after the snapshot: tombstone them.
//!    Tombstones already in the snapshot stay.
//! 4. A key below `W` whose node the snapshot holds as deleted means the snapshot is ahead of
//!    the durable data, which the publication rule (the covered writes are durable first)
//!    excludes; if it happens anyway, that index is rebuilt.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use roaring::RoaringBitmap;
use weft_hnsw::{FlatIndex, Hnsw, SnapshotError};
use weft_lsm::Shard;

use super::{AnnIndex, IndexEntry, VectorIndexes, files, hnsw_config, index_id, metric};
use crate::object::record::{self, decode_vector};
use crate::schema::VectorIndexConfig;

const VECTORS: &str = "vectors";
/// Rows per scan page.
const PAGE: usize = 4096;
/// A progress line every this many keys.
const PROGRESS_EVERY: u64 = 100_000;

/// What opening the indexes did (also logged with action `vector_index_load`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LoadReport {
    /// Indexes loaded from a snapshot.
    pub snapshots_loaded: usize,
    /// Nodes those snapshots held.
    pub snapshot_nodes: u64,
    /// Keys of the vectors bucket scanned.
    pub keys_scanned: u64,
    /// Vectors inserted (newer than a snapshot, or all of a rebuilt index).
    pub inserted: u64,
    /// Nodes of a snapshot deleted because their vector is gone.
    pub deleted: u64,
    /// Vector names rebuilt from the bucket, with the reason.
    pub rebuilt: BTreeMap<String, String>,
    /// Wall time.
    pub took: Duration,
}

/// Why a snapshot was not used.
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("no snapshot")]
    Missing,
    #[error("cannot read the snapshot")]
    Io(#[from] std::io::Error),
    #[error("invalid snapshot")]
    Invalid(#[from] SnapshotError),
    #[error("snapshot covers doc ids up to {covered}, the shard has only allocated {next}")]
    Ahead { covered: u64, next: u64 },
}

/// The error and its causes on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        s.push_str(": ");
        s.push_str(&e.to_string());
        cur = e.source();
    }
    s
}

fn read_snapshot(
    dir: &Path,
    name: &str,
    config: &VectorIndexConfig,
    dim: usize,
    next_doc_id: u64,
) -> Result<(AnnIndex, weft_hnsw::SnapshotInfo), Unusable> {
    let (mut input, len) = files::open(dir, name)?.ok_or(Unusable::Missing)?;
    let (index, info) = match config {
        VectorIndexConfig::Hnsw(c) => {
            let (h, info) = Hnsw::read_snapshot(&mut input, len, dim, hnsw_config(c))?;
            (AnnIndex::Hnsw(h), info)
        }
        VectorIndexConfig::Flat(c) => {
            let (f, info) = FlatIndex::read_snapshot(&mut input, len, dim, metric(c.distance))?;
            // A flat index is compressed at creation or never: codes of another kind (or none)
            // mean the snapshot is of another index.
            let wanted = match super::Compression::of(config) {
                super::Compression::FlatBq { .. } => Some(weft_hnsw::QuantKind::Bq),
                super::Compression::FlatRq8 { .. } => Some(weft_hnsw::QuantKind::Rq8),
                _ => None,
            };
            let found = f.quantizer().map(weft_hnsw::Quantizer::kind);
            if found != wanted {
                return Err(weft_hnsw::SnapshotError::Mismatch {
                    field: "compression",
                    expected: format!("{wanted:?}"),
                    found: format!("{found:?}"),
                }
                .into());
            }
            (AnnIndex::Flat(f), info)
        }
    };
    if info.covered > next_doc_id {
        return Err(Unusable::Ahead {
            covered: info.covered,
            next: next_doc_id,
        });
    }
    Ok((index, info))
}

/// A loaded index's bookkeeping during the scan.
struct Loaded {
    covered: u64,
    seen: RoaringBitmap,
    inconsistent: bool,
}

/// One shard's open in progress.
struct Opening<'a> {
    indexes: &'a VectorIndexes,
    shard: &'a Shard,
    class: &'a str,
    dir: PathBuf,
    started: Instant,
    report: LoadReport,
}

/// Opens the indexes of a shard (see the module docs). `dims` are the dimensions recorded in
/// the shard's meta bucket, `next_doc_id` its doc-id counter.
pub(crate) fn open_indexes(
    indexes: &VectorIndexes,
    shard: &Shard,
    class: &str,
    dims: &BTreeMap<String, u32>,
    next_doc_id: u64,
) -> Result<LoadReport, weft_lsm::Error> {
    let mut op = Opening {
        indexes,
        shard,
        class,
        dir: shard.dir().to_path_buf(),
        started: Instant::now(),
        report: LoadReport::default(),
    };
    if let Err(err) = files::remove_stale_temps(&op.dir) {
        tracing::warn!(
            action = "vector_index_load",
            class,
            "cannot remove leftover snapshot temp files: {}",
            chain(&err)
        );
    }
    let mut loaded = op.load_snapshots(dims, next_doc_id);
    op.scan(&mut loaded, None)?;
    op.delete_unseen(&loaded);
    op.rebuild_inconsistent(&loaded)?;
    for name in op.report.rebuilt.keys() {
        if let Some(entry) = indexes.entry(name) {
            // Snapshot it at the worker's next look.
            entry
                .changes
                .store(u64::MAX / 2, std::sync::atomic::Ordering::Relaxed);
        }
    }
    indexes.advance(next_doc_id, shard.last_lsn());
    let mut report = op.report;
    report.took = op.started.elapsed();
    if report.keys_scanned > 0 || report.snapshots_loaded > 0 {
        tracing::info!(action = "vector_index_load", class, snapshots = report.snapshots_loaded, snapshot_nodes = report.snapshot_nodes, keys = report.keys_scanned, inserted = report.inserted, deleted = report.deleted, rebuilt = report.rebuilt.len(), took = ?report.took, "vector indexes ready");
    }
    Ok(report)
}

impl Opening<'_> {
    /// Installs every usable snapshot; the others are recorded for a rebuild.
    fn load_snapshots(
        &mut self,
        dims: &BTreeMap<String, u32>,
        next_doc_id: u64,
    ) -> BTreeMap<String, Loaded> {
        let class = self.class;
        let mut loaded = BTreeMap::new();
        for (name, dim) in dims {
            let Some(config) = self.indexes.config(name) else {
                continue;
            };
            let path = files::path(&self.dir, name);
            match read_snapshot(&self.dir, name, &config, *dim as usize, next_doc_id) {
                Ok((index, info)) => {
                    tracing::info!(action = "vector_index_load", class, path = %path.display(), nodes = info.nodes, tombstoned = info.tombstoned, covered = info.covered, bytes = info.bytes, took = ?self.started.elapsed(), "vector index snapshot loaded");
                    self.report.snapshots_loaded += 1;
                    self.report.snapshot_nodes += info.nodes;
                    self.indexes.install(name, IndexEntry::new(index, 0));
                    loaded.insert(
                        name.clone(),
                        Loaded {
                            covered: info.covered,
                            seen: RoaringBitmap::new(),
                            inconsistent: false,
                        },
                    );
                }
                Err(err) => {
                    let reason = chain(&err);
                    tracing::warn!(action = "vector_index_load", class, path = %path.display(), "vector index snapshot not used ({reason}); rebuilding the index from the vectors bucket");
                    self.report.rebuilt.insert(name.clone(), reason);
                }
            }
        }
        loaded
    }

    /// Tombstones the live snapshot nodes whose vector the bucket no longer has.
    fn delete_unseen(&mut self, loaded: &BTreeMap<String, Loaded>) {
        for (name, l) in loaded {
            let Some(entry) = self.indexes.entry(name) else {
                continue;
            };
            if l.inconsistent {
                continue;
            }
            let bound = u32::try_from(l.covered).unwrap_or(u32::MAX);
            for id in 0..bound {
                if entry.index.contains(id) && !l.seen.contains(id) {
                    self.indexes.delete(name, u64::from(id));
                    self.report.deleted += 1;
                }
            }
        }
    }

    /// Rebuilds the indexes whose snapshot turned out to be ahead of the bucket.
    fn rebuild_inconsistent(
        &mut self,
        loaded: &BTreeMap<String, Loaded>,
    ) -> Result<(), weft_lsm::Error> {
        let redo: BTreeSet<String> = loaded
            .iter()
            .filter(|(_, l)| l.inconsistent)
            .map(|(n, _)| n.clone())
            .collect();
        if redo.is_empty() {
            return Ok(());
        }
        for name in &redo {
            let path = files::path(&self.dir, name);
            tracing::warn!(action = "vector_index_load", class = self.class, path = %path.display(), "vector index snapshot holds as deleted a vector the shard still has; rebuilding the index from the vectors bucket");
            self.report.rebuilt.insert(
                name.clone(),
                "snapshot ahead of the shard's vectors".to_string(),
            );
            self.indexes.remove(name);
        }
        self.scan(&mut BTreeMap::new(), Some(&redo))
    }

    /// One pass over the vectors bucket; `only` restricts it to some vector names.
    fn scan(
        &mut self,
        loaded: &mut BTreeMap<String, Loaded>,
        only: Option<&BTreeSet<String>>,
    ) -> Result<(), weft_lsm::Error> {
        let (indexes, class) = (self.indexes, self.class);
        let mut lo: Option<Vec<u8>> = None;
        let mut pending: Vec<(String, u64, Vec<f32>)> = Vec::new();
        loop {
            let bound = lo.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            let rows = self.shard.scan(VECTORS, bound, Bound::Unbounded, PAGE)?;
            let Some((last, _)) = rows.last() else { break };
            lo = Some(last.clone());
            for (key, value) in rows {
                let Some((doc_id, name)) = record::parse_vector_key(&key) else {
                    continue;
                };
                if only.is_some_and(|o| !o.contains(&name)) {
                    continue;
                }
                self.report.keys_scanned += 1;
                if self.report.keys_scanned.is_multiple_of(PROGRESS_EVERY) {
                    tracing::info!(action = "vector_index_load", class, keys = self.report.keys_scanned, inserted = self.report.inserted, took = ?self.started.elapsed(), "loading vector indexes");
                }
                if let Some(l) = loaded.get_mut(&name)
                    && doc_id < l.covered
                    && let (Ok(id), Some(entry)) = (index_id(doc_id), indexes.entry(&name))
                {
                    if entry.index.contains(id) {
                        l.seen.insert(id);
                        continue;
                    }
                    if entry.index.holds(id) {
                        l.inconsistent = true;
                        continue;
                    }
                }
                let weft_lsm::Value::Bytes(bytes) = value else {
                    continue;
                };
                match decode_vector(&bytes) {
                    Ok(v) => pending.push((name, doc_id, v)),
                    Err(err) => {
                        tracing::error!(
                            action = "vector_index_load",
                            class,
                            "cannot decode vector {name:?} of doc {doc_id}: {err}"
                        );
                    }
                }
            }
            self.report.inserted += insert_parallel(indexes, class, &mut pending);
        }
        Ok(())
    }
}

/// Inserts `pending` on all cores (HNSW inserts are concurrent, see weft-hnsw's `insert.rs`)
/// and empties it.
fn insert_parallel(
    indexes: &VectorIndexes,
    class: &str,
    pending: &mut Vec<(String, u64, Vec<f32>)>,
) -> u64 {
    let insert_one = |(name, doc_id, v): &(String, u64, Vec<f32>)| {
        if let Err(err) = indexes.insert(name, *doc_id, v) {
            tracing::error!(
                action = "vector_index_load",
                class,
                "cannot index doc {doc_id}: {err}"
            );
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = pending.len() as u64;
    if threads < 2 || pending.len() < 256 {
        pending.iter().for_each(insert_one);
    } else {
        let per = pending.len().div_ceil(threads);
        std::thread::scope(|s| {
            for part in pending.chunks(per) {
                s.spawn(move || part.iter().for_each(insert_one));
            }
        });
    }
    pending.clear();
    n
}
