//! What a backup needs from the database: a consistent copy of a live shard in a staging
//! directory (hard links, no pause), and the atomic placement of a restored class.
//!
//! Staging a shard for a backup:
//! 1. hard-link the vector index snapshots (before the pin: a snapshot only ever covers writes
//!    that were durable when it was written, so it is never ahead of the pinned data, and
//!    opening the restored shard reconciles it with the `vectors` bucket);
//! 2. [`weft_lsm::Shard::pin`]: one WAL fsync under the flush lock, the only moment writers
//!    wait; the pin keeps every listed file from deletion;
//! 3. hard-link the pinned immutable files (segments, flush record, bucket markers, sealed WAL
//!    files) and copy the active WAL up to the pinned length; drop the pin.
//!
//! The staged directory is a shard directory that recovers exactly the writes up to the pin's
//! LSN. Compaction and flushes keep running throughout: the links keep the inodes alive.
//!
//! Restoring places a verified staged class directory under `<data>/<class>.restored`, writes
//! the schema (the commit point), then renames it to `<data>/<class>`. A crash before the
//! schema write leaves a `.restored` directory of a class the schema does not list: removed at
//! the next open. A crash after it: moved into place at the next open. Either no class or the
//! whole class.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::collection::Collection;
use crate::db::Db;
use crate::error::{DbError, UserError};
use crate::schema::{ClassDef, TenantStatus, io_err};

/// One file of a staged shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    /// Path relative to the shard directory (`/`-separated components).
    pub rel: PathBuf,
    /// Length in bytes.
    pub size: u64,
}

/// A shard copied into a staging directory.
#[derive(Debug, Clone)]
pub struct StagedShard {
    /// The class as the schema holds it.
    pub class: ClassDef,
    /// The shard's name.
    pub shard: String,
    /// The last write the copy holds.
    pub lsn: u64,
    /// The staged shard directory (`<staging>/<lowercased class>/<shard>`).
    pub dir: PathBuf,
    /// Every file, sorted by path.
    pub files: Vec<StagedFile>,
    /// How long taking the pin took: the longest any writer waited because of the backup.
    pub pin_took: std::time::Duration,
    /// The tenant's status, for a shard of a multi-tenant class.
    pub tenant: Option<TenantStatus>,
}

/// Hard-links `from` to `to`; copies where the file system refuses links.
fn link_or_copy(from: &Path, to: &Path) -> io::Result<u64> {
    match std::fs::hard_link(from, to) {
        Ok(()) => Ok(std::fs::metadata(to)?.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(e),
        Err(_) => std::fs::copy(from, to),
    }
}

/// Copies the first `len` bytes of `from` to `to`.
fn copy_prefix(from: &Path, to: &Path, len: u64) -> io::Result<u64> {
    let mut src = std::fs::File::open(from)?.take(len);
    let mut dst = std::fs::File::create(to)?;
    let n = io::copy(&mut src, &mut dst)?;
    if n != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the WAL file holds {n} bytes, the pin covers {len}"),
        ));
    }
    dst.flush()?;
    Ok(n)
}

impl Db {
    /// Copies the shards of class `class` into `<staging>/<lowercased class>/<shard>/` (see
    /// the module documentation): its one shard, or every tenant's (active or not; a shard not
    /// open is opened for the copy and closed again). Writers pause for one WAL fsync at most.
    pub fn stage_for_backup(
        &self,
        class: &str,
        staging: &Path,
    ) -> Result<Vec<StagedShard>, DbError> {
        let def = self
            .class(class)
            .ok_or_else(|| UserError::ClassNotFound(class.to_string()))?;
        if !def.multi_tenancy.enabled {
            let coll = self.collection(&def.name)?;
            return Ok(vec![stage_shard(&def, &coll, staging, None)?]);
        }
        let mut out = Vec::new();
        for (tenant, status) in self.catalog.tenants(&def.name)? {
            let staged = self.with_tenant_shard(&def, &tenant, |coll| {
                stage_shard(&def, coll, staging, Some(status))
            })?;
            out.push(staged);
        }
        Ok(out)
    }

