//! The in-memory write buffer of one bucket: an ordered map under a read-write lock.
//!
//! Writes are applied in LSN order (the shard applies them while it holds the WAL append
//! lock). A memtable is frozen at a flush switch and stays readable until its segment is
//! installed.

use std::collections::BTreeMap;
use std::ops::Bound;

use parking_lot::RwLock;

use crate::batch::OpKind;
use crate::entry::Entry;

/// A secondary-index mapping: (secondary index position, secondary key) -> primary key.
type SecondaryPair = ((usize, Vec<u8>), Vec<u8>);

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<Vec<u8>, Entry>,
    /// (secondary index position, secondary key) -> primary key; may hold stale mappings,
    /// readers check the primary's current secondary keys.
    secondary: BTreeMap<(usize, Vec<u8>), Vec<u8>>,
}

/// Ops of one bucket collected in LSN order during WAL replay, applied in one go by
/// [`Memtable::load`].
#[derive(Debug, Default)]
pub(crate) struct BulkLoad {
    ops: Vec<(Vec<u8>, OpKind)>,
    secondary: Vec<SecondaryPair>,
}

impl BulkLoad {
    /// Adds the next op (in LSN order).
    pub(crate) fn push(&mut self, key: &[u8], op: OpKind) {
        if let OpKind::Put { secondary, .. } = &op {
            for (pos, s) in secondary.iter().enumerate() {
                self.secondary.push(((pos, s.clone()), key.to_vec()));
            }
        }
        self.ops.push((key.to_vec(), op));
    }
}

#[derive(Debug, Default)]
pub(crate) struct Memtable {
    inner: RwLock<Inner>,
}

impl Memtable {
    pub(crate) fn apply(&self, key: &[u8], op: &OpKind) {
        let mut inner = self.inner.write();
        if let OpKind::Put { secondary, .. } = op {
            for (pos, s) in secondary.iter().enumerate() {
                inner.secondary.insert((pos, s.clone()), key.to_vec());
            }
        }
        match inner.entries.get_mut(key) {
            Some(e) => e.apply(op),
            None => {
                inner.entries.insert(key.to_vec(), Entry::from_op(op));
            }
        }
    }

    /// Like [`Memtable::apply`], moving the key and value in.
    fn apply_owned(inner: &mut Inner, key: Vec<u8>, op: OpKind) {
        if let OpKind::Put { secondary, .. } = &op {
            for (pos, s) in secondary.iter().enumerate() {
                inner.secondary.insert((pos, s.clone()), key.clone());
            }
        }
        match inner.entries.get_mut(&key) {
            Some(e) => e.apply_owned(op),
            None => {
                inner.entries.insert(key, Entry::from_owned(op));
            }
        }
    }

