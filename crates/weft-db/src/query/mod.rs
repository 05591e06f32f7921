//! The query model every protocol builds: a filter tree (`filter`), evaluated through the
//! filterable index (`resolve`).

pub mod aggregate;
mod delete;
pub mod filter;
pub mod group;
pub(crate) mod resolve;
pub mod sort;

pub use aggregate::{AggregateGroup, AggregateRequest, GroupValue, PropertyMetrics, PropertyStats};
pub use delete::DeleteManyResult;
pub use filter::{Filter, FilterValue, Operator, Target};
pub use group::{GroupBy, HitGroup};
pub use sort::{SortBy, SortTarget};

#[cfg(test)]
mod tests;
