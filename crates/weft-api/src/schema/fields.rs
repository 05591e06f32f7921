//! Typed access to the fields of a JSON object, with 422 messages that name the field.
//!
//! Missing keys and `null` read as "not given". A key holding the wrong JSON type is an
//! error (`invertedIndexConfig.bm25.k1: expected a number, got a string ("x")`), never a
//! panic. Unknown keys are simply never read.

use serde_json::{Map, Value};
use weft_db::error::UserError;

/// A short description of a JSON value for error messages.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => format!("a string ({s:?})"),
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// Sets `slot` when `value` was given.
pub(super) fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// A 422 error with `message`.
pub(super) fn invalid(message: impl Into<String>) -> UserError {
    UserError::Invalid(message.into())
}

/// The fields of one JSON object, and where that object is in the request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

/// Owned path storage so nested [`Fields`] can borrow it.
#[derive(Debug)]
pub(super) struct Nested<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Nested<'a> {
    /// The fields of the nested object.
    pub(super) fn fields(&self) -> Fields<'_> {
        Fields {
            map: self.map,
            path: &self.path,
        }
    }
}

impl<'a> Fields<'a> {
    /// The fields of `value`, which must be an object; `path` names it in messages (`""` for
    /// the request body itself).
    pub(super) fn of(value: &'a Value, path: &'a str) -> Result<Self, UserError> {
        match value {
            Value::Object(map) => Ok(Self { map, path }),
            other => {
                let what = if path.is_empty() {
                    "request body"
                } else {
                    path
                };
                Err(invalid(format!(
                    "{what}: expected an object, got {}",
                    describe(other)
                )))
            }
        }
    }

    /// The dotted path of `key`.
    pub(super) fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn wrong(&self, key: &str, expected: &str, got: &Value) -> UserError {
        invalid(format!(
            "{}: expected {expected}, got {}",
            self.path_of(key),
            describe(got)
        ))
    }

    /// The raw value of `key`; `None` when missing or `null`.
    pub(super) fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Whether the object has no keys.
    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The keys of the object, in document order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &'a str> {
        self.map.keys().map(String::as_str)
    }

    /// Whether `key` is present with a non-null value.
    pub(super) fn has(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    /// A string field.
    pub(super) fn str(&self, key: &str) -> Result<Option<&'a str>, UserError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A boolean field.
    pub(super) fn bool(&self, key: &str) -> Result<Option<bool>, UserError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "a boolean", other)),
        }
    }

    /// A number field.
    pub(super) fn f64(&self, key: &str) -> Result<Option<f64>, UserError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a number", v)),
            Some(other) => Err(self.wrong(key, "a number", other)),
        }
    }

    /// An integer field (an integral float such as `8.0` is accepted).
    pub(super) fn i64(&self, key: &str) -> Result<Option<i64>, UserError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                        .map(|f| f as i64)
                })
                .map(Some)
                .ok_or_else(|| self.wrong(key, "an integer", v)),
            Some(other) => Err(self.wrong(key, "an integer", other)),
        }
    }

    /// A non-negative integer field that fits `T`.
    pub(super) fn unsigned<T: TryFrom<i64>>(&self, key: &str) -> Result<Option<T>, UserError> {
        match self.i64(key)? {
            None => Ok(None),
            Some(n) => T::try_from(n).map(Some).map_err(|_| {
                invalid(format!(
                    "{}: expected a non-negative integer in range, got {n}",
                    self.path_of(key)
                ))
            }),
        }
    }

    /// A nested object field.
    pub(super) fn object(&self, key: &str) -> Result<Option<Nested<'a>>, UserError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Nested {
                map,
                path: self.path_of(key),
            })),
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }

    /// An opaque object field, kept as JSON (module settings).
    pub(super) fn opaque_object(&self, key: &str) -> Result<Option<Value>, UserError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }

    /// An array field.
    pub(super) fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, UserError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }

    /// An array-of-strings field.
    pub(super) fn strings(&self, key: &str) -> Result<Option<Vec<String>>, UserError> {
        let Some(items) = self.array(key)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(self.wrong(key, "an array of strings", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A string field parsed with `parse`; `what` describes the accepted values.
    pub(super) fn parsed<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Option<T>,
        what: &str,
    ) -> Result<Option<T>, UserError> {
        match self.str(key)? {
            None => Ok(None),
            Some(s) => parse(s).map(Some).ok_or_else(|| {
                invalid(format!(
                    "{}: unsupported value {s:?} (expected {what})",
                    self.path_of(key)
                ))
            }),
        }
    }
}
