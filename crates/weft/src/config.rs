//! Configuration: flags > environment variables (Weaviate's names) > defaults, validated once.
//!
//! Every value is read as text by clap (which also documents the env var in `--help`) and
//! validated here, so an error names both the flag and the variable.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Weaviate module names weft recognises but does not ship (yet); naming one gives a clear
/// "not available" error instead of "unknown".
const WEAVIATE_MODULES: &[&str] = &[
    "text2vec-openai",
    "text2vec-cohere",
    "text2vec-huggingface",
    "text2vec-transformers",
    "text2vec-contextionary",
    "text2vec-ollama",
    "text2vec-palm",
    "text2vec-google",
    "text2vec-aws",
    "text2vec-jinaai",
    "text2vec-voyageai",
    "text2vec-weaviate",
    "text2vec-model2vec",
    "text2vec-nvidia",
    "text2vec-mistral",
    "text2vec-databricks",
    "text2vec-gpt4all",
    "text2vec-bigram",
    "multi2vec-clip",
    "multi2vec-bind",
    "multi2vec-palm",
    "multi2vec-google",
    "img2vec-neural",
    "ref2vec-centroid",
    "generative-openai",
    "generative-cohere",
    "generative-ollama",
    "generative-anthropic",
    "generative-aws",
    "generative-palm",
    "generative-google",
    "generative-mistral",
    "reranker-cohere",
    "reranker-transformers",
    "reranker-voyageai",
    "qna-openai",
    "qna-transformers",
    "sum-transformers",
    "ner-transformers",
    "text-spellcheck",
];

