//! The shard write-ahead log: one append-only file at a time, group commit, sync policies,
//! poisoning on I/O failure. Byte layout: `docs/format/wal.md`.
//!
//! Writers append their encoded record to a shared buffer while holding the append lock (which
//! also assigns the LSN and applies the batch to the memtables, so memtable order is LSN
//! order). Then each writer calls [`Wal::commit`]: the first to get the sync lock writes the
//! whole buffer with one `write` and one `fdatasync` and thereby acknowledges every record in
//! it; the others find their LSN already durable. Throughput therefore grows with concurrency
//! with no artificial delay.
//!
//! Files rotate only at a flush switch ([`Wal::switch`]): the old file is written and synced
//! before the new one exists, so a torn record can only ever be at the end of the newest file.

pub(crate) mod format;
pub(crate) mod reader;

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex, MutexGuard};
use weft_io::{Vfs, WriteFile};

use self::format::{FileHeader, encode_record};
use crate::error::{Error, Result};
use crate::options::SyncPolicy;

pub(crate) fn file_name(first_lsn: u64) -> String {
    format!("{first_lsn:016x}.wal")
}

pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".wal")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

pub(crate) fn random_u32() -> u32 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() as u32
}

/// Upper bounds (seconds) of the fsync latency histogram.
pub const FSYNC_BUCKETS: [f64; 12] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Counters of a WAL since the shard was opened (lock-free; read by metrics scrapes).
#[derive(Debug, Default)]
pub(crate) struct WalCounters {
    fsyncs: AtomicU64,
    fsync_nanos: AtomicU64,
    /// One per bound of [`FSYNC_BUCKETS`], plus the overflow.
    buckets: [AtomicU64; 13],
    bytes: AtomicU64,
}

/// A reading of a WAL's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WalStats {
    /// fsyncs of WAL files.
    pub fsyncs: u64,
    /// Their total duration, seconds.
    pub fsync_seconds: f64,
    /// fsyncs per [`FSYNC_BUCKETS`] bound (not cumulative), the last one above them all.
    pub fsync_buckets: Vec<u64>,
    /// Bytes written to WAL files.
    pub bytes: u64,
}

impl WalCounters {
    fn fsync(&self, took: std::time::Duration) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.fsync_nanos.fetch_add(nanos, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        let i = FSYNC_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(FSYNC_BUCKETS.len());
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn read(&self) -> WalStats {
        WalStats {
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            fsync_seconds: self.fsync_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            fsync_buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// State guarded by the append lock.
#[derive(Debug)]
pub(crate) struct AppendState {
    pub(crate) next_lsn: u64,
    buf: Vec<u8>,
    salt: u32,
}

impl AppendState {
    /// Frames `payload` as the next record and returns its LSN.
    pub(crate) fn append(&mut self, payload: &[u8]) -> u64 {
        let lsn = self.next_lsn;
        encode_record(&mut self.buf, self.salt, lsn, payload);
        self.next_lsn += 1;
        lsn
    }
}

#[derive(Debug)]
struct SyncState {
    file: Box<dyn WriteFile>,
    path: PathBuf,
    first_lsn: u64,
    spare: Vec<u8>,
    /// Bytes of the active file handed to `write` successfully.
    written_len: u64,
    /// Bytes of the active file known durable (the last successful `fdatasync`).
    synced_len: u64,
    /// Set when a write or fsync of the active file failed and the file still holds bytes past
    /// `synced_len` that may never reach the disk (see [`Wal::repair`]).
    needs_repair: bool,
}

/// A live WAL file: its first LSN and path (relative to the shard directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WalFile {
    pub(crate) first_lsn: u64,
    pub(crate) rel: PathBuf,
}

#[derive(Debug)]
pub(crate) struct Wal {
    vfs: Arc<dyn Vfs>,
    shard_dir: PathBuf,
    policy: SyncPolicy,
    append: Mutex<AppendState>,
    sync: Mutex<SyncState>,
    durable_lsn: AtomicU64,
    written_lsn: AtomicU64,
    poisoned: AtomicBool,
    /// Whether a group-commit leader is writing; waiters sleep on `led`.
    leader: Mutex<bool>,
    led: Condvar,
    poison_cause: Mutex<Option<Arc<Error>>>,
    files: Mutex<Vec<WalFile>>,
    pub(crate) counters: WalCounters,
}

pub(crate) const WAL_DIR: &str = "wal";

impl Wal {
    /// Takes over an open active file (positioned at its end, `active_len` bytes, all durable)
    /// after recovery.
    #[expect(
        clippy::too_many_arguments,
        reason = "the recovered state, taken over whole"
    )]
    pub(crate) fn new(
        vfs: Arc<dyn Vfs>,
        shard_dir: &Path,
        policy: SyncPolicy,
        active: Box<dyn WriteFile>,
        active_len: u64,
        salt: u32,
        next_lsn: u64,
        files: Vec<WalFile>,
    ) -> Self {
        let path = files
            .last()
            .map_or_else(PathBuf::new, |f| shard_dir.join(&f.rel));
        let first_lsn = files.last().map_or(next_lsn, |f| f.first_lsn);
        Self {
            vfs,
            shard_dir: shard_dir.to_path_buf(),
            policy,
            append: Mutex::new(AppendState {
                next_lsn,
                buf: Vec::new(),
                salt,
            }),
            sync: Mutex::new(SyncState {
                file: active,
                path,
                first_lsn,
                spare: Vec::new(),
                written_len: active_len,
                synced_len: active_len,
                needs_repair: false,
            }),
            durable_lsn: AtomicU64::new(next_lsn - 1),
            written_lsn: AtomicU64::new(next_lsn - 1),
            poisoned: AtomicBool::new(false),
            leader: Mutex::new(false),
            led: Condvar::new(),
            poison_cause: Mutex::new(None),
            files: Mutex::new(files),
            counters: WalCounters::default(),
        }
    }

    /// Creates a new WAL file durably (header written and synced, directory synced).
    pub(crate) fn create_file(
        vfs: &dyn Vfs,
        shard_dir: &Path,
        first_lsn: u64,
        salt: u32,
    ) -> Result<(Box<dyn WriteFile>, WalFile)> {
        let dir = shard_dir.join(WAL_DIR);
        let rel = Path::new(WAL_DIR).join(file_name(first_lsn));
        let path = shard_dir.join(&rel);
        let mut file = vfs.create(&path).map_err(Error::io("create WAL", &path))?;
        file.write_all(&FileHeader { salt, first_lsn }.encode())
            .map_err(Error::io("write WAL header", &path))?;
        file.sync_data().map_err(Error::io("fsync WAL", &path))?;
        vfs.sync_dir(&dir)
            .map_err(Error::io("fsync directory", &dir))?;
        Ok((file, WalFile { first_lsn, rel }))
    }

    pub(crate) fn lock_append(&self) -> MutexGuard<'_, AppendState> {
        self.append.lock()
    }

