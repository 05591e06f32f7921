//! The caller's ids (external, any `u32`) and the dense internal slots the graph and the vector
//! arena are addressed by.
//!
//! Every write in weft-db takes a fresh doc id, so indexing by the caller's id would size every
//! array by the highest id ever issued. Instead each node gets a slot: a freed one if there is
//! one, else the next never-used one; slot → external id is stored with the node
//! (`nodes.rs`), external id → slot here. Slots are freed by cleanup once nothing can reach them
//! any more (the grace argument is in `cleanup.rs`), so the number of slots follows the number
//! of live and not yet reclaimed nodes.
//!
//! A slot's upper-level lists are allocated once, for the level of its first node. A freed
//! slot is therefore kept in a pool by the number of upper levels it has room for, and handed
//! to a node of level `l` only from a pool of at least `l` (the smallest that has one). Levels
//! are drawn independently of the slot, so the mix of freed slots follows the mix of inserts.
//!
//! External ids are not reused: an id whose node was removed and reclaimed is remembered in a
//! bitmap (compressed; about one bit per id at worst, far less for runs) and inserting it again
//! fails, as before slots existed.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use roaring::RoaringBitmap;

use crate::IndexError;

/// Highest number of upper levels a node has (`hnsw.rs`'s `MAX_LEVEL`).
const POOLS: usize = 16;

/// A multiplicative hash for `u32` keys (the standard SipHash costs more than the lookup).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct U32Hasher(u64);

impl Hasher for U32Hasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type Map = HashMap<u32, u32, BuildHasherDefault<U32Hasher>>;

#[derive(Debug, Default)]
pub(crate) struct Inner {
    /// External id → slot, for every slot in use (inserting, live, tombstoned, removed and not
    /// freed yet).
    map: Map,
    /// Freed slots by how many upper levels they have lists for.
    free: [Vec<u32>; POOLS],
    /// One past the highest slot ever handed out.
    bound: u32,
    /// External ids whose slot was freed: never accepted again.
    gone: RoaringBitmap,
    /// Slots removed (by cleanup or replay) since cleanup's last grace barrier B1.
    pub(crate) retired: Vec<u32>,
}

/// See the module docs. This lock is taken briefly and never waits for another lock.
///
/// Boxed: the index struct stays small (weft-db keeps it in an enum next to the flat index).
#[derive(Debug, Default)]
pub(crate) struct IdMap(Box<RwLock<Inner>>);

impl IdMap {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.0.read()
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.0.write()
    }

    /// The slot of `ext`, if it has one.
    #[inline]
    pub(crate) fn slot(&self, ext: u32) -> Option<u32> {
        self.0.read().slot(ext)
    }

    /// Bytes held by the map and the pools (estimated from capacities).
    pub(crate) fn allocated_bytes(&self) -> usize {
        let g = self.0.read();
        // Key, value and one control byte per bucket.
        g.map.capacity() * 9
            + g.free.iter().map(|p| p.capacity() * 4).sum::<usize>()
            + g.gone.serialized_size()
    }
}

impl Inner {
    #[inline]
    pub(crate) fn slot(&self, ext: u32) -> Option<u32> {
        self.map.get(&ext).copied()
    }

    /// Whether `ext` has a slot or had one that was freed.
    pub(crate) fn known(&self, ext: u32) -> bool {
        self.map.contains_key(&ext) || self.gone.contains(ext)
    }

    /// One past the highest slot ever handed out.
    pub(crate) fn bound(&self) -> u32 {
        self.bound
    }

    /// Gives `ext` a slot with room for `level` upper levels: the freed slot of the smallest
    /// sufficient pool, else a never-used one. Fails if `ext` is known.
    pub(crate) fn assign(&mut self, ext: u32, level: usize) -> Result<u32, IndexError> {
        if self.known(ext) {
            return Err(IndexError::Exists(ext));
        }
        let reused = self.free.iter_mut().skip(level).find_map(|pool| pool.pop());
        let slot = match reused {
            Some(s) => s,
            None => {
                let s = self.bound;
                self.bound = s.checked_add(1).ok_or(IndexError::Full)?;
                s
            }
        };
        self.map.insert(ext, slot);
        Ok(slot)
    }

