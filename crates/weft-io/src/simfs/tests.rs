use std::io::ErrorKind;

use super::*;
use crate::create_dir_durable;

fn write(fs: &SimFs, path: &str, bytes: &[u8], sync: bool) {
    let mut f = fs.create(Path::new(path)).unwrap();
    f.write_all(bytes).unwrap();
    if sync {
        f.sync_data().unwrap();
    }
}

fn durable_dir(fs: &SimFs, d: &str) {
    create_dir_durable(fs, Path::new(d)).unwrap();
}

#[test]
fn unsynced_entries_and_data_vanish_on_power_loss() {
    let fs = SimFs::new();
    durable_dir(&fs, "/d");
    write(&fs, "/d/a", b"durable", true);
    fs.sync_dir(Path::new("/d")).unwrap();
    write(&fs, "/d/b", b"not linked", true);
    let mut f = fs.open_append(Path::new("/d/a")).unwrap();
    f.write_all(b" tail").unwrap();
    fs.crash(CrashMode::Drop);
    assert_eq!(fs.read_all(Path::new("/d/a")).unwrap(), b"durable");
    assert!(!fs.exists(Path::new("/d/b")).unwrap());
    assert!(f.write_all(b"x").is_err(), "old handles die with the crash");
}

#[test]
fn a_directory_is_durable_only_after_its_parent_is_synced() {
    let fs = SimFs::new();
    fs.create_dir_all(Path::new("/d/sub")).unwrap();
    write(&fs, "/d/sub/a", b"x", true);
    fs.sync_dir(Path::new("/d/sub")).unwrap();
    fs.crash(CrashMode::Drop);
    assert!(
        !fs.exists(Path::new("/d/sub/a")).unwrap(),
        "parent never synced"
    );
    assert!(!fs.exists(Path::new("/d")).unwrap());

    durable_dir(&fs, "/d/sub");
    write(&fs, "/d/sub/a", b"x", true);
    fs.sync_dir(Path::new("/d/sub")).unwrap();
    fs.crash(CrashMode::Drop);
    assert_eq!(fs.read_all(Path::new("/d/sub/a")).unwrap(), b"x");
}

#[test]
fn keep_mode_keeps_renames_unlinks_and_unsynced_bytes() {
    let fs = SimFs::new();
    durable_dir(&fs, "/d");
    write(&fs, "/d/a", b"abc", false);
    write(&fs, "/d/gone", b"x", true);
    fs.sync_dir(Path::new("/d")).unwrap();
    fs.rename(Path::new("/d/a"), Path::new("/d/b")).unwrap();
    fs.remove_file(Path::new("/d/gone")).unwrap();
    fs.crash_after(1);
    assert!(fs.remove_file(Path::new("/d/b")).is_err());
    assert!(fs.has_crashed());
    fs.crash(CrashMode::Keep);
    assert_eq!(fs.read_all(Path::new("/d/b")).unwrap(), b"abc");
    assert!(!fs.exists(Path::new("/d/a")).unwrap());
    assert!(!fs.exists(Path::new("/d/gone")).unwrap());
    // Nothing of that was synced: a power loss after the process crash undoes it.
    fs.crash(CrashMode::Drop);
    assert_eq!(fs.read_all(Path::new("/d/a")).unwrap(), b"");
    assert!(fs.exists(Path::new("/d/gone")).unwrap());
}

#[test]
fn torn_mode_keeps_a_prefix() {
    for seed in 0..20 {
        let fs = SimFs::new();
        durable_dir(&fs, "/d");
        write(&fs, "/d/a", b"0123", true);
        fs.sync_dir(Path::new("/d")).unwrap();
        let mut f = fs.open_append(Path::new("/d/a")).unwrap();
        f.write_all(b"456789").unwrap();
        fs.crash(CrashMode::Torn { seed });
        let data = fs.read_all(Path::new("/d/a")).unwrap();
        assert!(data.len() >= 4 && b"0123456789".starts_with(&data));
    }
}

