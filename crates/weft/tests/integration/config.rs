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
