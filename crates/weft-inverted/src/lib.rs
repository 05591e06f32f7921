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
//! Still to come (issue 12): the searchable posting store in the shard's WAL records, top-k
//! with BlockMax-WAND, and the query wiring.
#![forbid(unsafe_code)]

pub mod bm25;
pub mod fusion;
pub mod stopwords;
mod tokenize;

pub use tokenize::{Tokenizer, lower, tokenize};
