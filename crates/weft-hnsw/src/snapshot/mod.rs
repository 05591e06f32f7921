//! Snapshot files of a vector index, as bytes (the caller owns the files).
//!
//! Format: `docs/format/vector-index-snapshot.md`. A snapshot holds the whole index: the
//! configuration fingerprint (kind, metric, M, dimension), the doc-id watermark it covers, the
//! graph (entry point, per node id, levels, neighbour lists, tombstone flag) and every node's
//! vector, so loading needs nothing from the vector bucket. The body is cut into chunks of
//! about 1 MiB, each with its own CRC32C; the trailer ends the file and says how many chunks
//! and nodes came before it, so truncation is detected.
//!
//! Decoding never panics and never allocates more than a small multiple of the input it has
//! already consumed: every length is checked against the remaining input first.
//!
//! ```
//! use weft_hnsw::{Hnsw, HnswConfig, Metric};
//!
//! let cfg = HnswConfig { metric: Metric::L2Squared, ..HnswConfig::default() };
//! let index = Hnsw::new(2, cfg.clone());
//! for i in 0..50u32 {
//!     index.insert(i, &[i as f32, 1.0]).unwrap();
//! }
//! let mut bytes = Vec::new();
//! index.write_snapshot(50, &mut bytes).unwrap();
//! let (loaded, info) = Hnsw::read_snapshot(&mut bytes.as_slice(), bytes.len() as u64, 2, cfg).unwrap();
//! assert_eq!((info.nodes, info.covered, loaded.len()), (50, 50, 50));
//! ```

mod load;
mod read;
mod restore;
#[cfg(test)]
mod tests;
mod write;

pub(crate) use read::words;
pub use read::{DecodedSnapshot, NodeRecord, SnapshotReader, decode};

use weft_vector::{Metric, Quantizer};

/// First bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"WEFTVIDX";
/// Format version written by this code. Versions 1 (no quantizer block) and 2 (no LSN) are
/// still read.
pub const VERSION: u16 = 3;
/// Size of the fixed header (version 3).
pub(crate) const HEADER_LEN: usize = 60;
/// Size of the fixed header of versions 1 and 2.
pub(crate) const OLD_HEADER_LEN: usize = 44;
/// Size of a chunk header: tag, payload length, node count, CRC32C.
pub(crate) const CHUNK_HEADER_LEN: usize = 13;
/// Size of the trailer.
pub(crate) const TRAILER_LEN: usize = 23;
/// A chunk is cut once its payload reaches this size.
pub(crate) const CHUNK_TARGET: usize = 1 << 20;
/// Largest chunk payload a reader accepts (a node bigger than the target ends its own chunk).
pub(crate) const MAX_CHUNK: usize = 64 << 20;
/// Highest number of levels of a node (`weft_hnsw`'s top level is at most 15).
pub(crate) const MAX_LEVELS: usize = 16;
pub(crate) const TAG_CHUNK: u8 = 1;
pub(crate) const TAG_TRAILER: u8 = 2;
pub(crate) const FLAG_TOMBSTONE: u8 = 1;

/// Which index a snapshot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexKind {
    /// [`crate::Hnsw`]: graph and vectors.
    Hnsw,
    /// [`crate::FlatIndex`]: live vectors only.
    Flat,
}

impl IndexKind {
    pub(crate) fn code(self) -> u8 {
        match self {
            IndexKind::Hnsw => 1,
            IndexKind::Flat => 2,
        }
    }

    pub(crate) fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(IndexKind::Hnsw),
            2 => Some(IndexKind::Flat),
            _ => None,
        }
    }
}

/// The fixed header: what the snapshot is and what it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotHeader {
    /// Index kind.
    pub kind: IndexKind,
    /// Distance metric (vectors of cosine indexes are stored normalised).
    pub metric: Metric,
    /// Vector dimension.
    pub dim: u32,
    /// `maxConnections` (0 for flat).
    pub max_connections: u32,
    /// Watermark: every id below it was fully inserted (or deleted) when the snapshot began;
    /// the snapshot holds no id at or above it.
    pub covered: u64,
    /// State of the level generator, so levels drawn after loading continue the sequence.
    pub rng_state: u64,
    /// The shard LSN the watermark was taken at (version 3; `0`: unknown): every write up to
    /// it is in the snapshot, and every write that touched the index while the snapshot was
    /// written was durable before the snapshot was published. A shard whose last LSN is still
    /// this one has had no write since, so the snapshot is its exact index.
    pub lsn: u64,
    /// The first graph-operation log generation to replay onto this snapshot (version 3; `0`:
    /// none): the caller's log was switched to it before the snapshot began, so every graph
    /// change the snapshot may miss is in that generation or a later one.
    pub log_generation: u64,
    /// The quantizer of a compressed index (version 2): node vectors are its rows.
    pub quantizer: Option<Quantizer>,
}

