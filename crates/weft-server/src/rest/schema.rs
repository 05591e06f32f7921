//! `/v1/schema` routes: adapters from JSON to the catalog of `weft-db`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use weft_api::schema as wire;

use weft_db::schema::validation::uppercase_first;

use super::ApiError;
use super::body::json_object;
use super::objects::blocking;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/schema", get(list).post(create))
        .route(
            "/v1/schema/{class}",
            get(get_class).put(update).delete(delete),
        )
        .route(
            "/v1/schema/{class}/properties",
            axum::routing::post(add_property),
        )
        .route("/v1/schema/{class}/shards", get(shards))
        .route(
            "/v1/schema/{class}/shards/{shard}",
            axum::routing::put(update_shard),
        )
}

#[utoipa::path(
    get,
    path = "/v1/schema",
    operation_id = "schema.dump",
    tag = "schema",
    summary = "Every class",
    responses(
        (status = 200, description = "`{\"classes\": [...]}`", body = Object),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let db = state.db().ok_or_else(ApiError::not_ready)?;
    let classes: Vec<Value> = db.classes().iter().map(wire::class_to_json).collect();
    Ok(Json(json!({ "classes": classes })))
}

#[utoipa::path(
    post,
    path = "/v1/schema",
    operation_id = "schema.objects.create",
    tag = "schema",
    summary = "Creates a class",
    request_body(
        content = Object,
        description = "A class as Weaviate's `Class`: `class`, `properties`, `vectorIndexType`, `vectorIndexConfig`, `vectorConfig`, `invertedIndexConfig`, `multiTenancyConfig`, ...",
        example = json!({"class": "Article", "properties": [{"name": "title", "dataType": ["text"]}]}),
    ),
    responses(
        (status = 200, description = "The class as stored, with every default", body = Object),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid class, or it exists", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let class = wire::class_from_json(json_object(&body)?)?;
    let stored = blocking(&state, move |db| db.create_class(class)).await?;
    tracing::info!(action = "schema_create_class", class = %stored.name, "class created");
    Ok(Json(wire::class_to_json(&stored)))
}

#[utoipa::path(
    get,
    path = "/v1/schema/{class}",
    operation_id = "schema.objects.get",
    tag = "schema",
    summary = "One class",
    params(("class" = String, Path, description = "The class name (the first letter is upper-cased)", example = "Article")),
    responses(
        (status = 200, description = "The class", body = Object),
        (status = 404, description = "No such class (no body)"),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn get_class(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let db = state.db().ok_or_else(ApiError::not_ready)?;
    Ok(match db.class(&uppercase_first(&name)) {
        Some(class) => Json(wire::class_to_json(&class)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    })
}

#[utoipa::path(
    put,
    path = "/v1/schema/{class}",
    operation_id = "schema.objects.update",
    tag = "schema",
    summary = "Updates the mutable settings of a class",
    params(("class" = String, Path, description = "The class name (the first letter is upper-cased)", example = "Article")),
    request_body(
        content = Object,
        description = "A class as Weaviate's `Class`: `class`, `properties`, `vectorIndexType`, `vectorIndexConfig`, `vectorConfig`, `invertedIndexConfig`, `multiTenancyConfig`, ...",
        example = json!({"class": "Article", "properties": [{"name": "title", "dataType": ["text"]}]}),
    ),
    responses(
        (status = 200, description = "The class as stored", body = Object),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such class", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid class, property or value", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let class = wire::class_from_json(json_object(&body)?)?;
    let name = uppercase_first(&name);
    let stored = blocking(&state, move |db| db.update_class(&name, class)).await?;
    tracing::info!(action = "schema_update_class", class = %stored.name, "class updated");
    Ok(Json(wire::class_to_json(&stored)))
}

#[utoipa::path(
    delete,
    path = "/v1/schema/{class}",
    operation_id = "schema.objects.delete",
    tag = "schema",
    summary = "Deletes a class and its objects",
    params(("class" = String, Path, description = "The class name (the first letter is upper-cased)", example = "Article")),
    responses(
        (status = 200, description = "Deleted (or there was no such class)"),
        (status = 422, description = "Invalid class, property or value", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let name = uppercase_first(&name);
    let logged = name.clone();
    blocking(&state, move |db| db.delete_class(&name)).await?;
    tracing::info!(action = "schema_delete_class", class = %logged, "class deleted");
    Ok(StatusCode::OK)
}

#[utoipa::path(
    post,
    path = "/v1/schema/{class}/properties",
    operation_id = "schema.objects.properties.add",
    tag = "schema",
    summary = "Adds a property to a class",
    params(("class" = String, Path, description = "The class name (the first letter is upper-cased)", example = "Article")),
    request_body(
        content = Object,
        description = "A property as Weaviate's `Property`: `name`, `dataType`, `tokenization`, `indexFilterable`, ...",
        example = json!({"name": "body", "dataType": ["text"]}),
    ),
    responses(
        (status = 200, description = "The property as stored", body = Object),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such class", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid class, property or value", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn add_property(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let property = wire::property_from_json(json_object(&body)?)?;
    let name = uppercase_first(&name);
    let stored = blocking(&state, move |db| db.add_property(&name, property)).await?;
    Ok(Json(wire::property_to_json(&stored)))
}

#[utoipa::path(
    get,
    path = "/v1/schema/{class}/shards",
    operation_id = "schema.objects.shards.get",
    tag = "schema",
    summary = "The shards of a class and their status",
    params(("class" = String, Path, description = "The class name (the first letter is upper-cased)", example = "Article")),
    responses(
        (status = 200, description = "`[{\"name\": ..., \"status\": \"READY\"|\"READONLY\", ...}]`", body = Vec<Object>),
        (status = 404, description = "No such class", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn shards(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let db = state.db().ok_or_else(ApiError::not_ready)?;
    let shards = db.shards(&uppercase_first(&name))?;
    Ok(Json(wire::shards_to_json(&shards, &state.info().node_name)))
}

/// `PUT /v1/schema/{class}/shards/{shard}` with `{"status":"READY"|"READONLY"}`.
#[utoipa::path(
    put,
    path = "/v1/schema/{class}/shards/{shard}",
    operation_id = "schema.objects.shards.update",
    tag = "schema",
    summary = "Marks a shard READY or READONLY",
    params(("class" = String, Path, description = "The class name (the first letter is upper-cased)", example = "Article"), ("shard" = String, Path, description = "The shard name")),
    request_body(
        content = Object,
        description = "`{\"status\": \"READY\"|\"READONLY\"}`",
        example = json!({"status": "READY"}),
    ),
    responses(
        (status = 200, description = "`{\"status\": ...}`", body = Object),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such class or shard", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid class, property or value", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn update_shard(
    State(state): State<AppState>,
    Path((name, shard)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let status = wire::shard_status_from_json(&json_object(&body)?)?;
    let name = uppercase_first(&name);
    let stored = blocking(&state, move |db| {
        db.update_shard_status(&name, &shard, status)
    })
    .await?;
    Ok(Json(wire::shard_status_to_json(stored.status)))
}
