//! The query model every protocol builds: a filter tree (`filter`), evaluated through the
//! filterable index (`resolve`).

pub mod aggregate;
mod delete;
pub mod filter;
pub(crate) mod resolve;

pub use aggregate::{AggregateGroup, AggregateRequest, GroupValue, PropertyMetrics, PropertyStats};
pub use delete::DeleteManyResult;
pub use filter::{Filter, FilterValue, Operator, Target};

#[cfg(test)]
mod tests;
