//! The catalog: every class with its shards, persisted in `schema.bin`.
//!
//! Changes are serialised by a writer mutex. Each change is applied to a copy of the state,
//! written durably (`weft_io::atomic_write`), and only then published to readers, so a change
//! is visible exactly when it is acknowledged. Readers never wait for an fsync.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use super::SchemaDefaults;
use super::catalog_file::{self, StoredClass, StoredShard, StoredTenant};
use super::class::ClassDef;
use super::property::PropertyDef;
use super::shard::{ShardState, ShardStatus, TenantStatus, random_shard_name, reason};
use super::update::merge_update;
use super::validation::{
    ReferenceTargets, duplicate_property, uppercase_first, validate_class, validate_property,
};
use super::vector_index::VectorSetup;
use crate::error::{DbError, UserError};

/// One class and its shards.
#[derive(Debug, Clone)]
struct ClassEntry {
    class: ClassDef,
    shards: Vec<ShardStatus>,
    /// Tenants of a multi-tenant class (each also has a shard of its name).
    tenants: BTreeMap<String, TenantStatus>,
}

/// The published state: classes in creation order.
#[derive(Debug, Clone, Default)]
struct CatalogState {
    classes: Vec<ClassEntry>,
}

impl CatalogState {
    /// Looks a class up as Weaviate's REST handlers do: first letter upper-cased, then exact.
    fn position(&self, name: &str) -> Option<usize> {
        let name = uppercase_first(name);
        self.classes.iter().position(|e| e.class.name == name)
    }

    fn entry_mut(&mut self, name: &str) -> Result<&mut ClassEntry, UserError> {
        let index = self
            .position(name)
            .ok_or_else(|| UserError::ClassNotFound(name.into()))?;
        self.classes
            .get_mut(index)
            .ok_or_else(|| UserError::ClassNotFound(name.into()))
    }

    fn names(&self) -> Vec<&str> {
        self.classes.iter().map(|e| e.class.name.as_str()).collect()
    }

    fn to_stored(&self) -> Vec<StoredClass> {
        self.classes
            .iter()
            .map(|e| StoredClass {
                class: e.class.clone(),
                shards: e
                    .shards
                    .iter()
                    .map(|s| StoredShard {
                        name: s.name.clone(),
                        manual_read_only: is_manual_read_only(s),
                    })
                    .collect(),
                tenants: e
                    .tenants
                    .iter()
                    .map(|(name, status)| StoredTenant {
                        name: name.clone(),
                        status: *status,
                    })
                    .collect(),
            })
            .collect()
    }
}

/// The set of classes, persisted under the data directory.
#[derive(Debug)]
pub struct Catalog {
    dir: PathBuf,
    defaults: SchemaDefaults,
    state: RwLock<Arc<CatalogState>>,
    writer: Mutex<()>,
    poisoned: AtomicBool,
    /// Bumped each time a new state is published (classes, shards or tenants changed).
    version: AtomicU64,
}

impl Catalog {
    /// Removes temp files left by an interrupted write, then loads `dir/schema.bin`.
    pub fn open(dir: &Path, defaults: SchemaDefaults) -> Result<Self, DbError> {
        weft_io::remove_stale_temps(dir).map_err(|source| DbError::Io {
            context: "removing stale temp files",
            path: dir.to_path_buf(),
            source,
        })?;
        let classes = catalog_file::load(dir)?
            .into_iter()
            .map(|stored| ClassEntry {
                class: stored.class,
                shards: stored.shards.into_iter().map(restored_status).collect(),
                tenants: stored
                    .tenants
                    .into_iter()
                    .map(|t| (t.name, t.status))
                    .collect(),
            })
            .collect();
        Ok(Self {
            dir: dir.to_path_buf(),
            defaults,
            state: RwLock::new(Arc::new(CatalogState { classes })),
            writer: Mutex::new(()),
            poisoned: AtomicBool::new(false),
            version: AtomicU64::new(0),
        })
    }

    fn snapshot(&self) -> Arc<CatalogState> {
        Arc::clone(&self.state.read())
    }

    /// Every class, in creation order.
    pub fn classes(&self) -> Vec<ClassDef> {
        self.snapshot()
            .classes
            .iter()
            .map(|e| e.class.clone())
            .collect()
    }

