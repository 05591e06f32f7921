//! The `LOCK` file that keeps two processes off one data directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

/// Name of the lock file inside the data directory.
pub const LOCK_FILE: &str = "LOCK";

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another live process holds the lock.
    #[error(
        "data directory {path} is in use by another weft process ({holder}); \
         stop it first or point PERSISTENCE_DATA_PATH elsewhere"
    )]
    Held { path: PathBuf, holder: String },
    /// The lock file could not be created or locked.
    #[error("cannot lock data directory {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// An exclusive advisory lock (`flock`) on `<dir>/LOCK`, held for the life of the value.
///
/// The kernel drops the lock when the process dies, so a `kill -9` never leaves the directory
/// locked; the file itself may stay behind and is reused by the next start. An orderly drop
/// removes the file.
#[derive(Debug)]
pub struct DirLock {
    file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock on `dir`, creating the directory and the lock file if needed.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(dir).map_err(io_err)?;
        let mut attempts = 0;
        loop {
            let file = open_lock_file(&path).map_err(io_err)?;
            if let Err(errno) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
                if errno == rustix::io::Errno::WOULDBLOCK {
                    let holder = fs::read_to_string(&path)
                        .ok()
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| "unknown pid".to_string());
                    return Err(LockError::Held { path, holder });
                }
                return Err(io_err(errno.into()));
            }
            // The holder we waited for removes LOCK before it unlocks: a lock taken on the
            // file it removed locks nothing (a third process may hold the new LOCK). Only a
            // lock on the inode the path names now counts.
            if is_current(&file, &path).map_err(io_err)? {
                return Self::publish(file, path);
            }
            attempts += 1;
            if attempts >= 100 {
                return Err(io_err(io::Error::other("LOCK keeps being replaced")));
            }
        }
    }

    fn publish(mut file: File, path: PathBuf) -> Result<Self, LockError> {
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        file.set_len(0).map_err(io_err)?;
        writeln!(file, "pid {}", std::process::id()).map_err(io_err)?;
        Ok(Self { file, path })
    }

    /// Path of the lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Whether `file` is the inode `path` names now.
fn is_current(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = file.metadata()?;
    match fs::metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Remove first, then unlock: a process waiting for the lock never sees a file we delete
        // after it took the lock.
        let _ = fs::remove_file(&self.path);
        let _ = flock(&self.file, FlockOperation::Unlock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, LockError::Held { .. }), "{err}");
        assert!(err.to_string().contains("in use by another weft process"));
        drop(first);
        assert!(!dir.path().join(LOCK_FILE).exists());
        let _again = DirLock::acquire(dir.path()).unwrap();
    }

    /// The race: B opens LOCK while A holds it, A removes the file and unlocks, C creates a
    /// new LOCK and locks it, B's flock on the removed inode now succeeds. B must see that
    /// its inode is not the current one.
    #[test]
    fn a_lock_on_a_removed_lock_file_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        let a = DirLock::acquire(dir.path()).unwrap();
        let stale = open_lock_file(&path).unwrap();
        assert!(is_current(&stale, &path).unwrap());
        drop(a);
        let _c = DirLock::acquire(dir.path()).unwrap();
        flock(&stale, FlockOperation::NonBlockingLockExclusive).unwrap();
        assert!(!is_current(&stale, &path).unwrap());
        let err = DirLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, LockError::Held { .. }), "{err}");
    }
}
