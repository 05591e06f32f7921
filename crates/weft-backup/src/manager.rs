//! The backup and restore jobs.
//!
//! One job at a time (a backup or a restore). Requests are validated up front and answered at
//! once with `STARTED`; the job runs on the runtime, its file work on blocking threads, and
//! records its progress in the backend's descriptor (`backup_config.json` /
//! `restore_config.json`) and in the log. A job that a crash or `kill -9` interrupted leaves a
//! staging directory in the data directory: at the next start its descriptor is marked FAILED
//! and the directory removed ([`Manager::recover`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use weft_api::backup::{
    CompressionLevel, CreateRequest, JobReply, ListItem, Status, ZERO_TIME, size_gib,
};
use weft_db::Db;

use crate::backend::{Backend, BackendConfig};
use crate::chain::ChainReader;
use crate::chunk::{self, ChunkBuilder};
use crate::error::{BackupError, Result};
use crate::format::{
    self, ClassManifest, Descriptor, FileEntry, NodeManifest, NodeSummary, STRUCTURE_VERSION,
    ShardManifest, WEFT_FORMAT,
};
mod restore;

use crate::request::{
    check_format, compression, cpu_percentage, invalid_id, list_text, no_duplicates, no_overrides,
    select, valid_id,
};

/// A staged shard to chunk: its name, directory, files, and the files of its copy in the
/// base backup (by path).
type ShardFiles = (
    String,
    PathBuf,
    Vec<weft_db::backup::StagedFile>,
    HashMap<String, FileEntry>,
);

/// Prefix of a backup's staging directory in the data directory.
pub const BACKUP_STAGING: &str = ".backup-staging-";
/// Prefix of a restore's staging directory in the data directory.
pub const RESTORE_STAGING: &str = ".restore-staging-";
/// The job file inside a staging directory.
const JOB_FILE: &str = "JOB.json";

/// Settings of the backup jobs.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// This node's name.
    pub node: String,
    /// weft's version, recorded in the descriptors.
    pub server_version: String,
    /// Target size of a chunk (bytes of file data before compression).
    pub chunk_size: u64,
    /// A pause after every chunk stored or fetched: only for tests that must interrupt a job
    /// in the middle (`WEFT_BACKUP_TEST_CHUNK_PAUSE_MS`).
    pub test_chunk_pause: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Backup,
    Restore,
}

/// What a staging directory's `JOB.json` says.
#[derive(Debug, Serialize, Deserialize)]
struct JobFile {
    kind: Kind,
    backend: String,
    id: String,
}

#[derive(Debug)]
struct Progress {
    status: Status,
    error: Option<String>,
    completed_at: Option<String>,
    size: u64,
    /// The longest pin of the job's shards (writers wait at most this long).
    pin_took: std::time::Duration,
}

#[derive(Debug)]
pub(crate) struct Job {
    kind: Kind,
    backend: &'static str,
    id: String,
    path: String,
    classes: Vec<String>,
    started_at: String,
    base: Option<String>,
    cancel: AtomicBool,
    progress: Mutex<Progress>,
}

impl Job {
    /// Moves to `status`, unless a cancel is under way (CANCELLING stays until the end).
    fn set(&self, status: Status) {
        let mut p = self.progress.lock();
        if p.status != Status::Cancelling {
            p.status = status;
        }
    }

    /// Ends the job as FAILED before its task started.
    fn fail_early(&self, e: &BackupError) {
        let mut p = self.progress.lock();
        p.status = Status::Failed;
        p.error = Some(e.message.clone());
        p.completed_at = Some(now());
    }

    fn reply(&self) -> JobReply {
        let p = self.progress.lock();
        let backup = self.kind == Kind::Backup;
        JobReply {
            id: self.id.clone(),
            backend: self.backend.to_string(),
            path: self.path.clone(),
            status: p.status,
            classes: Some(self.classes.clone()),
            error: p.error.clone(),
            started_at: backup.then(|| self.started_at.clone()),
            completed_at: backup.then(|| {
                p.completed_at
                    .clone()
                    .unwrap_or_else(|| ZERO_TIME.to_string())
            }),
            size: if backup { size_gib(p.size) } else { None },
            incremental_base_backup_id: self.base.clone(),
        }
    }

