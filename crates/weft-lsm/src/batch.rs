//! Write batches: the unit of atomicity. One batch becomes one WAL record, whatever buckets it
//! touches, so all buckets of a shard always recover to the same point.
//!
//! Payload encoding (inside a WAL record, see `docs/format/wal.md`): a version byte (1), a
//! varint op count, then per op: bucket name (varint length + bytes), op tag (u8), key
//! (varint length + bytes) and the op's arguments.

use bytes::Bytes;
use std::fmt;

use crate::codec::{DResult, DecodeError, Reader, put_bytes, put_varint};

/// How a bucket interprets its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Strategy {
    /// Key -> value, last write wins, deletes leave tombstones; optional secondary keys.
    Replace,
    /// Key -> set of byte strings; additions and removals are merged on read.
    Set,
    /// Key -> map of byte strings; per-entry puts and removals are merged on read.
    Map,
    /// Key -> roaring bitmap of u64 ids; additions and removals are merged on read.
    RoaringSet,
}

impl Strategy {
    pub(crate) fn code(self) -> u16 {
        match self {
            Self::Replace => 1,
            Self::Set => 2,
            Self::Map => 3,
            Self::RoaringSet => 4,
        }
    }

    pub(crate) fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            1 => Self::Replace,
            2 => Self::Set,
            3 => Self::Map,
            4 => Self::RoaringSet,
            _ => return None,
        })
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Replace => "replace",
            Self::Set => "set",
            Self::Map => "map",
            Self::RoaringSet => "roaringset",
        })
    }
}

/// One mutation of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpKind {
    Put {
        /// Shared with the replayed WAL batch it was decoded from (no copy), or owned.
        value: Bytes,
        secondary: Vec<Vec<u8>>,
    },
    Delete,
    SetAdd(Vec<Vec<u8>>),
    SetRemove(Vec<Vec<u8>>),
    MapPut(Vec<(Vec<u8>, Vec<u8>)>),
    MapRemove(Vec<Vec<u8>>),
    RoaringAdd(Vec<u64>),
    RoaringRemove(Vec<u64>),
}

impl OpKind {
    pub(crate) fn strategy(&self) -> Strategy {
        match self {
            Self::Put { .. } | Self::Delete => Strategy::Replace,
            Self::SetAdd(_) | Self::SetRemove(_) => Strategy::Set,
            Self::MapPut(_) | Self::MapRemove(_) => Strategy::Map,
            Self::RoaringAdd(_) | Self::RoaringRemove(_) => Strategy::RoaringSet,
        }
    }

