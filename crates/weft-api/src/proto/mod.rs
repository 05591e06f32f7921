//! The Weaviate gRPC API (`weaviate.v1`): prost messages and tonic service stubs.
//!
//! The types are generated from weft's own `proto/weaviate/v1/*.proto` by
//! `cargo run -p xtask -- codegen` and committed (`weaviate.v1.rs` beside this file); no
//! `protoc` or build script is involved. `cargo run -p xtask -- check-protos` proves that the
//! .proto files match the client's wire contract and that the generated file is current.
//! See docs/decisions/0005-grpc-protos.md.
//!
//! * messages: [`v1::SearchRequest`], [`v1::BatchObjectsRequest`], … (nested types and oneofs
//!   live in snake_case modules, e.g. [`v1::batch_object::Properties`]).
//! * server: implement [`v1::weaviate_server::Weaviate`] and serve
//!   [`v1::weaviate_server::WeaviateServer`].
//! * client (for tests): [`v1::weaviate_client::WeaviateClient`].
//! * `google.protobuf.Struct` maps to [`prost_types::Struct`].

/// Package `weaviate.v1`, generated; do not edit.
#[rustfmt::skip]
#[allow(
    // Generated code: lints are not ours to fix here (fix the generator config instead).
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    missing_debug_implementations,
    rustdoc::all
)]
pub mod v1 {
    include!("weaviate.v1.rs");
}

#[cfg(test)]
mod tests;
