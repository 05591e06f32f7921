//! The database handle: lock, catalog, collections, lifecycle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use weft_io::DirLock;

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
        let deadline = Instant::now() + RECOVERY_DRAIN_TIMEOUT;
        while map
            .get(&class.name)
            .is_some_and(|c| Arc::strong_count(c) > 1)
        {
            if Instant::now() >= deadline {
                return Err(DbError::Io {
                    context: "recovering a shard: requests still use it",
                    path: self.data_path.clone(),
                    source: std::io::Error::from(std::io::ErrorKind::TimedOut),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
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

/// An open database. All methods take `&self`; it is shared between request handlers.
#[derive(Debug)]
pub struct Db {
    // Stopped first: it uses the catalog and the collections.
    monitor: Option<MonitorThread>,
    pub(crate) options: DbOptions,
    pub(crate) catalog: Arc<Catalog>,
    collections: Arc<RwLock<CollectionMap>>,
    /// Held while a new class's collection is opened, so a concurrent writer that already sees
    /// the class in the catalog waits for its collection instead of failing.
    opening: parking_lot::Mutex<()>,
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
            opening: parking_lot::Mutex::new(()),
            _lock: lock,
        };
        let classes = db.catalog.classes();
        let total = classes.len();
        for (i, class) in classes.iter().enumerate() {
            let started = Instant::now();
            db.open_collection(class)?;
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

    fn open_collection(&self, class: &ClassDef) -> Result<Arc<Collection>, DbError> {
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
        if let Some(message) = report.warning() {
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

    /// The collection of the class named `name` (as stored).
    pub(crate) fn collection(&self, name: &str) -> Option<Arc<Collection>> {
        if let Some(coll) = self.collections.read().get(name).cloned() {
            return Some(coll);
        }
        // The class may be being created right now: wait for its collection.
        let _wait = self.opening.lock();
        self.collections.read().get(name).cloned()
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

    /// The class named `name`: the first letter is upper-cased (as Weaviate's REST paths
    /// allow `article` for `Article`), then the name is compared exactly.
    pub fn class(&self, name: &str) -> Option<ClassDef> {
        self.catalog.class(name)
    }

    /// Validates `class`, fills its defaults, persists it, creates its shard and returns it.
    pub fn create_class(&self, class: ClassDef) -> Result<ClassDef, DbError> {
        let _opening = self.opening.lock();
        let stored = self.catalog.create_class(class)?;
        self.open_collection(&stored)?;
        Ok(stored)
    }

    /// Replaces the mutable parts of a class; immutable changes are refused.
    pub fn update_class(&self, name: &str, class: ClassDef) -> Result<ClassDef, DbError> {
        self.catalog.update_class(name, class)
    }

    /// Deletes a class and its data; deleting a missing class succeeds.
    pub fn delete_class(&self, name: &str) -> Result<(), DbError> {
        let Some(class) = self.catalog.class(name) else {
            return Ok(());
        };
        let removed = self.collections.write().remove(&class.name);
        if let Some(coll) = removed {
            // Wait for in-flight users, then release the shard directory before removing it.
            if let Ok(coll) = Arc::try_unwrap(coll) {
                coll.close()?;
            }
        }
        self.catalog.delete_class(&class.name)
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
        self.class(class)
            .and_then(|c| self.collection(&c.name))
            .map_or(0, |c| c.object_count())
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
