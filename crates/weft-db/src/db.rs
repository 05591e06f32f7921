//! The database handle: lock, catalog, lifecycle.

use std::path::{Path, PathBuf};

use weft_io::DirLock;

use crate::error::DbError;
use crate::schema::{Catalog, ClassDef, PropertyDef, SchemaDefaults, ShardState, ShardStatus};

/// Typed options of [`Db::open`]; the binary fills them from flags and environment.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Root of all persisted data (`PERSISTENCE_DATA_PATH`).
    pub data_path: PathBuf,
    /// This node's name (`CLUSTER_HOSTNAME`).
    pub node_name: String,
    /// Defaults applied to new classes.
    pub schema_defaults: SchemaDefaults,
}

impl DbOptions {
    /// Options with defaults for everything but the path and node name.
    pub fn new(data_path: impl Into<PathBuf>, node_name: impl Into<String>) -> Self {
        Self {
            data_path: data_path.into(),
            node_name: node_name.into(),
            schema_defaults: SchemaDefaults::default(),
        }
    }
}

/// An open database. All methods take `&self`; it is shared between request handlers.
#[derive(Debug)]
pub struct Db {
    options: DbOptions,
    catalog: Catalog,
    // Dropped last: the directory stays locked until everything else is closed.
    _lock: DirLock,
}

impl Db {
    /// Locks the data directory and loads the persisted schema.
    pub fn open(options: DbOptions) -> Result<Self, DbError> {
        let lock = DirLock::acquire(&options.data_path)?;
        let catalog = Catalog::open(&options.data_path, options.schema_defaults.clone())?;
        Ok(Self {
            options,
            catalog,
            _lock: lock,
        })
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

    /// Validates `class`, fills its defaults, persists it and returns the stored class.
    pub fn create_class(&self, class: ClassDef) -> Result<ClassDef, DbError> {
        self.catalog.create_class(class)
    }

    /// Replaces the mutable parts of a class; immutable changes are refused.
    pub fn update_class(&self, name: &str, class: ClassDef) -> Result<ClassDef, DbError> {
        self.catalog.update_class(name, class)
    }

    /// Deletes a class and its data; deleting a missing class succeeds.
    pub fn delete_class(&self, name: &str) -> Result<(), DbError> {
        self.catalog.delete_class(name)
    }

    /// Adds a property to a class.
    pub fn add_property(&self, class: &str, property: PropertyDef) -> Result<PropertyDef, DbError> {
        self.catalog.add_property(class, property)
    }

    /// Shards of a class with their status.
    pub fn shards(&self, class: &str) -> Result<Vec<ShardStatus>, DbError> {
        self.catalog.shards(class)
    }

    /// Sets the status of shard `shard` of class `class`, recording `reason` (see
    /// [`crate::schema::reason`]). Status is runtime state: every shard is READY after open.
    pub fn set_shard_status(
        &self,
        class: &str,
        shard: &str,
        status: ShardState,
        reason: &str,
    ) -> Result<ShardStatus, DbError> {
        self.catalog.set_shard_status(class, shard, status, reason)
    }

    /// Orderly close: flushes what is pending and releases the directory lock.
    pub fn close(self) -> Result<(), DbError> {
        self.catalog.close()?;
        Ok(())
    }
}
