//! Decoding of `BatchObjectsRequest` objects into [`ObjectInput`]s, exactly as the Python
//! client encodes them (`weaviate/collections/batch/grpc_batch.py`):
//!
//! * `uuid` as a string, `collection`, `tenant`;
//! * the unnamed vector in `vector_bytes` (f32 LE) or the deprecated `vector` floats; named
//!   vectors in `vectors[]` (single vectors only for now);
//! * scalar properties in the `non_ref_properties` Struct (so ints arrive as doubles and dates
//!   as strings: `weft-db` coerces them against the schema);
//! * arrays in typed fields, nested objects in `object_properties` /
//!   `object_array_properties`, empty lists named in `empty_list_props`;
//! * references as uuids, turned into beacons.
//!
//! Bad input in one object fails that object only ([`decode_batch`]).

use std::collections::BTreeMap;

use prost_types::value::Kind;
use serde_json::{Map, Number, Value, json};
use uuid::Uuid;
use weft_api::proto::v1::batch_object::{MultiTargetRefProps, Properties, SingleTargetRefProps};
use weft_api::proto::v1::batch_objects_reply::BatchError;
use weft_api::proto::v1::vectors::VectorType;
use weft_api::proto::v1::{
    BatchObject, BooleanArrayProperties, IntArrayProperties, NumberArrayProperties,
    ObjectArrayProperties, ObjectProperties, ObjectPropertiesValue, TextArrayProperties, Vectors,
};
use weft_db::DbError;
use weft_db::error::UserError;
use weft_db::object::ObjectInput;

fn invalid(msg: impl Into<String>) -> DbError {
    UserError::Invalid(msg.into()).into()
}

/// The objects of a batch that decoded, with their index in the request, and an error for each
/// one that did not.
#[derive(Debug, Default)]
pub struct DecodedBatch {
    /// `(index in the request, object)`, in request order.
    pub objects: Vec<(usize, ObjectInput)>,
    /// One error per object that failed to decode.
    pub errors: Vec<BatchError>,
}

/// Decodes every object; a failure is recorded by index and does not affect the others.
pub fn decode_batch(objects: Vec<BatchObject>) -> DecodedBatch {
    let mut out = DecodedBatch::default();
    for (index, object) in objects.into_iter().enumerate() {
        match decode_object(object) {
            Ok(input) => out.objects.push((index, input)),
            Err(err) => out.errors.push(batch_error(index, &err)),
        }
    }
    out
}

/// The reply entry for the object at `index`, with the message of the wire-error table.
pub fn batch_error(index: usize, err: &DbError) -> BatchError {
    BatchError {
        index: i32::try_from(index).unwrap_or(i32::MAX),
        error: weft_api::error::WireError::from_db(err).message,
    }
}

/// Decodes one `BatchObject`.
pub fn decode_object(object: BatchObject) -> Result<ObjectInput, DbError> {
    let BatchObject {
        uuid,
        vector,
        properties,
        collection,
        tenant,
        vector_bytes,
        vectors,
    } = object;
    let id = if uuid.is_empty() {
        None
    } else {
        Some(Uuid::parse_str(&uuid).map_err(|_| invalid(format!("invalid uuid {uuid:?}")))?)
    };
    let legacy = if !vector_bytes.is_empty() {
        Some(f32_vector(&vector_bytes, "vector_bytes")?)
    } else if !vector.is_empty() {
        Some(vector)
    } else {
        None
    };
    Ok(ObjectInput {
        class: collection,
        id,
        properties: properties
            .map(decode_properties)
            .transpose()?
            .unwrap_or_default(),
        vector: legacy,
        vectors: named_vectors(vectors)?,
        tenant: Some(tenant).filter(|t| !t.is_empty()),
    })
}

/// Little-endian f32s; the length must be a multiple of 4.
fn f32_vector(bytes: &[u8], what: &str) -> Result<Vec<f32>, DbError> {
    weft_db::object::record::decode_vector(bytes).map_err(|_| {
        invalid(format!(
            "{what}: {} bytes is not a whole number of float32 values",
            bytes.len()
        ))
    })
}

