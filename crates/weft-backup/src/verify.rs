//! `weft backup verify`: reads every chunk of a stored backup (and of the backups an
//! incremental one refers to), checks every chunk's size and CRC32C, every part's length and
//! CRC32C, that the parts of each file cover it exactly, and the descriptors.

use std::collections::{BTreeMap, HashMap};

use weft_api::backup::Status;

use crate::backend::Backend;
use crate::chain::ChainReader;
use crate::chunk;
use crate::error::{BackupError, Result};
use crate::format::{self, Descriptor, NodeManifest};

/// What a verification found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Classes checked.
    pub classes: usize,
    /// Files checked.
    pub files: usize,
    /// Chunks read.
    pub chunks: usize,
    /// Bytes of stored chunks read.
    pub bytes: u64,
    /// Problems, each naming the object.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// No problem found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies backup `id`. `Err` means it cannot be checked at all (no such backup, backend
/// unreachable); problems inside it are in the report.
pub async fn verify(store: &Backend, id: &str) -> Result<VerifyReport> {
    let key = format::config_key(id);
    let bytes = store.get_bytes(&key).await?.ok_or_else(|| {
        BackupError::not_found(format!(
            "backup id \"{id}\" does not exist: {key} not found"
        ))
    })?;
    let mut report = VerifyReport::default();
    let d: Descriptor = match serde_json::from_slice(&bytes) {
        Ok(d) => d,
        Err(e) => {
            report
                .problems
                .push(format!("{key}: not a valid descriptor: {e}"));
            return Ok(report);
        }
    };
    if d.status != Status::Success {
        report.problems.push(format!(
            "{key}: status {} (only a SUCCESS backup can be restored)",
            d.status.as_str()
        ));
        return Ok(report);
    }
    if let Err(e) = crate::request::check_format(&d, id) {
        report.problems.push(format!("{key}: {}", e.message));
        return Ok(report);
    }
    for node in d.nodes.keys() {
        let mkey = format::manifest_key(id, node);
        let manifest: NodeManifest = match store.get_bytes(&mkey).await? {
            None => {
                report.problems.push(format!("{mkey}: missing"));
                continue;
            }
            Some(b) => match serde_json::from_slice(&b) {
                Ok(m) => m,
                Err(e) => {
                    report
                        .problems
                        .push(format!("{mkey}: not a valid manifest: {e}"));
                    continue;
                }
            },
        };
        let chain = ChainReader::new(store.clone(), node.clone(), manifest.clone());
        let tmp = tempdir()?;
        for class in &manifest.classes {
            report.classes += 1;
            type Expected = HashMap<(String, u64), (u64, u32)>;
            let mut wanted: BTreeMap<(String, u32), Expected> = BTreeMap::new();
            // Chunks this backup wrote are all read, referenced or not.
            for n in class.chunks.keys() {
                wanted.entry((id.to_string(), *n)).or_default();
            }
            for shard in &class.shards {
                for f in &shard.files {
                    report.files += 1;
                    if let Err(e) = crate::request::safe_rel(&format!("{}/{}", shard.name, f.path))
                    {
                        report.problems.push(format!("{mkey}: {}", e.message));
                    }
                    let mut at = 0u64;
                    for p in &f.parts {
                        if p.offset != at {
                            report.problems.push(format!(
                                "{mkey}: {}/{}/{}: parts do not cover the file (gap at {at})",
                                class.name, shard.name, f.path
                            ));
                        }
                        at = p.offset + p.len;
                        wanted
                            .entry((f.backup.clone(), p.chunk))
                            .or_default()
                            .insert(
                                (format!("{}/{}", shard.name, f.path), p.offset),
                                (p.len, p.crc32c),
                            );
                    }
                    if at != f.size {
                        report.problems.push(format!(
                            "{mkey}: {}/{}/{}: parts cover {at} of {} bytes",
                            class.name, shard.name, f.path, f.size
                        ));
                    }
                }
            }
            for ((backup, n), expected) in wanted {
                let ckey = format::chunk_key(&backup, node, &class.name, n);
                let (kind, m) = match chain.backup(&backup).await {
                    Ok(x) => x,
                    Err(e) => {
                        report.problems.push(e.message);
                        continue;
                    }
                };
                let Some(info) = m
                    .classes
                    .iter()
                    .find(|c| c.name == class.name)
                    .and_then(|c| c.chunks.get(&n))
                    .cloned()
                else {
                    report
                        .problems
                        .push(format!("{ckey}: not listed in its manifest"));
                    continue;
                };
                let local = tmp.join(format!("{backup}-{n}"));
                let Some(len) = store.download_file(&ckey, &local).await? else {
                    report.problems.push(format!("{ckey}: missing"));
                    continue;
                };
                report.chunks += 1;
                report.bytes += len;
                let (crc, _) = format::file_crc(&local)
                    .map_err(|e| BackupError::internal(format!("read {}: {e}", local.display())))?;
                if len != info.size || crc != info.crc32c {
                    report.problems.push(format!(
                        "{ckey}: checksum mismatch ({len} bytes, crc32c {crc:08x}; the manifest says {} bytes, {:08x})",
                        info.size, info.crc32c
                    ));
                } else if let Err(e) = chunk::read_chunk(&local, &kind, &expected, |_, _, _| Ok(()))
                {
                    report.problems.push(format!("{ckey}: {e}"));
                }
                let _ = std::fs::remove_file(&local);
            }
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(report)
}

fn tempdir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "weft-backup-verify-{}-{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond()
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| BackupError::internal(format!("create {}: {e}", dir.display())))?;
    Ok(dir)
}
