//! The error of a backup request: a message in Weaviate's words and its kind (HTTP status).

pub use weft_api::backup::Failure;

/// A backup or restore failure.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct BackupError {
    /// Decides the HTTP status.
    pub kind: Failure,
    /// What went wrong.
    pub message: String,
}

impl BackupError {
    /// 422: the request cannot be carried out as asked.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self {
            kind: Failure::Unprocessable,
            message: message.into(),
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            kind: Failure::NotFound,
            message: message.into(),
        }
    }

    /// 500: storage or backend trouble.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: Failure::Internal,
            message: message.into(),
        }
    }
}

/// Result of backup operations.
pub type Result<T> = std::result::Result<T, BackupError>;
