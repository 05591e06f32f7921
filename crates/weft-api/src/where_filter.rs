//! The `where` filter of REST and GraphQL (`{"operator": "Equal", "path": ["title"],
//! "valueText": "x"}`, `operands` for `And` / `Or` / `Not`) → the database's [`Filter`].

use serde_json::{Map, Value};
use weft_db::query::{Filter, FilterValue, Operator, Target};

use crate::error::{ErrorCode, WireError};

const MAX_DEPTH: usize = 64;

fn invalid(message: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::InvalidInput, message)
}

/// Converts a JSON `where` object.
pub fn where_filter(v: &Value) -> Result<Filter, WireError> {
    convert(v, 0)
}

fn convert(v: &Value, depth: usize) -> Result<Filter, WireError> {
    if depth > MAX_DEPTH {
        return Err(invalid(format!(
            "filters nest deeper than {MAX_DEPTH} levels"
        )));
    }
    let Value::Object(m) = v else {
        return Err(invalid("invalid where filter: expected an object"));
    };
    let op = m
        .get("operator")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("invalid where filter: operator is required"))?;
    let operands = || -> Result<Vec<Filter>, WireError> {
        match m.get("operands") {
            Some(Value::Array(a)) => a.iter().map(|o| convert(o, depth + 1)).collect(),
            None => Ok(Vec::new()),
            Some(_) => Err(invalid("invalid where filter: operands must be an array")),
        }
    };
    let op = match op {
        "And" => return Ok(Filter::And(operands()?)),
        "Or" => return Ok(Filter::Or(operands()?)),
        "Not" => {
            let mut kids = operands()?;
            return match (kids.pop(), kids.is_empty()) {
                (Some(only), true) => Ok(Filter::Not(Box::new(only))),
                _ => Err(invalid("operator Not takes exactly one operand")),
            };
        }
        "Equal" => Operator::Equal,
        "NotEqual" => Operator::NotEqual,
        "GreaterThan" => Operator::GreaterThan,
        "GreaterThanEqual" => Operator::GreaterThanEqual,
        "LessThan" => Operator::LessThan,
        "LessThanEqual" => Operator::LessThanEqual,
        "Like" => Operator::Like,
        "IsNull" => Operator::IsNull,
        "ContainsAny" => Operator::ContainsAny,
        "ContainsAll" => Operator::ContainsAll,
        "ContainsNone" => Operator::ContainsNone,
        "WithinGeoRange" => Operator::WithinGeoRange,
        other => {
            return Err(invalid(format!(
                "invalid where filter: unknown operator {other:?}"
            )));
        }
    };
    Ok(Filter::Condition {
        target: target(m)?,
        op,
        value: value(m)?,
    })
}

fn target(m: &Map<String, Value>) -> Result<Target, WireError> {
    let path: Vec<String> = match m.get("path") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => return Err(invalid("invalid where filter: path is required")),
    };
    if path.is_empty() {
        return Err(invalid("invalid where filter: path is empty"));
    }
    crate::grpc::filters::path_target(&path)
}

fn value(m: &Map<String, Value>) -> Result<FilterValue, WireError> {
    let bad = |k: &str| invalid(format!("invalid where filter: {k} has the wrong type"));
    let strings = |k: &str, v: &Value| -> Result<Vec<String>, WireError> {
        v.as_array()
            .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect())
            .ok_or_else(|| bad(k))
    };
    for (k, v) in m {
        let found = match k.as_str() {
            "valueText" | "valueString" | "valueDate" => {
                FilterValue::Text(v.as_str().ok_or_else(|| bad(k))?.to_string())
            }
            "valueInt" => FilterValue::Int(v.as_i64().ok_or_else(|| bad(k))?),
            "valueNumber" => FilterValue::Number(v.as_f64().ok_or_else(|| bad(k))?),
            "valueBoolean" => FilterValue::Bool(v.as_bool().ok_or_else(|| bad(k))?),
            "valueTextArray" | "valueStringArray" | "valueDateArray" => {
                FilterValue::TextArray(strings(k, v)?)
            }
            "valueIntArray" => FilterValue::IntArray(
                v.as_array()
                    .and_then(|a| a.iter().map(Value::as_i64).collect())
                    .ok_or_else(|| bad(k))?,
            ),
            "valueNumberArray" => FilterValue::NumberArray(
                v.as_array()
                    .and_then(|a| a.iter().map(Value::as_f64).collect())
                    .ok_or_else(|| bad(k))?,
            ),
            "valueBooleanArray" => FilterValue::BoolArray(
                v.as_array()
                    .and_then(|a| a.iter().map(Value::as_bool).collect())
                    .ok_or_else(|| bad(k))?,
            ),
            "valueGeoRange" => {
                let geo = v.get("geoCoordinates");
                let get =
                    |o: Option<&Value>, f: &str| o.and_then(|o| o.get(f)).and_then(Value::as_f64);
                match (
                    get(geo, "latitude"),
                    get(geo, "longitude"),
                    get(v.get("distance"), "max"),
                ) {
                    (Some(latitude), Some(longitude), Some(distance)) => FilterValue::Geo {
                        latitude,
                        longitude,
                        distance,
                    },
                    _ => return Err(bad(k)),
                }
            }
            _ => continue,
        };
        return Ok(found);
    }
    Err(invalid(
        "invalid where filter: no value given (valueText, valueInt, …)",
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_where_filters_convert() {
        let f = where_filter(&json!({
            "operator": "And",
            "operands": [
                {"operator": "Equal", "path": ["title"], "valueText": "x"},
                {"operator": "Not", "operands": [{"operator": "GreaterThan", "path": ["len(title)"], "valueInt": 3}]},
                {"operator": "WithinGeoRange", "path": ["place"], "valueGeoRange": {"geoCoordinates": {"latitude": 1.0, "longitude": 2.0}, "distance": {"max": 5.0}}},
                {"operator": "ContainsAny", "path": ["id"], "valueTextArray": ["a"]},
            ]
        }))
        .unwrap();
        let Filter::And(parts) = f else { panic!() };
        assert_eq!(parts.len(), 4);
        assert!(matches!(
            &parts[3],
            Filter::Condition {
                target: Target::Id,
                ..
            }
        ));
        assert!(
            matches!(&parts[2], Filter::Condition { value: FilterValue::Geo { distance, .. }, .. } if *distance == 5.0)
        );
    }

    #[test]
    fn malformed_where_filters_are_invalid_input() {
        for bad in [
            json!("x"),
            json!({"path": ["a"], "valueInt": 1}),
            json!({"operator": "Nope", "path": ["a"], "valueInt": 1}),
            json!({"operator": "Equal", "path": ["a"]}),
            json!({"operator": "Equal", "path": ["a"], "valueInt": "1"}),
            json!({"operator": "Equal", "path": ["ref", "Other"], "valueText": "x"}),
        ] {
            let err = where_filter(&bad).unwrap_err();
            assert_eq!(err.status, 422, "{bad}: {}", err.message);
        }
    }
}
