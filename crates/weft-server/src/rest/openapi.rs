//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of the REST routes weft serves, generated
//! by utoipa from the `#[utoipa::path]` annotations on the handlers, their query types
//! (`IntoParams`) and the typed wire shapes of `weft_api` (`ToSchema`). Bodies that the
//! handlers parse by hand (classes, objects, batches) are described as JSON objects with an
//! example.
//!
//! The path is behind authentication like every path Weaviate does not leave open; with
//! anonymous access (the default) it needs no key.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{backups, graphql, meta, objects, references, schema, tenants};

/// Weaviate's error body: `{"error": [{"message": "..."}]}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // describes `weft_api::error::error_body`; never built
pub struct ErrorResponse {
    /// One entry (weft reports the whole cause chain in one message).
    error: Vec<ErrorMessage>,
}

/// One error message.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ErrorMessage {
    /// What went wrong.
    message: String,
}

/// go-openapi's body of a 401: `{"code": 401, "message": "..."}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UnauthorizedResponse {
    /// 401.
    code: u16,
    /// Why the request was refused.
    message: String,
}

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "weft",
        description = "weft's implementation of Weaviate's REST API (`/v1`). Generated from \
            weft's handlers by utoipa; only the routes weft serves are listed. Every path but \
            `/v1`, `/v1/`, `/v1/.well-known/live`, `/v1/.well-known/ready` and \
            `/v1/.well-known/openid-configuration` needs `Authorization: Bearer <key>` when \
            anonymous access is disabled.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        meta::root,
        meta::root_slash,
        meta::meta,
        meta::live,
        meta::ready,
        meta::openid_configuration,
        meta::nodes,
        meta::class_nodes,
        document,
        schema::list,
        schema::create,
        schema::get_class,
        schema::update,
        schema::delete,
        schema::add_property,
        schema::shards,
        schema::update_shard,
        objects::list,
        objects::create,
        objects::validate,
        objects::get_one,
        objects::exists,
        objects::replace,
        objects::merge,
        objects::delete,
        objects::batch,
        objects::batch_delete,
        references::add,
        references::replace,
        references::remove,
        references::batch,
        tenants::list,
        tenants::create,
        tenants::update,
        tenants::remove,
        tenants::get_one,
        tenants::exists,
        backups::create,
        backups::list,
        backups::status,
        backups::cancel,
        backups::restore,
        backups::restore_status,
        backups::cancel_restore,
        graphql::graphql,
        graphql::batch,
    ),
    components(schemas(ErrorResponse, UnauthorizedResponse)),
    modifiers(&Authentication),
    tags(
        (name = "meta", description = "Links and meta information"),
        (name = "well-known", description = "Probes and OIDC discovery"),
        (name = "nodes", description = "The node and its shards"),
        (name = "schema", description = "Classes, properties and shards"),
        (name = "objects", description = "Objects one at a time"),
        (name = "batch", description = "Objects in batches"),
        (name = "backups", description = "Backups and restores"),
        (name = "graphql", description = "GraphQL queries: Get, Aggregate, Explore"),
    ),
)]
pub struct ApiDoc;

/// Adds the API-key scheme, and 401 / 403 to every operation on a path that is not open
/// (the answers of the authentication middleware, [`super::authenticate`]).
struct Authentication;

impl Modify for Authentication {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A key of AUTHENTICATION_APIKEY_ALLOWED_KEYS (only when \
                         AUTHENTICATION_APIKEY_ENABLED)",
                    ))
                    .build(),
            ),
        );
        let error = |description: &str, schema: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(schema)))
                        .build(),
                )
                .build()
        };
        for (path, item) in &mut openapi.paths.paths {
            if crate::auth::is_open_path(path) {
                continue;
            }
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.head,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                // Anonymous (the empty requirement) or a key.
                op.security = Some(vec![
                    SecurityRequirement::default(),
                    SecurityRequirement::new("apiKey", Vec::<String>::new()),
                ]);
                op.responses.responses.insert(
                    "401".to_string(),
                    error(
                        "No key while anonymous access is disabled, or an unknown key",
                        "UnauthorizedResponse",
                    )
                    .into(),
                );
                op.responses.responses.insert(
                    "403".to_string(),
                    error(
                        "The admin list does not allow this user this action",
                        "ErrorResponse",
                    )
                    .into(),
                );
            }
        }
    }
}

/// The document as served, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":[{{\"message\":\"{e}\"}}]}}"))
});

/// `GET /v1/openapi.json`.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "weft.openapi",
    tag = "meta",
    summary = "This document",
    responses((status = 200, description = "The OpenAPI document", body = Object)),
)]
pub async fn document() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[cfg(test)]
mod tests;
