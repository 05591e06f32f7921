//! What a bucket stores per key, in memtables and segments, and how layers merge.
//!
//! Replace buckets store a value (with its secondary keys) or a tombstone; the newest layer
//! wins. Set and map buckets store a delta map `member -> Some(value) | None (removed)` (a set
//! member's value is empty); roaring-set buckets store `(additions, removals)` bitmaps. Deltas
//! of a newer layer are applied on top of older ones at read time, so a write never needs to
//! read the old value.

use std::collections::BTreeMap;

use bytes::Bytes;
use roaring::RoaringTreemap;

use crate::batch::OpKind;
use crate::codec::{DResult, Reader, put_bytes, put_varint};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Entry {
    Value {
        value: Bytes,
        secondary: Vec<Vec<u8>>,
    },
    Tombstone,
    Delta(BTreeMap<Vec<u8>, Option<Vec<u8>>>),
    Roaring {
        adds: RoaringTreemap,
        removes: RoaringTreemap,
    },
}

/// The resolved value of a key as returned by scans.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A replace bucket's value.
    Bytes(Vec<u8>),
    /// A set bucket's members, sorted.
    Set(Vec<Vec<u8>>),
    /// A map bucket's entries.
    Map(BTreeMap<Vec<u8>, Vec<u8>>),
    /// A roaring-set bucket's bitmap.
    Bitmap(RoaringTreemap),
}

impl Entry {
    /// A fresh entry holding just `op` (used when the key is not in the memtable yet).
    pub(crate) fn from_op(op: &OpKind) -> Entry {
        let mut e = match op {
            OpKind::Put { .. } | OpKind::Delete => Entry::Tombstone,
            OpKind::SetAdd(_) | OpKind::SetRemove(_) | OpKind::MapPut(_) | OpKind::MapRemove(_) => {
                Entry::Delta(BTreeMap::new())
            }
            OpKind::RoaringAdd(_) | OpKind::RoaringRemove(_) => Entry::Roaring {
                adds: RoaringTreemap::new(),
                removes: RoaringTreemap::new(),
            },
        };
        e.apply(op);
        e
    }

    /// Applies a newer operation on top of this entry (same strategy, checked by the caller).
    pub(crate) fn apply(&mut self, op: &OpKind) {
        match (self, op) {
            (e, OpKind::Put { value, secondary }) => {
                *e = Entry::Value {
                    value: value.clone(),
                    secondary: secondary.clone(),
                };
            }
            (e, OpKind::Delete) => *e = Entry::Tombstone,
            (Entry::Delta(m), OpKind::SetAdd(vs)) => {
                for v in vs {
                    m.insert(v.clone(), Some(Vec::new()));
                }
            }
            (Entry::Delta(m), OpKind::SetRemove(vs) | OpKind::MapRemove(vs)) => {
                for v in vs {
                    m.insert(v.clone(), None);
                }
            }
            (Entry::Delta(m), OpKind::MapPut(pairs)) => {
                for (k, v) in pairs {
                    m.insert(k.clone(), Some(v.clone()));
                }
            }
            (Entry::Roaring { adds, removes }, OpKind::RoaringAdd(ids)) => {
                for id in ids {
                    adds.insert(*id);
                    removes.remove(*id);
                }
            }
            (Entry::Roaring { adds, removes }, OpKind::RoaringRemove(ids)) => {
                for id in ids {
                    removes.insert(*id);
                    adds.remove(*id);
                }
            }
            (e, op) => *e = Entry::from_op(op),
        }
    }

    /// Like [`Entry::from_op`], moving a put's value in (WAL replay).
    pub(crate) fn from_owned(op: OpKind) -> Entry {
        match op {
            OpKind::Put { value, secondary } => Entry::Value { value, secondary },
            op => Entry::from_op(&op),
        }
    }

    /// Puts `newer` on top of `self` (older).
    pub(crate) fn merge(self, newer: Entry) -> Entry {
        match (self, newer) {
            (Entry::Delta(mut old), Entry::Delta(new)) => {
                old.extend(new);
                Entry::Delta(old)
            }
            (
                Entry::Roaring {
                    adds: oa,
                    removes: or,
                },
                Entry::Roaring {
                    adds: na,
                    removes: nr,
                },
            ) => Entry::Roaring {
                adds: (oa - &nr) | &na,
                removes: (or - &na) | nr,
            },
            (_, newer) => newer,
        }
    }

    /// Whether a newer layer's entry hides everything older (replace semantics).
    pub(crate) fn is_final(&self) -> bool {
        matches!(self, Entry::Value { .. } | Entry::Tombstone)
    }

    /// Drops what only matters on top of older data (tombstones, removals). Used when the entry
    /// is the oldest layer left; `None` if nothing remains.
    pub(crate) fn into_bottom(self) -> Option<Entry> {
        match self {
            Entry::Tombstone => None,
            Entry::Value { .. } => Some(self),
            Entry::Delta(m) => {
                let m: BTreeMap<_, _> = m.into_iter().filter(|(_, v)| v.is_some()).collect();
                (!m.is_empty()).then_some(Entry::Delta(m))
            }
            Entry::Roaring { adds, .. } => (!adds.is_empty()).then_some(Entry::Roaring {
                adds,
                removes: RoaringTreemap::new(),
            }),
        }
    }

