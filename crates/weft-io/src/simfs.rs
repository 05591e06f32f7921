//! An in-memory, fault-injecting [`Vfs`] for crash tests.
//!
//! [`SimFs`] keeps, for every file, the bytes a reader sees now and the bytes that are durable
//! (as of its last `sync_data`), and for every directory the entries that are durable (as of its
//! last `sync_dir`). It can be armed to fail the k-th mutating call ([`SimFs::crash_after`]):
//! that call and every later one return an error, as if the process had died there. Then
//! [`SimFs::crash`] simulates the restart: directory entries fall back to their durable state and
//! each file's unsynced bytes are dropped, kept, or torn (a random prefix of the unsynced
//! appended bytes survives), per [`CrashMode`]. Handles opened before the crash stop working.
//!
//! Simplifications (documented in `docs/decisions/0004-storage-engine.md`): directories are
//! durable as soon as they are created; writes only append; a crash never reorders the
//! durability of data within one file beyond dropping a suffix.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::vfs::{DirGuard, ReadFile, Vfs, WriteFile, no_lock};

/// What happens to unsynced bytes of a file at a simulated crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Only synced bytes survive (power loss).
    Drop,
    /// Every written byte survives (process crash: the page cache outlives the process).
    Keep,
    /// A pseudo-random prefix of each file's unsynced appended bytes survives.
    Torn {
        /// Seed of the pseudo-random choice.
        seed: u64,
    },
}

#[derive(Debug, Default, Clone)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    inodes: BTreeMap<u64, Inode>,
    next_ino: u64,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    ops: u64,
    crash_after: Option<u64>,
    crashed: bool,
    epoch: u64,
    removed: Vec<PathBuf>,
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

