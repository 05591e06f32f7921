//! The schema: classes, properties, vector and inverted index settings, shards.
//!
//! PLACEHOLDER: being written (see the schema work item). Types here are the contract with
//! `weft-api` and `weft-server`.

mod catalog;

use std::collections::BTreeMap;

pub use catalog::Catalog;

/// Defaults applied to new classes, from the server's configuration.
#[derive(Debug, Clone)]
pub struct SchemaDefaults {
    /// `DEFAULT_VECTORIZER_MODULE` (`none`).
    pub vectorizer: String,
}

impl Default for SchemaDefaults {
    fn default() -> Self {
        Self { vectorizer: "none".to_string() }
    }
}

/// A class (collection).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassDef {
    pub name: String,
    pub properties: Vec<PropertyDef>,
    pub extra: BTreeMap<String, String>,
}

/// A property of a class.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyDef {
    pub name: String,
    pub data_type: Vec<String>,
}

/// A shard and its status.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardStatus {
    pub name: String,
    pub status: String,
}
