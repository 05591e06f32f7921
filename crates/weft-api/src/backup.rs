//! The Backup API's wire shapes (`/v1/backups/...`): request bodies, replies, the status enum,
//! the compression levels, and the HTTP status of each kind of backup error.
//!
//! Config keys are accepted as Weaviate spells them (`Path`, `Bucket`, `CPUPercentage`) and as
//! the Python client sends some of them (`path`, `bucket`): Go matches JSON keys without case.

use serde::{Deserialize, Serialize};

/// A backup's or restore's status, as Weaviate names them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Accepted, the files are being staged.
    Started,
    /// Chunks are being uploaded (or, for a restore, downloaded).
    Transferring,
    /// Every chunk is stored.
    Transferred,
    /// The descriptor (or, for a restore, the schema) is being written.
    Finalizing,
    /// Done.
    Success,
    /// Failed; `error` says why.
    Failed,
    /// A cancel was asked for and is being carried out.
    Cancelling,
    /// Canceled.
    Canceled,
}

impl Status {
    /// Whether the job is over.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Success | Self::Failed | Self::Canceled)
    }

    /// Weaviate's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "STARTED",
            Self::Transferring => "TRANSFERRING",
            Self::Transferred => "TRANSFERRED",
            Self::Finalizing => "FINALIZING",
            Self::Success => "SUCCESS",
            Self::Failed => "FAILED",
            Self::Cancelling => "CANCELLING",
            Self::Canceled => "CANCELED",
        }
    }
}

/// How chunks are compressed (`config.CompressionLevel`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CompressionLevel {
    /// gzip, level 6.
    #[default]
    DefaultCompression,
    /// gzip, level 1.
    BestSpeed,
    /// gzip, level 9.
    BestCompression,
    /// zstd, level 3.
    ZstdDefaultCompression,
    /// zstd, level 1.
    ZstdBestSpeed,
    /// zstd, level 19.
    ZstdBestCompression,
    /// Plain tar.
    NoCompression,
}

impl CompressionLevel {
    /// The `compressionType` recorded in the descriptors: `gzip`, `zstd` or `none`.
    pub fn kind(self) -> &'static str {
        match self {
            Self::DefaultCompression | Self::BestSpeed | Self::BestCompression => "gzip",
            Self::ZstdDefaultCompression | Self::ZstdBestSpeed | Self::ZstdBestCompression => {
                "zstd"
            }
            Self::NoCompression => "none",
        }
    }
}

/// `config` of a create request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BackupConfig {
    /// Override of the backend's endpoint (not supported: must be empty).
    #[serde(rename = "Endpoint", alias = "endpoint", default)]
    pub endpoint: Option<String>,
    /// Override of the backend's bucket (not supported: must be empty).
    #[serde(rename = "Bucket", alias = "bucket", default)]
    pub bucket: Option<String>,
    /// Override of the backend's root path (not supported: must be empty).
    #[serde(rename = "Path", alias = "path", default)]
    pub path: Option<String>,
    /// Share of the cores to use, 1..=80 (0 or absent: 50).
    #[serde(rename = "CPUPercentage", alias = "cpuPercentage", default)]
    pub cpu_percentage: Option<i64>,
    /// Deprecated, ignored.
    #[serde(rename = "ChunkSize", alias = "chunkSize", default)]
    pub chunk_size: Option<i64>,
    /// Compression of the chunks.
    #[serde(rename = "CompressionLevel", alias = "compressionLevel", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<CompressionLevel>))]
    pub compression_level: Option<String>,
}

/// `POST /v1/backups/{backend}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CreateRequest {
    /// The backup id (`^[a-z0-9_-]+$`).
    #[serde(default)]
    pub id: Option<String>,
    /// Classes to back up (default all; `*` and `?` wildcards).
    #[serde(default)]
    pub include: Option<Vec<String>>,
    /// Classes to leave out.
    #[serde(default)]
    pub exclude: Option<Vec<String>>,
    /// Users to include (RBAC is not supported: must be empty).
    #[serde(rename = "includeUsers", default)]
    pub include_users: Option<Vec<String>>,
    /// Roles to include (RBAC is not supported: must be empty).
    #[serde(rename = "includeRoles", default)]
    pub include_roles: Option<Vec<String>>,
    /// The backup this one is incremental to.
    #[serde(default)]
    pub incremental_base_backup_id: Option<String>,
    /// Options.
    #[serde(default)]
    pub config: Option<BackupConfig>,
}

