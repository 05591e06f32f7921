//! A collection: the data of one class in its shard, stored by the engine (`weft-lsm`).
//!
//! Buckets of the shard directory `<data>/<lowercased class>/<shard>/`:
//!
//! | bucket | strategy | key → value |
//! |---|---|---|
//! | `objects` | replace | uuid (16 bytes) → object record (`docs/format/object.md`); secondary key 0 = doc id (u64 LE) |
//! | `vectors` | replace | doc id (u64 BE) + vector name → f32 LE |
//! | `meta` | replace | `next_doc_id`, `object_count` (u64 LE), `dims/<name>` (u32 LE) |
//! | `property_<name>` | roaringset | encoded value or token → doc ids (filterable index) |
//! | `searchable_<name>` | map | token → doc id (u64 BE) → term frequency, length (BM25 index) |
//!
//! Every write of a batch — objects, vectors, index deltas, counters — is one `WriteBatch`, so
//! one WAL record: after a crash the objects and the index always agree.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use uuid::Uuid;
use weft_inverted::postings::{LengthStats, Posting};
use weft_lsm::{Shard, Strategy, WriteBatch};

use crate::error::{DbError, UserError};
use crate::index_change::{self, IndexChange};
use crate::object::index_keys::{
    bucket_name, index_entries, is_indexed, is_searchable, searchable_bucket, searchable_entries,
};
use crate::object::record::{self, decode_vector, encode_vector, vector_key};
use crate::object::{StoredObject, WriteMode, now_ms};
use crate::schema::ClassDef;
use crate::vector_index::worker::{SnapshotTarget, Worker};
use crate::vector_index::{LoadReport, SnapshotPolicy, VectorIndexes, load};

mod indexes;
use indexes::{Fresh, IndexDelta, track_lengths};

const OBJECTS: &str = "objects";
const VECTORS: &str = "vectors";
const META: &str = "meta";
const NEXT_DOC_ID: &[u8] = b"next_doc_id";
const OBJECT_COUNT: &[u8] = b"object_count";
/// `proplen/<property>`: the property's [`LengthStats`].
const PROPLEN: &str = "proplen/";
/// `searchable/<property>`: present once the property's searchable index holds every object.
const SEARCHABLE_BUILT: &str = "searchable/";
/// Objects per WAL record when a searchable index is built from existing objects.
const BUILD_BATCH: usize = 512;
/// `filterable/<property>`: present once a reference property's filterable index holds every
/// object (reference properties were not indexed before weft 0.13).
const FILTERABLE_BUILT: &str = "filterable/";

/// A term of a searchable index with its postings.
pub type TermPostings = (Vec<u8>, Vec<Posting>);

/// A write that passed validation: coerced properties and checked vector names.
#[derive(Debug, Clone)]
pub(crate) struct PreparedWrite {
    pub id: Uuid,
    pub properties: serde_json::Map<String, serde_json::Value>,
    pub vectors: BTreeMap<String, Vec<f32>>,
}

/// What [`Collection::apply`] writes for one object.
enum Change {
    /// A validated object write.
    Write(PreparedWrite, WriteMode),
    /// A change of one reference property, computed from the current object.
    Refs(RefEdit),
}

impl Change {
    fn id(&self) -> Uuid {
        match self {
            Change::Write(w, _) => w.id,
            Change::Refs(e) => e.id,
        }
    }
}

/// A change of one reference property of one object.
#[derive(Debug, Clone)]
pub(crate) struct RefEdit {
    /// The source object.
    pub id: Uuid,
    /// The reference property (as in the schema).
    pub property: String,
    /// What changes.
    pub op: RefOp,
}

/// How a [`RefEdit`] changes the property's list of `{"beacon": …}` values.
#[derive(Debug, Clone)]
pub(crate) enum RefOp {
    /// Appends these (duplicates kept, as Weaviate, unless the property has
    /// `disableDuplicatedReferences`: then beacons already held, or given twice, are skipped).
    Add(Vec<serde_json::Value>, bool),
    /// Replaces the list.
    Replace(Vec<serde_json::Value>),
    /// Removes every reference whose beacon is byte-equal to this one.
    Remove(String),
}

