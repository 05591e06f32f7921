//! `/v1/backups/...`: thin adapters over [`weft_backup::Manager`].

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use weft_api::error::ErrorCode;
use weft_backup::{BackupError, Manager};

use super::{ApiError, body};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/backups/{backend}", post(create).get(list))
        .route("/v1/backups/{backend}/{id}", get(status).delete(cancel))
        .route(
            "/v1/backups/{backend}/{id}/restore",
            post(restore).get(restore_status).delete(cancel_restore),
        )
}

impl From<BackupError> for ApiError {
    fn from(err: BackupError) -> Self {
        let code = err.kind.code();
        if code == ErrorCode::Io {
            tracing::error!(action = "backup", error = %err.message, "backup request failed");
        }
        ApiError::new(code, err.message)
    }
}

fn manager(state: &AppState) -> Result<Arc<Manager>, ApiError> {
    state.backups().cloned().ok_or_else(ApiError::not_ready)
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let value = body::json_object(bytes)?;
    // serde reads a struct from an array of its fields too; Weaviate wants an object.
    if let Some(config) = value.get("config")
        && !(config.is_null() || config.is_object())
    {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "invalid request body: config must be an object",
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("invalid request body: {e}"),
        )
    })
}

#[utoipa::path(
    post,
    path = "/v1/backups/{backend}",
    operation_id = "backups.create",
    tag = "backups",
    summary = "Starts a backup",
    params(("backend" = String, Path, description = "`filesystem`, `s3`, `gcs` or `azure` (the enabled `backup-*` module)", example = "filesystem")),
    request_body = weft_api::backup::CreateRequest,
    responses(
        (status = 200, description = "Started", body = weft_api::backup::JobReply),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid request, the backend is not enabled, or another backup or restore is running", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage or backend error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    Path(backend): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let req = parse(&bytes)?;
    let reply = manager(&state)?.create(&backend, req).await?;
    Ok(axum::Json(reply).into_response())
}

/// Query of `GET /v1/backups/{backend}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// `desc` (the default: newest first) or `asc`, by start time.
    order: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/backups/{backend}",
    operation_id = "backups.list",
    tag = "backups",
    summary = "Lists the backups on a backend",
    params(("backend" = String, Path, description = "`filesystem`, `s3`, `gcs` or `azure` (the enabled `backup-*` module)", example = "filesystem"), ListQuery),
    responses(
        (status = 200, description = "The backups", body = Vec<weft_api::backup::ListItem>),
        (status = 422, description = "Invalid request, the backend is not enabled, or another backup or restore is running", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage or backend error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    Path(backend): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let ascending = match q.order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "order in query should be one of [asc desc]",
            ));
        }
    };
    let items = manager(&state)?.list(&backend, ascending).await?;
    Ok(axum::Json(items).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/backups/{backend}/{id}",
    operation_id = "backups.create.status",
    tag = "backups",
    summary = "Status of a backup",
    params(("backend" = String, Path, description = "`filesystem`, `s3`, `gcs` or `azure` (the enabled `backup-*` module)", example = "filesystem"), ("id" = String, Path, description = "The backup id (`^[a-z0-9_-]+$`)", example = "backup-1")),
    responses(
        (status = 200, description = "The backup's status", body = weft_api::backup::JobReply),
        (status = 404, description = "No such backup (or no restore of it)", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid request, the backend is not enabled, or another backup or restore is running", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage or backend error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn status(
    State(state): State<AppState>,
    Path((backend, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let reply = manager(&state)?.create_status(&backend, &id).await?;
    Ok(axum::Json(reply).into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/backups/{backend}/{id}",
    operation_id = "backups.cancel",
    tag = "backups",
    summary = "Cancels a running backup",
    params(("backend" = String, Path, description = "`filesystem`, `s3`, `gcs` or `azure` (the enabled `backup-*` module)", example = "filesystem"), ("id" = String, Path, description = "The backup id (`^[a-z0-9_-]+$`)", example = "backup-1")),
    responses(
        (status = 204, description = "Canceled (or it had ended)"),
        (status = 404, description = "No such backup (or no restore of it)", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid request, the backend is not enabled, or another backup or restore is running", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage or backend error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn cancel(
    State(state): State<AppState>,
    Path((backend, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    manager(&state)?.cancel(&backend, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/backups/{backend}/{id}/restore",
    operation_id = "backups.restore",
    tag = "backups",
    summary = "Starts a restore",
    params(("backend" = String, Path, description = "`filesystem`, `s3`, `gcs` or `azure` (the enabled `backup-*` module)", example = "filesystem"), ("id" = String, Path, description = "The backup id (`^[a-z0-9_-]+$`)", example = "backup-1")),
    request_body = weft_api::backup::RestoreRequest,
    responses(
        (status = 200, description = "Started", body = weft_api::backup::JobReply),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such backup (or no restore of it)", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid request, the backend is not enabled, or another backup or restore is running", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage or backend error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn restore(
    State(state): State<AppState>,
    Path((backend, id)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let req = parse(&bytes)?;
    let reply = manager(&state)?.restore(&backend, &id, req).await?;
    Ok(axum::Json(reply).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/backups/{backend}/{id}/restore",
    operation_id = "backups.restore.status",
    tag = "backups",
    summary = "Status of a restore",
    params(("backend" = String, Path, description = "`filesystem`, `s3`, `gcs` or `azure` (the enabled `backup-*` module)", example = "filesystem"), ("id" = String, Path, description = "The backup id (`^[a-z0-9_-]+$`)", example = "backup-1")),
    responses(
        (status = 200, description = "The restore's status", body = weft_api::backup::JobReply),
        (status = 404, description = "No such backup (or no restore of it)", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid request, the backend is not enabled, or another backup or restore is running", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage or backend error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn restore_status(
    State(state): State<AppState>,
    Path((backend, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let reply = manager(&state)?.restore_status(&backend, &id).await?;
    Ok(axum::Json(reply).into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/backups/{backend}/{id}/restore",
    operation_id = "backups.restore.cancel",
    tag = "backups",
    summary = "Cancels a running restore",
    params(("backend" = String, Path, description = "`filesystem`, `s3`, `gcs` or `azure` (the enabled `backup-*` module)", example = "filesystem"), ("id" = String, Path, description = "The backup id (`^[a-z0-9_-]+$`)", example = "backup-1")),
    responses(
        (status = 204, description = "Canceled (or it had ended)"),
        (status = 404, description = "No such backup (or no restore of it)", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid request, the backend is not enabled, or another backup or restore is running", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage or backend error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn cancel_restore(
    State(state): State<AppState>,
    Path((backend, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    manager(&state)?.cancel_restore(&backend, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
