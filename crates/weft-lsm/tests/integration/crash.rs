//! T2: simulated crashes. A fixed workload (writes, flushes, compactions, deletions with a zero
//! grace period) runs on the fault-injecting file system, which fails the k-th mutating call
//! and every later one; then the machine "restarts" with unsynced data dropped (power loss),
//! kept (process crash) or torn. For every k:
//! * the shard opens;
//! * its state equals the oracle after some prefix of the attempted batches that contains
//!   every acknowledged batch (nothing acknowledged lost, nothing half-applied, no gaps);
//! * recovery deleted nothing but temp files;
//! * the recovered shard accepts writes and survives another crash.

use weft_io::{CrashMode, SimFs};
use weft_lsm::WriteBatch;

use crate::support::{DIR, Mutation, Oracle, open_sim, seeded_batch, sim_opts};

#[derive(Debug, Clone, Copy)]
enum Step {
    Write(u64),
    Flush,
    Compact,
    Gc,
}

fn workload(len: usize) -> Vec<Step> {
    (0..len as u64)
        .map(|i| match i % 11 {
            4 | 9 => Step::Flush,
            10 if i % 22 == 21 => Step::Compact,
            7 => Step::Gc,
            _ => Step::Write(i),
        })
        .collect()
}

/// Runs the workload until the first failure; returns (attempted batches, acknowledged count).
fn run_until_crash(fs: &SimFs, steps: &[Step]) -> (Vec<Vec<Mutation>>, usize) {
    let shard = match open_sim(fs, sim_opts()) {
        Ok(shard) => shard,
        Err(_) if fs.has_crashed() => return (Vec::new(), 0),
        Err(e) => panic!("open failed without a crash: {e}"),
    };
    let mut history = Vec::new();
    let mut acked = 0;
    for step in steps {
        let ok = match step {
            Step::Write(seed) => {
                let muts = seeded_batch(*seed);
                let mut b = WriteBatch::new();
                for m in &muts {
                    m.add_to(&mut b);
                }
                history.push(muts);
                let ok = shard.write(&b).is_ok();
                if ok {
                    acked = history.len();
                }
                ok
            }
            Step::Flush => shard.flush().is_ok(),
            Step::Compact => shard.compact().is_ok(),
            Step::Gc => {
                shard.collect_garbage();
                !fs.has_crashed()
            }
        };
        if !ok || fs.has_crashed() {
            break;
        }
    }
    drop(shard);
    (history, acked)
}

fn check_recovery(fs: &SimFs, history: &[Vec<Mutation>], acked: usize, what: &str) -> usize {
    let shard = open_sim(fs, sim_opts()).unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
    let removed = fs.take_removed();
    let tmp = format!("{DIR}/tmp/");
    for p in &removed {
        assert!(
            p.to_string_lossy().starts_with(&tmp),
            "{what}: recovery deleted {p:?}"
        );
    }
    let state = Oracle::read(&shard).unwrap();
    let prefix = (acked..=history.len()).find(|&n| Oracle::after(history, n).same_state(&state));
    let Some(prefix) = prefix else {
        panic!(
            "{what}: recovered state is not a prefix of the history containing all {acked} acknowledged batches \
             (attempted {}); state {state:?}",
            history.len()
        )
    };
    Oracle::after(history, prefix).check(&shard);
    drop(shard);
    prefix
}

fn crash_at(k: u64, mode: CrashMode, steps: &[Step]) {
    let fs = SimFs::new();
    // The bucket declarations are made durable first; the crash window is the workload.
    drop(open_sim(&fs, sim_opts()).unwrap());
    fs.crash_after(k + 8);
    let (mut history, acked) = run_until_crash(&fs, steps);
    fs.crash(mode);
    let what = format!("crash after op {k} ({mode:?})");
    let prefix = check_recovery(&fs, &history, acked, &what);
    // The recovered shard keeps working: one more write, then a power loss.
    history.truncate(prefix);
    let shard = open_sim(&fs, sim_opts()).unwrap();
    let extra = seeded_batch(999);
    let mut b = WriteBatch::new();
    for m in &extra {
        m.add_to(&mut b);
    }
    shard.write(&b).unwrap();
    history.push(extra);
    fs.crash(CrashMode::Drop);
    drop(shard);
    let n = history.len();
    check_recovery(
        &fs,
        &history,
        n,
        &format!("{what}, then a write and a power loss"),
    );
}

#[test]
fn every_crash_point_of_a_workload_recovers_a_prefix_with_every_acked_write() {
    let steps = workload(34);
    // Count the mutating calls of an uncrashed run to enumerate every crash point.
    let fs = SimFs::new();
    drop(open_sim(&fs, sim_opts()).unwrap());
    let before = fs.ops();
    run_until_crash(&fs, &steps);
    let total = fs.ops() - before;
    assert!(total > 100, "workload too small: {total} ops");
    for k in 1..=total + 1 {
        for mode in [
            CrashMode::Drop,
            CrashMode::Keep,
            CrashMode::Torn { seed: k },
        ] {
            crash_at(k, mode, &steps);
        }
    }
}

#[test]
fn a_crash_during_recovery_is_recovered_too() {
    let steps = workload(23);
    for k in (5..200).step_by(13) {
        let fs = SimFs::new();
        drop(open_sim(&fs, sim_opts()).unwrap());
        fs.crash_after(k);
        let (history, acked) = run_until_crash(&fs, &steps);
        fs.crash(CrashMode::Torn { seed: k });
        // Crash the recovery itself at every call it makes.
        for j in 1..12 {
            fs.crash_after(j);
            drop(open_sim(&fs, sim_opts()));
            fs.crash(CrashMode::Drop);
        }
        check_recovery(
            &fs,
            &history,
            acked,
            &format!("crash at {k}, then crashes during recovery"),
        );
    }
}
