//! Backup backends: where backups are stored. Every backend is an [`ObjectStore`] under a root
//! prefix; the filesystem one also fsyncs what it writes (object_store's local store renames
//! a temp file into place but does not sync).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{BackupError, Result};

/// Part size of multipart uploads (S3 requires at least 5 MiB for all but the last part).
pub const PART_SIZE: usize = 8 << 20;

/// Settings of one backend module, filled by the binary from Weaviate's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    /// `backup-filesystem`: `BACKUP_FILESYSTEM_PATH`.
    Filesystem {
        /// Absolute root directory.
        path: PathBuf,
    },
    /// `backup-s3`.
    S3 {
        /// `BACKUP_S3_BUCKET`.
        bucket: String,
        /// `BACKUP_S3_PATH` (may be empty).
        path: String,
        /// `BACKUP_S3_ENDPOINT` (host\[:port\], default `s3.amazonaws.com`).
        endpoint: String,
        /// `BACKUP_S3_USE_SSL` (default true).
        use_ssl: bool,
        /// `AWS_REGION` / `AWS_DEFAULT_REGION`.
        region: Option<String>,
        /// `AWS_ACCESS_KEY_ID` / `AWS_ACCESS_KEY`.
        access_key: Option<String>,
        /// `AWS_SECRET_ACCESS_KEY` / `AWS_SECRET_KEY`.
        secret_key: Option<String>,
        /// `AWS_SESSION_TOKEN`.
        session_token: Option<String>,
    },
    /// `backup-gcs`.
    Gcs {
        /// `BACKUP_GCS_BUCKET`.
        bucket: String,
        /// `BACKUP_GCS_PATH`.
        path: String,
        /// `GOOGLE_APPLICATION_CREDENTIALS` (a service account file).
        credentials: Option<String>,
    },
    /// `backup-azure`.
    Azure {
        /// `BACKUP_AZURE_CONTAINER`.
        container: String,
        /// `BACKUP_AZURE_PATH`.
        path: String,
        /// `AZURE_STORAGE_ACCOUNT`.
        account: String,
        /// `AZURE_STORAGE_KEY`.
        key: Option<String>,
    },
}

/// Default of `BACKUP_S3_ENDPOINT`.
pub const DEFAULT_S3_ENDPOINT: &str = "s3.amazonaws.com";