impl RefEdit {
    /// The new version of the object, or `None` when nothing changes. A missing object is an
    /// error.
    fn apply(
        self,
        class: &str,
        old: Option<&StoredObject>,
    ) -> Result<Option<PreparedWrite>, DbError> {
        let old = old.ok_or_else(|| UserError::ObjectNotFound {
            class: class.to_string(),
            id: self.id,
        })?;
        let mut properties = old.properties.clone();
        let current = match properties.get(&self.property) {
            Some(serde_json::Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let list = match self.op {
            RefOp::Add(add, dedup) if dedup => {
                let mut list = current.clone();
                for r in add {
                    if !list.contains(&r) {
                        list.push(r);
                    }
                }
                if list.len() == current.len() {
                    return Ok(None);
                }
                list
            }
            RefOp::Add(add, _) => current.into_iter().chain(add).collect(),
            RefOp::Replace(list) => list,
            RefOp::Remove(beacon) => {
                let kept: Vec<serde_json::Value> = current
                    .iter()
                    .filter(|r| {
                        r.get("beacon").and_then(serde_json::Value::as_str) != Some(&beacon)
                    })
                    .cloned()
                    .collect();
                if kept.len() == current.len() {
                    return Ok(None);
                }
                kept
            }
        };
        properties.insert(self.property, serde_json::Value::Array(list));
        Ok(Some(PreparedWrite {
            id: self.id,
            properties,
            vectors: old.vectors.clone(),
        }))
    }
}

/// Counters kept in memory and persisted in the `meta` bucket with every write.
#[derive(Debug, Clone, Default)]
struct Counters {
    next_doc_id: u64,
    object_count: u64,
    dims: BTreeMap<String, u32>,
    /// Length statistics of each searchable property (BM25 averages).
    lengths: BTreeMap<String, LengthStats>,
}

/// The storage of one class.
#[derive(Debug)]
pub(crate) struct Collection {
    class: String,
    shard_name: String,
    dir: PathBuf,
    /// Shared with the snapshot worker.
    shard: Arc<RwLock<Arc<Shard>>>,
    /// Serialises writers: a write reads the old object to maintain the index.
    writer: Mutex<Counters>,
    /// The counters as of the last committed write, for readers: queries never wait on
    /// `writer`, which a write holds through its WAL fsync.
    published: RwLock<Arc<Counters>>,
    declared: Mutex<HashSet<String>>,
    /// Vector indexes (derived from the `vectors` bucket, persisted as snapshots).
    indexes: Arc<VectorIndexes>,
    /// What opening the vector indexes did (also logged).
    load_report: LoadReport,
    /// Writes vector index snapshots in the background; stopped first on close and drop.
    snapshot_worker: Mutex<Option<Worker>>,
    /// How long opening took (recovery, buckets, vector indexes).
    load_took: std::time::Duration,
}

/// A stored counter: absent is 0; anything but 8 bytes is a corrupt `meta` bucket (reading it
/// as 0 would hand out doc ids again).
fn u64_value(bytes: Option<Vec<u8>>, name: &str, dir: &Path) -> Result<u64, DbError> {
    let Some(b) = bytes else { return Ok(0) };
    let raw = <[u8; 8]>::try_from(b.as_slice()).map_err(|_| DbError::Corrupt {
        path: dir.join("lsm").join(META),
        source: crate::error::Corruption::Inconsistent(format!(
            "counter {name} holds {} bytes, expected 8",
            b.len()
        )),
    })?;
    Ok(u64::from_le_bytes(raw))
}

/// Logs what a shard's background threads report.
fn log_storage_event(class: &str, event: &weft_lsm::Event<'_>) {
    match event {
        weft_lsm::Event::FlushFailed { dir, error } => tracing::error!(
            action = "lsm_flush",
            class = %class,
            path = %dir.display(),
            error = %crate::error::chain(*error),
            "flushing the memtable failed; the shard refuses writes until it is reopened"
        ),
        weft_lsm::Event::CompactionFailed { dir, bucket, error } => tracing::warn!(
            action = "lsm_compaction",
            class = %class,
            bucket = %bucket,
            path = %dir.display(),
            error = %crate::error::chain(*error),
            "compaction failed; acknowledged data is untouched, retrying later"
        ),
        _ => {}
    }
}

impl Collection {
    /// Opens (or creates) the shard of `class` under `data_path`.
    pub fn open(
        data_path: &Path,
        class: &ClassDef,
        shard_name: &str,
        options: weft_lsm::Options,
    ) -> Result<(Self, weft_lsm::RecoveryReport), DbError> {
        let opened = std::time::Instant::now();
        let dir = data_path.join(class.name.to_lowercase()).join(shard_name);
        let storage = |source| DbError::Storage {
            class: class.name.clone(),
            shard: shard_name.to_string(),
            source,
        };
        let class_name = class.name.clone();
        let options = options.events(weft_lsm::EventSink::new(move |event| {
            log_storage_event(&class_name, event);
        }));
        let shard = Shard::open(&dir, options).map_err(storage)?;
        for (name, strategy) in [
            (OBJECTS, Strategy::Replace),
            (VECTORS, Strategy::Replace),
            (META, Strategy::Replace),
        ] {
            shard.declare_bucket(name, strategy).map_err(storage)?;
        }
        let report = shard.recovery_report().clone();
        let coll = Self {
            class: class.name.clone(),
            shard_name: shard_name.to_string(),
            dir,
            shard: Arc::new(RwLock::new(Arc::new(shard))),
            writer: Mutex::new(Counters::default()),
            published: RwLock::new(Arc::new(Counters::default())),
            declared: Mutex::new(HashSet::new()),
            indexes: Arc::new(VectorIndexes::default()),
            load_report: LoadReport::default(),
            snapshot_worker: Mutex::new(None),
            load_took: std::time::Duration::ZERO,
        };
        let fresh = coll.declare_property_buckets(class)?;
        {
            let mut counters = coll.writer.lock();
            *counters = coll.load_counters()?;
            coll.publish(&counters);
        }
        // Data written before the property had a searchable index (an older weft) is indexed
        // now, before the shard serves anything.
        coll.build_indexes(class, &fresh, true)?;
        coll.indexes.configure(&class.vectors);
        coll.open_indexes(SnapshotPolicy::default())
            .map(|mut coll| {
                coll.load_took = opened.elapsed();
                (coll, report)
            })
    }

    /// Loads the vector indexes (newest snapshot plus the changes since, see
    /// [`load`]) and starts the background snapshot worker.
    fn open_indexes(mut self, policy: SnapshotPolicy) -> Result<Self, DbError> {
        let (dims, next_doc_id) = {
            let counters = self.writer.lock();
            (counters.dims.clone(), counters.next_doc_id)
        };
        let shard = self.shard();
        self.load_report =
            load::open_indexes(&self.indexes, &shard, &self.class, &dims, next_doc_id)
                .map_err(|e| self.storage(e))?;
        let worker =
            Worker::spawn(self.snapshot_target(), policy).map_err(|source| DbError::Io {
                context: "starting the vector index snapshot worker",
                path: self.dir.clone(),
                source,
            })?;
        *self.snapshot_worker.lock() = Some(worker);
        Ok(self)
    }

    fn snapshot_target(&self) -> SnapshotTarget {
        SnapshotTarget {
            class: self.class.clone(),
            dir: self.dir.clone(),
            shard: Arc::clone(&self.shard),
            indexes: Arc::clone(&self.indexes),
        }
    }

    /// What opening the vector indexes did.
    #[cfg(test)]
    pub(crate) fn load_report(&self) -> &LoadReport {
        &self.load_report
    }

    /// Writes a snapshot of every vector index now (tests); returns how many were written.
    #[cfg(test)]
    pub(crate) fn snapshot_indexes(&self) -> usize {
        self.snapshot_target().snapshot_if(|_| true)
    }

    /// Live vectors in the index of `name` (tests).
    #[cfg(test)]
    pub(crate) fn index_len(&self, name: &str) -> usize {
        self.indexes.entry(name).map_or(0, |e| e.index.len())
    }

    /// Appends the buffered graph operations of every index to its log (tests; the worker
    /// does it every 100 ms).
    #[cfg(test)]
    pub(crate) fn write_graph_logs(&self) -> u64 {
        self.snapshot_target().write_logs()
    }

    /// Compresses the vector indexes whose config asks for it now (tests; the worker does it
    /// in the background); returns how many were compressed.
    #[cfg(test)]
    pub(crate) fn compress_indexes(&self) -> usize {
        self.snapshot_target().compress_due()
    }

    /// Writes a snapshot of every vector index that changed since its last one (before a
    /// backup, so a restored class loads its indexes instead of rebuilding them).
    pub(crate) fn snapshot_changed_indexes(&self) -> usize {
        self.snapshot_target()
            .snapshot_if(|e| e.changes.load(std::sync::atomic::Ordering::Relaxed) > 0)
    }

    fn storage(&self, source: weft_lsm::Error) -> DbError {
        DbError::Storage {
            class: self.class.clone(),
            shard: self.shard_name.clone(),
            source,
        }
    }

    pub(crate) fn shard(&self) -> Arc<Shard> {
        Arc::clone(&self.shard.read())
    }

    /// What a metrics scrape reads.
    pub(crate) fn metrics(&self, status: String) -> crate::db::ShardMetrics {
        let shard = self.shard();
        crate::db::ShardMetrics {
            class: self.class.clone(),
            shard: self.shard_name.clone(),
            status,
            objects: self.object_count(),
            vector_index_sizes: self
                .indexes
                .entries()
                .into_iter()
                .map(|(name, e)| (name, e.index.len() as u64))
                .collect(),
            wal: shard.wal_stats(),
            recovered_records: shard.recovery_report().records_replayed,
            load_seconds: self.load_took.as_secs_f64(),
            vector_inserts: self
                .indexes
                .inserted
                .load(std::sync::atomic::Ordering::Relaxed),
            vector_deletes: self
                .indexes
                .deleted
                .load(std::sync::atomic::Ordering::Relaxed),
            segments: shard
                .segment_stats()
                .into_iter()
                .map(|(name, strategy, n, bytes)| {
                    let strategy = match strategy {
                        Strategy::Replace => "replace",
                        Strategy::Set => "set",
                        Strategy::Map => "map",
                        Strategy::RoaringSet => "roaringset",
                        _ => "other",
                    };
                    (name, strategy, n, bytes)
                })
                .collect(),
        }
    }

    /// The shard's name.
    pub fn shard_name(&self) -> &str {
        &self.shard_name
    }

    /// The shard directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether an I/O failure poisoned the shard (it refuses writes until reopened).
    pub fn is_poisoned(&self) -> bool {
        self.shard().is_poisoned()
    }

    /// Makes a poisoned shard safe to reopen in this process ([`Shard::repair`]).
    pub fn repair(&self) -> Result<(), DbError> {
        self.shard().repair().map_err(|e| self.storage(e))
    }

    fn load_counters(&self) -> Result<Counters, DbError> {
        let shard = self.shard();
        let get = |key: &[u8]| shard.get(META, key).map_err(|e| self.storage(e));
        let mut counters = Counters {
            next_doc_id: u64_value(get(NEXT_DOC_ID)?, "next_doc_id", &self.dir)?,
            object_count: u64_value(get(OBJECT_COUNT)?, "object_count", &self.dir)?,
            dims: BTreeMap::new(),
            lengths: BTreeMap::new(),
        };
        for (key, value) in shard
            .prefix_scan(META, b"dims/", usize::MAX)
            .map_err(|e| self.storage(e))?
        {
            let weft_lsm::Value::Bytes(bytes) = value else {
                continue;
            };
            let name = String::from_utf8_lossy(key.get(5..).unwrap_or_default()).into_owned();
            let raw = <[u8; 4]>::try_from(bytes.as_slice()).map_err(|_| DbError::Corrupt {
                path: self.dir.join("lsm").join(META),
                source: crate::error::Corruption::Inconsistent(format!(
                    "vector dimensions of {name:?} hold {} bytes, expected 4",
                    bytes.len()
                )),
            })?;
            counters.dims.insert(name, u32::from_le_bytes(raw));
        }
        for (key, value) in shard
            .prefix_scan(META, PROPLEN.as_bytes(), usize::MAX)
            .map_err(|e| self.storage(e))?
        {
            let weft_lsm::Value::Bytes(bytes) = value else {
                continue;
            };
            let name =
                String::from_utf8_lossy(key.get(PROPLEN.len()..).unwrap_or_default()).into_owned();
            let stats = LengthStats::decode(&bytes).ok_or_else(|| DbError::Corrupt {
                path: self.dir.join("lsm").join(META),
                source: crate::error::Corruption::Inconsistent(format!(
                    "length statistics of {name:?} hold {} bytes, expected 16",
                    bytes.len()
                )),
            })?;
            counters.lengths.insert(name, stats);
        }
        Ok(counters)
    }

    /// Declares the index buckets of every indexed filterable and every searchable property
    /// of `class`; returns the properties whose buckets were declared now.
    pub(crate) fn declare_property_buckets(&self, class: &ClassDef) -> Result<Fresh, DbError> {
        let shard = self.shard();
        let mut declared = self.declared.lock();
        let mut fresh = Fresh::default();
        for prop in &class.properties {
            if prop.index_filterable && is_indexed(&prop.data_type) {
                let bucket = bucket_name(&prop.name);
                if declared.insert(bucket.clone()) {
                    shard
                        .declare_bucket(&bucket, Strategy::RoaringSet)
                        .map_err(|e| self.storage(e))?;
                    if prop.is_reference() {
                        fresh.references.push(prop.name.clone());
                    }
                }
            }
            if is_searchable(prop) {
                let bucket = searchable_bucket(&prop.name);
                if declared.insert(bucket.clone()) {
                    shard
                        .declare_bucket(&bucket, Strategy::Map)
                        .map_err(|e| self.storage(e))?;
                    fresh.searchable.push(prop.name.clone());
                }
            }
        }
        Ok(fresh)
    }

    /// Takes the class's (updated) vector index settings.
    pub(crate) fn configure_indexes(&self, class: &ClassDef) {
        self.indexes.configure(&class.vectors);
    }

    /// Whether any vector index of the shard holds compressed vectors.
    pub fn vectors_compressed(&self) -> bool {
        self.indexes.any_compressed()
    }

    /// Number of objects.
    pub fn object_count(&self) -> u64 {
        self.published.read().object_count
    }

    /// Makes `counters` (just committed, `writer` held) what readers see.
    fn publish(&self, counters: &Counters) {
        *self.published.write() = Arc::new(counters.clone());
    }

    /// Reads one object (vectors included when `with_vectors`).
    pub fn get(&self, id: Uuid, with_vectors: bool) -> Result<Option<StoredObject>, DbError> {
        let shard = self.shard();
        let Some(bytes) = shard
            .get(OBJECTS, id.as_bytes())
            .map_err(|e| self.storage(e))?
        else {
            return Ok(None);
        };
        let mut obj = self.decode(id, &bytes)?;
        if with_vectors {
            self.load_vectors(&shard, &mut obj)?;
        }
        Ok(Some(obj))
    }

    /// Decodes a row of the `objects` bucket (its key is the uuid).
    fn decode_row(&self, key: &[u8], bytes: &[u8]) -> Result<StoredObject, DbError> {
        let id = Uuid::from_slice(key).map_err(|_| DbError::Record {
            class: self.class.clone(),
            shard: self.shard_name.clone(),
            key: format!("{key:02x?}"),
            source: record::RecordError::Truncated(key.len()),
        })?;
        self.decode(id, bytes)
    }

    fn decode(&self, id: Uuid, bytes: &[u8]) -> Result<StoredObject, DbError> {
        record::decode_object(&self.class, id, bytes).map_err(|source| DbError::Record {
            class: self.class.clone(),
            shard: self.shard_name.clone(),
            key: id.to_string(),
            source,
        })
    }

    fn load_vectors(&self, shard: &Shard, obj: &mut StoredObject) -> Result<(), DbError> {
        let prefix = vector_key(obj.doc_id, "");
        for (key, value) in shard
            .prefix_scan(VECTORS, &prefix, usize::MAX)
            .map_err(|e| self.storage(e))?
        {
            let (Some((_, name)), weft_lsm::Value::Bytes(bytes)) =
                (record::parse_vector_key(&key), value)
            else {
                continue;
            };
            let v = decode_vector(&bytes).map_err(|source| DbError::Record {
                class: self.class.clone(),
                shard: self.shard_name.clone(),
                key: format!("vector {name:?} of {}", obj.id),
                source,
            })?;
            obj.vectors.insert(name, v);
        }
        Ok(())
    }

    /// Objects in id order after `after` (exclusive), skipping `offset`, at most `limit`.
    pub fn list(
        &self,
        after: Option<Uuid>,
        offset: u64,
        limit: u64,
        with_vectors: bool,
    ) -> Result<Vec<StoredObject>, DbError> {
        let shard = self.shard();
        let lo = after.map(|a| a.as_bytes().to_vec());
        let lo = lo.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let want = usize::try_from(offset.saturating_add(limit)).unwrap_or(usize::MAX);
        let rows = shard
            .scan(OBJECTS, lo, Bound::Unbounded, want)
            .map_err(|e| self.storage(e))?;
        let mut out = Vec::new();
        for (key, value) in rows
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        {
            let weft_lsm::Value::Bytes(bytes) = value else {
                continue;
            };
            let mut obj = self.decode_row(&key, &bytes)?;
            if with_vectors {
                self.load_vectors(&shard, &mut obj)?;
            }
            out.push(obj);
        }
        Ok(out)
    }

    /// Applies `writes` in one durable batch. Returns one result per write, in order; the
    /// batch is all-or-nothing on the storage side (a storage error fails every write).
    pub fn put(
        &self,
        class: &ClassDef,
        writes: Vec<PreparedWrite>,
        mode: WriteMode,
    ) -> Result<Vec<Result<StoredObject, DbError>>, DbError> {
        let changes = writes.into_iter().map(|w| Change::Write(w, mode)).collect();
        self.apply(class, changes)
    }

    /// Applies reference edits in one durable batch, each a new version of its source object
    /// computed from the current one under the writer lock (so concurrent edits of one object
    /// never lose each other). One result per edit, in order; an edit that changes nothing
    /// (removing a beacon the object does not hold) writes nothing.
    pub(crate) fn edit_references(
        &self,
        class: &ClassDef,
        edits: Vec<RefEdit>,
    ) -> Result<Vec<Result<StoredObject, DbError>>, DbError> {
        self.apply(class, edits.into_iter().map(Change::Refs).collect())
    }

    fn apply(
        &self,
        class: &ClassDef,
        changes: Vec<Change>,
    ) -> Result<Vec<Result<StoredObject, DbError>>, DbError> {
        let fresh = self.declare_property_buckets(class)?;
        self.build_indexes(class, &fresh, false)?;
        let shard = self.shard();
        let mut counters = self.writer.lock();
        let mut next = counters.clone();
        let mut staged: HashMap<Uuid, Option<StoredObject>> = HashMap::new();
        let mut batch = WriteBatch::new();
        let mut delta = IndexDelta::default();
        let mut results = Vec::with_capacity(changes.len());
        let mut index_changes = Vec::new();
        let now = now_ms();
        for change in changes {
            let id = change.id();
            let old = match staged.get(&id) {
                Some(old) => old.clone(),
                None => self.get(id, true)?,
            };
            let (write, mode) = match change {
                Change::Write(write, mode) => (write, mode),
                Change::Refs(edit) => match edit.apply(&self.class, old.as_ref()) {
                    Ok(Some(write)) => (write, WriteMode::Replace),
                    Ok(None) => {
                        results.push(old.ok_or_else(|| {
                            UserError::ObjectNotFound {
                                class: self.class.clone(),
                                id,
                            }
                            .into()
                        }));
                        continue;
                    }
                    Err(err) => {
                        results.push(Err(err));
                        continue;
                    }
                },
            };
            let old_vectors = old
                .as_ref()
                .map(|o| (o.doc_id, o.vectors.keys().cloned().collect()));
            match self.stage(
                class,
                (&mut batch, &mut delta),
                &mut next,
                old,
                write,
                mode,
                now,
            ) {
                Ok(obj) => {
                    index_changes.push(IndexChange {
                        old: old_vectors,
                        new: (obj.doc_id, obj.vectors.clone()),
                    });
                    staged.insert(obj.id, Some(obj.clone()));
                    results.push(Ok(obj));
                }
                Err(err) => results.push(Err(err)),
            }
        }
        if batch.is_empty() {
            return Ok(results);
        }
        delta.stage(&mut batch);
        self.stage_counters(&mut batch, &counters, &next);
        let lsn = shard.write(&batch).map_err(|e| self.storage(e))?;
        *counters = next;
        self.publish(&counters);
        // Only vectors the indexes do not know yet: settings of known ones change through
        // `Db::update_class`, and this class may have been read before such an update.
        self.indexes.configure_missing(&class.vectors);
        let applying = self.indexes.apply_gate.read();
        index_change::apply(&self.indexes, &self.class, index_changes);
        self.indexes.advance(counters.next_doc_id, lsn);
        drop(applying);
        Ok(results)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "internal step of apply, keeps one lock scope"
    )]
    fn stage(
        &self,
        class: &ClassDef,
        (batch, delta): (&mut WriteBatch, &mut IndexDelta),
        counters: &mut Counters,
        old: Option<StoredObject>,
        write: PreparedWrite,
        mode: WriteMode,
        now: i64,
    ) -> Result<StoredObject, DbError> {
        match (mode, &old) {
            (WriteMode::Insert, Some(_)) => return Err(UserError::ObjectExists(write.id).into()),
            (WriteMode::Replace | WriteMode::Merge, None) => {
                return Err(UserError::ObjectNotFound {
                    class: self.class.clone(),
                    id: write.id,
                }
                .into());
            }
            _ => {}
        }
        let (mut properties, mut vectors) = (write.properties, write.vectors);
        if let (WriteMode::Merge, Some(old)) = (mode, &old) {
            let mut merged = old.properties.clone();
            merged.extend(properties);
            properties = merged;
            let mut merged_vectors = old.vectors.clone();
            merged_vectors.extend(vectors);
            vectors = merged_vectors;
        }
        let mut new_dims = Vec::new();
        for (name, v) in &vectors {
            let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
            match counters.dims.get(name) {
                Some(&d) if d != len => {
                    let which = if name.is_empty() {
                        String::new()
                    } else {
                        format!(" (vector {name:?})")
                    };
                    return Err(UserError::Invalid(format!(
                        "new node has a vector with length {len}. Existing nodes have vectors with length {d}{which}"
                    ))
                    .into());
                }
                Some(_) => {}
                None => new_dims.push((name.clone(), len)),
            }
        }
        counters.dims.extend(new_dims);
        // Every write gets a fresh doc id (as in Weaviate): the vector index never sees a
        // doc id change its vector, it tombstones the old id instead.
        let doc_id = counters.next_doc_id;
        counters.next_doc_id += 1;
        if old.is_none() {
            counters.object_count += 1;
        }
        let obj = StoredObject {
            class: self.class.clone(),
            id: write.id,
            doc_id,
            properties,
            vectors,
            created_ms: old.as_ref().map_or(now, |o| o.created_ms),
            updated_ms: now,
        };
        if let Some(old) = &old {
            delta.filterable(
                old.doc_id,
                &index_entries(class, &old.properties),
                &BTreeSet::new(),
            );
            for name in old.vectors.keys() {
                batch.delete(VECTORS, &vector_key(old.doc_id, name));
            }
            let entries = searchable_entries(class, &old.properties);
            delta.postings(old.doc_id, &entries, false);
            track_lengths(&mut counters.lengths, &entries, false);
        }
        delta.filterable(
            doc_id,
            &BTreeSet::new(),
            &index_entries(class, &obj.properties),
        );
        let entries = searchable_entries(class, &obj.properties);
        delta.postings(doc_id, &entries, true);
        track_lengths(&mut counters.lengths, &entries, true);
        for (name, v) in &obj.vectors {
            batch.put(VECTORS, &vector_key(doc_id, name), &encode_vector(v));
        }
        let rec = record::encode_object(&obj);
        batch.put_with_secondary(OBJECTS, obj.id.as_bytes(), &rec, &[&doc_id.to_le_bytes()]);
        Ok(obj)
    }

    /// The doc ids of the `k` nearest neighbours with their distances (nothing loaded).
    pub(crate) fn near_vector_ids(
        &self,
        name: &str,
        q: &[f32],
        k: usize,
        allow: Option<&roaring::RoaringBitmap>,
    ) -> Result<Vec<(u64, f32)>, DbError> {
        let shard = self.shard();
        // Rescoring of compressed indexes: the f32 vectors, read from the vectors bucket.
        let source = |ids: &[u32]| -> Result<Vec<Option<Vec<f32>>>, weft_hnsw::IndexError> {
            let keys: Vec<Vec<u8>> = ids
                .iter()
                .map(|&id| vector_key(u64::from(id), name))
                .collect();
            let values = shard
                .get_many(VECTORS, &keys)
                .map_err(|e| weft_hnsw::IndexError::Source(e.to_string()))?;
            // A value that does not decode is a damaged record: fail the search, do not answer
            // from estimates without saying so.
            values
                .into_iter()
                .map(|v| {
                    v.map(|b| record::decode_vector(&b))
                        .transpose()
                        .map_err(|e| weft_hnsw::IndexError::Source(e.to_string()))
                })
                .collect()
        };
        let hits = self
            .indexes
            .search(name, q, k, allow, &source)
            .map_err(|e| match e {
                // The vectors bucket could not be read for rescoring: a storage failure.
                weft_hnsw::IndexError::Source(msg) => DbError::Io {
                    context: "cannot read the vectors to rescore a compressed search",
                    path: self.dir.clone(),
                    source: std::io::Error::other(msg),
                },
                e => DbError::User(UserError::Invalid(format!("vector search: {e}"))),
            })?;
        Ok(hits
            .into_iter()
            .map(|h| (u64::from(h.id), h.distance))
            .collect())
    }

    /// The uuid of the live object with internal id `doc_id`, without decoding it.
    pub(crate) fn uuid_of(&self, doc_id: u64) -> Result<Option<Uuid>, DbError> {
        let found = self
            .shard()
            .get_by_secondary(OBJECTS, 0, &doc_id.to_le_bytes())
            .map_err(|e| self.storage(e))?;
        Ok(found.and_then(|(pkey, _)| Uuid::from_slice(&pkey).ok()))
    }

    /// The live object with internal id `doc_id`.
    pub(crate) fn by_doc_id(
        &self,
        doc_id: u64,
        with_vectors: bool,
    ) -> Result<Option<StoredObject>, DbError> {
        let shard = self.shard();
        let Some((pkey, bytes)) = shard
            .get_by_secondary(OBJECTS, 0, &doc_id.to_le_bytes())
            .map_err(|e| self.storage(e))?
        else {
            return Ok(None);
        };
        let Ok(id) = Uuid::from_slice(&pkey) else {
            return Ok(None);
        };
        let mut obj = self.decode(id, &bytes)?;
        if with_vectors {
            self.load_vectors(&shard, &mut obj)?;
        }
        Ok(Some(obj))
    }

    /// Filterable index of `property`: the union of the doc ids under the keys in `(lo, hi)`
    /// that `keep` accepts, streamed from one snapshot of the bucket.
    pub(crate) fn index_union(
        &self,
        property: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        keep: impl Fn(&[u8]) -> bool,
    ) -> Result<roaring::RoaringTreemap, DbError> {
        let rows = self
            .shard()
            .range(&bucket_name(property), lo, hi)
            .map_err(|e| self.storage(e))?;
        let mut out = roaring::RoaringTreemap::new();
        for row in rows {
            let (key, value) = row.map_err(|e| self.storage(e))?;
            if let weft_lsm::Value::Bitmap(b) = value
                && keep(&key)
            {
                out |= b;
            }
        }
        Ok(out)
    }

    /// Filterable index of `property`: the doc ids under `key`.
    pub(crate) fn index_get(
        &self,
        property: &str,
        key: &[u8],
    ) -> Result<roaring::RoaringTreemap, DbError> {
        self.shard()
            .roaring_get(&bucket_name(property), key)
            .map_err(|e| self.storage(e))
    }

    fn stage_counters(&self, batch: &mut WriteBatch, old: &Counters, new: &Counters) {
        batch.put(META, NEXT_DOC_ID, &new.next_doc_id.to_le_bytes());
        batch.put(META, OBJECT_COUNT, &new.object_count.to_le_bytes());
        for (name, d) in &new.dims {
            if old.dims.get(name) != Some(d) {
                batch.put(META, format!("dims/{name}").as_bytes(), &d.to_le_bytes());
            }
        }
        for (name, s) in &new.lengths {
            if old.lengths.get(name) != Some(s) {
                batch.put(META, format!("{PROPLEN}{name}").as_bytes(), &s.encode());
            }
        }
    }

    /// Deletes an object; `false` if it did not exist.
    pub fn delete(&self, class: &ClassDef, id: Uuid) -> Result<bool, DbError> {
        Ok(!self.delete_many(class, &[id])?.is_empty())
    }

    /// Deletes the objects with these ids in one atomic write (object, index entries, vectors
    /// and counters together); returns the ids that existed.
    pub fn delete_many(&self, class: &ClassDef, ids: &[Uuid]) -> Result<Vec<Uuid>, DbError> {
        let shard = self.shard();
        let mut counters = self.writer.lock();
        let mut batch = WriteBatch::new();
        let mut delta = IndexDelta::default();
        let mut next = counters.clone();
        let mut gone = Vec::new();
        let mut seen = HashSet::new();
        for &id in ids {
            if !seen.insert(id) {
                continue;
            }
            let Some(old) = self.get(id, true)? else {
                continue;
            };
            batch.delete(OBJECTS, id.as_bytes());
            for name in old.vectors.keys() {
                batch.delete(VECTORS, &vector_key(old.doc_id, name));
            }
            delta.filterable(
                old.doc_id,
                &index_entries(class, &old.properties),
                &BTreeSet::new(),
            );
            let entries = searchable_entries(class, &old.properties);
            delta.postings(old.doc_id, &entries, false);
            track_lengths(&mut next.lengths, &entries, false);
            next.object_count = next.object_count.saturating_sub(1);
            gone.push(old);
        }
        if gone.is_empty() {
            return Ok(Vec::new());
        }
        delta.stage(&mut batch);
        self.stage_counters(&mut batch, &counters, &next);
        let lsn = shard.write(&batch).map_err(|e| self.storage(e))?;
        *counters = next;
        self.publish(&counters);
        let applying = self.indexes.apply_gate.read();
        for old in &gone {
            for name in old.vectors.keys() {
                self.indexes.delete(name, old.doc_id);
            }
        }
        self.indexes.advance(counters.next_doc_id, lsn);
        drop(applying);
        Ok(gone.into_iter().map(|o| o.id).collect())
    }

    /// Every `(doc id, vector name)` key of the `vectors` bucket.
    pub fn vector_keys(&self) -> Result<Vec<(u64, String)>, DbError> {
        let rows = self
            .shard()
            .scan(VECTORS, Bound::Unbounded, Bound::Unbounded, usize::MAX)
            .map_err(|e| self.storage(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, _)| record::parse_vector_key(&k))
            .collect())
    }

