//! Snapshot files: `<shard dir>/vector_index/<name>.snapshot` (`_default` for the legacy
//! unnamed vector; a class has either that one or named vectors, so names cannot collide).
//!
//! Published like every other weft file: written to `<name>.snapshot.tmp`, `fdatasync`ed,
//! renamed over the final name, directory fsynced. All I/O goes through weft-io's [`Vfs`].

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use weft_hnsw::SnapshotInfo;
use weft_io::{ReadFile, StdFs, TEMP_SUFFIX, Vfs, WriteFile};

use super::AnnIndex;

/// Directory of the snapshots inside a shard directory.
pub(crate) const DIR: &str = "vector_index";

/// File name of the snapshot of vector `name`.
pub(crate) fn file_name(name: &str) -> String {
    if name.is_empty() {
        "_default.snapshot".to_string()
    } else {
        format!("{name}.snapshot")
    }
}

/// Path of the snapshot of vector `name` in `shard_dir`.
pub(crate) fn path(shard_dir: &Path, name: &str) -> PathBuf {
    shard_dir.join(DIR).join(file_name(name))
}

/// `io::Write` over a weft-io append-only file.
struct VfsWriter(Box<dyn WriteFile>);

impl Write for VfsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `io::Read` over a weft-io positional reader.
struct VfsReader {
    file: Box<dyn ReadFile>,
    offset: u64,
    len: u64,
}

impl Read for VfsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = usize::try_from(self.len.saturating_sub(self.offset))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let Some(dst) = buf.get_mut(..n) else {
            return Ok(0);
        };
        self.file.read_exact_at(dst, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

/// Durably replaces the snapshot of `name` with one of `index` covering doc ids below
/// `mark.covered`, taken at shard LSN `mark.lsn`; `before_publish` runs once the temp file is durable,
/// before the rename (an error leaves the previous snapshot). A crash leaves the previous
/// snapshot (or none) and at most a temp file.
pub(crate) fn write(
    shard_dir: &Path,
    name: &str,
    index: &AnnIndex,
    mark: weft_hnsw::SnapshotMark,
    before_publish: impl FnOnce() -> io::Result<()>,
) -> io::Result<SnapshotInfo> {
    let vfs = StdFs;
    let dir = shard_dir.join(DIR);
    if !vfs.exists(&dir)? {
        vfs.create_dir_all(&dir)?;
        vfs.sync_dir(shard_dir)?;
    }
    let final_path = dir.join(file_name(name));
    let temp_path = dir.join(format!("{}{TEMP_SUFFIX}", file_name(name)));
    let mut out = BufWriter::with_capacity(1 << 20, VfsWriter(vfs.create(&temp_path)?));
    let info = index.write_snapshot(mark, &mut out)?;
    let mut file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.0.sync_data()?;
    drop(file);
    if let Err(err) = before_publish() {
        let _ = vfs.remove_file(&temp_path);
        return Err(err);
    }
    vfs.rename(&temp_path, &final_path)?;
    vfs.sync_dir(&dir)?;
    Ok(info)
}

/// Opens the snapshot of `name` for reading: a buffered reader and the file's length, or
/// `None` if there is no snapshot.
pub(crate) fn open(shard_dir: &Path, name: &str) -> io::Result<Option<(impl Read, u64)>> {
    let vfs = StdFs;
    let path = path(shard_dir, name);
    if !vfs.exists(&path)? {
        return Ok(None);
    }
    let file = vfs.open_read(&path)?;
    let len = file.len()?;
    let reader = VfsReader {
        file,
        offset: 0,
        len,
    };
    Ok(Some((BufReader::with_capacity(1 << 20, reader), len)))
}

/// Removes temp files an interrupted snapshot write left behind.
pub(crate) fn remove_stale_temps(shard_dir: &Path) -> io::Result<()> {
    let vfs = StdFs;
    let dir = shard_dir.join(DIR);
    if !vfs.exists(&dir)? {
        return Ok(());
    }
    let mut removed = false;
    for name in vfs.list_dir(&dir)? {
        if name.ends_with(TEMP_SUFFIX) {
            vfs.remove_file(&dir.join(name))?;
            removed = true;
        }
    }
    if removed {
        vfs.sync_dir(&dir)?;
    }
    Ok(())
}
