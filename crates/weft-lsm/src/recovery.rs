//! Opening a shard directory after an orderly close, a crash, a power loss or a copy.
//!
//! 1. Remove everything in `tmp/` (unpublished outputs; never the only copy of anything).
//! 2. Read the bucket files and every segment's footer, properties, index and bloom. A damaged
//!    file fails the open with its name and offset; nothing is deleted.
//! 3. F = the newest flush record whose segments are all present (or covered by a compaction
//!    output). Segments above F and flush records newer than F are unconfirmed. Those that
//!    reach beyond the end of the recovered WAL (a copy that took `lsm/` later than `wal/`)
//!    are *quarantined* (moved to `quarantine/` once the open has succeeded): the LSNs they
//!    name are assigned again from here on, and after a later flush they would look
//!    confirmed and be read as live. The others only hold records the WAL replays, and the
//!    next flush covers them: they are left for the deferred deletion. A segment whose LSN range lies inside a newer one (higher generation, or
//!    same generation and higher file number) is covered: ignored and left for the deferred
//!    deletion.
//! 4. Replay the WAL from F+1 into memtables. A torn tail of the newest file is truncated;
//!    damage followed by valid records, damage in an older file, or an LSN gap fails the open.
//!
//! 5. Make what was read durable before the shard accepts a write: fsync the active WAL file
//!    and every directory recovery read. After a process crash the page cache may hold records,
//!    files and directory entries that were never synced (a WAL file whose directory fsync was
//!    interrupted, say); acknowledging new records on top of them would lose those records at
//!    the next power loss.
//!
//! Nothing is written before step 4's truncation, and nothing durable is ever deleted here.

use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_io::{ReadFile, Vfs};

use crate::batch::{OpKind, Strategy, for_each_op_shared};
use crate::codec::DecodeError;
use crate::error::{Error, Result};
use crate::flush_record::{self, FlushRecord};
use crate::gc::Gc;
use crate::memtable::BulkLoad;
use crate::options::Options;
use crate::segment::Segment;
use crate::shard::{
    BUCKET_FILE, BUCKET_MAGIC, Bucket, FlushState, LSM_DIR, TMP_DIR, parse_segment_name,
};
use crate::wal::format::HEADER_LEN;
use crate::wal::reader::{OpenError, RecordReader};
use crate::wal::{self, WAL_DIR, Wal, WalFile};

/// A torn WAL tail that recovery cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Truncation {
    /// The WAL file (relative to the shard directory).
    pub file: PathBuf,
    /// Offset where the torn record started.
    pub offset: u64,
    /// Bytes removed.
    pub bytes: u64,
}

/// What recovery found and did; the caller logs it (see [`RecoveryReport::warning`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// LSN covered by segments (the newest confirmed flush).
    pub flushed_lsn: u64,
    /// Next LSN to be assigned.
    pub next_lsn: u64,
    /// WAL files read.
    pub wal_files: usize,
    /// WAL records replayed into memtables.
    pub records_replayed: u64,
    /// Payload bytes replayed.
    pub bytes_replayed: u64,
    /// Bytes of WAL read.
    pub wal_bytes_read: u64,
    /// A torn tail that was truncated.
    pub truncated: Option<Truncation>,
    /// Leftover temp files removed.
    pub removed_temp_files: Vec<PathBuf>,
    /// Segments ignored as covered by a compaction output (deleted after the grace period).
    pub ignored_segments: Vec<PathBuf>,
    /// Unconfirmed segments and flush records (above the recovered LSN) moved to
    /// `quarantine/`: (original path, new path), relative to the shard directory.
    pub quarantined: Vec<(PathBuf, PathBuf)>,
    /// Buckets that had no `BUCKET` file but records in the WAL (a copy taken while they were
    /// being declared), declared from the WAL.
    pub buckets_declared: Vec<String>,
    /// Time the whole recovery took.
    pub duration: Duration,
}

impl RecoveryReport {
    /// Whether the shard was not closed in order (records had to be replayed or a tail cut).
    pub fn unclean(&self) -> bool {
        self.records_replayed > 0 || self.truncated.is_some() || !self.quarantined.is_empty()
    }

