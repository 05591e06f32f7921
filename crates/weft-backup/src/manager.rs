//! The backup and restore jobs.
//!
//! One job at a time (a backup or a restore). Requests are validated up front and answered at
//! once with `STARTED`; the job runs on the runtime, its file work on blocking threads, and
//! records its progress in the backend's descriptor (`backup_config.json` /
//! `restore_config.json`) and in the log. A job that a crash or `kill -9` interrupted leaves a
//! staging directory in the data directory: at the next start its descriptor is marked FAILED
//! and the directory removed ([`Manager::recover`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use weft_api::backup::{
    CompressionLevel, CreateRequest, JobReply, ListItem, RestoreRequest, Status, ZERO_TIME,
    size_gib,
};
use weft_db::Db;

use crate::backend::{Backend, BackendConfig};
use crate::chunk::{self, ChunkBuilder};
use crate::error::{BackupError, Result};
use crate::format::{
    self, ClassManifest, Descriptor, FileEntry, NodeManifest, NodeSummary, STRUCTURE_VERSION,
    ShardManifest, WEFT_FORMAT,
};

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

    fn canceled(&self) -> Result<()> {
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

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn invalid_id(id: &str) -> BackupError {
    BackupError::unprocessable(format!(
        "invalid backup id: '{id}' allowed characters are lowercase, 0-9, _, -"
    ))
}

/// `*` and `?` wildcards, as in Weaviate's class lists.
fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                go(p.get(1..).unwrap_or_default(), n)
                    || (!n.is_empty() && go(p, n.get(1..).unwrap_or_default()))
            }
            (Some(b'?'), Some(_)) => go(
                p.get(1..).unwrap_or_default(),
                n.get(1..).unwrap_or_default(),
            ),
            (Some(a), Some(b)) if a == b => go(
                p.get(1..).unwrap_or_default(),
                n.get(1..).unwrap_or_default(),
            ),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

fn no_duplicates(list: &[String], which: &str) -> Result<()> {
    let mut seen = BTreeSet::new();
    for c in list {
        if !seen.insert(c) {
            return Err(BackupError::unprocessable(format!(
                "class list '{which}' contains duplicate: {c}"
            )));
        }
    }
    Ok(())
}

fn list_text(names: &[String]) -> String {
    format!("[{}]", names.join(" "))
}

/// Applies include / exclude (with wildcards) to `available`.
fn select(
    available: &[String],
    include: &[String],
    exclude: &[String],
    missing: impl Fn(&str) -> String,
    empty: impl Fn() -> String,
) -> Result<Vec<String>> {
    if !include.is_empty() && !exclude.is_empty() {
        return Err(BackupError::unprocessable(
            "malformed request: 'include' and 'exclude' cannot both contain values",
        ));
    }
    no_duplicates(include, "include")?;
    no_duplicates(exclude, "exclude")?;
    let chosen: Vec<String> = if include.is_empty() {
        available
            .iter()
            .filter(|c| !exclude.iter().any(|p| wildcard(p, c)))
            .cloned()
            .collect()
    } else {
        let mut problems = Vec::new();
        for p in include {
            if !available.iter().any(|c| wildcard(p, c)) {
                problems.push(missing(p));
            }
        }
        if !problems.is_empty() {
            return Err(BackupError::unprocessable(problems.join("\n")));
        }
        available
            .iter()
            .filter(|c| include.iter().any(|p| wildcard(p, c)))
            .cloned()
            .collect()
    };
    if chosen.is_empty() {
        return Err(BackupError::unprocessable(empty()));
    }
    Ok(chosen)
}

fn compression(level: Option<&str>) -> Result<CompressionLevel> {
    let Some(level) = level.filter(|l| !l.is_empty()) else {
        return Ok(CompressionLevel::default());
    };
    serde_json::from_value(serde_json::Value::String(level.to_string())).map_err(|_| {
        BackupError::unprocessable(
            "config.CompressionLevel in body should be one of [DefaultCompression BestSpeed BestCompression ZstdDefaultCompression ZstdBestSpeed ZstdBestCompression NoCompression]",
        )
    })
}

fn cpu_percentage(value: Option<i64>) -> Result<u8> {
    match value {
        None | Some(0) => Ok(50),
        Some(v) if v > 80 => Err(BackupError::unprocessable(
            "config.CPUPercentage in body should be less than or equal to 80",
        )),
        Some(v) if v < 1 => Err(BackupError::unprocessable(
            "config.CPUPercentage in body should be greater than or equal to 1",
        )),
        Some(v) => Ok(u8::try_from(v).unwrap_or(50)),
    }
}

