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
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
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
        file.set_len(0).map_err(io_err)?;
        writeln!(file, "pid {}", std::process::id()).map_err(io_err)?;
        Ok(Self { file, path })
    }

    /// Path of the lock file.
    pub fn path(&self) -> &Path {
        &self.path
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
}
