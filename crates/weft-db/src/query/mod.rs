//! The query model every protocol builds: a filter tree (`filter`), evaluated through the
//! filterable index (`resolve`).

pub mod filter;
pub(crate) mod resolve;

pub use filter::{Filter, FilterValue, Operator, Target};

#[cfg(test)]
mod tests;