    /// A message to log at warning level after an unclean shutdown, `None` after an orderly
    /// close.
    pub fn warning(&self) -> Option<String> {
        if !self.unclean() {
            return None;
        }
        let mut msg = format!(
            "active write-ahead-log found. Did weft crash prior to this? Recovered {} records \
             ({} bytes) from {} WAL file(s) in {:.1?}",
            self.records_replayed, self.bytes_replayed, self.wal_files, self.duration
        );
        if !self.quarantined.is_empty() {
            msg.push_str(&format!(
                "; moved {} unconfirmed file(s) above LSN {} to {QUARANTINE_DIR}/",
                self.quarantined.len(),
                self.flushed_lsn
            ));
        }
        if !self.buckets_declared.is_empty() {
            msg.push_str(&format!(
                "; declared bucket(s) {:?} found only in the WAL (a copy taken while they were \
                 being declared)",
                self.buckets_declared
            ));
        }
        if let Some(t) = &self.truncated {
            msg.push_str(&format!(
                "; truncated a torn tail of {} bytes at offset {} of {}",
                t.bytes,
                t.offset,
                t.file.display()
            ));
        }
        Some(msg)
    }
}

pub(crate) struct Recovered {
    pub(crate) wal: Wal,
    pub(crate) buckets: BTreeMap<String, Arc<Bucket>>,
    pub(crate) flush: FlushState,
    pub(crate) next_file_no: u64,
    pub(crate) gc: Gc,
    pub(crate) report: RecoveryReport,
}

/// Where recovery moves unconfirmed files (relative to the shard directory).
pub const QUARANTINE_DIR: &str = "quarantine";

struct Found {
    strategy: Strategy,
    segments: Vec<Arc<Segment>>,
}

pub(crate) fn recover(vfs: Arc<dyn Vfs>, dir: &Path, opts: &Options) -> Result<Recovered> {
    let started = Instant::now();
    let mut report = RecoveryReport::default();
    for sub in [WAL_DIR, LSM_DIR, TMP_DIR, flush_record::DIR] {
        let d = dir.join(sub);
        weft_io::create_dir_durable(vfs.as_ref(), &d).map_err(Error::io("create directory", &d))?;
    }
    clean_tmp(vfs.as_ref(), dir, &mut report)?;
    let gc = Gc::default();
    let (mut found, max_file_no) = read_buckets(vfs.as_ref(), dir)?;
    let mut unconfirmed = Vec::new();
    let (flushed, record) = choose_flush(vfs.as_ref(), dir, &found, &gc, &mut unconfirmed)?;
    report.flushed_lsn = flushed;
    let mut buckets = BTreeMap::new();
    for (name, f) in std::mem::take(&mut found) {
        let live = select_segments(dir, &name, f.segments, flushed, &gc, &mut report)?;
        unconfirmed.extend(live.above);
        buckets.insert(
            name.clone(),
            Arc::new(Bucket::new(name, f.strategy, live.live)),
        );
    }
    let (wal, found) = replay(
        Arc::clone(&vfs),
        dir,
        opts,
        flushed,
        &buckets,
        &gc,
        &mut report,
    )?;
    for (name, bucket) in found {
        crate::shard::write_bucket_marker(vfs.as_ref(), dir, &name, bucket.strategy)?;
        report.buckets_declared.push(name.clone());
        buckets.insert(name, bucket);
    }
    let last = report.next_lsn.saturating_sub(1);
    let (stale, redundant): (Vec<_>, Vec<_>) =
        unconfirmed.into_iter().partition(|(_, hi)| *hi > last);
    for (rel, _) in redundant {
        gc.mark(rel, None);
    }
    let stale = stale.into_iter().map(|(rel, _)| rel).collect();
    quarantine(vfs.as_ref(), dir, flushed, stale, &mut report)?;
    sync_read_dirs(vfs.as_ref(), dir, &buckets)?;
    report.duration = started.elapsed();
    Ok(Recovered {
        wal,
        buckets,
        flush: FlushState {
            flushed_lsn: flushed,
            record,
        },
        next_file_no: max_file_no + 1,
        gc,
        report,
    })
}

