//! Request bodies: JSON parsed by hand so that syntax errors get 400 and shape errors 422,
//! always in Weaviate's error shape.

use axum::body::Bytes;
use serde_json::Value;
use weft_api::error::ErrorCode;

use super::ApiError;

/// Parses a JSON body of any shape. Syntax errors are 400; an empty body is 422.
pub fn json_value(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "request body is required",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedBody,
            format!("parsing body from \"\" failed: {e}"),
        )
    })
}

/// Parses a JSON object body. Syntax errors are 400; valid JSON that is not an object is 422.
pub fn json_object(bytes: &Bytes) -> Result<Value, ApiError> {
    let value = json_value(bytes)?;
    if !value.is_object() {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!("request body must be a JSON object, got {}", kind(&value)),
        ));
    }
    Ok(value)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