    pub(crate) fn canceled(&self) -> Result<()> {
        if self.cancel.load(Ordering::Acquire) {
            return Err(BackupError::internal("operation cancelled by user"));
        }
        Ok(())
    }
}

/// The backup service of one server.
#[derive(Debug)]
pub struct Manager {
    db: Arc<Db>,
    backends: Vec<(BackendConfig, Backend)>,
    opts: ManagerOptions,
    /// The running (or last) job.
    slot: Mutex<Option<Arc<Job>>>,
    /// Finished jobs by (kind, status), for metrics.
    finished: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

/// What the metrics read of the backup service.
#[derive(Debug, Clone)]
pub struct BackupStats {
    /// A job is running.
    pub running: bool,
    /// `backup` or `restore` (of the running or last job; `none` before the first).
    pub kind: &'static str,
    /// Bytes (before compression) the running or last job has processed.
    pub bytes: u64,
    /// Finished jobs: (kind, status, count).
    pub finished: Vec<(&'static str, &'static str, u64)>,
}

/// Weaviate's "already in progress" error if `job` is still running.
fn in_progress(job: Option<&Arc<Job>>) -> Result<()> {
    match job {
        Some(j) if !j.progress.lock().status.is_final() => {
            Err(BackupError::unprocessable(match j.kind {
                Kind::Backup => format!("backup {} already in progress", j.id),
                Kind::Restore => format!("restoration {} already in progress", j.id),
            }))
        }
        _ => Ok(()),
    }
}

/// RFC 3339 with milliseconds, UTC.
fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v)
        .map_err(|e| BackupError::internal(format!("encoding a descriptor: {e}")))
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BackupError::internal(format!("backup worker failed: {e}")))?
}

