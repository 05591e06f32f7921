//! The background snapshot writer of a collection.
//!
//! Policy ([`SnapshotPolicy`]): every `check_every` the worker looks at each index and
//! snapshots it when the inserts and deletes since its last snapshot reach
//! `clamp(live / fraction_divisor, min_changes, max_changes)`, or when there were any and
//! the last snapshot is older than `max_age`; but never sooner after the last snapshot than
//! `busy_factor` times as long as that snapshot took, so the worker is busy at most
//! 1 / (1 + busy_factor) of the time. Defaults: 1 s, 5 % clamped to 1 000..=10 000, 60 s,
//! factor 2. After a crash, opening inserts about that many vectors (10 000 into a 1M-vector
//! graph: 3–10 s on two cores) plus those written while the last snapshot was being written; under a sustained
//! import into a large index the pacing rule lets the tail grow instead of snapshotting all
//! the time. A full snapshot costs O(index size), so for much larger indexes the graph
//! operation log of storage design §4.11 is the way to keep both bounded.
//!
//! Consistency without pausing writers: the watermark `W` is read first, with no write half
//! applied (every doc id below it had its index changes applied; see
//! `VectorIndexes::advance`), then the snapshot is taken node by node (`Hnsw::write_snapshot`
//! leaves out ids ≥ `W` and links to them), then, before it is published, the WAL is made
//! durable up to the shard's last write (a `flush` if the sync policy has not done it yet).
//! Deletes racing the snapshot may or may not be in it; opening compares with the bucket
//! unless nothing was written since.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};
use weft_lsm::Shard;

use super::{AnnIndex, Compression, IndexEntry, VectorIndexes, files};

/// How many stored vectors the centre of an rq-1 quantizer is averaged over.
const RQ1_SAMPLE: usize = 100_000;

/// When the background worker writes snapshots.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotPolicy {
    /// How often the worker looks.
    pub check_every: Duration,
    /// Changes (inserts + deletes) that always justify a snapshot.
    pub min_changes: u64,
    /// Or this fraction of the live vectors (1/n), if larger …
    pub fraction_divisor: u64,
    /// … but never more than this.
    pub max_changes: u64,
    /// Wait at least this many times the last snapshot's duration before the next one.
    pub busy_factor: u64,
    /// Snapshot any changed index at least this often.
    pub max_age: Duration,
    /// How often buffered graph operations are appended to their logs (`None`: only when a
    /// snapshot rotates them and on close; weft-db's own tests drive the writes themselves).
    pub log_every: Option<Duration>,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy {
            check_every: Duration::from_secs(1),
            min_changes: 1_000,
            fraction_divisor: 20,
            max_changes: 10_000,
            busy_factor: 2,
            max_age: Duration::from_secs(60),
            log_every: (!cfg!(test)).then_some(super::oplog::WRITE_EVERY),
        }
    }
}

impl SnapshotPolicy {
    fn due(&self, entry: &IndexEntry, now_ms: u64) -> bool {
        let changes = entry.changes.load(Ordering::Relaxed);
        if changes == 0 {
            return false;
        }
        let threshold = (entry.index.len() as u64 / self.fraction_divisor.max(1))
            .clamp(self.min_changes, self.max_changes.max(self.min_changes));
        let age = now_ms.saturating_sub(entry.last_snapshot_ms.load(Ordering::Relaxed));
        let took = entry.last_took_ms.load(Ordering::Relaxed);
        if age < took.saturating_mul(self.busy_factor) {
            return false;
        }
        changes >= threshold || u128::from(age) >= self.max_age.as_millis()
    }
}

/// Milliseconds since the first call in this process (monotonic).
pub(crate) fn now_ms() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// What a snapshot needs from its collection.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotTarget {
    pub class: String,
    pub dir: PathBuf,
    pub shard: Arc<RwLock<Arc<Shard>>>,
    pub indexes: Arc<VectorIndexes>,
}

impl SnapshotTarget {
    /// Snapshots every index that `due` selects; returns how many were written.
    pub(crate) fn snapshot_if(&self, due: impl Fn(&IndexEntry) -> bool) -> usize {
        let _one_writer = self.indexes.snapshot_lock.lock();
        let mut written = 0;
        for (name, entry) in self.indexes.entries() {
            if !due(&entry) {
                continue;
            }
            match self.snapshot_one(&name, &entry) {
                Ok(()) => written += 1,
                Err(err) => {
                    let path = files::path(&self.dir, &name);
                    tracing::warn!(action = "vector_index_snapshot", class = %self.class, path = %path.display(), "cannot write the vector index snapshot: {err}");
                }
            }
        }
        written
    }

