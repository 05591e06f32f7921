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
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("invalid request body: {e}"),
        )
    })
}

async fn create(
    State(state): State<AppState>,
    Path(backend): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let req = parse(&bytes)?;
    let reply = manager(&state)?.create(&backend, req).await?;
    Ok(axum::Json(reply).into_response())
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    order: Option<String>,
}

async fn list(
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

async fn status(
    State(state): State<AppState>,
    Path((backend, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let reply = manager(&state)?.create_status(&backend, &id).await?;
    Ok(axum::Json(reply).into_response())
}

async fn cancel(
    State(state): State<AppState>,
    Path((backend, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    manager(&state)?.cancel(&backend, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restore(
    State(state): State<AppState>,
    Path((backend, id)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let req = parse(&bytes)?;
    let reply = manager(&state)?.restore(&backend, &id, req).await?;
    Ok(axum::Json(reply).into_response())
}

async fn restore_status(
    State(state): State<AppState>,
    Path((backend, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let reply = manager(&state)?.restore_status(&backend, &id).await?;
    Ok(axum::Json(reply).into_response())
}

async fn cancel_restore(
    State(state): State<AppState>,
    Path((backend, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    manager(&state)?.cancel_restore(&backend, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
