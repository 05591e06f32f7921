//! A class (collection) and its class-wide settings: sharding, replication, multi-tenancy.

use serde::{Deserialize, Serialize};

use super::inverted::InvertedIndexConfig;
use super::property::PropertyDef;
use super::vector_index::VectorSetup;

/// A class (collection) definition.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClassDef {
    /// Name (first letter upper-cased when validated).
    pub name: String,
    /// Free text; empty when not given.
    pub description: String,
    /// Properties, in declaration order.
    pub properties: Vec<PropertyDef>,
    /// Vectorizer and vector index (legacy single vector or named vectors).
    pub vectors: VectorSetup,
    /// Opaque class-level module settings (`moduleConfig`), kept as given.
    pub module_config: Option<serde_json::Value>,
    /// `invertedIndexConfig`
    pub inverted_index: InvertedIndexConfig,
    /// `shardingConfig`
    pub sharding: ShardingConfig,
    /// `replicationConfig`
    pub replication: ReplicationConfig,
    /// `multiTenancyConfig`
    pub multi_tenancy: MultiTenancyConfig,
}

impl ClassDef {
    /// A class with no properties and every setting at its default.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// The property named `name` (compared case-insensitively, as Weaviate does).
    pub fn property(&self, name: &str) -> Option<&PropertyDef> {
        self.properties
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }
}

/// The configurable part of `shardingConfig`. On a single node there is one physical shard,
/// so the other wire keys (`actualCount`, `desiredVirtualCount`, …) are derived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardingConfig {
    /// `virtualPerPhysical` (128)
    pub virtual_per_physical: u32,
    /// `desiredCount` (1; at most the number of nodes)
    pub desired_count: u32,
}

impl Default for ShardingConfig {
    fn default() -> Self {
        Self {
            virtual_per_physical: 128,
            desired_count: 1,
        }
    }
}

impl ShardingConfig {
    /// `key`: objects are placed by id.
    pub const KEY: &'static str = "_id";
    /// `strategy`
    pub const STRATEGY: &'static str = "hash";
    /// `function`
    pub const FUNCTION: &'static str = "murmur3";

    /// `actualCount`: physical shards that exist.
    pub fn actual_count(&self) -> u32 {
        self.desired_count
    }

    /// `desiredVirtualCount` (= `actualVirtualCount`).
    pub fn virtual_count(&self) -> u32 {
        self.desired_count.saturating_mul(self.virtual_per_physical)
    }
}

/// How replicas resolve a delete that conflicts with a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionStrategy {
    /// `NoAutomatedResolution`
    NoAutomatedResolution,
    /// `DeleteOnConflict`
    DeleteOnConflict,
    /// `TimeBasedResolution` (default for new classes)
    TimeBasedResolution,
}

impl DeletionStrategy {
    /// Weaviate's name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionStrategy::NoAutomatedResolution => "NoAutomatedResolution",
            DeletionStrategy::DeleteOnConflict => "DeleteOnConflict",
            DeletionStrategy::TimeBasedResolution => "TimeBasedResolution",
        }
    }

    /// Parses Weaviate's name.
    pub fn parse(name: &str) -> Option<DeletionStrategy> {
        [
            DeletionStrategy::NoAutomatedResolution,
            DeletionStrategy::DeleteOnConflict,
            DeletionStrategy::TimeBasedResolution,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// `replicationConfig`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationConfig {
    /// `factor` (1; at most the number of nodes)
    pub factor: u32,
    /// `asyncEnabled` (false)
    pub async_enabled: bool,
    /// `deletionStrategy`
    pub deletion_strategy: DeletionStrategy,
    /// `asyncConfig`: the async-replication tuning a user set, by Weaviate's field name
    /// (`frequency`, `hashtreeHeight`, …); empty when none (Weaviate then omits it). A single
    /// node has nothing to replicate: kept and returned, not acted on.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub async_config: std::collections::BTreeMap<String, i64>,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            factor: 1,
            async_enabled: false,
            deletion_strategy: DeletionStrategy::TimeBasedResolution,
            async_config: std::collections::BTreeMap::new(),
        }
    }
}

/// `multiTenancyConfig` (all false by default).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MultiTenancyConfig {
    /// `enabled`
    pub enabled: bool,
    /// `autoTenantCreation`
    pub auto_tenant_creation: bool,
    /// `autoTenantActivation`
    pub auto_tenant_activation: bool,
}