impl SnapshotHeader {
    /// 4-byte words per node vector: the dimension, or the quantizer's row.
    pub fn row_words(&self) -> usize {
        self.quantizer
            .as_ref()
            .map_or(self.dim as usize, Quantizer::row_words)
    }
}

/// What a snapshot records about its position in the caller's history (version 3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotMark {
    /// Doc-id watermark ([`SnapshotHeader::covered`]).
    pub covered: u64,
    /// Shard LSN of the watermark ([`SnapshotHeader::lsn`]).
    pub lsn: u64,
    /// First log generation to replay ([`SnapshotHeader::log_generation`]).
    pub log_generation: u64,
}

impl SnapshotMark {
    /// A mark with only a watermark (no LSN, no log generation).
    pub fn covering(covered: u64) -> Self {
        SnapshotMark {
            covered,
            ..SnapshotMark::default()
        }
    }
}

/// The trailer: entry point and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotTrailer {
    /// Entry node and its top level.
    pub entry: Option<(u32, u8)>,
    /// Number of nodes in the snapshot.
    pub nodes: u64,
    /// Number of chunks.
    pub chunks: u32,
}

/// What a snapshot write or load covered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Watermark (see [`SnapshotHeader::covered`]).
    pub covered: u64,
    /// Shard LSN of the watermark (see [`SnapshotHeader::lsn`]; `0`: unknown).
    pub lsn: u64,
    /// First graph-operation log generation to replay (see [`SnapshotHeader::log_generation`]).
    pub log_generation: u64,
    /// Nodes written or loaded (live and tombstoned).
    pub nodes: u64,
    /// Of those, tombstoned.
    pub tombstoned: u64,
    /// Size of the snapshot in bytes.
    pub bytes: u64,
}

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Reading the input failed.
    #[error("reading the snapshot failed")]
    Io(#[from] std::io::Error),
    /// The input ended before the structure it was reading.
    #[error("snapshot truncated at byte {offset} (needed {needed} more bytes)")]
    Truncated {
        /// Offset where the missing bytes start.
        offset: u64,
        /// Bytes needed.
        needed: u64,
    },
    /// Not a vector-index snapshot.
    #[error("not a vector-index snapshot (bad magic)")]
    BadMagic,
    /// Written by another format version.
    #[error("unsupported snapshot version {0} (this build reads 1 to {VERSION})")]
    Version(u16),
    /// A checksum did not match.
    #[error("checksum mismatch in the {section} at byte {offset}")]
    Checksum {
        /// `header`, `chunk` or `trailer`.
        section: &'static str,
        /// Offset of the section.
        offset: u64,
    },
    /// The bytes are well-framed but say something impossible.
    #[error("malformed snapshot at byte {offset}: {what}")]
    Malformed {
        /// Offset of the enclosing section.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// The snapshot is of another index (kind, metric, M or dimension differ).
    #[error("snapshot {field} is {found}, the index has {expected}")]
    Mismatch {
        /// Which fingerprint field differs.
        field: &'static str,
        /// The configured value.
        expected: String,
        /// The snapshot's value.
        found: String,
    },
}

impl SnapshotHeader {
    /// Fails with [`SnapshotError::Mismatch`] unless the snapshot is of an index like this.
    pub fn check(
        &self,
        kind: IndexKind,
        metric: Metric,
        dim: usize,
        max_connections: u32,
    ) -> Result<(), SnapshotError> {
        let mismatch = |field, expected: String, found: String| {
            Err(SnapshotError::Mismatch {
                field,
                expected,
                found,
            })
        };
        if self.kind != kind {
            return mismatch("kind", format!("{kind:?}"), format!("{:?}", self.kind));
        }
        if self.metric != metric {
            return mismatch(
                "metric",
                format!("{metric:?}"),
                format!("{:?}", self.metric),
            );
        }
        if u64::from(self.dim) != dim as u64 {
            return mismatch("dimension", dim.to_string(), self.dim.to_string());
        }
        if self.max_connections != max_connections {
            return mismatch(
                "maxConnections",
                max_connections.to_string(),
                self.max_connections.to_string(),
            );
        }
        Ok(())
    }
}
