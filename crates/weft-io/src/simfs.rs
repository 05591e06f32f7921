//! An in-memory, fault-injecting [`Vfs`] for crash and I/O-error tests.
//!
//! [`SimFs`] models what a Linux file system promises and no more:
//!
//! * every file has the bytes a reader sees now (the page cache) and the bytes that are on
//!   disk (as of its last successful `sync_data`);
//! * every directory entry — file or sub-directory, created, renamed or removed — is on disk
//!   only after a successful `sync_dir` of its parent, and a directory whose own entry is not on
//!   disk takes everything below it along at a power loss;
//! * a failed `sync_data` (EIO) leaves the bytes it should have written readable in the page
//!   cache but *never* durable: the kernel marks those pages clean, so a later successful
//!   `sync_data` writes everything else and leaves a hole (zeros) where they were ("fsyncgate").
//!
//! Two kinds of faults can be armed:
//!
//! * [`SimFs::crash_after`]: the k-th mutating call and every later one fail, as if the process
//!   died there; [`SimFs::crash`] then simulates the restart per [`CrashMode`]. Handles opened
//!   before the crash stop working.
//! * [`SimFs::fail`]: one mutating call (the n-th of a kind, or of any kind) fails with an
//!   [`io::Error`] of the given kind and the process carries on. A failed `write_all` leaves
//!   half of its bytes in the page cache (a short write, which later syncs may make durable);
//!   a failed `sync_data` loses its bytes as described above; a failed rename, removal, link,
//!   truncation, `sync_dir` or directory creation changes nothing.
//!
//! Simplifications (documented in `docs/decisions/0004-storage-engine.md`): writes only append;
//! a crash never reorders the durability of data within one file beyond dropping a suffix.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::vfs::{DirGuard, ReadFile, Vfs, WriteFile, no_lock};

/// What happens at a simulated crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Power loss: only synced bytes and synced directory entries survive.
    Drop,
    /// Process crash (`kill -9`): the page cache outlives the process, so every completed
    /// write, rename, creation and removal survives (and is still not durable until synced).
    Keep,
    /// Power loss in the middle of writeback: synced directory entries survive, and a
    /// pseudo-random prefix of each file's unsynced appended bytes.
    Torn {
        /// Seed of the pseudo-random choice.
        seed: u64,
    },
}

/// The calls a non-fatal fault can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `create` / `open_append`.
    Open,
    /// `WriteFile::write_all`.
    Write,
    /// `WriteFile::sync_data`.
    SyncData,
    /// `rename`.
    Rename,
    /// `remove_file`.
    Remove,
    /// `truncate_and_sync`.
    Truncate,
    /// `sync_dir`.
    SyncDir,
    /// `create_dir_all`.
    Mkdir,
    /// `hard_link`.
    Link,
}

#[derive(Debug, Clone)]
struct Fault {
    op: Option<Op>,
    /// Matching calls still to let through before failing.
    skip: u64,
    kind: io::ErrorKind,
}

#[derive(Debug, Default, Clone)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    /// Byte ranges whose writeback failed: readable from `data`, never durable.
    lost: Vec<(usize, usize)>,
}

impl Inode {
    fn sync(&mut self) {
        let mut next = self.data.clone();
        for &(lo, hi) in &self.lost {
            for (i, b) in next.iter_mut().enumerate().take(hi).skip(lo) {
                *b = self.durable.get(i).copied().unwrap_or(0);
            }
        }
        self.durable = next;
    }

    fn fail_sync(&mut self) {
        let lo = self.durable.len().min(self.data.len());
        if lo < self.data.len() {
            self.lost.push((lo, self.data.len()));
        }
    }

    fn truncate(&mut self, len: usize) {
        self.data.resize(len, 0);
        self.lost.retain_mut(|(lo, hi)| {
            *hi = (*hi).min(len);
            lo < hi
        });
        self.sync();
    }
}

#[derive(Debug, Default)]
struct State {
    inodes: BTreeMap<u64, Inode>,
    next_ino: u64,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    durable_dirs: BTreeSet<PathBuf>,
    ops: u64,
    crash_after: Option<u64>,
    crashed: bool,
    epoch: u64,
    removed: Vec<PathBuf>,
    faults: Vec<Fault>,
    injected: u64,
}