    /// Restores class `class` from `staged`, a verified class directory holding the shard
    /// directories `shards` (their contents fsynced by the caller); for a multi-tenant class
    /// each shard is a tenant with its status. Atomic: afterwards the class is in the schema
    /// with all its data, or (on an error, or a crash at any point) absent. Fails like a
    /// create if a class of that name exists.
    pub fn restore_class(
        &self,
        class: ClassDef,
        shards: &[(String, Option<TenantStatus>)],
        staged: &Path,
    ) -> Result<ClassDef, DbError> {
        let opening = self.opening.lock();
        let stored = self.catalog.restore_class(class, shards, staged)?;
        if stored.multi_tenancy.enabled {
            // Tenant shards open on first use, as after any start.
            return Ok(stored);
        }
        match self.open_restored_collection(&stored) {
            Ok(_) => Ok(stored),
            Err(err) => {
                // The files were verified, so this is an I/O failure: take the class out
                // again rather than leave a class that does not serve.
                tracing::error!(action = "restore", class = %stored.name, error = %crate::error::chain(&err),
                    "the restored shard does not open; the class is removed again");
                drop(opening);
                self.delete_class(&stored.name)?;
                Err(err)
            }
        }
    }
}

/// Copies one open shard into `<staging>/<lowercased class>/<shard>/`.
fn stage_shard(
    def: &ClassDef,
    coll: &Collection,
    staging: &Path,
    tenant: Option<TenantStatus>,
) -> Result<StagedShard, DbError> {
    {
        let src = coll.dir().to_path_buf();
        let out = staging
            .join(def.name.to_ascii_lowercase())
            .join(coll.shard_name());
        std::fs::create_dir_all(&out)
            .map_err(io_err("creating the backup staging directory", &out))?;
        let mut files = Vec::new();
        // 1. Vector index snapshots, brought up to date, before the pin.
        coll.snapshot_changed_indexes();
        let vdir = src.join(crate::vector_index::files::DIR);
        if vdir.exists() {
            let names = std::fs::read_dir(&vdir).map_err(io_err("listing", &vdir))?;
            let dest = out.join(crate::vector_index::files::DIR);
            std::fs::create_dir_all(&dest).map_err(io_err("creating", &dest))?;
            for entry in names {
                let entry = entry.map_err(io_err("listing", &vdir))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.ends_with(".snapshot") {
                    continue;
                }
                let rel = Path::new(crate::vector_index::files::DIR).join(&name);
                match link_or_copy(&src.join(&rel), &out.join(&rel)) {
                    Ok(size) => files.push(StagedFile { rel, size }),
                    // Replaced by a newer snapshot right now: the shard opens without it.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(io_err("staging a vector index snapshot", &src.join(&rel))(
                            e,
                        ));
                    }
                }
            }
        }
        // 2. The pin.
        let shard = coll.shard();
        let pinned_at = std::time::Instant::now();
        let pin = shard.pin().map_err(|source| DbError::Storage {
            class: def.name.clone(),
            shard: coll.shard_name().to_string(),
            source,
        })?;
        let pin_took = pinned_at.elapsed();
        // 3. Links and the WAL prefix.
        let tail = pin.wal_tail().map(|(p, n)| (p.to_path_buf(), n));
        for rel in pin.files() {
            let (from, to) = (src.join(rel), out.join(rel));
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
            }
            let size = match &tail {
                Some((p, n)) if p == rel => copy_prefix(&from, &to, *n),
                _ => link_or_copy(&from, &to),
            }
            .map_err(io_err("staging a shard file", &from))?;
            files.push(StagedFile {
                rel: rel.clone(),
                size,
            });
        }
        let lsn = pin.lsn();
        drop(pin);
        files.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(StagedShard {
            class: def.clone(),
            shard: coll.shard_name().to_string(),
            lsn,
            dir: out,
            files,
            pin_took,
            tenant,
        })
    }
}
