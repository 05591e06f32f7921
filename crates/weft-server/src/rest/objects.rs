//! `/v1/objects` and `/v1/batch/objects`: adapters from JSON to the object operations of
//! `weft-db`. Every write returns only after it is durable.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use weft_api::error::ErrorCode;
use weft_api::object::{
    batch_from_json, batch_item_to_json, object_from_json, object_to_json, parse_id,
};
use weft_db::object::{ListRequest, ObjectInput, WriteMode};
use weft_db::{Db, DbError};

use super::ApiError;
use super::body::json_object;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/objects", get(list).post(create))
        .route("/v1/objects/validate", post(validate))
        .route(
            "/v1/objects/{class}/{id}",
            get(get_one)
                .head(exists)
                .put(replace)
                .patch(merge)
                .delete(delete),
        )
        .route("/v1/batch/objects", post(batch).delete(batch_delete))
}

/// Runs a blocking database call (writes wait for fsync) off the async workers.
pub(crate) async fn blocking<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&Db) -> Result<T, DbError> + Send + 'static,
    T: Send + 'static,
{
    let db = Arc::clone(state.db().ok_or_else(ApiError::not_ready)?);
    tokio::task::spawn_blocking(move || f(&db))
        .await
        .map_err(|e| ApiError::new(ErrorCode::Io, format!("database task failed: {e}")))?
        .map_err(ApiError::from)
}

/// An object's JSON with the tenant it was read from or written to (multi-tenant classes).
fn with_tenant(mut v: Value, tenant: Option<&str>) -> Value {
    if let (Some(t), Value::Object(m)) = (tenant.filter(|t| !t.is_empty()), &mut v) {
        m.insert("tenant".into(), Value::String(t.to_string()));
    }
    v
}

fn wants_vector(include: Option<&str>) -> bool {
    include.is_some_and(|i| i.split(',').any(|p| p.trim() == "vector"))
}

/// Query of `GET /v1/objects`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only objects of this class.
    class: Option<String>,
    /// At most this many objects (default `QUERY_DEFAULTS_LIMIT`).
    limit: Option<u64>,
    /// Skip this many (offset + limit at most `QUERY_MAXIMUM_RESULTS`).
    offset: Option<u64>,
    /// Cursor: objects after this UUID (needs `class`, not with `offset`).
    after: Option<String>,
    /// `vector` to include the vectors.
    include: Option<String>,
    /// The tenant (multi-tenant classes).
    tenant: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/objects",
    operation_id = "objects.list",
    tag = "objects",
    summary = "Lists objects",
    params(ListParams),
    responses(
        (status = 200, description = "`{\"objects\": [...], \"totalResults\": n}`", body = Object),
        (status = 400, description = "A query parameter of the wrong type"),
        (status = 404, description = "No such class", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid id, object or parameter", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error, or a write to a READONLY shard", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let limits = state.info().limits;
    let limit = p.limit.unwrap_or(limits.default_limit);
    let offset = p.offset.unwrap_or(0);
    if offset.saturating_add(limit) > limits.maximum_results {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!(
                "query maximum results exceeded: offset ({offset}) + limit ({limit}) > QUERY_MAXIMUM_RESULTS ({})",
                limits.maximum_results
            ),
        ));
    }
    let after = p
        .after
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(parse_id)
        .transpose()?;
    if after.is_some() && offset > 0 {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "'after' cannot be combined with 'offset'",
        ));
    }
    let with_vector = wants_vector(p.include.as_deref());
    let req = ListRequest {
        class: p.class.filter(|c| !c.is_empty()),
        offset,
        limit,
        after,
        tenant: p.tenant.filter(|t| !t.is_empty()),
    };
    let list_tenant = req.tenant.clone();
    let objects = blocking(&state, move |db| db.list_objects(&req, with_vector)).await?;
    let items: Vec<Value> = objects
        .iter()
        .map(|o| with_tenant(object_to_json(o, with_vector), list_tenant.as_deref()))
        .collect();
    Ok(Json(
        json!({ "objects": items, "totalResults": items.len() }),
    ))
}

