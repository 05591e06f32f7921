//! weft-api: Weaviate's wire shapes and their mapping to weft's domain types.
//!
//! * [`error`] — the one table that maps every domain error to an HTTP status and a gRPC code,
//!   and renders Weaviate's error body `{"error":[{"message":"…"}]}`.
//! * [`schema`] — class / property JSON in and out, defaults included.
//! * [`proto`] — the gRPC API `weaviate.v1`: generated prost messages and tonic stubs.
//!
//! ```
//! let body = weft_api::error::error_body("boom");
//! assert_eq!(body.to_string(), r#"{"error":[{"message":"boom"}]}"#);
//! ```
#![forbid(unsafe_code)]

/// The Weaviate API level weft implements, reported as `version` by `/v1/meta` and `/v1/nodes`.
pub const WEAVIATE_API_VERSION: &str = "1.37.0";

pub mod backup;
pub mod batch_delete;
pub mod error;
pub mod grpc;
pub mod object;
pub mod proto;
pub mod schema;
pub mod search;
pub mod tenants;
pub mod where_filter;

/// `QUERY_DEFAULTS_LIMIT`, `QUERY_DEFAULTS_LIMIT_GRAPHQL` and `QUERY_MAXIMUM_RESULTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Limit applied when a request gives none.
    pub default_limit: u64,
    /// Limit of a GraphQL `Get` that gives none of `limit`, `offset` and `autocut`.
    pub graphql_default_limit: u64,
    /// Largest offset + limit a request may ask for.
    pub maximum_results: u64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            default_limit: 10,
            graphql_default_limit: 100,
            maximum_results: 10_000,
        }
    }
}