    /// Compresses every index whose config asks for it and whose vectors are not compressed
    /// yet (rq at once; sq and pq once `trainingLimit` vectors are indexed or a config update
    /// enabled it), then snapshots it, so a restart reads the codes and the trained
    /// parameters instead of retraining. Returns how many were compressed.
    pub(crate) fn compress_due(&self) -> usize {
        let mut done = 0;
        for (name, entry) in self.indexes.entries() {
            let AnnIndex::Hnsw(h) = &entry.index else {
                continue;
            };
            if h.is_compressed() {
                continue;
            }
            let Some(config) = self.indexes.config(&name) else {
                continue;
            };
            let forced = entry.compress_now.load(Ordering::Acquire);
            let quantizer = match Compression::of(&config) {
                // Flat indexes are compressed at creation or never.
                Compression::FlatBq { .. } | Compression::FlatRq { .. } => None,
                Compression::Sq { training_limit, .. } => {
                    let live = h.len() as u64;
                    let ready = live > 0 && (forced || live >= training_limit);
                    ready
                        .then(|| h.train_sq(usize::try_from(training_limit).unwrap_or(usize::MAX)))
                        .flatten()
                }
                Compression::Pq {
                    training_limit,
                    segments,
                    centroids,
                } => {
                    let live = h.len() as u64;
                    let ready = live > 0 && (forced || live >= training_limit);
                    ready
                        .then(|| {
                            let limit = usize::try_from(training_limit).unwrap_or(usize::MAX);
                            match h.train_pq(limit, segments as usize, centroids as usize) {
                                Ok(q) => q,
                                Err(err) => {
                                    tracing::warn!(action = "vector_index_compress", class = %self.class, index = %name, "cannot train pq: {err}");
                                    None
                                }
                            }
                        })
                        .flatten()
                }
                // rq-1 enabled on a populated index: codes centred on its vectors' mean
                // (an index created with rq-1 starts from the origin, as it holds none).
                Compression::Rq { bits: 1, .. } if !h.is_empty() => {
                    h.train_rq1(RQ1_SAMPLE, weft_hnsw::RQ_SEED)
                }
                c => c.untrained(h.config().metric, h.dim()),
            };
            let Some(q) = quantizer else {
                continue;
            };
            let started = Instant::now();
            let kind = q.kind().name();
            tracing::info!(action = "vector_index_compress", class = %self.class, index = %name, kind, vectors = h.len(), "compressing the vector index");
            match h.compress(q) {
                Ok(true) => {
                    entry.compress_now.store(false, Ordering::Release);
                    done += 1;
                    tracing::info!(action = "vector_index_compress", class = %self.class, index = %name, kind, vectors = h.len(), bytes = h.memory_bytes(), took = ?started.elapsed(), "vector index compressed");
                    let _one_writer = self.indexes.snapshot_lock.lock();
                    if let Err(err) = self.snapshot_one(&name, &entry) {
                        tracing::warn!(action = "vector_index_snapshot", class = %self.class, path = %files::path(&self.dir, &name).display(), "cannot write the vector index snapshot: {err}");
                    }
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(action = "vector_index_compress", class = %self.class, index = %name, "cannot compress the vector index: {err}");
                }
            }
        }
        done
    }

    /// Appends every index's buffered graph operations to its log file.
    pub(crate) fn write_logs(&self) -> u64 {
        self.indexes
            .entries()
            .iter()
            .filter_map(|(_, e)| e.log.get())
            .map(|log| log.write_out())
            .sum()
    }

