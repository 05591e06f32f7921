//! Shared helpers: a shard on the simulated file system and an oracle of every strategy.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use weft_io::SimFs;
use weft_lsm::{Options, RoaringTreemap, Shard, Strategy, Value, WriteBatch};

pub const DIR: &str = "/data/shard";

pub fn env_cases(default: u32) -> u32 {
    if std::env::var_os("WEFT_LONG").is_some() {
        default * 20
    } else {
        default
    }
}

pub fn sim_opts() -> Options {
    Options::default()
        .background(false)
        .block_bytes(256)
        .file_deletion_grace(Duration::ZERO)
        // Small replay reads: records straddle read boundaries in every recovery test.
        .replay_read_bytes(100)
}

pub fn open_sim(fs: &SimFs, opts: Options) -> weft_lsm::Result<Shard> {
    let shard = Shard::open_with_vfs(Arc::new(fs.clone()), Path::new(DIR), opts)?;
    declare(&shard)?;
    Ok(shard)
}

pub fn declare(shard: &Shard) -> weft_lsm::Result<()> {
    shard.declare_bucket("r", Strategy::Replace)?;
    shard.declare_bucket("s", Strategy::Set)?;
    shard.declare_bucket("m", Strategy::Map)?;
    shard.declare_bucket("b", Strategy::RoaringSet)
}

/// One logical mutation, applied to both the engine (through a batch) and the oracle.
#[derive(Debug, Clone)]
pub enum Mutation {
    Put(u8, u8),
    Delete(u8),
    SetAdd(u8, u8),
    SetRemove(u8, u8),
    MapPut(u8, u8, u8),
    MapRemove(u8, u8),
    RoaringAdd(u8, Vec<u64>),
    RoaringRemove(u8, Vec<u64>),
}

pub fn key(k: u8) -> Vec<u8> {
    format!("k{k:03}").into_bytes()
}

pub fn skey(k: u8, v: u8) -> Vec<u8> {
    format!("sec-{k:03}-{}", v % 3).into_bytes()
}

impl Mutation {
    pub fn add_to(&self, b: &mut WriteBatch) {
        match self {
            Mutation::Put(k, v) => {
                b.put_with_secondary("r", &key(*k), &[*v; 3], &[&skey(*k, *v)]);
            }
            Mutation::Delete(k) => {
                b.delete("r", &key(*k));
            }
            Mutation::SetAdd(k, v) => {
                b.set_add("s", &key(*k), &[&[*v]]);
            }
            Mutation::SetRemove(k, v) => {
                b.set_remove("s", &key(*k), &[&[*v]]);
            }
            Mutation::MapPut(k, mk, v) => {
                b.map_put("m", &key(*k), &[*mk], &[*v]);
            }
            Mutation::MapRemove(k, mk) => {
                b.map_remove("m", &key(*k), &[*mk]);
            }
            Mutation::RoaringAdd(k, ids) => {
                b.roaring_add("b", &key(*k), ids);
            }
            Mutation::RoaringRemove(k, ids) => {
                b.roaring_remove("b", &key(*k), ids);
            }
        }
    }
}

/// The reference model: plain collections.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Oracle {
    pub r: BTreeMap<Vec<u8>, (Vec<u8>, Vec<u8>)>,
    pub s: BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>>,
    pub m: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>>,
    pub b: BTreeMap<Vec<u8>, RoaringTreemap>,
}

impl Oracle {
    pub fn apply(&mut self, m: &Mutation) {
        match m {
            Mutation::Put(k, v) => {
                self.r.insert(key(*k), (vec![*v; 3], skey(*k, *v)));
            }
            Mutation::Delete(k) => {
                self.r.remove(&key(*k));
            }
            Mutation::SetAdd(k, v) => {
                self.s.entry(key(*k)).or_default().insert(vec![*v]);
            }
            Mutation::SetRemove(k, v) => {
                let e = self.s.entry(key(*k)).or_default();
                e.remove(&vec![*v]);
                if e.is_empty() {
                    self.s.remove(&key(*k));
                }
            }
            Mutation::MapPut(k, mk, v) => {
                self.m
                    .entry(key(*k))
                    .or_default()
                    .insert(vec![*mk], vec![*v]);
            }
            Mutation::MapRemove(k, mk) => {
                let e = self.m.entry(key(*k)).or_default();
                e.remove(&vec![*mk]);
                if e.is_empty() {
                    self.m.remove(&key(*k));
                }
            }
            Mutation::RoaringAdd(k, ids) => {
                self.b
                    .entry(key(*k))
                    .or_default()
                    .extend(ids.iter().copied());
            }
            Mutation::RoaringRemove(k, ids) => {
                let e = self.b.entry(key(*k)).or_default();
                for id in ids {
                    e.remove(*id);
                }
                if e.is_empty() {
                    self.b.remove(&key(*k));
                }
            }
        }
    }

