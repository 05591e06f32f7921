//! The shard handle: buckets, writes, reads, close, pins. Flush lives in `flush.rs`,
//! compaction in `compaction.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex, RwLock};
use roaring::RoaringTreemap;
use weft_io::vfs::DirGuard;
use weft_io::{StdFs, Vfs};

use crate::batch::{Strategy, WriteBatch};
use crate::entry::{Entry, Value};
use crate::error::{Error, Result};
use crate::gc::Gc;
use crate::memtable::Memtable;
use crate::merge::MergeIter;
use crate::options::Options;
use crate::recovery::{self, RecoveryReport};
use crate::segment::Segment;
use crate::wal::Wal;

pub(crate) const LSM_DIR: &str = "lsm";
pub(crate) const TMP_DIR: &str = "tmp";
pub(crate) const BUCKET_FILE: &str = "BUCKET";
pub(crate) const BUCKET_MAGIC: [u8; 8] = *b"WEFTBKT\0";

pub(crate) fn segment_name(file_no: u64) -> String {
    format!("{file_no:016x}.seg")
}

pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".seg")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// What readers see of a bucket: the active memtable, frozen memtables waiting for their
/// segment, and the installed segments (both oldest first). Replaced as a whole (copy on
/// write), so readers never wait for flushes or compactions.
#[derive(Debug, Clone, Default)]
pub(crate) struct View {
    pub(crate) active: Arc<Memtable>,
    pub(crate) frozen: Vec<Arc<Memtable>>,
    pub(crate) segments: Vec<Arc<Segment>>,
}

#[derive(Debug)]
pub(crate) struct Bucket {
    pub(crate) name: String,
    pub(crate) strategy: Strategy,
    pub(crate) view: RwLock<Arc<View>>,
}

impl Bucket {
    pub(crate) fn new(name: String, strategy: Strategy, segments: Vec<Arc<Segment>>) -> Self {
        let view = View {
            segments,
            ..View::default()
        };
        Self {
            name,
            strategy,
            view: RwLock::new(Arc::new(view)),
        }
    }

    pub(crate) fn snapshot(&self) -> Arc<View> {
        Arc::clone(&self.view.read())
    }

    pub(crate) fn rel_dir(&self) -> PathBuf {
        Path::new(LSM_DIR).join(&self.name)
    }
}

#[derive(Debug, Default)]
pub(crate) struct FlushState {
    pub(crate) flushed_lsn: u64,
    pub(crate) record: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub(crate) struct Signal {
    pub(crate) stop: bool,
    pub(crate) flush_wanted: bool,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) vfs: Arc<dyn Vfs>,
    pub(crate) dir: PathBuf,
    pub(crate) opts: Options,
    pub(crate) wal: Wal,
    pub(crate) buckets: RwLock<BTreeMap<String, Arc<Bucket>>>,
    pub(crate) flush: Mutex<FlushState>,
    pub(crate) compaction: Mutex<()>,
    pub(crate) next_file_no: AtomicU64,
    pub(crate) gc: Gc,
    pub(crate) mem_bytes: AtomicU64,
    pub(crate) dirty_since: Mutex<Option<Instant>>,
    pub(crate) closed: AtomicBool,
    pub(crate) report: RecoveryReport,
    pub(crate) signal: Mutex<Signal>,
    pub(crate) wake: Condvar,
    #[cfg(test)]
    pub(crate) test_hook: Mutex<Option<HookSlot>>,
    _lock: Box<dyn DirGuard>,
}

/// Called by a flush before it switches the WAL (tests of races with the flush).
#[cfg(test)]
pub(crate) type TestHook = Box<dyn FnMut(&Inner) + Send>;

#[cfg(test)]
pub(crate) struct HookSlot(TestHook);

#[cfg(test)]
impl std::fmt::Debug for HookSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookSlot")
    }
}

#[cfg(test)]
impl Inner {
    pub(crate) fn run_test_hook(&self) {
        let hook = self.test_hook.lock().take();
        if let Some(HookSlot(mut hook)) = hook {
            hook(self);
        }
    }
}

