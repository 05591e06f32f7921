//! `weft`: the server binary. Reads flags and environment (Weaviate's names), sets up logging,
//! serves REST and gRPC, opens the database, and on SIGTERM/SIGINT drains requests, closes
//! the database cleanly and exits 0. `weft verify` checks a data directory offline (`verify`).

mod config;
mod logging;
mod verify;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::watch;
use weft_db::{Db, DbOptions};
use weft_server::{AppState, QueryLimits, ServerInfo};

use crate::config::{Cli, Config, ConfigWarning, LogFormat, LogLevel};

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Some(admin) = cli.admin.take() {
        return admin.run();
    }
    let config = match cli.into_config() {
        Ok(config) => config,
        Err(err) => {
            logging::init(LogLevel::Info, LogFormat::Json);
            tracing::error!(action = "startup", fatal = true, "{err}");
            return ExitCode::from(1);
        }
    };
    logging::init(config.log_level, config.log_format);
    for warning in &config.warnings {
        match warning {
            ConfigWarning::UnknownLogLevel(value) => tracing::warn!(
                action = "startup",
                log_level_env = %value,
                "log level not recognized, defaulting to info"
            ),
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            tracing::error!(
                action = "startup",
                fatal = true,
                "cannot start the runtime: {err}"
            );
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(action = "startup", fatal = true, "{err:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    log_configuration(&config);
    let rest = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .with_context(|| format!("cannot listen for REST on {}:{}", config.host, config.port))?;
    let grpc = TcpListener::bind((config.host.as_str(), config.grpc_port))
        .await
        .with_context(|| {
            format!(
                "cannot listen for gRPC on {}:{}",
                config.host, config.grpc_port
            )
        })?;
    let rest_addr = rest.local_addr().context("REST listener address")?;
    let grpc_addr = grpc.local_addr().context("gRPC listener address")?;
    let url = format!("http://{rest_addr}");
    let state = AppState::new(ServerInfo {
        hostname: url.clone(),
        node_name: config.node_name.clone(),
        grpc_max_message_size: config.grpc_max_message_size,
        limits: QueryLimits {
            default_limit: config.query_defaults_limit,
            graphql_default_limit: config.query_defaults_limit_graphql,
            maximum_results: config.query_maximum_results,
        },
        modules: weft_backup::Manager::modules(&config.backups),
        auth: config.auth.clone(),
    });

    let (stop_tx, mut stop_rx) = watch::channel(false);
    if let Some(port) = config.metrics_port {
        let listener = TcpListener::bind((config.host.as_str(), port))
            .await
            .with_context(|| format!("cannot listen for metrics on {}:{port}", config.host))?;
        let mut rx = stop_tx.subscribe();
        let metrics = Arc::clone(state.metrics());
        tokio::spawn(async move {
            let stop = async move {
                let _ = rx.wait_for(|stop| *stop).await;
            };
            if let Err(err) = weft_server::metrics::serve_metrics(listener, metrics, stop).await {
                tracing::error!(action = "metrics", "metrics server failed: {err}");
            }
        });
        tracing::info!(
            action = "metrics",
            port,
            "serving Prometheus metrics on /metrics"
        );
    }
    let shutdown = async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    };
    let server = tokio::spawn(weft_server::serve::serve(
        state.clone(),
        rest,
        grpc,
        shutdown,
        config.graceful_timeout,
    ));
    tracing::info!(
        action = "restapi_management",
        version = weft_server::WEAVIATE_API_VERSION,
        "Serving weft at {url}"
    );
    tracing::info!(
        action = "grpc_startup",
        "grpc server listening at {grpc_addr}"
    );

    let db = match open_db(&config).await {
        Ok(db) => db,
        Err(err) => {
            let _ = stop_tx.send(true);
            let _ = server.await;
            return Err(err);
        }
    };
    let backups = match weft_backup::Manager::new(
        Arc::clone(&db),
        &config.backups,
        weft_backup::ManagerOptions {
            node: config.node_name.clone(),
            server_version: env!("CARGO_PKG_VERSION").to_string(),
            chunk_size: config.backup_chunk_size,
            test_chunk_pause: config.backup_test_chunk_pause,
        },
    ) {
        Ok(m) => m,
        Err(err) => {
            let _ = stop_tx.send(true);
            let _ = server.await;
            return Err(anyhow::anyhow!("init modules: {}", err.message));
        }
    };
    backups.recover().await;
    state.set_backups(Arc::clone(&backups));
    state.set_db(Arc::clone(&db));

    wait_for_signal().await;
    tracing::info!(action = "restapi_management", "Shutting down... ");
    let _ = stop_tx.send(true);
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(action = "shutdown", "server stopped with: {err}"),
        Err(err) => tracing::warn!(action = "shutdown", "server task failed: {err}"),
    }
    drop(state);
    backups.shutdown().await;
    drop(backups);
    close_db(db, config.graceful_timeout).await;
    tracing::info!(
        action = "restapi_management",
        "Stopped serving weft at {url}"
    );
    Ok(())
}