fn named_vectors(vectors: Vec<Vectors>) -> Result<BTreeMap<String, Vec<f32>>, DbError> {
    let mut out = BTreeMap::new();
    for v in vectors {
        let Vectors {
            name,
            index: _,
            vector_bytes,
            r#type,
        } = v;
        let what = format!("vector {name:?}");
        if name.is_empty() {
            return Err(invalid("a named vector needs a name"));
        }
        match VectorType::try_from(r#type) {
            Ok(VectorType::Unspecified | VectorType::SingleFp32) => {}
            Ok(VectorType::MultiFp32) => {
                return Err(invalid(format!(
                    "{what}: multi-vectors are not supported by weft yet"
                )));
            }
            Err(_) => return Err(invalid(format!("{what}: unknown vector type {type}"))),
        }
        let values = f32_vector(&vector_bytes, &what)?;
        if out.insert(name, values).is_some() {
            return Err(invalid(format!("{what} is given twice")));
        }
    }
    Ok(out)
}

/// The property fields shared by an object's `Properties` and a nested
/// `ObjectPropertiesValue`.
struct Fields {
    non_ref: Option<prost_types::Struct>,
    numbers: Vec<NumberArrayProperties>,
    ints: Vec<IntArrayProperties>,
    texts: Vec<TextArrayProperties>,
    booleans: Vec<BooleanArrayProperties>,
    objects: Vec<ObjectProperties>,
    object_arrays: Vec<ObjectArrayProperties>,
    empty_lists: Vec<String>,
}

impl From<ObjectPropertiesValue> for Fields {
    fn from(v: ObjectPropertiesValue) -> Self {
        let ObjectPropertiesValue {
            non_ref_properties,
            number_array_properties,
            int_array_properties,
            text_array_properties,
            boolean_array_properties,
            object_properties,
            object_array_properties,
            empty_list_props,
        } = v;
        Self {
            non_ref: non_ref_properties,
            numbers: number_array_properties,
            ints: int_array_properties,
            texts: text_array_properties,
            booleans: boolean_array_properties,
            objects: object_properties,
            object_arrays: object_array_properties,
            empty_lists: empty_list_props,
        }
    }
}

fn decode_properties(p: Properties) -> Result<Map<String, Value>, DbError> {
    let Properties {
        non_ref_properties,
        single_target_ref_props,
        multi_target_ref_props,
        number_array_properties,
        int_array_properties,
        text_array_properties,
        boolean_array_properties,
        object_properties,
        object_array_properties,
        empty_list_props,
    } = p;
    let mut out = decode_fields(
        Fields {
            non_ref: non_ref_properties,
            numbers: number_array_properties,
            ints: int_array_properties,
            texts: text_array_properties,
            booleans: boolean_array_properties,
            objects: object_properties,
            object_arrays: object_array_properties,
            empty_lists: empty_list_props,
        },
        "",
    )?;
    for r in single_target_ref_props {
        let SingleTargetRefProps { uuids, prop_name } = r;
        out.insert(prop_name.clone(), beacons(&prop_name, None, &uuids)?);
    }
    for r in multi_target_ref_props {
        let MultiTargetRefProps {
            uuids,
            prop_name,
            target_collection,
        } = r;
        let target = upper_first(&target_collection);
        out.insert(
            prop_name.clone(),
            beacons(&prop_name, Some(&target), &uuids)?,
        );
    }
    Ok(out)
}