impl BackendConfig {
    /// The backend's name in URLs (`/v1/backups/{name}`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Filesystem { .. } => "filesystem",
            Self::S3 { .. } => "s3",
            Self::Gcs { .. } => "gcs",
            Self::Azure { .. } => "azure",
        }
    }

    /// The module's name (`backup-<name>`), the key in `/v1/meta`'s `modules`.
    pub fn module(&self) -> &'static str {
        match self {
            Self::Filesystem { .. } => "backup-filesystem",
            Self::S3 { .. } => "backup-s3",
            Self::Gcs { .. } => "backup-gcs",
            Self::Azure { .. } => "backup-azure",
        }
    }

    /// The module's entry in `/v1/meta`, shaped like Weaviate's.
    pub fn meta(&self) -> serde_json::Value {
        match self {
            Self::Filesystem { path } => {
                serde_json::json!({ "backupsPath": path.display().to_string() })
            }
            Self::S3 {
                bucket,
                path,
                endpoint,
                use_ssl,
                ..
            } => {
                let mut m = serde_json::json!({
                    "bucketName": bucket, "endpoint": endpoint, "useSSL": use_ssl
                });
                if !path.is_empty() {
                    m["rootName"] = serde_json::json!(path);
                }
                m
            }
            Self::Gcs { bucket, path, .. } => {
                serde_json::json!({ "bucketName": bucket, "rootName": path })
            }
            Self::Azure {
                container, path, ..
            } => serde_json::json!({ "containerName": container, "rootName": path }),
        }
    }

    /// Connects (no request is made yet).
    pub fn open(&self) -> Result<Backend> {
        let internal = |e: object_store::Error| {
            BackupError::internal(format!("init backup backend {}: {e}", self.name()))
        };
        let (store, root, display, local): (Arc<dyn ObjectStore>, &str, String, _) = match self {
            Self::Filesystem { path } => {
                weft_io::create_dir_durable(&weft_io::StdFs, path).map_err(|e| {
                    BackupError::internal(format!(
                        "invalid backup path provided: make backups dir: {}: {e}",
                        path.display()
                    ))
                })?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(path)
                    .map_err(internal)?
                    .with_automatic_cleanup(true);
                (
                    Arc::new(store),
                    "",
                    path.display().to_string(),
                    Some(path.clone()),
                )
            }
            Self::S3 {
                bucket,
                path,
                endpoint,
                use_ssl,
                region,
                access_key,
                secret_key,
                session_token,
            } => {
                let mut b = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region.as_deref().unwrap_or("us-east-1"));
                if endpoint != DEFAULT_S3_ENDPOINT {
                    let scheme = if *use_ssl { "https" } else { "http" };
                    b = b
                        .with_endpoint(format!("{scheme}://{endpoint}"))
                        .with_allow_http(!use_ssl)
                        .with_virtual_hosted_style_request(false);
                }
                if let (Some(k), Some(s)) = (access_key, secret_key) {
                    b = b.with_access_key_id(k).with_secret_access_key(s);
                    if let Some(t) = session_token {
                        b = b.with_token(t);
                    }
                }
                let display = format!("s3://{bucket}/{}", path.trim_matches('/'));
                (
                    Arc::new(b.build().map_err(internal)?),
                    path.as_str(),
                    display,
                    None,
                )
            }
            Self::Gcs {
                bucket,
                path,
                credentials,
            } => {
                let mut b =
                    object_store::gcp::GoogleCloudStorageBuilder::new().with_bucket_name(bucket);
                if let Some(c) = credentials {
                    b = b.with_service_account_path(c);
                }
                let display = format!("gs://{bucket}/{}", path.trim_matches('/'));
                (
                    Arc::new(b.build().map_err(internal)?),
                    path.as_str(),
                    display,
                    None,
                )
            }
            Self::Azure {
                container,
                path,
                account,
                key,
            } => {
                let mut b = object_store::azure::MicrosoftAzureBuilder::new()
                    .with_account(account)
                    .with_container_name(container);
                if let Some(k) = key {
                    b = b.with_access_key(k);
                }
                let display = format!("azure://{container}/{}", path.trim_matches('/'));
                (
                    Arc::new(b.build().map_err(internal)?),
                    path.as_str(),
                    display,
                    None,
                )
            }
        };
        Ok(Backend {
            name: self.name(),
            store,
            root: root.trim_matches('/').to_string(),
            display: display.trim_end_matches('/').to_string(),
            local,
        })
    }
}

/// An opened backend.
#[derive(Debug, Clone)]
pub struct Backend {
    name: &'static str,
    store: Arc<dyn ObjectStore>,
    root: String,
    display: String,
    /// The root directory of the filesystem backend (to fsync what is written).
    local: Option<PathBuf>,
}

fn store_err(what: &str, key: &Key, e: object_store::Error) -> BackupError {
    BackupError::internal(format!("{what} {key}: {e}"))
}

impl Backend {
    /// The backend's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Where backup `id` lives, as reported in `path`.
    pub fn home(&self, id: &str) -> String {
        if self.display.ends_with("//") || self.display.ends_with(':') {
            format!("{}{id}", self.display)
        } else {
            format!("{}/{id}", self.display)
        }
    }

    fn key(&self, rel: &str) -> Key {
        if self.root.is_empty() {
            Key::from(rel)
        } else {
            Key::from(format!("{}/{rel}", self.root))
        }
    }

