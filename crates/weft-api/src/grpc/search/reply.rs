//! Encoding of search hits as `SearchResult`s in the post-1.27 shape the Python client reads:
//! properties in `PropertiesResult.non_ref_props` as typed `Value`s (chosen from the class
//! schema, so an `int` stays an `int_value`), int and number lists byte-packed (i64 / f64
//! little-endian), the id as 16 big-endian bytes in `MetadataResult.id_as_bytes`, vectors as
//! f32 little-endian, timestamps in unix milliseconds, and every optional metadata field with
//! its `*_present` flag.

use crate::proto::v1::value::Kind;
use crate::proto::v1::vectors::VectorType;
use crate::proto::v1::{
    BoolValues, DateValues, GeoCoordinate, IntValues, ListValue, MetadataResult, NumberValues,
    ObjectValues, PhoneNumber, Properties, PropertiesResult, RefPropertiesResult, SearchResult,
    TextValues, UuidValues, Value, Vectors, list_value,
};
use serde_json::{Map, Value as Json};
use weft_db::SearchHit;
use weft_db::object::{LEGACY_VECTOR, StoredObject};
use weft_db::schema::{ClassDef, DataType, Primitive, PropertyDef};

use std::collections::BTreeMap;

use weft_db::query::refs::ResolvedReference;

use super::{MetadataWanted, Output, RefOutput, Selection};

/// The name the Python client gives a class's legacy (unnamed) vector.
const DEFAULT_VECTOR_NAME: &str = "default";

/// One `SearchResult` per hit; `class` gives the property types (`None`: guessed from JSON).
/// `targets` holds the classes of returned references (empty when none are asked for).
pub fn results(
    hits: Vec<SearchHit>,
    class: Option<&ClassDef>,
    output: &Output,
    targets: &BTreeMap<String, ClassDef>,
) -> Vec<SearchResult> {
    let schema = class.map_or(&[][..], |c| &c.properties[..]);
    hits.into_iter()
        .map(|hit| result(hit, schema, output, targets))
        .collect()
}

fn result(
    mut hit: SearchHit,
    schema: &[PropertyDef],
    output: &Output,
    targets: &BTreeMap<String, ClassDef>,
) -> SearchResult {
    let references = std::mem::take(&mut hit.references);
    let properties = PropertiesResult {
        ref_props: ref_props(references, &output.references, targets),
        target_collection: hit.object.class.clone(),
        metadata: None,
        non_ref_props: Some(properties(
            &hit.object.properties,
            schema,
            &output.properties,
        )),
        ref_props_requested: !output.references.is_empty(),
    };
    SearchResult {
        properties: Some(properties),
        metadata: Some(metadata(hit, &output.metadata)),
        generative: None,
    }
}

/// Resolved references as `RefPropertiesResult`s: each target with its selected properties,
/// its metadata and its own references. `outputs` is parallel to the query's requests; a
/// resolved reference names its request by index.
fn ref_props(
    resolved: Vec<ResolvedReference>,
    outputs: &[RefOutput],
    targets: &BTreeMap<String, ClassDef>,
) -> Vec<RefPropertiesResult> {
    resolved
        .into_iter()
        .filter_map(|r| outputs.get(r.request).map(|out| (r, out)))
        .map(|(r, out)| {
            let schema = targets.get(&r.class).map_or(&[][..], |c| &c.properties[..]);
            let properties = r
                .targets
                .into_iter()
                .map(|t| PropertiesResult {
                    ref_props: ref_props(t.references, &out.nested, targets),
                    target_collection: r.class.clone(),
                    non_ref_props: Some(properties(&t.object.properties, schema, &out.properties)),
                    ref_props_requested: !out.nested.is_empty(),
                    metadata: Some(metadata(SearchHit::plain(t.object), &out.metadata)),
                })
                .collect();
            RefPropertiesResult {
                properties,
                prop_name: r.property,
            }
        })
        .collect()
}

