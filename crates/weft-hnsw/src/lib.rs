//! weft-hnsw: weft's vector indexes.
//!
//! * [`Hnsw`]: a hierarchical navigable small-world graph with Weaviate's knobs
//!   ([`HnswConfig`]): concurrent insert and search, filtered search with a roaring allow-list
//!   (and an exhaustive scan below `flatSearchCutoff`), deletes by tombstone with cleanup that
//!   reconnects the deleted nodes' neighbours ([`Hnsw::cleanup`], [`CleanupThread`]).
//! * [`FlatIndex`]: exact search for small classes (`vectorIndexType: flat`).
//! * Persistence hooks: every graph change is a [`GraphOp`] reported to an optional
//!   [`GraphObserver`]; [`Hnsw::snapshot`] / [`Hnsw::from_snapshot`] / [`Hnsw::apply`] rebuild a
//!   graph from a snapshot plus the op tail; [`oplog`] frames ops as checksummed log records
//!   (`docs/format/graph-op-log.md`).
//! * [`snapshot`]: the whole index (graph and vectors) as checksummed bytes
//!   ([`Hnsw::write_snapshot`], [`Hnsw::read_snapshot`], same for [`FlatIndex`]); the caller
//!   owns the files (`docs/format/vector-index-snapshot.md`).
//!
//! Ids are `u32`s chosen by the caller (weft-db's doc ids), need not be dense and are never
//! reused. Internally each node has a dense slot, and cleanup reuses the slots of removed
//! nodes, so memory follows the number of live nodes, not the highest id (`ids.rs`,
//! `cleanup.rs`).
//!
//! ```
//! use weft_hnsw::{Hnsw, HnswConfig};
//! use weft_vector::Metric;
//!
//! let index = Hnsw::new(2, HnswConfig { metric: Metric::L2Squared, ..HnswConfig::default() });
//! for i in 0..100u32 {
//!     index.insert(i, &[i as f32, 0.0]).unwrap();
//! }
//! let hits = index.search(&[41.2, 0.0], 3, None).unwrap();
//! assert_eq!(hits.iter().map(|n| n.id).collect::<Vec<_>>(), [41, 42, 40]);
//! ```
#![forbid(unsafe_code)]

mod cleanup;
mod config;
mod flat;
mod hnsw;
mod ids;
mod inflight;
mod insert;
mod nodes;
pub mod oplog;
mod ops;
mod persist;
mod search;
pub mod snapshot;
mod store;

pub use cleanup::CleanupThread;
pub use config::HnswConfig;
pub use flat::FlatIndex;
pub use hnsw::{Hnsw, Rescore, VectorSource};
pub use ops::{GraphObserver, GraphOp, GraphSnapshot, NodeSnapshot};
pub use snapshot::{SnapshotError, SnapshotHeader, SnapshotInfo, SnapshotMark};
pub use weft_vector::{Metric, QuantKind, Quantizer, RQ_SEED};

/// One search hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor {
    /// Node id.
    pub id: u32,
    /// Distance to the query (smaller is closer).
    pub distance: f32,
}

/// Why an index operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The vector's length differs from the index's dimension.
    #[error("vector has {got} dimensions, the index has {expected}")]
    Dimension {
        /// The index's dimension.
        expected: usize,
        /// The vector's length.
        got: usize,
    },
    /// The id was inserted before (ids are not reused, even after a delete).
    #[error("id {0} was already inserted (ids are not reused)")]
    Exists(u32),
    /// Replay needed a node's vector and the vector source had none.
    #[error("no vector for node {0}")]
    MissingVector(u32),
    /// The quantizer does not fit the index.
    #[error("{0}")]
    Quantizer(String),
    /// Rescoring could not read the vectors it needs.
    #[error("cannot read the vectors to rescore: {0}")]
    Source(String),
    /// Every one of the 2³² internal slots is in use.
    #[error("the index holds the maximum number of nodes")]
    Full,
}