    /// Fills an empty map from a snapshot restore: `exts[slot]` is the id in `slot`.
    pub(crate) fn restore(&mut self, exts: &[u32]) {
        self.map.reserve(exts.len());
        for (slot, &e) in exts.iter().enumerate() {
            self.map.insert(e, slot as u32);
        }
        self.bound = self.bound.max(exts.len() as u32);
    }

    /// Frees `slot` (of `ext`, with room for `levels` upper levels): `ext` is forgotten (and
    /// never accepted again), the slot goes to its pool.
    pub(crate) fn release(&mut self, ext: u32, slot: u32, levels: usize) {
        if self.map.get(&ext) == Some(&slot) {
            self.map.remove(&ext);
            self.gone.insert(ext);
        }
        self.free[levels.min(POOLS - 1)].push(slot);
    }

    /// Compresses the bitmap of forgotten ids (runs of consecutive ids become ranges).
    pub(crate) fn compact(&mut self) {
        self.gone.optimize();
        let live = self.map.len();
        if self.map.capacity() > 4 * live.max(64) {
            self.map.shrink_to(live * 2);
        }
    }

    /// Number of freed slots waiting for a node.
    #[cfg(test)]
    pub(crate) fn free_count(&self) -> usize {
        self.free.iter().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Assign(u32, usize),
        Release(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..64, 0usize..3).prop_map(|(e, l)| Op::Assign(e, l)),
            (0u32..64).prop_map(Op::Release),
        ]
    }

    proptest! {
        /// The map against a model: a BTreeMap of external id → (slot, levels) and a set of
        /// forgotten ids. Slots are never shared, a reused slot has room for the level asked
        /// for, and the bound grows only when no freed slot fits.
        #[test]
        fn id_map_matches_a_model(ops in proptest::collection::vec(op(), 1..200)) {
            let mut m = Inner::default();
            let mut model: BTreeMap<u32, (u32, usize)> = BTreeMap::new();
            let mut gone = std::collections::BTreeSet::new();
            // Slot → room (upper levels), as `Nodes` would remember it.
            let mut room: BTreeMap<u32, usize> = BTreeMap::new();
            let mut free: Vec<u32> = Vec::new();
            for op in ops {
                match op {
                    Op::Assign(e, l) => {
                        let got = m.assign(e, l);
                        if model.contains_key(&e) || gone.contains(&e) {
                            prop_assert_eq!(got, Err(IndexError::Exists(e)));
                            continue;
                        }
                        let Ok(s) = got else { return Err(TestCaseError::fail("assign failed")) };
                        let fits = free.iter().any(|f| room[f] >= l);
                        if fits {
                            prop_assert!(free.contains(&s), "a freed slot fits but {s} is new");
                            free.retain(|&f| f != s);
                        } else {
                            prop_assert_eq!(s as usize, room.len(), "new slot not dense");
                        }
                        let r = room.entry(s).or_insert(l);
                        prop_assert!(*r >= l, "slot {s} has room for {} < {l}", *r);
                        prop_assert!(model.values().all(|&(o, _)| o != s), "slot {s} shared");
                        model.insert(e, (s, *r));
                    }
                    Op::Release(e) => {
                        if let Some((s, r)) = model.remove(&e) {
                            m.release(e, s, r);
                            gone.insert(e);
                            free.push(s);
                        }
                    }
                }
                for (e, &(s, _)) in &model {
                    prop_assert_eq!(m.slot(*e), Some(s));
                }
                for e in &gone {
                    prop_assert!(m.slot(*e).is_none() && m.known(*e));
                }
                prop_assert_eq!(m.bound() as usize, room.len());
                prop_assert_eq!(m.free_count(), free.len());
            }
        }
    }
}
