//! weft-io: the only crate that touches files directly.
//!
//! It gives the rest of weft the few primitives durability rests on:
//!
//! * [`atomic_write`] publishes a file so that a crash leaves either the old or the new
//!   content under the final name, never a mix: write a temp file, fsync it, rename it over
//!   the final name, fsync the directory.
//! * [`sync_dir`] makes renames and creations in a directory durable.
//! * [`envelope`] frames small whole files with magic, version, length and CRC32C.
//! * [`mem`] backs large buffers with transparent huge pages.
//! * [`DirLock`] keeps a second process from opening the same data directory.
//! * [`vfs::Vfs`] is the seam the storage engine does all file I/O through: [`vfs::StdFs`] is the
//!   real file system, [`simfs::SimFs`] an in-memory one that simulates crashes and power loss.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! weft_io::atomic_write(dir.path(), "schema.bin", b"hello").unwrap();
//! assert_eq!(std::fs::read(dir.path().join("schema.bin")).unwrap(), b"hello");
//! ```
// `unsafe` only in `mem` (madvise), with its SAFETY comment.
#![deny(unsafe_code)]

mod atomic;
pub mod disk;
pub mod envelope;
mod lock;
pub mod mem;
pub mod simfs;
pub mod vfs;

pub use atomic::{TEMP_SUFFIX, atomic_write, remove_stale_temps, sync_dir};
pub use lock::{DirLock, LockError};
pub use simfs::{CrashMode, Op, SimFs};
pub use vfs::{ReadFile, StdFs, Vfs, WriteFile, create_dir_durable};
