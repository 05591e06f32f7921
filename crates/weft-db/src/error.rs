//! Errors of the database layer, split into what the user did wrong and what went wrong inside.

use std::path::PathBuf;

/// Every error `weft-db` returns. `weft-api` maps each variant to a wire status in one table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The request is invalid; the message is meant for the user as is.
    #[error(transparent)]
    User(#[from] UserError),
    /// The data directory is locked by another process.
    #[error(transparent)]
    Lock(#[from] weft_io::LockError),
    /// A file could not be read or written.
    #[error("{context}: {path}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file failed its magic, version or checksum check.
    #[error("corrupt file {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
}

/// Mistakes in a request. The `Display` text is what the client sees.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// Input failed validation (Weaviate answers 422).
    #[error("{0}")]
    Invalid(String),
    /// The named class does not exist (404).
    #[error("class {0:?} not found")]
    ClassNotFound(String),
    /// A class with this name (compared case-insensitively) exists already (422).
    #[error("{0}")]
    AlreadyExists(String),
}