fn crashed_err() -> io::Error {
    io::Error::other("simulated crash: the file system is gone")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

fn is_root(p: &Path) -> bool {
    p.parent().is_none() || p.as_os_str().is_empty()
}

impl State {
    /// Counts a mutating call of kind `op`; fails it (and all later calls) once the crash point
    /// is reached, or fails just this call if a matching fault is armed.
    fn tick(&mut self, epoch: u64, op: Op) -> io::Result<()> {
        self.check(epoch)?;
        self.ops += 1;
        if self.crash_after.is_some_and(|k| self.ops >= k) {
            self.crashed = true;
            return Err(crashed_err());
        }
        let hit = self.faults.iter_mut().position(|f| {
            if f.op.is_some_and(|o| o != op) {
                return false;
            }
            if f.skip == 0 {
                return true;
            }
            f.skip -= 1;
            false
        });
        if let Some(i) = hit {
            let fault = self.faults.remove(i);
            self.injected += 1;
            return Err(io::Error::new(
                fault.kind,
                format!("simulated {:?} failure of {op:?}", fault.kind),
            ));
        }
        Ok(())
    }

    fn check(&self, epoch: u64) -> io::Result<()> {
        if self.crashed || epoch != self.epoch {
            return Err(crashed_err());
        }
        Ok(())
    }

    fn ino(&self, path: &Path) -> io::Result<u64> {
        self.names.get(path).copied().ok_or_else(|| not_found(path))
    }

    fn inode(&mut self, ino: u64) -> io::Result<&mut Inode> {
        self.inodes
            .get_mut(&ino)
            .ok_or_else(|| io::Error::other("simulated file vanished"))
    }

    fn dir_exists(&self, p: &Path) -> bool {
        is_root(p) || self.dirs.contains(p)
    }

    fn parent_exists(&self, path: &Path) -> bool {
        path.parent().is_none_or(|p| self.dir_exists(p))
    }

    /// After a power loss: the durable entries whose every ancestor is durable too.
    fn power_loss_names(&mut self) {
        let durable = &self.durable_dirs;
        let reachable = |p: &Path| {
            p.ancestors()
                .skip(1)
                .all(|a| is_root(a) || durable.contains(a))
        };
        let dirs: BTreeSet<PathBuf> = durable.iter().filter(|d| reachable(d)).cloned().collect();
        let names: BTreeMap<PathBuf, u64> = self
            .durable_names
            .iter()
            .filter(|(p, _)| reachable(p))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        self.dirs = dirs.clone();
        self.durable_dirs = dirs;
        self.names = names.clone();
        self.durable_names = names;
    }
}

/// The simulated file system; cheap to clone (clones share state).
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct SimWrite {
    state: Arc<Mutex<State>>,
    ino: u64,
    epoch: u64,
}

#[derive(Debug)]
struct SimRead {
    state: Arc<Mutex<State>>,
    ino: u64,
    epoch: u64,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock only happens in a failing test; keep going with the data.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn next_rng(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

impl SimFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    fn st(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Number of mutating calls made so far.
    pub fn ops(&self) -> u64 {
        self.st().ops
    }

    /// Arms a crash: the mutating call that brings the count to `k` (counting from now) and every
    /// later call fail.
    pub fn crash_after(&self, k: u64) {
        let mut st = self.st();
        st.crash_after = Some(st.ops + k.max(1));
    }

    /// Arms one non-fatal fault: the `nth` (1-based) next call of kind `op` (any mutating call
    /// with `None`) fails with `kind`; the calls around it succeed. Faults can be stacked.
    pub fn fail(&self, op: Option<Op>, nth: u64, kind: io::ErrorKind) {
        self.st().faults.push(Fault {
            op,
            skip: nth.saturating_sub(1),
            kind,
        });
    }

    /// How many armed faults have fired so far.
    pub fn faults_injected(&self) -> u64 {
        self.st().injected
    }

    /// Removes the faults that have not fired yet.
    pub fn clear_faults(&self) {
        self.st().faults.clear();
    }

    /// Whether the armed crash happened.
    pub fn has_crashed(&self) -> bool {
        self.st().crashed
    }

    /// Simulates the restart after a crash (or a power cut / `kill -9` now, if none was armed).
    pub fn crash(&self, mode: CrashMode) {
        let mut st = self.st();
        match mode {
            CrashMode::Keep => {}
            CrashMode::Drop | CrashMode::Torn { .. } => st.power_loss_names(),
        }
        let live: BTreeSet<u64> = st.names.values().copied().collect();
        st.inodes.retain(|ino, _| live.contains(ino));
        let mut rng = match mode {
            CrashMode::Torn { seed } => seed | 1,
            CrashMode::Drop | CrashMode::Keep => 1,
        };
        for inode in st.inodes.values_mut() {
            match mode {
                CrashMode::Keep => {}
                CrashMode::Drop => inode.data = inode.durable.clone(),
                CrashMode::Torn { .. } => {
                    let mut survived = inode.durable.clone();
                    let lo = survived.len();
                    if inode.data.len() > lo && inode.lost.iter().all(|&(_, hi)| hi <= lo) {
                        let extra = (inode.data.len() - lo) as u64;
                        let keep = (next_rng(&mut rng) % (extra + 1)) as usize;
                        survived.extend_from_slice(&inode.data[lo..lo + keep]);
                    }
                    inode.data = survived.clone();
                    inode.durable = survived;
                }
            }
            if mode != CrashMode::Keep {
                inode.lost.clear();
            }
        }
        st.crashed = false;
        st.crash_after = None;
        st.faults.clear();
        st.epoch += 1;
        st.removed.clear();
    }

    /// Paths removed since the last [`SimFs::crash`] or [`SimFs::take_removed`].
    pub fn take_removed(&self) -> Vec<PathBuf> {
        std::mem::take(&mut self.st().removed)
    }

    /// Every file path currently visible, sorted.
    pub fn files(&self) -> Vec<PathBuf> {
        self.st().names.keys().cloned().collect()
    }

    /// Replaces the content of a file (durably), for corruption tests.
    pub fn overwrite(&self, path: &Path, bytes: Vec<u8>) -> io::Result<()> {
        let mut st = self.st();
        let ino = st.ino(path)?;
        let inode = st.inode(ino)?;
        inode.data = bytes.clone();
        inode.durable = bytes;
        inode.lost.clear();
        Ok(())
    }

    fn open_new(&self, path: &Path, truncate: bool) -> io::Result<Box<dyn WriteFile>> {
        let mut st = self.st();
        let epoch = st.epoch;
        st.tick(epoch, Op::Open)?;
        if !st.parent_exists(path) {
            return Err(not_found(path.parent().unwrap_or(path)));
        }
        let ino = match st.names.get(path).copied() {
            Some(ino) => {
                if truncate {
                    let inode = st.inode(ino)?;
                    inode.data.clear();
                    inode.lost.clear();
                }
                ino
            }
            None if truncate => {
                let ino = st.next_ino;
                st.next_ino += 1;
                st.inodes.insert(ino, Inode::default());
                st.names.insert(path.to_path_buf(), ino);
                ino
            }
            None => return Err(not_found(path)),
        };
        Ok(Box::new(SimWrite {
            state: Arc::clone(&self.state),
            ino,
            epoch,
        }))
    }
}

impl WriteFile for SimWrite {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut st = lock(&self.state);
        if let Err(e) = st.tick(self.epoch, Op::Write) {
            if st.check(self.epoch).is_ok() {
                // A short write: the first half reached the page cache.
                st.inode(self.ino)?
                    .data
                    .extend_from_slice(&buf[..buf.len() / 2]);
            }
            return Err(e);
        }
        st.inode(self.ino)?.data.extend_from_slice(buf);
        Ok(())
    }
    fn sync_data(&mut self) -> io::Result<()> {
        let mut st = lock(&self.state);
        if let Err(e) = st.tick(self.epoch, Op::SyncData) {
            if st.check(self.epoch).is_ok() {
                st.inode(self.ino)?.fail_sync();
            }
            return Err(e);
        }
        st.inode(self.ino)?.sync();
        Ok(())
    }
}

impl ReadFile for SimRead {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.check(self.epoch)?;
        let data = &st.inode(self.ino)?.data;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let slice = start
            .checked_add(buf.len())
            .and_then(|end| data.get(start..end))
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past end"))?;
        buf.copy_from_slice(slice);
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        let mut st = lock(&self.state);
        st.check(self.epoch)?;
        Ok(st.inode(self.ino)?.data.len() as u64)
    }
}

impl Vfs for SimFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut st = self.st();
        let epoch = st.epoch;
        if st.dir_exists(path) {
            return st.check(epoch);
        }
        st.tick(epoch, Op::Mkdir)?;
        for ancestor in path.ancestors() {
            if !is_root(ancestor) {
                if st.names.contains_key(ancestor) {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} is a file", ancestor.display()),
                    ));
                }
                st.dirs.insert(ancestor.to_path_buf());
            }
        }
        Ok(())
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let st = self.st();
        st.check(st.epoch)?;
        if !st.dir_exists(path) {
            return Err(not_found(path));
        }
        let files = st.names.keys().filter(|p| p.parent() == Some(path));
        let dirs = st.dirs.iter().filter(|p| p.parent() == Some(path));
        let mut names: Vec<String> = files
            .chain(dirs)
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        Ok(names)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        let st = self.st();
        st.check(st.epoch)?;
        Ok(st.names.contains_key(path) || st.dir_exists(path))
    }
    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        let st = self.st();
        st.check(st.epoch)?;
        Ok(st.dir_exists(path))
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        self.open_new(path, true)
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        self.open_new(path, false)
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>> {
        let st = self.st();
        st.check(st.epoch)?;
        let ino = st.ino(path)?;
        Ok(Box::new(SimRead {
            state: Arc::clone(&self.state),
            ino,
            epoch: st.epoch,
        }))
    }
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut st = self.st();
        st.check(st.epoch)?;
        let ino = st.ino(path)?;
        Ok(st.inode(ino)?.data.clone())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.st();
        let epoch = st.epoch;
        st.tick(epoch, Op::Rename)?;
        let ino = st.ino(from)?;
        if !st.parent_exists(to) {
            return Err(not_found(to));
        }
        st.names.remove(from);
        st.names.insert(to.to_path_buf(), ino);
        Ok(())
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.st();
        let epoch = st.epoch;
        st.tick(epoch, Op::Remove)?;
        st.ino(path)?;
        st.names.remove(path);
        st.removed.push(path.to_path_buf());
        Ok(())
    }
    fn truncate_and_sync(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut st = self.st();
        let epoch = st.epoch;
        st.tick(epoch, Op::Truncate)?;
        let ino = st.ino(path)?;
        let inode = st.inode(ino)?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        inode.truncate(len);
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.st();
        let epoch = st.epoch;
        st.tick(epoch, Op::SyncDir)?;
        if !st.dir_exists(dir) {
            return Err(not_found(dir));
        }
        let in_dir = |p: &PathBuf| p.parent() == Some(dir);
        let files: Vec<(PathBuf, u64)> = st
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        st.durable_names.retain(|p, _| !in_dir(p));
        st.durable_names.extend(files);
        let subdirs: Vec<PathBuf> = st.dirs.iter().filter(|p| in_dir(p)).cloned().collect();
        st.durable_dirs.retain(|p| !in_dir(p));
        st.durable_dirs.extend(subdirs);
        Ok(())
    }
    fn hard_link(&self, src: &Path, dst: &Path) -> io::Result<()> {
        let mut st = self.st();
        let epoch = st.epoch;
        st.tick(epoch, Op::Link)?;
        let ino = st.ino(src)?;
        if st.names.contains_key(dst) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "link exists"));
        }
        if !st.parent_exists(dst) {
            return Err(not_found(dst));
        }
        st.names.insert(dst.to_path_buf(), ino);
        Ok(())
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let mut st = self.st();
        st.check(st.epoch)?;
        let ino = st.ino(path)?;
        Ok(st.inode(ino)?.data.len() as u64)
    }
    fn lock_dir(&self, _dir: &Path) -> io::Result<Box<dyn DirGuard>> {
        Ok(no_lock())
    }
}

#[cfg(test)]
mod tests;