/// Step 5 for directories: the shard directory, its sub-directories and every bucket directory.
fn sync_read_dirs(
    vfs: &dyn Vfs,
    dir: &Path,
    buckets: &BTreeMap<String, Arc<Bucket>>,
) -> Result<()> {
    let lsm = dir.join(LSM_DIR);
    let subs = [WAL_DIR, flush_record::DIR, TMP_DIR].map(|s| dir.join(s));
    let bucket_dirs = buckets.keys().map(|b| lsm.join(b));
    for d in bucket_dirs
        .chain(subs)
        .chain([lsm.clone(), dir.to_path_buf()])
    {
        vfs.sync_dir(&d).map_err(Error::io("fsync directory", &d))?;
    }
    Ok(())
}

fn list(vfs: &dyn Vfs, d: &Path) -> Result<Vec<String>> {
    vfs.list_dir(d).map_err(Error::io("list directory", d))
}

fn clean_tmp(vfs: &dyn Vfs, dir: &Path, report: &mut RecoveryReport) -> Result<()> {
    let tmp = dir.join(TMP_DIR);
    for name in list(vfs, &tmp)? {
        let p = tmp.join(&name);
        if vfs.is_dir(&p).map_err(Error::io("stat", &p))? {
            continue;
        }
        vfs.remove_file(&p)
            .map_err(Error::io("remove temp file", &p))?;
        report
            .removed_temp_files
            .push(Path::new(TMP_DIR).join(name));
    }
    if !report.removed_temp_files.is_empty() {
        vfs.sync_dir(&tmp)
            .map_err(Error::io("fsync directory", &tmp))?;
    }
    Ok(())
}

fn read_buckets(vfs: &dyn Vfs, dir: &Path) -> Result<(BTreeMap<String, Found>, u64)> {
    let lsm = dir.join(LSM_DIR);
    let mut out = BTreeMap::new();
    let mut max_file_no = 0;
    for name in list(vfs, &lsm)? {
        let bdir = lsm.join(&name);
        if !vfs.is_dir(&bdir).map_err(Error::io("stat", &bdir))? {
            continue;
        }
        let names = list(vfs, &bdir)?;
        let seg_names: Vec<(u64, &String)> = names
            .iter()
            .filter_map(|n| parse_segment_name(n).map(|no| (no, n)))
            .collect();
        let bfile = bdir.join(BUCKET_FILE);
        if !names.iter().any(|n| n == BUCKET_FILE) {
            if seg_names.is_empty() {
                continue; // declaration interrupted before it was published
            }
            return Err(Error::Missing {
                dir: dir.to_path_buf(),
                reason: format!("{} is missing", bfile.display()),
            });
        }
        let bytes = vfs.read_all(&bfile).map_err(Error::io("read", &bfile))?;
        let strategy = decode_bucket_file(&bytes, &name)
            .map_err(|reason| Error::corrupt(&bfile, 0, reason))?;
        let mut segments = Vec::new();
        for (no, seg_name) in seg_names {
            max_file_no = max_file_no.max(no);
            let path = bdir.join(seg_name);
            let rel = Path::new(LSM_DIR).join(&name).join(seg_name);
            let seg = Segment::open(vfs, &path, rel)?;
            if seg.file_no() != no || seg.header.strategy != strategy {
                return Err(Error::corrupt(
                    &path,
                    0,
                    "segment header does not match its name or bucket",
                ));
            }
            segments.push(Arc::new(seg));
        }
        out.insert(name, Found { strategy, segments });
    }
    Ok((out, max_file_no))
}

fn decode_bucket_file(bytes: &[u8], name: &str) -> Result<Strategy, String> {
    let (_, payload) = weft_io::envelope::open(BUCKET_MAGIC, bytes).map_err(|e| e.to_string())?;
    let (code, stored_name) = payload.split_at_checked(2).ok_or("bucket file too short")?;
    if stored_name != name.as_bytes() {
        return Err("bucket file names another bucket".into());
    }
    Strategy::from_code(u16::from_le_bytes([code[0], code[1]]))
        .ok_or_else(|| "unknown strategy".into())
}

