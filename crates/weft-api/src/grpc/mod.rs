//! gRPC wire messages → database values (one module per message family).

pub mod aggregate;
pub mod batch_delete;
pub mod filters;
pub mod search;
pub mod sort;
