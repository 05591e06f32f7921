//! Errors of the database layer, split into what the user did wrong and what went wrong inside.

use std::path::PathBuf;

/// Every error `weft-db` returns. `weft-api` maps each variant to a wire status in one table.
#[derive(Debug, thiserror::Error)]
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
    /// A file failed its magic, version, checksum or payload check.
    #[error("corrupt file {path}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: Corruption,
    },
    /// An earlier write failed half-way; the database refuses further changes until it is
    /// reopened (the on-disk state is only known after a fresh load).
    #[error("database is poisoned by an earlier write failure; restart the server")]
    Poisoned,
    /// The storage engine failed (I/O, a poisoned shard, a corrupt file).
    #[error("shard {shard:?} of class {class:?}")]
    Storage {
        class: String,
        shard: String,
        #[source]
        source: weft_lsm::Error,
    },
    /// A stored object record does not decode.
    #[error("object {key} in shard {shard:?} of class {class:?} does not decode")]
    Record {
        class: String,
        shard: String,
        key: String,
        #[source]
        source: crate::object::record::RecordError,
    },
    /// One failure shared by every object of a batch.
    #[error(transparent)]
    Batch(std::sync::Arc<DbError>),
    /// The shard of the class could not be opened at startup; the rest of the database serves.
    #[error("shard {shard:?} of class {class:?} could not be opened and is unavailable")]
    ShardUnavailable {
        class: String,
        shard: String,
        #[source]
        cause: std::sync::Arc<DbError>,
    },
    /// The shard refuses writes (status READONLY).
    #[error("store is read-only due to: {reason}")]
    ReadOnly { reason: String },
}

/// What is wrong with a corrupt file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Corruption {
    /// Magic, length or checksum mismatch.
    #[error(transparent)]
    Envelope(#[from] weft_io::envelope::EnvelopeError),
    /// The file was written by a newer (or unknown) format version.
    #[error("unsupported format version {found} (this build reads {supported:?})")]
    UnsupportedVersion {
        found: u32,
        supported: &'static [u32],
    },
    /// The checksummed payload does not decode.
    #[error("payload does not decode")]
    Payload(#[source] serde_json::Error),
    /// The payload decodes but breaks an invariant (e.g. two classes with one name).
    #[error("{0}")]
    Inconsistent(String),
}

/// Mistakes in a request. The `Display` text is what the client sees.
#[derive(Debug, thiserror::Error)]
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
    /// The class has no shard of that name (404).
    #[error("shard {shard:?} of class {class:?} not found")]
    ShardNotFound { class: String, shard: String },
    /// No object with this id in the class (404, no body).
    #[error("object {id} of class {class:?} not found")]
    ObjectNotFound { class: String, id: uuid::Uuid },
    /// `POST /v1/objects` with an id that exists (422).
    #[error("id '{0}' already exists")]
    ObjectExists(uuid::Uuid),
}

/// The error and its causes, joined with ": " (a cause whose text is already included is
/// skipped). Used for log lines here and for wire messages in `weft-api`.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