    pub(crate) fn check_poison(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            let cause = self
                .poison_cause
                .lock()
                .clone()
                .unwrap_or_else(|| Arc::new(Error::Closed));
            return Err(Error::Poisoned { cause });
        }
        Ok(())
    }

    /// Records the first failure and refuses every later write. Returns an error to hand back.
    pub(crate) fn poison(&self, err: Error) -> Error {
        let cause = {
            let mut slot = self.poison_cause.lock();
            let cause = slot.get_or_insert_with(|| Arc::new(err));
            Arc::clone(cause)
        };
        self.poisoned.store(true, Ordering::Release);
        Error::Poisoned { cause }
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    pub(crate) fn durable_lsn(&self) -> u64 {
        self.durable_lsn.load(Ordering::Acquire)
    }

    /// Returns once record `lsn` is durable per the sync policy.
    ///
    /// Group commit: one writer at a time is the leader and writes + syncs everything buffered;
    /// the others sleep on a condition variable and are all woken when it is done, most of them
    /// finding their record already durable.
    pub(crate) fn commit(&self, lsn: u64) -> Result<()> {
        let fsync = matches!(self.policy, SyncPolicy::Sync);
        let done = |w: &Self| {
            if fsync {
                w.durable_lsn() >= lsn
            } else {
                w.written_lsn.load(Ordering::Acquire) >= lsn
            }
        };
        loop {
            if done(self) {
                return self.check_poison();
            }
            {
                let mut leader = self.leader.lock();
                if done(self) {
                    return self.check_poison();
                }
                self.check_poison()?;
                if *leader {
                    self.led.wait(&mut leader);
                    continue;
                }
                *leader = true;
            }
            let res = {
                let mut s = self.sync.lock();
                self.write_out(&mut s, fsync)
            };
            *self.leader.lock() = false;
            self.led.notify_all();
            res?;
        }
    }

    /// Writes everything buffered; with `fsync` also syncs. Caller holds the sync lock.
    fn write_out(&self, s: &mut SyncState, fsync: bool) -> Result<()> {
        // Poison is set under the sync lock we hold: a leader that waited for the lock while
        // a failed fsync cut the file back must not write after the cut (its records would land
        // behind a hole, or behind an LSN gap, and the WAL would never open again).
        self.check_poison()?;
        let mut buf = std::mem::take(&mut s.spare);
        let last = {
            let mut a = self.append.lock();
            std::mem::swap(&mut buf, &mut a.buf);
            a.next_lsn - 1
        };
        if !buf.is_empty() {
            if let Err(e) = s.file.write_all(&buf) {
                self.keep_written(s);
                return Err(self.fail_active(s, Error::io("append WAL", &s.path)(e)));
            }
            s.written_len += buf.len() as u64;
            self.counters
                .bytes
                .fetch_add(buf.len() as u64, Ordering::Relaxed);
            self.written_lsn.store(last, Ordering::Release);
        }
        buf.clear();
        s.spare = buf;
        if fsync && self.durable_lsn() < last {
            let started = std::time::Instant::now();
            let synced = s.file.sync_data();
            self.counters.fsync(started.elapsed());
            if let Err(e) = synced {
                return Err(self.fail_active(s, Error::io("fsync WAL", &s.path)(e)));
            }
            s.synced_len = s.written_len;
            self.durable_lsn.store(last, Ordering::Release);
        }
        Ok(())
    }

    /// A write failed (not an fsync): under the `interval` and `none` policies the records
    /// written before it are acknowledged without an fsync. Try to make them durable now, so
    /// the repair cuts only the failed write's partial bytes, not acknowledged records.
    fn keep_written(&self, s: &mut SyncState) {
        if s.written_len > s.synced_len && s.file.sync_data().is_ok() {
            s.synced_len = s.written_len;
        }
    }

    /// A write or fsync of the active file failed: poison the WAL and try to cut the file back
    /// to what is known durable at once (see [`Wal::repair`]).
    fn fail_active(&self, s: &mut SyncState, err: Error) -> Error {
        s.needs_repair = true;
        let err = self.poison(err);
        let _ = self.repair_locked(s);
        err
    }

    /// After a failed write or fsync, makes the WAL safe to recover from in this process.
    ///
    /// Linux marks the pages of a failed `fdatasync` clean: the page cache keeps serving bytes
    /// that will never reach the disk, and a later fsync succeeds without writing them. A
    /// recovery that read them back (an in-process reopen) would replay records that were never
    /// acknowledged and append acknowledged ones after them; after a power loss the hole in the
    /// middle makes the whole WAL unreadable. So the active file is truncated (and the
    /// truncation synced) to the last length a successful fsync covered, and a WAL file that a
    /// failed switch left behind is removed. Returns `Ok` once nothing past a durable offset is
    /// left; until then the shard must not be reopened in this process.
    pub(crate) fn repair(&self) -> Result<()> {
        let mut s = self.sync.lock();
        self.repair_locked(&mut s)
    }

    fn repair_locked(&self, s: &mut SyncState) -> Result<()> {
        if !s.needs_repair {
            return Ok(());
        }
        // A failed write may have left part of its bytes behind: always cut.
        self.vfs
            .truncate_and_sync(&s.path, s.synced_len)
            .map_err(Error::io("truncate WAL", &s.path))?;
        s.written_len = s.synced_len;
        let wdir = self.shard_dir.join(WAL_DIR);
        let names = self
            .vfs
            .list_dir(&wdir)
            .map_err(Error::io("list directory", &wdir))?;
        let newer = names
            .iter()
            .filter(|n| parse_file_name(n).is_some_and(|l| l > s.first_lsn));
        for name in newer {
            let p = wdir.join(name);
            self.vfs
                .remove_file(&p)
                .map_err(Error::io("remove unfinished WAL", &p))?;
        }
        self.vfs
            .sync_dir(&wdir)
            .map_err(Error::io("fsync directory", &wdir))?;
        s.needs_repair = false;
        Ok(())
    }

    /// Writes and syncs everything appended so far (interval policy, close).
    pub(crate) fn sync_now(&self) -> Result<()> {
        let mut s = self.sync.lock();
        self.check_poison()?;
        self.write_out(&mut s, true)
    }

    /// The flush switch: under both locks, calls `freeze(F)` with F = the last assigned LSN;
    /// if it returns true, seals the current file (write + fsync) and starts a new one at F+1.
    /// Returns `Some(F)` if a switch happened.
    pub(crate) fn switch(&self, freeze: impl FnOnce(u64) -> bool) -> Result<Option<u64>> {
        let mut s = self.sync.lock();
        self.check_poison()?;
        let new_salt = random_u32();
        let (f, mut buf, reuse) = {
            let mut a = self.append.lock();
            let f = a.next_lsn - 1;
            if !freeze(f) {
                return Ok(None);
            }
            // The active file holds no record yet (it starts at F+1): keep it and its salt.
            let reuse = s.first_lsn == f + 1;
            if !reuse {
                a.salt = new_salt;
            }
            (f, std::mem::take(&mut a.buf), reuse)
        };
        let path = s.path.clone();
        if !buf.is_empty() {
            if let Err(e) = s.file.write_all(&buf) {
                self.keep_written(&mut s);
                return Err(self.fail_active(&mut s, Error::io("append WAL", &path)(e)));
            }
            s.written_len += buf.len() as u64;
        }
        buf.clear();
        if let Err(e) = s.file.sync_data() {
            return Err(self.fail_active(&mut s, Error::io("fsync WAL", &path)(e)));
        }
        s.synced_len = s.written_len;
        if !reuse {
            match Self::create_file(self.vfs.as_ref(), &self.shard_dir, f + 1, new_salt) {
                Ok((file, wf)) => {
                    s.file = file;
                    s.path = self.shard_dir.join(&wf.rel);
                    s.first_lsn = wf.first_lsn;
                    s.written_len = format::HEADER_LEN as u64;
                    s.synced_len = s.written_len;
                    self.files.lock().push(wf);
                }
                // The sealed file is whole; the new one may be half made: repair removes it.
                Err(e) => return Err(self.fail_active(&mut s, e)),
            }
        }
        self.written_lsn.store(f, Ordering::Release);
        self.durable_lsn.store(f, Ordering::Release);
        Ok(Some(f))
    }

    /// Removes from the live list, and returns, the files whose records are all <= `flushed`.
    pub(crate) fn take_obsolete(&self, flushed: u64) -> Vec<PathBuf> {
        let mut files = self.files.lock();
        let mut out = Vec::new();
        while files.len() > 1
            && files
                .get(1)
                .is_some_and(|next| next.first_lsn <= flushed + 1)
        {
            out.push(files.remove(0).rel);
        }
        out
    }

    /// A consistent cut of the log (for a backup): writes and syncs everything appended so
    /// far, then returns the last LSN, the live files (oldest first) and the durable length of
    /// the active (last) one. Its first `len` bytes hold exactly the records up to that LSN;
    /// every other listed file is sealed.
    pub(crate) fn cut(&self) -> Result<(u64, Vec<PathBuf>, u64)> {
        let mut s = self.sync.lock();
        self.write_out(&mut s, true)?;
        // `switch` pushes new files under the sync lock we hold: the list matches `s`.
        let files = self.files();
        Ok((self.durable_lsn(), files, s.synced_len))
    }

    /// Live WAL files (relative paths), oldest first.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        self.files.lock().iter().map(|f| f.rel.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use weft_io::{CrashMode, Op, SimFs, Vfs};

    use super::*;

    /// A commit leader that waited for the sync lock while a failed fsync cut the file back
    /// must not write after the cut: it returns the poison, and the file stays at the last
    /// durable length (so the next open reads it whole).
    #[test]
    fn a_leader_waiting_during_a_failed_fsync_writes_nothing_after_the_cut() {
        let fs = SimFs::new();
        let dir = Path::new("/shard");
        weft_io::create_dir_durable(&fs, &dir.join(WAL_DIR)).unwrap();
        let (file, wf) = Wal::create_file(&fs, dir, 1, 7).unwrap();
        let vfs: Arc<dyn Vfs> = Arc::new(fs.clone());
        let wal = Arc::new(Wal::new(
            vfs,
            dir,
            SyncPolicy::Sync,
            file,
            format::HEADER_LEN as u64,
            7,
            1,
            vec![wf.clone()],
        ));
        let first = wal.lock_append().append(b"acknowledged");
        wal.commit(first).unwrap();
        let path = dir.join(&wf.rel);
        let durable = fs.file_len(&path).unwrap();
        // As a flush switch does: under the sync lock, take the buffer (a record never
        // acknowledged), write it, and fail its fsync (EIO) — while a writer that appended
        // after the take waits as commit leader for the sync lock.
        let mut held = wal.sync.lock();
        let _lost = wal.lock_append().append(b"never acknowledged");
        let taken = std::mem::take(&mut wal.lock_append().buf);
        held.file.write_all(&taken).unwrap();
        held.written_len += taken.len() as u64;
        let late = wal.lock_append().append(b"appended after the take");
        let w = Arc::clone(&wal);
        let leader = std::thread::spawn(move || w.commit(late));
        while !*wal.leader.lock() {
            std::thread::yield_now();
        }
        fs.fail(Some(Op::SyncData), 1, std::io::ErrorKind::Other);
        let err = held.file.sync_data().unwrap_err();
        let _ = wal.fail_active(&mut held, Error::io("fsync WAL", &path)(err));
        drop(held);
        assert!(
            leader.join().unwrap().is_err(),
            "the waiting leader sees the poison"
        );
        assert_eq!(
            fs.file_len(&path).unwrap(),
            durable,
            "nothing written after the cut"
        );
        fs.crash(CrashMode::Drop);
        assert_eq!(fs.file_len(&path).unwrap(), durable);
    }
}
