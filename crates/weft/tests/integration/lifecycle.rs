//! Lock file, orderly shutdown, restart and `kill -9` survival of the schema.

use crate::Sandbox;
use crate::server::Launch;

#[test]
fn second_process_on_the_same_data_path_is_refused() {
    let sb = Sandbox::new();
    let data = sb.data();
    let first = Launch::new(&data).start();
    let (status, log) = Launch::new(&data).spawn().wait_exit();
    assert!(!status.success());
    assert!(log.contains("in use by another weft process"), "{log}");
    // The first one is unaffected.
    assert_eq!(first.get("/v1/.well-known/ready").status, 200);
}

#[test]
fn sigterm_drains_logs_and_exits_zero_then_lock_is_free() {
    let sb = Sandbox::new();
    let data = sb.data();
    let weft = Launch::new(&data).start();
    let (status, log) = weft.terminate();
    assert!(status.success(), "exit {status}; log:\n{log}");
    assert!(log.contains("Shutting down"), "{log}");
    assert!(log.contains("database closed"), "{log}");
    assert!(log.contains("Stopped serving weft"), "{log}");
    assert!(!data.join("LOCK").exists(), "orderly shutdown removes LOCK");
    // Restart on the same path works.
    let again = Launch::new(&data).start();
    assert_eq!(again.get("/v1/.well-known/ready").status, 200);
}

#[test]
fn kill_minus_9_leaves_no_stale_lock_behind() {
    let sb = Sandbox::new();
    let data = sb.data();
    let weft = Launch::new(&data).start();
    weft.kill9();
    let again = Launch::new(&data).start();
    assert_eq!(again.get("/v1/.well-known/ready").status, 200);
}