/// `[{"beacon": "weaviate://localhost/[<Class>/]<uuid>"}, …]`; without a class, `weft-db`
/// uses the property's (first) target class.
fn beacons(prop: &str, class: Option<&str>, uuids: &[String]) -> Result<Value, DbError> {
    let items = uuids
        .iter()
        .map(|u| {
            let id = Uuid::parse_str(u)
                .map_err(|_| invalid(format!("reference property {prop:?}: invalid uuid {u:?}")))?;
            let beacon = match class {
                Some(c) => format!("weaviate://localhost/{c}/{}", id.hyphenated()),
                None => format!("weaviate://localhost/{}", id.hyphenated()),
            };
            Ok(json!({ "beacon": beacon }))
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(Value::Array(items))
}

/// Weaviate accepts collection names with a lower-case first letter.
fn upper_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `path` is the dotted name of the enclosing object property ("" at the top).
fn decode_fields(f: Fields, path: &str) -> Result<Map<String, Value>, DbError> {
    let name = |prop: &str| {
        if path.is_empty() {
            prop.to_owned()
        } else {
            format!("{path}.{prop}")
        }
    };
    let mut out = match f.non_ref {
        Some(s) => struct_to_json(s, path)?,
        None => Map::new(),
    };
    for a in f.texts {
        let values = a.values.into_iter().map(Value::String).collect();
        out.insert(a.prop_name, Value::Array(values));
    }
    for a in f.ints {
        let values = a.values.into_iter().map(Value::from).collect();
        out.insert(a.prop_name, Value::Array(values));
    }
    for a in f.booleans {
        let values = a.values.into_iter().map(Value::Bool).collect();
        out.insert(a.prop_name, Value::Array(values));
    }
    for a in f.numbers {
        let what = name(&a.prop_name);
        let values = number_array(a.values_bytes, a.values, &what)?;
        out.insert(a.prop_name, values);
    }
    for o in f.objects {
        let inner = name(&o.prop_name);
        let value = match o.value {
            Some(v) => Value::Object(decode_fields(v.into(), &inner)?),
            None => Value::Object(Map::new()),
        };
        out.insert(o.prop_name, value);
    }
    for a in f.object_arrays {
        let inner = name(&a.prop_name);
        let values = a
            .values
            .into_iter()
            .map(|v| decode_fields(v.into(), &inner).map(Value::Object))
            .collect::<Result<Vec<_>, DbError>>()?;
        out.insert(a.prop_name, Value::Array(values));
    }
    for prop in f.empty_lists {
        out.insert(prop, Value::Array(Vec::new()));
    }
    Ok(out)
}

/// `values_bytes` (f64 LE) when given, else the deprecated `values`.
fn number_array(bytes: Vec<u8>, values: Vec<f64>, prop: &str) -> Result<Value, DbError> {
    let values = if bytes.is_empty() {
        values
    } else {
        let chunks = bytes.chunks_exact(8);
        if !chunks.remainder().is_empty() {
            return Err(invalid(format!(
                "property {prop:?}: {} bytes is not a whole number of float64 values",
                bytes.len()
            )));
        }
        chunks
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    };
    values
        .into_iter()
        .map(|x| finite(x, prop))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn finite(x: f64, prop: &str) -> Result<Value, DbError> {
    Number::from_f64(x)
        .map(Value::Number)
        .ok_or_else(|| invalid(format!("property {prop:?}: {x} is not a valid number")))
}

/// A `google.protobuf.Struct` as a JSON object; numbers stay doubles.
pub fn struct_to_json(s: prost_types::Struct, path: &str) -> Result<Map<String, Value>, DbError> {
    s.fields
        .into_iter()
        .map(|(key, value)| {
            let inner = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            Ok((key, value_to_json(value, &inner)?))
        })
        .collect()
}

fn value_to_json(value: prost_types::Value, path: &str) -> Result<Value, DbError> {
    Ok(match value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(x)) => finite(x, path)?,
        Some(Kind::StringValue(s)) => Value::String(s),
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::StructValue(s)) => Value::Object(struct_to_json(s, path)?),
        Some(Kind::ListValue(l)) => Value::Array(
            l.values
                .into_iter()
                .map(|v| value_to_json(v, path))
                .collect::<Result<_, _>>()?,
        ),
    })
}

#[cfg(test)]
mod tests;
