//! weft-db: the database behind the server — the schema catalog, collections and shards.
//!
//! [`Db`] owns a data directory (`PERSISTENCE_DATA_PATH`): it holds the directory lock, loads
//! the persisted schema on open and makes every schema change durable before returning.
//! It knows nothing of HTTP or JSON wire shapes; `weft-api` converts to and from those.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let db = weft_db::Db::open(weft_db::DbOptions::new(dir.path(), "node1")).unwrap();
//! assert!(db.classes().is_empty());
//! db.close().unwrap();
//! ```
#![forbid(unsafe_code)]

pub mod backup;
mod collection;
mod db;
pub mod disk;
pub mod error;
mod index_change;
pub mod object;
mod objects;
pub mod query;
pub mod schema;
mod vector_index;
mod verify;

pub use db::{Db, DbOptions, ShardMetrics, TenantInput};
pub use disk::DiskOptions;
pub use error::DbError;
pub use objects::BatchReference;
pub use query::search::{Near, NearQuery, Query, SearchHit};
pub use verify::VerifyReport;
/// Options of the storage engine of every shard, and the environment-variable names they
/// accept (`Options::apply_setting`).
pub use weft_lsm::{
    FSYNC_BUCKETS, Options as StorageOptions, SETTING_NAMES as STORAGE_SETTING_NAMES,
};
