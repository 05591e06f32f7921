//! Shard status and disk pressure end to end: the shards API (a manual READONLY survives a
//! restart), and the real binary on a small tmpfs that fills up — with thresholds (READONLY,
//! then READY on its own) and without (ENOSPC fails the write cleanly, nothing acknowledged is
//! lost, the shard recovers once space is freed, restarts and `kill -9` recover cleanly).
//!
//! The tmpfs tests need root (CI runs as root); elsewhere they print why they skip.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Sandbox;
use crate::server::{Launch, Weft};

const CLASS_BODY: &str = r#"{"class":"Doc","vectorIndexConfig":{"distance":"cosine"},"properties":[{"name":"body","dataType":["text"]}]}"#;

fn id(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn insert(weft: &Weft, n: u64, body: &str) -> crate::server::Reply {
    let object = json!({"class": "Doc", "id": id(n), "properties": {"body": body}});
    weft.post("/v1/objects", &object.to_string())
}

fn shard(weft: &Weft) -> Value {
    let shards = weft.get("/v1/schema/Doc/shards");
    assert_eq!(shards.status, 200, "{}", shards.body);
    shards.json()[0].clone()
}

fn put_status(weft: &Weft, shard: &str, status: &str) -> crate::server::Reply {
    weft.request(
        "PUT",
        &format!("/v1/schema/Doc/shards/{shard}"),
        Some(&json!({ "status": status }).to_string()),
    )
}

/// Polls until the shard has `status`; fails with the log after 30 s.
fn wait_status(weft: &Weft, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while shard(weft)["status"] != status {
        assert!(
            Instant::now() < deadline,
            "shard never became {status}; log:\n{}",
            weft.log_text()
        );
        sleep(Duration::from_millis(50));
    }
}

fn has_log(weft: &Weft, action: &str, msg_part: &str) -> bool {
    weft.log_lines()
        .iter()
        .any(|l| l["action"] == action && l["msg"].as_str().is_some_and(|m| m.contains(msg_part)))
}

fn no_thresholds(launch: Launch<'_>) -> Launch<'_> {
    launch
        .env("DISK_USE_WARNING_PERCENTAGE", "0")
        .env("DISK_USE_READONLY_PERCENTAGE", "0")
        .env("DISK_USE_READONLY_MIN_FREE_MB", "0")
}

#[test]
fn manual_readonly_refuses_writes_and_survives_restart() {
    let sb = Sandbox::new();
    let data = sb.data();
    let weft = no_thresholds(Launch::new(&data)).start();
    assert_eq!(weft.post("/v1/schema", CLASS_BODY).status, 200);
    assert_eq!(insert(&weft, 1, "before").status, 200);
    let name = shard(&weft)["name"].as_str().expect("name").to_string();

    let set = put_status(&weft, &name, "readonly");
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.json(), json!({"status": "READONLY"}));
    let refused = insert(&weft, 2, "refused");
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert!(
        refused
            .error_message()
            .contains("store is read-only due to: manually set by user"),
        "{}",
        refused.body
    );
    assert_eq!(weft.get(&format!("/v1/objects/Doc/{}", id(1))).status, 200);
    assert!(weft.log_lines().iter().any(|l| {
        l["action"] == "update_shard_status"
            && l["msg"] == "shard status changed"
            && l["level"] == "warning"
            && l["class"] == "Doc"
            && l["shard"] == name.as_str()
            && l["status"] == "READONLY"
            && l["prev"] == "READY"
            && l["reason"] == "manually set by user"
    }));

    let (status, _) = weft.terminate();
    assert!(status.success());
    let weft = no_thresholds(Launch::new(&data)).start();
    assert_eq!(shard(&weft)["status"], "READONLY");
    assert_eq!(insert(&weft, 2, "still refused").status, 500);

    let ready = put_status(&weft, &name, "READY");
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json(), json!({"status": "READY"}));
    assert_eq!(insert(&weft, 2, "accepted").status, 200);

    for bad in ["INDEXING", "shutdown", "bogus", "LOADING"] {
        let reply = put_status(&weft, &name, bad);
        assert_eq!(reply.status, 422, "{bad}: {}", reply.body);
        assert!(
            reply.error_message().contains("invalid storage status"),
            "{}",
            reply.body
        );
    }
    let missing_shard = put_status(&weft, "nope", "READY");
    assert_eq!(missing_shard.status, 404, "{}", missing_shard.body);
    assert!(!missing_shard.error_message().is_empty());
    let missing_class = weft.request(
        "PUT",
        &format!("/v1/schema/Nope/shards/{name}"),
        Some(r#"{"status":"READY"}"#),
    );
    assert_eq!(missing_class.status, 404, "{}", missing_class.body);
    assert!(!missing_class.error_message().is_empty());
}

/// A tmpfs mounted over the sandbox's data directory; unmounted on drop (also on panic).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts `size_mb` MiB at `dir`, or says why it cannot (not root, no mount permission).
    fn mount(dir: &Path, size_mb: u32) -> Result<Self, String> {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not running as root".into());
        }
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mb}m"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn small_disk(sb: &Sandbox, test: &str) -> Option<Tmpfs> {
    match Tmpfs::mount(&sb.data(), 8) {
        Ok(fs) => Some(fs),
        Err(why) => {
            println!("SKIPPED {test}: needs a tmpfs mount ({why}); CI runs it as root");
            None
        }
    }
}

