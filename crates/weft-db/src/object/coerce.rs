//! Validation and coercion of property values against the schema, and autoschema inference.
//!
//! Input values are JSON (REST bodies as sent; gRPC structs converted to JSON, where integers
//! arrive as doubles). Output values are JSON too, normalised: ints are integers, dates are
//! RFC 3339 in UTC, uuids are lower-case hyphenated. Every rejection names the property, the
//! class and what was expected, in Weaviate's wording where it has one.

use base64::Engine;
use serde_json::{Map, Number, Value};
use uuid::Uuid;

use super::beacon::Beacon;
use crate::error::UserError;
use crate::schema::{ClassDef, DataType, Primitive, PropertyDef};

/// Largest magnitude an `int` property accepts from a float (2^53: beyond it doubles skip
/// integers).
const MAX_SAFE_FLOAT_INT: f64 = 9_007_199_254_740_992.0;

/// Names of properties in `input` that `class` does not have.
pub fn unknown_properties<'a>(class: &ClassDef, input: &'a Map<String, Value>) -> Vec<&'a str> {
    input
        .iter()
        .filter(|(name, value)| !value.is_null() && class.property(name).is_none())
        .map(|(name, _)| name.as_str())
        .collect()
}

/// The error for a property that is not in the schema (autoschema off).
pub fn no_such_property(class: &str, property: &str) -> UserError {
    UserError::Invalid(format!(
        "no such prop with name '{property}' found in class '{class}' in the schema. Check your \
         schema files for which properties in this class are available"
    ))
}

/// Validates and normalises every property of `input` against `class`. Unknown properties are
/// an error (the caller adds inferred ones first when autoschema is on). Nulls are dropped.
pub fn coerce_properties(
    class: &ClassDef,
    input: &Map<String, Value>,
) -> Result<Map<String, Value>, UserError> {
    let mut out = Map::new();
    for (name, value) in input {
        if value.is_null() {
            continue;
        }
        let prop = class
            .property(name)
            .ok_or_else(|| no_such_property(&class.name, name))?;
        let ctx = Ctx {
            class: &class.name,
            prop: &prop.name,
        };
        out.insert(prop.name.clone(), coerce_value(&ctx, prop, value)?);
    }
    Ok(out)
}

struct Ctx<'a> {
    class: &'a str,
    prop: &'a str,
}

impl Ctx<'_> {
    fn err(&self, kind: &str, detail: impl std::fmt::Display) -> UserError {
        UserError::Invalid(format!(
            "invalid {kind} property '{}' on class '{}': {detail}",
            self.prop, self.class
        ))
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.len() > 40 => {
            format!("string {:?}…", &s[..s.floor_char_boundary(40)])
        }
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn coerce_value(ctx: &Ctx<'_>, prop: &PropertyDef, value: &Value) -> Result<Value, UserError> {
    match &prop.data_type {
        DataType::Reference(targets) => coerce_references(ctx, targets, value),
        DataType::Primitive(p) => coerce_primitive(ctx, *p, &prop.nested_properties, value),
    }
}

fn coerce_primitive(
    ctx: &Ctx<'_>,
    p: Primitive,
    nested: &[PropertyDef],
    value: &Value,
) -> Result<Value, UserError> {
    use Primitive as P;
    let element = |p: Primitive| -> Result<Value, UserError> {
        let Value::Array(items) = value else {
            return Err(ctx.err(
                p.as_str(),
                format!("expected an array, got {}", describe(value)),
            ));
        };
        let out: Result<Vec<Value>, UserError> = items
            .iter()
            .map(|item| coerce_primitive(ctx, p, nested, item))
            .collect();
        Ok(Value::Array(out?))
    };
    match p {
        P::Text => match value {
            Value::String(_) => Ok(value.clone()),
            other => Err(ctx.err("text", format!("not a string, but {}", describe(other)))),
        },
        P::Int => int(ctx, value),
        P::Number => match value {
            Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => Ok(value.clone()),
            other => Err(ctx.err(
                "number",
                format!("requires a float, the given value is {}", describe(other)),
            )),
        },
        P::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            other => Err(ctx.err(
                "boolean",
                format!("requires a bool, the given value is {}", describe(other)),
            )),
        },
        P::Date => date(ctx, value),
        P::Uuid => match value {
            Value::String(s) => Uuid::parse_str(s)
                .map(|u| Value::String(u.hyphenated().to_string()))
                .map_err(|e| ctx.err("uuid", format!("{s:?} is not a valid uuid: {e}"))),
            other => Err(ctx.err("uuid", format!("not a string, but {}", describe(other)))),
        },
        P::GeoCoordinates => geo(ctx, value),
        P::PhoneNumber => phone(ctx, value),
        P::Blob | P::BlobHash => match value {
            Value::String(s) => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(|_| value.clone())
                .map_err(|e| ctx.err("blob", format!("not valid base64: {e}"))),
            other => Err(ctx.err("blob", format!("not a string, but {}", describe(other)))),
        },
        P::Object => nested_object(ctx, nested, value),
        P::TextArray => element(P::Text),
        P::IntArray => element(P::Int),
        P::NumberArray => element(P::Number),
        P::BooleanArray => element(P::Boolean),
        P::DateArray => element(P::Date),
        P::UuidArray => element(P::Uuid),
        P::ObjectArray => element(P::Object),
    }
}