/// The newest flush record whose segments are present or covered; older records and records
/// that could not be confirmed are left for deletion (the WAL still covers them).
fn choose_flush(
    vfs: &dyn Vfs,
    dir: &Path,
    found: &BTreeMap<String, Found>,
    gc: &Gc,
    unconfirmed: &mut Vec<(PathBuf, u64)>,
) -> Result<(u64, Option<PathBuf>)> {
    let fdir = dir.join(flush_record::DIR);
    let mut records: Vec<(u64, String)> = list(vfs, &fdir)?
        .into_iter()
        .filter_map(|n| flush_record::parse_file_name(&n).map(|l| (l, n)))
        .collect();
    records.sort();
    let mut chosen: Option<(u64, PathBuf)> = None;
    for (lsn, name) in records.into_iter().rev() {
        let rel = Path::new(flush_record::DIR).join(&name);
        if chosen.is_some() {
            gc.mark(rel, None);
            continue;
        }
        let path = dir.join(&rel);
        let bytes = vfs.read_all(&path).map_err(Error::io("read", &path))?;
        let rec = FlushRecord::decode(&bytes).map_err(|reason| Error::corrupt(&path, 0, reason))?;
        if rec.lsn != lsn {
            return Err(Error::corrupt(
                &path,
                0,
                "flush record LSN does not match its name",
            ));
        }
        let confirmed = rec.segments.iter().all(|s| {
            found.get(&s.bucket).is_some_and(|f| {
                f.segments
                    .iter()
                    .any(|g| g.props.lsn_lo <= s.lsn_lo && s.lsn_hi <= g.props.lsn_hi)
            })
        });
        if confirmed {
            chosen = Some((lsn, rel));
        } else {
            unconfirmed.push((rel, lsn));
        }
    }
    Ok(chosen.map_or((0, None), |(l, r)| (l, Some(r))))
}

struct Selected {
    /// The live segments, oldest first.
    live: Vec<Arc<Segment>>,
    /// Segments above the flushed LSN (relative paths, highest LSN).
    above: Vec<(PathBuf, u64)>,
}

/// The live segments of a bucket, and the unconfirmed ones.
fn select_segments(
    dir: &Path,
    bucket: &str,
    segments: Vec<Arc<Segment>>,
    flushed: u64,
    gc: &Gc,
    report: &mut RecoveryReport,
) -> Result<Selected> {
    let (confirmed, above): (Vec<_>, Vec<_>) = segments
        .into_iter()
        .partition(|s| s.props.lsn_hi <= flushed);
    let rank = |s: &Segment| (s.generation(), s.file_no());
    let mut live = Vec::new();
    let mut ignored = Vec::new();
    for s in &confirmed {
        let covered = confirmed.iter().any(|t| {
            !Arc::ptr_eq(s, t)
                && t.props.lsn_lo <= s.props.lsn_lo
                && s.props.lsn_hi <= t.props.lsn_hi
                && rank(t) > rank(s)
        });
        if covered {
            ignored.push(Arc::clone(s))
        } else {
            live.push(Arc::clone(s))
        }
    }
    live.sort_by_key(|s| (s.props.lsn_lo, s.props.lsn_hi));
    for pair in live.windows(2) {
        if let [a, b] = pair
            && a.props.lsn_hi > b.props.lsn_lo
        {
            return Err(Error::Missing {
                dir: dir.to_path_buf(),
                reason: format!(
                    "segments {} and {} of bucket {bucket} overlap partially",
                    a.rel.display(),
                    b.rel.display()
                ),
            });
        }
    }
    for s in ignored {
        report.ignored_segments.push(s.rel.clone());
        gc.mark(s.rel.clone(), None);
    }
    let above = above
        .iter()
        .map(|s| (s.rel.clone(), s.props.lsn_hi))
        .collect();
    Ok(Selected { live, above })
}