    /// Reads the whole engine state through the public read API.
    pub fn read(shard: &Shard) -> weft_lsm::Result<Oracle> {
        let all = |b| shard.scan(b, Bound::Unbounded, Bound::Unbounded, usize::MAX);
        let mut o = Oracle::default();
        for (k, v) in all("r")? {
            let Value::Bytes(v) = v else {
                panic!("replace bucket returned {v:?}")
            };
            o.r.insert(k, (v, Vec::new()));
        }
        for (k, v) in all("s")? {
            let Value::Set(v) = v else {
                panic!("set bucket returned {v:?}")
            };
            o.s.insert(k, v.into_iter().collect());
        }
        for (k, v) in all("m")? {
            let Value::Map(v) = v else {
                panic!("map bucket returned {v:?}")
            };
            o.m.insert(k, v);
        }
        for (k, v) in all("b")? {
            let Value::Bitmap(v) = v else {
                panic!("roaring bucket returned {v:?}")
            };
            o.b.insert(k, v);
        }
        Ok(o)
    }

    /// Checks every read path of the engine against this oracle.
    pub fn check(&self, shard: &Shard) {
        let scanned = Oracle::read(shard).expect("scan");
        let strip = |o: &Oracle| {
            o.r.iter()
                .map(|(k, (v, _))| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(strip(&scanned), strip(self), "replace bucket scan");
        assert_eq!(scanned.s, self.s, "set bucket scan");
        assert_eq!(scanned.m, self.m, "map bucket scan");
        assert_eq!(scanned.b, self.b, "roaring bucket scan");
        for k in 0..=20u8 {
            let kk = key(k);
            assert_eq!(
                shard.get("r", &kk).unwrap(),
                self.r.get(&kk).map(|(v, _)| v.clone()),
                "get {k}"
            );
            let set: Vec<Vec<u8>> = self
                .s
                .get(&kk)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            assert_eq!(shard.set_get("s", &kk).unwrap(), set, "set_get {k}");
            assert_eq!(
                shard.map_get("m", &kk).unwrap(),
                self.m.get(&kk).cloned().unwrap_or_default(),
                "map_get {k}"
            );
            let mut streamed = BTreeMap::new();
            let mut in_order = true;
            shard
                .map_for_each("m", &kk, &mut |mk, mv| {
                    in_order &= streamed
                        .keys()
                        .next_back()
                        .is_none_or(|last: &Vec<u8>| last.as_slice() < mk);
                    streamed.insert(mk.to_vec(), mv.to_vec());
                })
                .unwrap();
            assert!(in_order, "map_for_each {k}: members out of order");
            assert_eq!(
                streamed,
                self.m.get(&kk).cloned().unwrap_or_default(),
                "map_for_each {k}"
            );
            assert_eq!(
                shard.roaring_get("b", &kk).unwrap(),
                self.b.get(&kk).cloned().unwrap_or_default(),
                "roaring_get {k}"
            );
            for v in 0..3u8 {
                let sk = skey(k, v);
                let expect = self
                    .r
                    .get(&kk)
                    .filter(|(_, s)| *s == sk)
                    .map(|(val, _)| (kk.clone(), val.clone()));
                assert_eq!(
                    shard.get_by_secondary("r", 0, &sk).unwrap(),
                    expect,
                    "secondary {k}/{v}"
                );
            }
        }
    }
}

impl Oracle {
    /// The oracle after applying the first `n` batches of `history`.
    pub fn after(history: &[Vec<Mutation>], n: usize) -> Oracle {
        let mut o = Oracle::default();
        for batch in history.iter().take(n) {
            for m in batch {
                o.apply(m);
            }
        }
        o
    }

    /// Equality of what reads can observe (secondary keys are checked by [`Oracle::check`]).
    pub fn same_state(&self, other: &Oracle) -> bool {
        let strip = |o: &Oracle| {
            o.r.iter()
                .map(|(k, (v, _))| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        strip(self) == strip(other) && self.s == other.s && self.m == other.m && self.b == other.b
    }
}

/// A batch from a seed: 1-3 mutations over all buckets.
pub fn seeded_batch(seed: u64) -> Vec<Mutation> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let n = 1 + next() % 3;
    (0..n)
        .map(|_| {
            let k = (next() % 12) as u8;
            let v = (next() % 5) as u8;
            match next() % 8 {
                0 | 1 => Mutation::Put(k, v),
                2 => Mutation::Delete(k),
                3 => Mutation::SetAdd(k, v),
                4 => Mutation::SetRemove(k, v),
                5 => Mutation::MapPut(k, v, v),
                6 => Mutation::RoaringAdd(k, vec![u64::from(v), 100 + next() % 4]),
                _ => Mutation::RoaringRemove(k, vec![u64::from(v)]),
            }
        })
        .collect()
}