#[utoipa::path(
    post,
    path = "/v1/objects",
    operation_id = "objects.create",
    tag = "objects",
    summary = "Creates an object",
    request_body(
        content = Object,
        description = "An object as Weaviate's `Object`: `class`, `id`, `properties`, `vector`, `vectors`, `tenant`",
        example = json!({"class": "Article", "properties": {"title": "Hello"}, "vector": [0.1, 0.2, 0.3]}),
    ),
    responses(
        (status = 200, description = "The object as stored", body = Object),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such class", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid object, or the id exists", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error, or a write to a READONLY shard", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input = object_from_json(&json_object(&body)?)?;
    let tenant = input.tenant.clone();
    let stored = blocking(&state, move |db| db.put_object(input, WriteMode::Insert)).await?;
    Ok(Json(with_tenant(
        object_to_json(&stored, true),
        tenant.as_deref(),
    )))
}

#[utoipa::path(
    post,
    path = "/v1/objects/validate",
    operation_id = "objects.validate",
    tag = "objects",
    summary = "Validates an object without storing it",
    request_body(
        content = Object,
        description = "An object as Weaviate's `Object`",
        example = json!({"class": "Article", "properties": {"title": "Hello"}, "vector": [0.1, 0.2, 0.3]}),
    ),
    responses(
        (status = 200, description = "Valid"),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such class", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid id, object or parameter", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error, or a write to a READONLY shard", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn validate(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let input = object_from_json(&json_object(&body)?)?;
    blocking(&state, move |db| db.validate_object(&input)).await?;
    Ok(StatusCode::OK)
}

/// Query of `GET /v1/objects/{class}/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetParams {
    /// `vector` to include the vectors.
    include: Option<String>,
    /// The tenant (multi-tenant classes).
    tenant: Option<String>,
}

/// Query of the object endpoints that take only a tenant.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantParams {
    /// The tenant (multi-tenant classes).
    tenant: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/objects/{class}/{id}",
    operation_id = "objects.class.get",
    tag = "objects",
    summary = "One object",
    params(
        ("class" = String, Path, description = "The class name", example = "Article"),
        ("id" = String, Path, description = "The object's UUID", example = "36ddd591-2dee-4e7e-a3cc-eb86d30a4303"),
        GetParams,
    ),
    responses(
        (status = 200, description = "The object", body = Object),
        (status = 400, description = "A query parameter of the wrong type"),
        (status = 404, description = "No such object (no body) or class"),
        (status = 422, description = "Invalid id, object or parameter", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error, or a write to a READONLY shard", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn get_one(
    State(state): State<AppState>,
    Path((class, id)): Path<(String, String)>,
    Query(p): Query<GetParams>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let with_vector = wants_vector(p.include.as_deref());
    let tenant = p.tenant.filter(|t| !t.is_empty());
    let asked = tenant.clone();
    let found = blocking(&state, move |db| {
        db.get_object_in(&class, id, with_vector, asked.as_deref())
    })
    .await?;
    Ok(match found {
        Some(obj) => Json(with_tenant(
            object_to_json(&obj, with_vector),
            tenant.as_deref(),
        ))
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    })
}

#[utoipa::path(
    head,
    path = "/v1/objects/{class}/{id}",
    operation_id = "objects.class.head",
    tag = "objects",
    summary = "Whether an object exists",
    params(
        ("class" = String, Path, description = "The class name", example = "Article"),
        ("id" = String, Path, description = "The object's UUID", example = "36ddd591-2dee-4e7e-a3cc-eb86d30a4303"),
        TenantParams,
    ),
    responses(
        (status = 204, description = "It exists"),
        (status = 404, description = "No such object (no body)"),
        (status = 422, description = "Invalid id"),
        (status = 500, description = "Storage error"),
        (status = 503, description = "The database is still loading"),
    ),
)]
pub(super) async fn exists(
    State(state): State<AppState>,
    Path((class, id)): Path<(String, String)>,
    Query(p): Query<TenantParams>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let found = blocking(&state, move |db| {
        db.get_object_in(&class, id, false, p.tenant.as_deref())
    })
    .await?;
    Ok(if found.is_some() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    })
}

