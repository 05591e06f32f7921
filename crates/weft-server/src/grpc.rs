//! The gRPC services (tonic): for now the standard `grpc.health.v1.Health`, which the Python
//! client calls on connect and which must answer SERVING for service "".

use tonic_health::pb::health_server::{Health, HealthServer};

/// The health service, reporting SERVING for the overall server ("").
pub fn health_service() -> HealthServer<impl Health> {
    // `health_reporter` registers "" as SERVING from the start; the process only listens on
    // the gRPC port once it is able to answer.
    let (_reporter, service) = tonic_health::server::health_reporter();
    service
}
