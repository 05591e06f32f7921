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

async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let db = state.db().ok_or_else(ApiError::not_ready)?;
    let classes: Vec<Value> = db.classes().iter().map(wire::class_to_json).collect();
    Ok(Json(json!({ "classes": classes })))
}

async fn create(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let class = wire::class_from_json(json_object(&body)?)?;
    let stored = blocking(&state, move |db| db.create_class(class)).await?;
    tracing::info!(action = "schema_create_class", class = %stored.name, "class created");
    Ok(Json(wire::class_to_json(&stored)))
}

async fn get_class(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let db = state.db().ok_or_else(ApiError::not_ready)?;
    Ok(match db.class(&uppercase_first(&name)) {
        Some(class) => Json(wire::class_to_json(&class)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    })
}

async fn update(
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

async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let name = uppercase_first(&name);
    let logged = name.clone();
    blocking(&state, move |db| db.delete_class(&name)).await?;
    tracing::info!(action = "schema_delete_class", class = %logged, "class deleted");
    Ok(StatusCode::OK)
}

async fn add_property(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let property = wire::property_from_json(json_object(&body)?)?;
    let name = uppercase_first(&name);
    let stored = blocking(&state, move |db| db.add_property(&name, property)).await?;
    Ok(Json(wire::property_to_json(&stored)))
}

async fn shards(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let db = state.db().ok_or_else(ApiError::not_ready)?;
    let shards = db.shards(&uppercase_first(&name))?;
    Ok(Json(wire::shards_to_json(&shards, &state.info().node_name)))
}

/// `PUT /v1/schema/{class}/shards/{shard}` with `{"status":"READY"|"READONLY"}`.
async fn update_shard(
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
