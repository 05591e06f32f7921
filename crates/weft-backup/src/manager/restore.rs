//! Restores: validated like Weaviate's, run as a job, every class downloaded and verified into
//! staging before any is committed (see [`weft_db::Db::restore_class`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use weft_db::schema::TenantStatus;

use weft_api::backup::{JobReply, RestoreRequest, Status};

use super::*;

impl Manager {
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
                    weft_db::error::chain(&e)
                ))
            })?;
            if cm.shards.is_empty() && !def.multi_tenancy.enabled {
                return Err(BackupError::unprocessable(format!(
                    "wrong backup file: class {class} has no shard"
                )));
            }
            let mut shards = Vec::with_capacity(cm.shards.len());
            for s in &cm.shards {
                let tenant = match (&s.tenant_status, def.multi_tenancy.enabled) {
                    (Some(t), true) => Some(TenantStatus::parse(t, &s.name).map_err(|e| {
                        BackupError::unprocessable(format!(
                            "corrupted backup file: tenant {} of {class}: {e}",
                            s.name
                        ))
                    })?),
                    (None, false) => None,
                    _ => {
                        return Err(BackupError::unprocessable(format!(
                            "corrupted backup file: shard {} of {class} does not fit the class's \
                             multi-tenancy",
                            s.name
                        )));
                    }
                };
                shards.push((s.name.clone(), tenant));
            }
            if !def.multi_tenancy.enabled && shards.len() != 1 {
                return Err(BackupError::unprocessable(format!(
                    "wrong backup file: class {class} has {} shards, weft restores one",
                    shards.len()
                )));
            }
            // A tenant's directory is its name: only valid tenant names are placed.
            for (name, tenant) in &shards {
                if tenant.is_some() {
                    weft_db::schema::validation::validate_tenant_name(0, name).map_err(|e| {
                        BackupError::unprocessable(format!("corrupted backup file: {e}"))
                    })?;
                }
            }
            staged.push((def, shards, class_dir));
        }
        job.canceled()?;
        job.set(Status::Transferred);
        job.set(Status::Finalizing);
        self.existing_classes(&job.classes)?;
        for (def, shards, dir) in staged {
            let db = Arc::clone(&self.db);
            let name = def.name.clone();
            blocking(move || {
                db.restore_class(def, &shards, &dir).map(|_| ()).map_err(|e| {
                    BackupError::unprocessable(format!(
                        "could not restore classes: [\"{name}\": error when trying to restore class: {}]",
                        weft_db::error::chain(&e)
                    ))
                })
            })
            .await?;
        }
        Ok(())
    }

    /// `GET /v1/backups/{backend}/{id}/restore`.
    pub async fn restore_status(&self, backend: &str, id: &str) -> Result<JobReply> {
        self.status(Kind::Restore, backend, id).await
    }

    /// `DELETE /v1/backups/{backend}/{id}/restore`.
    pub async fn cancel_restore(&self, backend: &str, id: &str) -> Result<()> {
        let store = self.backend(backend)?;
        if let Some(job) = self.current(Kind::Restore, id, store) {
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
}
