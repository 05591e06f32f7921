//! weft benchmarks. `storage-bench` compares the storage engine with fjall and with the
//! machine's raw fdatasync and sequential-read rates; see `BENCHMARKS.md`.
#![forbid(unsafe_code)]

pub mod server;
