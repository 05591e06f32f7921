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

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<Vec<u8>, Entry>,
    /// (secondary index position, secondary key) -> primary key; may hold stale mappings,
    /// readers check the primary's current secondary keys.
    secondary: BTreeMap<(usize, Vec<u8>), Vec<u8>>,
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

    /// Like [`Memtable::apply`], moving the key and value in (WAL replay).
    pub(crate) fn apply_owned(&self, key: Vec<u8>, op: OpKind) {
        let mut inner = self.inner.write();
        match op {
            OpKind::Put { value, secondary } => {
                for (pos, s) in secondary.iter().enumerate() {
                    inner.secondary.insert((pos, s.clone()), key.clone());
                }
                inner.entries.insert(key, Entry::Value { value, secondary });
            }
            op => match inner.entries.get_mut(&key) {
                Some(e) => e.apply(&op),
                None => {
                    inner.entries.insert(key, Entry::from_op(&op));
                }
            },
        }
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