    fn snapshot_one(&self, name: &str, entry: &IndexEntry) -> Result<(), SnapshotFailed> {
        let started = Instant::now();
        // With no write half applied (the gate): every graph change of a write the watermark
        // leaves out is logged in the new generation.
        let (log_generation, (covered, lsn)) = {
            let _quiet = self.indexes.apply_gate.write();
            let generation = entry.log.get().map_or(0, |log| log.rotate());
            (generation, self.indexes.watermark())
        };
        let changes = entry.changes.load(Ordering::Relaxed);
        let shard = Arc::clone(&self.shard.read());
        // The covered writes, and every write that touched the index while it was written
        // (it got its LSN before changing the index), are made durable before the snapshot is
        // published: a crash cannot take away a write the snapshot shows. So a shard whose
        // last LSN is still `lsn` when it next opens had no write since, and the open skips
        // its scan.
        let durable_now = || {
            if shard.durable_lsn() < shard.last_lsn() {
                shard.flush().map_err(|e| {
                    std::io::Error::other(format!("cannot make the covered writes durable: {e}"))
                })?;
            }
            Ok(())
        };
        let mark = weft_hnsw::SnapshotMark {
            covered,
            lsn: if entry.unclean.load(Ordering::Acquire) {
                0
            } else {
                lsn
            },
            log_generation,
        };
        let info = files::write(&self.dir, name, &entry.index, mark, durable_now)
            .map_err(SnapshotFailed::Write)?;
        if let Some(log) = entry.log.get() {
            log.remove_before(log_generation);
        }
        entry.changes.fetch_sub(changes, Ordering::Relaxed);
        entry.last_snapshot_ms.store(now_ms(), Ordering::Relaxed);
        entry.last_took_ms.store(
            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        tracing::info!(action = "vector_index_snapshot", class = %self.class, path = %files::path(&self.dir, name).display(), nodes = info.nodes, covered, bytes = info.bytes, took = ?started.elapsed(), "vector index snapshot written");
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
enum SnapshotFailed {
    #[error("{0}")]
    Write(#[source] std::io::Error),
}

/// The running worker; dropping it stops it (a snapshot in progress completes first).
#[derive(Debug)]
pub(crate) struct Worker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    pub(crate) fn spawn(target: SnapshotTarget, policy: SnapshotPolicy) -> std::io::Result<Self> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name(format!("vidx-snap-{}", target.class))
            .spawn(move || {
                let (lock, cv) = &*flag;
                let tick = policy
                    .log_every
                    .map_or(policy.check_every, |l| l.min(policy.check_every));
                let mut last_check = Instant::now();
                loop {
                    {
                        let mut stopped = lock.lock();
                        if !*stopped {
                            cv.wait_for(&mut stopped, tick);
                        }
                        if *stopped {
                            return;
                        }
                    }
                    if policy.log_every.is_some() {
                        target.write_logs();
                    }
                    if last_check.elapsed() + tick / 2 < policy.check_every {
                        continue;
                    }
                    last_check = Instant::now();
                    target.compress_due();
                    let now = now_ms();
                    target.snapshot_if(|e| policy.due(e, now));
                }
            })?;
        Ok(Worker {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the worker and waits for it.
    pub(crate) fn stop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(h) = self.handle.take()
            && h.join().is_err()
        {
            tracing::error!(
                action = "vector_index_snapshot",
                "the snapshot worker panicked"
            );
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector_index::AnnIndex;

    fn entry(live: u32, changes: u64) -> IndexEntry {
        let f = weft_hnsw::FlatIndex::new(1, weft_hnsw::Metric::L2Squared);
        for i in 0..live {
            f.insert(i, &[i as f32]).unwrap();
        }
        IndexEntry::new(AnnIndex::Flat(f), changes)
    }

    #[test]
    fn policy_thresholds_age_and_pacing() {
        let p = SnapshotPolicy::default();
        let now = now_ms();
        assert!(!p.due(&entry(10, 0), now));
        assert!(!p.due(&entry(10, 999), now));
        assert!(p.due(&entry(10, 1_000), now));
        // 5 % of 100 000 = 5 000.
        assert!(!p.due(&entry(100_000, 4_999), now));
        assert!(p.due(&entry(100_000, 5_000), now));
        // Capped at 10 000.
        assert!(p.due(&entry(300_000, 10_000), now));
        // Old enough: any change. Times are relative to each entry's own creation (building
        // the large entries above can take seconds in a debug build).
        let e = entry(10, 1);
        let born = e.last_snapshot_ms.load(Ordering::Relaxed);
        assert!(!p.due(&e, born + 59_000));
        assert!(p.due(&e, born + 61_000));
        // Pacing: a snapshot that took 10 s blocks the next one for 20 s.
        let e = entry(10, 50_000);
        let born = e.last_snapshot_ms.load(Ordering::Relaxed);
        e.last_took_ms.store(10_000, Ordering::Relaxed);
        assert!(!p.due(&e, born + 19_000));
        assert!(p.due(&e, born + 21_000));
    }
}
