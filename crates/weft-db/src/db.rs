//! The database handle: lock, catalog, collections, lifecycle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use weft_io::DirLock;

mod tenants;
pub use tenants::TenantInput;
pub(crate) use tenants::tenant_key;

use crate::collection::Collection;
use crate::disk::{DiskOptions, Monitor, MonitorThread, UsageSource};
use crate::error::{DbError, UserError};
use crate::objects::STORAGE_FAILURE;
use crate::schema::{
    Catalog, ClassDef, PropertyDef, SchemaDefaults, ShardState, ShardStatus, reason,
};

/// Typed options of [`Db::open`]; the binary fills them from flags and environment.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Root of all persisted data (`PERSISTENCE_DATA_PATH`).
    pub data_path: PathBuf,
    /// This node's name (`CLUSTER_HOSTNAME`).
    pub node_name: String,
    /// Defaults applied to new classes.
    pub schema_defaults: SchemaDefaults,
    /// `AUTOSCHEMA_ENABLED`: writes may create classes and add properties.
    pub autoschema: bool,
    /// Storage engine options of every shard.
    pub storage: weft_lsm::Options,
    /// Disk-use thresholds (`DISK_USE_*`); all disabled by default.
    pub disk: DiskOptions,
}

impl DbOptions {
    /// Options with defaults for everything but the path and node name.
    pub fn new(data_path: impl Into<PathBuf>, node_name: impl Into<String>) -> Self {
        Self {
            data_path: data_path.into(),
            node_name: node_name.into(),
            schema_defaults: SchemaDefaults::default(),
            autoschema: true,
            storage: weft_lsm::Options::default(),
            disk: DiskOptions::default(),
        }
    }
}

/// Open collections by stored class name.
pub(crate) type CollectionMap = HashMap<String, Arc<Collection>>;

/// The catalog and the open collections, shared with the disk monitor thread (which cannot
/// hold the `Db` itself: [`Db::close`] takes it by value).
#[derive(Debug, Clone)]
pub(crate) struct ShardRegistry {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) collections: Arc<RwLock<CollectionMap>>,
    data_path: PathBuf,
    storage: weft_lsm::Options,
}

/// How long a recovery waits for in-flight requests to let go of a poisoned collection.
const RECOVERY_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

impl ShardRegistry {
    /// Reopens the shard of `class` if a storage failure poisoned it (recovering from what is
    /// durable), then sets its shards READONLY because of a storage failure back to READY.
    /// Returns whether a shard was reopened.
    pub(crate) fn recover(&self, class: &str) -> Result<bool, DbError> {
        let Some(class) = self.catalog.class(class) else {
            return Ok(false);
        };
        let reopened = self.reopen_if_poisoned(&class)?;
        for shard in self.catalog.shards(&class.name)? {
            if shard.status == ShardState::ReadOnly && shard.reason == STORAGE_FAILURE {
                self.catalog.set_shard_status(
                    &class.name,
                    &shard.name,
                    ShardState::Ready,
                    reason::BELOW_THRESHOLD,
                )?;
            }
        }
        Ok(reopened)
    }

    /// Replaces a poisoned collection by a freshly opened one (recovery replays what is
    /// durable and cuts a torn WAL tail). The old one is dropped first, because its engine
    /// holds the shard directory lock: lookups wait on the map lock while in-flight requests
    /// drain; if they do not within [`RECOVERY_DRAIN_TIMEOUT`], nothing changes and the caller
    /// retries later.
    fn reopen_if_poisoned(&self, class: &ClassDef) -> Result<bool, DbError> {
        if class.multi_tenancy.enabled {
            return self.reopen_poisoned_tenants(class);
        }
        let mut map = self.collections.write();
        let shard = match map.get(&class.name) {
            Some(coll) if !coll.is_poisoned() => return Ok(false),
            Some(coll) => coll.shard_name().to_string(),
            // An earlier recovery closed it but could not open it again: try again.
            None => match self.catalog.shards(&class.name)?.into_iter().next() {
                Some(s) => s.name,
                None => return Ok(false),
            },
        };
        if let Some(coll) = map.get(&class.name) {
            // Never reopen over WAL bytes a failed fsync left in the page cache.
            coll.repair()?;
        }
        drain(&map, &class.name, "recovering a shard", &self.data_path)?;
        // Dropping the last handle closes the poisoned engine and releases its lock.
        drop(map.remove(&class.name));
        let (fresh, report) =
            Collection::open(&self.data_path, class, &shard, self.storage.clone())?;
        if let Some(message) = report.warning() {
            tracing::warn!(
                action = "lsm_recover_from_active_wal",
                class = %class.name,
                shard = %shard,
                "{message}"
            );
        }
        map.insert(class.name.clone(), Arc::new(fresh));
        Ok(true)
    }
}