fn int(ctx: &Ctx<'_>, value: &Value) -> Result<Value, UserError> {
    let Value::Number(n) = value else {
        return Err(ctx.err(
            "integer",
            format!(
                "requires an integer, the given value is {}",
                describe(value)
            ),
        ));
    };
    if let Some(i) = n.as_i64() {
        return Ok(Value::Number(i.into()));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() <= MAX_SAFE_FLOAT_INT => {
            Ok(Value::Number((f as i64).into()))
        }
        _ => Err(ctx.err(
            "integer",
            format!("requires an integer, the given value is {n}"),
        )),
    }
}

/// Parses an RFC 3339 date (offset required) into a timestamp.
pub fn parse_date(s: &str) -> Option<jiff::Timestamp> {
    s.parse::<jiff::Timestamp>().ok()
}

fn date(ctx: &Ctx<'_>, value: &Value) -> Result<Value, UserError> {
    let Value::String(s) = value else {
        return Err(ctx.err(
            "date",
            format!(
                "requires a string with a RFC3339 formatted date, but the given value is {}",
                describe(value)
            ),
        ));
    };
    let ts = parse_date(s).ok_or_else(|| {
        ctx.err(
            "date",
            format!(
                "requires a string with a RFC3339 formatted date, but the given value is {s:?}"
            ),
        )
    })?;
    Ok(Value::String(ts.to_string()))
}

fn number_field(obj: &Map<String, Value>, key: &str) -> Option<f64> {
    obj.get(key)
        .and_then(Value::as_f64)
        .filter(|f| f.is_finite())
}

fn geo(ctx: &Ctx<'_>, value: &Value) -> Result<Value, UserError> {
    let Value::Object(obj) = value else {
        return Err(ctx.err(
            "geoCoordinates",
            format!("expected an object, got {}", describe(value)),
        ));
    };
    let lat = number_field(obj, "latitude")
        .ok_or_else(|| ctx.err("geoCoordinates", "latitude must be a number"))?;
    let lon = number_field(obj, "longitude")
        .ok_or_else(|| ctx.err("geoCoordinates", "longitude must be a number"))?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(ctx.err(
            "geoCoordinates",
            format!(
                "latitude must be in [-90, 90] and longitude in [-180, 180], got ({lat}, {lon})"
            ),
        ));
    }
    let num = |f: f64| Number::from_f64(f).map_or(Value::Null, Value::Number);
    let mut out = Map::new();
    out.insert("latitude".into(), num(lat));
    out.insert("longitude".into(), num(lon));
    Ok(Value::Object(out))
}

fn phone(ctx: &Ctx<'_>, value: &Value) -> Result<Value, UserError> {
    let Value::Object(obj) = value else {
        return Err(ctx.err(
            "phoneNumber",
            format!("expected an object, got {}", describe(value)),
        ));
    };
    let input = obj
        .get("input")
        .and_then(Value::as_str)
        .ok_or_else(|| ctx.err("phoneNumber", "field input must be a string"))?;
    let mut out = Map::new();
    out.insert("input".into(), Value::String(input.to_string()));
    if let Some(country) = obj.get("defaultCountry").and_then(Value::as_str) {
        out.insert("defaultCountry".into(), Value::String(country.to_string()));
    }
    Ok(Value::Object(out))
}

fn nested_object(ctx: &Ctx<'_>, nested: &[PropertyDef], value: &Value) -> Result<Value, UserError> {
    let Value::Object(obj) = value else {
        return Err(ctx.err(
            "object",
            format!("expected an object, got {}", describe(value)),
        ));
    };
    let mut out = Map::new();
    for (name, v) in obj {
        if v.is_null() {
            continue;
        }
        let prop = nested.iter().find(|p| p.name == *name).ok_or_else(|| {
            ctx.err(
                "object",
                format!("nested property {name:?} is not in the schema"),
            )
        })?;
        out.insert(name.clone(), coerce_value(ctx, prop, v)?);
    }
    Ok(Value::Object(out))
}

