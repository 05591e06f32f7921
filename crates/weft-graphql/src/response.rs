//! Answers in Weaviate's `GraphQLResponse` shape (decision 0014 §1, §8): `data` left out when
//! the request did not execute, errors as `{locations, message, path}` with `path: null`
//! outside resolvers, no `extensions`; the messages clients match on worded as Weaviate's.

use async_graphql::{PathSegment, ServerError};
use serde_json::{Map, Value as Json, json};

/// Shapes an executed request's response.
pub fn shape(resp: async_graphql::Response) -> Json {
    let mut out = Map::new();
    let data = resp.data.into_json().unwrap_or(Json::Null);
    if !data.is_null() {
        out.insert("data".to_string(), data);
    }
    if !resp.errors.is_empty() {
        out.insert(
            "errors".to_string(),
            Json::Array(resp.errors.into_iter().map(error).collect()),
        );
    }
    Json::Object(out)
}

/// A request refused before it was parsed.
pub fn request_error(message: &str) -> Json {
    json!({"errors": [{"locations": [], "message": message, "path": null}]})
}

fn error(e: ServerError) -> Json {
    let ServerError {
        message,
        locations,
        path,
        ..
    } = e;
    let message = reword(&message, locations.first().map(|p| (p.line, p.column)));
    let locations: Vec<Json> = locations
        .iter()
        .map(|p| json!({"column": p.column, "line": p.line}))
        .collect();
    let path = if path.is_empty() {
        Json::Null
    } else {
        Json::Array(
            path.into_iter()
                .map(|s| match s {
                    PathSegment::Field(f) => Json::String(f),
                    PathSegment::Index(i) => Json::from(i),
                })
                .collect(),
        )
    };
    json!({"locations": locations, "message": message, "path": path})
}

/// async-graphql's wording → Weaviate's (graphql-go's) where clients match on it.
fn reword(message: &str, at: Option<(usize, usize)>) -> String {
    if let Some(rest) = message.strip_prefix("Unknown field \"") {
        return format!("Cannot query field \"{rest}");
    }
    if message.starts_with(" --> ") || message.contains("\n  = expected") {
        let (line, column) = at.unwrap_or((1, 1));
        let reason = message
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("= "))
            .unwrap_or("unexpected token");
        return format!("Syntax Error GraphQL request ({line}:{column}) {reason}");
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_worded_as_weaviate_words_them() {
        assert_eq!(
            reword("Unknown field \"nope\" on type \"Book\".", None),
            "Cannot query field \"nope\" on type \"Book\"."
        );
        assert_eq!(
            reword(
                " --> 1:5\n  |\n1 | {Get{\n  |     ^---\n  |\n  = expected selection",
                Some((1, 5))
            ),
            "Syntax Error GraphQL request (1:5) expected selection"
        );
        assert_eq!(reword("other", None), "other");
    }

    #[test]
    fn refused_requests_have_no_data_and_a_null_path() {
        let v = request_error("too deep");
        assert!(v.get("data").is_none());
        assert_eq!(v["errors"][0]["path"], Json::Null);
        assert_eq!(v["errors"][0]["locations"], json!([]));
    }
}