impl State {
    /// Counts a mutating call; fails it (and all later calls) once the crash point is reached.
    fn tick(&mut self, epoch: u64) -> io::Result<()> {
        self.check(epoch)?;
        self.ops += 1;
        if self.crash_after.is_some_and(|k| self.ops >= k) {
            self.crashed = true;
            return Err(crashed_err());
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

    fn parent_exists(&self, path: &Path) -> bool {
        path.parent()
            .is_none_or(|p| p.as_os_str().is_empty() || self.dirs.contains(p))
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

    /// Whether the armed crash happened.
    pub fn has_crashed(&self) -> bool {
        self.st().crashed
    }

    /// Simulates the restart after a crash (or a power cut now, if none was armed).
    pub fn crash(&self, mode: CrashMode) {
        let mut st = self.st();
        let mut rng = match mode {
            CrashMode::Torn { seed } => seed | 1,
            CrashMode::Drop | CrashMode::Keep => 1,
        };
        st.names = st.durable_names.clone();
        let live: BTreeSet<u64> = st.names.values().copied().collect();
        st.inodes.retain(|ino, _| live.contains(ino));
        for inode in st.inodes.values_mut() {
            let survived = match mode {
                CrashMode::Drop => inode.durable.clone(),
                CrashMode::Keep => inode.data.clone(),
                CrashMode::Torn { .. } => {
                    if inode.data.starts_with(&inode.durable) {
                        let extra = inode.data.len() - inode.durable.len();
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        let keep = if extra == 0 {
                            0
                        } else {
                            (rng % (extra as u64 + 1)) as usize
                        };
                        inode.data[..inode.durable.len() + keep].to_vec()
                    } else {
                        inode.durable.clone()
                    }
                }
            };
            inode.data = survived.clone();
            inode.durable = survived;
        }
        st.crashed = false;
        st.crash_after = None;
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
        Ok(())
    }

    fn open_new(&self, path: &Path, truncate: bool) -> io::Result<Box<dyn WriteFile>> {
        let mut st = self.st();
        let epoch = st.epoch;
        st.tick(epoch)?;
        if !st.parent_exists(path) {
            return Err(not_found(path.parent().unwrap_or(path)));
        }
        let ino = match st.names.get(path).copied() {
            Some(ino) => {
                if truncate {
                    st.inode(ino)?.data.clear();
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
        st.tick(self.epoch)?;
        st.inode(self.ino)?.data.extend_from_slice(buf);
        Ok(())
    }
    fn sync_data(&mut self) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.tick(self.epoch)?;
        let inode = st.inode(self.ino)?;
        inode.durable = inode.data.clone();
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
        st.check(st.epoch)?;
        for ancestor in path.ancestors() {
            if !ancestor.as_os_str().is_empty() {
                st.dirs.insert(ancestor.to_path_buf());
            }
        }
        Ok(())
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let st = self.st();
        st.check(st.epoch)?;
        if !st.dirs.contains(path) {
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
        Ok(st.names.contains_key(path) || st.dirs.contains(path))
    }
    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        let st = self.st();
        st.check(st.epoch)?;
        Ok(st.dirs.contains(path))
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
        st.tick(epoch)?;
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
        st.tick(epoch)?;
        st.ino(path)?;
        st.names.remove(path);
        st.removed.push(path.to_path_buf());
        Ok(())
    }
    fn truncate_and_sync(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut st = self.st();
        let epoch = st.epoch;
        st.tick(epoch)?;
        let ino = st.ino(path)?;
        let inode = st.inode(ino)?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        inode.data.resize(len, 0);
        inode.durable = inode.data.clone();
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.st();
        let epoch = st.epoch;
        st.tick(epoch)?;
        let current: Vec<(PathBuf, u64)> = st
            .names
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        st.durable_names.retain(|p, _| p.parent() != Some(dir));
        st.durable_names.extend(current);
        Ok(())
    }
    fn hard_link(&self, src: &Path, dst: &Path) -> io::Result<()> {
        let mut st = self.st();
        let epoch = st.epoch;
        st.tick(epoch)?;
        let ino = st.ino(src)?;
        if st.names.contains_key(dst) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "link exists"));
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
mod tests {
    use super::*;

    fn write(fs: &SimFs, path: &str, bytes: &[u8], sync: bool) {
        let mut f = fs.create(Path::new(path)).unwrap();
        f.write_all(bytes).unwrap();
        if sync {
            f.sync_data().unwrap();
        }
    }

    #[test]
    fn unsynced_entries_and_data_vanish_on_power_loss() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        write(&fs, "/d/a", b"durable", true);
        fs.sync_dir(Path::new("/d")).unwrap();
        write(&fs, "/d/b", b"not linked", true);
        let mut f = fs.open_append(Path::new("/d/a")).unwrap();
        f.write_all(b" tail").unwrap();
        fs.crash(CrashMode::Drop);
        assert_eq!(fs.read_all(Path::new("/d/a")).unwrap(), b"durable");
        assert!(!fs.exists(Path::new("/d/b")).unwrap());
        assert!(f.write_all(b"x").is_err(), "old handles die with the crash");
    }

    #[test]
    fn keep_mode_keeps_unsynced_bytes_and_armed_crash_fails_calls() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        write(&fs, "/d/a", b"abc", false);
        fs.sync_dir(Path::new("/d")).unwrap();
        fs.crash_after(1);
        assert!(fs.remove_file(Path::new("/d/a")).is_err());
        assert!(fs.has_crashed());
        fs.crash(CrashMode::Keep);
        assert_eq!(fs.read_all(Path::new("/d/a")).unwrap(), b"abc");
    }

    #[test]
    fn torn_mode_keeps_a_prefix() {
        for seed in 0..20 {
            let fs = SimFs::new();
            fs.create_dir_all(Path::new("/d")).unwrap();
            write(&fs, "/d/a", b"0123", true);
            fs.sync_dir(Path::new("/d")).unwrap();
            let mut f = fs.open_append(Path::new("/d/a")).unwrap();
            f.write_all(b"456789").unwrap();
            fs.crash(CrashMode::Torn { seed });
            let data = fs.read_all(Path::new("/d/a")).unwrap();
            assert!(data.len() >= 4 && b"0123456789".starts_with(&data));
        }
    }
}
