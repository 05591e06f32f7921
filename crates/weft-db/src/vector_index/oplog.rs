//! The graph-operation log of an HNSW index: every graph change since the last snapshot, so
//! that opening after `kill -9` replays the tail instead of re-inserting it (storage design
//! §4.11; format `docs/format/graph-op-log.md`, bytes in `weft_hnsw::oplog`).
//!
//! Files: `<shard>/vector_index/<stem>.oplog.<generation>` (`<stem>` as the snapshot's). The
//! index reports each op to [`OpLog::record`] (the observer; a buffer append under a mutex).
//! After each write's index changes the writer appends an `Applied(lsn)` mark and the buffer
//! to the file ([`OpLog::mark_applied`]); the snapshot worker also appends what operations
//! outside writes (cleanup) buffered, every [`WRITE_EVERY`]. Each generation's file is created when the generation starts, so a
//! missing file means lost operations and replay stops before it. A snapshot first [`OpLog::rotate`]s to a new generation and records it in
//! its header; once it is published, the older files are removed.
//!
//! The log is an accelerator, not a source of truth: it is not fsynced, and opening still
//! compares the index with the `vectors` bucket after replaying it. A lost or damaged tail
//! costs re-inserting the vectors it held, never a wrong answer. After a failed write the
//! generation is abandoned: its file is removed and its later ops are dropped, so replay
//! never applies operations across a hole.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use weft_hnsw::{GraphObserver, GraphOp, oplog};
use weft_io::{StdFs, Vfs, WriteFile};

use super::files;

/// How often the worker appends buffered ops to the file.
pub(crate) const WRITE_EVERY: Duration = Duration::from_millis(100);

/// Ops recorded and not yet written, with the generation they belong to.
#[derive(Debug)]
struct Buffer {
    generation: u64,
    bytes: Vec<u8>,
}

/// The file being appended to.
enum Current {
    None,
    Open {
        generation: u64,
        file: Box<dyn WriteFile>,
    },
    /// An append of this generation failed: its later ops are dropped.
    Broken,
}

/// One index's log (see the module docs).
pub(crate) struct OpLog {
    shard_dir: PathBuf,
    name: String,
    buffer: Mutex<Buffer>,
    current: Mutex<Current>,
}

impl std::fmt::Debug for OpLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpLog")
            .field("name", &self.name)
            .field("generation", &self.buffer.lock().generation)
            .finish_non_exhaustive()
    }
}

impl GraphObserver for OpLog {
    fn record(&self, op: GraphOp) {
        oplog::encode_op(&op, &mut self.buffer.lock().bytes);
    }
}

/// Stem of the files of vector `name`.
fn stem(name: &str) -> String {
    let file = files::file_name(name);
    file.strip_suffix(".snapshot").unwrap_or(&file).to_string()
}

/// The log files of vector `name` in `shard_dir`, by generation.
pub(crate) fn list(shard_dir: &Path, name: &str) -> io::Result<Vec<(u64, PathBuf)>> {
    let dir = shard_dir.join(files::DIR);
    if !StdFs.exists(&dir)? {
        return Ok(Vec::new());
    }
    let prefix = format!("{}.oplog.", stem(name));
    let mut out: Vec<(u64, PathBuf)> = StdFs
        .list_dir(&dir)?
        .into_iter()
        .filter_map(|f| {
            let g = f.strip_prefix(&prefix)?.parse::<u64>().ok()?;
            Some((g, dir.join(f)))
        })
        .collect();
    out.sort_unstable();
    Ok(out)
}

impl OpLog {
    /// A log for vector `name` whose first generation is above every file on disk and at
    /// least `at_least` (the generation a loaded snapshot names); its file is created now.
    pub(crate) fn open(shard_dir: &Path, name: &str, at_least: u64) -> io::Result<OpLog> {
        let on_disk = list(shard_dir, name)?.last().map_or(0, |(g, _)| *g);
        let generation = on_disk.saturating_add(1).max(at_least).max(1);
        let log = OpLog {
            shard_dir: shard_dir.to_path_buf(),
            name: name.to_string(),
            buffer: Mutex::new(Buffer {
                generation,
                bytes: Vec::new(),
            }),
            current: Mutex::new(Current::None),
        };
        *log.current.lock() = log.start(generation);
        Ok(log)
    }