#[test]
fn a_failed_fsync_leaves_readable_bytes_that_never_become_durable() {
    let fs = SimFs::new();
    durable_dir(&fs, "/d");
    let mut f = fs.create(Path::new("/d/wal")).unwrap();
    fs.sync_dir(Path::new("/d")).unwrap();
    f.write_all(b"aaaa").unwrap();
    f.sync_data().unwrap();
    f.write_all(b"bbbb").unwrap();
    fs.fail(Some(Op::SyncData), 1, ErrorKind::Other);
    let err = f.sync_data().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert_eq!(fs.faults_injected(), 1);
    // The page cache still serves the failed bytes ...
    assert_eq!(fs.read_all(Path::new("/d/wal")).unwrap(), b"aaaabbbb");
    // ... a later fsync succeeds and makes the newer bytes durable, but not those.
    f.write_all(b"cccc").unwrap();
    f.sync_data().unwrap();
    fs.crash(CrashMode::Drop);
    assert_eq!(
        fs.read_all(Path::new("/d/wal")).unwrap(),
        b"aaaa\0\0\0\0cccc"
    );
}

#[test]
fn truncating_past_lost_bytes_forgets_them() {
    let fs = SimFs::new();
    durable_dir(&fs, "/d");
    let mut f = fs.create(Path::new("/d/wal")).unwrap();
    fs.sync_dir(Path::new("/d")).unwrap();
    f.write_all(b"aaaabbbb").unwrap();
    fs.fail(Some(Op::SyncData), 1, ErrorKind::Other);
    assert!(f.sync_data().is_err());
    fs.truncate_and_sync(Path::new("/d/wal"), 0).unwrap();
    let mut f = fs.open_append(Path::new("/d/wal")).unwrap();
    f.write_all(b"cc").unwrap();
    f.sync_data().unwrap();
    fs.crash(CrashMode::Drop);
    assert_eq!(fs.read_all(Path::new("/d/wal")).unwrap(), b"cc");
}

#[test]
fn a_failed_write_is_short_and_later_syncs_can_persist_it() {
    let fs = SimFs::new();
    durable_dir(&fs, "/d");
    let mut f = fs.create(Path::new("/d/f")).unwrap();
    fs.sync_dir(Path::new("/d")).unwrap();
    fs.fail(Some(Op::Write), 1, ErrorKind::StorageFull);
    let err = f.write_all(b"12345678").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StorageFull);
    f.sync_data().unwrap();
    fs.crash(CrashMode::Drop);
    assert_eq!(fs.read_all(Path::new("/d/f")).unwrap(), b"1234");
}

#[test]
fn failed_namespace_calls_change_nothing() {
    let fs = SimFs::new();
    durable_dir(&fs, "/d");
    write(&fs, "/d/a", b"x", true);
    fs.fail(None, 1, ErrorKind::Other);
    assert!(fs.rename(Path::new("/d/a"), Path::new("/d/b")).is_err());
    assert!(fs.exists(Path::new("/d/a")).unwrap());
    fs.fail(Some(Op::Remove), 1, ErrorKind::Other);
    assert!(fs.remove_file(Path::new("/d/a")).is_err());
    assert!(fs.exists(Path::new("/d/a")).unwrap());
    fs.fail(Some(Op::Mkdir), 1, ErrorKind::StorageFull);
    assert!(fs.create_dir_all(Path::new("/d/e")).is_err());
    assert!(!fs.exists(Path::new("/d/e")).unwrap());
    fs.fail(Some(Op::SyncDir), 1, ErrorKind::Other);
    assert!(fs.sync_dir(Path::new("/d")).is_err());
    fs.crash(CrashMode::Drop);
    assert!(
        !fs.exists(Path::new("/d/a")).unwrap(),
        "the failed sync_dir made nothing durable"
    );
}

#[test]
fn the_nth_call_of_a_kind_fails_and_the_rest_succeed() {
    let fs = SimFs::new();
    durable_dir(&fs, "/d");
    fs.fail(Some(Op::SyncDir), 2, ErrorKind::Other);
    assert!(fs.sync_dir(Path::new("/d")).is_ok());
    assert!(fs.sync_dir(Path::new("/d")).is_err());
    assert!(fs.sync_dir(Path::new("/d")).is_ok());
}

/// A retry after a crashed creation makes the ancestors it cannot tell apart durable too.
#[test]
fn a_retried_creation_makes_the_crashed_ancestors_durable() {
    let fs = SimFs::new();
    durable_dir(&fs, "/data");
    fs.create_dir_all(Path::new("/data/class/shard")).unwrap();
    fs.crash(CrashMode::Keep);
    // The retry finds every directory present, none of the new ones synced.
    durable_dir(&fs, "/data/class/shard");
    write(&fs, "/data/class/shard/wal", b"x", true);
    fs.sync_dir(Path::new("/data/class/shard")).unwrap();
    fs.crash(CrashMode::Drop);
    assert_eq!(
        fs.read_all(Path::new("/data/class/shard/wal")).unwrap(),
        b"x"
    );
}
