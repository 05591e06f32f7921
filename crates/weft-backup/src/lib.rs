//! weft-backup: Weaviate's Backup API over object stores.
//!
//! * [`backend`] — the backends (filesystem, S3, GCS, Azure through `object_store`);
//! * [`format`] — descriptors and chunks (`docs/format/backup.md`);
//! * [`chunk`] — building and reading chunks;
//! * [`manager`] — the jobs (request validation in `request`, reading stored backups in
//!   `chain`): create, restore, status, cancel, list, and the cleanup at start;
//! * [`verify`] — the offline check of a stored backup (`weft backup verify`).
#![forbid(unsafe_code)]

pub mod backend;
mod chain;
pub mod chunk;
pub mod error;
pub mod format;
pub mod manager;
mod request;
pub mod verify;

pub use backend::{Backend, BackendConfig};
pub use error::{BackupError, Result};
pub use manager::{Manager, ManagerOptions};