/// Writes a ballast file of up to `bytes` on the data file system; stops at ENOSPC.
fn ballast(path: &Path, bytes: usize) {
    let mut file = File::create(path).expect("create ballast");
    let chunk = vec![0xA5u8; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        if file.write_all(&chunk[..n]).is_err() {
            break;
        }
        left -= n;
    }
    let _ = file.sync_all();
}

#[test]
fn disk_pressure_on_a_small_tmpfs_sets_readonly_then_ready() {
    let sb = Sandbox::new();
    let Some(_fs) = small_disk(
        &sb,
        "disk_pressure_on_a_small_tmpfs_sets_readonly_then_ready",
    ) else {
        return;
    };
    let data = sb.data();
    let launch = Launch::new(&data)
        .env("DISK_USE_WARNING_PERCENTAGE", "50")
        .env("DISK_USE_READONLY_PERCENTAGE", "75")
        .env("DISK_USE_READONLY_MIN_FREE_MB", "0")
        .env("DISK_USE_READONLY_PERCENTAGE_MAX_FREE_MB", "0");
    let weft = launch.start();
    assert_eq!(weft.post("/v1/schema", CLASS_BODY).status, 200);
    assert_eq!(insert(&weft, 1, "before the ballast").status, 200);
    assert_eq!(shard(&weft)["status"], "READY");

    let ballast_path = data.join("ballast.bin");
    ballast(&ballast_path, 7 << 20);
    wait_status(&weft, "READONLY");
    assert!(has_log(&weft, "read_disk_use", "disk usage currently at"));
    assert!(has_log(
        &weft,
        "set_shard_read_only",
        "Set READONLY, disk usage currently at"
    ));
    assert!(has_log(
        &weft,
        "set_shard_read_only",
        "threshold set to 75.00%"
    ));
    let refused = insert(&weft, 2, "under pressure");
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert!(
        refused
            .error_message()
            .contains("store is read-only due to: resource pressure"),
        "{}",
        refused.body
    );
    assert_eq!(weft.get(&format!("/v1/objects/Doc/{}", id(1))).status, 200);

    std::fs::remove_file(&ballast_path).expect("remove ballast");
    wait_status(&weft, "READY");
    assert!(has_log(
        &weft,
        "set_shard_ready",
        "Resource usage below threshold. Set shards back to READY"
    ));
    assert_eq!(insert(&weft, 2, "after the ballast").status, 200);
    let (status, log) = weft.terminate();
    assert!(status.success(), "{log}");
}

