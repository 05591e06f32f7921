//! gRPC `SortBy` → the database's sort keys.

use weft_db::query::SortBy;

use crate::error::{ErrorCode, WireError};
use crate::proto::v1::SortBy as WireSort;

/// Converts the sort keys; a path through a reference is an error.
pub fn sort(keys: Vec<WireSort>) -> Result<Vec<SortBy>, WireError> {
    keys.into_iter()
        .map(|WireSort { ascending, path }| match path.as_slice() {
            [one] => Ok(SortBy::named(one, ascending)),
            [] => Err(WireError::new(
                ErrorCode::InvalidInput,
                "sort: path is empty",
            )),
            _ => Err(WireError::new(
                ErrorCode::InvalidInput,
                // Weaviate does not sort through references either (its message).
                "sorting by reference not supported, path must have exactly one argument",
            )),
        })
        .collect()
}