    /// The user-visible value, `None` if the key is absent.
    pub(crate) fn resolve(self, is_set: bool) -> Option<Value> {
        match self.into_bottom()? {
            Entry::Value { value, .. } => Some(Value::Bytes(value.into())),
            Entry::Tombstone => None,
            Entry::Delta(m) if is_set => Some(Value::Set(m.into_keys().collect())),
            Entry::Delta(m) => Some(Value::Map(
                m.into_iter().filter_map(|(k, v)| Some((k, v?))).collect(),
            )),
            Entry::Roaring { adds, .. } => Some(Value::Bitmap(adds)),
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Entry::Value { value, secondary } => {
                out.push(1);
                put_bytes(out, value);
                put_varint(out, secondary.len() as u64);
                for s in secondary {
                    put_bytes(out, s);
                }
            }
            Entry::Tombstone => out.push(2),
            Entry::Delta(m) => {
                out.push(3);
                put_varint(out, m.len() as u64);
                for (k, v) in m {
                    put_bytes(out, k);
                    match v {
                        Some(v) => {
                            out.push(1);
                            put_bytes(out, v);
                        }
                        None => out.push(0),
                    }
                }
            }
            Entry::Roaring { adds, removes } => {
                out.push(4);
                for bm in [adds, removes] {
                    let mut buf = Vec::with_capacity(bm.serialized_size());
                    // Writing into a Vec cannot fail.
                    let _ = bm.serialize_into(&mut buf);
                    put_bytes(out, &buf);
                }
            }
        }
    }

    pub(crate) fn decode(bytes: &[u8]) -> DResult<Entry> {
        let mut r = Reader::new(bytes);
        let e = match r.u8()? {
            1 => {
                let value = Bytes::copy_from_slice(r.bytes()?);
                let n = r.count(1)?;
                let mut secondary = Vec::with_capacity(n);
                for _ in 0..n {
                    secondary.push(r.bytes()?.to_vec());
                }
                Entry::Value { value, secondary }
            }
            2 => Entry::Tombstone,
            3 => {
                let n = r.count(2)?;
                let mut m = BTreeMap::new();
                for _ in 0..n {
                    let k = r.bytes()?.to_vec();
                    let v = match r.u8()? {
                        0 => None,
                        1 => Some(r.bytes()?.to_vec()),
                        _ => return Err(r.err("bad delta flag")),
                    };
                    m.insert(k, v);
                }
                Entry::Delta(m)
            }
            4 => {
                let adds = decode_bitmap(&mut r)?;
                let removes = decode_bitmap(&mut r)?;
                Entry::Roaring { adds, removes }
            }
            _ => return Err(r.err("unknown entry tag")),
        };
        if !r.is_empty() {
            return Err(r.err("trailing bytes after entry"));
        }
        Ok(e)
    }
}

/// One layer's members of a set or map entry, borrowed from its encoding, in member order.
pub(crate) type DeltaItems<'a> = Vec<(&'a [u8], Option<&'a [u8]>)>;

/// Reads an encoded set/map entry without copying it: `Some(members)` for a delta, `None` for
/// a tombstone (hides every older layer); anything else is an error.
pub(crate) fn delta_items(bytes: &[u8]) -> DResult<Option<DeltaItems<'_>>> {
    let mut r = Reader::new(bytes);
    let out = match r.u8()? {
        2 => None,
        3 => {
            let n = r.count(2)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let k = r.bytes()?;
                let v = match r.u8()? {
                    0 => None,
                    1 => Some(r.bytes()?),
                    _ => return Err(r.err("bad delta flag")),
                };
                items.push((k, v));
            }
            Some(items)
        }
        _ => return Err(r.err("not a set or map entry")),
    };
    if !r.is_empty() {
        return Err(r.err("trailing bytes after entry"));
    }
    Ok(out)
}

fn decode_bitmap(r: &mut Reader<'_>) -> DResult<RoaringTreemap> {
    let pos = r.pos();
    let bytes = r.bytes()?;
    // `deserialize_from` validates the containers; reading from a slice bounds every length.
    RoaringTreemap::deserialize_from(bytes).map_err(|_| crate::codec::DecodeError {
        offset: pos,
        reason: "invalid roaring bitmap",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roaring_merge_applies_newer_on_top() {
        let old = Entry::from_op(&OpKind::RoaringAdd(vec![1, 2, 3]));
        let mut new = Entry::from_op(&OpKind::RoaringRemove(vec![2]));
        new.apply(&OpKind::RoaringAdd(vec![4]));
        let merged = old.merge(new);
        let Some(Value::Bitmap(bm)) = merged.resolve(false) else {
            panic!("bitmap")
        };
        assert_eq!(bm.iter().collect::<Vec<_>>(), vec![1, 3, 4]);
    }

    #[test]
    fn encode_decode_every_kind() {
        let mut d = Entry::from_op(&OpKind::MapPut(vec![(b"a".to_vec(), b"1".to_vec())]));
        d.apply(&OpKind::MapRemove(vec![b"b".to_vec()]));
        let entries = [
            Entry::Value {
                value: Bytes::from_static(b"v"),
                secondary: vec![b"s".to_vec()],
            },
            Entry::Tombstone,
            d,
            Entry::from_op(&OpKind::RoaringAdd(vec![7, 1 << 40])),
        ];
        for e in entries {
            let mut out = Vec::new();
            e.encode(&mut out);
            assert_eq!(Entry::decode(&out).unwrap(), e);
            for cut in 0..out.len() {
                assert!(Entry::decode(&out[..cut]).is_err());
            }
        }
    }
}
