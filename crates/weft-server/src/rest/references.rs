//! Cross-references: `POST`, `PUT` and `DELETE /v1/objects/{class}/{id}/references/{prop}`
//! and `POST /v1/batch/references`, adapters to the reference writes of `weft-db`. Every write
//! returns only after it is durable.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use weft_api::object::{batch_reference_to_json, batch_references_from_json, parse_id};

use super::ApiError;
use super::body::json_value;
use super::objects::blocking;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/objects/{class}/{id}/references/{property}",
            post(add).put(replace).delete(remove),
        )
        .route("/v1/batch/references", post(batch))
}

/// Query of the reference endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReferenceParams {
    /// The tenant of the source object (multi-tenant classes).
    tenant: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/objects/{class}/{id}/references/{property}",
    operation_id = "objects.class.references.create",
    tag = "objects",
    summary = "Adds a reference to an object's reference property",
    params(
        ("class" = String, Path, description = "The source class", example = "Book"),
        ("id" = String, Path, description = "The source object's UUID", example = "36ddd591-2dee-4e7e-a3cc-eb86d30a4303"),
        ("property" = String, Path, description = "The reference property", example = "writtenBy"),
        ReferenceParams,
    ),
    request_body(
        content = Object,
        description = "`{\"beacon\": \"weaviate://localhost/<Class>/<uuid>\"}`; the target must exist",
        example = json!({"beacon": "weaviate://localhost/Author/36ddd591-2dee-4e7e-a3cc-eb86d30a4303"}),
    ),
    responses(
        (status = 200, description = "Added (durable)"),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such source object (no body)"),
        (status = 422, description = "Unknown class or property, not a reference property, a bad beacon, or a missing target", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error, or a write to a READONLY shard", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn add(
    State(state): State<AppState>,
    Path((class, id, property)): Path<(String, String, String)>,
    Query(params): Query<ReferenceParams>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let reference = json_value(&body)?;
    blocking(&state, move |db| {
        db.add_reference(&class, id, &property, &reference, params.tenant.as_deref())
    })
    .await?;
    Ok(StatusCode::OK)
}

#[utoipa::path(
    put,
    path = "/v1/objects/{class}/{id}/references/{property}",
    operation_id = "objects.class.references.put",
    tag = "objects",
    summary = "Replaces an object's references of one property",
    params(
        ("class" = String, Path, description = "The source class", example = "Book"),
        ("id" = String, Path, description = "The source object's UUID", example = "36ddd591-2dee-4e7e-a3cc-eb86d30a4303"),
        ("property" = String, Path, description = "The reference property", example = "writtenBy"),
        ReferenceParams,
    ),
    request_body(
        content = Vec<Object>,
        description = "`[{\"beacon\": ...}, ...]`; every target must exist",
        example = json!([{"beacon": "weaviate://localhost/Author/36ddd591-2dee-4e7e-a3cc-eb86d30a4303"}]),
    ),
    responses(
        (status = 200, description = "Replaced (durable)"),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such source object (no body)"),
        (status = 422, description = "Unknown class or property, not a reference property, a bad beacon, or a missing target", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error, or a write to a READONLY shard", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn replace(
    State(state): State<AppState>,
    Path((class, id, property)): Path<(String, String, String)>,
    Query(params): Query<ReferenceParams>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let references = json_value(&body)?;
    blocking(&state, move |db| {
        db.replace_references(&class, id, &property, &references, params.tenant.as_deref())
    })
    .await?;
    Ok(StatusCode::OK)
}

#[utoipa::path(
    delete,
    path = "/v1/objects/{class}/{id}/references/{property}",
    operation_id = "objects.class.references.delete",
    tag = "objects",
    summary = "Removes every reference equal to the given one",
    params(
        ("class" = String, Path, description = "The source class", example = "Book"),
        ("id" = String, Path, description = "The source object's UUID", example = "36ddd591-2dee-4e7e-a3cc-eb86d30a4303"),
        ("property" = String, Path, description = "The reference property", example = "writtenBy"),
        ReferenceParams,
    ),
    request_body(
        content = Object,
        description = "`{\"beacon\": ...}`",
        example = json!({"beacon": "weaviate://localhost/Author/36ddd591-2dee-4e7e-a3cc-eb86d30a4303"}),
    ),
    responses(
        (status = 204, description = "Removed, or there was no such reference (durable)"),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such source object (no body)"),
        (status = 422, description = "Unknown class or property, not a reference property, or a bad beacon", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error, or a write to a READONLY shard", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn remove(
    State(state): State<AppState>,
    Path((class, id, property)): Path<(String, String, String)>,
    Query(params): Query<ReferenceParams>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let reference = json_value(&body)?;
    blocking(&state, move |db| {
        db.delete_reference(&class, id, &property, &reference, params.tenant.as_deref())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/batch/references",
    operation_id = "batch.references.create",
    tag = "batch",
    summary = "Adds references in a batch; each gets its own result",
    request_body(
        content = Vec<Object>,
        description = "`[{\"from\": \"weaviate://localhost/<Class>/<uuid>/<property>\", \"to\": \"weaviate://localhost/<Class>/<uuid>\"}]`; targets are not checked",
        example = json!([{"from": "weaviate://localhost/Book/36ddd591-2dee-4e7e-a3cc-eb86d30a4303/writtenBy", "to": "weaviate://localhost/Author/8d5a3aa2-3c8d-4589-9ae1-3f638f506970"}]),
    ),
    responses(
        (status = 200, description = "One result per reference, in order, each with `result.status` and `result.errors` if it failed", body = Vec<Object>),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 422, description = "Not a list, or an empty one", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error, or a write to a READONLY shard", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn batch(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let refs = batch_references_from_json(&json_value(&body)?)?;
    let (refs, results) = blocking(&state, move |db| {
        let results = db.add_references(&refs);
        Ok((refs, results))
    })
    .await?;
    let items = refs
        .iter()
        .zip(&results)
        .map(|(r, result)| batch_reference_to_json(r, result))
        .collect();
    Ok(Json(Value::Array(items)))
}
