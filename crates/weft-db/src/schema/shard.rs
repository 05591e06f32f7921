//! Shards of a class: their names and runtime status.

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};

/// Length of generated shard names (Weaviate: 12 random `[a-zA-Z0-9]`).
pub const SHARD_NAME_LEN: usize = 12;

/// A new random shard name.
pub(crate) fn random_shard_name() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(SHARD_NAME_LEN)
        .map(char::from)
        .collect()
}

/// Status of a shard (`entities/storagestate`). Serialises as Weaviate's name (`READY`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ShardState {
    /// Accepts reads and writes.
    Ready,
    /// Refuses writes (set by the user or by the disk-use monitor).
    #[serde(rename = "READONLY")]
    ReadOnly,
    /// Vector indexing is catching up.
    Indexing,
    /// Being loaded.
    Loading,
    /// Not yet loaded (lazy loading).
    LazyLoading,
    /// Shut down.
    Shutdown,
}

impl ShardState {
    /// Weaviate's name (`READY`, `READONLY`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ShardState::Ready => "READY",
            ShardState::ReadOnly => "READONLY",
            ShardState::Indexing => "INDEXING",
            ShardState::Loading => "LOADING",
            ShardState::LazyLoading => "LAZY_LOADING",
            ShardState::Shutdown => "SHUTDOWN",
        }
    }

    /// Parses a status a user may set with `PUT /v1/schema/{class}/shards/{shard}`:
    /// `READY`, `READONLY`, `INDEXING` or `SHUTDOWN`, in any case.
    pub fn parse_settable(name: &str) -> Option<ShardState> {
        match name.to_ascii_uppercase().as_str() {
            "READY" => Some(ShardState::Ready),
            "READONLY" => Some(ShardState::ReadOnly),
            "INDEXING" => Some(ShardState::Indexing),
            "SHUTDOWN" => Some(ShardState::Shutdown),
            _ => None,
        }
    }
}

impl std::fmt::Display for ShardState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reasons recorded with a status change (Weaviate's wording).
pub mod reason {
    /// The disk-use or memory monitor crossed its read-only threshold.
    pub const RESOURCE_PRESSURE: &str = "resource pressure";
    /// The monitor found usage below the thresholds again.
    pub const BELOW_THRESHOLD: &str = "resource usage below threshold";
    /// `PUT /v1/schema/{class}/shards/{shard}`.
    pub const MANUAL: &str = "manually set by user";
    /// Orderly shutdown.
    pub const SHUTDOWN: &str = "shutdown";
    /// The shard finished loading.
    pub const NOTIFY_READY: &str = "notify ready";
}

/// A tenant's activity status as stored: Weaviate's `HOT` (`ACTIVE`) and `COLD` (`INACTIVE`).
/// `FROZEN` (`OFFLOADED`) needs an offload module weft does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TenantStatus {
    /// Active: its shard serves (opened on first use).
    #[serde(rename = "HOT")]
    Hot,
    /// Inactive: its shard is closed, its files kept.
    #[serde(rename = "COLD")]
    Cold,
}

impl TenantStatus {
    /// Weaviate's stored name (`HOT` / `COLD`).
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Hot => "HOT",
            TenantStatus::Cold => "COLD",
        }
    }

    /// A status as a request gives it (`ACTIVE`/`HOT`, `INACTIVE`/`COLD`; empty = HOT), with
    /// Weaviate's errors for `OFFLOADED`/`FROZEN` and anything else.
    pub fn parse(status: &str, tenant: &str) -> Result<Self, String> {
        match status {
            "" | "HOT" | "ACTIVE" => Ok(TenantStatus::Hot),
            "COLD" | "INACTIVE" => Ok(TenantStatus::Cold),
            "FROZEN" | "OFFLOADED" | "FREEZING" | "UNFREEZING" | "OFFLOADING" | "ONLOADING" => {
                Err("can't offload tenants, because offload-s3 module is not enabled".into())
            }
            other => Err(format!(
                "invalid activity status '{other}' for tenant {tenant:?}"
            )),
        }
    }
}

/// A shard and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardStatus {
    /// Shard name (12 random alphanumerics).
    pub name: String,
    /// Current status.
    pub status: ShardState,
    /// Why the status was last changed (empty for the initial READY).
    pub reason: String,
}

impl ShardStatus {
    /// A READY shard.
    pub fn ready(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: ShardState::Ready,
            reason: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_are_12_alphanumerics_and_differ() {
        let a = random_shard_name();
        let b = random_shard_name();
        assert_eq!(a.len(), SHARD_NAME_LEN);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn serialises_as_weaviate_names() {
        for state in [
            ShardState::Ready,
            ShardState::ReadOnly,
            ShardState::LazyLoading,
        ] {
            let json = serde_json::to_value(state).unwrap();
            assert_eq!(json, serde_json::json!(state.as_str()));
        }
    }

    #[test]
    fn settable_statuses() {
        assert_eq!(
            ShardState::parse_settable("readonly"),
            Some(ShardState::ReadOnly)
        );
        assert_eq!(ShardState::parse_settable("READY"), Some(ShardState::Ready));
        assert_eq!(ShardState::parse_settable("LOADING"), None);
        assert_eq!(ShardState::parse_settable("bogus"), None);
    }
}