fn log_configuration(config: &Config) {
    let auth = &config.auth;
    tracing::info!(
        action = "startup",
        anonymous_access = auth.anonymous,
        apikey = auth.apikey,
        apikeys = auth.keys.len(),
        adminlist = auth.adminlist.is_some(),
        "authentication configured"
    );
    tracing::info!(
        action = "startup",
        weft_version = env!("CARGO_PKG_VERSION"),
        api_version = weft_server::WEAVIATE_API_VERSION,
        "configured versions"
    );
    tracing::info!(
        action = "startup",
        default_vectorizer_module = %config.default_vectorizer,
        "the default vectorizer modules is set to \"{}\", as a result all new schema classes without an explicit vectorizer setting, will use this vectorizer",
        config.default_vectorizer
    );
    tracing::info!(
        action = "startup",
        auto_schema_enabled = config.autoschema_enabled,
        "auto schema enabled setting is set to \"{}\"",
        config.autoschema_enabled
    );
    tracing::info!(
        action = "startup",
        disk_use_warning_percentage = config.disk_use_warning_percentage,
        disk_use_readonly_percentage = config.disk_use_readonly_percentage,
        "disk use thresholds (0 disables)"
    );
}

async fn open_db(config: &Config) -> anyhow::Result<Arc<Db>> {
    let mut options = DbOptions::new(&config.data_path, &config.node_name);
    options.schema_defaults.vectorizer = config.default_vectorizer.clone();
    options.schema_defaults.quantization = config.default_quantization;
    options.autoschema = config.autoschema_enabled;
    options.storage = config.storage.clone();
    let disk = weft_db::DiskOptions::default()
        .with_percentages(
            config.disk_use_warning_percentage,
            config.disk_use_readonly_percentage,
        )
        .with_percentage_max_free_bytes(config.disk_use_readonly_percentage_max_free_mb << 20);
    options.disk = match config.disk_use_readonly_min_free_mb {
        Some(mb) => disk.with_min_free_bytes(mb << 20),
        // `auto`: the smaller of 512 MiB and 5 % of the volume.
        None => disk.with_min_free_bytes_auto(512 << 20),
    };
    let path = config.data_path.display().to_string();
    tracing::info!(action = "startup", path = %path, "loading database");
    let started = Instant::now();
    let dir = config.data_path.clone();
    let db = tokio::task::spawn_blocking(move || Db::open(options))
        .await
        .context("database loader panicked")?
        .map_err(|e| {
            let hint = permission_hint(&dir, &e);
            anyhow::Error::new(e).context(format!("cannot open the database at {path}{hint}"))
        })?;
    tracing::info!(
        action = "startup",
        path = %path,
        classes = db.classes().len(),
        took = ?started.elapsed(),
        "database loaded, ready to serve"
    );
    Ok(Arc::new(db))
}

/// For a permission error: who weft runs as and who owns the data directory, so the fix
/// (`chown`, a volume's `fsGroup`) is obvious.
fn permission_hint(dir: &std::path::Path, err: &weft_db::DbError) -> String {
    use std::os::unix::fs::MetadataExt;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut denied = false;
    while let Some(e) = cur {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
        {
            denied = true;
        }
        cur = e.source();
    }
    if !denied {
        return String::new();
    }
    let uid = rustix::process::geteuid().as_raw();
    match std::fs::metadata(dir) {
        Ok(m) => format!(
            " (permission denied: weft runs as uid {uid}, {} is owned by uid {} with mode {:o}; make it writable for uid {uid}, e.g. `chown -R {uid} {}`)",
            dir.display(),
            m.uid(),
            m.mode() & 0o7777,
            dir.display()
        ),
        Err(_) => format!(" (permission denied: weft runs as uid {uid})"),
    }
}

async fn close_db(mut db: Arc<Db>, patience: Duration) {
    // The connection tasks of the stopped servers drop their handles a moment after the
    // servers return: wait for them (up to the graceful timeout) instead of skipping the
    // orderly close, which would leave the WAL to be replayed on the next start.
    let deadline = Instant::now() + patience;
    let db = loop {
        match Arc::try_unwrap(db) {
            Ok(db) => break db,
            Err(shared) if Instant::now() < deadline => {
                db = shared;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(_) => {
                tracing::warn!(
                    action = "shutdown",
                    "requests still hold the database after the graceful timeout; exiting without an orderly close (acknowledged writes are already durable)"
                );
                return;
            }
        }
    };
    match tokio::task::spawn_blocking(move || db.close()).await {
        Ok(Ok(())) => tracing::info!(action = "shutdown", "database closed"),
        Ok(Err(err)) => tracing::error!(action = "shutdown", "closing the database failed: {err}"),
        Err(err) => tracing::error!(action = "shutdown", "closing the database panicked: {err}"),
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!(action = "startup", "cannot watch SIGTERM: {err}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
