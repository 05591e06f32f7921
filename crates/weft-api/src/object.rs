//! Object JSON (`Object`, batch request and result items) in and out.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use uuid::Uuid;
use weft_db::DbError;
use weft_db::error::UserError;
use weft_db::object::{LEGACY_VECTOR, ObjectInput, StoredObject};

fn invalid(msg: impl Into<String>) -> DbError {
    UserError::Invalid(msg.into()).into()
}

/// Parses an id as Weaviate does (any case, hyphenated or simple).
pub fn parse_id(s: &str) -> Result<Uuid, DbError> {
    Uuid::parse_str(s).map_err(|_| invalid(format!("id {s:?} is not a valid uuid")))
}

fn vector(value: &Value, what: &str) -> Result<Vec<f32>, DbError> {
    let Value::Array(items) = value else {
        return Err(invalid(format!("{what} must be an array of numbers")));
    };
    items
        .iter()
        .map(|x| match x {
            Value::Number(n) => n
                .as_f64()
                .map(|f| f as f32)
                .ok_or_else(|| invalid(format!("{what} has a non-numeric entry"))),
            Value::Array(_) => Err(invalid(format!(
                "{what}: multi-vectors (arrays of arrays) are not supported by weft yet"
            ))),
            other => Err(invalid(format!(
                "{what} must contain only numbers, found {other}"
            ))),
        })
        .collect()
}

/// Parses an `Object` body. Unknown keys are ignored; known keys of the wrong type are 422.
pub fn object_from_json(body: &Value) -> Result<ObjectInput, DbError> {
    let Value::Object(obj) = body else {
        return Err(invalid("an object must be a JSON object"));
    };
    let string = |key: &str| -> Result<Option<String>, DbError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(invalid(format!("{key} must be a string, got {other}"))),
        }
    };
    let id = string("id")?.map(|s| parse_id(&s)).transpose()?;
    let properties = match obj.get("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(other) => {
            return Err(invalid(format!(
                "properties must be an object, got {other}"
            )));
        }
    };
    let legacy = match obj.get("vector") {
        None | Some(Value::Null) => None,
        Some(v) => Some(vector(v, "vector")?),
    };
    let mut vectors = BTreeMap::new();
    match obj.get("vectors") {
        None | Some(Value::Null) => {}
        Some(Value::Object(named)) => {
            for (name, v) in named {
                vectors.insert(name.clone(), vector(v, &format!("vectors.{name}"))?);
            }
        }
        Some(other) => return Err(invalid(format!("vectors must be an object, got {other}"))),
    }
    Ok(ObjectInput {
        class: string("class")?.unwrap_or_default(),
        id,
        properties,
        vector: legacy,
        vectors,
        tenant: string("tenant")?,
    })
}

/// Renders a stored object; vectors only when `with_vector` (REST `include=vector`).
pub fn object_to_json(obj: &StoredObject, with_vector: bool) -> Value {
    let mut out = json!({
        "class": obj.class,
        "id": obj.id.hyphenated().to_string(),
        "properties": obj.properties,
        "creationTimeUnix": obj.created_ms,
        "lastUpdateTimeUnix": obj.updated_ms,
    });
    if with_vector {
        let to_json = |v: &Vec<f32>| Value::Array(v.iter().map(|x| json!(x)).collect());
        if let Some(v) = obj.vectors.get(LEGACY_VECTOR) {
            out["vector"] = to_json(v);
        }
        let named: Map<String, Value> = obj
            .vectors
            .iter()
            .filter(|(name, _)| !name.is_empty())
            .map(|(name, v)| (name.clone(), to_json(v)))
            .collect();
        if !named.is_empty() {
            out["vectors"] = Value::Object(named);
        }
    }
    out
}

/// One element of a batch: the JSON as sent and its parse result.
pub type BatchElement = (Value, Result<ObjectInput, DbError>);

/// Parses `POST /v1/batch/objects`: `{"objects": [...], "fields": [...]}`. Each element is
/// parsed separately so one bad object fails alone.
pub fn batch_from_json(body: &Value) -> Result<Vec<BatchElement>, DbError> {
    let objects = match body.get("objects") {
        Some(Value::Array(items)) => items,
        Some(other) => return Err(invalid(format!("objects must be an array, got {other}"))),
        None => return Err(invalid("objects is required")),
    };
    Ok(objects
        .iter()
        .map(|o| (o.clone(), object_from_json(o)))
        .collect())
}