fn no_overrides(endpoint: Option<&str>, bucket: Option<&str>, path: Option<&str>) -> Result<()> {
    if [endpoint, bucket, path]
        .iter()
        .any(|v| v.is_some_and(|s| !s.is_empty()))
    {
        return Err(BackupError::unprocessable(
            "backup location overrides (config Endpoint, Bucket, Path) are not supported by weft yet: configure the backend's module instead",
        ));
    }
    Ok(())
}

/// Refuses descriptors weft did not write, or a newer weft wrote.
pub(crate) fn check_format(d: &Descriptor, id: &str) -> Result<()> {
    if d.weft_format == 0 {
        return Err(BackupError::unprocessable(format!(
            "wrong backup file: backup \"{id}\" was not made by weft (weft restores only its own backups)"
        )));
    }
    if d.weft_format > WEFT_FORMAT {
        return Err(BackupError::unprocessable(format!(
            "unable to restore backup as it was produced by a higher version: weft format {} > {WEFT_FORMAT}",
            d.weft_format
        )));
    }
    Ok(())
}

/// A path from a manifest, safe to join under a staging directory: relative, no `..`.
pub(crate) fn safe_rel(path: &str) -> Result<&Path> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if ok {
        Ok(p)
    } else {
        Err(BackupError::unprocessable(format!(
            "corrupted backup file: unsafe path {path:?} in the manifest"
        )))
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v)
        .map_err(|e| BackupError::internal(format!("encoding a descriptor: {e}")))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BackupError::internal(format!("backup worker failed: {e}")))?
}