    /// Applies the ops of a [`BulkLoad`] (WAL replay). Into an empty memtable the ops are sorted
    /// by key (stably, so each key's ops stay in LSN order), folded per key and the trees built
    /// from sorted input, instead of one tree insert per op; the result is the same as applying
    /// the ops one by one in LSN order.
    pub(crate) fn load(&self, bulk: BulkLoad) {
        let mut inner = self.inner.write();
        let BulkLoad { mut ops, secondary } = bulk;
        if !inner.entries.is_empty() || !inner.secondary.is_empty() {
            // Not a fresh memtable: keep the general path. (Replay always starts empty.)
            for (key, op) in ops {
                Self::apply_owned(&mut inner, key, op);
            }
            return;
        }
        ops.sort_by(|a, b| a.0.cmp(&b.0));
        let mut entries: Vec<(Vec<u8>, Entry)> = Vec::with_capacity(ops.len());
        for (key, op) in ops {
            match entries.last_mut() {
                Some((k, e)) if *k == key => e.apply_owned(op),
                _ => entries.push((key, Entry::from_owned(op))),
            }
        }
        // Sorted and unique: `from_iter` checks the order in one pass and builds bottom-up.
        inner.entries = entries.into_iter().collect();
        // Collected in LSN order: for equal secondary keys the last mapping wins, as with
        // successive inserts.
        let mut secondary = secondary;
        secondary.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unique: Vec<SecondaryPair> = Vec::with_capacity(secondary.len());
        for (skey, pkey) in secondary {
            match unique.last_mut() {
                Some((s, p)) if *s == skey => *p = pkey,
                _ => unique.push((skey, pkey)),
            }
        }
        inner.secondary = unique.into_iter().collect();
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<Entry> {
        self.inner.read().entries.get(key).cloned()
    }

    pub(crate) fn secondary(&self, pos: usize, skey: &[u8]) -> Option<Vec<u8>> {
        self.inner
            .read()
            .secondary
            .get(&(pos, skey.to_vec()))
            .cloned()
    }

    /// A sorted copy of the entries in the range.
    pub(crate) fn range(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Vec<(Vec<u8>, Entry)> {
        let inner = self.inner.read();
        if crate::range_is_empty(lo, hi) {
            return Vec::new();
        }
        inner
            .entries
            .range::<[u8], _>((lo, hi))
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.inner.read().entries.is_empty()
    }

    /// Calls `f` on every entry in key order (used to flush a frozen memtable).
    pub(crate) fn for_each<E>(
        &self,
        mut f: impl FnMut(&[u8], &Entry) -> Result<(), E>,
    ) -> Result<(), E> {
        let inner = self.inner.read();
        for (k, e) in &inner.entries {
            f(k, e)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn op() -> impl Strategy<Value = (u8, OpKind)> {
        let small = || proptest::collection::vec(any::<u8>().prop_map(|b| vec![b % 4]), 0..3);
        let kind = prop_oneof![
            (any::<u8>(), small()).prop_map(|(v, secondary)| OpKind::Put {
                value: vec![v],
                secondary,
            }),
            Just(OpKind::Delete),
            small().prop_map(OpKind::SetAdd),
            small().prop_map(OpKind::SetRemove),
            (any::<u8>(), any::<u8>())
                .prop_map(|(k, v)| OpKind::MapPut(vec![(vec![k % 4], vec![v])])),
            small().prop_map(OpKind::MapRemove),
            proptest::collection::vec(0u64..8, 0..3).prop_map(OpKind::RoaringAdd),
            proptest::collection::vec(0u64..8, 0..3).prop_map(OpKind::RoaringRemove),
        ];
        (0u8..6, kind)
    }

    fn dump(m: &Memtable) -> (Vec<(Vec<u8>, Entry)>, Vec<SecondaryPair>) {
        let inner = m.inner.read();
        (
            inner
                .entries
                .iter()
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect(),
            inner
                .secondary
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    proptest! {
        /// Bulk loading gives exactly what applying the ops one by one in LSN order gives,
        /// into an empty memtable and (general path) into a non-empty one.
        #[test]
        fn load_equals_applying_in_order(
            ops in proptest::collection::vec(op(), 0..60),
            split in 0usize..60,
        ) {
            let one_by_one = Memtable::default();
            for (k, op) in &ops {
                one_by_one.apply(&[*k], op);
            }
            let bulk = Memtable::default();
            let mut load = BulkLoad::default();
            for (k, op) in ops.clone() {
                load.push(&[k], op);
            }
            bulk.load(load);
            prop_assert_eq!(dump(&bulk), dump(&one_by_one));

            let split = split.min(ops.len());
            let mixed = Memtable::default();
            for (k, op) in &ops[..split] {
                mixed.apply(&[*k], op);
            }
            let mut load = BulkLoad::default();
            for (k, op) in ops[split..].iter().cloned() {
                load.push(&[k], op);
            }
            mixed.load(load);
            prop_assert_eq!(dump(&mixed), dump(&one_by_one));
        }
    }
}
