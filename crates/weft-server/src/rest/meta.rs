//! `/v1`, `/v1/meta`, `/v1/.well-known/*`, `/v1/nodes`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use weft_api::WEAVIATE_API_VERSION;
use weft_api::error::ErrorCode;

use super::ApiError;
use crate::AppState;

/// weft's own version, reported beside the Weaviate API level.
pub(crate) const WEFT_VERSION: &str = env!("CARGO_PKG_VERSION");

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

pub async fn live() -> StatusCode {
    StatusCode::OK
}

pub async fn ready(State(state): State<AppState>) -> StatusCode {
    if state.db().is_some() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// OIDC is not supported yet, so this is always 404 without a body, which clients read as
/// "no authentication configured".
pub async fn openid_configuration() -> StatusCode {
    StatusCode::NOT_FOUND
}

#[derive(Debug, Deserialize)]
pub struct NodesQuery {
    output: Option<String>,
}

pub async fn nodes(
    State(state): State<AppState>,
    Query(query): Query<NodesQuery>,
) -> Result<Response, ApiError> {
    nodes_of(&state, &query, None)
}

/// `GET /v1/nodes/{class}`: the same, only the shards of one class.
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
        let count = db.object_count(&class.name);
        objects += count;
        for shard in db.shards(&class.name)? {
            shards.push(json!({
                "name": shard.name,
                "class": class.name,
                "objectCount": count,
                "vectorIndexingStatus": shard.status,
                "vectorQueueLength": 0,
                "compressed": false,
                "loaded": true,
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
