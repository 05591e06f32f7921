//! Races with the flush, driven through the flush's test hook.

use std::path::Path;
use std::sync::Arc;

use weft_io::{CrashMode, SimFs};

use crate::{Options, Shard, Strategy, WriteBatch};

fn open(fs: &SimFs) -> Shard {
    let opts = Options::default().background(false);
    Shard::open_with_vfs(Arc::new(fs.clone()), Path::new("/data/shard"), opts).unwrap()
}

/// A bucket declared (and written) while a flush waits for the WAL locks — as autoschema
/// declares `property_<new>` during an import — is flushed with the rest: its write sits below
/// the flush record's LSN, so a replay after a crash would skip it.
#[test]
fn a_bucket_declared_during_a_flush_keeps_its_writes_after_a_crash() {
    let fs = SimFs::new();
    let shard = open(&fs);
    shard.declare_bucket("objects", Strategy::Replace).unwrap();
    let mut b = WriteBatch::new();
    b.put("objects", b"a", b"1");
    shard.write(&b).unwrap();
    shard.set_test_hook(Box::new(|inner| {
        inner.declare_bucket("late", Strategy::Replace).unwrap();
        let mut b = WriteBatch::new();
        b.put("late", b"k", b"v");
        inner.write(&b).unwrap();
    }));
    shard.flush().unwrap();
    assert_eq!(shard.get("late", b"k").unwrap().as_deref(), Some(&b"v"[..]));
    let flushed = shard.flushed_lsn();
    assert!(
        flushed >= 2,
        "the late write is covered by the flush (F = {flushed})"
    );
    drop(shard);
    for mode in [CrashMode::Keep, CrashMode::Drop] {
        fs.crash(mode);
        let shard = open(&fs);
        shard.declare_bucket("objects", Strategy::Replace).unwrap();
        shard.declare_bucket("late", Strategy::Replace).unwrap();
        assert_eq!(
            shard.get("late", b"k").unwrap().as_deref(),
            Some(&b"v"[..]),
            "{mode:?}"
        );
        assert_eq!(
            shard.get("objects", b"a").unwrap().as_deref(),
            Some(&b"1"[..])
        );
    }
}

/// A compaction whose output was renamed into place but could not be installed (the directory
/// fsync failed) must not leave that output behind: a later compaction of an overlapping run
/// would make the two overlap partially, and the shard would refuse to open.
#[test]
fn a_compaction_failing_after_its_rename_leaves_no_orphan() {
    let fs = SimFs::new();
    let shard = open(&fs);
    shard.declare_bucket("r", Strategy::Replace).unwrap();
    for k in [b"k1", b"k2", b"k3"] {
        let mut b = WriteBatch::new();
        b.put("r", k, b"v");
        shard.write(&b).unwrap();
        shard.flush().unwrap();
    }
    let inner = &shard.inner;
    let bucket = inner.bucket("r").unwrap();
    {
        let _guard = inner.compaction.lock();
        fs.fail(Some(weft_io::Op::SyncDir), 1, std::io::ErrorKind::Other);
        assert!(
            inner
                .compact_run(&bucket, &bucket.snapshot(), 0..2)
                .is_err()
        );
        assert_eq!(fs.faults_injected(), 1);
        assert!(
            !shard.is_poisoned(),
            "the orphan was removed: no need to poison"
        );
        let segs = fs
            .files()
            .into_iter()
            .filter(|p| p.starts_with("/data/shard/lsm/r") && p.extension().is_some())
            .count();
        assert_eq!(segs, 3, "only the three inputs are left");
        assert!(
            inner
                .compact_run(&bucket, &bucket.snapshot(), 1..3)
                .unwrap()
        );
    }
    drop(shard);
    fs.crash(CrashMode::Keep);
    let shard = open(&fs);
    shard.declare_bucket("r", Strategy::Replace).unwrap();
    for k in [b"k1", b"k2", b"k3"] {
        assert_eq!(shard.get("r", k).unwrap().as_deref(), Some(&b"v"[..]));
    }
}
