//! The document lists exactly the routes the router serves.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tower::ServiceExt;
use utoipa::OpenApi;

use super::ApiDoc;
use crate::{AppState, ServerInfo};

/// Every (method, path) `rest::router` serves. A new route must be added here and annotated
/// with `#[utoipa::path]` (and listed in `ApiDoc`); `routes_in_the_router_are_documented`
/// catches one that is only in the router.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/graphql"),
    ("POST", "/v1/graphql/batch"),
    ("GET", "/v1"),
    ("GET", "/v1/"),
    ("GET", "/v1/meta"),
    ("GET", "/v1/.well-known/live"),
    ("GET", "/v1/.well-known/ready"),
    ("GET", "/v1/.well-known/openid-configuration"),
    ("GET", "/v1/nodes"),
    ("GET", "/v1/nodes/{class}"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/schema"),
    ("POST", "/v1/schema"),
    ("GET", "/v1/schema/{class}"),
    ("PUT", "/v1/schema/{class}"),
    ("DELETE", "/v1/schema/{class}"),
    ("POST", "/v1/schema/{class}/properties"),
    ("GET", "/v1/schema/{class}/shards"),
    ("PUT", "/v1/schema/{class}/shards/{shard}"),
    ("GET", "/v1/objects"),
    ("POST", "/v1/objects"),
    ("POST", "/v1/objects/validate"),
    ("GET", "/v1/objects/{class}/{id}"),
    ("HEAD", "/v1/objects/{class}/{id}"),
    ("PUT", "/v1/objects/{class}/{id}"),
    ("PATCH", "/v1/objects/{class}/{id}"),
    ("DELETE", "/v1/objects/{class}/{id}"),
    ("POST", "/v1/batch/objects"),
    ("DELETE", "/v1/batch/objects"),
    ("POST", "/v1/objects/{class}/{id}/references/{property}"),
    ("PUT", "/v1/objects/{class}/{id}/references/{property}"),
    ("DELETE", "/v1/objects/{class}/{id}/references/{property}"),
    ("POST", "/v1/batch/references"),
    ("GET", "/v1/schema/{class}/tenants"),
    ("POST", "/v1/schema/{class}/tenants"),
    ("PUT", "/v1/schema/{class}/tenants"),
    ("DELETE", "/v1/schema/{class}/tenants"),
    ("GET", "/v1/schema/{class}/tenants/{tenant}"),
    ("HEAD", "/v1/schema/{class}/tenants/{tenant}"),
    ("POST", "/v1/backups/{backend}"),
    ("GET", "/v1/backups/{backend}"),
    ("GET", "/v1/backups/{backend}/{id}"),
    ("DELETE", "/v1/backups/{backend}/{id}"),
    ("POST", "/v1/backups/{backend}/{id}/restore"),
    ("GET", "/v1/backups/{backend}/{id}/restore"),
    ("DELETE", "/v1/backups/{backend}/{id}/restore"),
];

fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).expect("the document serializes")
}

/// (method, path) of every operation of the document.
fn documented() -> BTreeSet<(String, String)> {
    let doc = document();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "head", "patch", "options", "trace",
        ] {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn listed() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_string(), (*p).to_string()))
        .collect()
}

#[test]
fn the_document_lists_every_route() {
    let documented = documented();
    let listed = listed();
    let missing: Vec<_> = listed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&listed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes without an operation: {missing:?}; operations without a route: {extra:?}"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_unique_operation_ids() {
    let doc = document();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    assert_eq!(doc["info"]["title"], "weft");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("path item").values() {
            let id = op["operationId"].as_str().expect("operationId").to_string();
            assert!(ids.insert(id.clone()), "operationId {id} twice");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{id} has no responses"
            );
        }
    }
    // The typed Backup API shapes are real schemas, not `object`.
    let schemas = &doc["components"]["schemas"];
    for name in [
        "CreateRequest",
        "RestoreRequest",
        "JobReply",
        "ListItem",
        "Status",
    ] {
        assert!(schemas.get(name).is_some(), "schema {name} missing");
    }
    assert_eq!(
        schemas["Status"]["enum"][0], "STARTED",
        "serde's renames apply"
    );
}

#[test]
fn protected_operations_document_401_and_403_and_open_ones_do_not() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for op in item.as_object().expect("path item").values() {
            let responses = &op["responses"];
            let open = crate::auth::is_open_path(path);
            assert_eq!(responses.get("401").is_none(), open, "{path}");
            assert_eq!(responses.get("403").is_none(), open, "{path}");
        }
    }
}

/// The paths of every `.route("…", …)` in the REST sources.
fn route_paths_in_sources() -> BTreeSet<String> {
    let sources = [
        include_str!("../mod.rs"),
        include_str!("../meta.rs"),
        include_str!("../schema.rs"),
        include_str!("../objects.rs"),
        include_str!("../references.rs"),
        include_str!("../tenants.rs"),
        include_str!("../backups.rs"),
        include_str!("../graphql.rs"),
    ];
    let mut out = BTreeSet::new();
    for source in sources {
        for (at, _) in source.match_indices(".route(") {
            let rest = &source[at..];
            let start = rest.find('"').expect("a path literal") + 1;
            let end = start + rest[start..].find('"').expect("its end");
            out.insert(rest[start..end].to_string());
        }
    }
    out
}

/// Sends `method path` to the router (no database loaded) and tells whether a route took it,
/// not the fallbacks (404 "path … was not found", 405).
async fn routed(method: &Method, path: &str) -> bool {
    let concrete: String = path
        .split('/')
        .map(|seg| if seg.starts_with('{') { "x" } else { seg })
        .collect::<Vec<_>>()
        .join("/");
    let router = super::super::router(AppState::new(ServerInfo::for_tests()));
    let request = Request::builder()
        .method(method)
        .uri(&concrete)
        .body(Body::empty())
        .expect("request");
    let response = router.oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let fallback = status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND
            && String::from_utf8_lossy(&body).contains("was not found"));
    !fallback
}

#[tokio::test]
async fn routes_in_the_router_are_documented() {
    let paths = route_paths_in_sources();
    assert!(paths.len() >= 20, "the scan found {paths:?}");
    let mut served = BTreeSet::new();
    for path in &paths {
        // HEAD is left out: axum answers it on every GET route.
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            if routed(&method, path).await {
                served.insert((method.to_string(), path.clone()));
            }
        }
    }
    let documented: BTreeSet<_> = documented()
        .into_iter()
        .filter(|(m, _)| m != "HEAD")
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served without an operation: {undocumented:?}; documented but not served: {unserved:?}"
    );
    assert!(routed(&Method::HEAD, "/v1/objects/{class}/{id}").await);
}

#[tokio::test]
async fn the_document_is_served() {
    let router = super::super::router(AppState::new(ServerInfo::for_tests()));
    let request = Request::builder()
        .uri("/v1/openapi.json")
        .body(Body::empty())
        .expect("request");
    let response = router.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[axum::http::header::CONTENT_TYPE],
        "application/json"
    );
    let body = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .expect("body");
    let served: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(served, document());
}
