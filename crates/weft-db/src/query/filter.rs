//! The filter of a query: a tree of `And` / `Or` / `Not` over conditions on one target (a
//! property, the id, a timestamp, a property's length), built by every protocol's converter and
//! checked against the class once ([`Filter::validate`]).
//!
//! [`Filter::matches`] evaluates it on one stored object. It is the reference semantics: the
//! index-backed evaluation ([`super::resolve`]) must agree with it on every object (property
//! tests), and it serves the targets no index holds.

use serde_json::Value;
use uuid::Uuid;

use crate::error::{DbError, UserError};
use crate::object::StoredObject;
use crate::object::coerce::parse_date;
use crate::object::index_keys::{is_indexed, tokenize};
use crate::schema::{ClassDef, Primitive, PropertyDef, Tokenization};

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A property by name.
    Property(String),
    /// `_id`.
    Id,
    /// `_creationTimeUnix`.
    CreationTime,
    /// `_lastUpdateTimeUnix`.
    UpdateTime,
    /// `len(<property>)`: characters of a text, elements of an array.
    Length(String),
    /// Through a reference: the condition holds for some object the reference property `on`
    /// points to, compared at `target` in the target class (`class`; `None` = the property's
    /// only target class). Nested to any depth.
    Reference {
        /// The reference property.
        on: String,
        /// The target class (required for a multi-target property).
        class: Option<String>,
        /// What is compared in the target class.
        target: Box<Target>,
    },
    /// The number of references a reference property holds (0 when the object has none).
    RefCount(String),
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `Equal`.
    Equal,
    /// `NotEqual`.
    NotEqual,
    /// `GreaterThan`.
    GreaterThan,
    /// `GreaterThanEqual`.
    GreaterThanEqual,
    /// `LessThan`.
    LessThan,
    /// `LessThanEqual`.
    LessThanEqual,
    /// `Like` with `*` and `?`.
    Like,
    /// `IsNull` (the value is a boolean).
    IsNull,
    /// `ContainsAny` (the value is an array).
    ContainsAny,
    /// `ContainsAll`.
    ContainsAll,
    /// `ContainsNone`.
    ContainsNone,
    /// `WithinGeoRange` (the value is a geo range).
    WithinGeoRange,
}

/// The value a condition compares with, typed as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    /// `valueText` (also dates and uuids).
    Text(String),
    /// `valueInt`.
    Int(i64),
    /// `valueNumber`.
    Number(f64),
    /// `valueBoolean`.
    Bool(bool),
    /// `valueTextArray`.
    TextArray(Vec<String>),
    /// `valueIntArray`.
    IntArray(Vec<i64>),
    /// `valueNumberArray`.
    NumberArray(Vec<f64>),
    /// `valueBooleanArray`.
    BoolArray(Vec<bool>),
    /// `valueGeoRange`: within `distance` metres of a point.
    Geo {
        /// Latitude in degrees.
        latitude: f64,
        /// Longitude in degrees.
        longitude: f64,
        /// Metres.
        distance: f64,
    },
}

/// A filter tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every operand matches (true when empty).
    And(Vec<Filter>),
    /// Some operand matches (false when empty).
    Or(Vec<Filter>),
    /// The operand does not match.
    Not(Box<Filter>),
    /// A reference condition once bound ([`crate::Db`] runs the condition on the target
    /// class first): objects whose reference property holds one of these beacons.
    Beacons {
        /// The reference property.
        property: String,
        /// Beacons as stored (`weaviate://localhost/<Class>/<uuid>` and the class-less form).
        beacons: std::collections::BTreeSet<String>,
    },
    /// One condition.
    Condition {
        /// What is compared.
        target: Target,
        /// How.
        op: Operator,
        /// With what.
        value: FilterValue,
    },
}

/// A scalar both sides of a comparison are brought to.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub(crate) enum Scalar {
    /// Text tokens, ids, dates as text.
    Text(String),
    /// Ints, dates (µs), timestamps (ms), lengths.
    Int(i64),
    /// Numbers.
    Number(f64),
    /// Booleans.
    Bool(bool),
}

fn invalid(msg: String) -> DbError {
    UserError::Invalid(msg).into()
}

