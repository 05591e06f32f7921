//! gRPC wire messages → database values (one module per message family).

pub mod filters;
