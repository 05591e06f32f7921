//! PLACEHOLDER: class / property JSON conversion, being written (see the schema work item).

use serde_json::{Value, json};
use weft_db::DbError;
use weft_db::error::UserError;
use weft_db::schema::{ClassDef, PropertyDef, ShardStatus};

/// Parses a `Class` body (unknown keys ignored).
pub fn class_from_json(body: Value) -> Result<ClassDef, DbError> {
    let name = body
        .get("class")
        .and_then(Value::as_str)
        .ok_or_else(|| UserError::Invalid("class name is required".into()))?;
    Ok(ClassDef { name: name.to_string(), properties: Vec::new(), extra: Default::default() })
}

/// Renders a stored class with every default filled.
pub fn class_to_json(class: &ClassDef) -> Value {
    json!({ "class": class.name, "properties": [] })
}

/// Parses a `Property` body.
pub fn property_from_json(body: Value) -> Result<PropertyDef, DbError> {
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| UserError::Invalid("property name is required".into()))?;
    Ok(PropertyDef { name: name.to_string(), data_type: vec![] })
}

/// Renders a property.
pub fn property_to_json(p: &PropertyDef) -> Value {
    json!({ "name": p.name, "dataType": p.data_type })
}

/// Renders `GET /v1/schema/{class}/shards`.
pub fn shards_to_json(shards: &[ShardStatus], node: &str) -> Value {
    Value::Array(
        shards
            .iter()
            .map(|s| {
                json!({"name": s.name, "status": s.status, "per_node_status": {node: s.status}, "vectorQueueSize": 0})
            })
            .collect(),
    )
}