    /// Makes a file the filesystem backend wrote durable (file, then its directories).
    fn sync_local(&self, rel: &str) -> Result<()> {
        let Some(root) = &self.local else {
            return Ok(());
        };
        let path = root.join(rel);
        let fail =
            |e: std::io::Error| BackupError::internal(format!("fsync {}: {e}", path.display()));
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(fail)?;
        let mut dir = path.parent();
        while let Some(d) = dir {
            weft_io::sync_dir(d).map_err(fail)?;
            if d == root.as_path() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    /// Where the filesystem backend keeps `rel` (`None` for object stores): chunks are built
    /// there directly instead of being written twice.
    pub fn local_path(&self, rel: &str) -> Option<PathBuf> {
        self.local.as_ref().map(|root| {
            if self.root.is_empty() {
                root.join(rel)
            } else {
                root.join(&self.root).join(rel)
            }
        })
    }

    /// Publishes a finished local file (built under [`Backend::local_path`] with another
    /// name) as `rel`: rename, then fsync of the file's directories.
    pub fn publish_local(&self, rel: &str, built: &Path) -> Result<()> {
        let Some(dest) = self.local_path(rel) else {
            return Err(BackupError::internal("publish_local on an object store"));
        };
        std::fs::rename(built, &dest).map_err(|e| {
            BackupError::internal(format!(
                "rename {} to {}: {e}",
                built.display(),
                dest.display()
            ))
        })?;
        self.sync_local(rel)
    }

    /// Reads a small object; `None` if it does not exist.
    pub async fn get_bytes(&self, rel: &str) -> Result<Option<bytes::Bytes>> {
        let key = self.key(rel);
        match self.store.get(&key).await {
            Ok(r) => r
                .bytes()
                .await
                .map(Some)
                .map_err(|e| store_err("read", &key, e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_err("read", &key, e)),
        }
    }

    /// Writes a small object atomically (and durably on the filesystem backend).
    pub async fn put_bytes(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        let key = self.key(rel);
        self.store
            .put(&key, PutPayload::from(bytes))
            .await
            .map_err(|e| store_err("write", &key, e))?;
        self.sync_local(rel)
    }

    /// Uploads a local file, streaming: multipart in [`PART_SIZE`] parts when larger.
    pub async fn upload_file(&self, rel: &str, local: &Path) -> Result<()> {
        let key = self.key(rel);
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| BackupError::internal(format!("open {}: {e}", local.display())))?;
        let mut w = object_store::buffered::BufWriter::with_capacity(
            Arc::clone(&self.store),
            key.clone(),
            PART_SIZE,
        );
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| BackupError::internal(format!("read {}: {e}", local.display())))?;
            if n == 0 {
                break;
            }
            if let Err(e) = w.write_all(buf.get(..n).unwrap_or_default()).await {
                let _ = w.abort().await;
                return Err(BackupError::internal(format!("upload {key}: {e}")));
            }
        }
        w.shutdown()
            .await
            .map_err(|e| BackupError::internal(format!("upload {key}: {e}")))?;
        self.sync_local(rel)
    }

    /// Downloads an object into a local file, streaming; returns its length. `None` if the
    /// object does not exist.
    pub async fn download_file(&self, rel: &str, local: &Path) -> Result<Option<u64>> {
        let key = self.key(rel);
        let result = match self.store.get(&key).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_err("read", &key, e)),
        };
        let mut out = tokio::fs::File::create(local)
            .await
            .map_err(|e| BackupError::internal(format!("create {}: {e}", local.display())))?;
        let mut stream = result.into_stream();
        let mut len = 0u64;
        while let Some(part) = stream.next().await {
            let part = part.map_err(|e| store_err("read", &key, e))?;
            out.write_all(&part)
                .await
                .map_err(|e| BackupError::internal(format!("write {}: {e}", local.display())))?;
            len += part.len() as u64;
        }
        out.flush()
            .await
            .map_err(|e| BackupError::internal(format!("write {}: {e}", local.display())))?;
        Ok(Some(len))
    }

    /// The first-level names under the root (backup ids).
    pub async fn list_dirs(&self) -> Result<Vec<String>> {
        let prefix = (!self.root.is_empty()).then(|| Key::from(self.root.as_str()));
        let listed = self
            .store
            .list_with_delimiter(prefix.as_ref())
            .await
            .map_err(|e| BackupError::internal(format!("open backups path: {e}")))?;
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    /// Deletes every object under `<root>/<rel>/` (best effort for what is left).
    pub async fn delete_prefix(&self, rel: &str) -> Result<()> {
        let prefix = self.key(rel);
        let mut listed = self.store.list(Some(&prefix));
        let mut keys = Vec::new();
        while let Some(meta) = listed.next().await {
            keys.push(meta.map_err(|e| store_err("list", &prefix, e))?.location);
        }
        for key in keys {
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_err("delete", &key, e)),
            }
        }
        Ok(())
    }
}