/// Command line of `weft`. Each option can also come from the environment variable shown.
#[derive(Debug, Parser)]
#[command(
    name = "weft",
    version,
    about = "weft — a Weaviate-compatible vector database that keeps acknowledged writes",
    after_help = "Flags override environment variables, which override defaults."
)]
pub struct Cli {
    /// Scheme to serve (only `http` for now).
    #[arg(long, default_value = "http")]
    pub scheme: Vec<String>,
    /// Address to listen on for REST.
    #[arg(long, env = "HOST", default_value = "localhost")]
    pub host: String,
    /// REST port.
    #[arg(long, env = "PORT", default_value = "8080")]
    pub port: String,
    /// gRPC port.
    #[arg(long = "grpc-port", env = "GRPC_PORT", default_value = "50051")]
    pub grpc_port: String,
    /// Largest gRPC message, in bytes.
    #[arg(
        long = "grpc-max-message-size",
        env = "GRPC_MAX_MESSAGE_SIZE",
        default_value = "104858000"
    )]
    pub grpc_max_message_size: String,
    /// How long to wait for in-flight requests on shutdown (e.g. `15s`).
    #[arg(long = "graceful-timeout", default_value = "15s")]
    pub graceful_timeout: String,
    /// Accepted for compatibility with Weaviate's command line; not used.
    #[arg(long = "cleanup-timeout", hide = true)]
    pub cleanup_timeout: Option<String>,
    /// Accepted for compatibility with Weaviate's command line; not used.
    #[arg(long = "read-timeout", hide = true)]
    pub read_timeout: Option<String>,
    /// Accepted for compatibility with Weaviate's command line; not used.
    #[arg(long = "write-timeout", hide = true)]
    pub write_timeout: Option<String>,
    /// Directory that holds all data.
    #[arg(
        long = "data-path",
        env = "PERSISTENCE_DATA_PATH",
        default_value = "./data"
    )]
    pub data_path: PathBuf,
    /// Name of this node (default: the machine's host name).
    #[arg(long = "cluster-hostname", env = "CLUSTER_HOSTNAME")]
    pub cluster_hostname: Option<String>,
    /// trace, debug, info, warning, error, fatal or panic.
    #[arg(long = "log-level", env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// `json` or `text`.
    #[arg(long = "log-format", env = "LOG_FORMAT", default_value = "json")]
    pub log_format: String,
    /// Limit of object listings that give none.
    #[arg(
        long = "query-defaults-limit",
        env = "QUERY_DEFAULTS_LIMIT",
        default_value = "10"
    )]
    pub query_defaults_limit: String,
    /// Limit of GraphQL `Get` queries that give none of limit, offset and autocut.
    #[arg(
        long = "query-defaults-limit-graphql",
        env = "QUERY_DEFAULTS_LIMIT_GRAPHQL",
        default_value = "100"
    )]
    pub query_defaults_limit_graphql: String,
    /// Largest offset + limit of a query.
    #[arg(
        long = "query-maximum-results",
        env = "QUERY_MAXIMUM_RESULTS",
        default_value = "10000"
    )]
    pub query_maximum_results: String,
    /// Allow requests without credentials (default: only when no other method is enabled).
    #[arg(
        long = "anonymous-access",
        env = "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED"
    )]
    pub anonymous_access: Option<String>,
    /// API-key authentication (keys in `AUTHENTICATION_APIKEY_ALLOWED_KEYS`, users in
    /// `AUTHENTICATION_APIKEY_USERS`; read from the environment only, never from flags).
    #[arg(long = "apikey-enabled", env = "AUTHENTICATION_APIKEY_ENABLED")]
    pub apikey_enabled: Option<String>,
    /// OIDC authentication (not supported: `true` is refused at startup).
    #[arg(long = "oidc-enabled", env = "AUTHENTICATION_OIDC_ENABLED")]
    pub oidc_enabled: Option<String>,
    /// Vectorizer of classes that name none.
    #[arg(
        long = "default-vectorizer-module",
        env = "DEFAULT_VECTORIZER_MODULE",
        default_value = "none"
    )]
    pub default_vectorizer_module: String,
    /// Compression of new vector indexes that enable none: none, pq, sq, rq-1, rq-4, rq-8, bq.
    #[arg(
        long = "default-quantization",
        env = "DEFAULT_QUANTIZATION",
        default_value = ""
    )]
    pub default_quantization: String,
    /// Comma-separated modules to enable.
    #[arg(long = "enable-modules", env = "ENABLE_MODULES", default_value = "")]
    pub enable_modules: String,
    /// Add unknown properties to the schema on write (true) or reject them (false).
    #[arg(
        long = "autoschema-enabled",
        env = "AUTOSCHEMA_ENABLED",
        default_value = "true"
    )]
    pub autoschema_enabled: String,
    /// Disk use (%) above which a warning is logged; 0 disables.
    #[arg(
        long = "disk-use-warning-percentage",
        env = "DISK_USE_WARNING_PERCENTAGE",
        default_value = "80"
    )]
    pub disk_use_warning_percentage: String,
    /// Disk use (%) above which shards turn READONLY; 0 disables.
    #[arg(
        long = "disk-use-readonly-percentage",
        env = "DISK_USE_READONLY_PERCENTAGE",
        default_value = "90"
    )]
    pub disk_use_readonly_percentage: String,
    /// weft: shards turn READONLY when less than this many MiB are available, whatever the
    /// percentage (room for flushes and compaction); 0 disables.
    #[arg(
        long = "disk-use-readonly-min-free-mb",
        env = "DISK_USE_READONLY_MIN_FREE_MB",
        default_value = "auto"
    )]
    pub disk_use_readonly_min_free_mb: String,
    /// weft: the read-only percentage only applies while less than this many MiB are
    /// available (a huge disk with room to spare stays writable); 0 = always, as Weaviate.
    #[arg(
        long = "disk-use-readonly-percentage-max-free-mb",
        env = "DISK_USE_READONLY_PERCENTAGE_MAX_FREE_MB",
        default_value = "32768"
    )]
    pub disk_use_readonly_percentage_max_free_mb: String,
    /// Admin subcommand (`weft verify`); without one, `weft` runs the server.
    #[command(subcommand)]
    pub admin: Option<crate::verify::AdminCommand>,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub grpc_port: u16,
    pub grpc_max_message_size: usize,
    pub graceful_timeout: Duration,
    pub data_path: PathBuf,
    pub node_name: String,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    pub query_defaults_limit: u64,
    pub query_defaults_limit_graphql: u64,
    pub query_maximum_results: u64,
    pub default_vectorizer: String,
    /// `DEFAULT_QUANTIZATION`.
    pub default_quantization: weft_db::schema::DefaultQuantization,
    pub autoschema_enabled: bool,
    pub disk_use_warning_percentage: u8,
    pub disk_use_readonly_percentage: u8,
    /// `None`: `auto`, the smaller of 512 MiB and 5 % of the volume.
    pub disk_use_readonly_min_free_mb: Option<u64>,
    pub disk_use_readonly_percentage_max_free_mb: u64,
    /// Warnings to log once logging is up (e.g. an unknown log level).
    pub warnings: Vec<ConfigWarning>,
    /// Storage-engine options from `PERSISTENCE_*` variables (memtable size, flush interval,
    /// WAL sync policy, deletion grace, segment size).
    pub storage: weft_db::StorageOptions,
    /// Enabled backup modules (`ENABLE_MODULES`).
    pub backups: Vec<weft_backup::BackendConfig>,
    /// Target chunk size of backups (`BACKUP_CHUNK_SIZE_MB`, weft's own; default 128 MiB).
    pub backup_chunk_size: u64,
    /// Tests only: a pause after each backup chunk (`WEFT_BACKUP_TEST_CHUNK_PAUSE_MS`).
    pub backup_test_chunk_pause: Option<Duration>,
    /// Authentication and authorization (`AUTHENTICATION_*`, `AUTHORIZATION_ADMINLIST_*`).
    pub auth: weft_server::auth::AuthConfig,
    /// `PROMETHEUS_MONITORING_PORT` when `PROMETHEUS_MONITORING_ENABLED`.
    pub metrics_port: Option<u16>,
}

