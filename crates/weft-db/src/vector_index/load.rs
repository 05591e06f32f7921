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
//!
//! Between 1 and 2, an HNSW snapshot's graph-operation logs (generations from the one its
//! header names, see [`super::oplog`]) are replayed onto it: the graph changes made after
//! the snapshot, without re-inserting. Replay stops at the first damaged record (a warning
//! naming the file); what it did not cover, step 2 inserts. Step 2 therefore treats every
//! key whose node the index already holds as seen, whatever its doc id, and step 3 looks at
//! every doc id the shard allocated.
//!
//! Steps 2 and 3 are skipped for an **exact** snapshot: one whose recorded shard LSN is the
//! shard's last LSN and whose watermark is the shard's doc-id counter (no write since it was
//! taken; every write that touched the index while it was written was durable before it was
//! published, see the worker). An orderly restart opens that way, reading nothing but the
//! snapshot files.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use roaring::RoaringBitmap;
use weft_hnsw::oplog::Record;
use weft_hnsw::{FlatIndex, GraphOp, Hnsw, SnapshotError};
use weft_io::Vfs;
use weft_lsm::Shard;

use super::{AnnIndex, IndexEntry, VectorIndexes, files, hnsw_config, index_id, metric, oplog};
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
    /// Of those, exact ones (no write since they were taken: no scan needed).
    pub exact: usize,
    /// Graph-operation log files replayed, and the operations in them.
    pub log_files: usize,
    pub log_ops: u64,
    /// Replayed nodes added and tombstoned.
    pub log_added: u64,
    pub log_tombstoned: u64,
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
                super::Compression::FlatRq { bits: 1, .. } => Some(weft_hnsw::QuantKind::Rq1),
                super::Compression::FlatRq { .. } => Some(weft_hnsw::QuantKind::Rq8),
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

/// What replaying an index's logs did.
#[derive(Debug, Default)]
struct Replayed {
    ops: u64,
    added: u64,
    tombstoned: u64,
    /// The last `Applied` mark replayed: every write up to it is in the replayed graph.
    applied: Option<u64>,
    /// A vector an `AddNode` needed could not be read or decoded.
    read_failed: bool,
}