    fn tag(&self) -> u8 {
        match self {
            Self::Put { .. } => 1,
            Self::Delete => 2,
            Self::SetAdd(_) => 3,
            Self::SetRemove(_) => 4,
            Self::MapPut(_) => 5,
            Self::MapRemove(_) => 6,
            Self::RoaringAdd(_) => 7,
            Self::RoaringRemove(_) => 8,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Op {
    pub(crate) bucket: String,
    pub(crate) key: Vec<u8>,
    pub(crate) kind: OpKind,
}

/// A group of mutations applied atomically: all or none survive a crash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub(crate) ops: Vec<Op>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    fn push(&mut self, bucket: &str, key: &[u8], kind: OpKind) -> &mut Self {
        self.ops.push(Op {
            bucket: bucket.to_string(),
            key: key.to_vec(),
            kind,
        });
        self
    }

    /// Replace bucket: sets `key` to `value`.
    pub fn put(&mut self, bucket: &str, key: &[u8], value: &[u8]) -> &mut Self {
        self.push(
            bucket,
            key,
            OpKind::Put {
                value: Bytes::copy_from_slice(value),
                secondary: Vec::new(),
            },
        )
    }

    /// Replace bucket: sets `key` to `value`, reachable also through secondary keys
    /// (position i = secondary index i).
    pub fn put_with_secondary(
        &mut self,
        bucket: &str,
        key: &[u8],
        value: &[u8],
        secondary: &[&[u8]],
    ) -> &mut Self {
        let secondary = secondary.iter().map(|s| s.to_vec()).collect();
        self.push(
            bucket,
            key,
            OpKind::Put {
                value: Bytes::copy_from_slice(value),
                secondary,
            },
        )
    }

    /// Replace bucket: deletes `key`.
    pub fn delete(&mut self, bucket: &str, key: &[u8]) -> &mut Self {
        self.push(bucket, key, OpKind::Delete)
    }

    /// Set bucket: adds values to the set at `key`.
    pub fn set_add(&mut self, bucket: &str, key: &[u8], values: &[&[u8]]) -> &mut Self {
        let values = values.iter().map(|v| v.to_vec()).collect();
        self.push(bucket, key, OpKind::SetAdd(values))
    }

    /// Set bucket: removes values from the set at `key`.
    pub fn set_remove(&mut self, bucket: &str, key: &[u8], values: &[&[u8]]) -> &mut Self {
        let values = values.iter().map(|v| v.to_vec()).collect();
        self.push(bucket, key, OpKind::SetRemove(values))
    }

    /// Map bucket: sets `map_key` to `value` in the map at `key`.
    pub fn map_put(&mut self, bucket: &str, key: &[u8], map_key: &[u8], value: &[u8]) -> &mut Self {
        self.push(
            bucket,
            key,
            OpKind::MapPut(vec![(map_key.to_vec(), value.to_vec())]),
        )
    }

    /// Map bucket: sets every `(map_key, value)` of `pairs` in the map at `key` (one
    /// operation, however many pairs).
    pub fn map_put_many(
        &mut self,
        bucket: &str,
        key: &[u8],
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> &mut Self {
        self.push(bucket, key, OpKind::MapPut(pairs))
    }

    /// Map bucket: removes every map key of `map_keys` from the map at `key`.
    pub fn map_remove_many(
        &mut self,
        bucket: &str,
        key: &[u8],
        map_keys: Vec<Vec<u8>>,
    ) -> &mut Self {
        self.push(bucket, key, OpKind::MapRemove(map_keys))
    }

    /// Map bucket: removes `map_key` from the map at `key`.
    pub fn map_remove(&mut self, bucket: &str, key: &[u8], map_key: &[u8]) -> &mut Self {
        self.push(bucket, key, OpKind::MapRemove(vec![map_key.to_vec()]))
    }

    /// Roaring-set bucket: adds ids to the bitmap at `key` (no read-modify-write).
    pub fn roaring_add(&mut self, bucket: &str, key: &[u8], ids: &[u64]) -> &mut Self {
        self.push(bucket, key, OpKind::RoaringAdd(ids.to_vec()))
    }

    /// Roaring-set bucket: removes ids from the bitmap at `key`.
    pub fn roaring_remove(&mut self, bucket: &str, key: &[u8], ids: &[u64]) -> &mut Self {
        self.push(bucket, key, OpKind::RoaringRemove(ids.to_vec()))
    }

    /// Encodes the batch as a WAL record payload.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(PAYLOAD_VERSION);
        put_varint(out, self.ops.len() as u64);
        for op in &self.ops {
            put_bytes(out, op.bucket.as_bytes());
            out.push(op.kind.tag());
            put_bytes(out, &op.key);
            match &op.kind {
                OpKind::Put { value, secondary } => {
                    put_bytes(out, value);
                    put_list(out, secondary);
                }
                OpKind::Delete => {}
                OpKind::SetAdd(v) | OpKind::SetRemove(v) | OpKind::MapRemove(v) => put_list(out, v),
                OpKind::MapPut(pairs) => {
                    put_varint(out, pairs.len() as u64);
                    for (k, v) in pairs {
                        put_bytes(out, k);
                        put_bytes(out, v);
                    }
                }
                OpKind::RoaringAdd(ids) | OpKind::RoaringRemove(ids) => {
                    put_varint(out, ids.len() as u64);
                    for id in ids {
                        put_varint(out, *id);
                    }
                }
            }
        }
    }

    /// Decodes a WAL record payload. Never panics, never allocates more than the input size.
    pub(crate) fn decode(payload: &[u8]) -> DResult<Self> {
        let mut ops = Vec::new();
        for_each_op(payload, |bucket, key, kind| {
            ops.push(Op {
                bucket: bucket.to_string(),
                key: key.to_vec(),
                kind,
            });
            Ok::<_, DecodeError>(())
        })?;
        Ok(Self { ops })
    }
}

/// Decodes a WAL record payload op by op and hands each op to `f` with its bucket name and key
/// borrowed from `payload` (replay copies only what the memtable keeps). Stops at the first
/// error, of the decoder or of `f`; a payload that fails after some ops were handed out is still
/// invalid as a whole. Never panics, never allocates more than the input size.
pub(crate) fn for_each_op<E: From<DecodeError>>(
    payload: &[u8],
    f: impl FnMut(&str, &[u8], OpKind) -> Result<(), E>,
) -> Result<(), E> {
    decode_ops(payload, None, f)
}

/// Like [`for_each_op`], with put values handed out as slices of `owner`, the buffer `payload`
/// lies in (WAL replay: the memtable keeps the read buffer instead of a copy per value).
pub(crate) fn for_each_op_shared<E: From<DecodeError>>(
    payload: &[u8],
    owner: &Bytes,
    f: impl FnMut(&str, &[u8], OpKind) -> Result<(), E>,
) -> Result<(), E> {
    decode_ops(payload, Some(owner), f)
}

/// `owner`, when given, is the buffer `payload` lies in.
fn decode_ops<E: From<DecodeError>>(
    payload: &[u8],
    owner: Option<&Bytes>,
    mut f: impl FnMut(&str, &[u8], OpKind) -> Result<(), E>,
) -> Result<(), E> {
    let mut r = Reader::new(payload);
    if r.u8()? != PAYLOAD_VERSION {
        return Err(DecodeError {
            offset: 0,
            reason: "unknown batch payload version",
        }
        .into());
    }
    let n = r.count(3)?;
    // The ops of a batch mostly name the bucket of the op before: checked once, not per op.
    let mut last: &str = "";
    for _ in 0..n {
        let name = r.bytes()?;
        let bucket = if name == last.as_bytes() {
            last
        } else {
            std::str::from_utf8(name).map_err(|_| r.err("bucket name is not UTF-8"))?
        };
        last = bucket;
        let tag = r.u8()?;
        let key = r.bytes()?;
        let kind = decode_kind(&mut r, tag, owner)?;
        f(bucket, key, kind)?;
    }
    if !r.is_empty() {
        return Err(r.err("trailing bytes after the last op").into());
    }
    Ok(())
}

fn decode_kind(r: &mut Reader<'_>, tag: u8, owner: Option<&Bytes>) -> DResult<OpKind> {
    Ok(match tag {
        1 => OpKind::Put {
            value: match owner {
                Some(b) => b.slice_ref(r.bytes()?),
                None => Bytes::copy_from_slice(r.bytes()?),
            },
            secondary: get_list(r)?,
        },
        2 => OpKind::Delete,
        3 => OpKind::SetAdd(get_list(r)?),
        4 => OpKind::SetRemove(get_list(r)?),
        5 => {
            let n = r.count(2)?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                pairs.push((r.bytes()?.to_vec(), r.bytes()?.to_vec()));
            }
            OpKind::MapPut(pairs)
        }
        6 => OpKind::MapRemove(get_list(r)?),
        7 | 8 => {
            let n = r.count(1)?;
            let mut ids = Vec::with_capacity(n);
            for _ in 0..n {
                ids.push(r.varint()?);
            }
            if tag == 7 {
                OpKind::RoaringAdd(ids)
            } else {
                OpKind::RoaringRemove(ids)
            }
        }
        _ => return Err(r.err("unknown op tag")),
    })
}

const PAYLOAD_VERSION: u8 = 1;

fn put_list(out: &mut Vec<u8>, items: &[Vec<u8>]) {
    put_varint(out, items.len() as u64);
    for item in items {
        put_bytes(out, item);
    }
}

fn get_list(r: &mut Reader<'_>) -> DResult<Vec<Vec<u8>>> {
    let n = r.count(1)?;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        items.push(r.bytes()?.to_vec());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_every_op() {
        let mut b = WriteBatch::new();
        b.put("objects", b"k", b"v")
            .put_with_secondary("objects", b"k2", b"v2", &[b"s0", b"s1"])
            .delete("objects", b"k3")
            .set_add("s", b"k", &[b"a", b"b"])
            .set_remove("s", b"k", &[b"a"])
            .map_put("m", b"k", b"mk", b"mv")
            .map_remove("m", b"k", b"mk")
            .roaring_add("r", b"k", &[1, 2, u64::MAX])
            .roaring_remove("r", b"k", &[2]);
        let mut out = Vec::new();
        b.encode(&mut out);
        assert_eq!(WriteBatch::decode(&out).unwrap(), b);
        for cut in 0..out.len() {
            assert!(WriteBatch::decode(&out[..cut]).is_err());
        }
    }
}
