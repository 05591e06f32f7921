//! Ordering of listed objects by properties and metadata, as Weaviate orders them: a missing
//! value sorts before every value (first ascending, last descending), text compares without
//! case, arrays element by element and then by length, `false` before `true`. Equal keys keep
//! the listing order.

use std::cmp::Ordering;

use serde_json::Value;

use crate::error::{DbError, UserError};
use crate::object::StoredObject;
use crate::object::coerce::parse_date;
use crate::schema::{ClassDef, Primitive};

/// What to sort by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortTarget {
    /// A property.
    Property(String),
    /// `_id`.
    Id,
    /// `_creationTimeUnix`.
    CreationTime,
    /// `_lastUpdateTimeUnix`.
    UpdateTime,
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortBy {
    /// The key.
    pub target: SortTarget,
    /// Ascending (else descending).
    pub ascending: bool,
}

impl SortBy {
    /// A key by name as the wire sends it (`_id`, `_creationTimeUnix`, … or a property).
    pub fn named(name: &str, ascending: bool) -> Self {
        let target = match name {
            "_id" | "id" => SortTarget::Id,
            "_creationTimeUnix" => SortTarget::CreationTime,
            "_lastUpdateTimeUnix" => SortTarget::UpdateTime,
            other => SortTarget::Property(other.to_string()),
        };
        Self { target, ascending }
    }
}

/// A comparable value of one object under one key.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    Text(String),
    Number(f64),
    Bool(bool),
    List(Vec<Key>),
}

fn cmp_keys(a: &Key, b: &Key) -> Ordering {
    match (a, b) {
        (Key::Text(x), Key::Text(y)) => x.cmp(y),
        (Key::Number(x), Key::Number(y)) => x.total_cmp(y),
        (Key::Bool(x), Key::Bool(y)) => x.cmp(y),
        (Key::List(x), Key::List(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| cmp_keys(p, q))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        _ => Ordering::Equal,
    }
}

fn scalar(p: Primitive, v: &Value) -> Option<Key> {
    use Primitive as P;
    match (p, v) {
        (P::Date | P::DateArray, Value::String(s)) => {
            parse_date(s).map(|t| Key::Number(t.as_microsecond() as f64))
        }
        (_, Value::String(s)) => Some(Key::Text(s.to_lowercase())),
        (_, Value::Number(n)) => n.as_f64().map(Key::Number),
        (_, Value::Bool(b)) => Some(Key::Bool(*b)),
        _ => None,
    }
}

fn key_of(class: &ClassDef, by: &SortBy, o: &StoredObject) -> Option<Key> {
    match &by.target {
        SortTarget::Id => Some(Key::Text(o.id.to_string())),
        SortTarget::CreationTime => Some(Key::Number(o.created_ms as f64)),
        SortTarget::UpdateTime => Some(Key::Number(o.updated_ms as f64)),
        SortTarget::Property(name) => {
            let p = class.property(name)?;
            let primitive = p.data_type.primitive()?;
            match o.properties.get(&p.name)? {
                Value::Array(items) => Some(Key::List(
                    items.iter().filter_map(|v| scalar(primitive, v)).collect(),
                )),
                Value::Object(m) if primitive == Primitive::GeoCoordinates => {
                    let get = |k: &str| m.get(k).and_then(Value::as_f64).map(Key::Number);
                    Some(Key::List(
                        get("latitude")
                            .into_iter()
                            .chain(get("longitude"))
                            .collect(),
                    ))
                }
                v => scalar(primitive, v),
            }
        }
    }
}

/// Checks the keys against the class.
pub fn validate(class: &ClassDef, sort: &[SortBy]) -> Result<(), DbError> {
    for by in sort {
        if let SortTarget::Property(name) = &by.target {
            let Some(p) = class.property(name) else {
                return Err(UserError::Invalid(format!(
                    "sort: no such prop with name '{name}' found in class '{}' in the schema. Check your schema files for which properties in this class are available",
                    class.name
                ))
                .into());
            };
            if matches!(
                p.data_type.primitive(),
                None | Some(Primitive::Object | Primitive::ObjectArray)
            ) {
                return Err(UserError::Invalid(format!(
                    "sort: property '{name}' of this data type cannot be sorted by"
                ))
                .into());
            }
        }
    }
    Ok(())
}

/// Sorts `objects` (stable) by the keys.
pub fn sort(class: &ClassDef, by: &[SortBy], objects: &mut [StoredObject]) {
    let mut keyed: Vec<(Vec<Option<Key>>, usize)> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| (by.iter().map(|b| key_of(class, b, o)).collect(), i))
        .collect();
    keyed.sort_by(|(ka, _), (kb, _)| {
        for ((a, b), spec) in ka.iter().zip(kb).zip(by) {
            let o = match (a, b) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => cmp_keys(x, y),
            };
            let o = if spec.ascending { o } else { o.reverse() };
            if o.is_ne() {
                return o;
            }
        }
        Ordering::Equal
    });
    let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    let mut taken: Vec<Option<StoredObject>> = objects.iter().cloned().map(Some).collect();
    for (slot, i) in objects.iter_mut().zip(order) {
        if let Some(o) = taken.get_mut(i).and_then(Option::take) {
            *slot = o;
        }
    }
}