/// Moves unconfirmed files to `quarantine/<F>-<nanos>/<original relative path>`, durably:
/// kept for an operator, out of every later recovery's sight.
fn quarantine(
    vfs: &dyn Vfs,
    dir: &Path,
    flushed: u64,
    files: Vec<PathBuf>,
    report: &mut RecoveryReport,
) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let base = Path::new(QUARANTINE_DIR).join(format!("{flushed:016x}-{stamp}"));
    let mut synced = std::collections::BTreeSet::new();
    for rel in files {
        let to_rel = base.join(&rel);
        let from = dir.join(&rel);
        let to = dir.join(&to_rel);
        if let Some(parent) = to.parent() {
            weft_io::create_dir_durable(vfs, parent)
                .map_err(Error::io("create directory", parent))?;
        }
        vfs.rename(&from, &to)
            .map_err(Error::io("quarantine", &from))?;
        synced.extend(
            [from.parent(), to.parent()]
                .into_iter()
                .flatten()
                .map(Path::to_path_buf),
        );
        report.quarantined.push((rel, to_rel));
    }
    for d in synced {
        vfs.sync_dir(&d).map_err(Error::io("fsync directory", &d))?;
    }
    Ok(())
}

fn replay(
    vfs: Arc<dyn Vfs>,
    dir: &Path,
    opts: &Options,
    flushed: u64,
    buckets: &BTreeMap<String, Arc<Bucket>>,
    gc: &Gc,
    report: &mut RecoveryReport,
) -> Result<(Wal, BTreeMap<String, Arc<Bucket>>)> {
    let wdir = dir.join(WAL_DIR);
    let mut names: Vec<(u64, String)> = list(vfs.as_ref(), &wdir)?
        .into_iter()
        .filter_map(|n| wal::parse_file_name(&n).map(|l| (l, n)))
        .collect();
    names.sort();
    report.wal_files = names.len();
    let mut files: Vec<WalFile> = Vec::new();
    // Next LSN expected after the records seen so far.
    let mut expect: Option<u64> = None;
    let mut active: Option<(u32, PathBuf, u64)> = None;
    let count = names.len();
    // The files' lengths, to size the replayed vectors (an estimate: 0 if one cannot be read).
    let wal_bytes = names
        .iter()
        .map(|(_, n)| vfs.file_len(&wdir.join(n)).unwrap_or(0))
        .sum();
    let mut sink = ReplaySink::new(buckets, wal_bytes);
    for (i, (first_lsn, name)) in names.into_iter().enumerate() {
        let is_last = i + 1 == count;
        let rel = Path::new(WAL_DIR).join(&name);
        let path = dir.join(&rel);
        let file = vfs.open_read(&path).map_err(Error::io("open WAL", &path))?;
        let len = file.len().map_err(Error::io("read WAL", &path))?;
        report.wal_bytes_read += len;
        let source: &dyn ReadFile = file.as_ref();
        let opened = RecordReader::open(source, len, opts.max_record_bytes, opts.replay_read_bytes);
        let reader = match opened {
            Ok(r) => r,
            Err(OpenError::Io(e)) => return Err(Error::io("read WAL", &path)(e)),
            Err(OpenError::Header(..))
                if is_last
                    && len <= HEADER_LEN as u64
                    && first_lsn == expect.unwrap_or(flushed + 1).max(flushed + 1) =>
            {
                // Created but its header never became durable: it holds no record. The new
                // active file created below has the same name and replaces it.
                continue;
            }
            Err(OpenError::Header(off, reason)) => return Err(Error::corrupt(&path, off, reason)),
        };
        let header = reader.header();
        if header.first_lsn != first_lsn {
            return Err(Error::corrupt(
                &path,
                16,
                "WAL header LSN does not match the file name",
            ));
        }
        match expect {
            None if first_lsn > flushed + 1 => {
                return Err(Error::Missing {
                    dir: dir.to_path_buf(),
                    reason: format!(
                        "WAL records {}..{} are missing (segments cover up to {flushed}, the oldest WAL file {} starts at {first_lsn})",
                        flushed + 1,
                        first_lsn - 1,
                        rel.display()
                    ),
                });
            }
            Some(e) if e != first_lsn => {
                return Err(Error::Missing {
                    dir: dir.to_path_buf(),
                    reason: format!(
                        "WAL gap: expected LSN {e}, {} starts at {first_lsn}",
                        rel.display()
                    ),
                });
            }
            _ => {}
        }
        // Records are applied as they stream by; any error below fails the whole open, so
        // nothing applied before it is ever seen.
        // The file is read and checked on a second thread while this one decodes.
        let (reader, damage) = wal::reader::stream(
            reader,
            flushed,
            |lsn, offset, buf, payload| {
                sink.record(&path, lsn, offset, buf, payload)?;
                report.records_replayed += 1;
                report.bytes_replayed += payload.len() as u64;
                Ok(())
            },
            Error::io("read WAL", &path),
        )?;
        if let Some(d) = &damage
            && (d.followed_by_valid || !is_last)
        {
            let why = if d.followed_by_valid {
                "followed by valid records"
            } else {
                "in a sealed WAL file"
            };
            return Err(Error::corrupt(
                &path,
                d.offset as u64,
                format!("{} {why}", d.reason),
            ));
        }
        let next = first_lsn + reader.records();
        let valid_end = reader.valid_end();
        drop(reader);
        drop(file);
        if let Some(d) = &damage {
            vfs.truncate_and_sync(&path, valid_end)
                .map_err(Error::io("truncate WAL", &path))?;
            report.truncated = Some(Truncation {
                file: rel.clone(),
                offset: d.offset as u64,
                bytes: len - valid_end,
            });
        }
        if is_last && next > flushed {
            active = Some((header.salt, path.clone(), valid_end));
        } else if next <= flushed + 1 && !is_last {
            gc.mark(rel.clone(), None);
        }
        files.push(WalFile { first_lsn, rel });
        expect = Some(next);
    }
    let found = sink.finish();
    let next_lsn = expect.map_or(flushed + 1, |e| e.max(flushed + 1));
    report.next_lsn = next_lsn;
    let (file, salt, active_len) = match active {
        Some((salt, path, len)) => {
            let mut file = vfs
                .open_append(&path)
                .map_err(Error::io("open WAL", &path))?;
            // Step 5: replayed records that were only in the page cache become durable now.
            file.sync_data().map_err(Error::io("fsync WAL", &path))?;
            (file, salt, len)
        }
        None => {
            // No usable WAL tail, or the WAL ends at or below the flushed LSN (e.g. a copy):
            // start a new file at the next LSN.
            if next_lsn == flushed + 1 {
                for f in &files {
                    gc.mark(f.rel.clone(), None);
                }
                files.clear();
            }
            let salt = wal::random_u32();
            let (file, wf) = Wal::create_file(vfs.as_ref(), dir, next_lsn, salt)?;
            files.push(wf);
            (file, salt, HEADER_LEN as u64)
        }
    };
    let wal = Wal::new(vfs, dir, opts.sync, file, active_len, salt, next_lsn, files);
    Ok((wal, found))
}