    fn path(&self, generation: u64) -> PathBuf {
        let stem = stem(&self.name);
        self.shard_dir
            .join(files::DIR)
            .join(format!("{stem}.oplog.{generation:020}"))
    }

    /// Creates the file of `generation` with its header. Every generation has its file from
    /// its start, so a missing file tells replay that its operations are lost.
    fn start(&self, generation: u64) -> Current {
        let path = self.path(generation);
        let created = (|| -> io::Result<Box<dyn WriteFile>> {
            let dir = self.shard_dir.join(files::DIR);
            if !StdFs.exists(&dir)? {
                weft_io::create_dir_durable(&StdFs, &dir)?;
            }
            let mut file = StdFs.create(&path)?;
            file.write_all(&oplog::encode_header(generation))?;
            Ok(file)
        })();
        match created {
            Ok(file) => Current::Open { generation, file },
            Err(err) => {
                self.abandon(generation, &err);
                Current::Broken
            }
        }
    }

    /// Gives up on `generation` after a failed write: its file is removed (replay stops at
    /// the gap) and its later operations are dropped.
    fn abandon(&self, generation: u64, err: &io::Error) {
        let path = self.path(generation);
        let removed = match StdFs.remove_file(&path) {
            Ok(()) => "removed".to_string(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => "not created".to_string(),
            Err(e) => format!("cannot be removed either: {e}"),
        };
        tracing::warn!(action = "vector_index_oplog", path = %path.display(), "cannot write the graph-operation log ({err}); the file is {removed} and this generation's operations are dropped until the next snapshot (the next open re-inserts what it misses)");
    }

    /// Records that every graph change of the shard's writes up to `lsn` is in the log, and
    /// appends the buffer to the file now (no fsync: a process crash keeps it in the page
    /// cache, so the open after `kill -9` finds the log complete and needs no comparison).
    /// Called by the writer, under its lock, after the write's index changes.
    pub(crate) fn mark_applied(&self, lsn: u64) {
        oplog::encode_applied(lsn, &mut self.buffer.lock().bytes);
        self.write_out();
    }

    /// Appends the buffered ops to the current generation's file. Not fsynced. Returns the
    /// bytes appended.
    pub(crate) fn write_out(&self) -> u64 {
        let mut current = self.current.lock();
        let (generation, bytes) = {
            let mut b = self.buffer.lock();
            (b.generation, std::mem::take(&mut b.bytes))
        };
        self.append(&mut current, generation, &bytes)
    }

    /// Switches to the next generation (its file is created now): ops recorded from now on
    /// belong to it. The previous generation's buffered ops are written out first. Returns
    /// the new generation.
    pub(crate) fn rotate(&self) -> u64 {
        let mut current = self.current.lock();
        // After a failed write whose file could not be removed either, one generation is
        // skipped: the gap tells replay that operations are missing.
        let skip = if matches!(*current, Current::Broken) {
            2
        } else {
            1
        };
        let (old, bytes, new) = {
            let mut b = self.buffer.lock();
            let old = b.generation;
            b.generation += skip;
            (old, std::mem::take(&mut b.bytes), b.generation)
        };
        self.append(&mut current, old, &bytes);
        *current = self.start(new);
        new
    }

    fn append(&self, current: &mut Current, generation: u64, bytes: &[u8]) -> u64 {
        if bytes.is_empty() {
            return 0;
        }
        let Current::Open {
            generation: g,
            file,
        } = current
        else {
            return 0;
        };
        if *g != generation {
            return 0;
        }
        match file.write_all(bytes) {
            Ok(()) => bytes.len() as u64,
            Err(err) => {
                self.abandon(generation, &err);
                *current = Current::Broken;
                0
            }
        }
    }

    /// Removes the files of generations below `keep_from` (after a snapshot naming
    /// `keep_from` was published).
    pub(crate) fn remove_before(&self, keep_from: u64) {
        let Ok(all) = list(&self.shard_dir, &self.name) else {
            return;
        };
        for (g, path) in all.into_iter().filter(|(g, _)| *g < keep_from) {
            if let Err(err) = StdFs.remove_file(&path) {
                tracing::warn!(action = "vector_index_oplog", path = %path.display(), generation = g, "cannot remove an old graph-operation log: {err}");
            }
        }
    }
}
