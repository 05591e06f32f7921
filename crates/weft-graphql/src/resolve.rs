//! Output values and errors shared by the class resolvers.

use async_graphql::{Name, Value};
use weft_api::error::WireError;

/// A query that cannot be answered: the message becomes the GraphQL error of the class field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveError(pub String);

impl From<WireError> for ResolveError {
    fn from(e: WireError) -> Self {
        Self(e.message)
    }
}

impl From<ResolveError> for async_graphql::Error {
    fn from(e: ResolveError) -> Self {
        async_graphql::Error::new(e.0)
    }
}

/// A float32 as the shortest decimal that reads back as it (Go prints float32s so: `0.1`,
/// not `0.10000000149011612`).
pub fn f32_value(x: f32) -> Value {
    let shortest: f64 = format!("{x}").parse().unwrap_or(f64::from(x));
    f64_value(shortest)
}

/// A float64 as Go's `encoding/json` prints it: integral values without a fraction (`7`,
/// not `7.0`); `null` when not finite.
pub fn f64_value(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        return Value::Number(serde_json::Number::from(x as i64));
    }
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// A float64 printed as Go prints it (see [`f64_value`]).
pub fn go_number(x: f64) -> Value {
    f64_value(x)
}

/// A list of float32s.
pub fn vector_value(v: &[f32]) -> Value {
    Value::List(v.iter().copied().map(f32_value).collect())
}

/// A JSON value (stored properties) as a GraphQL value.
pub fn json_value(v: &serde_json::Value) -> Value {
    Value::from_json(v.clone()).unwrap_or(Value::Null)
}

/// An object value from its fields.
pub fn object(fields: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (Name::new(k), v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_weaviate_prints_them() {
        assert_eq!(f32_value(0.1).to_string(), "0.1");
        assert_eq!(go_number(7.0).to_string(), "7");
        assert_eq!(go_number(7.5).to_string(), "7.5");
        assert_eq!(f64_value(f64::NAN), Value::Null);
    }
}