/// Collects replayed ops per bucket (in LSN order) and loads each bucket's empty active
/// memtable in one go at the end ([`crate::memtable::Memtable::load`]).
struct ReplaySink<'a> {
    buckets: &'a BTreeMap<String, Arc<Bucket>>,
    /// Buckets a replayed record names that have no `BUCKET` file: a copy of the directory
    /// (`cp -r` while writing) taken after `lsm/` was read and before the WAL was, while the
    /// bucket was being declared. Records are checksummed, so the name is one a writer
    /// declared; its ops give its strategy. Declared for real once replay succeeds.
    found: BTreeMap<String, Arc<Bucket>>,
    loads: Vec<(Arc<Bucket>, BulkLoad)>,
    slots: HashMap<String, usize>,
    /// Slot of the last op's bucket: consecutive ops mostly name the same bucket.
    last: usize,
    /// WAL bytes this replay reads (the files' lengths) and payload bytes decoded so far: once
    /// [`SIZE_AFTER`] bytes are decoded, each bucket's load is sized for the rest of the WAL at
    /// the rate of ops seen (the vectors grew by doubling, copying everything below the
    /// allocator's mmap threshold each time).
    wal_bytes: u64,
    decoded: u64,
    sized: bool,
}

/// Payload bytes decoded before the loads are sized for the whole WAL.
const SIZE_AFTER: u64 = 4 << 20;