/// The metadata of one hit: always the id, the rest when asked for and known.
pub fn metadata(hit: SearchHit, wanted: &MetadataWanted) -> MetadataResult {
    let SearchHit {
        object,
        distance,
        certainty,
        score,
        explain_score,
        references: _,
    } = hit;
    let StoredObject {
        class: _,
        id,
        doc_id: _,
        properties: _,
        vectors,
        created_ms,
        updated_ms,
    } = object;
    let mut out = MetadataResult {
        id: id.hyphenated().to_string(),
        // `Uuid::as_bytes` is the RFC 4122 (big-endian) byte order the client expects.
        id_as_bytes: id.as_bytes().to_vec(),
        ..MetadataResult::default()
    };
    if wanted.creation_time {
        out.creation_time_unix = created_ms;
        out.creation_time_unix_present = true;
    }
    if wanted.update_time {
        out.last_update_time_unix = updated_ms;
        out.last_update_time_unix_present = true;
    }
    if let Some(d) = distance.filter(|_| wanted.distance) {
        out.distance = d;
        out.distance_present = true;
    }
    if let Some(c) = certainty.filter(|_| wanted.certainty) {
        out.certainty = c;
        out.certainty_present = true;
    }
    if let Some(s) = score.filter(|_| wanted.score) {
        out.score = s;
        out.score_present = true;
    }
    if let Some(e) = explain_score.filter(|_| wanted.explain_score) {
        out.explain_score = e;
        out.explain_score_present = true;
    }
    if wanted.is_consistent {
        out.is_consistent = Some(true);
        out.is_consistent_present = true;
    }
    for (name, vector) in vectors {
        if name == LEGACY_VECTOR {
            if wanted.all_vectors || wanted.vectors.contains(DEFAULT_VECTOR_NAME) {
                out.vector_bytes = pack_f32(&vector);
            }
        } else if wanted.all_vectors || wanted.vectors.contains(&name) {
            out.vectors.push(Vectors {
                name,
                index: 0,
                vector_bytes: pack_f32(&vector),
                r#type: VectorType::SingleFp32 as i32,
            });
        }
    }
    out
}