impl FilterValue {
    fn name(&self) -> &'static str {
        match self {
            FilterValue::Text(_) => "valueText",
            FilterValue::Int(_) => "valueInt",
            FilterValue::Number(_) => "valueNumber",
            FilterValue::Bool(_) => "valueBoolean",
            FilterValue::TextArray(_) => "valueTextArray",
            FilterValue::IntArray(_) => "valueIntArray",
            FilterValue::NumberArray(_) => "valueNumberArray",
            FilterValue::BoolArray(_) => "valueBooleanArray",
            FilterValue::Geo { .. } => "valueGeoRange",
        }
    }

    fn is_array(&self) -> bool {
        matches!(
            self,
            FilterValue::TextArray(_)
                | FilterValue::IntArray(_)
                | FilterValue::NumberArray(_)
                | FilterValue::BoolArray(_)
        )
    }

    /// The single values of the filter value (an array's elements, or the value itself).
    pub(crate) fn singles(&self) -> Vec<FilterValue> {
        match self {
            FilterValue::TextArray(v) => v.iter().cloned().map(FilterValue::Text).collect(),
            FilterValue::IntArray(v) => v.iter().copied().map(FilterValue::Int).collect(),
            FilterValue::NumberArray(v) => v.iter().copied().map(FilterValue::Number).collect(),
            FilterValue::BoolArray(v) => v.iter().copied().map(FilterValue::Bool).collect(),
            other => vec![other.clone()],
        }
    }
}

/// The resolved meaning of a target, once validated against the class.
#[derive(Debug, Clone)]
pub(crate) enum Resolved<'a> {
    Property(&'a PropertyDef, Primitive),
    Id,
    CreationTime,
    UpdateTime,
    Length(&'a PropertyDef),
    RefCount(&'a PropertyDef),
}

pub(crate) fn resolve_target<'a>(
    class: &'a ClassDef,
    target: &Target,
) -> Result<Resolved<'a>, DbError> {
    let prop = |name: &str| {
        class.property(name).ok_or_else(|| {
            invalid(format!(
                "no such prop with name '{name}' found in class '{}' in the schema. Check your schema files for which properties in this class are available",
                class.name
            ))
        })
    };
    Ok(match target {
        Target::Id => Resolved::Id,
        Target::CreationTime => Resolved::CreationTime,
        Target::UpdateTime => Resolved::UpdateTime,
        Target::Length(name) => Resolved::Length(prop(name)?),
        Target::RefCount(name) => {
            let p = prop(name)?;
            if !p.is_reference() {
                return Err(invalid(format!(
                    "property '{name}' is not a reference-type: it has no reference count"
                )));
            }
            Resolved::RefCount(p)
        }
        Target::Reference { .. } => {
            return Err(invalid(
                "a reference path must be bound to its target class before evaluation".into(),
            ));
        }
        Target::Property(name) => {
            let p = prop(name)?;
            let Some(primitive) = p.data_type.primitive() else {
                return Err(invalid(format!(
                    "filtering by the reference property '{name}' needs a path through it to a \
                     property of the target class, or its reference count"
                )));
            };
            Resolved::Property(p, primitive)
        }
    })
}

impl Filter {
    /// Checks the filter against the class: known properties, filterable, value types that fit.
    pub fn validate(&self, class: &ClassDef) -> Result<(), DbError> {
        match self {
            Filter::And(fs) | Filter::Or(fs) => fs.iter().try_for_each(|f| f.validate(class)),
            Filter::Not(f) => f.validate(class),
            Filter::Beacons { property, .. } => {
                let is_ref = class
                    .property(property)
                    .is_some_and(PropertyDef::is_reference);
                if !is_ref {
                    return Err(invalid(format!(
                        "property '{property}' is not a reference-type"
                    )));
                }
                Ok(())
            }
            Filter::Condition { target, op, value } => {
                validate_condition(class, target, *op, value)
            }
        }
    }

    /// Whether `obj` (of `class`, already validated against) satisfies the filter.
    pub fn matches(&self, class: &ClassDef, obj: &StoredObject) -> bool {
        match self {
            Filter::And(fs) => fs.iter().all(|f| f.matches(class, obj)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(class, obj)),
            Filter::Not(f) => !f.matches(class, obj),
            Filter::Beacons { property, beacons } => match obj.properties.get(property) {
                Some(Value::Array(items)) => items.iter().any(|r| {
                    r.get("beacon")
                        .and_then(Value::as_str)
                        .is_some_and(|b| beacons.contains(b))
                }),
                _ => false,
            },
            Filter::Condition { target, op, value } => {
                let Ok(resolved) = resolve_target(class, target) else {
                    return false;
                };
                condition_matches(&resolved, *op, value, obj)
            }
        }
    }
}