/// Why an op of a replayed record was refused.
enum OpError {
    Decode(DecodeError),
    Refused(Error),
}

impl From<DecodeError> for OpError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl<'a> ReplaySink<'a> {
    fn new(buckets: &'a BTreeMap<String, Arc<Bucket>>, wal_bytes: u64) -> Self {
        Self {
            buckets,
            found: BTreeMap::new(),
            loads: Vec::new(),
            slots: HashMap::new(),
            last: 0,
            wal_bytes,
            decoded: 0,
            sized: false,
        }
    }

    /// The load of bucket `name`; `None` if the name is not a valid bucket name (checked when
    /// a name is first seen: every slot's name is valid).
    fn slot(&mut self, name: &str, strategy: Strategy) -> Option<usize> {
        if let Some((b, _)) = self.loads.get(self.last)
            && b.name == name
        {
            return Some(self.last);
        }
        let i = match self.slots.get(name) {
            Some(&i) => i,
            None if !crate::shard::valid_bucket_name(name) => return None,
            None => {
                let b = match self.buckets.get(name) {
                    Some(b) => Arc::clone(b),
                    None => {
                        let b = Arc::new(Bucket::new(name.to_string(), strategy, Vec::new()));
                        self.found.insert(name.to_string(), Arc::clone(&b));
                        b
                    }
                };
                self.loads.push((b, BulkLoad::default()));
                self.slots.insert(name.to_string(), self.loads.len() - 1);
                self.loads.len() - 1
            }
        };
        self.last = i;
        Some(i)
    }

    /// Decodes one record (`payload`, a slice of the read buffer `buf`, at file offset `at`) and
    /// queues its ops.
    fn record(
        &mut self,
        path: &Path,
        lsn: u64,
        at: u64,
        buf: &Bytes,
        payload: &[u8],
    ) -> Result<()> {
        let res = for_each_op_shared(payload, buf, |bucket, key, kind: OpKind| {
            let Some(i) = self.slot(bucket, kind.strategy()) else {
                return Err(OpError::Refused(Error::corrupt(
                    path,
                    at,
                    format!("WAL record {lsn} names an invalid bucket {bucket:?}"),
                )));
            };
            let Some((b, load)) = self.loads.get_mut(i) else {
                return Ok(());
            };
            if b.strategy != kind.strategy() {
                return Err(OpError::Refused(Error::corrupt(
                    path,
                    at,
                    format!(
                        "WAL record {lsn} does not fit bucket {bucket:?}'s strategy {}",
                        b.strategy
                    ),
                )));
            }
            load.push(buf.slice_ref(key), kind);
            Ok(())
        });
        res.map_err(|e| match e {
            OpError::Decode(e) => Error::corrupt(
                path,
                at + e.offset as u64,
                format!("WAL record {lsn}: {}", e.reason),
            ),
            OpError::Refused(e) => e,
        })?;
        self.decoded += payload.len() as u64;
        if !self.sized && self.decoded >= SIZE_AFTER {
            self.sized = true;
            let rest = self.wal_bytes.saturating_sub(self.decoded) as f64 / self.decoded as f64;
            for (_, load) in &mut self.loads {
                load.reserve((load.len() as f64 * rest) as usize);
            }
        }
        Ok(())
    }

    /// Loads the replayed ops; returns the buckets found only in the WAL.
    fn finish(self) -> BTreeMap<String, Arc<Bucket>> {
        for (b, load) in self.loads {
            b.view.read().active.load(load);
        }
        self.found
    }
}