    /// The class named `name` (first letter upper-cased, then compared exactly).
    pub fn class(&self, name: &str) -> Option<ClassDef> {
        let state = self.snapshot();
        state
            .position(name)
            .and_then(|i| state.classes.get(i))
            .map(|e| e.class.clone())
    }

    /// Applies `change` to a copy of the state, persists it when `persist` is set, then
    /// publishes it. A failed write poisons the catalog.
    fn change<T>(
        &self,
        persist: bool,
        change: impl FnOnce(&mut CatalogState) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.change_then_persist(|state| change(state).map(|out| (out, persist)))
    }

    /// Like [`Self::change`], with `change` deciding whether the result must be persisted.
    /// A change that needs no write is applied even to a poisoned catalog (runtime state such
    /// as a shard's READONLY must still be settable when the disk is full).
    fn change_then_persist<T>(
        &self,
        change: impl FnOnce(&mut CatalogState) -> Result<(T, bool), DbError>,
    ) -> Result<T, DbError> {
        let _writer = self.writer.lock();
        let mut next = CatalogState::clone(&self.snapshot());
        let (out, persist) = change(&mut next)?;
        if persist {
            if self.poisoned.load(Ordering::Acquire) {
                return Err(DbError::Poisoned);
            }
            if let Err(e) = catalog_file::store(&self.dir, next.to_stored()) {
                // A failure before the rename (ENOSPC on the temp file, say) leaves schema.bin
                // as it was: the change simply did not happen and later ones may. Only when
                // the file on disk is no longer the state in memory is the catalog poisoned.
                let intact = catalog_file::load(&self.dir)
                    .is_ok_and(|on_disk| on_disk == self.snapshot().to_stored());
                if !intact {
                    self.poisoned.store(true, Ordering::Release);
                }
                return Err(e);
            }
        }
        *self.state.write() = Arc::new(next);
        self.version.fetch_add(1, Ordering::AcqRel);
        Ok(out)
    }

    /// A number that changes whenever the catalog does (classes, shards or tenants): callers
    /// that derive something from the classes (the GraphQL schema) rebuild it when it moves.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Fills the defaults that come from the server's configuration.
    fn fill_defaults(&self, class: &mut ClassDef) {
        if let VectorSetup::Legacy {
            vectorizer: vectorizer @ None,
            ..
        } = &mut class.vectors
        {
            *vectorizer = Some(self.defaults.vectorizer.clone());
        }
        for property in &mut class.properties {
            property.fill_tokenization(self.defaults.tokenization);
        }
    }

    /// Applies `DEFAULT_QUANTIZATION` to the indexes of a class being created (only then, as
    /// in Weaviate).
    fn fill_default_quantization(&self, class: &mut ClassDef) {
        let q = self.defaults.quantization;
        match &mut class.vectors {
            VectorSetup::Legacy { index, .. } => index.apply_default_quantization(q),
            VectorSetup::Named(vectors) => vectors
                .values_mut()
                .for_each(|v| v.index.apply_default_quantization(q)),
        }
    }

    /// Validates `class`, fills its defaults, persists it with one new shard and returns it.
    pub fn create_class(&self, mut class: ClassDef) -> Result<ClassDef, DbError> {
        self.fill_defaults(&mut class);
        self.fill_default_quantization(&mut class);
        self.change(true, |state| {
            validate_class(&mut class, &state.names(), &self.defaults)?;
            if let Some(existing) = state
                .classes
                .iter()
                .find(|e| e.class.name.eq_ignore_ascii_case(&class.name))
            {
                return Err(already_exists(&class.name, &existing.class.name).into());
            }
            // Data left by a class of this name whose delete was interrupted is not ours.
            let stale = catalog_file::class_dir(&self.dir, &class.name);
            catalog_file::remove_dir_durably(&self.dir, Some(&stale))?;
            // A multi-tenant class has one shard per tenant, none before its first tenant.
            let shards = if class.multi_tenancy.enabled {
                Vec::new()
            } else {
                vec![ShardStatus::ready(random_shard_name())]
            };
            state.classes.push(ClassEntry {
                class: class.clone(),
                shards,
                tenants: BTreeMap::new(),
            });
            Ok(class)
        })
    }