/// A loaded index's bookkeeping during the scan.
struct Loaded {
    covered: u64,
    /// No write since the snapshot: nothing to compare.
    exact: bool,
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
    // Exact snapshots need no scan; the others and the rebuilt indexes do.
    let scanned: BTreeSet<String> = dims
        .keys()
        .filter(|name| !loaded.get(*name).is_some_and(|l| l.exact))
        .cloned()
        .collect();
    loaded.retain(|_, l| !l.exact);
    if !scanned.is_empty() {
        op.scan(&mut loaded, Some(&scanned))?;
    }
    op.delete_unseen(&loaded, next_doc_id);
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
    // From now on every graph change is logged, above every generation on disk (loaded
    // indexes log already).
    for (name, entry) in indexes.entries() {
        entry.start_log(&op.dir, &name, 1);
    }
    let _ = indexes.log_dir.set(op.dir.clone());
    let mut report = op.report;
    report.took = op.started.elapsed();
    if report.keys_scanned > 0 || report.snapshots_loaded > 0 {
        tracing::info!(action = "vector_index_load", class, snapshots = report.snapshots_loaded, exact = report.exact, log_files = report.log_files, log_ops = report.log_ops, snapshot_nodes = report.snapshot_nodes, keys = report.keys_scanned, inserted = report.inserted, deleted = report.deleted, rebuilt = report.rebuilt.len(), took = ?report.took, "vector indexes ready");
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
        let last_lsn = self.shard.last_lsn();
        let mut loaded = BTreeMap::new();
        for (name, dim) in dims {
            let Some(config) = self.indexes.config(name) else {
                continue;
            };
            let path = files::path(&self.dir, name);
            match read_snapshot(&self.dir, name, &config, *dim as usize, next_doc_id) {
                Ok((index, info)) => {
                    let replay = match &index {
                        AnnIndex::Hnsw(h) if info.log_generation > 0 => {
                            self.replay_logs(name, h, info.log_generation, next_doc_id)
                        }
                        _ => Replayed::default(),
                    };
                    // Replayed membership changes mean writes after the snapshot.
                    let snapshot_exact = info.lsn != 0
                        && info.lsn == last_lsn
                        && info.covered == next_doc_id
                        && replay.added == 0
                        && replay.tombstoned == 0;
                    // Or the log holds every write up to the shard's last one.
                    let exact =
                        snapshot_exact || (replay.applied == Some(last_lsn) && !replay.read_failed);
                    tracing::info!(action = "vector_index_load", class, path = %path.display(), nodes = info.nodes, tombstoned = info.tombstoned, covered = info.covered, lsn = info.lsn, exact, bytes = info.bytes, took = ?self.started.elapsed(), "vector index snapshot loaded");
                    self.report.snapshots_loaded += 1;
                    self.report.exact += usize::from(exact);
                    self.report.snapshot_nodes += info.nodes;
                    let entry = IndexEntry::new(index, replay.added + replay.tombstoned);
                    // Logging from here on: what the comparison below inserts and deletes is
                    // replayed after a second crash too.
                    entry.start_log(&self.dir, name, info.log_generation);
                    self.indexes.install(name, entry);
                    loaded.insert(
                        name.clone(),
                        Loaded {
                            covered: info.covered,
                            exact,
                            seen: RoaringBitmap::new(),
                            inconsistent: false,
                        },
                    );
                }
                Err(err) => {
                    let reason = chain(&err);
                    tracing::warn!(action = "vector_index_load", class, path = %path.display(), "vector index snapshot not used ({reason}); rebuilding the index from the vectors bucket");
                    // An unusable snapshot (and the logs on top of it) must not come back at
                    // a later open, over the rebuilt index's own logs.
                    if !matches!(err, Unusable::Missing) {
                        self.discard(name);
                    }
                    self.report.rebuilt.insert(name.clone(), reason);
                }
            }
        }
        loaded
    }