fn io_fail(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + use<> {
    let text = format!("{what} {}", path.display());
    move |e| BackupError::internal(format!("{text}: {e}"))
}

/// Removes a directory tree durably (best effort: logged).
fn remove_staging(dir: &Path) {
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

/// fsyncs every file and directory under `dir` (and `dir` itself).
fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            sync_tree(&path)?;
        } else {
            std::fs::File::open(&path)?.sync_all()?;
        }
    }
    weft_io::sync_dir(dir)
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
            let staged = blocking(move || {
                db.stage_for_backup(&c, &dir)
                    .map_err(|e| BackupError::internal(format!("staging class {c}: {}", chain(&e))))
            })
            .await?;
            let bytes: u64 = staged.files.iter().map(|f| f.size).sum();
            tracing::info!(action = "backup", backup_id = %job.id, class = %class, shard = %staged.shard,
                files = staged.files.len(), bytes, lsn = staged.lsn, pin_took = ?staged.pin_took, took = ?t.elapsed(),
                "shard staged (hard links; writers and compaction keep running)");
            job.set(Status::Transferring);
            let base_files: HashMap<String, FileEntry> = base
                .and_then(|m| m.classes.iter().find(|c| c.name == staged.class.name))
                .and_then(|c| c.shards.iter().find(|s| s.name == staged.shard))
                .map(|s| {
                    s.files
                        .iter()
                        .map(|f| (f.path.clone(), f.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let class_manifest = self
                .chunk_class(job, store, level, &node, &staged, base_files)
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

    /// Writes the chunks of one staged shard and uploads them one by one.
    async fn chunk_class(
        &self,
        job: &Arc<Job>,
        store: &Backend,
        level: CompressionLevel,
        node: &str,
        staged: &weft_db::backup::StagedShard,
        base_files: HashMap<String, FileEntry>,
    ) -> Result<ClassManifest> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<chunk::Finished>(1);
        let files = staged.files.clone();
        let dir = staged.dir.clone();
        let shard = staged.shard.clone();
        // The filesystem backend: chunks are built in their final directory (temp names, then
        // a rename) instead of being written to staging and copied.
        let in_place = store.local_path(&format::chunk_key(&job.id, node, &staged.class.name, 0));
        let in_place = in_place
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let chunk_dir = in_place.clone().unwrap_or_else(|| {
            dir.parent()
                .and_then(Path::parent)
                .map_or_else(|| dir.clone(), |p| p.join("chunks"))
        });
        let build_in_place = in_place.is_some();
        let target = self.opts.chunk_size;
        let job2 = Arc::clone(job);
        let id = job.id.clone();
        let builder = tokio::task::spawn_blocking(move || -> Result<Vec<FileEntry>> {
            std::fs::create_dir_all(&chunk_dir).map_err(io_fail("creating", &chunk_dir))?;
            let mut b = ChunkBuilder::new(&chunk_dir, level, target);
            if build_in_place {
                b = b.temp_names();
            }
            let mut entries = Vec::new();
            for f in &files {
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
                    .add_file(&shard, &rel, &src, f.size)
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
            b.finish_chunk()
                .map_err(io_fail("finishing a chunk in", &chunk_dir))?;
            for done in b.take_finished() {
                if tx.blocking_send(done).is_err() {
                    return Err(BackupError::internal("chunk upload stopped"));
                }
            }
            Ok(entries)
        });
        let mut chunks = BTreeMap::new();
        let mut upload_err = None;
        while let Some(done) = rx.recv().await {
            let key = format::chunk_key(&job.id, node, &staged.class.name, done.n);
            let t = Instant::now();
            let stored = if build_in_place {
                store.publish_local(&key, &done.path)
            } else {
                store.upload_file(&key, &done.path).await
            };
            match stored {
                Ok(()) => {
                    tracing::info!(action = "backup", backup_id = %job.id, class = %staged.class.name,
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
        let size = entries.iter().map(|f| f.size).sum();
        {
            let mut p = job.progress.lock();
            p.size += size;
            p.pin_took = p.pin_took.max(staged.pin_took);
        }
        Ok(ClassManifest {
            name: staged.class.name.clone(),
            schema: weft_api::schema::class_to_json(&staged.class),
            shards: vec![ShardManifest {
                name: staged.shard.clone(),
                node: node.to_string(),
                lsn: staged.lsn,
                files: entries,
            }],
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
        let store = self.backend(backend)?;
        if let Some(job) = self.slot.lock().as_ref()
            && job.kind == Kind::Backup
            && job.id == id
            && job.backend == store.name()
        {
            return Ok(job.reply());
        }
        let d = self
            .descriptor(store, &format::config_key(id))
            .await?
            .ok_or_else(|| {
                BackupError::not_found(format!(
                    "coordinator cannot get status: metadata not found: {}/{} does not exist",
                    store.home(id),
                    format::BACKUP_CONFIG
                ))
            })?;
        Ok(JobReply {
            id: id.to_string(),
            backend: store.name().to_string(),
            path: store.home(id),
            status: d.status,
            classes: Some(d.classes()),
            error: (!d.error.is_empty()).then(|| d.error.clone()),
            started_at: Some(d.started_at.clone()),
            completed_at: Some(if d.completed_at.is_empty() {
                ZERO_TIME.to_string()
            } else {
                d.completed_at.clone()
            }),
            size: size_gib(d.pre_compression_size_bytes),
            incremental_base_backup_id: (!d.base_backup_id.is_empty())
                .then(|| d.base_backup_id.clone()),
        })
    }

    /// `DELETE /v1/backups/{backend}/{id}`: cancels a running backup.
    pub async fn cancel(&self, backend: &str, id: &str) -> Result<()> {
        let store = self.backend(backend)?;
        if !valid_id(id) {
            return Err(invalid_id(id));
        }
        if let Some(job) = self.slot.lock().as_ref()
            && job.kind == Kind::Backup
            && job.id == id
            && job.backend == store.name()
        {
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
                .slot
                .lock()
                .as_ref()
                .filter(|j| j.kind == Kind::Backup && j.id == id && j.backend == store.name())
                .map(|j| j.progress.lock().status);
            items.push(ListItem {
                classes: d.classes(),
                status: live.unwrap_or(d.status),
                started_at: d.started_at.clone(),
                completed_at: if d.completed_at.is_empty() {
                    ZERO_TIME.to_string()
                } else {
                    d.completed_at.clone()
                },
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

    /// `POST /v1/backups/{backend}/{id}/restore`.
    pub async fn restore(
        self: &Arc<Self>,
        backend: &str,
        id: &str,
        req: RestoreRequest,
    ) -> Result<JobReply> {
        let store = self.backend(backend)?.clone();
        let config = req.config.clone().unwrap_or_default();
        no_overrides(
            config.endpoint.as_deref(),
            config.bucket.as_deref(),
            config.path.as_deref(),
        )?;
        cpu_percentage(config.cpu_percentage)?;
        let include = req.include.clone().unwrap_or_default();
        let exclude = req.exclude.clone().unwrap_or_default();
        if !include.is_empty() && !exclude.is_empty() {
            return Err(BackupError::unprocessable(
                "malformed request: 'include' and 'exclude' cannot both contain values",
            ));
        }
        let d = self
            .descriptor(&store, &format::config_key(id))
            .await?
            .ok_or_else(|| {
                BackupError::not_found(format!(
                    "backup id \"{id}\" does not exist: {}/{} not found",
                    store.home(id),
                    format::BACKUP_CONFIG
                ))
            })?;
        if d.status != Status::Success {
            return Err(BackupError::unprocessable(format!(
                "invalid backup in scheduler {} status: {}",
                store.home(id),
                d.status.as_str()
            )));
        }
        check_format(&d, id)?;
        let available = d.classes();
        let classes = select(
            &available,
            &include,
            &exclude,
            |c| {
                format!(
                    "class {c} doesn't exist in the backup, but does have {}: ",
                    list_text(&available)
                )
            },
            || {
                format!(
                    "nothing left to restore: please choose from : {}",
                    list_text(&available)
                )
            },
        )?;
        let node = d.nodes.keys().next().cloned().unwrap_or_default();
        let manifest = self.manifest(&store, id, &node).await?;
        let job = self.claim(Kind::Restore, &store, id, &classes, None)?;
        let staging = self.staging(Kind::Restore, id);
        let begun = async {
            self.prepare_staging(&staging, Kind::Restore, store.name(), id)
                .await?;
            self.write_restore_descriptor(&store, &job, Status::Started, "")
                .await
        };
        if let Err(e) = begun.await {
            job.fail_early(&e);
            remove_staging(&staging);
            return Err(e);
        }
        tracing::info!(action = "restore", backup_id = %id, backend = store.name(), classes = ?classes, "restore started");
        let me = Arc::clone(self);
        let run = Arc::clone(&job);
        tokio::spawn(async move {
            me.run_restore(run, store, node, manifest).await;
        });
        Ok(job.reply())
    }

    async fn write_restore_descriptor(
        &self,
        store: &Backend,
        job: &Job,
        status: Status,
        error: &str,
    ) -> Result<()> {
        let d = Descriptor {
            id: job.id.clone(),
            started_at: job.started_at.clone(),
            completed_at: job.progress.lock().completed_at.clone().unwrap_or_default(),
            nodes: BTreeMap::from([(
                self.opts.node.clone(),
                NodeSummary {
                    classes: job.classes.clone(),
                    status,
                    error: error.to_string(),
                    pre_compression_size_bytes: 0,
                },
            )]),
            status,
            version: STRUCTURE_VERSION.to_string(),
            server_version: self.opts.server_version.clone(),
            leader: self.opts.node.clone(),
            error: error.to_string(),
            pre_compression_size_bytes: 0,
            compression_type: String::new(),
            base_backup_id: String::new(),
            weft_format: WEFT_FORMAT,
        };
        store
            .put_bytes(&format::restore_key(&job.id), to_json(&d)?)
            .await
    }

    async fn run_restore(
        self: Arc<Self>,
        job: Arc<Job>,
        store: Backend,
        node: String,
        manifest: NodeManifest,
    ) {
        let started = Instant::now();
        let staging = self
            .db
            .data_path()
            .join(format!("{RESTORE_STAGING}{}", job.id));
        let result = self
            .restore_classes(&job, &store, &node, &manifest, &staging)
            .await;
        remove_staging(&staging);
        let (status, error) = match result {
            Ok(()) => (Status::Success, String::new()),
            Err(_) if job.cancel.load(Ordering::Acquire) => {
                (Status::Canceled, "restore canceled by user".to_string())
            }
            Err(e) => (Status::Failed, e.message),
        };
        job.progress.lock().completed_at = Some(now());
        let written = self
            .write_restore_descriptor(&store, &job, status, &error)
            .await;
        let mut p = job.progress.lock();
        p.status = status;
        p.error = (!error.is_empty()).then_some(error.clone());
        if let Err(e) = written {
            tracing::warn!(action = "restore", backup_id = %job.id, error = %e.message,
                "could not write the restore descriptor");
        }
        self.count_finished("restore", status);
        match status {
            Status::Success => tracing::info!(action = "restore", backup_id = %job.id,
                took = ?started.elapsed(), "restore completed"),
            s => tracing::error!(action = "restore", backup_id = %job.id, status = s.as_str(),
                error = %error, "restore did not complete"),
        }
    }

    fn existing_classes(&self, classes: &[String]) -> Result<()> {
        let mut clashes = Vec::new();
        for c in classes {
            if let Some(existing) = self
                .db
                .classes()
                .into_iter()
                .find(|e| e.name.eq_ignore_ascii_case(c))
            {
                let why = if existing.name == *c {
                    format!("class name {c} already exists")
                } else {
                    format!(
                        "class already exists: found similar class \"{}\"",
                        existing.name
                    )
                };
                clashes.push(format!(
                    "\"{c}\": error when trying to restore class: {why}"
                ));
            }
        }
        if clashes.is_empty() {
            Ok(())
        } else {
            Err(BackupError::unprocessable(format!(
                "could not restore classes: [{}]",
                clashes.join(" ")
            )))
        }
    }

    /// Downloads and verifies every chosen class into staging, then restores each atomically.
    async fn restore_classes(
        &self,
        job: &Arc<Job>,
        store: &Backend,
        node: &str,
        manifest: &NodeManifest,
        staging: &Path,
    ) -> Result<()> {
        self.existing_classes(&job.classes)?;
        job.set(Status::Transferring);
        let mut chain = ChainReader::new(store.clone(), node.to_string(), manifest.clone());
        chain.pause = self.opts.test_chunk_pause;
        let mut staged = Vec::new();
        for class in &job.classes {
            job.canceled()?;
            let cm = manifest
                .classes
                .iter()
                .find(|c| c.name == *class)
                .ok_or_else(|| {
                    BackupError::unprocessable(format!(
                        "wrong backup file: class {class} is not in the manifest"
                    ))
                })?;
            let class_dir = staging.join("classes").join(class.to_ascii_lowercase());
            let t = Instant::now();
            chain
                .fetch_class(job, cm, &class_dir, &staging.join("download"))
                .await?;
            tracing::info!(action = "restore", backup_id = %job.id, class = %class, took = ?t.elapsed(),
                "class downloaded and verified");
            let def = weft_api::schema::class_from_json(cm.schema.clone()).map_err(|e| {
                BackupError::unprocessable(format!(
                    "corrupted backup file: schema of {class}: {}",
                    chain_db(&e)
                ))
            })?;
            let shard = cm.shards.first().map(|s| s.name.clone()).ok_or_else(|| {
                BackupError::unprocessable(format!("wrong backup file: class {class} has no shard"))
            })?;
            staged.push((def, shard, class_dir));
        }
        job.canceled()?;
        job.set(Status::Transferred);
        job.set(Status::Finalizing);
        self.existing_classes(&job.classes)?;
        for (def, shard, dir) in staged {
            let db = Arc::clone(&self.db);
            let name = def.name.clone();
            blocking(move || {
                db.restore_class(def, &shard, &dir).map(|_| ()).map_err(|e| {
                    BackupError::unprocessable(format!(
                        "could not restore classes: [\"{name}\": error when trying to restore class: {}]",
                        chain_db(&e)
                    ))
                })
            })
            .await?;
        }
        Ok(())
    }

    /// `GET /v1/backups/{backend}/{id}/restore`.
    pub async fn restore_status(&self, backend: &str, id: &str) -> Result<JobReply> {
        let store = self.backend(backend)?;
        if let Some(job) = self.slot.lock().as_ref()
            && job.kind == Kind::Restore
            && job.id == id
            && job.backend == store.name()
        {
            return Ok(job.reply());
        }
        let d = self
            .descriptor(store, &format::restore_key(id))
            .await?
            .ok_or_else(|| {
                BackupError::not_found(format!(
                    "coordinator cannot get status: metadata not found: {}/{} does not exist",
                    store.home(id),
                    format::RESTORE_CONFIG
                ))
            })?;
        Ok(JobReply {
            id: id.to_string(),
            backend: store.name().to_string(),
            path: store.home(id),
            status: d.status,
            classes: Some(d.classes()),
            error: (!d.error.is_empty()).then(|| d.error.clone()),
            started_at: None,
            completed_at: None,
            size: None,
            incremental_base_backup_id: None,
        })
    }

    /// `DELETE /v1/backups/{backend}/{id}/restore`.
    pub async fn cancel_restore(&self, backend: &str, id: &str) -> Result<()> {
        let store = self.backend(backend)?;
        if let Some(job) = self.slot.lock().as_ref()
            && job.kind == Kind::Restore
            && job.id == id
            && job.backend == store.name()
        {
            let mut p = job.progress.lock();
            match p.status {
                Status::Success => {
                    return Err(BackupError::unprocessable(format!(
                        "restore \"{id}\" already succeeded"
                    )));
                }
                Status::Finalizing => {
                    return Err(BackupError::unprocessable(format!(
                        "restore \"{id}\" is applying schema changes and cannot be cancelled"
                    )));
                }
                s if !s.is_final() => {
                    job.cancel.store(true, Ordering::Release);
                    p.status = Status::Cancelling;
                }
                _ => {}
            }
            return Ok(());
        }
        if let Some(d) = self.descriptor(store, &format::restore_key(id)).await?
            && d.status == Status::Success
        {
            return Err(BackupError::unprocessable(format!(
                "restore \"{id}\" already succeeded"
            )));
        }
        Ok(())
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

fn chain(e: &weft_db::DbError) -> String {
    chain_db(e)
}

fn chain_db(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Reads the files of a backup and the backups it references (incremental chains).
#[derive(Debug)]
pub(crate) struct ChainReader {
    store: Backend,
    node: String,
    own: NodeManifest,
    cache: tokio::sync::Mutex<HashMap<String, (String, NodeManifest)>>,
    pause: Option<std::time::Duration>,
}

impl ChainReader {
    pub(crate) fn new(store: Backend, node: String, own: NodeManifest) -> Self {
        Self {
            store,
            node,
            own,
            cache: tokio::sync::Mutex::new(HashMap::new()),
            pause: None,
        }
    }

    /// The compression type and manifest of backup `id` (this one or a base).
    pub(crate) async fn backup(&self, id: &str) -> Result<(String, NodeManifest)> {
        if id == self.own.id {
            return Ok((self.own.compression_type.clone(), self.own.clone()));
        }
        let mut cache = self.cache.lock().await;
        if let Some(hit) = cache.get(id) {
            return Ok(hit.clone());
        }
        let key = format::manifest_key(id, &self.node);
        let bytes = self.store.get_bytes(&key).await?.ok_or_else(|| {
            BackupError::unprocessable(format!(
                "wrong backup file: {key} is missing (a base of this incremental backup)"
            ))
        })?;
        let m: NodeManifest = serde_json::from_slice(&bytes).map_err(|e| {
            BackupError::unprocessable(format!("corrupted backup file: {key}: {e}"))
        })?;
        let hit = (m.compression_type.clone(), m);
        cache.insert(id.to_string(), hit.clone());
        Ok(hit)
    }

    /// Downloads every chunk `class` needs (from this backup and its bases), verifies every
    /// chunk, part and file, and writes the shard under `out/<shard>/` (fsynced).
    pub(crate) async fn fetch_class(
        &self,
        job: &Job,
        class: &ClassManifest,
        out: &Path,
        download: &Path,
    ) -> Result<()> {
        std::fs::create_dir_all(download).map_err(io_fail("creating", download))?;
        std::fs::create_dir_all(out).map_err(io_fail("creating", out))?;
        // (backup, chunk) → expected parts.
        type Expected = HashMap<(String, u64), (u64, u32)>;
        let mut wanted: BTreeMap<(String, u32), Expected> = BTreeMap::new();
        for shard in &class.shards {
            safe_rel(&shard.name)?;
            for f in &shard.files {
                safe_rel(&f.path)?;
                let name = format!("{}/{}", shard.name, f.path);
                if f.parts.is_empty() {
                    // An empty file: created directly.
                    let dest = out.join(&shard.name).join(&f.path);
                    if let Some(p) = dest.parent() {
                        std::fs::create_dir_all(p).map_err(io_fail("creating", p))?;
                    }
                    std::fs::write(&dest, b"").map_err(io_fail("writing", &dest))?;
                }
                for p in &f.parts {
                    wanted
                        .entry((f.backup.clone(), p.chunk))
                        .or_default()
                        .insert((name.clone(), p.offset), (p.len, p.crc32c));
                }
            }
        }
        for ((backup, n), expected) in wanted {
            job.canceled()?;
            let (kind, m) = self.backup(&backup).await?;
            let info = m
                .classes
                .iter()
                .find(|c| c.name == class.name)
                .and_then(|c| c.chunks.get(&n))
                .cloned()
                .ok_or_else(|| {
                    BackupError::unprocessable(format!(
                        "wrong backup file: chunk {n} of {} in backup {backup} is not listed",
                        class.name
                    ))
                })?;
            let key = format::chunk_key(&backup, &self.node, &class.name, n);
            let local = download.join(format!("{backup}-{n}"));
            let len = self
                .store
                .download_file(&key, &local)
                .await?
                .ok_or_else(|| {
                    BackupError::unprocessable(format!("wrong backup file: {key} is missing"))
                })?;
            let out = out.to_path_buf();
            let key2 = key.clone();
            blocking(move || {
                let (crc, _) = format::file_crc(&local).map_err(io_fail("reading", &local))?;
                if len != info.size || crc != info.crc32c {
                    let _ = std::fs::remove_file(&local);
                    return Err(BackupError::unprocessable(format!(
                        "corrupted backup file: {key2}: checksum mismatch ({len} bytes, crc32c {crc:08x}; the manifest says {} bytes, {:08x})",
                        info.size, info.crc32c
                    )));
                }
                let res = chunk::read_chunk(&local, &kind, &expected, |name, offset, bytes| {
                    chunk::write_part(&out.join(name), offset, bytes)
                });
                let _ = std::fs::remove_file(&local);
                res.map_err(|e| BackupError::unprocessable(format!("corrupted backup file: {key2}: {e}")))
            })
            .await?;
            if let Some(pause) = self.pause {
                tokio::time::sleep(pause).await;
            }
        }
        // Whole files: size and checksum, then everything fsynced.
        let shards = class.shards.clone();
        let out = out.to_path_buf();
        blocking(move || {
            for s in &shards {
                for f in &s.files {
                    let path = out.join(&s.name).join(&f.path);
                    let (crc, len) = format::file_crc(&path).map_err(io_fail("reading", &path))?;
                    if len != f.size || crc != f.crc32c {
                        return Err(BackupError::unprocessable(format!(
                            "corrupted backup file: {} of class shard {}: restored {len} bytes with crc32c {crc:08x}, the manifest says {} bytes, {:08x}",
                            f.path, s.name, f.size, f.crc32c
                        )));
                    }
                }
            }
            sync_tree(&out).map_err(io_fail("syncing", &out))
        })
        .await
    }
}

/// The directories of the staging areas (for tests and the offline tools).
pub fn staging_dirs(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data)
        .map(|it| {
            it.flatten()
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with(BACKUP_STAGING) || n.starts_with(RESTORE_STAGING)
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_weaviates_class_lists() {
        assert!(wildcard("Art*", "Article"));
        assert!(wildcard("A?ticle", "Article"));
        assert!(wildcard("*", "X"));
        assert!(!wildcard("Art", "Article"));
        assert!(!wildcard("B*", "Article"));
    }

    #[test]
    fn ids_follow_weaviates_rule() {
        for ok in ["a", "b-1_x", "0"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", "A", "a b", "a.b", "ä"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn selection_reports_weaviates_errors() {
        let all = vec!["A".to_string(), "B".to_string()];
        let miss = |c: &str| format!("class {c} doesn't exist");
        let empty = || "empty".to_string();
        assert_eq!(select(&all, &[], &[], miss, empty).unwrap(), all);
        assert_eq!(
            select(&all, &["B".into()], &[], miss, empty).unwrap(),
            vec!["B".to_string()]
        );
        let e = select(&all, &["A".into()], &["B".into()], miss, empty).unwrap_err();
        assert!(e.message.contains("cannot both contain values"));
        let e = select(&all, &["A".into(), "A".into()], &[], miss, empty).unwrap_err();
        assert_eq!(e.message, "class list 'include' contains duplicate: A");
        let e = select(&all, &["C".into()], &[], miss, empty).unwrap_err();
        assert_eq!(e.message, "class C doesn't exist");
        let e = select(&all, &[], &["*".into()], miss, empty).unwrap_err();
        assert_eq!(e.message, "empty");
    }
}

#[cfg(test)]
mod path_tests {
    use super::safe_rel;

    #[test]
    fn manifest_paths_cannot_leave_the_staging_directory() {
        for ok in ["lsm/objects/0001.seg", "abc123/wal/x.log", "f"] {
            assert!(safe_rel(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../x", "a/../../b", "/etc/passwd", "./a"] {
            assert!(safe_rel(bad).is_err(), "{bad}");
        }
    }
}