    /// Adds `class` (from a backup) with its shards (tenants with their status), whose data is
    /// the class directory
    /// `staged`: the directory is moved to `<data>/<class>.restored`, the schema written (the
    /// commit point), then the directory renamed into place. A crash in between is finished
    /// or undone at the next open ([`catalog_file::finish_class_deletions`]).
    pub fn restore_class(
        &self,
        mut class: ClassDef,
        shards: &[(String, Option<TenantStatus>)],
        staged: &std::path::Path,
    ) -> Result<ClassDef, DbError> {
        self.fill_defaults(&mut class);
        let pending = catalog_file::pending_restore_dir(&self.dir, &class.name);
        let stored = self.change(true, |state| {
            validate_class(&mut class, &state.names(), &self.defaults)?;
            if let Some(existing) = state
                .classes
                .iter()
                .find(|e| e.class.name.eq_ignore_ascii_case(&class.name))
            {
                return Err(already_exists(&class.name, &existing.class.name).into());
            }
            let stale = catalog_file::class_dir(&self.dir, &class.name);
            catalog_file::remove_dir_durably(&self.dir, Some(&stale))?;
            catalog_file::remove_dir_durably(&self.dir, Some(&pending))?;
            catalog_file::move_dir_durably(&self.dir, staged, &pending)?;
            state.classes.push(ClassEntry {
                class: class.clone(),
                shards: shards
                    .iter()
                    .map(|(name, _)| ShardStatus::ready(name.clone()))
                    .collect(),
                tenants: shards
                    .iter()
                    .filter_map(|(name, t)| t.map(|t| (name.clone(), t)))
                    .collect(),
            });
            Ok(class)
        });
        match stored {
            Ok(class) => {
                if let Err(e) = catalog_file::move_back(&self.dir, &pending, &class.name) {
                    // Committed but not in place: take the class out again (its data is
                    // removed with the pending directory); if even that fails, the next open
                    // moves the directory into place, as the schema lists the class.
                    if self.delete_class_keep_data(&class.name).is_ok() {
                        let _ = catalog_file::remove_dir_durably(&self.dir, Some(&pending));
                    }
                    return Err(e);
                }
                Ok(class)
            }
            Err(e) => {
                // A poisoned catalog may have written the schema after all: the next open
                // decides by what `schema.bin` says. Otherwise the class was not added and
                // the staged data is not ours any more.
                if !self.poisoned.load(Ordering::Acquire) {
                    let _ = catalog_file::remove_dir_durably(&self.dir, Some(&pending));
                }
                Err(e)
            }
        }
    }

    /// Replaces the mutable parts of class `name` with those of `class`.
    pub fn update_class(&self, name: &str, class: ClassDef) -> Result<ClassDef, DbError> {
        self.change(true, |state| {
            let names: Vec<String> = state.names().into_iter().map(str::to_string).collect();
            let entry = state.entry_mut(name)?;
            let mut merged = merge_update(&entry.class, class)?;
            self.fill_defaults(&mut merged);
            let others: Vec<&str> = names.iter().map(String::as_str).collect();
            validate_class(&mut merged, &others, &self.defaults)?;
            entry.class = merged.clone();
            Ok(merged)
        })
    }

    /// Deletes class `name` and its data directory; a missing class is not an error.
    pub fn delete_class(&self, name: &str) -> Result<(), DbError> {
        let trash = self.delete_class_keep_data(name)?;
        self.remove_deleted_data(name, trash.as_deref());
        Ok(())
    }

    /// Removes the data a delete moved aside (logged, and left for the next start, on failure).
    pub(crate) fn remove_deleted_data(&self, name: &str, trash: Option<&std::path::Path>) {
        if let Err(err) = catalog_file::remove_dir_durably(&self.dir, trash) {
            tracing::warn!(
                action = "delete_class",
                class = %name,
                error = %crate::error::chain(&err),
                "class deleted; its data could not be removed yet and will be at the next start"
            );
        }
    }

