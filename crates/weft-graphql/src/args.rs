//! Arguments shared by `Get`, `Aggregate` and `Explore`, read from their JSON form into the
//! values of weft's query model — the same `NearQuery`, `Filter` and `KeywordQuery` values
//! gRPC builds.

use serde_json::{Map, Value as Json};
use uuid::Uuid;
use weft_db::query::{Filter, KeywordOperator};
use weft_db::{Near, NearQuery};

use crate::Backend;
use crate::resolve::ResolveError;

/// The arguments of a field as JSON, explicit `null`s left out at every level (an input
/// object sent through variables may carry `"valueInt": null` beside the value it means).
pub fn json_args(args: &async_graphql::dynamic::ObjectAccessor<'_>) -> Map<String, Json> {
    args.as_index_map()
        .iter()
        .filter_map(|(k, v)| {
            let j = without_nulls(v.clone().into_json().ok()?);
            (!j.is_null()).then(|| (k.to_string(), j))
        })
        .collect()
}

fn without_nulls(v: Json) -> Json {
    match v {
        Json::Object(m) => Json::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

fn invalid(message: impl Into<String>) -> ResolveError {
    ResolveError(message.into())
}

fn unsupported(feature: &str) -> ResolveError {
    invalid(format!("{feature} is not supported by weft yet"))
}

/// An integer argument (`None` when absent).
pub fn int(args: &Map<String, Json>, name: &str) -> Result<Option<i64>, ResolveError> {
    match args.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{name} must be an integer"))),
    }
}

/// A float argument.
pub fn float(m: &Map<String, Json>, name: &str) -> Option<f64> {
    m.get(name).and_then(Json::as_f64)
}

/// A string argument.
pub fn string<'a>(m: &'a Map<String, Json>, name: &str) -> Option<&'a str> {
    m.get(name).and_then(Json::as_str)
}

