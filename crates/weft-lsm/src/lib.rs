//! weft-lsm: weft's storage engine. One [`Shard`] owns one write-ahead log and many buckets;
//! a [`WriteBatch`] touching several buckets is one WAL record, so every bucket of a shard
//! recovers to the same point.
//!
//! * **Durability.** [`SyncPolicy::Sync`] (default) acknowledges a write after `fdatasync` of
//!   its WAL record; concurrent writers share one `fdatasync` (group commit). An I/O failure
//!   poisons the shard ([`Error::Poisoned`]): it refuses writes until reopened.
//! * **Buckets** ([`Strategy`]): `replace` (with secondary keys), `set`, `map`, `roaringset`.
//!   Set, map and roaring writes are deltas merged on read: no read-modify-write.
//! * **Files.** Memtables flush to immutable segments (checksummed blocks, sparse index,
//!   bloom filter, properties, footer) published with temp file + fsync + rename + directory
//!   fsync, confirmed by an immutable flush record. Compaction merges adjacent segments in the
//!   background. Replaced files are deleted only after a grace period and when no [`Pin`]
//!   holds them, so copying a running shard directory within the grace period recovers every
//!   write acknowledged before the copy began.
//! * **Recovery** ([`RecoveryReport`]): temp files removed, covered segments ignored, the WAL
//!   replayed, a torn tail truncated; damage anywhere else fails the open with
//!   [`Error::Corrupt`] naming the file and offset, and nothing is deleted.
//!
//! Byte-level formats: `docs/format/wal.md`, `docs/format/segment.md`,
//! `docs/format/flush-record.md`; design decisions: `docs/decisions/0004-storage-engine.md`.
//!
//! ```
//! use weft_lsm::{Options, Shard, Strategy, WriteBatch};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let shard = Shard::open(dir.path(), Options::default()).unwrap();
//! shard.declare_bucket("objects", Strategy::Replace).unwrap();
//! shard.declare_bucket("property_color", Strategy::RoaringSet).unwrap();
//! let mut batch = WriteBatch::new();
//! batch.put("objects", b"uuid-1", b"{...}").roaring_add("property_color", b"red", &[1]);
//! let lsn = shard.write(&batch).unwrap(); // durable when this returns
//! assert_eq!(shard.get("objects", b"uuid-1").unwrap().as_deref(), Some(&b"{...}"[..]));
//! assert!(shard.roaring_get("property_color", b"red").unwrap().contains(1));
//! shard.close().unwrap();
//!
//! let shard = Shard::open(dir.path(), Options::default()).unwrap();
//! assert_eq!(shard.recovery_report().records_replayed, 0); // orderly close: nothing to replay
//! assert!(shard.flushed_lsn() >= lsn);
//! ```
#![forbid(unsafe_code)]

mod batch;
mod bloom;
mod codec;
mod compaction;
pub mod decode;
mod entry;
mod error;
mod flush;
mod flush_record;
mod gc;
mod memtable;
mod merge;
mod options;
mod recovery;
mod segment;
mod shard;
mod wal;

use std::ops::Bound;

pub use batch::{Strategy, WriteBatch};
pub use codec::DecodeError;
pub use entry::Value;
pub use error::{Error, Result};
pub use options::{Event, EventSink, Options, SETTING_NAMES, SyncPolicy};
pub use recovery::{QUARANTINE_DIR, RecoveryReport, Truncation};
pub use roaring::RoaringTreemap;
pub use shard::{Pin, Shard};
pub use wal::{FSYNC_BUCKETS, WalStats};

/// Whether a key range is empty (and would make `BTreeMap::range` panic).
pub(crate) fn range_is_empty(lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> bool {
    match (lo, hi) {
        (Bound::Included(l), Bound::Included(h)) => l > h,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Excluded(h))
        | (Bound::Excluded(l), Bound::Included(h)) => l >= h,
        _ => false,
    }
}