pub(crate) fn io_fail(
    what: &str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> BackupError + use<> {
    let text = format!("{what} {}", path.display());
    move |e| BackupError::internal(format!("{text}: {e}"))
}

/// Removes a directory tree durably (best effort: logged).
pub(crate) fn remove_staging(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {
            if let Some(parent) = dir.parent() {
                let _ = weft_io::sync_dir(parent);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(action = "backup", path = %dir.display(), error = %e,
            "could not remove a staging directory; it is removed at the next start"),
    }
}

impl Manager {
    /// A manager over the enabled backends (opened here; no request is made).
    pub fn new(db: Arc<Db>, configs: &[BackendConfig], opts: ManagerOptions) -> Result<Arc<Self>> {
        let mut backends = Vec::new();
        for c in configs {
            backends.push((c.clone(), c.open()?));
        }
        Ok(Arc::new(Self {
            db,
            backends,
            opts,
            slot: Mutex::new(None),
            finished: Mutex::new(BTreeMap::new()),
        }))
    }

    /// A reading for metrics.
    pub fn stats(&self) -> BackupStats {
        let (running, kind, bytes) = match self.slot.lock().as_ref() {
            Some(j) => {
                let p = j.progress.lock();
                let kind = match j.kind {
                    Kind::Backup => "backup",
                    Kind::Restore => "restore",
                };
                (!p.status.is_final(), kind, p.size)
            }
            None => (false, "none", 0),
        };
        BackupStats {
            running,
            kind,
            bytes,
            finished: self
                .finished
                .lock()
                .iter()
                .map(|((k, s), n)| (*k, *s, *n))
                .collect(),
        }
    }

    fn count_finished(&self, kind: &'static str, status: Status) {
        *self
            .finished
            .lock()
            .entry((kind, status.as_str()))
            .or_default() += 1;
    }

    /// The enabled modules with their `/v1/meta` entries.
    pub fn modules(configs: &[BackendConfig]) -> serde_json::Map<String, serde_json::Value> {
        configs
            .iter()
            .map(|c| (c.module().to_string(), c.meta()))
            .collect()
    }

    fn backend(&self, name: &str) -> Result<&Backend> {
        let lower = name.to_ascii_lowercase();
        self.backends
            .iter()
            .find(|(c, _)| c.name() == lower || c.module() == lower)
            .map(|(_, b)| b)
            .ok_or_else(|| {
                BackupError::unprocessable(format!(
                    "no backup backend \"{name}\": backup: {name} not found, did you enable the right module?"
                ))
            })
    }

    async fn descriptor(&self, backend: &Backend, key: &str) -> Result<Option<Descriptor>> {
        match backend.get_bytes(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                BackupError::unprocessable(format!("corrupted backup file: {key}: {e}"))
            }),
        }
    }

    async fn manifest(&self, backend: &Backend, id: &str, node: &str) -> Result<NodeManifest> {
        let key = format::manifest_key(id, node);
        let bytes = backend.get_bytes(&key).await?.ok_or_else(|| {
            BackupError::unprocessable(format!("wrong backup file: {key} is missing"))
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| BackupError::unprocessable(format!("corrupted backup file: {key}: {e}")))
    }

    fn busy(&self) -> Result<()> {
        in_progress(self.slot.lock().as_ref())
    }

    /// Makes a new job the current one, unless one is running (Weaviate's "already in
    /// progress" errors).
    fn claim(
        &self,
        kind: Kind,
        store: &Backend,
        id: &str,
        classes: &[String],
        base: Option<String>,
    ) -> Result<Arc<Job>> {
        let mut slot = self.slot.lock();
        in_progress(slot.as_ref())?;
        let job = Arc::new(Job {
            kind,
            backend: store.name(),
            id: id.to_string(),
            path: store.home(id),
            classes: classes.to_vec(),
            started_at: now(),
            base,
            cancel: AtomicBool::new(false),
            progress: Mutex::new(Progress {
                status: Status::Started,
                error: None,
                completed_at: None,
                size: 0,
                pin_took: std::time::Duration::ZERO,
            }),
        });
        *slot = Some(Arc::clone(&job));
        Ok(job)
    }

    /// `POST /v1/backups/{backend}`.
    pub async fn create(self: &Arc<Self>, backend: &str, req: CreateRequest) -> Result<JobReply> {
        let store = self.backend(backend)?.clone();
        let id = req.id.clone().unwrap_or_default();
        if !valid_id(&id) {
            return Err(invalid_id(&id));
        }
        let base = req
            .incremental_base_backup_id
            .clone()
            .filter(|b| !b.is_empty());
        if let Some(b) = &base {
            if !valid_id(b) {
                return Err(BackupError::unprocessable(format!(
                    "base backup id: {}",
                    invalid_id(b)
                )));
            }
            if *b == id {
                return Err(BackupError::unprocessable(format!(
                    "base backup cannot be the same as the new backup ID: {id}"
                )));
            }
        }
        if req.include_users.as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(BackupError::unprocessable(
                "'includeUsers' was set but dynamic DB users are not enabled",
            ));
        }
        if req.include_roles.as_ref().is_some_and(|r| !r.is_empty()) {
            return Err(BackupError::unprocessable(
                "'includeRoles' was set but RBAC is not enabled",
            ));
        }
        let config = req.config.clone().unwrap_or_default();
        no_overrides(
            config.endpoint.as_deref(),
            config.bucket.as_deref(),
            config.path.as_deref(),
        )?;
        cpu_percentage(config.cpu_percentage)?;
        let level = compression(config.compression_level.as_deref())?;
        let available: Vec<String> = self.db.classes().into_iter().map(|c| c.name).collect();
        let include = req.include.clone().unwrap_or_default();
        let exclude = req.exclude.clone().unwrap_or_default();
        if available.is_empty() && include.is_empty() {
            no_duplicates(&exclude, "exclude")?;
            return Err(BackupError::unprocessable(
                "no available classes to backup, there's nothing to do here",
            ));
        }
        let classes = select(
            &available,
            &include,
            &exclude,
            |c| format!("class {c} doesn't exist"),
            || {
                format!(
                    "empty class list: please choose from : {}",
                    list_text(&available)
                )
            },
        )?;
        self.busy()?;
        if let Some(existing) = self.descriptor(&store, &format::config_key(&id)).await?
            && existing.status != Status::Canceled
        {
            return Err(BackupError::unprocessable(format!(
                "backup \"{id}\" already exists at \"{}\"",
                store.home(&id)
            )));
        }
        let base_manifest = match &base {
            None => None,
            Some(b) => {
                let d = self
                    .descriptor(&store, &format::config_key(b))
                    .await?
                    .ok_or_else(|| {
                        BackupError::unprocessable(format!(
                            "base backup \"{b}\" does not exist at \"{}\"",
                            store.home(b)
                        ))
                    })?;
                if d.status != Status::Success {
                    return Err(BackupError::unprocessable(format!(
                        "base backup \"{b}\" did not succeed: status {}",
                        d.status.as_str()
                    )));
                }
                check_format(&d, b)?;
                let node = d.nodes.keys().next().cloned().unwrap_or_default();
                if node != self.opts.node {
                    return Err(BackupError::unprocessable(format!(
                        "base backup \"{b}\" was made by node \"{node}\", this node is \"{}\": an incremental backup needs a base of the same node",
                        self.opts.node
                    )));
                }
                Some(self.manifest(&store, b, &node).await?)
            }
        };
        let job = self.claim(Kind::Backup, &store, &id, &classes, base.clone())?;
        let descriptor = self.backup_descriptor(&job, Status::Started, level, 0, "");
        let staging = self.staging(Kind::Backup, &id);
        let begun = async {
            // The job file first: a crash from here on is found and cleaned up at the next start.
            self.prepare_staging(&staging, Kind::Backup, store.name(), &id)
                .await?;
            // A canceled backup of this id is replaced.
            store.delete_prefix(&id).await?;
            store
                .put_bytes(&format::config_key(&id), to_json(&descriptor)?)
                .await
        };
        if let Err(e) = begun.await {
            job.fail_early(&e);
            remove_staging(&staging);
            return Err(e);
        }
        tracing::info!(action = "backup", backup_id = %id, backend = store.name(), classes = ?classes, "backup started");
        let me = Arc::clone(self);
        let run = Arc::clone(&job);
        tokio::spawn(async move {
            me.run_backup(run, store, level, base_manifest).await;
        });
        Ok(job.reply())
    }

    fn staging(&self, kind: Kind, id: &str) -> PathBuf {
        let prefix = match kind {
            Kind::Backup => BACKUP_STAGING,
            Kind::Restore => RESTORE_STAGING,
        };
        self.db.data_path().join(format!("{prefix}{id}"))
    }

    /// Creates the job's staging directory with its `JOB.json`, durably.
    async fn prepare_staging(
        &self,
        staging: &Path,
        kind: Kind,
        backend: &str,
        id: &str,
    ) -> Result<()> {
        let job_file = to_json(&JobFile {
            kind,
            backend: backend.to_string(),
            id: id.to_string(),
        })?;
        let staging = staging.to_path_buf();
        blocking(move || {
            remove_staging(&staging);
            weft_io::create_dir_durable(&weft_io::StdFs, &staging)
                .map_err(io_fail("creating", &staging))?;
            weft_io::atomic_write(&staging, JOB_FILE, &job_file)
                .map_err(io_fail("writing the job file in", &staging))
        })
        .await
    }

    fn backup_descriptor(
        &self,
        job: &Job,
        status: Status,
        level: CompressionLevel,
        size: u64,
        error: &str,
    ) -> Descriptor {
        let completed = job.progress.lock().completed_at.clone().unwrap_or_default();
        Descriptor {
            id: job.id.clone(),
            started_at: job.started_at.clone(),
            completed_at: completed,
            nodes: BTreeMap::from([(
                self.opts.node.clone(),
                NodeSummary {
                    classes: job.classes.clone(),
                    status,
                    error: error.to_string(),
                    pre_compression_size_bytes: size,
                },
            )]),
            status,
            version: STRUCTURE_VERSION.to_string(),
            server_version: self.opts.server_version.clone(),
            leader: self.opts.node.clone(),
            error: error.to_string(),
            pre_compression_size_bytes: size,
            compression_type: level.kind().to_string(),
            base_backup_id: job.base.clone().unwrap_or_default(),
            weft_format: WEFT_FORMAT,
        }
    }

    async fn run_backup(
        self: Arc<Self>,
        job: Arc<Job>,
        store: Backend,
        level: CompressionLevel,
        base: Option<NodeManifest>,
    ) {
        let started = Instant::now();
        let staging = self
            .db
            .data_path()
            .join(format!("{BACKUP_STAGING}{}", job.id));
        let result = self
            .backup_classes(&job, &store, level, base.as_ref(), &staging)
            .await;
        remove_staging(&staging);
        let (status, error, size) = match result {
            Ok(size) => (Status::Success, String::new(), size),
            Err(e) if job.cancel.load(Ordering::Acquire) => {
                let _ = store
                    .delete_prefix(&format!("{}/{}", job.id, self.opts.node))
                    .await;
                (Status::Canceled, e.message, 0)
            }
            Err(e) => {
                let _ = store
                    .delete_prefix(&format!("{}/{}", job.id, self.opts.node))
                    .await;
                (Status::Failed, e.message, 0)
            }
        };
        job.progress.lock().completed_at = Some(now());
        let descriptor = self.backup_descriptor(&job, status, level, size, &error);
        let written = match to_json(&descriptor) {
            Ok(bytes) => store.put_bytes(&format::config_key(&job.id), bytes).await,
            Err(e) => Err(e),
        };
        let mut p = job.progress.lock();
        match written {
            Ok(()) => {
                p.status = status;
                p.error = (!error.is_empty()).then_some(error.clone());
                p.size = size;
            }
            Err(e) => {
                p.status = Status::Failed;
                p.error = Some(format!("writing the backup descriptor: {}", e.message));
            }
        }
        self.count_finished("backup", p.status);
        match p.status {
            Status::Success => tracing::info!(action = "backup", backup_id = %job.id, bytes = size,
                took = ?started.elapsed(), "backup completed"),
            s => tracing::error!(action = "backup", backup_id = %job.id, status = s.as_str(),
                error = p.error.as_deref().unwrap_or_default(), "backup did not complete"),
        }
    }

    /// Stages, chunks and uploads every class; writes the node manifest. Returns the size.
    async fn backup_classes(
        &self,
        job: &Arc<Job>,
        store: &Backend,
        level: CompressionLevel,
        base: Option<&NodeManifest>,
        staging: &Path,
    ) -> Result<u64> {
        let node = self.opts.node.clone();
        let mut manifest = NodeManifest {
            id: job.id.clone(),
            node: node.clone(),
            started_at: job.started_at.clone(),
            completed_at: String::new(),
            classes: Vec::new(),
            status: Status::Success,
            version: STRUCTURE_VERSION.to_string(),
            server_version: self.opts.server_version.clone(),
            compression_type: level.kind().to_string(),
            base_backup_id: job.base.clone().unwrap_or_default(),
            weft_format: WEFT_FORMAT,
        };
        let mut total = 0u64;
        for class in &job.classes {
            job.canceled()?;
            let t = Instant::now();
            let db = Arc::clone(&self.db);
            let (c, dir) = (class.clone(), staging.to_path_buf());
            let (def, staged) = blocking(move || {
                let def = db.class(&c).ok_or_else(|| {
                    BackupError::internal(format!("staging class {c}: it was deleted"))
                })?;
                let staged = db.stage_for_backup(&c, &dir).map_err(|e| {
                    BackupError::internal(format!(
                        "staging class {c}: {}",
                        weft_db::error::chain(&e)
                    ))
                })?;
                Ok((def, staged))
            })
            .await?;
            for s in &staged {
                let bytes: u64 = s.files.iter().map(|f| f.size).sum();
                tracing::info!(action = "backup", backup_id = %job.id, class = %class, shard = %s.shard,
                    files = s.files.len(), bytes, lsn = s.lsn, pin_took = ?s.pin_took, took = ?t.elapsed(),
                    "shard staged (hard links; writers and compaction keep running)");
            }
            job.set(Status::Transferring);
            let base_class = base.and_then(|m| m.classes.iter().find(|c| c.name == def.name));
            let class_manifest = self
                .chunk_class(
                    job,
                    store,
                    level,
                    &node,
                    (&def, staging),
                    &staged,
                    base_class,
                )
                .await?;
            total += class_manifest.pre_compression_size_bytes;
            manifest.classes.push(class_manifest);
        }
        job.canceled()?;
        job.set(Status::Transferred);
        manifest.completed_at = now();
        store
            .put_bytes(&format::manifest_key(&job.id, &node), to_json(&manifest)?)
            .await?;
        job.set(Status::Finalizing);
        job.canceled()?;
        Ok(total)
    }

    /// Writes the chunks of a class's staged shards and uploads them one by one.
    #[expect(clippy::too_many_arguments, reason = "one step of a backup job")]
    async fn chunk_class(
        &self,
        job: &Arc<Job>,
        store: &Backend,
        level: CompressionLevel,
        node: &str,
        (def, staging): (&weft_db::schema::ClassDef, &Path),
        staged: &[weft_db::backup::StagedShard],
        base: Option<&ClassManifest>,
    ) -> Result<ClassManifest> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<chunk::Finished>(1);
        // Per shard: its name, directory, files and the files of the base backup's copy.
        let shards: Vec<ShardFiles> = staged
            .iter()
            .map(|s| {
                let base_files = base
                    .and_then(|c| c.shards.iter().find(|b| b.name == s.shard))
                    .map(|b| {
                        b.files
                            .iter()
                            .map(|f| (f.path.clone(), f.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                (s.shard.clone(), s.dir.clone(), s.files.clone(), base_files)
            })
            .collect();
        // The filesystem backend: chunks are built in their final directory (temp names, then
        // a rename) instead of being written to staging and copied.
        let in_place = store.local_path(&format::chunk_key(&job.id, node, &def.name, 0));
        let in_place = in_place
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let chunk_dir = in_place.clone().unwrap_or_else(|| staging.join("chunks"));
        let build_in_place = in_place.is_some();
        let target = self.opts.chunk_size;
        let job2 = Arc::clone(job);
        let id = job.id.clone();
        let builder = tokio::task::spawn_blocking(move || -> Result<Vec<Vec<FileEntry>>> {
            std::fs::create_dir_all(&chunk_dir).map_err(io_fail("creating", &chunk_dir))?;
            let mut b = ChunkBuilder::new(&chunk_dir, level, target);
            if build_in_place {
                b = b.temp_names();
            }
            let mut all = Vec::with_capacity(shards.len());
            for (shard, dir, files, base_files) in &shards {
                let mut entries = Vec::new();
                for f in files {
                    job2.canceled()?;
                    let rel = f.rel.to_string_lossy().replace('\\', "/");
                    let src = dir.join(&f.rel);
                    if let Some(old) = base_files.get(&rel)
                        && old.size == f.size
                    {
                        let (crc, _) = format::file_crc(&src).map_err(io_fail("reading", &src))?;
                        if crc == old.crc32c {
                            entries.push(old.clone());
                            continue;
                        }
                    }
                    let (parts, crc) = b
                        .add_file(shard, &rel, &src, f.size)
                        .map_err(io_fail("adding to a chunk", &src))?;
                    entries.push(FileEntry {
                        path: rel,
                        size: f.size,
                        crc32c: crc,
                        backup: id.clone(),
                        parts,
                    });
                    for done in b.take_finished() {
                        if tx.blocking_send(done).is_err() {
                            return Err(BackupError::internal("chunk upload stopped"));
                        }
                    }
                }
                all.push(entries);
            }
            b.finish_chunk()
                .map_err(io_fail("finishing a chunk in", &chunk_dir))?;
            for done in b.take_finished() {
                if tx.blocking_send(done).is_err() {
                    return Err(BackupError::internal("chunk upload stopped"));
                }
            }
            Ok(all)
        });
        let mut chunks = BTreeMap::new();
        let mut upload_err = None;
        while let Some(done) = rx.recv().await {
            let key = format::chunk_key(&job.id, node, &def.name, done.n);
            let t = Instant::now();
            let stored = if build_in_place {
                store.publish_local(&key, &done.path)
            } else {
                store.upload_file(&key, &done.path).await
            };
            match stored {
                Ok(()) => {
                    tracing::info!(action = "backup", backup_id = %job.id, class = %def.name,
                        chunk = done.n, bytes = done.info.size, took = ?t.elapsed(), "chunk stored");
                    chunks.insert(done.n, done.info);
                    if let Some(pause) = self.opts.test_chunk_pause {
                        tokio::time::sleep(pause).await;
                    }
                }
                Err(e) => {
                    upload_err = Some(e);
                    let _ = std::fs::remove_file(&done.path);
                    break;
                }
            }
            let _ = std::fs::remove_file(&done.path);
        }
        drop(rx);
        let entries = builder
            .await
            .map_err(|e| BackupError::internal(format!("backup worker failed: {e}")))?;
        if let Some(e) = upload_err {
            return Err(e);
        }
        let entries = entries?;
        let size = entries.iter().flatten().map(|f| f.size).sum();
        {
            let mut p = job.progress.lock();
            p.size += size;
            for s in staged {
                p.pin_took = p.pin_took.max(s.pin_took);
            }
        }
        Ok(ClassManifest {
            name: def.name.clone(),
            schema: weft_api::schema::class_to_json(def),
            shards: staged
                .iter()
                .zip(entries)
                .map(|(s, files)| ShardManifest {
                    name: s.shard.clone(),
                    node: node.to_string(),
                    lsn: s.lsn,
                    files,
                    tenant_status: s.tenant.map(|t| t.as_str().to_string()),
                })
                .collect(),
            chunks,
            pre_compression_size_bytes: size,
        })
    }

    /// The longest shard pin of the current (or last) job: how long writers waited for it.
    pub fn last_pin_took(&self) -> Option<std::time::Duration> {
        self.slot
            .lock()
            .as_ref()
            .map(|j| j.progress.lock().pin_took)
    }

    /// `GET /v1/backups/{backend}/{id}`.
    pub async fn create_status(&self, backend: &str, id: &str) -> Result<JobReply> {
        self.status(Kind::Backup, backend, id).await
    }

    /// The running (or last) job if it is the `kind` job of `id` on `store`.
    fn current(&self, kind: Kind, id: &str, store: &Backend) -> Option<Arc<Job>> {
        self.slot
            .lock()
            .as_ref()
            .filter(|j| j.kind == kind && j.id == id && j.backend == store.name())
            .cloned()
    }

    /// A backup's or restore's status: the live job's, else the stored descriptor's.
    async fn status(&self, kind: Kind, backend: &str, id: &str) -> Result<JobReply> {
        let store = self.backend(backend)?;
        if let Some(job) = self.current(kind, id, store) {
            return Ok(job.reply());
        }
        let (key, file) = match kind {
            Kind::Backup => (format::config_key(id), format::BACKUP_CONFIG),
            Kind::Restore => (format::restore_key(id), format::RESTORE_CONFIG),
        };
        let d = self.descriptor(store, &key).await?.ok_or_else(|| {
            BackupError::not_found(format!(
                "coordinator cannot get status: metadata not found: {}/{file} does not exist",
                store.home(id),
            ))
        })?;
        // Restore replies carry no times, size or base (Weaviate's restore status shape).
        let backup = kind == Kind::Backup;
        Ok(JobReply {
            id: id.to_string(),
            backend: store.name().to_string(),
            path: store.home(id),
            status: d.status,
            classes: Some(d.classes()),
            error: (!d.error.is_empty()).then(|| d.error.clone()),
            started_at: backup.then(|| d.started_at.clone()),
            completed_at: backup.then(|| d.completed_or_zero()),
            size: if backup {
                size_gib(d.pre_compression_size_bytes)
            } else {
                None
            },
            incremental_base_backup_id: (backup && !d.base_backup_id.is_empty())
                .then(|| d.base_backup_id.clone()),
        })
    }

    /// `DELETE /v1/backups/{backend}/{id}`: cancels a running backup.
    pub async fn cancel(&self, backend: &str, id: &str) -> Result<()> {
        let store = self.backend(backend)?;
        if !valid_id(id) {
            return Err(invalid_id(id));
        }
        if let Some(job) = self.current(Kind::Backup, id, store) {
            let mut p = job.progress.lock();
            if p.status == Status::Success {
                return Err(BackupError::unprocessable(format!(
                    "backup \"{id}\" already succeeded"
                )));
            }
            if !p.status.is_final() {
                job.cancel.store(true, Ordering::Release);
                p.status = Status::Cancelling;
                tracing::info!(action = "backup", backup_id = %id, "backup cancel requested");
            }
            return Ok(());
        }
        if let Some(d) = self.descriptor(store, &format::config_key(id)).await?
            && d.status == Status::Success
        {
            return Err(BackupError::unprocessable(format!(
                "backup \"{id}\" already succeeded"
            )));
        }
        Ok(())
    }

    /// `GET /v1/backups/{backend}`: every backup, by start time.
    pub async fn list(&self, backend: &str, ascending: bool) -> Result<Vec<ListItem>> {
        let store = self.backend(backend)?;
        let mut items = Vec::new();
        for id in store.list_dirs().await? {
            let Ok(Some(d)) = self.descriptor(store, &format::config_key(&id)).await else {
                continue;
            };
            let live = self
                .current(Kind::Backup, &id, store)
                .map(|j| j.progress.lock().status);
            items.push(ListItem {
                classes: d.classes(),
                status: live.unwrap_or(d.status),
                started_at: d.started_at.clone(),
                completed_at: d.completed_or_zero(),
                size: size_gib(d.pre_compression_size_bytes),
                incremental_base_backup_id: (!d.base_backup_id.is_empty())
                    .then(|| d.base_backup_id.clone()),
                id,
            });
        }
        items.sort_by(|a, b| a.started_at.cmp(&b.started_at));
        if !ascending {
            items.reverse();
        }
        Ok(items)
    }

    /// Orderly shutdown: cancels a running job and waits (up to 30 s) until it has stopped, so
    /// its descriptor says CANCELED instead of being left running.
    pub async fn shutdown(&self) {
        let job = self.slot.lock().clone();
        let Some(job) = job else { return };
        if job.progress.lock().status.is_final() {
            return;
        }
        job.cancel.store(true, Ordering::Release);
        tracing::info!(action = "backup", backup_id = %job.id, "shutting down: canceling the running job");
        for _ in 0..300 {
            if job.progress.lock().status.is_final() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// At start: every staging directory is a job a crash interrupted. Its descriptor is
    /// marked FAILED (if its backend is still enabled) and the directory removed.
    pub async fn recover(&self) {
        let data = self.db.data_path().to_path_buf();
        let Ok(entries) = std::fs::read_dir(&data) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.starts_with(BACKUP_STAGING) || name.starts_with(RESTORE_STAGING)) {
                continue;
            }
            let dir = entry.path();
            let job: Option<JobFile> = std::fs::read(dir.join(JOB_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            if let Some(job) = job
                && let Ok(store) = self.backend(&job.backend)
            {
                let key = match job.kind {
                    Kind::Backup => format::config_key(&job.id),
                    Kind::Restore => format::restore_key(&job.id),
                };
                if let Ok(Some(mut d)) = self.descriptor(store, &key).await
                    && !d.status.is_final()
                {
                    d.status = Status::Failed;
                    d.error = format!(
                        "{} interrupted: the server stopped while it ran (restarted at {})",
                        if job.kind == Kind::Backup {
                            "backup"
                        } else {
                            "restore"
                        },
                        now()
                    );
                    d.completed_at = now();
                    for n in d.nodes.values_mut() {
                        n.status = Status::Failed;
                        n.error.clone_from(&d.error);
                    }
                    if job.kind == Kind::Backup {
                        let _ = store
                            .delete_prefix(&format!("{}/{}", job.id, self.opts.node))
                            .await;
                    }
                    if let Ok(bytes) = to_json(&d) {
                        let _ = store.put_bytes(&key, bytes).await;
                    }
                    tracing::warn!(action = "backup", backup_id = %job.id, kind = ?job.kind,
                        "a backup job was interrupted by a restart; marked FAILED");
                }
            }
            remove_staging(&dir);
            tracing::info!(action = "backup", path = %dir.display(), "removed orphaned backup staging directory");
        }
    }
}