    /// Every key of a property's filterable index with its doc ids.
    pub fn index_scan(
        &self,
        property: &str,
    ) -> Result<Vec<(Vec<u8>, weft_lsm::RoaringTreemap)>, DbError> {
        let rows = self
            .shard()
            .scan(
                &bucket_name(property),
                Bound::Unbounded,
                Bound::Unbounded,
                usize::MAX,
            )
            .map_err(|e| self.storage(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, v)| match v {
                weft_lsm::Value::Bitmap(b) if !b.is_empty() => Some((k, b)),
                _ => None,
            })
            .collect())
    }

    /// Orderly close: stops the snapshot worker, snapshots every vector index changed since
    /// its last snapshot, flushes memtables and releases the shard directory.
    pub fn close(self) -> Result<(), DbError> {
        if let Some(mut worker) = self.snapshot_worker.lock().take() {
            worker.stop();
        }
        // No writer can run any more (`self` is owned), so the watermark is final.
        let target = self.snapshot_target();
        target.snapshot_if(|e| e.changes.load(std::sync::atomic::Ordering::Relaxed) > 0);
        // What the unchanged indexes logged since (cleanups) is kept for the next open.
        target.write_logs();
        drop(target);
        let shard = match Arc::try_unwrap(self.shard) {
            Ok(slot) => slot.into_inner(),
            Err(shared) => Arc::clone(&shared.read()),
        };
        match Arc::try_unwrap(shard) {
            Ok(shard) => shard.close().map_err(|source| DbError::Storage {
                class: self.class,
                shard: self.shard_name,
                source,
            }),
            // Still referenced by a reader: its drop closes the files; the WAL is durable.
            Err(_) => Ok(()),
        }
    }
}