    /// Replays the log files of `name` from generation `from` onto `h` (loaded from the
    /// snapshot that names `from`), stopping at the first damage.
    fn replay_logs(&mut self, name: &str, h: &Hnsw, from: u64, next_doc_id: u64) -> Replayed {
        let class = self.class;
        let mut out = Replayed::default();
        let all = match oplog::list(&self.dir, name) {
            Ok(all) => all,
            Err(err) => {
                tracing::warn!(action = "vector_index_load", class, dir = %self.dir.display(), "cannot list the graph-operation logs ({err}); the changes since the snapshot are re-inserted instead");
                return out;
            }
        };
        let shard = self.shard;
        let mut read_errors = 0u64;
        let mut vector_of = |id: u32| {
            let key = record::vector_key(u64::from(id), name);
            match shard.get(VECTORS, &key) {
                Ok(Some(bytes)) => {
                    let v = decode_vector(&bytes).ok();
                    read_errors += u64::from(v.is_none());
                    v
                }
                // Gone: deleted by a later write (replayed further on).
                Ok(None) => None,
                Err(_) => {
                    read_errors += 1;
                    None
                }
            }
        };
        // Pass 1: the files to replay — consecutive generations from `from` (every
        // generation gets its file when it starts, so a missing one is a gap), each up to its
        // first damage, replay stopping there — and the inserts they saw finish.
        let mut accepted: Vec<(u64, PathBuf)> = Vec::new();
        let mut published = std::collections::HashSet::new();
        for (expected, (generation, path)) in
            (from..).zip(all.into_iter().filter(|(g, _)| *g >= from))
        {
            if generation != expected {
                tracing::warn!(action = "vector_index_load", class, path = %path.display(), missing = expected, "graph-operation log generation {expected} is missing; replay stops before it, the rest is re-inserted from the vectors bucket");
                break;
            }
            let bytes = match weft_io::StdFs.read_all(&path) {
                Ok(b) => b,
                Err(err) => {
                    tracing::warn!(action = "vector_index_load", class, path = %path.display(), "cannot read the graph-operation log ({err}); the changes it holds are re-inserted instead");
                    break;
                }
            };
            let mut seen = Vec::new();
            let read = weft_hnsw::oplog::read_ops(&bytes, &mut |r| {
                if let Record::Op(GraphOp::Published { id }) = r {
                    seen.push(id);
                }
                true
            });
            let damage = match read {
                Ok(end) if end.generation != generation => {
                    tracing::warn!(action = "vector_index_load", class, path = %path.display(), "graph-operation log names generation {} in its header; not used, the rest is re-inserted from the vectors bucket", end.generation);
                    break;
                }
                Ok(end) => end.damage,
                Err(err) => {
                    tracing::warn!(action = "vector_index_load", class, path = %path.display(), "graph-operation log not used ({err}); the rest is re-inserted from the vectors bucket");
                    break;
                }
            };
            published.extend(seen);
            accepted.push((generation, path.clone()));
            if let Some((offset, what)) = damage {
                // A torn tail is what a crash during an append leaves; either way, later
                // generations are not applied on top of a gap.
                tracing::warn!(action = "vector_index_load", class, path = %path.display(), offset, "graph-operation log ends in a torn or damaged record ({what}); replay stops there, the rest is re-inserted from the vectors bucket");
                break;
            }
        }
        // Pass 2 (each file read again: one file in memory at a time): apply, leaving out
        // inserts that did not finish within what pass 1 read, and stopping at the mark of
        // the shard's last write: what follows it belongs to writes the shard does not have
        // (a copy of the directory taken while the server wrote, or a write lost with an
        // unsynced WAL), and the graph as of that mark is exactly the shard's.
        let last_lsn = self.shard.last_lsn();
        let mut unfinished = std::collections::HashSet::new();
        let mut at_last = false;
        for (generation, path) in &accepted {
            let Ok(bytes) = weft_io::StdFs.read_all(path) else {
                break;
            };
            let mut skipped = 0u64;
            let read = weft_hnsw::oplog::read_ops(&bytes, &mut |r| {
                let op = match r {
                    Record::Op(op) => op,
                    Record::Applied(lsn) => {
                        out.applied = Some(lsn);
                        at_last = lsn == last_lsn;
                        return !at_last;
                    }
                };
                match &op {
                    // Not finished, or of a write the shard never had (its doc-id counter
                    // is below it).
                    GraphOp::AddNode { id, .. }
                        if !published.contains(id) || u64::from(*id) >= next_doc_id =>
                    {
                        unfinished.insert(*id);
                        return true;
                    }
                    GraphOp::AddNode { .. } => out.added += 1,
                    GraphOp::Tombstone { .. } => out.tombstoned += 1,
                    _ => {}
                }
                if h.apply(&op, &mut vector_of).is_err() {
                    skipped += 1;
                }
                out.ops += 1;
                true
            });
            self.report.log_files += 1;
            tracing::info!(action = "vector_index_load", class, path = %path.display(), ops = out.ops, skipped, unfinished = unfinished.len(), took = ?self.started.elapsed(), "graph-operation log replayed");
            if at_last {
                // What follows the last write's mark belongs to writes the shard does not
                // have, and LSNs after it will be given to new writes: cut it off so that no
                // later open replays it.
                let cut = read.map_or(bytes.len(), |e| e.valid_bytes as usize);
                self.cut_log(name, *generation, path, &bytes, cut);
                break;
            }
        }
        out.read_failed = read_errors > 0;
        if out.read_failed {
            tracing::warn!(
                action = "vector_index_load",
                class,
                errors = read_errors,
                "cannot read some vectors the graph-operation log adds; the index is compared with the vectors bucket"
            );
        }
        // Wherever the replay stopped, the graph keeps a usable entry point.
        if h.repair_entry() {
            tracing::info!(
                action = "vector_index_load",
                class,
                "entry point of the replayed graph re-chosen"
            );
        }
        self.report.log_ops += out.ops;
        self.report.log_added += out.added;
        self.report.log_tombstoned += out.tombstoned;
        out
    }

