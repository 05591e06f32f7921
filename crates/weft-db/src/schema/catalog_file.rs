//! `schema.bin`: the whole catalog in one checksummed file.
//!
//! Format: `docs/format/schema.md`. The file is a `weft_io::envelope` (magic `WEFTSCHM`,
//! version 3) around a JSON document `{"format_version":3,"classes":[...]}` of the domain
//! types, with their Rust field names (not the Weaviate wire names). It is only ever replaced
//! whole through `weft_io::atomic_write`. Version 1 files (shards as bare names) and version 2
//! files (no tenants) are read too.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::class::ClassDef;
use crate::error::{Corruption, DbError};

/// File name inside the data directory.
pub const SCHEMA_FILE: &str = "schema.bin";
/// Envelope magic.
pub const SCHEMA_MAGIC: [u8; 8] = *b"WEFTSCHM";
/// Version written by this build.
pub const SCHEMA_VERSION: u32 = 3;
/// Versions this build reads.
const READABLE_VERSIONS: &[u32] = &[1, 2, 3];

/// One class as stored: the definition and its shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredClass {
    /// The class definition with every default filled.
    pub class: ClassDef,
    /// Its shards (of a multi-tenant class: one per tenant, named by it).
    pub shards: Vec<StoredShard>,
    /// Tenants of a multi-tenant class with their activity status (absent before version 3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<StoredTenant>,
}

/// One tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTenant {
    /// The tenant's name (also its shard's name and directory).
    pub name: String,
    /// Its activity status.
    pub status: super::TenantStatus,
}

/// One shard as stored: its name and whether a user set it READONLY.
///
/// Only a status set by hand survives a restart; READONLY set by the disk monitor or by a
/// storage failure is runtime state, re-evaluated after open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredShard {
    /// 12 random alphanumerics.
    pub name: String,
    /// `PUT /v1/schema/{class}/shards/{shard}` set it READONLY.
    pub manual_read_only: bool,
}

impl StoredShard {
    /// A shard without a persisted status (READY on open).
    pub fn ready(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            manual_read_only: false,
        }
    }
}

/// The payload document.
#[derive(Debug, Serialize, Deserialize)]
struct SchemaDocument {
    format_version: u32,
    classes: Vec<StoredClass>,
}

/// Version 1: shards were bare names (status was not persisted).
#[derive(Debug, Deserialize)]
struct SchemaDocumentV1 {
    format_version: u32,
    classes: Vec<StoredClassV1>,
}

#[derive(Debug, Deserialize)]
struct StoredClassV1 {
    class: ClassDef,
    shards: Vec<String>,
}

impl From<SchemaDocumentV1> for SchemaDocument {
    fn from(v1: SchemaDocumentV1) -> Self {
        Self {
            format_version: v1.format_version,
            classes: v1
                .classes
                .into_iter()
                .map(|c| StoredClass {
                    class: c.class,
                    shards: c.shards.into_iter().map(StoredShard::ready).collect(),
                    tenants: Vec::new(),
                })
                .collect(),
        }
    }
}

/// The file's full path.
pub fn schema_path(dir: &Path) -> PathBuf {
    dir.join(SCHEMA_FILE)
}

/// Encodes the catalog as the bytes of `schema.bin`.
pub fn encode(classes: Vec<StoredClass>) -> Result<Vec<u8>, serde_json::Error> {
    let document = SchemaDocument {
        format_version: SCHEMA_VERSION,
        classes,
    };
    let payload = serde_json::to_vec(&document)?;
    Ok(weft_io::envelope::seal(
        SCHEMA_MAGIC,
        SCHEMA_VERSION,
        &payload,
    ))
}

/// Decodes the bytes of `schema.bin`.
pub fn decode(bytes: &[u8]) -> Result<Vec<StoredClass>, Corruption> {
    let (version, payload) = weft_io::envelope::open(SCHEMA_MAGIC, bytes)?;
    if !READABLE_VERSIONS.contains(&version) {
        return Err(Corruption::UnsupportedVersion {
            found: version,
            supported: READABLE_VERSIONS,
        });
    }
    let document: SchemaDocument = if version == 1 {
        serde_json::from_slice::<SchemaDocumentV1>(payload)
            .map_err(Corruption::Payload)?
            .into()
    } else {
        serde_json::from_slice(payload).map_err(Corruption::Payload)?
    };
    if document.format_version != version {
        return Err(Corruption::Inconsistent(format!(
            "payload format_version {} differs from envelope version {version}",
            document.format_version
        )));
    }
    let mut names = std::collections::HashSet::new();
    for stored in &document.classes {
        if !names.insert(stored.class.name.to_ascii_lowercase()) {
            return Err(Corruption::Inconsistent(format!(
                "class {:?} is stored twice",
                stored.class.name
            )));
        }
    }
    Ok(document.classes)
}

/// Loads `dir/schema.bin`; a missing file is an empty schema, a damaged one an error naming
/// the file.
pub fn load(dir: &Path) -> Result<Vec<StoredClass>, DbError> {
    let path = schema_path(dir);
    // weft-io has no read helper yet; this is the one direct read of the catalog.
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(DbError::Io {
                context: "reading schema",
                path,
                source,
            });
        }
    };
    decode(&bytes).map_err(|source| DbError::Corrupt { path, source })
}