    /// The durable part of a delete: the data moved aside, then the class removed from the
    /// schema. Returns where the data now is (to remove with [`Self::remove_deleted_data`]).
    pub(crate) fn delete_class_keep_data(
        &self,
        name: &str,
    ) -> Result<Option<std::path::PathBuf>, DbError> {
        let Some(stored_name) = self.class(name).map(|c| c.name) else {
            return Ok(None);
        };
        // The data moves aside first (one rename): a crash or a copy sees the directory whole
        // under one of its two names, and the next open finishes or undoes the delete.
        let trash = catalog_file::move_class_dir_aside(&self.dir, &stored_name)?;
        let removed = self.change(true, |state| {
            Ok(state
                .position(name)
                .map(|i| state.classes.remove(i).class.name))
        });
        match removed {
            // The delete is done (and durable) once the schema no longer lists the class.
            Ok(_) => Ok(trash),
            Err(e) => {
                if let Some(trash) = trash
                    && let Err(back) = catalog_file::move_back(&self.dir, &trash, &stored_name)
                {
                    tracing::error!(
                        action = "delete_class",
                        class = %stored_name,
                        path = %trash.display(),
                        error = %crate::error::chain(&back),
                        "the delete failed and its data could not be moved back; the next start moves it back"
                    );
                }
                Err(e)
            }
        }
    }

    /// Adds a property to class `class`.
    pub fn add_property(
        &self,
        class: &str,
        mut property: PropertyDef,
    ) -> Result<PropertyDef, DbError> {
        property.fill_tokenization(self.defaults.tokenization);
        self.change(true, |state| {
            let names: Vec<String> = state.names().into_iter().map(str::to_string).collect();
            let entry = state.entry_mut(class)?;
            let targets = ReferenceTargets {
                own: &entry.class.name,
                existing: names.iter().map(String::as_str).collect(),
            };
            validate_property(&mut property, &targets)?;
            if entry.class.property(&property.name).is_some() {
                return Err(duplicate_property(&entry.class.name, &property.name).into());
            }
            entry.class.properties.push(property.clone());
            Ok(property)
        })
    }

    /// Shards of class `class` with their status.
    pub fn shards(&self, class: &str) -> Result<Vec<ShardStatus>, DbError> {
        let state = self.snapshot();
        let entry = state
            .position(class)
            .and_then(|i| state.classes.get(i))
            .ok_or_else(|| UserError::ClassNotFound(class.to_string()))?;
        Ok(entry.shards.clone())
    }

    /// Sets the status of one shard and logs the change (`shard status changed`).
    ///
    /// Only READONLY set by hand ([`reason::MANUAL`]) is persisted, and the file is written
    /// only when that changes; any other status is runtime state and every other shard starts
    /// READY when the database opens (the disk monitor re-evaluates pressure at once).
    pub fn set_shard_status(
        &self,
        class: &str,
        shard: &str,
        status: ShardState,
        reason: &str,
    ) -> Result<ShardStatus, DbError> {
        let (class_name, prev, next) = self.change_then_persist(|state| {
            let entry = state.entry_mut(class)?;
            let class_name = entry.class.name.clone();
            let Some(target) = entry.shards.iter_mut().find(|s| s.name == shard) else {
                return Err(UserError::ShardNotFound {
                    class: class_name,
                    shard: shard.to_string(),
                }
                .into());
            };
            let prev = target.clone();
            target.status = status;
            target.reason = reason.to_string();
            let persist = is_manual_read_only(&prev) != is_manual_read_only(target);
            Ok(((class_name, prev, target.clone()), persist))
        })?;
        if prev.status != next.status || prev.reason != next.reason {
            log_status_change(&class_name, &prev, &next);
        }
        Ok(next)
    }

    /// The tenants of a multi-tenant class with their status, by name.
    pub fn tenants(&self, class: &str) -> Result<BTreeMap<String, TenantStatus>, DbError> {
        let state = self.snapshot();
        let entry = state
            .position(class)
            .and_then(|i| state.classes.get(i))
            .ok_or_else(|| UserError::ClassNotFound(class.to_string()))?;
        Ok(entry.tenants.clone())
    }

