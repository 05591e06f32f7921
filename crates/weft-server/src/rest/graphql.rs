//! `POST /v1/graphql` and `POST /v1/graphql/batch`: adapters to `weft-graphql`. Every query
//! that executes — even one with syntax or validation errors — answers 200 with
//! `{"data", "errors"}`, as Weaviate does; only a body that is not a request is a 4xx.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use weft_api::error::ErrorCode;
use weft_graphql::{Backend, GraphQlRequest};

use super::ApiError;
use super::body::json_value;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/graphql", post(graphql))
        .route("/v1/graphql/batch", post(batch))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidInput, message)
}

/// The schema and the request data, or the 422/503 of a request that cannot run.
fn prepare(state: &AppState) -> Result<(weft_graphql::Schema, Backend), ApiError> {
    let db = state.db().ok_or_else(ApiError::not_ready)?;
    let schema = match state.graphql().schema(db) {
        None => return Err(invalid(weft_graphql::NO_SCHEMA)),
        Some(Err(e)) => return Err(invalid(format!("the GraphQL schema cannot be built: {e}"))),
        Some(Ok(schema)) => schema,
    };
    let backend = Backend {
        db: std::sync::Arc::clone(db),
        limits: state.info().limits,
        offload,
    };
    Ok((schema, backend))
}

/// A long database call of a resolver (a large search, an aggregation): on the
/// multi-threaded runtime the worker is handed over (`block_in_place`) so its other tasks move
/// elsewhere meanwhile. Small searches run in place (as gRPC `Search` runs them).
fn offload(f: &mut dyn FnMut()) {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(f);
    } else {
        f();
    }
}

/// Runs one request.
async fn run(schema: &weft_graphql::Schema, backend: Backend, request: GraphQlRequest) -> Value {
    weft_graphql::execute(schema, backend, request).await
}

#[utoipa::path(
    post,
    path = "/v1/graphql",
    operation_id = "graphql.post",
    tag = "graphql",
    summary = "Runs a GraphQL query (Get, Aggregate, Explore)",
    request_body(
        content = Object,
        description = "`{\"query\": \"{Get{Article{title}}}\", \"operationName\"?, \"variables\"?}`",
        example = json!({"query": "{Get{Article(limit: 2){title _additional{id}}}}"}),
    ),
    responses(
        (status = 200, description = "`{\"data\"?, \"errors\"?}`: every executed query, errors included", body = Object),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 422, description = "No query, variables not an object, or no class in the schema", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn graphql(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let value = json_value(&body)?;
    let request = weft_graphql::read_request(&value).map_err(invalid)?;
    let (schema, backend) = prepare(&state)?;
    Ok(Json(run(&schema, backend, request).await))
}

/// Weaviate's message for a batch item it cannot run.
fn batch_item_message(item: &Value, message: &str) -> String {
    match item.get("variables") {
        Some(v) if !v.is_object() && !v.is_null() => {
            format!("422: expected map[string]interface{{}}, received {v}")
        }
        _ if message == "query cannot be empty" => {
            "422: The request is well-formed but was unable to be followed due to semantic errors."
                .to_string()
        }
        _ => format!("422: {message}"),
    }
}

#[utoipa::path(
    post,
    path = "/v1/graphql/batch",
    operation_id = "graphql.batch",
    tag = "graphql",
    summary = "Runs several GraphQL queries; the answers in request order",
    request_body(
        content = Vec<Object>,
        description = "A list of `{\"query\", \"operationName\"?, \"variables\"?}`",
        example = json!([{"query": "{Get{Article{title}}}"}, {"query": "{Aggregate{Article{meta{count}}}}"}]),
    ),
    responses(
        (status = 200, description = "One `{\"data\"?, \"errors\"?}` per query, in order", body = Vec<Object>),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 422, description = "Not a list, an empty list, or no class in the schema", body = Object),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn batch(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let value = json_value(&body)?;
    let Value::Array(items) = value else {
        return Err(invalid("the body must be a list of GraphQL queries"));
    };
    // As the documented schema (and go-openapi's validation in Weaviate): every item is an
    // object, or the whole request is refused.
    if let Some(at) = items.iter().position(|i| !i.is_object()) {
        return Err(invalid(format!(
            "item {at} of the body is not a GraphQL query object"
        )));
    }
    if items.is_empty() {
        return Ok((
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({})),
        )
            .into_response());
    }
    let (schema, backend) = prepare(&state)?;
    let mut answers = Vec::with_capacity(items.len());
    for item in &items {
        let answer = match weft_graphql::read_request(item) {
            Ok(request) => run(&schema, backend.clone(), request).await,
            Err(message) => json!({"errors": [{
                "locations": null,
                "message": batch_item_message(item, &message),
                "path": null,
            }]}),
        };
        answers.push(answer);
    }
    Ok(Json(Value::Array(answers)).into_response())
}
