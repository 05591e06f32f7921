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
use weft_inverted::postings::{self, Analyzed, LengthStats, Posting};
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

/// A term of a searchable index with its postings.
pub type TermPostings = (Vec<u8>, Vec<Posting>);

/// A write that passed validation: coerced properties and checked vector names.
#[derive(Debug, Clone)]
pub(crate) struct PreparedWrite {
    pub id: Uuid,
    pub properties: serde_json::Map<String, serde_json::Value>,
    pub vectors: BTreeMap<String, Vec<f32>>,
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
        coll.build_searchable(class, &fresh, true)?;
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
    /// of `class`; returns the searchable properties declared now.
    pub fn declare_property_buckets(&self, class: &ClassDef) -> Result<Vec<String>, DbError> {
        let shard = self.shard();
        let mut declared = self.declared.lock();
        let mut fresh = Vec::new();
        for prop in &class.properties {
            if prop.index_filterable && is_indexed(&prop.data_type) {
                let bucket = bucket_name(&prop.name);
                if declared.insert(bucket.clone()) {
                    shard
                        .declare_bucket(&bucket, Strategy::RoaringSet)
                        .map_err(|e| self.storage(e))?;
                }
            }
            if is_searchable(prop) {
                let bucket = searchable_bucket(&prop.name);
                if declared.insert(bucket.clone()) {
                    shard
                        .declare_bucket(&bucket, Strategy::Map)
                        .map_err(|e| self.storage(e))?;
                    fresh.push(prop.name.clone());
                }
            }
        }
        Ok(fresh)
    }

