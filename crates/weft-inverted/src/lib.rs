//! weft-inverted: keyword search, independent of storage and transport.
//!
//! * [`tokenize`] — Weaviate's tokenizations (`word`, `lowercase`, `whitespace`, `field`,
//!   `trigram`), Unicode aware.
//!
//! * [`stopwords`] — Weaviate's presets with additions and removals (queries only).
//! * [`bm25`] — idf, per-property term scores and boosts as Weaviate's default engine computes
//!   them.
//! * [`fusion`] — hybrid `rankedFusion` and `relativeScoreFusion` with Weaviate's tie rules.
//!
//! * [`postings`] — the searchable index's entries (term → doc id → frequency, length) and the
//!   per-property length statistics, as stored by weft-db in the object's WAL record.
//! * [`search`] — BM25 top-k over posting lists: the exhaustive reference and WAND.
#![forbid(unsafe_code)]

pub mod bm25;
pub mod fusion;
pub mod postings;
pub mod search;
pub mod stopwords;
mod tokenize;

pub use tokenize::{Tokenizer, lower, tokenize};
