//! The error-code table: each domain error gets a stable code, an HTTP status and a gRPC code.
//!
//! Handlers never look at message text; they call [`WireError::from_db`] and send the result.

use serde_json::{Value, json};
use weft_db::DbError;
use weft_db::error::UserError;

/// gRPC status codes used by weft (numbers from the gRPC spec), kept here so this crate does not
/// depend on tonic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrpcCode {
    /// 2: Weaviate's default for plain errors.
    Unknown = 2,
    /// 3
    InvalidArgument = 3,
    /// 5
    NotFound = 5,
    /// 6
    AlreadyExists = 6,
    /// 13
    Internal = 13,
    /// 14: only for "not ready yet" — clients retry it with back-off.
    Unavailable = 14,
}

/// Stable names of the error kinds, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Request failed validation.
    InvalidInput,
    /// The class does not exist.
    ClassNotFound,
    /// The class exists already.
    AlreadyExists,
    /// Data directory locked by another process.
    DataDirLocked,
    /// File I/O failed.
    Io,
    /// A file on disk failed its checks.
    CorruptFile,
    /// The request body is not valid JSON (400).
    MalformedBody,
    /// The database is still loading (503).
    NotReady,
    /// No such object (404 without a body).
    ObjectNotFound,
    /// The storage engine failed.
    Storage,
    /// The shard is READONLY.
    ReadOnly,
    /// The class has no shard of that name (404).
    ShardNotFound,
    /// An earlier write failed; the database refuses changes until restarted (500).
    Poisoned,
    /// No such backup, or no restore of it (404 with a body).
    BackupNotFound,
}

impl ErrorCode {
    /// HTTP status, gRPC code and whether the HTTP reply carries a body (Weaviate sends some
    /// 404s without one).
    pub fn table(self) -> (u16, GrpcCode, bool) {
        match self {
            ErrorCode::InvalidInput => (422, GrpcCode::InvalidArgument, true),
            ErrorCode::ClassNotFound => (404, GrpcCode::NotFound, true),
            ErrorCode::AlreadyExists => (422, GrpcCode::AlreadyExists, true),
            ErrorCode::DataDirLocked => (500, GrpcCode::Internal, true),
            ErrorCode::Io => (500, GrpcCode::Internal, true),
            ErrorCode::CorruptFile => (500, GrpcCode::Internal, true),
            ErrorCode::ShardNotFound => (404, GrpcCode::NotFound, true),
            ErrorCode::BackupNotFound => (404, GrpcCode::NotFound, true),
            ErrorCode::Poisoned => (500, GrpcCode::Internal, true),
            ErrorCode::MalformedBody => (400, GrpcCode::InvalidArgument, true),
            ErrorCode::NotReady => (503, GrpcCode::Unavailable, true),
            ErrorCode::ObjectNotFound => (404, GrpcCode::NotFound, false),
            ErrorCode::Storage => (500, GrpcCode::Internal, true),
            // Weaviate answers 500 (not 422) for writes to a READONLY shard, and plain errors
            // (Unknown) on gRPC — never UNAVAILABLE, which clients retry for a minute.
            ErrorCode::ReadOnly => (500, GrpcCode::Unknown, true),
        }
    }
}

/// An error ready to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct WireError {
    /// Kind of the error.
    pub code: ErrorCode,
    /// HTTP status.
    pub status: u16,
    /// gRPC status code.
    pub grpc: GrpcCode,
    /// Whether the HTTP reply has a body.
    pub with_body: bool,
    /// The user-facing message (the full cause chain).
    pub message: String,
}

impl WireError {
    /// An error of kind `code` with `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let (status, grpc, with_body) = code.table();
        Self {
            code,
            status,
            grpc,
            with_body,
            message: message.into(),
        }
    }

    /// Maps a domain error through the table.
    pub fn from_db(err: &DbError) -> Self {
        if let DbError::Batch(inner) = err {
            return Self::from_db(inner);
        }
        let code = match err {
            DbError::User(user) => match user {
                UserError::Invalid(_) => ErrorCode::InvalidInput,
                UserError::ClassNotFound(_) => ErrorCode::ClassNotFound,
                UserError::AlreadyExists(_) => ErrorCode::AlreadyExists,
                UserError::ShardNotFound { .. } => ErrorCode::ShardNotFound,
                UserError::ObjectNotFound { .. } => ErrorCode::ObjectNotFound,
                UserError::ObjectExists(_) => ErrorCode::InvalidInput,
            },
            DbError::Lock(_) => ErrorCode::DataDirLocked,
            DbError::Io { .. } => ErrorCode::Io,
            DbError::Corrupt { .. } => ErrorCode::CorruptFile,
            DbError::Poisoned => ErrorCode::Poisoned,
            DbError::Storage { .. } | DbError::ShardUnavailable { .. } => ErrorCode::Storage,
            DbError::Record { .. } => ErrorCode::CorruptFile,
            DbError::ReadOnly { .. } => ErrorCode::ReadOnly,
            DbError::Batch(_) => ErrorCode::Io,
        };
        Self::new(code, chain(err))
    }

    /// Weaviate's error body for this error.
    pub fn body(&self) -> Value {
        error_body(&self.message)
    }
}

/// `{"error":[{"message": msg}]}`.
pub fn error_body(message: &str) -> Value {
    json!({ "error": [ { "message": message } ] })
}

/// The error and its causes, joined with ": ".
pub use weft_db::error::chain;
