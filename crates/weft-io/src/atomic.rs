//! Atomic publication of small files (write temp, fsync, rename, fsync dir).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Suffix of the temporary files [`atomic_write`] creates before the rename.
pub const TEMP_SUFFIX: &str = ".tmp";

/// Durably replaces `dir/name` with `bytes`.
///
/// After this returns `Ok`, the new content survives a crash or power loss. If it fails or the
/// process dies half-way, `dir/name` still holds its previous content (or does not exist); a
/// leftover `dir/name.tmp` may remain and is removed by [`remove_stale_temps`].
pub fn atomic_write(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let final_path = dir.join(name);
    let temp_path = dir.join(format!("{name}{TEMP_SUFFIX}"));
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp_path)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&temp_path, &final_path)?;
    sync_dir(dir)
}

/// Makes the entries of `dir` (creations, renames, removals) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes `*.tmp` files left in `dir` by an interrupted [`atomic_write`]; returns their names.
///
/// A temp file is never the only copy of acknowledged data: the rename that publishes it is the
/// commit point, so a leftover temp is always safe to delete.
pub fn remove_stale_temps(dir: &Path) -> io::Result<Vec<String>> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(TEMP_SUFFIX) && entry.file_type()?.is_file() {
            fs::remove_file(entry.path())?;
            removed.push(name);
        }
    }
    if !removed.is_empty() {
        sync_dir(dir)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        atomic_write(dir.path(), "f", b"one").unwrap();
        atomic_write(dir.path(), "f", b"two").unwrap();
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"two");
        assert!(!dir.path().join("f.tmp").exists());
    }

    #[test]
    fn stale_temps_are_removed_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("schema.tmp"), b"half").unwrap();
        fs::write(dir.path().join("keep"), b"x").unwrap();
        let removed = remove_stale_temps(dir.path()).unwrap();
        assert_eq!(removed, vec!["schema.tmp".to_string()]);
        assert!(dir.path().join("keep").exists());
    }
}