/// A shard: one WAL, many buckets. See the crate docs for an example.
#[derive(Debug)]
pub struct Shard {
    inner: Arc<Inner>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// A pin on a set of files: none of them is deleted while the pin lives. Paths are relative to
/// the shard directory. Dropping the pin releases it.
#[derive(Debug)]
pub struct Pin {
    inner: Arc<Inner>,
    id: u64,
    files: Vec<PathBuf>,
    lsn: u64,
    wal_tail: Option<(PathBuf, u64)>,
}

impl Pin {
    /// The pinned files, relative to the shard directory: everything needed to recover the
    /// shard up to [`Pin::lsn`].
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The last LSN durable when the pin was taken: the pinned files recover exactly the
    /// writes up to it (with the WAL tail cut at [`Pin::wal_tail`]).
    pub fn lsn(&self) -> u64 {
        self.lsn
    }

    /// The active WAL file (relative path) and the length of it that belongs to the pin: it
    /// keeps growing after the pin, so a copy takes only this prefix. Every other pinned file
    /// is immutable and can be hard-linked.
    pub fn wal_tail(&self) -> Option<(&Path, u64)> {
        self.wal_tail.as_ref().map(|(p, n)| (p.as_path(), *n))
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        self.inner.gc.unpin(self.id);
    }
}

/// Creates a bucket's directory (fsynced into `lsm/`) and publishes its `BUCKET` file.
pub(crate) fn write_bucket_marker(
    vfs: &dyn Vfs,
    dir: &Path,
    name: &str,
    strategy: Strategy,
) -> Result<()> {
    let bdir = dir.join(LSM_DIR).join(name);
    weft_io::create_dir_durable(vfs, &bdir).map_err(Error::io("create directory", &bdir))?;
    let mut payload = strategy.code().to_le_bytes().to_vec();
    payload.extend_from_slice(name.as_bytes());
    let bytes = weft_io::envelope::seal(BUCKET_MAGIC, 1, &payload);
    publish(
        vfs,
        dir,
        &format!("{name}.bucket"),
        &bdir.join(BUCKET_FILE),
        &bytes,
    )
}

/// Durably publishes `bytes` at `final_path` via a temp file in the shard's `tmp/`.
pub(crate) fn publish(
    vfs: &dyn Vfs,
    dir: &Path,
    tmp_name: &str,
    final_path: &Path,
    bytes: &[u8],
) -> Result<()> {
    let tmp = dir.join(TMP_DIR).join(tmp_name);
    let mut f = vfs.create(&tmp).map_err(Error::io("create", &tmp))?;
    f.write_all(bytes).map_err(Error::io("write", &tmp))?;
    f.sync_data().map_err(Error::io("fsync", &tmp))?;
    drop(f);
    vfs.rename(&tmp, final_path)
        .map_err(Error::io("rename", final_path))?;
    let parent = final_path.parent().unwrap_or(dir);
    vfs.sync_dir(parent)
        .map_err(Error::io("fsync directory", parent))
}

pub(crate) fn valid_bucket_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

impl Shard {
    /// Opens (creating if needed) the shard in `dir` on the real file system, recovering from
    /// whatever a crash, power loss or copy left there.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Shard> {
        Self::open_with_vfs(Arc::new(StdFs), dir, opts)
    }

    /// Opens the shard through a given [`Vfs`] (tests use a crash-simulating one).
    pub fn open_with_vfs(vfs: Arc<dyn Vfs>, dir: impl AsRef<Path>, opts: Options) -> Result<Shard> {
        let dir = dir.as_ref().to_path_buf();
        weft_io::create_dir_durable(vfs.as_ref(), &dir)
            .map_err(Error::io("create directory", &dir))?;
        let lock = vfs
            .lock_dir(&dir)
            .map_err(Error::io("lock shard directory", &dir))?;
        let rec = recovery::recover(Arc::clone(&vfs), &dir, &opts)?;
        let inner = Arc::new(Inner {
            vfs,
            dir,
            wal: rec.wal,
            buckets: RwLock::new(rec.buckets),
            flush: Mutex::new(rec.flush),
            compaction: Mutex::new(()),
            next_file_no: AtomicU64::new(rec.next_file_no),
            gc: rec.gc,
            mem_bytes: AtomicU64::new(rec.report.bytes_replayed),
            dirty_since: Mutex::new((rec.report.records_replayed > 0).then(Instant::now)),
            closed: AtomicBool::new(false),
            report: rec.report,
            signal: Mutex::new(Signal::default()),
            wake: Condvar::new(),
            #[cfg(test)]
            test_hook: Mutex::new(None),
            _lock: lock,
            opts,
        });
        let shard = Shard {
            inner,
            workers: Mutex::new(Vec::new()),
        };
        if shard.inner.opts.background {
            shard.spawn_workers();
        }
        Ok(shard)
    }

