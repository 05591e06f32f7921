//! The gRPC services (tonic): the standard `grpc.health.v1.Health`, which the Python client
//! calls on connect and which must answer SERVING for service "", and `weaviate.v1.Weaviate`
//! ([`WeaviateService`]: `BatchObjects`, see [`batch`] for how objects are decoded; `Search`,
//! `Aggregate` and `BatchDelete`, whose requests and replies `weft_api::grpc` converts).

pub mod batch;
mod service;

pub use service::WeaviateService;
use tonic_health::pb::health_server::{Health, HealthServer};
use weft_api::proto::v1::weaviate_server::WeaviateServer;

use crate::AppState;

/// The health service, reporting SERVING for the overall server ("").
pub fn health_service() -> HealthServer<impl Health> {
    // `health_reporter` registers "" as SERVING from the start; the process only listens on
    // the gRPC port once it is able to answer.
    let (_reporter, service) = tonic_health::server::health_reporter();
    service
}

/// The `weaviate.v1.Weaviate` service, accepting and sending messages up to
/// `GRPC_MAX_MESSAGE_SIZE` (larger requests are refused before they are decoded).
pub fn weaviate_service(state: AppState) -> WeaviateServer<WeaviateService> {
    let limit = state.info().grpc_max_message_size;
    WeaviateServer::new(WeaviateService::new(state))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit)
}

#[cfg(test)]
mod tests;