fn validate_condition(
    class: &ClassDef,
    target: &Target,
    op: Operator,
    value: &FilterValue,
) -> Result<(), DbError> {
    use Operator as O;
    let resolved = resolve_target(class, target)?;
    let array_op = matches!(op, O::ContainsAny | O::ContainsAll | O::ContainsNone);
    match op {
        O::IsNull if !matches!(value, FilterValue::Bool(_)) => {
            return Err(invalid(format!(
                "operator IsNull requires a valueBoolean, got {}",
                value.name()
            )));
        }
        O::WithinGeoRange if !matches!(value, FilterValue::Geo { .. }) => {
            return Err(invalid(
                "operator WithinGeoRange requires a valueGeoRange".into(),
            ));
        }
        _ if array_op && !value.is_array() => {
            return Err(invalid(format!(
                "operator {op:?} requires an array value, got {}",
                value.name()
            )));
        }
        _ if !array_op && value.is_array() => {
            return Err(invalid(format!(
                "operator {op:?} does not take an array value ({})",
                value.name()
            )));
        }
        _ => {}
    }
    if op == O::IsNull {
        return Ok(());
    }
    let expected = match resolved {
        Resolved::Id => Primitive::Uuid,
        Resolved::CreationTime | Resolved::UpdateTime => Primitive::Date,
        Resolved::Length(_) | Resolved::RefCount(_) => Primitive::Int,
        Resolved::Property(p, primitive) => {
            if !p.index_filterable && primitive != Primitive::GeoCoordinates {
                return Err(invalid(format!(
                    "Filtering by property '{}' requires inverted index. Is `indexFilterable` option of property '{}' enabled? Set it to true or leave empty",
                    p.name, p.name
                )));
            }
            if !is_indexed(&p.data_type) && primitive != Primitive::GeoCoordinates {
                return Err(invalid(format!(
                    "properties of type {primitive:?} cannot be filtered"
                )));
            }
            primitive.element()
        }
    };
    if expected == Primitive::GeoCoordinates || op == O::WithinGeoRange {
        if expected != Primitive::GeoCoordinates || op != O::WithinGeoRange {
            return Err(invalid(
                "WithinGeoRange is the only operator on geoCoordinates, and it needs a geoCoordinates property".into(),
            ));
        }
        return Ok(());
    }
    for single in value.singles() {
        let fits = match (&single, expected) {
            (FilterValue::Text(_), Primitive::Text | Primitive::Uuid) => true,
            (FilterValue::Text(s), Primitive::Date) => time_value(s).is_some(),
            (FilterValue::Int(_), Primitive::Int | Primitive::Number) => true,
            (FilterValue::Number(_), Primitive::Number) => true,
            (FilterValue::Bool(_), Primitive::Boolean) => true,
            _ => false,
        };
        if !fits {
            return Err(invalid(format!(
                "data type filter cannot use {} on type {}, use {} instead",
                single.name(),
                type_name(expected),
                value_name(expected)
            )));
        }
    }
    if op == O::Like && !matches!(expected, Primitive::Text | Primitive::Uuid) {
        return Err(invalid(format!(
            "operator Like needs a text property, not {}",
            type_name(expected)
        )));
    }
    Ok(())
}

fn type_name(p: Primitive) -> &'static str {
    match p {
        Primitive::Text => "text",
        Primitive::Int => "int",
        Primitive::Number => "number",
        Primitive::Boolean => "boolean",
        Primitive::Date => "date",
        Primitive::Uuid => "uuid",
        _ => "this type",
    }
}

fn value_name(p: Primitive) -> &'static str {
    match p {
        Primitive::Int => "valueInt",
        Primitive::Number => "valueNumber",
        Primitive::Boolean => "valueBoolean",
        Primitive::Date => "valueDate",
        _ => "valueText",
    }
}

/// A time filter value: RFC 3339, or unix milliseconds as text. Returns unix microseconds.
pub(crate) fn time_value(s: &str) -> Option<i64> {
    if let Ok(ms) = s.trim().parse::<i64>() {
        return ms.checked_mul(1000);
    }
    parse_date(s).map(|t| t.as_microsecond())
}

