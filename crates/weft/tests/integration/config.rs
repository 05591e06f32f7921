//! Configuration errors stop the start with a message naming the variable.

use crate::Sandbox;
use crate::server::Launch;

fn refused(key: &str, value: &str) -> String {
    let sb = Sandbox::new();
    let data = sb.data();
    let (status, log) = Launch::new(&data).env(key, value).spawn().wait_exit();
    assert!(!status.success(), "{key}={value} was accepted; log:\n{log}");
    log
}

#[test]
fn invalid_values_are_rejected_naming_the_variable() {
    for (key, value) in [
        ("GRPC_PORT", "abc"),
        ("DISK_USE_READONLY_PERCENTAGE", "150"),
        ("DISK_USE_WARNING_PERCENTAGE", "-1"),
        ("QUERY_DEFAULTS_LIMIT", "ten"),
        ("QUERY_MAXIMUM_RESULTS", "0"),
        ("AUTOSCHEMA_ENABLED", "perhaps"),
        ("PERSISTENCE_WAL_SYNC", "sometimes"),
        ("PERSISTENCE_MEMTABLES_MAX_SIZE_MB", "big"),
    ] {
        let log = refused(key, value);
        assert!(
            log.contains(key) && log.contains("\"level\":\"fatal\""),
            "{key}: {log}"
        );
    }
}

#[test]
fn unknown_or_unavailable_modules_are_startup_errors() {
    let log = refused("ENABLE_MODULES", "text2vec-nonsense");
    assert!(log.contains("unknown module"), "{log}");
    let log = refused("ENABLE_MODULES", "text2vec-openai");
    assert!(log.contains("not available"), "{log}");
    let log = refused("DEFAULT_VECTORIZER_MODULE", "text2vec-openai");
    assert!(log.contains("DEFAULT_VECTORIZER_MODULE"), "{log}");
}

#[test]
fn unknown_log_level_warns_and_uses_info() {
    let sb = Sandbox::new();
    let data = sb.data();
    let weft = Launch::new(&data).env("LOG_LEVEL", "chatty").start();
    let lines = weft.log_lines();
    let warning = lines
        .iter()
        .find(|l| l["msg"] == "log level not recognized, defaulting to info")
        .expect("warning line");
    assert_eq!(warning["level"], "warning");
    assert_eq!(warning["log_level_env"], "chatty");
    assert!(lines.iter().any(|l| l["level"] == "info"));
}

#[test]
fn text_log_format_and_flag_over_env_precedence() {
    let sb = Sandbox::new();
    let data = sb.data();
    // LOG_FORMAT=json in the environment, --log-format text on the command line: the flag wins.
    let weft = Launch::new(&data)
        .env("LOG_FORMAT", "json")
        .arg("--log-format")
        .arg("text")
        .start();
    let (_, log) = weft.terminate();
    assert!(log.contains("level=info msg="), "{log}");
}

#[test]
fn backup_modules_need_their_settings() {
    let log = refused("ENABLE_MODULES", "backup-filesystem");
    assert!(log.contains("BACKUP_FILESYSTEM_PATH"), "{log}");
    let log = refused("ENABLE_MODULES", "backup-s3");
    assert!(log.contains("'BACKUP_S3_BUCKET' must be set"), "{log}");
    let sb = Sandbox::new();
    let data = sb.data();
    let (status, log) = Launch::new(&data)
        .env("ENABLE_MODULES", "backup-filesystem")
        .env("BACKUP_FILESYSTEM_PATH", "relative/backups")
        .spawn()
        .wait_exit();
    assert!(
        !status.success() && log.contains("relative backup path provided"),
        "{log}"
    );
}

#[test]
fn enabled_backup_modules_are_listed_in_meta() {
    let sb = Sandbox::new();
    let data = sb.data();
    let backups = sb.dir.path().join("backups");
    let weft = Launch::new(&data)
        .env("ENABLE_MODULES", "backup-filesystem, backup-s3")
        .env("BACKUP_FILESYSTEM_PATH", backups.display().to_string())
        .env("BACKUP_S3_BUCKET", "weft-bucket")
        .env("BACKUP_S3_ENDPOINT", "127.0.0.1:1")
        .env("BACKUP_S3_USE_SSL", "false")
        .start();
    let meta = weft.get("/v1/meta").json();
    assert_eq!(
        meta["modules"]["backup-filesystem"]["backupsPath"],
        backups.display().to_string()
    );
    assert_eq!(meta["modules"]["backup-s3"]["bucketName"], "weft-bucket");
    assert_eq!(meta["modules"]["backup-s3"]["useSSL"], false);
    assert!(backups.is_dir(), "the backup root is created at startup");
    // A backend that is not enabled: Weaviate's 422.
    let r = weft.post("/v1/backups/gcs", r#"{"id":"x"}"#);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.error_message()
            .contains("did you enable the right module?")
    );
}
