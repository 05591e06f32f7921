//! Reading a stored backup and the backups an incremental one refers to: downloading,
//! verifying (chunk, part and file checksums) and writing a class's shard files.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::backend::Backend;
use crate::chunk;
use crate::error::{BackupError, Result};
use crate::format::{self, ClassManifest, NodeManifest};
use crate::manager::{Job, blocking, io_fail};
use crate::request::safe_rel;

/// fsyncs every file and directory under `dir` (and `dir` itself).
fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            sync_tree(&path)?;
        } else {
            std::fs::File::open(&path)?.sync_all()?;
        }
    }
    weft_io::sync_dir(dir)
}

/// Reads the files of a backup and the backups it references (incremental chains).
#[derive(Debug)]
pub(crate) struct ChainReader {
    store: Backend,
    node: String,
    own: NodeManifest,
    cache: tokio::sync::Mutex<HashMap<String, (String, NodeManifest)>>,
    pub(crate) pause: Option<std::time::Duration>,
}

impl ChainReader {
    pub(crate) fn new(store: Backend, node: String, own: NodeManifest) -> Self {
        Self {
            store,
            node,
            own,
            cache: tokio::sync::Mutex::new(HashMap::new()),
            pause: None,
        }
    }

    /// The compression type and manifest of backup `id` (this one or a base).
    pub(crate) async fn backup(&self, id: &str) -> Result<(String, NodeManifest)> {
        if id == self.own.id {
            return Ok((self.own.compression_type.clone(), self.own.clone()));
        }
        let mut cache = self.cache.lock().await;
        if let Some(hit) = cache.get(id) {
            return Ok(hit.clone());
        }
        let key = format::manifest_key(id, &self.node);
        let bytes = self.store.get_bytes(&key).await?.ok_or_else(|| {
            BackupError::unprocessable(format!(
                "wrong backup file: {key} is missing (a base of this incremental backup)"
            ))
        })?;
        let m: NodeManifest = serde_json::from_slice(&bytes).map_err(|e| {
            BackupError::unprocessable(format!("corrupted backup file: {key}: {e}"))
        })?;
        let hit = (m.compression_type.clone(), m);
        cache.insert(id.to_string(), hit.clone());
        Ok(hit)
    }

    /// Downloads every chunk `class` needs (from this backup and its bases), verifies every
    /// chunk, part and file, and writes the shard under `out/<shard>/` (fsynced).
    pub(crate) async fn fetch_class(
        &self,
        job: &Job,
        class: &ClassManifest,
        out: &Path,
        download: &Path,
    ) -> Result<()> {
        std::fs::create_dir_all(download).map_err(io_fail("creating", download))?;
        std::fs::create_dir_all(out).map_err(io_fail("creating", out))?;
        // (backup, chunk) → expected parts.
        type Expected = HashMap<(String, u64), (u64, u32)>;
        let mut wanted: BTreeMap<(String, u32), Expected> = BTreeMap::new();
        for shard in &class.shards {
            safe_rel(&shard.name)?;
            for f in &shard.files {
                safe_rel(&f.path)?;
                let name = format!("{}/{}", shard.name, f.path);
                if f.parts.is_empty() {
                    // An empty file: created directly.
                    let dest = out.join(&shard.name).join(&f.path);
                    if let Some(p) = dest.parent() {
                        std::fs::create_dir_all(p).map_err(io_fail("creating", p))?;
                    }
                    std::fs::write(&dest, b"").map_err(io_fail("writing", &dest))?;
                }
                for p in &f.parts {
                    wanted
                        .entry((f.backup.clone(), p.chunk))
                        .or_default()
                        .insert((name.clone(), p.offset), (p.len, p.crc32c));
                }
            }
        }
        for ((backup, n), expected) in wanted {
            job.canceled()?;
            let (kind, m) = self.backup(&backup).await?;
            let info = m
                .classes
                .iter()
                .find(|c| c.name == class.name)
                .and_then(|c| c.chunks.get(&n))
                .cloned()
                .ok_or_else(|| {
                    BackupError::unprocessable(format!(
                        "wrong backup file: chunk {n} of {} in backup {backup} is not listed",
                        class.name
                    ))
                })?;
            let key = format::chunk_key(&backup, &self.node, &class.name, n);
            let local = download.join(format!("{backup}-{n}"));
            let len = self
                .store
                .download_file(&key, &local)
                .await?
                .ok_or_else(|| {
                    BackupError::unprocessable(format!("wrong backup file: {key} is missing"))
                })?;
            let out = out.to_path_buf();
            let key2 = key.clone();
            blocking(move || {
                let (crc, _) = format::file_crc(&local).map_err(io_fail("reading", &local))?;
                if len != info.size || crc != info.crc32c {
                    let _ = std::fs::remove_file(&local);
                    return Err(BackupError::unprocessable(format!(
                        "corrupted backup file: {key2}: checksum mismatch ({len} bytes, crc32c {crc:08x}; the manifest says {} bytes, {:08x})",
                        info.size, info.crc32c
                    )));
                }
                let res = chunk::read_chunk(&local, &kind, &expected, |name, offset, bytes| {
                    chunk::write_part(&out.join(name), offset, bytes)
                });
                let _ = std::fs::remove_file(&local);
                res.map_err(|e| BackupError::unprocessable(format!("corrupted backup file: {key2}: {e}")))
            })
            .await?;
            if let Some(pause) = self.pause {
                tokio::time::sleep(pause).await;
            }
        }
        // Whole files: size and checksum, then everything fsynced.
        let shards = class.shards.clone();
        let out = out.to_path_buf();
        blocking(move || {
            for s in &shards {
                for f in &s.files {
                    let path = out.join(&s.name).join(&f.path);
                    let (crc, len) = format::file_crc(&path).map_err(io_fail("reading", &path))?;
                    if len != f.size || crc != f.crc32c {
                        return Err(BackupError::unprocessable(format!(
                            "corrupted backup file: {} of class shard {}: restored {len} bytes with crc32c {crc:08x}, the manifest says {} bytes, {:08x}",
                            f.path, s.name, f.size, f.crc32c
                        )));
                    }
                }
            }
            sync_tree(&out).map_err(io_fail("syncing", &out))
        })
        .await
    }
}