/// The tokenization text of `p` is compared with.
pub(crate) fn tokenization(p: &PropertyDef) -> Tokenization {
    p.tokenization.unwrap_or(Tokenization::Word)
}

/// The scalars of a filter value for a property of scalar kind `kind` (text values are split
/// into tokens by the property's tokenization: an `Equal` needs all of them).
pub(crate) fn value_scalars(kind: Primitive, tok: Tokenization, v: &FilterValue) -> Vec<Scalar> {
    match (kind, v) {
        (Primitive::Text, FilterValue::Text(s)) => {
            tokenize(tok, s).into_iter().map(Scalar::Text).collect()
        }
        (Primitive::Uuid, FilterValue::Text(s)) => Uuid::parse_str(s.trim())
            .map(|u| Scalar::Text(u.to_string()))
            .into_iter()
            .collect(),
        (Primitive::Date, FilterValue::Text(s)) => {
            time_value(s).map(Scalar::Int).into_iter().collect()
        }
        (Primitive::Int, FilterValue::Int(i)) => vec![Scalar::Int(*i)],
        (Primitive::Number, FilterValue::Int(i)) => vec![Scalar::Number(*i as f64)],
        (Primitive::Number, FilterValue::Number(n)) => vec![Scalar::Number(*n)],
        (Primitive::Boolean, FilterValue::Bool(b)) => vec![Scalar::Bool(*b)],
        _ => Vec::new(),
    }
}

/// The scalars an object holds for a property of scalar kind `kind`.
pub(crate) fn object_scalars(kind: Primitive, tok: Tokenization, v: Option<&Value>) -> Vec<Scalar> {
    let one = |v: &Value| -> Vec<Scalar> {
        match (kind, v) {
            (Primitive::Text, Value::String(s)) => {
                tokenize(tok, s).into_iter().map(Scalar::Text).collect()
            }
            (Primitive::Uuid, Value::String(s)) => Uuid::parse_str(s)
                .map(|u| Scalar::Text(u.to_string()))
                .into_iter()
                .collect(),
            (Primitive::Date, Value::String(s)) => parse_date(s)
                .map(|t| Scalar::Int(t.as_microsecond()))
                .into_iter()
                .collect(),
            (Primitive::Int, Value::Number(n)) => n.as_i64().map(Scalar::Int).into_iter().collect(),
            (Primitive::Number, Value::Number(n)) => {
                n.as_f64().map(Scalar::Number).into_iter().collect()
            }
            (Primitive::Boolean, Value::Bool(b)) => vec![Scalar::Bool(*b)],
            _ => Vec::new(),
        }
    };
    match v {
        Some(Value::Array(items)) => items.iter().flat_map(one).collect(),
        Some(other) => one(other),
        None => Vec::new(),
    }
}

