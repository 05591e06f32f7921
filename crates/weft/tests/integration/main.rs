//! Integration tests: the real `weft` binary on free ports with a temporary data directory.

mod config;
mod crash;
mod disk;
mod lifecycle;
mod probes;
mod schema;
mod server;
mod verify;

use std::path::PathBuf;

#[derive(Debug)]
/// A temp dir holding `data/` (the data path) and the server logs.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}
