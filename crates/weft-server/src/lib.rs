//! weft-server: the network face of weft — Weaviate's REST API on axum and its gRPC API on
//! tonic.
//!
//! [`rest::router`] builds the REST [`axum::Router`] over an [`AppState`]; [`grpc`] builds the
//! tonic services; [`serve`] runs both until a shutdown signal, then drains in-flight requests.
//! Handlers are adapters: they parse the wire shape (through `weft-api`), make one `weft-db`
//! call and map errors in one place ([`rest::ApiError`]).
//!
//! ```
//! let state = weft_server::AppState::new(weft_server::ServerInfo::for_tests());
//! let _router = weft_server::rest::router(state);
//! ```
#![forbid(unsafe_code)]

pub mod auth;
pub mod grpc;
pub mod metrics;
pub mod rest;
pub mod serve;
mod state;

pub use state::{AppState, QueryLimits, ServerInfo};
pub use weft_api::WEAVIATE_API_VERSION;
