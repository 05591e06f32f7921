//! Shared state of the request handlers.

use std::sync::{Arc, OnceLock};

use weft_db::Db;

/// Static facts about this server, reported by `/v1/meta` and `/v1/nodes`.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// `<scheme>://<host>:<port>` of the REST listener.
    pub hostname: String,
    /// The node name (`CLUSTER_HOSTNAME`).
    pub node_name: String,
    /// Largest gRPC message accepted (`GRPC_MAX_MESSAGE_SIZE`).
    pub grpc_max_message_size: usize,
    /// Query limits.
    pub limits: QueryLimits,
    /// Enabled modules and their `/v1/meta` entries.
    pub modules: serde_json::Map<String, serde_json::Value>,
    /// Authentication and authorization.
    pub auth: crate::auth::AuthConfig,
}

impl ServerInfo {
    /// Values for unit tests and doc examples.
    pub fn for_tests() -> Self {
        Self {
            hostname: "http://127.0.0.1:8080".to_string(),
            node_name: "node1".to_string(),
            grpc_max_message_size: 104_858_000,
            limits: QueryLimits::default(),
            modules: serde_json::Map::new(),
            auth: crate::auth::AuthConfig::open(),
        }
    }
}

pub use weft_api::QueryLimits;

/// State shared by all handlers; cheap to clone.
///
/// The database is set once it has finished loading; until then `/v1/.well-known/ready`
/// answers 503 and data endpoints answer 503 too.
#[derive(Debug, Clone)]
pub struct AppState {
    info: Arc<ServerInfo>,
    db: Arc<OnceLock<Arc<Db>>>,
    backups: Arc<OnceLock<Arc<weft_backup::Manager>>>,
    metrics: Arc<crate::metrics::Metrics>,
    graphql: Arc<weft_graphql::Engine>,
}

impl AppState {
    /// State with no database loaded yet.
    pub fn new(info: ServerInfo) -> Self {
        let db = Arc::new(OnceLock::new());
        let backups = Arc::new(OnceLock::new());
        let metrics = Arc::new(crate::metrics::Metrics::new(
            Arc::clone(&db),
            Arc::clone(&backups),
        ));
        Self {
            info: Arc::new(info),
            db,
            backups,
            metrics,
            graphql: Arc::new(weft_graphql::Engine::new()),
        }
    }

    /// Marks the database as loaded. Later calls are ignored.
    pub fn set_db(&self, db: Arc<Db>) {
        let _ = self.db.set(db);
    }

    /// The database, once loaded.
    pub fn db(&self) -> Option<&Arc<Db>> {
        self.db.get()
    }

    /// Sets the backup service (after the database). Later calls are ignored.
    pub fn set_backups(&self, backups: Arc<weft_backup::Manager>) {
        let _ = self.backups.set(backups);
    }

    /// The backup service, once the database is loaded.
    pub fn backups(&self) -> Option<&Arc<weft_backup::Manager>> {
        self.backups.get()
    }

    /// The metrics (recorded whether or not they are served).
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// The GraphQL schema of the catalog, rebuilt when the catalog changes.
    pub fn graphql(&self) -> &weft_graphql::Engine {
        &self.graphql
    }

    /// Static server facts.
    pub fn info(&self) -> &ServerInfo {
        &self.info
    }
}
