//! Non-fatal I/O errors (EIO, ENOSPC) injected into single calls, with the process carrying on:
//! a poisoned shard is repaired and reopened in the same process (as the disk monitor does),
//! more writes are acknowledged, and then the power fails. Every acknowledged batch must
//! survive, and nothing that failed may come back.

use std::io::ErrorKind;
use std::path::Path;

use weft_io::{CrashMode, Op, SimFs, Vfs};
use weft_lsm::{Shard, Strategy, WriteBatch};

use crate::support::{DIR, Mutation, Oracle, open_sim, seeded_batch, sim_opts};

fn batch_of(muts: &[Mutation]) -> WriteBatch {
    let mut b = WriteBatch::new();
    for m in muts {
        m.add_to(&mut b);
    }
    b
}

/// Opens the shard, retrying while injected faults make the open fail.
fn reopen(fs: &SimFs) -> Shard {
    let mut last = None;
    for _ in 0..4 {
        match open_sim(fs, sim_opts()) {
            Ok(s) => return s,
            Err(e) => last = Some(e),
        }
    }
    panic!("shard does not open: {last:?}")
}

/// Repairs a poisoned shard (retrying: the repair's own I/O can fail) and reopens it.
fn repair_and_reopen(fs: &SimFs, shard: Shard) -> Shard {
    let mut repaired = shard.repair();
    for _ in 0..3 {
        if repaired.is_ok() {
            break;
        }
        repaired = shard.repair();
    }
    repaired.unwrap_or_else(|e| panic!("repair keeps failing: {e}"));
    drop(shard);
    reopen(fs)
}

/// The fsyncgate case: a failed fsync of the WAL, an in-process reopen, more acknowledged
/// writes, a power loss. Without the repair the reopen replays the failed record from the page
/// cache and appends after it; the power loss turns it into a hole and the shard never opens.
#[test]
fn a_failed_wal_fsync_then_an_in_process_reopen_survives_a_power_loss() {
    let fs = SimFs::new();
    let shard = open_sim(&fs, sim_opts()).unwrap();
    let a = seeded_batch(1);
    shard.write(&batch_of(&a)).unwrap();
    fs.fail(Some(Op::SyncData), 1, ErrorKind::Other);
    let failed = vec![Mutation::Put(200, 1)];
    assert!(shard.write(&batch_of(&failed)).is_err());
    assert!(shard.is_poisoned());
    let shard = repair_and_reopen(&fs, shard);
    assert_eq!(
        shard.get("r", b"k200").unwrap(),
        None,
        "the failed write is gone"
    );
    let c = seeded_batch(3);
    shard.write(&batch_of(&c)).unwrap();
    fs.crash(CrashMode::Drop);
    drop(shard);
    let shard = open_sim(&fs, sim_opts()).unwrap_or_else(|e| panic!("after power loss: {e}"));
    Oracle::after(&[a, c], 2).check(&shard);
}

/// Every single mutating call of a workload fails once (EIO, then ENOSPC); the shard is
/// repaired and reopened whenever it is poisoned and the workload goes on; a power loss at the
/// end. The recovered state is exactly the acknowledged batches, in order.
#[test]
fn a_single_io_error_anywhere_loses_no_acknowledged_write() {
    let steps: u64 = 30;
    let fs = SimFs::new();
    drop(open_sim(&fs, sim_opts()).unwrap());
    let before = fs.ops();
    run(&fs, steps);
    let total = fs.ops() - before;
    for kind in [ErrorKind::Other, ErrorKind::StorageFull] {
        for k in 1..=total {
            let fs = SimFs::new();
            drop(open_sim(&fs, sim_opts()).unwrap());
            fs.fail(None, k, kind);
            let acked = run(&fs, steps);
            fs.crash(CrashMode::Drop);
            let what = format!("fault {kind:?} at mutating call {k} of {total}");
            let shard = open_sim(&fs, sim_opts()).unwrap_or_else(|e| panic!("{what}: {e}"));
            let state = Oracle::read(&shard).unwrap();
            let n = acked.len();
            assert!(
                Oracle::after(&acked, n).same_state(&state),
                "{what}: state {state:?} is not the {n} acknowledged batches"
            );
        }
    }
}

/// The workload: writes with flushes and compactions; returns the acknowledged batches.
fn run(fs: &SimFs, steps: u64) -> Vec<Vec<Mutation>> {
    let mut shard = reopen(fs);
    let mut acked = Vec::new();
    for i in 0..steps {
        let res = match i % 7 {
            3 => shard.flush().map(drop),
            6 => shard.compact().map(drop),
            _ => {
                let muts = seeded_batch(i);
                let r = shard.write(&batch_of(&muts));
                if r.is_ok() {
                    acked.push(muts);
                }
                r.map(drop)
            }
        };
        if res.is_err() && shard.is_poisoned() {
            shard = repair_and_reopen(fs, shard);
        }
    }
    drop(shard);
    acked
}

/// A copy whose `wal/` was taken before its `lsm/`: a segment reaches past the end of the WAL.
/// The LSNs it names are assigned again after the open; without quarantine a later flush makes
/// the stale segment look confirmed and its keys come back.
#[test]
fn a_segment_beyond_the_recovered_wal_is_quarantined_not_revived() {
    let fs = SimFs::new();
    let shard = open_sim(&fs, sim_opts()).unwrap();
    shard.declare_bucket("x", Strategy::Replace).unwrap();
    let mut b = WriteBatch::new();
    b.put("r", b"k001", b"a");
    shard.write(&b).unwrap();
    let wal1 = Path::new(DIR).join("wal/0000000000000001.wal");
    let after_first = fs.file_len(&wal1).unwrap();
    let mut b = WriteBatch::new();
    b.put("x", b"stale", b"v");
    b.put("r", b"k002", b"b");
    shard.write(&b).unwrap();
    shard.flush().unwrap();
    drop(shard);
    // The "copy": the flush record and the WAL past the first record are missing.
    for f in fs.files() {
        let s = f.to_string_lossy().into_owned();
        if s.contains("/flush/") || (s.contains("/wal/") && f != wal1) {
            fs.remove_file(&f).unwrap();
        }
    }
    fs.truncate_and_sync(&wal1, after_first).unwrap();

    let shard = open_sim(&fs, sim_opts()).unwrap();
    shard.declare_bucket("x", Strategy::Replace).unwrap();
    let report = shard.recovery_report().clone();
    assert_eq!(shard.get("x", b"stale").unwrap(), None);
    assert_eq!(shard.get("r", b"k002").unwrap(), None);
    // LSNs 2 and 3 are assigned again, to other writes; a flush confirms up to 3.
    for k in [b"k003", b"k004"] {
        let mut b = WriteBatch::new();
        b.put("r", k, b"new");
        shard.write(&b).unwrap();
    }
    shard.flush().unwrap();
    drop(shard);
    let shard = open_sim(&fs, sim_opts()).unwrap();
    shard.declare_bucket("x", Strategy::Replace).unwrap();
    assert_eq!(
        shard.get("x", b"stale").unwrap(),
        None,
        "stale segment revived"
    );
    assert_eq!(
        shard.get("r", b"k003").unwrap().as_deref(),
        Some(&b"new"[..])
    );
    let quarantined = fs
        .files()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/quarantine/"))
        .count();
    assert_eq!(
        quarantined, 2,
        "quarantined files are kept for the operator"
    );
    assert_eq!(report.quarantined.len(), 2, "{report:?}");
    assert!(report.warning().is_some_and(|w| w.contains("quarantine/")));
}
