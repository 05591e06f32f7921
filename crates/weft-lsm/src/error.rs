//! The crate's one error type.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::Strategy;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the storage engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file operation failed.
    #[error("{op} {path} failed")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A file failed validation. It is left where it is (never deleted); the shard does not open
    /// until an operator moves it aside or restores it.
    #[error(
        "{file} is corrupt at byte offset {offset}: {reason}; the file was left untouched \
         (move it to quarantine/ and restore from a backup)"
    )]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the first damaged structure.
        offset: u64,
        /// Which check failed.
        reason: String,
    },
    /// Files needed for recovery are missing (for example a copy that lost a file).
    #[error("cannot recover {dir}: {reason}")]
    Missing {
        /// The shard directory.
        dir: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// An earlier I/O failure (an fsync, a flush) left the shard in an unknown state: it refuses
    /// writes until it is reopened, which recovers from what is durable.
    #[error("shard is poisoned by an earlier I/O failure and refuses writes; reopen it")]
    Poisoned {
        /// The failure that poisoned the shard.
        #[source]
        cause: Arc<Error>,
    },
    /// The shard was closed.
    #[error("shard is closed")]
    Closed,
    /// The bucket was never declared.
    #[error("unknown bucket {0:?}")]
    UnknownBucket(String),
    /// A bucket name that cannot be used as a directory name.
    #[error(
        "invalid bucket name {0:?}: use 1-128 characters from [A-Za-z0-9_.-], not starting with '.'"
    )]
    InvalidBucketName(String),
    /// An operation that does not fit the bucket's strategy.
    #[error("bucket {bucket:?} has strategy {actual}, the operation needs {expected}")]
    StrategyMismatch {
        /// The bucket.
        bucket: String,
        /// The strategy the operation needs.
        expected: Strategy,
        /// The bucket's strategy.
        actual: Strategy,
    },
    /// A write batch larger than the WAL record cap.
    #[error("write batch of {size} bytes exceeds the {max}-byte record cap")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// An empty write batch.
    #[error("write batch is empty")]
    EmptyBatch,
    /// A setting with an invalid value.
    #[error("invalid value {value:?} for {name}: {reason}")]
    InvalidOption {
        /// Setting name.
        name: String,
        /// The rejected value.
        value: String,
        /// Why.
        reason: &'static str,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    pub(crate) fn corrupt(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        Error::Corrupt {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }
}