/// One item of the batch reply: the object as stored, or as sent, with its `result`.
pub fn batch_item_to_json(sent: &Value, result: &Result<StoredObject, DbError>) -> Value {
    match result {
        Ok(obj) => {
            let mut out = object_to_json(obj, false);
            if let Some(t) = sent
                .get("tenant")
                .filter(|t| t.as_str().is_some_and(|t| !t.is_empty()))
            {
                out["tenant"] = t.clone();
            }
            out["result"] = json!({ "status": "SUCCESS" });
            out
        }
        Err(err) => {
            let mut out = match sent {
                Value::Object(_) => sent.clone(),
                _ => json!({}),
            };
            let message = crate::error::WireError::from_db(err).message;
            out["result"] =
                json!({ "status": "FAILED", "errors": { "error": [ { "message": message } ] } });
            out
        }
    }
}

/// The body of `POST /v1/batch/references`: `[{"from", "to", "tenant"?}]`. An empty list is
/// refused as Weaviate does; an item without `from`/`to` strings is kept (its beacon parse
/// then fails for that item alone).
pub fn batch_references_from_json(v: &Value) -> Result<Vec<weft_db::BatchReference>, DbError> {
    let Value::Array(items) = v else {
        return Err(UserError::Invalid(
            "invalid params: the body must be an array of references".into(),
        )
        .into());
    };
    if items.is_empty() {
        return Err(UserError::Invalid(
            "invalid params: length cannot be 0, need at least one reference for batching".into(),
        )
        .into());
    }
    let text = |item: &Value, key: &str| {
        item.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    if let Some(i) = items.iter().position(|item| !item.is_object()) {
        return Err(UserError::Invalid(format!(
            "invalid params: reference {i} must be an object {{\"from\", \"to\"}}"
        ))
        .into());
    }
    Ok(items
        .iter()
        .map(|item| weft_db::BatchReference {
            from: text(item, "from"),
            to: text(item, "to"),
            tenant: item
                .get("tenant")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
        .collect())
}

/// One item of the reply of `POST /v1/batch/references`.
pub fn batch_reference_to_json(r: &weft_db::BatchReference, result: &Result<(), DbError>) -> Value {
    let mut out = json!({ "from": r.from, "to": r.to });
    if let Some(t) = &r.tenant {
        out["tenant"] = json!(t);
    }
    out["result"] = match result {
        Ok(()) => json!({ "status": "SUCCESS" }),
        Err(err) => {
            let message = crate::error::WireError::from_db(err).message;
            json!({ "status": "FAILED", "errors": { "error": [ { "message": message } ] } })
        }
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_reference_bodies_are_lists_of_objects() {
        let refs = batch_references_from_json(&json!([
            {"from": "weaviate://localhost/A/x/p", "to": "weaviate://localhost/B/y", "tenant": "t"},
            {}
        ]))
        .unwrap();
        assert_eq!(refs[0].tenant.as_deref(), Some("t"));
        assert_eq!(refs[1].from, "");
        for bad in [json!([]), json!({}), json!([[null, null]]), json!([1])] {
            assert!(batch_references_from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_objects_and_rejects_wrong_shapes() {
        let input = object_from_json(&json!({
            "class": "Article", "id": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "properties": {"title": "x"}, "vector": [1, 2.5], "unknown": true,
            "vectors": {"v": [0.5]}
        }))
        .unwrap();
        assert_eq!(input.class, "Article");
        assert_eq!(input.vector, Some(vec![1.0, 2.5]));
        assert_eq!(input.vectors["v"], vec![0.5]);
        assert_eq!(
            input.id.unwrap().to_string(),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        );
        for bad in [
            json!({"class": 1}),
            json!({"id": "nope"}),
            json!({"properties": []}),
            json!({"vector": "x"}),
            json!({"vector": [[1.0]]}),
            json!({"vectors": {"v": ["a"]}}),
            json!([]),
        ] {
            assert!(object_from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn renders_vectors_only_when_asked() {
        let mut obj = StoredObject {
            class: "A".into(),
            id: Uuid::from_u128(1),
            doc_id: 0,
            properties: Map::new(),
            vectors: BTreeMap::new(),
            created_ms: 5,
            updated_ms: 6,
        };
        obj.vectors.insert(String::new(), vec![1.0]);
        obj.vectors.insert("named".into(), vec![2.0]);
        let plain = object_to_json(&obj, false);
        assert!(plain.get("vector").is_none() && plain.get("vectors").is_none());
        assert_eq!(plain["creationTimeUnix"], 5);
        let full = object_to_json(&obj, true);
        assert_eq!(full["vector"], json!([1.0]));
        assert_eq!(full["vectors"]["named"], json!([2.0]));
    }
}