    /// Replay of log `path` (generation `generation` of `name`, holding `bytes`) stopped at
    /// the mark of the shard's last write, which ends at byte `cut`: the records after it and
    /// the later generations were left unread. If any of that is more than marks of that same LSN (which
    /// every open writes again), it belongs to writes the shard does not have: the file is
    /// truncated after the mark and the later generations are removed.
    fn cut_log(&self, name: &str, generation: u64, path: &Path, bytes: &[u8], cut: usize) {
        let last_lsn = self.shard.last_lsn();
        let later: Vec<PathBuf> = oplog::list(&self.dir, name)
            .unwrap_or_default()
            .into_iter()
            .filter(|(g, _)| *g > generation)
            .map(|(_, p)| p)
            .collect();
        let only_marks = |records: &[u8]| {
            let mut only = true;
            let end = weft_hnsw::oplog::read_ops(records, &mut |r| {
                only = r == Record::Applied(last_lsn);
                only
            });
            only && end.is_ok_and(|e| e.damage.is_none())
        };
        let mut rest_of_file = weft_hnsw::oplog::encode_header(generation).to_vec();
        rest_of_file.extend_from_slice(bytes.get(cut..).unwrap_or_default());
        let ahead = !only_marks(&rest_of_file)
            || later
                .iter()
                .any(|p| weft_io::StdFs.read_all(p).map_or(true, |b| !only_marks(&b)));
        if !ahead {
            return;
        }
        tracing::warn!(action = "vector_index_load", class = self.class, path = %path.display(), offset = cut, later = later.len(), "graph-operation log holds writes after the shard's last one (a copy taken while writing, or a lost WAL tail); cut there, later generations removed");
        let mut failed = weft_io::StdFs.truncate_and_sync(path, cut as u64).err();
        for p in later {
            if let Err(e) = weft_io::StdFs.remove_file(&p) {
                failed.get_or_insert(e);
            }
        }
        if let Err(e) = weft_io::StdFs.sync_dir(&self.dir.join(files::DIR)) {
            failed.get_or_insert(e);
        }
        if let Some(err) = failed {
            tracing::error!(action = "vector_index_load", class = self.class, path = %path.display(), "cannot cut the graph-operation log ({err}); its later records may be replayed by a later open");
        }
    }

    /// Removes the snapshot and the logs of `name` before it is rebuilt: none of them may be
    /// loaded again on top of what the rebuild builds.
    fn discard(&self, name: &str) {
        let mut paths = vec![files::path(&self.dir, name)];
        paths.extend(
            oplog::list(&self.dir, name)
                .unwrap_or_default()
                .into_iter()
                .map(|(_, p)| p),
        );
        for p in paths {
            match weft_io::StdFs.remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(action = "vector_index_load", class = self.class, path = %p.display(), "cannot remove a vector index file before rebuilding the index: {e}");
                }
            }
        }
    }

    /// Tombstones the live nodes whose vector the bucket no longer has.
    fn delete_unseen(&mut self, loaded: &BTreeMap<String, Loaded>, next_doc_id: u64) {
        for (name, l) in loaded {
            let Some(entry) = self.indexes.entry(name) else {
                continue;
            };
            if l.inconsistent {
                continue;
            }
            // Replayed logs may hold nodes at or above the watermark.
            let bound = u32::try_from(l.covered.max(next_doc_id)).unwrap_or(u32::MAX);
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
            self.discard(name);
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
                    && let (Ok(id), Some(entry)) = (index_id(doc_id), indexes.entry(&name))
                {
                    if entry.index.holds(id) && !entry.index.contains(id) {
                        l.inconsistent = true;
                        continue;
                    }
                    // Held, or inserted below: either way not to be deleted afterwards.
                    l.seen.insert(id);
                    if entry.index.contains(id) {
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