/// A non-fatal configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWarning {
    /// `LOG_LEVEL` had an unknown value; info is used.
    UnknownLogLevel(String),
}

/// Log verbosity, Weaviate's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warning,
    Error,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// A configuration value that cannot be used; the message names the flag and the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

fn invalid(var: &str, flag: &str, value: &str, why: &str) -> ConfigError {
    ConfigError(format!("{var} (--{flag}) = {value:?}: {why}"))
}

fn port(var: &str, flag: &str, value: &str) -> Result<u16, ConfigError> {
    match value.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(invalid(
            var,
            flag,
            value,
            "must be a port number from 1 to 65535",
        )),
    }
}

fn positive(var: &str, flag: &str, value: &str) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(
            var,
            flag,
            value,
            "must be a whole number greater than 0",
        )),
    }
}

fn mebibytes(var: &str, flag: &str, value: &str) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(n) if n <= u64::MAX >> 20 => Ok(n),
        _ => Err(invalid(
            var,
            flag,
            value,
            "must be a whole number of MiB (0 disables)",
        )),
    }
}

fn percentage(var: &str, flag: &str, value: &str) -> Result<u8, ConfigError> {
    match value.trim().parse::<u8>() {
        Ok(n) if n <= 100 => Ok(n),
        _ => Err(invalid(
            var,
            flag,
            value,
            "must be a whole number from 0 to 100 (0 disables)",
        )),
    }
}

/// Weaviate's booleans: `true/1/on/enabled` and `false/0/off/disabled`, any case. weft refuses
/// anything else instead of silently reading it as false.
fn boolean(var: &str, flag: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "enabled" => Ok(true),
        "false" | "0" | "off" | "disabled" | "" => Ok(false),
        _ => Err(invalid(var, flag, value, "must be true or false")),
    }
}