/// Durably replaces `dir/schema.bin`.
pub fn store(dir: &Path, classes: Vec<StoredClass>) -> Result<(), DbError> {
    let path = schema_path(dir);
    let bytes = encode(classes).map_err(|e| DbError::Io {
        context: "encoding schema",
        path: path.clone(),
        source: io::Error::other(e),
    })?;
    weft_io::atomic_write(dir, SCHEMA_FILE, &bytes).map_err(|source| DbError::Io {
        context: "writing schema",
        path,
        source,
    })
}

/// Directory holding the data of class `name`: `<dir>/<lower-cased name>`.
pub fn class_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join(name.to_ascii_lowercase())
}

/// Suffix of a class directory being deleted.
const DELETED_SUFFIX: &str = ".deleted";

/// Suffix of a restored class directory waiting for its schema entry.
const RESTORED_SUFFIX: &str = ".restored";

/// Where a restore puts a class directory until the schema lists the class.
pub fn pending_restore_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{}{RESTORED_SUFFIX}", name.to_ascii_lowercase()))
}

/// Renames directory `from` to `to` (both on the data directory's file system) durably.
pub fn move_dir_durably(dir: &Path, from: &Path, to: &Path) -> Result<(), DbError> {
    std::fs::rename(from, to).map_err(io_err("placing restored class data", from))?;
    if let Some(parent) = from.parent() {
        weft_io::sync_dir(parent).map_err(io_err("placing restored class data", parent))?;
    }
    weft_io::sync_dir(dir).map_err(io_err("placing restored class data", dir))
}

pub(crate) fn io_err(
    context: &'static str,
    path: &Path,
) -> impl FnOnce(io::Error) -> DbError + use<> {
    let path = path.to_path_buf();
    move |source| DbError::Io {
        context,
        path,
        source,
    }
}

/// Step 1 of a class delete: renames `<dir>/<class>` to `<dir>/<class>.deleted` durably.
/// Returns the new path, `None` if the class has no directory.
pub fn move_class_dir_aside(dir: &Path, name: &str) -> Result<Option<PathBuf>, DbError> {
    let path = class_dir(dir, name);
    let trash = dir.join(format!("{}{DELETED_SUFFIX}", name.to_ascii_lowercase()));
    if trash.exists() {
        remove_dir_durably(dir, Some(&trash))?;
    }
    match std::fs::rename(&path, &trash) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("deleting class data", &path)(e)),
    }
    weft_io::sync_dir(dir).map_err(io_err("deleting class data", dir))?;
    Ok(Some(trash))
}

/// Undoes [`move_class_dir_aside`].
pub fn move_back(dir: &Path, trash: &Path, name: &str) -> Result<(), DbError> {
    let path = class_dir(dir, name);
    std::fs::rename(trash, &path).map_err(io_err("restoring class data", trash))?;
    weft_io::sync_dir(dir).map_err(io_err("restoring class data", dir))
}

/// Removes a directory tree (if given and present) and makes the removal durable.
pub fn remove_dir_durably(dir: &Path, path: Option<&Path>) -> Result<(), DbError> {
    let Some(path) = path else { return Ok(()) };
    // weft-io has no recursive remove yet; the removal is made durable by `sync_dir`.
    match std::fs::remove_dir_all(path) {
        Ok(()) => weft_io::sync_dir(dir).map_err(io_err("removing class data", dir)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("removing class data", path)(e)),
    }
}

/// At open, finishes class deletes a crash interrupted: a `<class>.deleted` directory of a
/// class the schema no longer lists is removed; one of a class it still lists (the crash came
/// before the schema change, or a copy took the old `schema.bin`) is moved back.
pub fn finish_class_deletions(dir: &Path, classes: &[ClassDef]) -> Result<(), DbError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("listing the data directory", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("listing the data directory", dir))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(base) = file_name
            .strip_suffix(DELETED_SUFFIX)
            .or_else(|| file_name.strip_suffix(RESTORED_SUFFIX))
        else {
            continue;
        };
        // A `.restored` directory is handled like a `.deleted` one: the schema decides. Listed
        // (the restore's schema write happened) → moved into place; not listed → removed.
        let trash = entry.path();
        let listed = classes.iter().find(|c| c.name.to_ascii_lowercase() == base);
        match listed {
            Some(class) if class_dir(dir, &class.name).exists() => {
                // Both names exist: which one holds the data is not knowable here. Keep both
                // for the operator; the class serves what its directory holds.
                tracing::warn!(action = "startup", class = %class.name, path = %trash.display(),
                    "a class directory and an interrupted delete's copy of it both exist; the copy is kept untouched");
            }
            Some(class) => {
                tracing::warn!(action = "startup", class = %class.name, path = %trash.display(),
                    "an interrupted class delete left the class in the schema: its data is moved back");
                move_back(dir, &trash, &class.name)?;
            }
            _ => {
                tracing::info!(action = "startup", path = %trash.display(),
                    "finishing an interrupted class delete: removing its data");
                remove_dir_durably(dir, Some(&trash))?;
            }
        }
    }
    Ok(())
}
