//! Class / property / shard JSON of `/v1/schema`, converted to and from `weft-db` types.
//!
//! Input: unknown keys are ignored (the Python client sends stray keys such as
//! `skip_vectorization` on properties); a known key with the wrong JSON type is a 422 naming
//! the key; unset options get Weaviate's defaults, except the ones that depend on the server's
//! configuration (default vectorizer and tokenization), which the catalog fills on create.
//!
//! Output: every key the Python client v4 reads from `GET /v1/schema/{class}` is present.
//!
//! ```
//! let class = weft_api::schema::class_from_json(serde_json::json!({"class": "Article"})).unwrap();
//! let body = weft_api::schema::class_to_json(&class);
//! assert_eq!(body["invertedIndexConfig"]["bm25"]["k1"], 1.2);
//! ```

mod class;
mod fields;
mod property;
mod vector_index;

#[cfg(test)]
mod tests;

use serde_json::{Value, json};
use weft_db::DbError;
use weft_db::error::UserError;
use weft_db::schema::{ClassDef, PropertyDef, ShardState, ShardStatus};

/// Parses a `Class` body (`POST /v1/schema`, `PUT /v1/schema/{class}`).
pub fn class_from_json(body: Value) -> Result<ClassDef, DbError> {
    Ok(class::class_from_value(&body)?)
}

/// Renders a stored class with every default filled.
pub fn class_to_json(class: &ClassDef) -> Value {
    class::class_value(class)
}

/// Renders `GET /v1/schema`: `{"classes":[...]}`.
pub fn schema_to_json(classes: &[ClassDef]) -> Value {
    json!({ "classes": classes.iter().map(class_to_json).collect::<Vec<_>>() })
}

/// Parses a `Property` body (`POST /v1/schema/{class}/properties`).
pub fn property_from_json(body: Value) -> Result<PropertyDef, DbError> {
    Ok(property::property_from_value(&body)?)
}

/// Renders a property.
pub fn property_to_json(p: &PropertyDef) -> Value {
    property::property_value(p)
}

/// Renders `GET /v1/schema/{class}/shards`.
pub fn shards_to_json(shards: &[ShardStatus], node_name: &str) -> Value {
    let items = shards
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "status": s.status.as_str(),
                "per_node_status": { node_name: s.status.as_str() },
                "vectorQueueSize": 0,
            })
        })
        .collect();
    Value::Array(items)
}

/// Parses the body of `PUT /v1/schema/{class}/shards/{shard}`: `{"status":"READONLY"}`
/// (case-insensitive; `READY`, `READONLY`, `INDEXING`, `SHUTDOWN`).
pub fn shard_status_from_json(body: &Value) -> Result<ShardState, DbError> {
    let status = body
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    ShardState::parse_settable(status)
        .ok_or_else(|| UserError::Invalid(format!("invalid storage status: {status:?}")).into())
}

/// Renders the reply of `PUT /v1/schema/{class}/shards/{shard}`: `{"status":"READONLY"}`.
pub fn shard_status_to_json(status: ShardState) -> Value {
    json!({ "status": status.as_str() })
}
