//! The file-system seam: every file operation of the storage engine goes through [`Vfs`], so
//! tests can swap the real file system ([`StdFs`]) for a simulated one that injects crashes
//! ([`crate::simfs::SimFs`]).
//!
//! The trait is deliberately small: append-only writers, positional readers, whole-directory
//! listings, rename, remove, truncate, hard link and the two fsyncs durability rests on
//! (`sync_data` of a file, `sync_dir` of a directory).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::DirLock;

/// A file opened for appending.
pub trait WriteFile: Send + fmt::Debug {
    /// Appends all of `buf` at the end of the file.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes the file's data durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
}

/// A file opened for positional reads; shared between threads.
pub trait ReadFile: Send + Sync + fmt::Debug {
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Current length of the file.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// A held lock on a directory; dropping it releases the lock.
pub trait DirGuard: Send + Sync + fmt::Debug {}

impl DirGuard for DirLock {}

#[derive(Debug)]
struct NoLock;
impl DirGuard for NoLock {}

/// The file operations the storage engine needs.
pub trait Vfs: Send + Sync + fmt::Debug {
    /// Creates `path` and its parents. Like `mkdir(2)`, the new entries are **not** durable
    /// until their parent directories are synced: use [`create_dir_durable`].
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries of a directory (files and directories), sorted.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Whether `path` exists (file or directory).
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> io::Result<bool>;
    /// Creates (or truncates) a file for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>>;
    /// Opens an existing file for appending at its end.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WriteFile>>;
    /// Opens an existing file for positional reads.
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>>;
    /// Reads a whole file.
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Renames `from` to `to`, replacing `to`. Durable after [`Vfs::sync_dir`] of both parents.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Truncates a file to `len` bytes and makes the new length durable.
    fn truncate_and_sync(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Creates a hard link `dst` to `src`.
    fn hard_link(&self, src: &Path, dst: &Path) -> io::Result<()>;
    /// Length of a file.
    fn file_len(&self, path: &Path) -> io::Result<u64>;
    /// Takes an exclusive lock on `dir` for the life of the returned guard (a no-op where the
    /// implementation has no other processes to exclude).
    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirGuard>>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

#[derive(Debug)]
struct StdWriteFile(File);

impl WriteFile for StdWriteFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

#[derive(Debug)]
struct StdReadFile(File);

impl ReadFile for StdReadFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(&self.0, buf, offset)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

impl Vfs for StdFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }
    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        Ok(path.is_dir())
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(StdWriteFile(file)))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Box::new(StdWriteFile(file)))
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadFile>> {
        Ok(Box::new(StdReadFile(File::open(path)?)))
    }
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn truncate_and_sync(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        crate::sync_dir(dir)
    }
    fn hard_link(&self, src: &Path, dst: &Path) -> io::Result<()> {
        fs::hard_link(src, dst)
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }
    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirGuard>> {
        match DirLock::acquire(dir) {
            Ok(lock) => Ok(Box::new(lock)),
            Err(err) => Err(io::Error::new(io::ErrorKind::WouldBlock, err)),
        }
    }
}

/// Creates `path` and its missing ancestors so that they survive a power loss: every directory
/// this call creates is fsynced into its parent, top down, and so is `path` itself even when it
/// existed (an earlier, crashed call may have created it without the sync).
///
/// An earlier crashed call may also have created ancestors that exist now but were never
/// synced; without a known durable root this cannot be told from the outside, so the entries of
/// the next two existing ancestors are synced too, best effort (a directory above the data path
/// may not be ours to open). The engine's layout is at most two levels below the data path.
pub fn create_dir_durable(vfs: &dyn Vfs, path: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    for ancestor in path.ancestors() {
        if ancestor.as_os_str().is_empty() || vfs.exists(ancestor)? {
            break;
        }
        missing.push(ancestor);
    }
    vfs.create_dir_all(path)?;
    let top = missing.last().copied().unwrap_or(path);
    if missing.is_empty() {
        missing.push(path);
    }
    for dir in missing.into_iter().rev() {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            vfs.sync_dir(parent)?;
        }
    }
    let above = top
        .ancestors()
        .skip(1)
        .filter(|p| !p.as_os_str().is_empty());
    for dir in above.take(2) {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = vfs.sync_dir(parent);
        }
    }
    Ok(())
}

/// A guard for implementations without inter-process locking.
pub fn no_lock() -> Box<dyn DirGuard> {
    Box::new(NoLock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_fs_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let fs = StdFs;
        let path = dir.path().join("a");
        let mut f = fs.create(&path).unwrap();
        f.write_all(b"hello ").unwrap();
        f.sync_data().unwrap();
        drop(f);
        let mut f = fs.open_append(&path).unwrap();
        f.write_all(b"world").unwrap();
        drop(f);
        let r = fs.open_read(&path).unwrap();
        let mut buf = [0u8; 5];
        r.read_exact_at(&mut buf, 6).unwrap();
        assert_eq!(&buf, b"world");
        fs.truncate_and_sync(&path, 5).unwrap();
        assert_eq!(fs.read_all(&path).unwrap(), b"hello");
        assert_eq!(fs.list_dir(dir.path()).unwrap(), vec!["a".to_string()]);
        let _lock = fs.lock_dir(dir.path()).unwrap();
        assert!(fs.lock_dir(dir.path()).is_err());
    }
}