/// f32 little-endian.
pub fn pack_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// i64 little-endian (`IntValues.values`).
pub fn pack_i64(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// f64 little-endian (`NumberValues.values`).
pub fn pack_f64(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The selected properties of an object (or nested object); nulls and references are left out.
pub fn properties(
    values: &Map<String, Json>,
    schema: &[PropertyDef],
    selection: &Selection,
) -> Properties {
    let fields = values
        .iter()
        .filter_map(|(name, value)| {
            let sel = selection.child(name)?;
            let kind = match schema.iter().find(|p| p.name == *name) {
                Some(prop) => typed_property(value, prop, &sel)?,
                None => untyped(value, &sel)?,
            };
            Some((name.clone(), Value { kind: Some(kind) }))
        })
        .collect();
    Properties { fields }
}

/// A value of a declared property; a value that does not fit the type is encoded from its JSON
/// shape instead of being dropped.
fn typed_property(value: &Json, prop: &PropertyDef, sel: &Selection) -> Option<Kind> {
    match &prop.data_type {
        DataType::Reference(_) => None,
        DataType::Primitive(p) => {
            typed(value, *p, &prop.nested_properties, sel).or_else(|| untyped(value, sel))
        }
    }
}

/// `value` as primitive `p`; `None` when it does not fit.
pub fn typed(value: &Json, p: Primitive, nested: &[PropertyDef], sel: &Selection) -> Option<Kind> {
    use Primitive as P;
    let text = || value.as_str().map(str::to_string);
    match p {
        P::Text => text().map(Kind::TextValue),
        P::Int => value.as_i64().map(Kind::IntValue),
        P::Number => value.as_f64().map(Kind::NumberValue),
        P::Boolean => value.as_bool().map(Kind::BoolValue),
        P::Date => text().map(Kind::DateValue),
        P::Uuid => text().map(Kind::UuidValue),
        P::Blob | P::BlobHash => text().map(Kind::BlobValue),
        P::GeoCoordinates => geo(value).map(Kind::GeoValue),
        P::PhoneNumber => phone(value).map(Kind::PhoneValue),
        P::Object => value
            .as_object()
            .map(|o| Kind::ObjectValue(properties(o, nested, sel))),
        P::TextArray
        | P::IntArray
        | P::NumberArray
        | P::BooleanArray
        | P::DateArray
        | P::UuidArray
        | P::ObjectArray => {
            let kind = typed_list(value.as_array()?, p, nested, sel)?;
            Some(Kind::ListValue(ListValue { kind: Some(kind) }))
        }
        // A type added to weft-db later: encoded from the JSON shape by the caller.
        _ => None,
    }
}

/// Every item through `f`; `None` if any item does not fit.
fn all<T>(items: &[Json], f: impl Fn(&Json) -> Option<T>) -> Option<Vec<T>> {
    items.iter().map(f).collect()
}

fn strings(items: &[Json]) -> Option<Vec<String>> {
    all(items, |v| v.as_str().map(str::to_string))
}

fn typed_list(
    items: &[Json],
    p: Primitive,
    nested: &[PropertyDef],
    sel: &Selection,
) -> Option<list_value::Kind> {
    use Primitive as P;
    use list_value::Kind as L;
    Some(match p {
        P::TextArray => L::TextValues(TextValues {
            values: strings(items)?,
        }),
        P::DateArray => L::DateValues(DateValues {
            values: strings(items)?,
        }),
        P::UuidArray => L::UuidValues(UuidValues {
            values: strings(items)?,
        }),
        P::IntArray => L::IntValues(IntValues {
            values: pack_i64(&all(items, Json::as_i64)?),
        }),
        P::NumberArray => L::NumberValues(NumberValues {
            values: pack_f64(&all(items, Json::as_f64)?),
        }),
        P::BooleanArray => L::BoolValues(BoolValues {
            values: all(items, Json::as_bool)?,
        }),
        P::ObjectArray => L::ObjectValues(ObjectValues {
            values: all(items, |v| v.as_object().map(|o| properties(o, nested, sel)))?,
        }),
        P::Text
        | P::Int
        | P::Number
        | P::Boolean
        | P::Date
        | P::Uuid
        | P::GeoCoordinates
        | P::PhoneNumber
        | P::Blob
        | P::BlobHash
        | P::Object => return None,
        _ => return None,
    })
}

fn geo(value: &Json) -> Option<GeoCoordinate> {
    let o = value.as_object()?;
    // The wire type is float32.
    let coordinate = |key: &str| o.get(key).and_then(Json::as_f64).map(|x| x as f32);
    Some(GeoCoordinate {
        latitude: coordinate("latitude")?,
        longitude: coordinate("longitude")?,
    })
}

fn phone(value: &Json) -> Option<PhoneNumber> {
    let o = value.as_object()?;
    let text = |key: &str| {
        o.get(key)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let number = |key: &str| o.get(key).and_then(Json::as_u64).unwrap_or_default();
    Some(PhoneNumber {
        country_code: number("countryCode"),
        default_country: text("defaultCountry"),
        input: o.get("input")?.as_str()?.to_string(),
        international_formatted: text("internationalFormatted"),
        national: number("national"),
        national_formatted: text("nationalFormatted"),
        valid: o.get("valid").and_then(Json::as_bool).unwrap_or_default(),
    })
}

/// A value with no schema type, from its JSON shape (integers stay integers).
pub fn untyped(value: &Json, sel: &Selection) -> Option<Kind> {
    match value {
        Json::Null => None,
        Json::Bool(b) => Some(Kind::BoolValue(*b)),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Some(Kind::IntValue(i)),
            None => n.as_f64().map(Kind::NumberValue),
        },
        Json::String(s) => Some(Kind::TextValue(s.clone())),
        Json::Object(o) => Some(Kind::ObjectValue(properties(o, &[], sel))),
        Json::Array(items) => {
            let p = match items.first()? {
                Json::String(_) => Primitive::TextArray,
                Json::Bool(_) => Primitive::BooleanArray,
                Json::Number(_) if items.iter().all(|v| v.is_i64()) => Primitive::IntArray,
                Json::Number(_) => Primitive::NumberArray,
                Json::Object(_) => Primitive::ObjectArray,
                Json::Null | Json::Array(_) => return None,
            };
            let kind = typed_list(items, p, &[], sel)?;
            Some(Kind::ListValue(ListValue { kind: Some(kind) }))
        }
    }
}