    /// Makes the searchable index of `props` complete: for each without its `searchable/`
    /// marker, the postings of every object (`scan`; at open, for data written before the
    /// index existed) in batches of [`BUILD_BATCH`] objects, then its length statistics and
    /// the marker in one last record. A crash midway rebuilds at the next open (postings are
    /// rewritten with the same values; the statistics are recomputed). A property added to a
    /// live class is held by no object yet, so `scan` is false and only the marker is written.
    fn build_searchable(
        &self,
        class: &ClassDef,
        props: &[String],
        scan: bool,
    ) -> Result<(), DbError> {
        if props.is_empty() {
            return Ok(());
        }
        let shard = self.shard();
        let mut counters = self.writer.lock();
        let mut missing = Vec::new();
        for name in props {
            let marker = format!("{SEARCHABLE_BUILT}{name}");
            if shard
                .get(META, marker.as_bytes())
                .map_err(|e| self.storage(e))?
                .is_none()
            {
                missing.push(name.clone());
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        // Without a scan (a property added to a live class), a concurrent writer may already
        // have written objects holding it before this marker: keep what it counted.
        let mut stats: BTreeMap<String, LengthStats> = missing
            .iter()
            .map(|n| {
                let kept = if scan {
                    LengthStats::default()
                } else {
                    counters.lengths.get(n).copied().unwrap_or_default()
                };
                (n.clone(), kept)
            })
            .collect();
        if scan && counters.object_count > 0 {
            let mut sub = class.clone();
            sub.properties.retain(|p| missing.contains(&p.name));
            tracing::info!(
                action = "searchable_index_build",
                class = %self.class,
                shard = %self.shard_name,
                properties = ?missing,
                objects = counters.object_count,
                "building the searchable index of existing objects"
            );
            let rows = shard
                .range(OBJECTS, Bound::Unbounded, Bound::Unbounded)
                .map_err(|e| self.storage(e))?;
            let mut batch = WriteBatch::new();
            let mut delta = IndexDelta::default();
            let (mut in_batch, mut done) = (0usize, 0u64);
            for row in rows {
                let (key, value) = row.map_err(|e| self.storage(e))?;
                let weft_lsm::Value::Bytes(bytes) = value else {
                    continue;
                };
                let obj = self.decode_row(&key, &bytes)?;
                let entries = searchable_entries(&sub, &obj.properties);
                delta.postings(obj.doc_id, &entries, true);
                for (name, a) in &entries {
                    if let Some(s) = stats.get_mut(name) {
                        s.track(a.tracked_length(), true);
                    }
                }
                in_batch += 1;
                done += 1;
                if in_batch == BUILD_BATCH {
                    std::mem::take(&mut delta).stage(&mut batch);
                    if !batch.is_empty() {
                        shard.write(&batch).map_err(|e| self.storage(e))?;
                    }
                    batch = WriteBatch::new();
                    in_batch = 0;
                    if done % (BUILD_BATCH as u64 * 64) == 0 {
                        tracing::info!(
                            action = "searchable_index_build_progress",
                            class = %self.class,
                            shard = %self.shard_name,
                            done,
                            objects = counters.object_count,
                            "building the searchable index"
                        );
                    }
                }
            }
            delta.stage(&mut batch);
            if !batch.is_empty() {
                shard.write(&batch).map_err(|e| self.storage(e))?;
            }
        }
        let mut batch = WriteBatch::new();
        for (name, s) in &stats {
            batch.put(META, format!("{PROPLEN}{name}").as_bytes(), &s.encode());
            batch.put(META, format!("{SEARCHABLE_BUILT}{name}").as_bytes(), &[1]);
        }
        shard.write(&batch).map_err(|e| self.storage(e))?;
        counters.lengths.extend(stats);
        self.publish(&counters);
        Ok(())
    }

    /// The postings of `term` in the searchable index of `property`, in doc-id order.
    pub(crate) fn postings(&self, property: &str, term: &str) -> Result<Vec<Posting>, DbError> {
        let bucket = searchable_bucket(property);
        let mut out = Vec::new();
        let mut bad = None;
        self.shard()
            .map_for_each(
                &bucket,
                term.as_bytes(),
                &mut |k, v| match postings::decode(k, v) {
                    Some(p) => out.push(p),
                    None => bad = Some((k.len(), v.len())),
                },
            )
            .map_err(|e| self.storage(e))?;
        if let Some((k, v)) = bad {
            return Err(DbError::Corrupt {
                path: self.dir.join("lsm").join(&bucket),
                source: crate::error::Corruption::Inconsistent(format!(
                    "posting of term {term:?} has a {k}-byte key and a {v}-byte value, expected 8 and 8"
                )),
            });
        }
        Ok(out)
    }

    /// Length statistics of a searchable property.
    pub(crate) fn length_stats(&self, property: &str) -> LengthStats {
        self.published
            .read()
            .lengths
            .get(property)
            .copied()
            .unwrap_or_default()
    }

    /// Every term of a property's searchable index with its postings (`weft verify`).
    pub fn searchable_scan(&self, property: &str) -> Result<Vec<TermPostings>, DbError> {
        let bucket = searchable_bucket(property);
        let rows = self
            .shard()
            .scan(&bucket, Bound::Unbounded, Bound::Unbounded, usize::MAX)
            .map_err(|e| self.storage(e))?;
        let mut out = Vec::new();
        for (term, value) in rows {
            let weft_lsm::Value::Map(map) = value else {
                continue;
            };
            let mut list = Vec::with_capacity(map.len());
            for (k, v) in &map {
                list.push(postings::decode(k, v).ok_or_else(|| DbError::Corrupt {
                    path: self.dir.join("lsm").join(&bucket),
                    source: crate::error::Corruption::Inconsistent(format!(
                        "posting of term {:?} does not decode",
                        String::from_utf8_lossy(&term)
                    )),
                })?);
            }
            if !list.is_empty() {
                out.push((term, list));
            }
        }
        Ok(out)
    }

    /// Every searchable property's length statistics as kept in memory (`weft verify`).
    pub fn all_length_stats(&self) -> BTreeMap<String, LengthStats> {
        self.published.read().lengths.clone()
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
        let fresh = self.declare_property_buckets(class)?;
        self.build_searchable(class, &fresh, false)?;
        let shard = self.shard();
        let mut counters = self.writer.lock();
        let mut next = counters.clone();
        let mut staged: HashMap<Uuid, Option<StoredObject>> = HashMap::new();
        let mut batch = WriteBatch::new();
        let mut delta = IndexDelta::default();
        let mut results = Vec::with_capacity(writes.len());
        let mut changes = Vec::new();
        let now = now_ms();
        for write in writes {
            let old = match staged.get(&write.id) {
                Some(old) => old.clone(),
                None => self.get(write.id, true)?,
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
                    changes.push(IndexChange {
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
        self.indexes.configure(&class.vectors);
        index_change::apply(&self.indexes, &self.class, changes);
        self.indexes.advance(counters.next_doc_id, lsn);
        Ok(results)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "internal step of put, keeps one lock scope"
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
        let hits = self
            .indexes
            .search(name, q, k, allow)
            .map_err(|e| DbError::User(UserError::Invalid(format!("vector search: {e}"))))?;
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
        for old in &gone {
            for name in old.vectors.keys() {
                self.indexes.delete(name, old.doc_id);
            }
        }
        self.indexes.advance(counters.next_doc_id, lsn);
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
        self.snapshot_target()
            .snapshot_if(|e| e.changes.load(std::sync::atomic::Ordering::Relaxed) > 0);
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

/// Index changes of a batch grouped by bucket and key, so that a batch of many objects
/// writes one operation per distinct token instead of one per (token, object). Within a key,
/// additions are emitted before removals: a doc id is added once, when its object version is
/// written, and removed only later (every write takes a fresh doc id), so this order is the
/// order the writes happened in.
#[derive(Debug, Default)]
struct IndexDelta {
    /// Filterable index: (bucket, key) → (added, removed) doc ids.
    filterable: BTreeMap<IndexKey, (Vec<u64>, Vec<u64>)>,
    /// Searchable index: (bucket, token) → (postings put, doc keys removed).
    searchable: BTreeMap<IndexKey, SearchableChange>,
}

/// A bucket and a key in it.
type IndexKey = (String, Vec<u8>);

/// Postings put (doc key, value) and doc keys removed under one token.
type SearchableChange = (Vec<(Vec<u8>, Vec<u8>)>, Vec<Vec<u8>>);

impl IndexDelta {
    /// The filterable keys of one document version: `old` removed, `new` added.
    fn filterable(
        &mut self,
        doc_id: u64,
        old: &BTreeSet<(String, Vec<u8>)>,
        new: &BTreeSet<(String, Vec<u8>)>,
    ) {
        for key in old.difference(new) {
            self.filterable
                .entry(key.clone())
                .or_default()
                .1
                .push(doc_id);
        }
        for key in new.difference(old) {
            self.filterable
                .entry(key.clone())
                .or_default()
                .0
                .push(doc_id);
        }
    }

    /// Adds (`add`) or removes the postings of one document version.
    fn postings(&mut self, doc_id: u64, entries: &BTreeMap<String, Analyzed>, add: bool) {
        let key = postings::doc_key(doc_id).to_vec();
        for (prop, analyzed) in entries {
            let bucket = searchable_bucket(prop);
            for (term, &tf) in &analyzed.terms {
                let change = self
                    .searchable
                    .entry((bucket.clone(), term.as_bytes().to_vec()))
                    .or_default();
                if add {
                    change.0.push((
                        key.clone(),
                        postings::encode_value(tf, analyzed.tokens).to_vec(),
                    ));
                } else {
                    change.1.push(key.clone());
                }
            }
        }
    }

    /// Moves the grouped changes into `batch`.
    fn stage(self, batch: &mut WriteBatch) {
        for ((bucket, key), (added, removed)) in self.filterable {
            if !added.is_empty() {
                batch.roaring_add(&bucket, &key, &added);
            }
            if !removed.is_empty() {
                batch.roaring_remove(&bucket, &key, &removed);
            }
        }
        for ((bucket, key), (put, removed)) in self.searchable {
            if !put.is_empty() {
                batch.map_put_many(&bucket, &key, put);
            }
            if !removed.is_empty() {
                batch.map_remove_many(&bucket, &key, removed);
            }
        }
    }
}

fn track_lengths(
    lengths: &mut BTreeMap<String, LengthStats>,
    entries: &BTreeMap<String, Analyzed>,
    add: bool,
) {
    for (prop, analyzed) in entries {
        lengths
            .entry(prop.clone())
            .or_default()
            .track(analyzed.tracked_length(), add);
    }
}
