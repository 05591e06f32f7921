//! gRPC `Filters` → the database's [`Filter`]: the one place the wire shape of a filter is
//! read (Search, Aggregate and BatchDelete all use it).

use weft_db::query::{Filter, FilterValue, Operator, Target};

use crate::error::{ErrorCode, WireError};
use crate::proto::v1::filter_target::Target as WireTarget;
use crate::proto::v1::filters::{Operator as WireOp, TestValue};
use crate::proto::v1::{FilterTarget, Filters};

/// How deep a filter may nest (a malicious request must not exhaust the stack).
const MAX_DEPTH: usize = 64;

fn invalid(message: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::InvalidInput, message)
}

/// Converts a wire filter; unknown operators, missing values and reference paths are errors.
pub fn filter(f: Filters) -> Result<Filter, WireError> {
    convert(f, 0)
}

fn convert(f: Filters, depth: usize) -> Result<Filter, WireError> {
    if depth > MAX_DEPTH {
        return Err(invalid(format!(
            "filters nest deeper than {MAX_DEPTH} levels"
        )));
    }
    let Filters {
        operator,
        on,
        filters,
        test_value,
        target,
    } = f;
    let op = WireOp::try_from(operator)
        .map_err(|_| invalid(format!("unknown filter operator {operator}")))?;
    let children = |fs: Vec<Filters>| -> Result<Vec<Filter>, WireError> {
        fs.into_iter().map(|f| convert(f, depth + 1)).collect()
    };
    let op = match op {
        WireOp::And => return Ok(Filter::And(children(filters)?)),
        WireOp::Or => return Ok(Filter::Or(children(filters)?)),
        WireOp::Not => {
            let mut kids = children(filters)?;
            return match (kids.pop(), kids.is_empty()) {
                (Some(only), true) => Ok(Filter::Not(Box::new(only))),
                _ => Err(invalid("operator Not takes exactly one operand")),
            };
        }
        WireOp::Unspecified => return Err(invalid("filter operator is not set")),
        WireOp::Equal => Operator::Equal,
        WireOp::NotEqual => Operator::NotEqual,
        WireOp::GreaterThan => Operator::GreaterThan,
        WireOp::GreaterThanEqual => Operator::GreaterThanEqual,
        WireOp::LessThan => Operator::LessThan,
        WireOp::LessThanEqual => Operator::LessThanEqual,
        WireOp::Like => Operator::Like,
        WireOp::IsNull => Operator::IsNull,
        WireOp::ContainsAny => Operator::ContainsAny,
        WireOp::ContainsAll => Operator::ContainsAll,
        WireOp::ContainsNone => Operator::ContainsNone,
        WireOp::WithinGeoRange => Operator::WithinGeoRange,
    };
    let target = filter_target(target, on)?;
    let value = test_value
        .map(value)
        .ok_or_else(|| invalid(format!("filter {op:?} has no value")))?;
    Ok(Filter::Condition { target, op, value })
}

fn filter_target(target: Option<FilterTarget>, on: Vec<String>) -> Result<Target, WireError> {
    let name = match target.and_then(|t| t.target) {
        Some(WireTarget::Property(p)) => p,
        Some(WireTarget::SingleTarget(_) | WireTarget::MultiTarget(_)) => {
            return Err(invalid(
                "filters through cross-references (Filter.by_ref) are not supported by weft yet",
            ));
        }
        Some(WireTarget::Count(_)) => {
            return Err(invalid(
                "filters on reference counts (Filter.by_ref_count) are not supported by weft yet",
            ));
        }
        None => match on.as_slice() {
            [one] => one.clone(),
            [] => return Err(invalid("filter has no target property")),
            _ => {
                return Err(invalid(
                    "filters through cross-references (a path in 'on') are not supported by weft yet",
                ));
            }
        },
    };
    Ok(match name.as_str() {
        "_id" | "id" => Target::Id,
        "_creationTimeUnix" => Target::CreationTime,
        "_lastUpdateTimeUnix" => Target::UpdateTime,
        _ => match name.strip_prefix("len(").and_then(|r| r.strip_suffix(')')) {
            Some(inner) => Target::Length(inner.to_string()),
            None => Target::Property(name),
        },
    })
}

fn value(v: TestValue) -> FilterValue {
    match v {
        TestValue::ValueText(s) => FilterValue::Text(s),
        TestValue::ValueInt(i) => FilterValue::Int(i),
        TestValue::ValueBoolean(b) => FilterValue::Bool(b),
        TestValue::ValueNumber(n) => FilterValue::Number(n),
        TestValue::ValueTextArray(a) => FilterValue::TextArray(a.values),
        TestValue::ValueIntArray(a) => FilterValue::IntArray(a.values),
        TestValue::ValueBooleanArray(a) => FilterValue::BoolArray(a.values),
        TestValue::ValueNumberArray(a) => FilterValue::NumberArray(a.values),
        TestValue::ValueGeo(g) => FilterValue::Geo {
            latitude: f64::from(g.latitude),
            longitude: f64::from(g.longitude),
            distance: f64::from(g.distance),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::TextArray;

    fn leaf(prop: &str, op: WireOp, v: TestValue) -> Filters {
        Filters {
            operator: op as i32,
            target: Some(FilterTarget {
                target: Some(WireTarget::Property(prop.into())),
            }),
            test_value: Some(v),
            ..Filters::default()
        }
    }

    #[test]
    fn nested_filters_convert_with_special_targets() {
        let tree = Filters {
            operator: WireOp::And as i32,
            filters: vec![
                leaf(
                    "_id",
                    WireOp::ContainsAny,
                    TestValue::ValueTextArray(TextArray {
                        values: vec!["a".into()],
                    }),
                ),
                Filters {
                    operator: WireOp::Not as i32,
                    filters: vec![leaf(
                        "len(title)",
                        WireOp::GreaterThan,
                        TestValue::ValueInt(3),
                    )],
                    ..Filters::default()
                },
                Filters {
                    operator: WireOp::Equal as i32,
                    on: vec!["title".into()],
                    test_value: Some(TestValue::ValueText("x".into())),
                    ..Filters::default()
                },
            ],
            ..Filters::default()
        };
        let f = filter(tree).unwrap();
        let Filter::And(parts) = f else {
            panic!("{f:?}")
        };
        assert!(matches!(
            &parts[0],
            Filter::Condition {
                target: Target::Id,
                op: Operator::ContainsAny,
                ..
            }
        ));
        assert!(
            matches!(&parts[1], Filter::Not(inner) if matches!(**inner, Filter::Condition { target: Target::Length(ref p), .. } if p == "title"))
        );
        assert!(
            matches!(&parts[2], Filter::Condition { target: Target::Property(p), .. } if p == "title")
        );
    }

    #[test]
    fn bad_filters_are_invalid_input() {
        let no_value = Filters {
            operator: WireOp::Equal as i32,
            on: vec!["x".into()],
            ..Filters::default()
        };
        assert!(filter(no_value).unwrap_err().message.contains("no value"));
        let mut deep = leaf("x", WireOp::Equal, TestValue::ValueInt(1));
        for _ in 0..100 {
            deep = Filters {
                operator: WireOp::Or as i32,
                filters: vec![deep],
                ..Filters::default()
            };
        }
        assert!(filter(deep).unwrap_err().message.contains("nest deeper"));
        let bogus = Filters {
            operator: 99,
            ..Filters::default()
        };
        assert!(
            filter(bogus)
                .unwrap_err()
                .message
                .contains("unknown filter operator")
        );
    }
}
