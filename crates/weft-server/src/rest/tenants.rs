//! `/v1/schema/{class}/tenants`: adapters to the tenant operations of `weft-db`. Every change
//! is durable (one schema write) when it is answered.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use weft_api::tenants::{
    tenant_names_from_json, tenant_to_json, tenants_from_json, tenants_to_json,
};
use weft_db::schema::validation::uppercase_first;

use super::ApiError;
use super::body::json_value;
use super::objects::blocking;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/schema/{class}/tenants",
            get(list).post(create).put(update).delete(remove),
        )
        .route(
            "/v1/schema/{class}/tenants/{tenant}",
            get(get_one).head(exists),
        )
}

#[utoipa::path(
    get,
    path = "/v1/schema/{class}/tenants",
    operation_id = "tenants.get",
    tag = "schema",
    summary = "The tenants of a multi-tenant class",
    params(("class" = String, Path, description = "The class name", example = "Article")),
    responses(
        (status = 200, description = "`[{\"name\", \"activityStatus\": \"HOT\"|\"COLD\"}]`", body = Vec<Object>),
        (status = 404, description = "No such class", body = super::openapi::ErrorResponse),
        (status = 422, description = "The class is not multi-tenant", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    Path(class): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenants = blocking(&state, move |db| db.tenants(&uppercase_first(&class))).await?;
    Ok(Json(tenants_to_json(&tenants)))
}

#[utoipa::path(
    post,
    path = "/v1/schema/{class}/tenants",
    operation_id = "tenants.create",
    tag = "schema",
    summary = "Adds tenants (existing ones are left as they are)",
    params(("class" = String, Path, description = "The class name", example = "Article")),
    request_body(
        content = Vec<Object>,
        description = "`[{\"name\": \"t1\", \"activityStatus\": \"ACTIVE\"|\"INACTIVE\"|\"HOT\"|\"COLD\"}]`",
        example = json!([{"name": "tenant-1"}]),
    ),
    responses(
        (status = 200, description = "The tenants as requested", body = Vec<Object>),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such class", body = super::openapi::ErrorResponse),
        (status = 422, description = "Not multi-tenant, a bad name or status", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    Path(class): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let tenants = tenants_from_json(&json_value(&body)?)?;
    let done = blocking(&state, move |db| db.add_tenants(&class, &tenants)).await?;
    Ok(Json(tenants_to_json(done.iter().map(|(n, s)| (n, s)))))
}

#[utoipa::path(
    put,
    path = "/v1/schema/{class}/tenants",
    operation_id = "tenants.update",
    tag = "schema",
    summary = "Changes tenants' activity status (at most 100 at once)",
    params(("class" = String, Path, description = "The class name", example = "Article")),
    request_body(
        content = Vec<Object>,
        description = "`[{\"name\": \"t1\", \"activityStatus\": \"INACTIVE\"}]`",
        example = json!([{"name": "tenant-1", "activityStatus": "INACTIVE"}]),
    ),
    responses(
        (status = 200, description = "The tenants as updated", body = Vec<Object>),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such class", body = super::openapi::ErrorResponse),
        (status = 422, description = "Not multi-tenant, an unknown tenant, a bad status", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn update(
    State(state): State<AppState>,
    Path(class): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let tenants = tenants_from_json(&json_value(&body)?)?;
    let done = blocking(&state, move |db| db.update_tenants(&class, &tenants)).await?;
    Ok(Json(tenants_to_json(done.iter().map(|(n, s)| (n, s)))))
}

#[utoipa::path(
    delete,
    path = "/v1/schema/{class}/tenants",
    operation_id = "tenants.delete",
    tag = "schema",
    summary = "Removes tenants and their data (unknown names are skipped)",
    params(("class" = String, Path, description = "The class name", example = "Article")),
    request_body(
        content = Vec<String>,
        description = "`[\"t1\", ...]`",
        example = json!(["tenant-1"]),
    ),
    responses(
        (status = 200, description = "Removed"),
        (status = 400, description = "The body is not JSON", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such class", body = super::openapi::ErrorResponse),
        (status = 422, description = "Not multi-tenant, an empty name", body = super::openapi::ErrorResponse),
        (status = 500, description = "Storage error", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn remove(
    State(state): State<AppState>,
    Path(class): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let names = tenant_names_from_json(&json_value(&body)?)?;
    blocking(&state, move |db| db.delete_tenants(&class, &names)).await?;
    Ok(StatusCode::OK)
}

#[utoipa::path(
    get,
    path = "/v1/schema/{class}/tenants/{tenant}",
    operation_id = "tenants.get.one",
    tag = "schema",
    summary = "One tenant",
    params(
        ("class" = String, Path, description = "The class name", example = "Article"),
        ("tenant" = String, Path, description = "The tenant's name", example = "tenant-1"),
    ),
    responses(
        (status = 200, description = "`{\"name\", \"activityStatus\"}`", body = Object),
        (status = 404, description = "No such class or tenant (no body)"),
        (status = 422, description = "The class is not multi-tenant", body = super::openapi::ErrorResponse),
        (status = 503, description = "The database is still loading", body = super::openapi::ErrorResponse),
    ),
)]
pub(super) async fn get_one(
    State(state): State<AppState>,
    Path((class, tenant)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let found = blocking(&state, move |db| {
        Ok(db
            .tenants(&uppercase_first(&class))?
            .get_key_value(&tenant)
            .map(|(n, s)| (n.clone(), *s)))
    })
    .await?;
    Ok(match found {
        Some((name, status)) => Json(tenant_to_json(&name, status)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    })
}

#[utoipa::path(
    head,
    path = "/v1/schema/{class}/tenants/{tenant}",
    operation_id = "tenants.exists",
    tag = "schema",
    summary = "Whether a tenant exists",
    params(
        ("class" = String, Path, description = "The class name", example = "Article"),
        ("tenant" = String, Path, description = "The tenant's name", example = "tenant-1"),
    ),
    responses(
        (status = 200, description = "It exists"),
        (status = 404, description = "No such class or tenant"),
        (status = 422, description = "The class is not multi-tenant"),
        (status = 503, description = "The database is still loading"),
    ),
)]
pub(super) async fn exists(
    State(state): State<AppState>,
    Path((class, tenant)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let found = blocking(&state, move |db| {
        Ok(db.tenants(&uppercase_first(&class))?.contains_key(&tenant))
    })
    .await?;
    Ok(if found {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    })
}