fn is_null(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

/// `*` any run, `?` one character (on characters, not bytes).
pub(crate) fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The pattern of a `Like` as the index holds tokens: lower-cased where the tokenization folds.
pub(crate) fn like_pattern(tok: Tokenization, pattern: &str) -> String {
    match tok {
        Tokenization::Whitespace | Tokenization::Field => pattern.trim().to_string(),
        _ => pattern.trim().to_lowercase(),
    }
}

fn compare(op: Operator, have: &Scalar, want: &Scalar) -> bool {
    use std::cmp::Ordering as Ord;
    let ord = match (have, want) {
        (Scalar::Number(a), Scalar::Number(b)) => a.partial_cmp(b),
        _ => have.partial_cmp(want),
    };
    match (op, ord) {
        (Operator::GreaterThan, Some(o)) => o == Ord::Greater,
        (Operator::GreaterThanEqual, Some(o)) => o != Ord::Less,
        (Operator::LessThan, Some(o)) => o == Ord::Less,
        (Operator::LessThanEqual, Some(o)) => o != Ord::Greater,
        _ => false,
    }
}

/// Equal of one filter value: every token of the value is among the object's (text), or
/// some element equals it (everything else).
fn equal_one(kind: Primitive, tok: Tokenization, have: &[Scalar], want: &FilterValue) -> bool {
    let want = value_scalars(kind, tok, want);
    !want.is_empty() && want.iter().all(|w| have.iter().any(|h| scalar_eq(h, w)))
}

fn scalar_eq(a: &Scalar, b: &Scalar) -> bool {
    match (a, b) {
        (Scalar::Number(x), Scalar::Number(y)) => x == y,
        _ => a == b,
    }
}

fn condition_matches(
    target: &Resolved<'_>,
    op: Operator,
    value: &FilterValue,
    obj: &StoredObject,
) -> bool {
    use Operator as O;
    let (kind, tok, have, raw) = match target {
        Resolved::Property(p, primitive) => {
            let raw = obj.properties.get(&p.name);
            if op == O::WithinGeoRange {
                return geo_within(raw, value);
            }
            let kind = primitive.element();
            let tok = tokenization(p);
            (kind, tok, object_scalars(kind, tok, raw), raw.cloned())
        }
        Resolved::Id => (
            Primitive::Uuid,
            Tokenization::Field,
            vec![Scalar::Text(obj.id.to_string())],
            Some(Value::String(obj.id.to_string())),
        ),
        Resolved::CreationTime => (
            Primitive::Date,
            Tokenization::Field,
            vec![Scalar::Int(obj.created_ms * 1000)],
            Some(Value::Bool(true)),
        ),
        Resolved::UpdateTime => (
            Primitive::Date,
            Tokenization::Field,
            vec![Scalar::Int(obj.updated_ms * 1000)],
            Some(Value::Bool(true)),
        ),
        Resolved::Length(p) | Resolved::RefCount(p) => {
            let len = match obj.properties.get(&p.name) {
                Some(Value::String(s)) => s.chars().count() as i64,
                Some(Value::Array(a)) => a.len() as i64,
                _ => 0,
            };
            (
                Primitive::Int,
                Tokenization::Field,
                vec![Scalar::Int(len)],
                Some(Value::Bool(true)),
            )
        }
    };
    match op {
        O::IsNull => matches!(value, FilterValue::Bool(b) if *b == is_null(raw.as_ref())),
        O::Equal => equal_one(kind, tok, &have, value),
        O::NotEqual => !equal_one(kind, tok, &have, value),
        O::GreaterThan | O::GreaterThanEqual | O::LessThan | O::LessThanEqual => {
            let want = value_scalars(kind, tok, value);
            want.first()
                .is_some_and(|w| have.iter().any(|h| compare(op, h, w)))
        }
        O::Like => match value {
            FilterValue::Text(pattern) => {
                let pattern = like_pattern(tok, pattern);
                have.iter()
                    .any(|h| matches!(h, Scalar::Text(t) if like(&pattern, t)))
            }
            _ => false,
        },
        O::ContainsAny => value
            .singles()
            .iter()
            .any(|v| equal_one(kind, tok, &have, v)),
        O::ContainsAll => value
            .singles()
            .iter()
            .all(|v| equal_one(kind, tok, &have, v)),
        O::ContainsNone => !value
            .singles()
            .iter()
            .any(|v| equal_one(kind, tok, &have, v)),
        O::WithinGeoRange => false,
    }
}

/// Great-circle distance in metres (haversine, mean Earth radius).
pub(crate) fn geo_distance(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const R: f64 = 6_371_000.0;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * a.sqrt().atan2((1.0 - a).sqrt())
}

fn geo_within(raw: Option<&Value>, value: &FilterValue) -> bool {
    let FilterValue::Geo {
        latitude,
        longitude,
        distance,
    } = value
    else {
        return false;
    };
    let Some(Value::Object(point)) = raw else {
        return false;
    };
    let get = |k: &str| point.get(k).and_then(Value::as_f64);
    match (get("latitude"), get("longitude")) {
        (Some(lat), Some(lon)) => geo_distance(lat, lon, *latitude, *longitude) <= *distance,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_handles_stars_and_question_marks() {
        assert!(like("hel*", "hello"));
        assert!(like("h?llo", "hello"));
        assert!(like("*", ""));
        assert!(like("*ll*", "hello"));
        assert!(!like("h?lo", "hello"));
        assert!(!like("hello?", "hello"));
        assert!(like("*o", "hello"));
        assert!(!like("*x", "hello"));
    }

    #[test]
    fn geo_distance_is_about_right() {
        // Amsterdam to Berlin: about 577 km.
        let d = geo_distance(52.3676, 4.9041, 52.52, 13.405);
        assert!((570_000.0..585_000.0).contains(&d), "{d}");
    }
}
