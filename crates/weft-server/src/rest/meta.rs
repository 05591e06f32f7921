//! `/v1`, `/v1/meta`, `/v1/.well-known/*`, `/v1/nodes`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use weft_api::WEAVIATE_API_VERSION;
use weft_api::error::ErrorCode;

use super::ApiError;
use crate::AppState;

/// weft's own version, reported beside the Weaviate API level.
pub(crate) const WEFT_VERSION: &str = env!("CARGO_PKG_VERSION");

#[utoipa::path(
    get,
    path = "/v1",
    operation_id = "weaviate.root",
    tag = "meta",
    summary = "Links to the main endpoints",
    responses((status = 200, description = "The links", body = Object)),
)]
pub async fn root() -> Json<Value> {
    let link = |href: &str, name: &str| json!({ "href": href, "name": name });
    Json(json!({ "links": [
        link("/v1/meta", "Meta information about this instance/cluster"),
        link("/v1/schema", "view complete schema"),
        link("/v1/schema/{className}", "view a class of the schema"),
        link("/v1/nodes", "status of the nodes of the cluster"),
        link("/v1/.well-known/ready", "readiness probe"),
        link("/v1/.well-known/live", "liveness probe"),
    ]}))
}

/// `/v1/` answers as `/v1`.
#[utoipa::path(
    get,
    path = "/v1/",
    operation_id = "weaviate.root.slash",
    tag = "meta",
    summary = "Links to the main endpoints (as `/v1`)",
    responses((status = 200, description = "The links", body = Object)),
)]
pub async fn root_slash() -> Json<Value> {
    root().await
}

#[utoipa::path(
    get,
    path = "/v1/meta",
    operation_id = "meta.get",
    tag = "meta",
    summary = "Hostname, Weaviate API version, modules, weft's version",
    responses((status = 200, description = "Meta information of this instance", body = Object)),
)]
pub async fn meta(State(state): State<AppState>) -> Json<Value> {
    let info = state.info();
    Json(json!({
        "hostname": info.hostname,
        "version": WEAVIATE_API_VERSION,
        "modules": info.modules,
        "grpcMaxMessageSize": info.grpc_max_message_size,
        "weftVersion": WEFT_VERSION,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/.well-known/live",
    operation_id = "weaviate.wellknown.liveness",
    tag = "well-known",
    summary = "Liveness probe",
    responses((status = 200, description = "The process is up")),
)]
pub async fn live() -> StatusCode {
    StatusCode::OK
}

#[utoipa::path(
    get,
    path = "/v1/.well-known/ready",
    operation_id = "weaviate.wellknown.readiness",
    tag = "well-known",
    summary = "Readiness probe",
    responses(
        (status = 200, description = "The database is loaded"),
        (status = 503, description = "The database is still loading"),
    ),
)]
pub async fn ready(State(state): State<AppState>) -> StatusCode {
    if state.db().is_some() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// OIDC is not supported yet, so this is always 404 without a body, which clients read as
/// "no authentication configured".
#[utoipa::path(
    get,
    path = "/v1/.well-known/openid-configuration",
    operation_id = "get.well-known.openid-configuration",
    tag = "well-known",
    summary = "OIDC discovery (OIDC is not supported: always 404)",
    responses((status = 404, description = "No OIDC provider is configured")),
)]
pub async fn openid_configuration() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// Query of `/v1/nodes`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NodesQuery {
    /// `minimal` (the default) or `verbose` (with the shards).
    output: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/nodes",
    operation_id = "nodes.get",
    tag = "nodes",
    summary = "The node (one: weft is a single node) with its shards",
    params(NodesQuery),
    responses(
        (status = 200, description = "The nodes", body = Object),
        (status = 422, description = "Invalid `output`", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub async fn nodes(
    State(state): State<AppState>,
    Query(query): Query<NodesQuery>,
) -> Result<Response, ApiError> {
    nodes_of(&state, &query, None)
}

/// `GET /v1/nodes/{class}`: the same, only the shards of one class.
#[utoipa::path(
    get,
    path = "/v1/nodes/{class}",
    operation_id = "nodes.get.class",
    tag = "nodes",
    summary = "The node with the shards of one class",
    params(("class" = String, Path, description = "The class name"), NodesQuery),
    responses(
        (status = 200, description = "The nodes", body = Object),
        (status = 404, description = "No such class", body = super::openapi::ErrorResponse),
        (status = 422, description = "Invalid `output`", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub async fn class_nodes(
    State(state): State<AppState>,
    axum::extract::Path(class): axum::extract::Path<String>,
    Query(query): Query<NodesQuery>,
) -> Result<Response, ApiError> {
    nodes_of(&state, &query, Some(&class))
}

fn nodes_of(
    state: &AppState,
    query: &NodesQuery,
    only: Option<&str>,
) -> Result<Response, ApiError> {
    let verbose = match query.output.as_deref() {
        None | Some("minimal") => false,
        Some("verbose") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("invalid output parameter {other:?}: must be \"minimal\" or \"verbose\""),
            ));
        }
    };
    let db = state.db().ok_or_else(ApiError::not_ready)?;
    let classes = match only {
        None => db.classes(),
        Some(name) => vec![db.class(name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ClassNotFound,
                format!("class {name:?} not found"),
            )
        })?],
    };
    let mut shards = Vec::new();
    let mut objects = 0;
    for class in classes {
        objects += db.object_count(&class.name);
        for shard in db.shards(&class.name)? {
            let (count, loaded) = db.shard_object_count(&class.name, &shard.name);
            shards.push(json!({
                "name": shard.name,
                "class": class.name,
                "objectCount": count,
                "vectorIndexingStatus": shard.status,
                "vectorQueueLength": 0,
                "compressed": db.shard_compressed(&class.name, &shard.name),
                "loaded": loaded,
            }));
        }
    }
    let mut node = json!({
        "name": state.info().node_name,
        "status": "HEALTHY",
        "version": WEAVIATE_API_VERSION,
        "gitHash": WEFT_VERSION,
        "stats": { "shardCount": shards.len(), "objectCount": objects },
        "batchStats": { "queueLength": 0, "ratePerSecond": 0 },
    });
    if verbose {
        node["shards"] = Value::Array(shards);
    }
    Ok(Json(json!({ "nodes": [node] })).into_response())
}
