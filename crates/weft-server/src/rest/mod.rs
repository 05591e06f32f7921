//! Weaviate's REST API (`/v1/...`) on axum.
//!
//! Every error leaves through [`ApiError`], which renders the status and body the error-code
//! table in `weft_api::error` gives it.

mod backups;
mod body;
mod graphql;
mod meta;
mod objects;
pub mod openapi;
mod references;
mod schema;
mod tenants;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use weft_api::error::{ErrorCode, WireError};
use weft_db::DbError;

use crate::AppState;

/// The REST router with every route weft serves.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1", get(meta::root))
        .route("/v1/", get(meta::root_slash))
        .route("/v1/meta", get(meta::meta))
        .route("/v1/.well-known/live", get(meta::live))
        .route("/v1/.well-known/ready", get(meta::ready))
        .route(
            "/v1/.well-known/openid-configuration",
            get(meta::openid_configuration),
        )
        .route("/v1/nodes", get(meta::nodes))
        .route("/v1/nodes/{class}", get(meta::class_nodes))
        .merge(schema::routes())
        .merge(objects::routes())
        .merge(references::routes())
        .merge(tenants::routes())
        .merge(backups::routes())
        .merge(graphql::routes())
        .route("/v1/openapi.json", get(openapi::document))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

/// Counts every request (method and route template, outcome) and times batches and queries.
async fn record(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(
            || "unmatched".to_string(),
            |p| format!("{} {}", request.method(), p.as_str()),
        );
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state.metrics().observe(
        "rest",
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Authentication and authorization of every request but the open paths (see
/// [`crate::auth`]): 401 with go-openapi's body, 403 with Weaviate's error body.
async fn authenticate(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_string();
    if crate::auth::is_open_path(&path) {
        return next.run(request).await;
    }
    let auth = &state.info().auth;
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (access, verb) = crate::auth::rest_access(request.method(), &path);
    let checked = auth
        .authenticate(header)
        .and_then(|who| auth.authorize(&who, access, verb, &path));
    match checked {
        Ok(()) => next.run(request).await,
        Err(crate::auth::AuthError::Unauthenticated(message)) => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"code": 401, "message": message})),
        )
            .into_response(),
        Err(crate::auth::AuthError::Forbidden(message)) => (
            StatusCode::FORBIDDEN,
            axum::Json(weft_api::error::error_body(&message)),
        )
            .into_response(),
    }
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub WireError);

impl ApiError {
    /// An error of kind `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(WireError::new(code, message))
    }

    /// 503 while the database is still loading.
    pub fn not_ready() -> Self {
        Self::new(
            ErrorCode::NotReady,
            "weft is starting: the database is still loading",
        )
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        if WireError::from_db(&err).status >= 500 {
            tracing::error!(action = "restapi_request", error = %weft_api::error::chain(&err), "request failed");
        }
        Self(WireError::from_db(&err))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if self.0.with_body {
            (status, axum::Json(self.0.body())).into_response()
        } else {
            status.into_response()
        }
    }
}

/// Unknown route: 404 with both go-openapi's `{code, message}` and Weaviate's `error` list,
/// so either kind of client finds a message.
/// The body is read (and dropped) so the connection stays usable for the client's next
/// request; an unread body makes the server close it under a keep-alive client.
async fn not_found(uri: Uri, _body: axum::body::Bytes) -> Response {
    framework_error(
        StatusCode::NOT_FOUND,
        format!("path {} was not found", uri.path()),
    )
}

/// Known route, wrong method: 405.
async fn method_not_allowed(
    method: axum::http::Method,
    uri: Uri,
    _body: axum::body::Bytes,
) -> Response {
    framework_error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed, but [{}] are", uri.path()),
    )
}

fn framework_error(status: StatusCode, message: String) -> Response {
    let body = json!({
        "code": status.as_u16(),
        "message": message,
        "error": [{ "message": message }],
    });
    (status, axum::Json(body)).into_response()
}