/// The body of PUT/PATCH, with class and id taken from the path (a body that names other
/// ones is refused).
fn path_object(
    class: &str,
    id: &str,
    body: &Bytes,
    tenant: Option<String>,
) -> Result<ObjectInput, ApiError> {
    let id = parse_id(id)?;
    let mut input = object_from_json(&json_object(body)?)?;
    if let Some(t) = tenant.filter(|t| !t.is_empty()) {
        input.tenant = Some(t);
    }
    if input.id.is_some_and(|given| given != id) {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "id in body does not match id in path",
        ));
    }
    if !input.class.is_empty() && !input.class.eq_ignore_ascii_case(class) {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "class in body does not match class in path",
        ));
    }
    input.class = class.to_string();
    input.id = Some(id);
    Ok(input)
}

#[utoipa::path(
    put,
    path = "/v1/objects/{class}/{id}",
    operation_id = "objects.class.put",
    tag = "objects",
    summary = "Replaces an object",
    params(
        ("class" = String, Path, description = "The class name", example = "Article"),
        ("id" = String, Path, description = "The object's UUID", example = "36ddd591-2dee-4e7e-a3cc-eb86d30a4303"),
        TenantParams,
    ),
    request_body(
        content = Object,
        description = "The object; `class` and `id` may be left out, else they must match the path",
        example = json!({"class": "Article", "properties": {"title": "Hello"}, "vector": [0.1, 0.2, 0.3]}),
    ),
    responses(
        (status = 200, description = "The object as stored", body = Object),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such object (no body) or class"),
        (status = 422, description = "Invalid id, object or parameter", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error, or a write to a READONLY shard", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn replace(
    State(state): State<AppState>,
    Path((class, id)): Path<(String, String)>,
    Query(p): Query<TenantParams>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input = path_object(&class, &id, &body, p.tenant)?;
    let tenant = input.tenant.clone();
    let stored = blocking(&state, move |db| db.put_object(input, WriteMode::Replace)).await?;
    Ok(Json(with_tenant(
        object_to_json(&stored, true),
        tenant.as_deref(),
    )))
}

#[utoipa::path(
    patch,
    path = "/v1/objects/{class}/{id}",
    operation_id = "objects.class.patch",
    tag = "objects",
    summary = "Merges properties and vectors into an object",
    params(
        ("class" = String, Path, description = "The class name", example = "Article"),
        ("id" = String, Path, description = "The object's UUID", example = "36ddd591-2dee-4e7e-a3cc-eb86d30a4303"),
        TenantParams,
    ),
    request_body(
        content = Object,
        description = "The changes; `class` and `id` may be left out, else they must match the path",
        example = json!({"class": "Article", "properties": {"title": "Hello"}, "vector": [0.1, 0.2, 0.3]}),
    ),
    responses(
        (status = 204, description = "Merged"),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such object (no body) or class"),
        (status = 422, description = "Invalid id, object or parameter", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error, or a write to a READONLY shard", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn merge(
    State(state): State<AppState>,
    Path((class, id)): Path<(String, String)>,
    Query(p): Query<TenantParams>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let input = path_object(&class, &id, &body, p.tenant)?;
    blocking(&state, move |db| db.put_object(input, WriteMode::Merge)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/v1/objects/{class}/{id}",
    operation_id = "objects.class.delete",
    tag = "objects",
    summary = "Deletes an object",
    params(
        ("class" = String, Path, description = "The class name", example = "Article"),
        ("id" = String, Path, description = "The object's UUID", example = "36ddd591-2dee-4e7e-a3cc-eb86d30a4303"),
        TenantParams,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such object (no body) or class"),
        (status = 422, description = "Invalid id, object or parameter", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error, or a write to a READONLY shard", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    Path((class, id)): Path<(String, String)>,
    Query(p): Query<TenantParams>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let existed = blocking(&state, move |db| {
        db.delete_object_in(&class, id, p.tenant.as_deref())
    })
    .await?;
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    })
}

#[utoipa::path(
    post,
    path = "/v1/batch/objects",
    operation_id = "batch.objects.create",
    tag = "batch",
    summary = "Upserts objects; each gets its own result",
    request_body(
        content = Object,
        description = "`{\"objects\": [Object, ...]}`",
        example = json!({"objects": [{"class": "Article", "properties": {"title": "Hello"}}]}),
    ),
    responses(
        (status = 200, description = "One result per object, each with `result.errors` if it failed", body = Vec<Object>),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid id, object or parameter", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error, or a write to a READONLY shard", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn batch(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let parsed = batch_from_json(&json_object(&body)?)?;
    let (sent, inputs): (Vec<Value>, Vec<Result<ObjectInput, DbError>>) =
        parsed.into_iter().unzip();
    let results = blocking(&state, move |db| {
        let mut results: Vec<Option<Result<_, DbError>>> = Vec::with_capacity(inputs.len());
        let mut valid = Vec::new();
        let mut slots = Vec::new();
        for (i, input) in inputs.into_iter().enumerate() {
            match input {
                Ok(input) => {
                    valid.push(input);
                    slots.push(i);
                    results.push(None);
                }
                Err(err) => results.push(Some(Err(err))),
            }
        }
        for (slot, result) in slots
            .into_iter()
            .zip(db.put_objects(valid, WriteMode::Upsert))
        {
            results[slot] = Some(result);
        }
        Ok(results)
    })
    .await?;
    let items: Vec<Value> = sent
        .iter()
        .zip(results)
        .map(|(sent, result)| {
            let result = result.unwrap_or_else(|| {
                Err(weft_db::error::UserError::Invalid("not processed".into()).into())
            });
            batch_item_to_json(sent, &result)
        })
        .collect();
    Ok(Json(Value::Array(items)))
}

/// `DELETE /v1/batch/objects`: deletes (or lists, `dryRun`) the objects `match.where` matches,
/// at most `QUERY_MAXIMUM_RESULTS` of them, in atomic write batches.
#[utoipa::path(
    delete,
    path = "/v1/batch/objects",
    operation_id = "batch.objects.delete",
    tag = "batch",
    summary = "Deletes (or, `dryRun`, counts) the objects a `where` filter matches",
    params(TenantParams),
    request_body(
        content = Object,
        description = "`{\"match\": {\"class\": ..., \"where\": ...}, \"output\": \"minimal\"|\"verbose\", \"dryRun\": bool}`",
        example = json!({"match": {"class": "Article", "where": {"path": ["title"], "operator": "Equal", "valueText": "Hello"}}, "dryRun": true}),
    ),
    responses(
        (status = 200, description = "`{\"match\", \"output\", \"dryRun\", \"results\": {\"matches\", \"successful\", \"failed\", \"limit\", \"objects\"}}`", body = Object),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such class", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid id, object or parameter", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error, or a write to a READONLY shard", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn batch_delete(
    State(state): State<AppState>,
    Query(p): Query<TenantParams>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_object(&body)?;
    let req = weft_api::batch_delete::parse(&body).map_err(ApiError)?;
    let limit = state.info().limits.maximum_results;
    let (class, filter, dry_run) = (req.class.clone(), req.filter.clone(), req.dry_run);
    let tenant = p.tenant.filter(|t| !t.is_empty()).or(req.tenant.clone());
    let (stored, result) = blocking(&state, move |db| {
        let stored = db.class(&class).map_or(class.clone(), |c| c.name);
        db.delete_many_in(&class, &filter, dry_run, limit, tenant.as_deref())
            .map(|r| (stored, r))
    })
    .await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Ok(Json(weft_api::batch_delete::reply(
        &req, &stored, &result, now,
    )))
}