/// `config` of a restore request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RestoreConfig {
    /// Override of the backend's endpoint (not supported: must be empty).
    #[serde(rename = "Endpoint", alias = "endpoint", default)]
    pub endpoint: Option<String>,
    /// Override of the backend's bucket (not supported: must be empty).
    #[serde(rename = "Bucket", alias = "bucket", default)]
    pub bucket: Option<String>,
    /// Override of the backend's root path (not supported: must be empty).
    #[serde(rename = "Path", alias = "path", default)]
    pub path: Option<String>,
    /// Share of the cores to use, 1..=80.
    #[serde(rename = "CPUPercentage", alias = "cpuPercentage", default)]
    pub cpu_percentage: Option<i64>,
    /// `noRestore` or `all` (RBAC is not supported: `all` restores nothing more).
    #[serde(rename = "rolesOptions", default)]
    pub roles_options: Option<String>,
    /// `noRestore` or `all`.
    #[serde(rename = "usersOptions", default)]
    pub users_options: Option<String>,
}

/// `POST /v1/backups/{backend}/{id}/restore`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RestoreRequest {
    /// Classes to restore (default all in the backup).
    #[serde(default)]
    pub include: Option<Vec<String>>,
    /// Classes to leave out.
    #[serde(default)]
    pub exclude: Option<Vec<String>>,
    /// Node renames (single node: the backup's node maps to this one anyway).
    #[serde(default)]
    pub node_mapping: Option<std::collections::BTreeMap<String, String>>,
    /// Aliases are not supported; accepted and ignored.
    #[serde(rename = "overwriteAlias", default)]
    pub overwrite_alias: Option<bool>,
    /// Options.
    #[serde(default)]
    pub config: Option<RestoreConfig>,
}

/// Reply of a create or restore request, and of the status requests.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobReply {
    /// The backup id.
    pub id: String,
    /// The backend's name (`filesystem`, `s3`, …).
    pub backend: String,
    /// Where the backup lives (`<root>/<id>`).
    pub path: String,
    /// Status.
    pub status: Status,
    /// Classes (create and restore replies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// RFC 3339, milliseconds, UTC (create status only).
    #[serde(rename = "startedAt", skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// RFC 3339 (create status only; Weaviate's zero time while running).
    #[serde(rename = "completedAt", skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Size before compression in GiB (create status only, omitted when 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<f64>,
    /// The base of an incremental backup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental_base_backup_id: Option<String>,
}

/// One item of `GET /v1/backups/{backend}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListItem {
    /// The backup id.
    pub id: String,
    /// Its classes.
    pub classes: Vec<String>,
    /// Its status.
    pub status: Status,
    /// RFC 3339.
    #[serde(rename = "startedAt")]
    pub started_at: String,
    /// RFC 3339 (zero time if not completed).
    #[serde(rename = "completedAt")]
    pub completed_at: String,
    /// GiB before compression, omitted when 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<f64>,
    /// The base of an incremental backup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental_base_backup_id: Option<String>,
}

/// Weaviate's zero time, reported as `completedAt` while a backup runs.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

/// What kind of error a backup request met: decides the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The request cannot be carried out as asked (422).
    Unprocessable,
    /// The backup (or its restore) does not exist (404).
    NotFound,
    /// Storage or backend trouble (500).
    Internal,
}

impl Failure {
    /// The row of the error-code table (422, 404, 500).
    pub fn code(self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            Self::Unprocessable => ErrorCode::InvalidInput,
            Self::NotFound => ErrorCode::BackupNotFound,
            Self::Internal => ErrorCode::Io,
        }
    }
}

/// Bytes to the `size` field: GiB as a float, `None` for 0.
pub fn size_gib(bytes: u64) -> Option<f64> {
    (bytes > 0).then(|| bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_are_accepted_as_weaviate_and_the_python_client_spell_them() {
        let r: CreateRequest = serde_json::from_value(serde_json::json!({
            "id": "b1", "include": ["A"], "incremental_base_backup_id": null,
            "config": {"CPUPercentage": 40, "CompressionLevel": "ZstdBestSpeed", "path": "/x"}
        }))
        .unwrap();
        let c = r.config.unwrap();
        assert_eq!(c.cpu_percentage, Some(40));
        assert_eq!(c.path.as_deref(), Some("/x"));
        assert_eq!(c.compression_level.as_deref(), Some("ZstdBestSpeed"));
        assert_eq!(r.incremental_base_backup_id, None);
    }

    #[test]
    fn replies_use_weaviates_field_names() {
        let reply = JobReply {
            id: "b".into(),
            backend: "filesystem".into(),
            path: "/b/b".into(),
            status: Status::Started,
            classes: Some(vec!["A".into()]),
            error: None,
            started_at: None,
            completed_at: None,
            size: size_gib(0),
            incremental_base_backup_id: None,
        };
        assert_eq!(
            serde_json::to_value(&reply).unwrap(),
            serde_json::json!({"id":"b","backend":"filesystem","path":"/b/b","status":"STARTED","classes":["A"]})
        );
    }
}