/// A list of strings; a single string stands for a list of one (GraphQL's input coercion).
pub fn strings(m: &Map<String, Json>, name: &str) -> Vec<String> {
    match m.get(name) {
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(Json::as_str)
            .map(str::to_string)
            .collect(),
        Some(Json::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// The `where` argument as the database filter: GraphQL's lists in `valueText` and friends
/// become REST's `valueTextArray` and friends, then REST's converter reads it.
pub fn where_filter(v: &Json) -> Result<Filter, ResolveError> {
    let rest = rest_where(v);
    weft_api::where_filter::where_filter(&rest)
        .map_err(|e| invalid(format!("could not extract filters: {}", e.message)))
}

fn rest_where(v: &Json) -> Json {
    let Json::Object(m) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        let k = match (k.as_str(), v) {
            ("operands", Json::Array(items)) => {
                out.insert(
                    k.clone(),
                    Json::Array(items.iter().map(rest_where).collect()),
                );
                continue;
            }
            (
                "valueText" | "valueString" | "valueDate" | "valueInt" | "valueNumber"
                | "valueBoolean",
                Json::Array(_),
            ) => format!("{k}Array"),
            _ => k.clone(),
        };
        out.insert(k, v.clone());
    }
    Json::Object(out)
}

fn vector_of(v: &Json, what: &str) -> Result<Vec<f32>, ResolveError> {
    let items = v
        .as_array()
        .ok_or_else(|| invalid(format!("{what}: the vector must be a list of numbers")))?;
    if items.iter().any(Json::is_array) {
        return Err(unsupported("multi-vector queries"));
    }
    items
        .iter()
        .map(|x| x.as_f64().map(|f| f as f32))
        .collect::<Option<Vec<f32>>>()
        .ok_or_else(|| invalid(format!("{what}: the vector must be a list of numbers")))
}

/// The one target vector `targetVectors` / `targets` name, if any.
fn one_target(m: &Map<String, Json>) -> Result<Option<String>, ResolveError> {
    let mut names = strings(m, "targetVectors");
    if let Some(Json::Object(t)) = m.get("targets") {
        if t.contains_key("combinationMethod") || t.contains_key("weights") {
            let listed = strings(t, "targetVectors");
            if listed.len() > 1 {
                return Err(unsupported("multiple target vectors"));
            }
        }
        if names.is_empty() {
            names = strings(t, "targetVectors");
        }
    }
    match names.len() {
        0 => Ok(None),
        1 => Ok(names.pop()),
        _ => Err(unsupported("multiple target vectors")),
    }
}

fn thresholds(
    m: &Map<String, Json>,
    what: &str,
) -> Result<(Option<f32>, Option<f32>), ResolveError> {
    let distance = float(m, "distance");
    let certainty = float(m, "certainty");
    if distance.is_some() && certainty.is_some() {
        return Err(invalid(format!(
            "failed to extract {what} params: cannot provide distance and certainty"
        )));
    }
    Ok((distance.map(|d| d as f32), certainty.map(|c| c as f32)))
}

/// `nearVector { vector | vectorPerTarget, certainty | distance, targetVectors, targets }`.
pub fn near_vector(v: &Json) -> Result<NearQuery, ResolveError> {
    let m = v
        .as_object()
        .ok_or_else(|| invalid("nearVector must be an object"))?;
    let mut target = one_target(m)?;
    let vector = match (m.get("vector"), m.get("vectorPerTarget")) {
        (Some(vector), None) => vector_of(vector, "nearVector")?,
        (None, Some(Json::Object(per))) => {
            if per.len() != 1 {
                return Err(unsupported("multiple target vectors"));
            }
            let Some((name, vector)) = per.iter().next() else {
                return Err(invalid(
                    "failed to extract nearVector params: vector or vectorPerTarget is required field",
                ));
            };
            if target.as_ref().is_some_and(|t| t != name) {
                return Err(unsupported(
                    "a query vector for a target other than the one searched",
                ));
            }
            target = Some(name.clone());
            vector_of(vector, "nearVector")?
        }
        _ => {
            return Err(invalid(
                "failed to extract nearVector params: vector or vectorPerTarget is required field",
            ));
        }
    };
    if vector.is_empty() {
        return Err(invalid(
            "failed to extract nearVector params: the vector is empty",
        ));
    }
    let (max_distance, min_certainty) = thresholds(m, "nearVector")?;
    Ok(NearQuery {
        near: Near::Vector(vector),
        target,
        max_distance,
        min_certainty,
    })
}

/// The vector search of `nearVector` or `nearObject` (at most one of them), if any.
pub fn near(args: &Map<String, Json>) -> Result<Option<NearQuery>, ResolveError> {
    match (args.get("nearVector"), args.get("nearObject")) {
        (Some(_), Some(_)) => Err(invalid(
            "found both 'nearVector' and 'nearObject' parameters which are conflicting, choose one instead",
        )),
        (Some(v), None) => near_vector(v).map(Some),
        (None, Some(o)) => near_object(o).map(Some),
        (None, None) => Ok(None),
    }
}

/// `nearObject { id | beacon, certainty | distance, targetVectors }`.
pub fn near_object(v: &Json) -> Result<NearQuery, ResolveError> {
    let m = v
        .as_object()
        .ok_or_else(|| invalid("nearObject must be an object"))?;
    let raw = match (string(m, "id"), string(m, "beacon")) {
        (Some(id), _) => id.to_string(),
        (None, Some(beacon)) => beacon.rsplit('/').next().unwrap_or_default().to_string(),
        (None, None) => {
            return Err(invalid(
                "failed to extract nearObject params: needs either id or beacon",
            ));
        }
    };
    let id = Uuid::parse_str(&raw).map_err(|_| {
        invalid(format!(
            "failed to extract nearObject params: {raw:?} is not a valid uuid"
        ))
    })?;
    let (max_distance, min_certainty) = thresholds(m, "nearObject")?;
    Ok(NearQuery {
        near: Near::Object(id),
        target: one_target(m)?,
        max_distance,
        min_certainty,
    })
}

/// A keyword search operator (`{operator: And|Or|AndCross, minimumOrTokensMatch}`).
pub fn keyword_operator(v: Option<&Json>) -> Result<KeywordOperator, ResolveError> {
    let Some(Json::Object(m)) = v else {
        return Ok(KeywordOperator::Default);
    };
    let minimum = m
        .get("minimumOrTokensMatch")
        .and_then(Json::as_i64)
        .map_or(0, |n| usize::try_from(n.max(0)).unwrap_or(0));
    match string(m, "operator") {
        None | Some("Or") => Ok(KeywordOperator::Or {
            minimum_match: minimum,
        }),
        Some("And") => Ok(KeywordOperator::And),
        Some("AndCross") => Err(unsupported("the AndCross keyword operator")),
        Some(other) => Err(invalid(format!("unknown search operator {other}"))),
    }
}

/// The request data every resolver reads.
pub fn backend<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a Backend, ResolveError> {
    ctx.data::<Backend>()
        .map_err(|_| invalid("internal: no database attached to the request"))
}

/// The request data and the definition of `class` (a class the schema was built with may
/// have been deleted since).
pub fn class_backend<'a>(
    ctx: &async_graphql::dynamic::ResolverContext<'a>,
    class: &str,
) -> Result<(&'a Backend, weft_db::schema::ClassDef), ResolveError> {
    let backend = backend(ctx.ctx)?;
    let def = backend
        .db
        .class(class)
        .ok_or_else(|| invalid(format!("class {class} not found")))?;
    Ok((backend, def))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn graphql_lists_become_rest_arrays() {
        let rest = rest_where(&json!({
            "operator": "And",
            "operands": [
                {"path": ["tags"], "operator": "ContainsAny", "valueText": ["a", "b"]},
                {"path": ["n"], "operator": "Equal", "valueInt": 3},
            ]
        }));
        assert_eq!(rest["operands"][0]["valueTextArray"], json!(["a", "b"]));
        assert_eq!(rest["operands"][1]["valueInt"], json!(3));
        assert!(where_filter(&json!({"operator": "Equal", "path": ["n"]})).is_err());
    }

    #[test]
    fn near_vector_checks_its_parts() {
        let q = near_vector(&json!({"vector": [1, 0.5], "distance": 0.3})).unwrap();
        assert_eq!(q.near, Near::Vector(vec![1.0, 0.5]));
        assert_eq!(q.max_distance, Some(0.3));
        for bad in [
            json!({}),
            json!({"vector": [1.0], "distance": 0.1, "certainty": 0.9}),
            json!({"vector": [[1.0], [2.0]]}),
            json!({"vector": [1.0], "targetVectors": ["a", "b"]}),
        ] {
            assert!(near_vector(&bad).is_err(), "{bad}");
        }
    }
}