    /// One tenant's status.
    pub fn tenant(&self, class: &str, tenant: &str) -> Option<TenantStatus> {
        let state = self.snapshot();
        state
            .position(class)
            .and_then(|i| state.classes.get(i))
            .and_then(|e| e.tenants.get(tenant).copied())
    }

    /// Adds tenants (names validated by the caller) in one schema write; existing ones are
    /// skipped with their status unchanged, as Weaviate. Returns the names added.
    pub fn add_tenants(
        &self,
        class: &str,
        tenants: &[(String, TenantStatus)],
    ) -> Result<Vec<String>, DbError> {
        self.change_then_persist(|state| {
            let entry = state.entry_mut(class)?;
            let mut added = Vec::new();
            for (name, status) in tenants {
                if entry.tenants.contains_key(name) {
                    continue;
                }
                entry.tenants.insert(name.clone(), *status);
                entry.shards.push(ShardStatus::ready(name.clone()));
                added.push(name.clone());
            }
            let persist = !added.is_empty();
            Ok((added, persist))
        })
    }

    /// Sets tenants' statuses in one schema write; an unknown tenant fails the whole call.
    pub fn set_tenant_statuses(
        &self,
        class: &str,
        tenants: &[(String, TenantStatus)],
    ) -> Result<(), DbError> {
        self.change_then_persist(|state| {
            let entry = state.entry_mut(class)?;
            let mut changed = false;
            for (name, status) in tenants {
                let Some(current) = entry.tenants.get_mut(name) else {
                    return Err(UserError::Invalid(format!("shard not found: {name}")).into());
                };
                changed |= *current != *status;
                *current = *status;
            }
            Ok(((), changed))
        })
    }

    /// Removes tenants from the schema in one write (their data is removed by the caller
    /// after); unknown names are skipped. Returns the names removed.
    pub fn remove_tenants(&self, class: &str, names: &[String]) -> Result<Vec<String>, DbError> {
        self.change_then_persist(|state| {
            let entry = state.entry_mut(class)?;
            let removed: Vec<String> = names
                .iter()
                .filter(|n| entry.tenants.remove(n.as_str()).is_some())
                .cloned()
                .collect();
            entry.shards.retain(|s| !removed.contains(&s.name));
            let persist = !removed.is_empty();
            Ok((removed, persist))
        })
    }

    /// Every shard of every class, with its class name, in creation order.
    pub fn all_shards(&self) -> Vec<(String, ShardStatus)> {
        self.snapshot()
            .classes
            .iter()
            .flat_map(|e| e.shards.iter().map(|s| (e.class.name.clone(), s.clone())))
            .collect()
    }

    /// Nothing is pending: every change was made durable before it was acknowledged.
    pub fn close(&self) -> Result<(), DbError> {
        Ok(())
    }
}

/// Whether the shard's status is one that survives a restart.
fn is_manual_read_only(shard: &ShardStatus) -> bool {
    shard.status == ShardState::ReadOnly && shard.reason == reason::MANUAL
}

/// The status a stored shard has after open.
fn restored_status(stored: StoredShard) -> ShardStatus {
    let mut status = ShardStatus::ready(stored.name);
    if stored.manual_read_only {
        status.status = ShardState::ReadOnly;
        status.reason = reason::MANUAL.to_string();
    }
    status
}

/// Weaviate's log line of a status change: warning when READONLY, debug otherwise.
fn log_status_change(class: &str, prev: &ShardStatus, next: &ShardStatus) {
    if next.status == ShardState::ReadOnly {
        tracing::warn!(
            action = "update_shard_status",
            class = %class,
            shard = %next.name,
            status = %next.status,
            prev = %prev.status,
            reason = %next.reason,
            "shard status changed"
        );
    } else {
        tracing::debug!(
            action = "update_shard_status",
            class = %class,
            shard = %next.name,
            status = %next.status,
            prev = %prev.status,
            reason = %next.reason,
            "shard status changed"
        );
    }
}

fn already_exists(requested: &str, existing: &str) -> UserError {
    if requested == existing {
        UserError::AlreadyExists(format!("class name {requested} already exists"))
    } else {
        UserError::AlreadyExists(format!(
            "class name {requested} already exists: found similar class \"{existing}\""
        ))
    }
}
