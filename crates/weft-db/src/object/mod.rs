//! Objects: what a write brings in ([`ObjectInput`]), what is stored ([`StoredObject`]), and
//! the pieces that turn one into the other — validation and coercion against the schema
//! ([`coerce`]), autoschema inference, the stored record's bytes ([`record`]) and the keys of
//! the filterable inverted index ([`index_keys`]).

pub mod beacon;
pub mod coerce;
pub mod index_keys;
pub mod record;

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use uuid::Uuid;

/// The vector name of a class's legacy (unnamed) vector.
pub const LEGACY_VECTOR: &str = "";

/// An object as a client sends it, before validation. Property values are still raw JSON
/// (gRPC input is converted to JSON values first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectInput {
    /// Class name as given (first letter may be lower-case).
    pub class: String,
    /// Id; generated (v4) when absent.
    pub id: Option<Uuid>,
    /// Properties.
    pub properties: Map<String, Value>,
    /// The legacy single vector (`vector`).
    pub vector: Option<Vec<f32>>,
    /// Named vectors (`vectors`).
    pub vectors: BTreeMap<String, Vec<f32>>,
    /// The tenant (multi-tenant classes only).
    pub tenant: Option<String>,
}

/// A stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    /// Class name as stored.
    pub class: String,
    /// Id.
    pub id: Uuid,
    /// Internal dense id, used by the inverted and vector indexes.
    pub doc_id: u64,
    /// Validated, coerced properties.
    pub properties: Map<String, Value>,
    /// Vectors by name ([`LEGACY_VECTOR`] for the unnamed one).
    pub vectors: BTreeMap<String, Vec<f32>>,
    /// Creation time, unix milliseconds.
    pub created_ms: i64,
    /// Last update time, unix milliseconds.
    pub updated_ms: i64,
}

/// How a write treats an existing object with the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// `POST /v1/objects`: fail if the id exists.
    Insert,
    /// Batches: create or overwrite.
    Upsert,
    /// `PUT`: overwrite; the object must exist.
    Replace,
    /// `PATCH`: merge properties (and vectors) into the existing object, which must exist.
    Merge,
}

/// A page of `GET /v1/objects`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListRequest {
    /// Class to list; all classes when `None`.
    pub class: Option<String>,
    /// Objects to skip (not allowed together with `after`).
    pub offset: u64,
    /// Objects to return.
    pub limit: u64,
    /// Cursor: return objects with ids after this one (requires `class`).
    pub after: Option<Uuid>,
    /// The tenant (multi-tenant classes).
    pub tenant: Option<String>,
}

/// Current time in unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}
