//! The query model every protocol builds: [`Query`] (`search`) with its filter tree
//! (`filter`, evaluated through the filterable index by `resolve`, through references by
//! `refs`), sort keys (`sort`),
//! group-by and autocut (`group`), keyword (BM25, `keyword`) and hybrid searches (`hybrid`); aggregations (`aggregate`) and deletes by filter (`delete`).

pub mod aggregate;
mod delete;
pub mod filter;
pub mod group;
pub mod hybrid;
pub mod keyword;
pub mod refs;
pub(crate) mod resolve;
pub mod search;
pub mod sort;

pub use aggregate::{
    AggregateGroup, AggregateRequest, GroupValue, NumericStats, PropertyMetrics, PropertyStats,
};
pub use delete::DeleteManyResult;
pub use filter::{Filter, FilterValue, Operator, Target};
pub use group::{GroupBy, HitGroup};
pub use hybrid::{Fusion, HybridQuery};
pub use keyword::{KeywordOperator, KeywordQuery};
pub use search::{Near, NearQuery, Query, SearchHit};
pub use sort::{SortBy, SortTarget};

#[cfg(test)]
mod tests;