    fn spawn_workers(&self) {
        let mut workers = self.workers.lock();
        let inner = Arc::clone(&self.inner);
        workers.push(std::thread::spawn(move || inner.flush_loop()));
        let inner = Arc::clone(&self.inner);
        workers.push(std::thread::spawn(move || inner.compaction_loop()));
    }

    fn stop_workers(&self) {
        self.inner.signal.lock().stop = true;
        self.inner.wake.notify_all();
        for w in self.workers.lock().drain(..) {
            let _ = w.join();
        }
    }

    /// What recovery found and did when the shard was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.report
    }

    /// The shard directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Declares a bucket (idempotent). Fails if it exists with another strategy.
    pub fn declare_bucket(&self, name: &str, strategy: Strategy) -> Result<()> {
        self.inner.declare_bucket(name, strategy)
    }

    /// Declared buckets and their strategies.
    pub fn buckets(&self) -> Vec<(String, Strategy)> {
        self.inner
            .buckets
            .read()
            .values()
            .map(|b| (b.name.clone(), b.strategy))
            .collect()
    }

    /// Applies `batch` atomically and returns its LSN once it is durable per the sync policy.
    pub fn write(&self, batch: &WriteBatch) -> Result<u64> {
        self.inner.write(batch)
    }

    /// The LSN of the last write applied (durable or not).
    pub fn last_lsn(&self) -> u64 {
        self.inner.wal.lock_append().next_lsn - 1
    }

    /// The highest LSN known durable (`fdatasync`ed). A derived index (HNSW) can persist this
    /// as its watermark and replay from it.
    pub fn durable_lsn(&self) -> u64 {
        self.inner.wal.durable_lsn()
    }

    /// Per bucket: its name, strategy, number of live segments and their bytes.
    pub fn segment_stats(&self) -> Vec<(String, Strategy, usize, u64)> {
        self.inner
            .buckets
            .read()
            .values()
            .map(|b| {
                let v = b.snapshot();
                let bytes = v.segments.iter().map(|s| s.size).sum();
                (b.name.clone(), b.strategy, v.segments.len(), bytes)
            })
            .collect()
    }

    /// The WAL's counters since open (fsyncs and their latency, bytes written).
    pub fn wal_stats(&self) -> crate::wal::WalStats {
        self.inner.wal.counters.read()
    }

    /// Whether an I/O failure poisoned the shard (writes are refused until it is reopened).
    pub fn is_poisoned(&self) -> bool {
        self.inner.wal.is_poisoned()
    }

    /// Makes a poisoned shard safe to reopen in this process: after a failed write or fsync
    /// of the WAL, the file is cut back to what a successful fsync covered (the page cache may
    /// serve bytes that never reach the disk). Call it before dropping a poisoned shard to open
    /// it again; while it fails, do not reopen. A no-op for a healthy shard.
    pub fn repair(&self) -> Result<()> {
        self.inner.wal.repair()
    }

    /// The LSN up to which all buckets are in segments.
    pub fn flushed_lsn(&self) -> u64 {
        self.inner.flush.lock().flushed_lsn
    }

    /// Replace bucket: the value of `key`.
    pub fn get(&self, bucket: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (_, view) = self.inner.view(bucket, Strategy::Replace)?;
        match lookup(&view, key)? {
            Some(Entry::Value { value, .. }) => Ok(Some(value.into())),
            _ => Ok(None),
        }
    }

    /// Replace bucket: the values of `keys`, in order, read through one view (one consistent
    /// state of the bucket, and one view's cost instead of one per key).
    pub fn get_many(&self, bucket: &str, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>> {
        let (_, view) = self.inner.view(bucket, Strategy::Replace)?;
        keys.iter()
            .map(|key| {
                Ok(match lookup(&view, key)? {
                    Some(Entry::Value { value, .. }) => Some(value.into()),
                    _ => None,
                })
            })
            .collect()
    }

    /// Replace bucket: the (primary key, value) whose secondary key number `pos` is `skey`.
    pub fn get_by_secondary(
        &self,
        bucket: &str,
        pos: usize,
        skey: &[u8],
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let (_, view) = self.inner.view(bucket, Strategy::Replace)?;
        let mut candidates = Vec::new();
        candidates.push(view.active.secondary(pos, skey));
        candidates.extend(view.frozen.iter().rev().map(|m| m.secondary(pos, skey)));
        for seg in view.segments.iter().rev() {
            candidates.push(seg.secondary(pos, skey)?);
        }
        let mut seen = BTreeSet::new();
        for pkey in candidates.into_iter().flatten() {
            if !seen.insert(pkey.clone()) {
                continue;
            }
            if let Some(Entry::Value { value, secondary }) = lookup(&view, &pkey)?
                && secondary.get(pos).is_some_and(|s| s == skey)
            {
                return Ok(Some((pkey, value.into())));
            }
        }
        Ok(None)
    }

    /// Set bucket: the members of the set at `key`, sorted.
    pub fn set_get(&self, bucket: &str, key: &[u8]) -> Result<Vec<Vec<u8>>> {
        let (_, view) = self.inner.view(bucket, Strategy::Set)?;
        match lookup(&view, key)?.and_then(|e| e.resolve(true)) {
            Some(Value::Set(s)) => Ok(s),
            _ => Ok(Vec::new()),
        }
    }

    /// Map bucket: the map at `key`.
    pub fn map_get(&self, bucket: &str, key: &[u8]) -> Result<BTreeMap<Vec<u8>, Vec<u8>>> {
        let (_, view) = self.inner.view(bucket, Strategy::Map)?;
        match lookup(&view, key)?.and_then(|e| e.resolve(false)) {
            Some(Value::Map(m)) => Ok(m),
            _ => Ok(BTreeMap::new()),
        }
    }

    /// Map bucket: calls `f` with every member of the map at `key`, in member order, merging
    /// the layers as it reads them instead of building the map (segment entries are read in
    /// place, no per-member allocation). Same members as [`Shard::map_get`].
    pub fn map_for_each(
        &self,
        bucket: &str,
        key: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<()> {
        let (_, view) = self.inner.view(bucket, Strategy::Map)?;
        let mut mems = Vec::new();
        let mut hidden = false;
        for m in std::iter::once(&view.active).chain(view.frozen.iter().rev()) {
            if let Some(e) = m.get(key) {
                hidden = e.is_final();
                mems.push(e);
                if hidden {
                    break;
                }
            }
        }
        let mut raws = Vec::new();
        if !hidden {
            for seg in view.segments.iter().rev() {
                if let Some(raw) = seg.get_raw(key)? {
                    let tombstone = raw.first() == Some(&2);
                    raws.push((seg, raw));
                    if tombstone {
                        break;
                    }
                }
            }
        }
        // Layers newest first, each sorted by member.
        let mut layers: Vec<crate::entry::DeltaItems<'_>> = Vec::new();
        for e in &mems {
            match e {
                Entry::Delta(m) => {
                    layers.push(m.iter().map(|(k, v)| (&k[..], v.as_deref())).collect())
                }
                _ => layers.push(Vec::new()),
            }
        }
        for (seg, raw) in &raws {
            match crate::entry::delta_items(raw) {
                Ok(Some(items)) => layers.push(items),
                Ok(None) => layers.push(Vec::new()),
                Err(d) => return Err(seg.entry_error(d.reason)),
            }
        }
        if let [only] = layers.as_slice() {
            for (k, v) in only {
                if let Some(v) = v {
                    f(k, v);
                }
            }
            return Ok(());
        }
        let mut pos = vec![0usize; layers.len()];
        loop {
            // The smallest head; the newest layer holding it decides.
            let mut best: Option<(&[u8], Option<&[u8]>)> = None;
            for (l, items) in layers.iter().enumerate() {
                if let Some(&(k, v)) = items.get(pos[l])
                    && best.is_none_or(|(b, _)| k < b)
                {
                    best = Some((k, v));
                }
            }
            let Some((k, v)) = best else { break };
            for (l, items) in layers.iter().enumerate() {
                if items.get(pos[l]).is_some_and(|(x, _)| *x == k) {
                    pos[l] += 1;
                }
            }
            if let Some(v) = v {
                f(k, v);
            }
        }
        Ok(())
    }

    /// Roaring-set bucket: the bitmap at `key` (layers merged on read).
    pub fn roaring_get(&self, bucket: &str, key: &[u8]) -> Result<RoaringTreemap> {
        let (_, view) = self.inner.view(bucket, Strategy::RoaringSet)?;
        match lookup(&view, key)?.and_then(|e| e.resolve(false)) {
            Some(Value::Bitmap(b)) => Ok(b),
            _ => Ok(RoaringTreemap::new()),
        }
    }

    /// Keys in `(lo, hi)` with their resolved values, in key order, at most `limit`.
    pub fn scan(
        &self,
        bucket: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Value)>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.range(bucket, lo, hi)?.take(limit).collect()
    }

    /// Streams the keys in `(lo, hi)` with their resolved values, in key order, from one
    /// consistent snapshot of the bucket taken now: segments are read block by block as the
    /// iterator advances (nothing is collected), later writes are not seen, and the files it
    /// reads stay on disk until it is dropped.
    pub fn range(
        &self,
        bucket: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
    ) -> Result<impl Iterator<Item = Result<(Vec<u8>, Value)>> + Send + use<>> {
        let b = self.inner.bucket(bucket)?;
        let view = b.snapshot();
        let is_set = b.strategy == Strategy::Set;
        let merge = if crate::range_is_empty(lo, hi) {
            None
        } else {
            Some(MergeIter::over_view(&view, lo, hi))
        };
        // Each segment source holds its segment's `Arc`, which keeps the file from deletion.
        Ok(merge
            .into_iter()
            .flatten()
            .filter_map(move |item| match item {
                Err(e) => Some(Err(e)),
                Ok((key, entries)) => entries
                    .into_iter()
                    .reduce(Entry::merge)
                    .and_then(|e| e.resolve(is_set))
                    .map(|v| Ok((key, v))),
            }))
    }

    /// Keys starting with `prefix`, at most `limit`.
    pub fn prefix_scan(
        &self,
        bucket: &str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Value)>> {
        let upper = prefix_upper_bound(prefix);
        let hi = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        self.scan(bucket, Bound::Included(prefix), hi, limit)
    }

    /// Flushes every non-empty memtable to a segment (shard-wide, at one LSN).
    pub fn flush(&self) -> Result<()> {
        self.inner.check_open()?;
        self.inner.flush_now()
    }

    /// Compacts every bucket down to one segment. Background compaction does smaller steps.
    pub fn compact(&self) -> Result<()> {
        self.inner.check_open()?;
        let buckets: Vec<_> = self.inner.buckets.read().values().cloned().collect();
        for b in buckets {
            self.inner.compact_bucket(&b, true)?;
        }
        Ok(())
    }

    /// Deletes obsolete files whose grace period passed and that no reader or pin holds;
    /// returns their paths (relative). The background thread does this periodically.
    pub fn collect_garbage(&self) -> Vec<PathBuf> {
        self.inner.gc.collect(
            self.inner.vfs.as_ref(),
            &self.inner.dir,
            self.inner.opts.file_deletion_grace,
        )
    }

    /// Obsolete files waiting for deletion (relative paths).
    pub fn pending_deletions(&self) -> Vec<PathBuf> {
        self.inner.gc.pending()
    }

    /// Pins the live file set: WAL files, segments, the newest flush record and the bucket
    /// files. Copying exactly these files (the WAL ones last) gives a recoverable shard with
    /// every write durable before the pin. Backups hard-link them.
    pub fn pin(&self) -> Result<Pin> {
        self.inner.check_open()?;
        let mut files = BTreeSet::new();
        // Hold the flush lock so no flush installs or retires files while we list them (and
        // no WAL switch happens between the cut and the listing).
        let fs = self.inner.flush.lock();
        let (lsn, wal_files, tail_len) = self.inner.wal.cut()?;
        let wal_tail = wal_files.last().map(|p| (p.clone(), tail_len));
        if let Some(rec) = &fs.record {
            files.insert(rec.clone());
        }
        for b in self.inner.buckets.read().values() {
            files.insert(b.rel_dir().join(BUCKET_FILE));
            for s in &b.snapshot().segments {
                files.insert(s.rel.clone());
            }
        }
        files.extend(wal_files);
        let id = self.inner.gc.pin(files.clone());
        drop(fs);
        Ok(Pin {
            inner: Arc::clone(&self.inner),
            id,
            files: files.into_iter().collect(),
            lsn,
            wal_tail,
        })
    }

    /// Orderly close: stops background work, flushes memtables, syncs. The next open replays
    /// nothing.
    pub fn close(self) -> Result<()> {
        self.stop_workers();
        self.inner.check_open()?;
        self.inner.flush_now()?;
        self.inner.wal.sync_now()?;
        self.inner.closed.store(true, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
impl Shard {
    pub(crate) fn set_test_hook(&self, hook: TestHook) {
        *self.inner.test_hook.lock() = Some(HookSlot(hook));
    }
}

#[cfg(test)]
mod tests;

impl Drop for Shard {
    fn drop(&mut self) {
        self.stop_workers();
        if !self.inner.closed.swap(true, Ordering::AcqRel) {
            // Not an orderly close: make what was written durable; the next open replays it.
            let _ = self.inner.wal.sync_now();
        }
    }
}

fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut up = prefix.to_vec();
    while let Some(last) = up.pop() {
        if last < 0xff {
            up.push(last + 1);
            return Some(up);
        }
    }
    None
}

/// The merged entry of `key` across the layers of a view (newest layers first, stopping at a
/// replace value or tombstone).
fn lookup(view: &View, key: &[u8]) -> Result<Option<Entry>> {
    let mut stack = Vec::new();
    let mems = std::iter::once(&view.active).chain(view.frozen.iter().rev());
    for m in mems {
        if let Some(e) = m.get(key) {
            let fin = e.is_final();
            stack.push(e);
            if fin {
                return Ok(stack.into_iter().rev().reduce(Entry::merge));
            }
        }
    }
    for s in view.segments.iter().rev() {
        if let Some(e) = s.get(key)? {
            let fin = e.is_final();
            stack.push(e);
            if fin {
                break;
            }
        }
    }
    Ok(stack.into_iter().rev().reduce(Entry::merge))
}

impl Inner {
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn bucket(&self, name: &str) -> Result<Arc<Bucket>> {
        self.buckets
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownBucket(name.to_string()))
    }

    fn view(&self, name: &str, strategy: Strategy) -> Result<(Arc<Bucket>, Arc<View>)> {
        let b = self.bucket(name)?;
        if b.strategy != strategy {
            return Err(Error::StrategyMismatch {
                bucket: name.to_string(),
                expected: strategy,
                actual: b.strategy,
            });
        }
        let v = b.snapshot();
        Ok((b, v))
    }

    fn declare_bucket(&self, name: &str, strategy: Strategy) -> Result<()> {
        if !valid_bucket_name(name) {
            return Err(Error::InvalidBucketName(name.to_string()));
        }
        let mut buckets = self.buckets.write();
        if let Some(b) = buckets.get(name) {
            if b.strategy != strategy {
                return Err(Error::StrategyMismatch {
                    bucket: name.to_string(),
                    expected: strategy,
                    actual: b.strategy,
                });
            }
            return Ok(());
        }
        self.wal.check_poison()?;
        write_bucket_marker(self.vfs.as_ref(), &self.dir, name, strategy)?;
        buckets.insert(
            name.to_string(),
            Arc::new(Bucket::new(name.to_string(), strategy, Vec::new())),
        );
        Ok(())
    }

    fn write(&self, batch: &WriteBatch) -> Result<u64> {
        self.check_open()?;
        self.wal.check_poison()?;
        if batch.is_empty() {
            return Err(Error::EmptyBatch);
        }
        let targets = {
            let buckets = self.buckets.read();
            let mut targets = Vec::with_capacity(batch.ops.len());
            for op in &batch.ops {
                let b = buckets
                    .get(&op.bucket)
                    .ok_or_else(|| Error::UnknownBucket(op.bucket.clone()))?;
                let need = op.kind.strategy();
                if b.strategy != need {
                    return Err(Error::StrategyMismatch {
                        bucket: op.bucket.clone(),
                        expected: need,
                        actual: b.strategy,
                    });
                }
                targets.push(Arc::clone(b));
            }
            targets
        };
        let mut payload = Vec::with_capacity(64);
        batch.encode(&mut payload);
        if payload.len() > self.opts.max_record_bytes {
            return Err(Error::TooLarge {
                size: payload.len(),
                max: self.opts.max_record_bytes,
            });
        }
        let lsn = {
            let mut a = self.wal.lock_append();
            self.wal.check_poison()?;
            let lsn = a.append(&payload);
            for (op, b) in batch.ops.iter().zip(&targets) {
                b.view.read().active.apply(&op.key, &op.kind);
            }
            lsn
        };
        {
            let mut d = self.dirty_since.lock();
            if d.is_none() {
                *d = Some(Instant::now());
            }
        }
        let total = self
            .mem_bytes
            .fetch_add(payload.len() as u64, Ordering::Relaxed)
            + payload.len() as u64;
        self.wal.commit(lsn)?;
        if total >= self.opts.memtable_max_bytes && self.opts.background {
            self.signal.lock().flush_wanted = true;
            self.wake.notify_all();
        }
        Ok(lsn)
    }
}
