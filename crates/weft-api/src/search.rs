//! One search, run the same way for every protocol: gRPC `Search` and GraphQL `Get` build a
//! [`weft_db::Query`] (and an optional group-by) and call [`run`], so they answer from the same
//! plan and refuse the same things with the same messages.

use weft_db::query::{GroupBy, HitGroup};
use weft_db::schema::ClassDef;
use weft_db::{Db, Query, SearchHit};

use crate::error::{ErrorCode, WireError};

/// What a search produced.
#[derive(Debug)]
pub enum Ran {
    /// The hits, best first.
    Hits(Vec<SearchHit>),
    /// The hits grouped by a property.
    Groups(Vec<HitGroup>),
}

/// Runs `query`; groups its hits when `group_by` is given. `certainty_asked` refuses a
/// non-cosine vector search, as Weaviate does, since certainty is only defined for cosine.
/// `class` is the queried class's definition (for the group-by property check).
pub fn run(
    db: &Db,
    query: &Query,
    group_by: Option<&GroupBy>,
    certainty_asked: bool,
    class: Option<&ClassDef>,
) -> Result<Ran, WireError> {
    let hits = db.search(query).map_err(|e| WireError::from_db(&e))?;
    let no_certainty = |h: &SearchHit| h.distance.is_some() && h.certainty.is_none();
    if certainty_asked && hits.iter().any(no_certainty) {
        return Err(WireError::new(
            ErrorCode::InvalidInput,
            "can't compute and return certainty when the vector index does not use cosine distance",
        ));
    }
    let Some(by) = group_by else {
        return Ok(Ran::Hits(hits));
    };
    if class.is_some_and(|c| c.property(&by.property).is_none()) {
        return Err(WireError::new(
            ErrorCode::InvalidInput,
            format!(
                "groupBy: no such property {:?} in class {}",
                by.property, query.class
            ),
        ));
    }
    Ok(Ran::Groups(weft_db::query::group::group(hits, by)))
}
