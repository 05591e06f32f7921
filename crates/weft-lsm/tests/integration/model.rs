//! T1: model-based property tests. Random interleavings of writes (single and multi-bucket
//! batches), reads, range scans, flushes, compactions, garbage collection, orderly reopen and
//! crash-reopen (process crash and power loss) against plain-collection oracles.

use std::ops::Bound;

use proptest::prelude::*;
use weft_io::{CrashMode, SimFs};
use weft_lsm::{Value, WriteBatch};

use crate::support::{Mutation, Oracle, env_cases, key, open_sim, sim_opts};

#[derive(Debug, Clone)]
enum Step {
    Write(Vec<Mutation>),
    Scan(u8, u8, usize),
    Flush,
    Compact,
    Gc,
    Reopen,
    Crash(bool),
    Check,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let k = 0..20u8;
    let v = 0..6u8;
    let ids = proptest::collection::vec(prop_oneof![0..50u64, Just(1 << 40)], 1..4);
    prop_oneof![
        3 => (k.clone(), v.clone()).prop_map(|(k, v)| Mutation::Put(k, v)),
        1 => k.clone().prop_map(Mutation::Delete),
        2 => (k.clone(), v.clone()).prop_map(|(k, v)| Mutation::SetAdd(k, v)),
        1 => (k.clone(), v.clone()).prop_map(|(k, v)| Mutation::SetRemove(k, v)),
        2 => (k.clone(), v.clone(), v.clone()).prop_map(|(k, mk, v)| Mutation::MapPut(k, mk, v)),
        1 => (k.clone(), v.clone()).prop_map(|(k, mk)| Mutation::MapRemove(k, mk)),
        2 => (k.clone(), ids.clone()).prop_map(|(k, ids)| Mutation::RoaringAdd(k, ids)),
        1 => (k, ids).prop_map(|(k, ids)| Mutation::RoaringRemove(k, ids)),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        30 => proptest::collection::vec(mutation(), 1..4).prop_map(Step::Write),
        3 => (0..22u8, 0..22u8, 1..30usize).prop_map(|(a, b, l)| Step::Scan(a, b, l)),
        4 => Just(Step::Flush),
        2 => Just(Step::Compact),
        1 => Just(Step::Gc),
        1 => Just(Step::Reopen),
        2 => any::<bool>().prop_map(Step::Crash),
        2 => Just(Step::Check),
    ]
}

fn run(steps: Vec<Step>) {
    let fs = SimFs::new();
    let mut shard = Some(open_sim(&fs, sim_opts()).unwrap());
    let mut oracle = Oracle::default();
    for step in steps {
        let s = shard.as_ref().unwrap();
        match step {
            Step::Write(muts) => {
                let mut b = WriteBatch::new();
                for m in &muts {
                    m.add_to(&mut b);
                    oracle.apply(m);
                }
                s.write(&b).unwrap();
            }
            Step::Scan(a, b, limit) => {
                let (lo, hi) = (key(a.min(b)), key(a.max(b)));
                let got = s
                    .scan("r", Bound::Included(&lo), Bound::Excluded(&hi), limit)
                    .unwrap();
                let want: Vec<_> = oracle
                    .r
                    .range(lo.clone()..hi.clone())
                    .take(limit)
                    .map(|(k, (v, _))| (k.clone(), Value::Bytes(v.clone())))
                    .collect();
                assert_eq!(got, want);
            }
            Step::Flush => s.flush().unwrap(),
            Step::Compact => s.compact().unwrap(),
            Step::Gc => {
                s.collect_garbage();
            }
            Step::Reopen => {
                shard.take().unwrap().close().unwrap();
                let s = open_sim(&fs, sim_opts()).unwrap();
                assert_eq!(
                    s.recovery_report().records_replayed,
                    0,
                    "orderly close replays nothing"
                );
                assert!(s.recovery_report().warning().is_none());
                shard = Some(s);
            }
            Step::Crash(power_loss) => {
                // Every write was acknowledged in `sync` mode: all must survive either crash.
                fs.crash(if power_loss {
                    CrashMode::Drop
                } else {
                    CrashMode::Keep
                });
                drop(shard.take());
                shard = Some(open_sim(&fs, sim_opts()).unwrap());
            }
            Step::Check => oracle.check(s),
        }
    }
    oracle.check(shard.as_ref().unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: env_cases(256), ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_oracle(steps in proptest::collection::vec(step(), 1..80)) {
        run(steps);
    }
}