fn coerce_references(ctx: &Ctx<'_>, targets: &[String], value: &Value) -> Result<Value, UserError> {
    let invalid = |msg: String| UserError::Invalid(msg);
    let Value::Array(items) = value else {
        return Err(invalid(format!(
            "reference property is not a slice {}",
            describe(value)
        )));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(map) = item else {
            return Err(invalid(format!(
                "reference property is not a map: {}",
                describe(item)
            )));
        };
        let beacon = reference_beacon(ctx.class, ctx.prop, map)?;
        let mut r = Map::new();
        r.insert(
            "beacon".into(),
            Value::String(complete_beacon(beacon, targets).to_string()),
        );
        out.push(Value::Object(r));
    }
    Ok(Value::Array(out))
}

/// The beacon of one reference object `{"beacon": …}` (an `href` is ignored, any other key is
/// refused), parsed and checked to name this node, with Weaviate's messages.
pub fn reference_beacon(
    class: &str,
    prop: &str,
    map: &Map<String, Value>,
) -> Result<Beacon, UserError> {
    let invalid = |msg: String| UserError::Invalid(msg);
    let keys = map.keys().filter(|k| *k != "href").count();
    if keys != 1 {
        return Err(invalid(format!(
            "only direct references supported at the moment, concept references not supported \
             yet: class '{class}' with property '{prop}' requires exactly 1 arguments: \
             'beacon'. Check your input schema, got: {}",
            Value::Object(map.clone())
        )));
    }
    let Some(Value::String(raw)) = map.get("beacon") else {
        return Err(invalid(format!(
            "only direct references supported at the moment, concept references not supported \
             yet:  class '{class}' with property '{prop}' requires exactly 1 argument: 'beacon' \
             is missing, check your input schema"
        )));
    };
    let beacon = Beacon::parse(raw).map_err(|e| invalid(format!("invalid reference: {e}")))?;
    if !beacon.is_local() {
        return Err(invalid("unrecognized cross-ref ref format".into()));
    }
    Ok(beacon)
}

/// A class-less beacon on a property with one target class names that class (Weaviate
/// rewrites it so before storing); on a multi-target property it stays class-less.
pub fn complete_beacon(mut beacon: Beacon, targets: &[String]) -> Beacon {
    if beacon.class.is_none()
        && let [only] = targets
    {
        beacon.class = Some(only.clone());
    }
    beacon
}

/// The beacons of a stored reference property value (a list of `{"beacon": …}`).
pub fn stored_beacons(value: Option<&Value>) -> Vec<Beacon> {
    let Some(Value::Array(items)) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| i.get("beacon").and_then(Value::as_str))
        .filter_map(|b| Beacon::parse(b).ok())
        .collect()
}

/// Infers a property definition from a value (autoschema). `None` when nothing can be inferred
/// (null, an empty array): Weaviate skips such values too.
pub fn infer_property(name: &str, value: &Value) -> Option<PropertyDef> {
    let data_type = infer_type(value)?;
    let mut prop = PropertyDef::new(name, DataType::Primitive(data_type));
    if data_type.is_object() {
        let sample = match value {
            Value::Array(items) => items.iter().find(|v| v.is_object())?,
            other => other,
        };
        let obj = sample.as_object()?;
        prop.nested_properties = obj
            .iter()
            .filter_map(|(k, v)| infer_property(k, v))
            .collect();
        if prop.nested_properties.is_empty() {
            return None;
        }
    }
    Some(prop)
}

fn infer_scalar(value: &Value) -> Option<Primitive> {
    Some(match value {
        Value::String(s) if parse_date(s).is_some() => Primitive::Date,
        Value::String(s) if s.len() == 36 && Uuid::parse_str(s).is_ok() => Primitive::Uuid,
        Value::String(_) => Primitive::Text,
        Value::Number(_) => Primitive::Number,
        Value::Bool(_) => Primitive::Boolean,
        Value::Object(o) if o.contains_key("latitude") && o.contains_key("longitude") => {
            Primitive::GeoCoordinates
        }
        Value::Object(o) if o.contains_key("input") && o.len() <= 2 => Primitive::PhoneNumber,
        Value::Object(_) => Primitive::Object,
        Value::Null | Value::Array(_) => return None,
    })
}

fn infer_type(value: &Value) -> Option<Primitive> {
    match value {
        Value::Array(items) => {
            let first = items.iter().find(|v| !v.is_null())?;
            Some(match infer_scalar(first)? {
                Primitive::Date => Primitive::DateArray,
                Primitive::Uuid => Primitive::UuidArray,
                Primitive::Text => Primitive::TextArray,
                Primitive::Number => Primitive::NumberArray,
                Primitive::Boolean => Primitive::BooleanArray,
                Primitive::Object => Primitive::ObjectArray,
                _ => return None,
            })
        }
        other => infer_scalar(other),
    }
}

#[cfg(test)]
mod tests;
