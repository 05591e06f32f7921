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

/// Converts a wire filter (reference paths included); unknown operators and missing values
/// are errors.
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
    match target {
        Some(t) => wire_target(t, 0),
        None => path_target(&on),
    }
}

/// The typed target of the client's `Filter.by_ref(...)` / `by_ref_multi_target` /
/// `by_ref_count` / `by_property`.
fn wire_target(t: FilterTarget, depth: usize) -> Result<Target, WireError> {
    if depth > MAX_DEPTH {
        return Err(invalid(format!(
            "filter targets nest deeper than {MAX_DEPTH} levels"
        )));
    }
    let inner = |t: Option<Box<FilterTarget>>| -> Result<Box<Target>, WireError> {
        let t = t.ok_or_else(|| invalid("a reference filter target has no target"))?;
        Ok(Box::new(wire_target(*t, depth + 1)?))
    };
    Ok(match t.target {
        Some(WireTarget::Property(p)) => named_target(p),
        Some(WireTarget::SingleTarget(r)) => {
            let r = *r;
            Target::Reference {
                on: r.on,
                class: None,
                target: inner(r.target)?,
            }
        }
        Some(WireTarget::MultiTarget(r)) => {
            let r = *r;
            Target::Reference {
                on: r.on,
                class: Some(r.target_collection),
                target: inner(r.target)?,
            }
        }
        Some(WireTarget::Count(c)) => Target::RefCount(c.on),
        None => return Err(invalid("filter has no target property")),
    })
}

/// Most reference hops a path may take (the conversion recurses once per hop).
const MAX_PATH_HOPS: usize = 32;

/// The legacy `on` path: `[property]` or `[refProperty, Class, …, property]`.
pub(crate) fn path_target(on: &[String]) -> Result<Target, WireError> {
    if on.len() > 2 * MAX_PATH_HOPS + 1 {
        return Err(invalid(format!(
            "a filter path may go through at most {MAX_PATH_HOPS} references, got {} components",
            on.len()
        )));
    }
    match on {
        [] => Err(invalid("filter has no target property")),
        [one] => Ok(named_target(one.clone())),
        _ if on.len().is_multiple_of(2) => Err(invalid(format!(
            "paths needs to have a uneven number of components: property, class, property, \
             ...., got [{}]",
            on.join(" ")
        ))),
        [prop, class, rest @ ..] => Ok(Target::Reference {
            on: prop.clone(),
            class: Some(class.clone()),
            target: Box::new(path_target(rest)?),
        }),
    }
}

fn named_target(name: String) -> Target {
    match name.as_str() {
        "_id" | "id" => Target::Id,
        "_creationTimeUnix" => Target::CreationTime,
        "_lastUpdateTimeUnix" => Target::UpdateTime,
        _ => match name.strip_prefix("len(").and_then(|r| r.strip_suffix(')')) {
            Some(inner) => Target::Length(inner.to_string()),
            None => Target::Property(name),
        },
    }
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

    #[test]
    fn reference_targets_convert_to_nested_paths() {
        use crate::proto::v1::{
            FilterReferenceCount, FilterReferenceMultiTarget, FilterReferenceSingleTarget,
        };
        let prop = |p: &str| FilterTarget {
            target: Some(WireTarget::Property(p.into())),
        };
        let two_hops = FilterTarget {
            target: Some(WireTarget::SingleTarget(Box::new(
                FilterReferenceSingleTarget {
                    on: "about".into(),
                    target: Some(Box::new(FilterTarget {
                        target: Some(WireTarget::MultiTarget(Box::new(
                            FilterReferenceMultiTarget {
                                on: "writtenBy".into(),
                                target_collection: "Author".into(),
                                target: Some(Box::new(prop("name"))),
                            },
                        ))),
                    })),
                },
            ))),
        };
        let f = Filters {
            operator: WireOp::Equal as i32,
            target: Some(two_hops),
            test_value: Some(TestValue::ValueText("x".into())),
            ..Filters::default()
        };
        let want = Target::Reference {
            on: "about".into(),
            class: None,
            target: Box::new(Target::Reference {
                on: "writtenBy".into(),
                class: Some("Author".into()),
                target: Box::new(Target::Property("name".into())),
            }),
        };
        assert!(matches!(filter(f).unwrap(), Filter::Condition { target, .. } if target == want));
        let count = Filters {
            operator: WireOp::GreaterThan as i32,
            target: Some(FilterTarget {
                target: Some(WireTarget::Count(FilterReferenceCount {
                    on: "writtenBy".into(),
                })),
            }),
            test_value: Some(TestValue::ValueInt(1)),
            ..Filters::default()
        };
        assert!(
            matches!(filter(count).unwrap(), Filter::Condition { target: Target::RefCount(p), .. } if p == "writtenBy")
        );
        let legacy = Filters {
            operator: WireOp::Equal as i32,
            on: vec!["writtenBy".into(), "Author".into(), "name".into()],
            test_value: Some(TestValue::ValueText("x".into())),
            ..Filters::default()
        };
        let want = Target::Reference {
            on: "writtenBy".into(),
            class: Some("Author".into()),
            target: Box::new(Target::Property("name".into())),
        };
        assert!(
            matches!(filter(legacy).unwrap(), Filter::Condition { target, .. } if target == want)
        );
        let even = Filters {
            operator: WireOp::Equal as i32,
            on: vec!["writtenBy".into(), "Author".into()],
            test_value: Some(TestValue::ValueText("x".into())),
            ..Filters::default()
        };
        assert!(filter(even).unwrap_err().message.contains("uneven number"));
    }
}