fn duration(flag: &str, value: &str) -> Result<Duration, ConfigError> {
    let v = value.trim();
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = num.parse().map_err(|_| {
        ConfigError(format!(
            "--{flag} = {value:?}: expected a duration like 15s"
        ))
    })?;
    match unit {
        "s" | "" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(ConfigError(format!(
            "--{flag} = {value:?}: expected a duration like 15s"
        ))),
    }
}

fn log_level(value: &str, warnings: &mut Vec<ConfigWarning>) -> LogLevel {
    match value.trim().to_ascii_lowercase().as_str() {
        "trace" => LogLevel::Trace,
        "debug" => LogLevel::Debug,
        "info" => LogLevel::Info,
        "warn" | "warning" => LogLevel::Warning,
        "error" | "fatal" | "panic" => LogLevel::Error,
        _ => {
            warnings.push(ConfigWarning::UnknownLogLevel(value.to_string()));
            LogLevel::Info
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_any(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| env(n))
}

/// One backup module's settings, from Weaviate's variables (read here: only the binary
/// reads the environment).
pub fn backup_module(name: &str) -> Result<weft_backup::BackendConfig, ConfigError> {
    use weft_backup::BackendConfig;
    let required = |var: &str| {
        env(var).ok_or_else(|| {
            ConfigError(format!(
                "ENABLE_MODULES includes {name}: backup init: '{var}' must be set"
            ))
        })
    };
    Ok(match name {
        "backup-filesystem" => {
            let path = PathBuf::from(required("BACKUP_FILESYSTEM_PATH")?);
            if !path.is_absolute() {
                return Err(ConfigError(format!(
                    "BACKUP_FILESYSTEM_PATH = {:?}: init backup backend: relative backup path provided",
                    path.display().to_string()
                )));
            }
            BackendConfig::Filesystem { path }
        }
        "backup-s3" => BackendConfig::S3 {
            bucket: required("BACKUP_S3_BUCKET")?,
            path: env("BACKUP_S3_PATH").unwrap_or_default(),
            endpoint: env("BACKUP_S3_ENDPOINT")
                .unwrap_or_else(|| weft_backup::backend::DEFAULT_S3_ENDPOINT.to_string()),
            use_ssl: env("BACKUP_S3_USE_SSL")
                .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false")),
            region: env_any(&["AWS_REGION", "AWS_DEFAULT_REGION"]),
            access_key: env_any(&["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"]),
            secret_key: env_any(&["AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"]),
            session_token: env("AWS_SESSION_TOKEN"),
        },
        "backup-gcs" => BackendConfig::Gcs {
            bucket: required("BACKUP_GCS_BUCKET")?,
            path: env("BACKUP_GCS_PATH").unwrap_or_default(),
            credentials: env("GOOGLE_APPLICATION_CREDENTIALS"),
        },
        "backup-azure" => BackendConfig::Azure {
            container: required("BACKUP_AZURE_CONTAINER")?,
            path: env("BACKUP_AZURE_PATH").unwrap_or_default(),
            account: required("AZURE_STORAGE_ACCOUNT")?,
            key: env("AZURE_STORAGE_KEY"),
        },
        other => {
            let why = if WEAVIATE_MODULES.contains(&other) {
                "this Weaviate module is not available in weft yet"
            } else {
                "unknown module"
            };
            return Err(invalid("ENABLE_MODULES", "enable-modules", other, why));
        }
    })
}

/// The enabled modules (only backup modules ship) and the default vectorizer's check.
fn modules(
    enable: &str,
    default_vectorizer: &str,
) -> Result<Vec<weft_backup::BackendConfig>, ConfigError> {
    let mut backups = Vec::new();
    for name in enable.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let module = backup_module(name)?;
        if !backups.contains(&module) {
            backups.push(module);
        }
    }
    let vectorizer = default_vectorizer.trim();
    if !vectorizer.is_empty() && vectorizer != "none" {
        return Err(invalid(
            "DEFAULT_VECTORIZER_MODULE",
            "default-vectorizer-module",
            vectorizer,
            "no such vectorizer is enabled (weft has no vectorizer modules yet; use \"none\")",
        ));
    }
    Ok(backups)
}

/// Reads the storage engine's settings (Weaviate's `PERSISTENCE_*` names and weft's own
/// `PERSISTENCE_WAL_SYNC`, `PERSISTENCE_FILE_DELETION_GRACE`) from the environment.
fn storage_options() -> Result<weft_db::StorageOptions, ConfigError> {
    let mut options = weft_db::StorageOptions::default();
    for name in weft_db::STORAGE_SETTING_NAMES {
        if let Ok(value) = std::env::var(name) {
            options
                .apply_setting(name, &value)
                .map_err(|e| ConfigError(format!("{name} = {value:?}: {e}")))?;
        }
    }
    Ok(options)
}

fn list(var: &str) -> Vec<String> {
    env(var)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

impl Cli {
    /// Authentication and authorization, as Weaviate reads them.
    fn auth(&self) -> Result<weft_server::auth::AuthConfig, ConfigError> {
        let flag = |value: &Option<String>, var: &str, flag: &str| match value {
            Some(v) => boolean(var, flag, v).map(Some),
            None => Ok(None),
        };
        if flag(
            &self.oidc_enabled,
            "AUTHENTICATION_OIDC_ENABLED",
            "oidc-enabled",
        )? == Some(true)
        {
            return Err(invalid(
                "AUTHENTICATION_OIDC_ENABLED",
                "oidc-enabled",
                "true",
                "OIDC authentication is not supported by weft; use API keys (AUTHENTICATION_APIKEY_ENABLED)",
            ));
        }
        let apikey = flag(
            &self.apikey_enabled,
            "AUTHENTICATION_APIKEY_ENABLED",
            "apikey-enabled",
        )?
        .unwrap_or(false);
        let anonymous = flag(
            &self.anonymous_access,
            "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED",
            "anonymous-access",
        )?
        // Weaviate: with no authentication method at all, anonymous access is on.
        .unwrap_or(!apikey);
        let mut keys = Vec::new();
        if apikey {
            let allowed = list("AUTHENTICATION_APIKEY_ALLOWED_KEYS");
            let users = list("AUTHENTICATION_APIKEY_USERS");
            if allowed.is_empty() {
                return Err(ConfigError(
                    "AUTHENTICATION_APIKEY_ENABLED is true but AUTHENTICATION_APIKEY_ALLOWED_KEYS is empty".into(),
                ));
            }
            if users.is_empty() || (users.len() != 1 && users.len() != allowed.len()) {
                return Err(ConfigError(format!(
                    "AUTHENTICATION_APIKEY_USERS must contain either 1 entry or as many as AUTHENTICATION_APIKEY_ALLOWED_KEYS ({}), got {}",
                    allowed.len(),
                    users.len()
                )));
            }
            for (i, key) in allowed.into_iter().enumerate() {
                let user = users.get(i).or(users.first()).cloned().unwrap_or_default();
                keys.push((key, user));
            }
        }
        let adminlist = match env("AUTHORIZATION_ADMINLIST_ENABLED") {
            Some(v) if boolean("AUTHORIZATION_ADMINLIST_ENABLED", "-", &v)? => {
                Some(weft_server::auth::AdminList {
                    admins: list("AUTHORIZATION_ADMINLIST_USERS").into_iter().collect(),
                    readonly: list("AUTHORIZATION_ADMINLIST_READONLY_USERS")
                        .into_iter()
                        .collect(),
                })
            }
            _ => None,
        };
        if env("AUTHORIZATION_RBAC_ENABLED")
            .is_some_and(|v| boolean("AUTHORIZATION_RBAC_ENABLED", "-", &v).unwrap_or(false))
        {
            return Err(ConfigError(
                "AUTHORIZATION_RBAC_ENABLED: RBAC is not supported by weft; use AUTHORIZATION_ADMINLIST_*".into(),
            ));
        }
        Ok(weft_server::auth::AuthConfig {
            anonymous,
            apikey,
            keys,
            adminlist,
        })
    }

    /// Validates every value; the first problem is returned.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        if let Some(scheme) = self.scheme.iter().find(|s| s.as_str() != "http") {
            return Err(ConfigError(format!(
                "--scheme {scheme:?}: only \"http\" is supported"
            )));
        }
        let mut warnings = Vec::new();
        let host = self.host.trim().to_string();
        if host.is_empty()
            || (host.contains(char::is_whitespace) && host.parse::<IpAddr>().is_err())
        {
            return Err(invalid(
                "HOST",
                "host",
                &self.host,
                "must be a host name or IP address",
            ));
        }
        let auth = self.auth()?;
        let backups = modules(&self.enable_modules, &self.default_vectorizer_module)?;
        let backup_chunk_size = match env("BACKUP_CHUNK_SIZE_MB") {
            None => 128 << 20,
            Some(v) => match v.trim().parse::<f64>() {
                Ok(mb) if mb > 0.0 && mb.is_finite() => ((mb * 1048576.0) as u64).max(1),
                _ => {
                    return Err(ConfigError(format!(
                        "BACKUP_CHUNK_SIZE_MB = {v:?}: must be a positive number of MiB"
                    )));
                }
            },
        };
        let warning = percentage(
            "DISK_USE_WARNING_PERCENTAGE",
            "disk-use-warning-percentage",
            &self.disk_use_warning_percentage,
        )?;
        let readonly = percentage(
            "DISK_USE_READONLY_PERCENTAGE",
            "disk-use-readonly-percentage",
            &self.disk_use_readonly_percentage,
        )?;
        let node_name = match self.cluster_hostname.as_deref().map(str::trim) {
            Some("") => {
                return Err(invalid(
                    "CLUSTER_HOSTNAME",
                    "cluster-hostname",
                    "",
                    "must not be empty",
                ));
            }
            Some(name) => name.to_string(),
            None => gethostname::gethostname().to_string_lossy().into_owned(),
        };
        let log_format = match self.log_format.trim().to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            _ => LogFormat::Json,
        };
        Ok(Config {
            port: port("PORT", "port", &self.port)?,
            grpc_port: port("GRPC_PORT", "grpc-port", &self.grpc_port)?,
            grpc_max_message_size: positive(
                "GRPC_MAX_MESSAGE_SIZE",
                "grpc-max-message-size",
                &self.grpc_max_message_size,
            )? as usize,
            graceful_timeout: duration("graceful-timeout", &self.graceful_timeout)?,
            query_defaults_limit: positive(
                "QUERY_DEFAULTS_LIMIT",
                "query-defaults-limit",
                &self.query_defaults_limit,
            )?,
            query_defaults_limit_graphql: positive(
                "QUERY_DEFAULTS_LIMIT_GRAPHQL",
                "query-defaults-limit-graphql",
                &self.query_defaults_limit_graphql,
            )?,
            query_maximum_results: positive(
                "QUERY_MAXIMUM_RESULTS",
                "query-maximum-results",
                &self.query_maximum_results,
            )?,
            autoschema_enabled: boolean(
                "AUTOSCHEMA_ENABLED",
                "autoschema-enabled",
                &self.autoschema_enabled,
            )?,
            log_level: log_level(&self.log_level, &mut warnings),
            log_format,
            host,
            data_path: self.data_path,
            node_name,
            default_vectorizer: "none".to_string(),
            default_quantization: weft_db::schema::DefaultQuantization::parse(
                &self.default_quantization,
            )
            .map_err(|why| {
                invalid(
                    "DEFAULT_QUANTIZATION",
                    "default-quantization",
                    &self.default_quantization,
                    &why,
                )
            })?,
            disk_use_warning_percentage: warning,
            disk_use_readonly_percentage: readonly,
            disk_use_readonly_min_free_mb: match self.disk_use_readonly_min_free_mb.trim() {
                "auto" => None,
                value => Some(mebibytes(
                    "DISK_USE_READONLY_MIN_FREE_MB",
                    "disk-use-readonly-min-free-mb",
                    value,
                )?),
            },
            disk_use_readonly_percentage_max_free_mb: mebibytes(
                "DISK_USE_READONLY_PERCENTAGE_MAX_FREE_MB",
                "disk-use-readonly-percentage-max-free-mb",
                &self.disk_use_readonly_percentage_max_free_mb,
            )?,
            warnings,
            storage: storage_options()?,
            backups,
            backup_chunk_size,
            auth,
            metrics_port: match env("PROMETHEUS_MONITORING_ENABLED") {
                Some(v) if boolean("PROMETHEUS_MONITORING_ENABLED", "-", &v)? => Some(port(
                    "PROMETHEUS_MONITORING_PORT",
                    "-",
                    &env("PROMETHEUS_MONITORING_PORT").unwrap_or_else(|| "2112".into()),
                )?),
                _ => None,
            },
            backup_test_chunk_pause: env("WEFT_BACKUP_TEST_CHUNK_PAUSE_MS")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_millis),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let mut argv = vec!["weft"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
            .expect("clap accepts")
            .into_config()
    }

    #[test]
    fn flags_are_validated_with_the_variable_named() {
        let err = parse(&["--port", "abc"]).unwrap_err().to_string();
        assert!(err.contains("PORT") && err.contains("abc"), "{err}");
        let err = parse(&["--disk-use-readonly-percentage", "150"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("DISK_USE_READONLY_PERCENTAGE"), "{err}");
        let err = parse(&["--disk-use-readonly-min-free-mb", "lots"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("DISK_USE_READONLY_MIN_FREE_MB"), "{err}");
        let err = parse(&["--enable-modules", "text2vec-openai"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not available"), "{err}");
        let err = parse(&["--enable-modules", "nope"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown module"), "{err}");
        let err = parse(&["--autoschema-enabled", "maybe"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("AUTOSCHEMA_ENABLED"), "{err}");
        let err = parse(&["--apikey-enabled", "true"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("AUTHENTICATION_APIKEY_ALLOWED_KEYS"), "{err}");
        let err = parse(&["--oidc-enabled", "true"]).unwrap_err().to_string();
        assert!(
            err.contains("OIDC authentication is not supported"),
            "{err}"
        );
        let err = parse(&["--scheme", "https"]).unwrap_err().to_string();
        assert!(err.contains("https"), "{err}");
    }

    #[test]
    fn defaults_match_weaviate() {
        let c = parse(&["--cluster-hostname", "n1"]).unwrap();
        assert_eq!((c.port, c.grpc_port), (8080, 50051));
        assert_eq!(c.data_path, PathBuf::from("./data"));
        assert_eq!(
            (c.query_defaults_limit, c.query_maximum_results),
            (10, 10_000)
        );
        assert_eq!(
            (
                c.disk_use_warning_percentage,
                c.disk_use_readonly_percentage
            ),
            (80, 90)
        );
        assert_eq!(
            (
                c.disk_use_readonly_min_free_mb,
                c.disk_use_readonly_percentage_max_free_mb
            ),
            (None, 32768)
        );
        assert!(c.autoschema_enabled);
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.graceful_timeout, Duration::from_secs(15));
        assert_eq!(c.node_name, "n1");
    }

    #[test]
    fn unknown_log_level_falls_back_to_info_with_a_warning() {
        let c = parse(&["--log-level", "loud"]).unwrap();
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(
            c.warnings,
            vec![ConfigWarning::UnknownLogLevel("loud".into())]
        );
        assert_eq!(
            parse(&["--log-level", "WARNING"]).unwrap().log_level,
            LogLevel::Warning
        );
    }
}