impl ShardRegistry {
    /// [`ShardRegistry::reopen_if_poisoned`] for the open tenant shards of a multi-tenant
    /// class; a tenant that is not open has nothing to recover (it opens fresh on next use).
    fn reopen_poisoned_tenants(&self, class: &ClassDef) -> Result<bool, DbError> {
        let mut map = self.collections.write();
        let prefix = tenant_key(&class.name, "");
        let poisoned: Vec<(String, String)> = map
            .iter()
            .filter(|(k, c)| k.starts_with(&prefix) && c.is_poisoned())
            .map(|(k, c)| (k.clone(), c.shard_name().to_string()))
            .collect();
        for (key, tenant) in &poisoned {
            if let Some(coll) = map.get(key) {
                coll.repair()?;
            }
            drain(&map, key, "recovering a shard", &self.data_path)?;
            drop(map.remove(key));
            let (fresh, report) =
                Collection::open(&self.data_path, class, tenant, self.storage.clone())?;
            if let Some(message) = report.warning() {
                tracing::warn!(action = "lsm_recover_from_active_wal", class = %class.name, shard = %tenant, "{message}");
            }
            map.insert(key.clone(), Arc::new(fresh));
        }
        Ok(!poisoned.is_empty())
    }
}

/// Waits (up to [`RECOVERY_DRAIN_TIMEOUT`]) until the map holds the only handle of `class`'s
/// collection. The caller holds the map's write lock, so no request takes a new handle.
fn drain(
    map: &CollectionMap,
    class: &str,
    context: &'static str,
    path: &Path,
) -> Result<(), DbError> {
    let deadline = Instant::now() + RECOVERY_DRAIN_TIMEOUT;
    while map.get(class).is_some_and(|c| Arc::strong_count(c) > 1) {
        if Instant::now() >= deadline {
            return Err(DbError::Io {
                context,
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "requests still use the shard; try again",
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// An open database. All methods take `&self`; it is shared between request handlers.
#[derive(Debug)]
pub struct Db {
    // Stopped first: it uses the catalog and the collections.
    monitor: Option<MonitorThread>,
    pub(crate) options: DbOptions,
    pub(crate) catalog: Arc<Catalog>,
    collections: Arc<RwLock<CollectionMap>>,
    /// Classes whose shard failed to open at startup, with the error (the rest serves).
    unavailable: RwLock<HashMap<String, (String, Arc<DbError>)>>,
    /// Held while a new class's collection is opened, so a concurrent writer that already sees
    /// the class in the catalog waits for its collection instead of failing.
    pub(crate) opening: parking_lot::Mutex<()>,
    // Dropped last: the directory stays locked until everything else is closed.
    _lock: DirLock,
}

impl Db {
    /// Locks the data directory, loads the persisted schema, opens (recovers) every shard and
    /// starts the disk-use monitor (after a first reading, so a full disk is READONLY before
    /// the first request).
    pub fn open(options: DbOptions) -> Result<Self, DbError> {
        Self::open_with_usage(options, crate::disk::statvfs_source())
    }

    /// [`Db::open`] with the disk-use readings taken from `source`.
    pub(crate) fn open_with_usage(
        options: DbOptions,
        source: UsageSource,
    ) -> Result<Self, DbError> {
        let lock = DirLock::acquire(&options.data_path)?;
        let catalog = Catalog::open(&options.data_path, options.schema_defaults.clone())?;
        let mut db = Self {
            monitor: None,
            options,
            catalog: Arc::new(catalog),
            collections: Arc::new(RwLock::new(HashMap::new())),
            unavailable: RwLock::new(HashMap::new()),
            opening: parking_lot::Mutex::new(()),
            _lock: lock,
        };
        let classes = db.catalog.classes();
        let total = classes.len();
        crate::schema::finish_class_deletions(&db.options.data_path, &classes)?;
        for (i, class) in classes.iter().enumerate() {
            let started = Instant::now();
            if class.multi_tenancy.enabled {
                // Tenant shards open on first use; leftovers of removed tenants go now.
                let tenants = db.catalog.tenants(&class.name)?;
                tenants::sweep_tenant_dirs(&db.options.data_path, class, &tenants)?;
                continue;
            }
            if let Err(err) = db.open_collection(class) {
                db.mark_unavailable(class, err);
                continue;
            }
            tracing::debug!(
                action = "startup",
                class = %class.name,
                took = ?started.elapsed(),
                "loaded shard {}/{total}",
                i + 1
            );
        }
        let path = db.options.data_path.clone();
        let mut monitor = Monitor::new(db.options.disk.clone(), path.clone());
        let registry = db.shard_registry();
        monitor.tick(source(&path), Instant::now(), &registry);
        let thread =
            MonitorThread::spawn(monitor, source, registry).map_err(|source| DbError::Io {
                context: "starting the disk-use monitor",
                path,
                source,
            })?;
        db.monitor = Some(thread);
        Ok(db)
    }

    /// The handle the disk monitor works through.
    pub(crate) fn shard_registry(&self) -> ShardRegistry {
        ShardRegistry {
            catalog: Arc::clone(&self.catalog),
            collections: Arc::clone(&self.collections),
            data_path: self.options.data_path.clone(),
            storage: self.options.storage.clone(),
        }
    }

    pub(crate) fn open_collection(&self, class: &ClassDef) -> Result<Arc<Collection>, DbError> {
        self.open_collection_as(class, false)
    }

    /// Opens the collection of a class just restored from a backup: replaying the backup's
    /// WAL is expected there, so it is logged at info, not as a crash.
    pub(crate) fn open_restored_collection(
        &self,
        class: &ClassDef,
    ) -> Result<Arc<Collection>, DbError> {
        self.open_collection_as(class, true)
    }

    fn open_collection_as(
        &self,
        class: &ClassDef,
        restored: bool,
    ) -> Result<Arc<Collection>, DbError> {
        let shard = self
            .catalog
            .shards(&class.name)?
            .into_iter()
            .next()
            .ok_or_else(|| UserError::ClassNotFound(class.name.clone()))?;
        let (coll, report) = Collection::open(
            &self.options.data_path,
            class,
            &shard.name,
            self.options.storage.clone(),
        )?;
        if restored {
            tracing::info!(
                action = "restore",
                class = %class.name,
                shard = %shard.name,
                records = report.records_replayed,
                took = ?report.duration,
                "restored shard opened: replayed the backup's write-ahead log"
            );
        } else if let Some(message) = report.warning() {
            tracing::warn!(
                action = "lsm_recover_from_active_wal",
                class = %class.name,
                shard = %shard.name,
                path = %coll.dir().display(),
                records = report.records_replayed,
                took = ?report.duration,
                "{message}"
            );
        }
        let coll = Arc::new(coll);
        self.collections
            .write()
            .insert(class.name.clone(), Arc::clone(&coll));
        Ok(coll)
    }

    /// A shard that does not open is reported and left alone: one damaged file must not keep
    /// every other class from serving. Its class answers every request with the error.
    fn mark_unavailable(&self, class: &ClassDef, err: DbError) {
        let shard = self
            .catalog
            .shards(&class.name)
            .ok()
            .and_then(|s| s.into_iter().next());
        let shard_name = shard.as_ref().map_or_else(String::new, |s| s.name.clone());
        tracing::error!(
            action = "startup",
            class = %class.name,
            shard = %shard_name,
            error = %crate::error::chain(&err),
            "shard could not be opened; the class is unavailable, every other class serves"
        );
        if shard.is_some() {
            let why = format!("failed to open: {}", crate::error::chain(&err));
            let _ =
                self.catalog
                    .set_shard_status(&class.name, &shard_name, ShardState::ReadOnly, &why);
        }
        self.unavailable
            .write()
            .insert(class.name.clone(), (shard_name, Arc::new(err)));
    }

    /// The collection of the class named `name` (as stored): `ClassNotFound` for an unknown
    /// class, `ShardUnavailable` for one whose shard did not open.
    pub(crate) fn collection(&self, name: &str) -> Result<Arc<Collection>, DbError> {
        if let Some(coll) = self.collections.read().get(name).cloned() {
            return Ok(coll);
        }
        // The class may be being created right now: wait for its collection.
        let _wait = self.opening.lock();
        if let Some(coll) = self.collections.read().get(name).cloned() {
            return Ok(coll);
        }
        match self.unavailable.read().get(name) {
            Some((shard, cause)) => Err(DbError::ShardUnavailable {
                class: name.to_string(),
                shard: shard.clone(),
                cause: Arc::clone(cause),
            }),
            None => Err(UserError::ClassNotFound(name.to_string()).into()),
        }
    }

    /// The data directory.
    pub fn data_path(&self) -> &Path {
        &self.options.data_path
    }

    /// This node's name.
    pub fn node_name(&self) -> &str {
        &self.options.node_name
    }

    /// Every class, in creation order.
    pub fn classes(&self) -> Vec<ClassDef> {
        self.catalog.classes()
    }

    /// Changes whenever the schema (classes, shards, tenants) does; see [`Catalog::version`].
    pub fn schema_version(&self) -> u64 {
        self.catalog.version()
    }

    /// The class named `name`: the first letter is upper-cased (as Weaviate's REST paths
    /// allow `article` for `Article`), then the name is compared exactly.
    pub fn class(&self, name: &str) -> Option<ClassDef> {
        self.catalog.class(name)
    }

    /// Validates `class`, fills its defaults, persists it, creates its shard and returns it.
    pub fn create_class(&self, class: ClassDef) -> Result<ClassDef, DbError> {
        let _opening = self.opening.lock();
        let stored = self.catalog.create_class(class)?;
        if !stored.multi_tenancy.enabled {
            self.open_collection(&stored)?;
        }
        Ok(stored)
    }

    /// Replaces the mutable parts of a class; immutable changes are refused.
    pub fn update_class(&self, name: &str, class: ClassDef) -> Result<ClassDef, DbError> {
        let stored = self.catalog.update_class(name, class)?;
        // Index settings apply at once (ef, rescoreLimit at the next search; a quantizer
        // enabled now is applied by each shard's worker), not at the next write.
        for (_, collection) in self.open_collections(&stored) {
            collection.configure_indexes(&stored);
        }
        Ok(stored)
    }

    /// Deletes a class and its data; deleting a missing class succeeds.
    pub fn delete_class(&self, name: &str) -> Result<(), DbError> {
        let Some(class) = self.catalog.class(name) else {
            return Ok(());
        };
        let trash = {
            // Wait for in-flight users (new ones wait on the map lock), close the shard, and
            // keep the lock until the schema no longer lists the class, so neither a request
            // nor the disk monitor's recovery can open the shard again in between.
            let mut map = self.collections.write();
            drain(
                &map,
                &class.name,
                "deleting a class",
                &self.options.data_path,
            )?;
            if let Some(coll) = map.remove(&class.name)
                && let Ok(coll) = Arc::try_unwrap(coll)
            {
                coll.close()?;
            }
            self.close_tenants(&mut map, &class.name)?;
            self.unavailable.write().remove(&class.name);
            self.catalog.delete_class_keep_data(&class.name)?
        };
        self.catalog
            .remove_deleted_data(&class.name, trash.as_deref());
        Ok(())
    }

    /// Adds a property to a class.
    pub fn add_property(&self, class: &str, property: PropertyDef) -> Result<PropertyDef, DbError> {
        self.catalog.add_property(class, property)
    }

    /// Shards of a class with their status.
    pub fn shards(&self, class: &str) -> Result<Vec<ShardStatus>, DbError> {
        self.catalog.shards(class)
    }

    /// Number of objects of a class (0 for an unknown class).
    pub fn object_count(&self, class: &str) -> u64 {
        self.class(class).map_or(0, |c| {
            self.open_collections(&c)
                .iter()
                .map(|(_, coll)| coll.object_count())
                .sum()
        })
    }

    /// `PUT /v1/schema/{class}/shards/{shard}`: a user sets a shard READY or READONLY (any
    /// other status is refused with `invalid storage status`). The reason is
    /// [`reason::MANUAL`]; a manual READONLY is persisted and survives a restart. Setting
    /// READY first reopens a shard that a storage failure poisoned.
    pub fn update_shard_status(
        &self,
        class: &str,
        shard: &str,
        status: ShardState,
    ) -> Result<ShardStatus, DbError> {
        match status {
            ShardState::Ready | ShardState::ReadOnly => {}
            ShardState::Indexing
            | ShardState::Loading
            | ShardState::LazyLoading
            | ShardState::Shutdown => {
                return Err(UserError::Invalid(format!(
                    "invalid storage status: {:?} (only READY and READONLY can be set)",
                    status.as_str()
                ))
                .into());
            }
        }
        let class = self
            .class(class)
            .ok_or_else(|| UserError::ClassNotFound(class.to_string()))?;
        if !self.shards(&class.name)?.iter().any(|s| s.name == shard) {
            return Err(UserError::ShardNotFound {
                class: class.name,
                shard: shard.to_string(),
            }
            .into());
        }
        if status == ShardState::Ready {
            self.shard_registry().recover(&class.name)?;
        }
        self.catalog
            .set_shard_status(&class.name, shard, status, reason::MANUAL)
    }

    /// Sets the status of shard `shard` of class `class`, recording `reason` (see
    /// [`crate::schema::reason`]).
    pub fn set_shard_status(
        &self,
        class: &str,
        shard: &str,
        status: ShardState,
        reason: &str,
    ) -> Result<ShardStatus, DbError> {
        self.catalog.set_shard_status(class, shard, status, reason)
    }

    /// Orderly close: flushes every shard and releases the directory lock.
    pub fn close(mut self) -> Result<(), DbError> {
        if let Some(monitor) = self.monitor.take() {
            monitor.stop();
        }
        let collections: Vec<_> = self.collections.write().drain().map(|(_, c)| c).collect();
        let mut first_err = None;
        for coll in collections {
            if let Ok(coll) = Arc::try_unwrap(coll)
                && let Err(err) = coll.close()
            {
                first_err.get_or_insert(err);
            }
        }
        self.catalog.close()?;
        first_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests;

/// What a metrics scrape reads of one shard.
#[derive(Debug, Clone)]
pub struct ShardMetrics {
    /// Class name.
    pub class: String,
    /// Shard name.
    pub shard: String,
    /// `READY` or `READONLY`.
    pub status: String,
    /// Objects stored.
    pub objects: u64,
    /// Live vectors per vector index (`""` for the legacy vector).
    pub vector_index_sizes: Vec<(String, u64)>,
    /// The WAL's counters since the shard opened.
    pub wal: weft_lsm::WalStats,
    /// Records replayed from the WAL when the shard opened.
    pub recovered_records: u64,
    /// How long opening the shard took (recovery and vector index load).
    pub load_seconds: f64,
    /// Vector index inserts and deletes since the shard opened.
    pub vector_inserts: u64,
    pub vector_deletes: u64,
    /// Per bucket: name, strategy, live segments, their bytes.
    pub segments: Vec<(String, &'static str, usize, u64)>,
}

impl Db {
    /// A reading of every open shard, for metrics (cheap: counters and sizes only).
    pub fn shard_metrics(&self) -> Vec<ShardMetrics> {
        let mut out = Vec::new();
        for class in self.catalog.classes() {
            let shards = self.catalog.shards(&class.name).unwrap_or_default();
            for (name, coll) in self.open_collections(&class) {
                let status = shards
                    .iter()
                    .find(|s| s.name == name)
                    .map_or_else(|| "READY".to_string(), |s| s.status.as_str().to_string());
                out.push(coll.metrics(status));
            }
        }
        out
    }
}