#[test]
fn enospc_without_thresholds_loses_nothing_acknowledged() {
    let sb = Sandbox::new();
    let Some(_fs) = small_disk(&sb, "enospc_without_thresholds_loses_nothing_acknowledged") else {
        return;
    };
    let data = sb.data();
    let weft = no_thresholds(Launch::new(&data)).start();
    assert_eq!(weft.post("/v1/schema", CLASS_BODY).status, 200);
    // Leave about 1.5 MiB, then write 16 KiB objects until the disk is full.
    let ballast_path = data.join("ballast.bin");
    ballast(&ballast_path, (6 << 20) + (512 << 10));
    let text = "x".repeat(16 * 1024);
    let mut acked = Vec::new();
    let mut failure = None;
    for n in 1..=2000 {
        let reply = insert(&weft, n, &text);
        if reply.status == 200 {
            acked.push(n);
        } else {
            failure = Some((n, reply));
            break;
        }
    }
    let (failed_n, failed) = failure.expect("the disk never filled up");
    assert_eq!(failed.status, 500, "{}", failed.body);
    let message = failed.error_message();
    assert!(!message.is_empty(), "{}", failed.body);
    assert!(
        !acked.is_empty(),
        "nothing was written before the disk filled"
    );
    // The shard is READONLY now and says why; reads still work.
    let after = insert(&weft, failed_n + 1, "x");
    assert_eq!(after.status, 500, "{}", after.body);
    assert!(
        after.error_message().contains("store is read-only due to:"),
        "{}",
        after.body
    );
    assert_eq!(shard(&weft)["status"], "READONLY");
    assert_eq!(
        weft.get(&format!("/v1/objects/Doc/{}", id(acked[0])))
            .status,
        200
    );

    // Freeing space lets the monitor reopen the shard and set it READY on its own.
    std::fs::remove_file(&ballast_path).expect("remove ballast");
    wait_status(&weft, "READY");
    let next = failed_n + 1;
    assert_eq!(insert(&weft, next, "after recovery").status, 200);
    acked.push(next);
    assert_all_present(&weft, &acked);

    // A crash right after: every acknowledged object is back.
    weft.kill9();
    let weft = no_thresholds(Launch::new(&data)).start();
    assert_eq!(shard(&weft)["status"], "READY");
    assert_all_present(&weft, &acked);
    assert_eq!(insert(&weft, next + 1, "after kill -9").status, 200);
    acked.push(next + 1);
    let (status, log) = weft.terminate();
    assert!(status.success(), "{log}");
    let weft = no_thresholds(Launch::new(&data)).start();
    assert_all_present(&weft, &acked);
}

fn assert_all_present(weft: &Weft, acked: &[u64]) {
    for n in acked {
        let reply = weft.get(&format!("/v1/objects/Doc/{}", id(*n)));
        assert_eq!(
            reply.status, 200,
            "acknowledged object {n} is missing: {}",
            reply.body
        );
    }
}

/// A restore onto a data directory too small for it: FAILED with the reason, no class, no
/// staging left, and the server keeps serving (and restores once there is room).
#[test]
fn a_restore_that_fills_the_disk_fails_and_leaves_no_class() {
    let sb = Sandbox::new();
    let Some(_fs) = small_disk(
        &sb,
        "a_restore_that_fills_the_disk_fails_and_leaves_no_class",
    ) else {
        return;
    };
    let backups = sb.dir.path().join("backups");
    let big = sb.dir.path().join("big");
    fn backup_env<'a>(l: Launch<'a>, backups: &Path) -> Launch<'a> {
        no_thresholds(l)
            .env("ENABLE_MODULES", "backup-filesystem")
            .env("BACKUP_FILESYSTEM_PATH", backups.display().to_string())
    }
    // ~12 MB of data on a normal disk, backed up.
    let src = backup_env(Launch::new(&big), &backups).start();
    assert_eq!(src.post("/v1/schema", CLASS_BODY).status, 200);
    let body: String = (0..3000).map(|i| format!("w{i} ")).collect();
    for round in 0..12u64 {
        let batch: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    r#"{{"class":"Doc","id":"{}","properties":{{"body":"{body}"}}}}"#,
                    id(round * 100 + i)
                )
            })
            .collect();
        let r = src.post(
            "/v1/batch/objects",
            &format!(r#"{{"objects":[{}]}}"#, batch.join(",")),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = src.post(
        "/v1/backups/filesystem",
        r#"{"id":"big","config":{"CompressionLevel":"BestCompression"}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    wait_backup(&src, "/v1/backups/filesystem/big", "SUCCESS");
    drop(src.terminate());

    let data = sb.data();
    let weft = backup_env(Launch::new(&data), &backups).start();
    let r = weft.post("/v1/backups/filesystem/big/restore", "{}");
    assert_eq!(r.status, 200, "{}", r.body);
    let status = wait_backup(&weft, "/v1/backups/filesystem/big/restore", "FAILED");
    assert!(
        status["error"]
            .as_str()
            .unwrap_or_default()
            .contains("No space left"),
        "{status}"
    );
    assert_eq!(weft.get("/v1/schema/Doc").status, 404);
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".restore-staging") || n.ends_with(".restored") || n == "doc")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The server still serves writes.
    assert_eq!(
        weft.post("/v1/schema", CLASS_BODY.replace("Doc", "Small").as_str())
            .status,
        200
    );
}

/// Polls a backup or restore status until it is final; asserts it is `want`.
fn wait_backup(weft: &Weft, path: &str, want: &str) -> Value {
    for _ in 0..1200 {
        let st = weft.get(path).json();
        let s = st["status"].as_str().unwrap_or_default().to_string();
        if ["SUCCESS", "FAILED", "CANCELED"].contains(&s.as_str()) {
            assert_eq!(s, want, "{st}");
            return st;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{path} never finished");
}
