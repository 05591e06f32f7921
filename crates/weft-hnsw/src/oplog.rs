//! The graph-operation log as bytes: a file header and [`GraphOp`] records, each with its
//! length and CRC32C (`docs/format/graph-op-log.md`). The caller owns the files: it appends
//! [`encode_op`]'s bytes as ops are reported and replays a file with [`read_ops`] onto the
//! snapshot it belongs to.
//!
//! Decoding never panics and allocates at most one op's ids at a time; it stops at the first
//! record that is torn, fails its checksum or does not parse, and says where
//! ([`LogEnd`]): records after a damaged one are never handed out.
//!
//! ```
//! use weft_hnsw::GraphOp;
//! use weft_hnsw::oplog::{Record, encode_applied, encode_header, encode_op, read_ops};
//!
//! let mut bytes = encode_header(7).to_vec();
//! encode_op(&GraphOp::AddNode { id: 3, level: 0 }, &mut bytes);
//! encode_op(&GraphOp::SetNeighbors { id: 3, level: 0, neighbors: vec![1, 2] }, &mut bytes);
//! encode_applied(41, &mut bytes);
//! let mut records = Vec::new();
//! let end = read_ops(&bytes, &mut |r| {
//!     records.push(r);
//!     true
//! })
//! .unwrap();
//! assert_eq!((end.generation, end.records, end.damage), (7, 3, None));
//! let links = GraphOp::SetNeighbors { id: 3, level: 0, neighbors: vec![1, 2] };
//! assert_eq!(records[1..], [Record::Op(links), Record::Applied(41)]);
//! ```

use crate::ops::GraphOp;

/// First bytes of every log file.
pub const MAGIC: [u8; 8] = *b"WEFTGLOG";
/// Format version written (and read) by this code.
pub const VERSION: u16 = 1;
/// Size of the file header.
pub const HEADER_LEN: usize = 24;
/// Size of a record's framing (length, CRC).
pub const RECORD_HEADER_LEN: usize = 8;
/// Largest record payload (a list of 2 × 32 767 ids is about 256 KiB).
pub const MAX_RECORD: usize = 1 << 20;
/// Highest level an op may name (`weft_hnsw`'s top level is at most 15).
const MAX_LEVEL: u8 = 15;

const TAG_ADD_NODE: u8 = 1;
const TAG_SET_NEIGHBORS: u8 = 2;
const TAG_SET_ENTRY: u8 = 3;
const TAG_TOMBSTONE: u8 = 4;
const TAG_REMOVE: u8 = 5;
const TAG_PUBLISHED: u8 = 6;
const TAG_APPLIED: u8 = 7;

/// One log record: a graph operation, or the caller's mark that every operation of its
/// writes up to a position (weft-db: a shard LSN) was recorded before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A graph operation.
    Op(GraphOp),
    /// Every operation of the caller's writes up to this position precedes this record.
    Applied(u64),
}

/// Why a log file cannot be read at all (its header is unusable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// Shorter than the header.
    #[error("graph-op log shorter than its {HEADER_LEN}-byte header")]
    Truncated,
    /// Not a log file.
    #[error("not a graph-op log (bad magic)")]
    BadMagic,
    /// Another format version.
    #[error("unsupported graph-op log version {0} (this build reads {VERSION})")]
    Version(u16),
    /// The header's CRC does not match.
    #[error("checksum mismatch in the graph-op log header")]
    Checksum,
}

/// Where reading a log stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogEnd {
    /// The generation the header names.
    pub generation: u64,
    /// Records handed out.
    pub records: u64,
    /// Bytes of the file those records and the header cover.
    pub valid_bytes: u64,
    /// `Some((offset, what))` if reading stopped before the end of the input: a torn tail
    /// (a crash during an append) or damage.
    pub damage: Option<(u64, &'static str)>,
}

/// The file header of generation `generation`.
pub fn encode_header(generation: u64) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[0..8].copy_from_slice(&MAGIC);
    b[8..10].copy_from_slice(&VERSION.to_le_bytes());
    // 10..12 reserved, zero.
    b[12..20].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32c::crc32c(&b[..20]);
    b[20..24].copy_from_slice(&crc.to_le_bytes());
    b
}

/// The generation a header names.
pub fn decode_header(b: &[u8]) -> Result<u64, LogError> {
    let h = b.get(..HEADER_LEN).ok_or(LogError::Truncated)?;
    if h[0..8] != MAGIC {
        return Err(LogError::BadMagic);
    }
    let version = u16::from_le_bytes([h[8], h[9]]);
    if version != VERSION {
        return Err(LogError::Version(version));
    }
    let stored = u32::from_le_bytes([h[20], h[21], h[22], h[23]]);
    if crc32c::crc32c(&h[..20]) != stored || h[10..12] != [0, 0] {
        return Err(LogError::Checksum);
    }
    let mut g = [0u8; 8];
    g.copy_from_slice(&h[12..20]);
    Ok(u64::from_le_bytes(g))
}

/// Appends the mark [`Record::Applied`]`(position)` as one framed record to `out`.
pub fn encode_applied(position: u64, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_HEADER_LEN]);
    out.push(TAG_APPLIED);
    out.extend_from_slice(&position.to_le_bytes());
    frame(out, start);
}

/// Fills in the length and CRC of the record that starts at `start` and runs to the end.
fn frame(out: &mut [u8], start: usize) {
    let len = (out.len() - start - RECORD_HEADER_LEN) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&len.to_le_bytes()),
        &out[start + RECORD_HEADER_LEN..],
    );
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Appends `op` as one framed record to `out`.
pub fn encode_op(op: &GraphOp, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_HEADER_LEN]);
    match op {
        GraphOp::AddNode { id, level } => {
            out.push(TAG_ADD_NODE);
            out.extend_from_slice(&id.to_le_bytes());
            out.push(*level);
        }
        GraphOp::SetNeighbors {
            id,
            level,
            neighbors,
        } => {
            out.push(TAG_SET_NEIGHBORS);
            out.extend_from_slice(&id.to_le_bytes());
            out.push(*level);
            let n = neighbors.len().min(usize::from(u16::MAX));
            out.extend_from_slice(&(n as u16).to_le_bytes());
            for id in &neighbors[..n] {
                out.extend_from_slice(&id.to_le_bytes());
            }
        }
        GraphOp::SetEntryPoint { entry } => {
            out.push(TAG_SET_ENTRY);
            match entry {
                Some((id, level)) => {
                    out.push(1);
                    out.extend_from_slice(&id.to_le_bytes());
                    out.push(*level);
                }
                None => out.extend_from_slice(&[0; 6]),
            }
        }
        GraphOp::Tombstone { id } => {
            out.push(TAG_TOMBSTONE);
            out.extend_from_slice(&id.to_le_bytes());
        }
        GraphOp::RemoveNode { id } => {
            out.push(TAG_REMOVE);
            out.extend_from_slice(&id.to_le_bytes());
        }
        GraphOp::Published { id } => {
            out.push(TAG_PUBLISHED);
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    frame(out, start);
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses one record payload.
fn decode_record(p: &[u8]) -> Option<Record> {
    if p.first() == Some(&TAG_APPLIED) {
        let b: [u8; 8] = p.get(1..)?.try_into().ok()?;
        return Some(Record::Applied(u64::from_le_bytes(b)));
    }
    decode_op(p).map(Record::Op)
}

/// Parses one operation payload.
fn decode_op(p: &[u8]) -> Option<GraphOp> {
    let level = |at: usize| p.get(at).copied().filter(|&l| l <= MAX_LEVEL);
    let op = match *p.first()? {
        TAG_ADD_NODE if p.len() == 6 => GraphOp::AddNode {
            id: u32_at(p, 1)?,
            level: level(5)?,
        },
        TAG_SET_NEIGHBORS => {
            let n = usize::from(u16::from_le_bytes([*p.get(6)?, *p.get(7)?]));
            if p.len() != 8 + 4 * n {
                return None;
            }
            GraphOp::SetNeighbors {
                id: u32_at(p, 1)?,
                level: level(5)?,
                neighbors: p[8..]
                    .chunks_exact(4)
                    .filter_map(|w| u32_at(w, 0))
                    .collect(),
            }
        }
        TAG_SET_ENTRY if p.len() == 7 => GraphOp::SetEntryPoint {
            entry: match p[1] {
                0 if p[2..] == [0; 5] => None,
                1 => Some((u32_at(p, 2)?, level(6)?)),
                _ => return None,
            },
        },
        TAG_TOMBSTONE if p.len() == 5 => GraphOp::Tombstone { id: u32_at(p, 1)? },
        TAG_REMOVE if p.len() == 5 => GraphOp::RemoveNode { id: u32_at(p, 1)? },
        TAG_PUBLISHED if p.len() == 5 => GraphOp::Published { id: u32_at(p, 1)? },
        _ => return None,
    };
    Some(op)
}

/// Checks the header of a whole log file held in `bytes`, then hands every record to `visit`
/// in file order until it returns false (then [`LogEnd::valid_bytes`] ends after that
/// record), stopping at the end of the input or at the first record that is torn,
/// fails its CRC or does not parse (reported in [`LogEnd::damage`]; a torn tail is what a
/// crash during an append leaves, so it is not an error here).
pub fn read_ops(bytes: &[u8], visit: &mut dyn FnMut(Record) -> bool) -> Result<LogEnd, LogError> {
    let generation = decode_header(bytes)?;
    let mut end = LogEnd {
        generation,
        records: 0,
        valid_bytes: HEADER_LEN as u64,
        damage: None,
    };
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        let stop = |what| Some((at as u64, what));
        let (Some(len), Some(stored)) = (u32_at(bytes, at), u32_at(bytes, at + 4)) else {
            end.damage = stop("record header cut short");
            break;
        };
        let len = len as usize;
        if len > MAX_RECORD {
            end.damage = stop("record longer than the format allows");
            break;
        }
        let Some(payload) = bytes.get(at + RECORD_HEADER_LEN..at + RECORD_HEADER_LEN + len) else {
            end.damage = stop("record cut short");
            break;
        };
        let crc = crc32c::crc32c_append(crc32c::crc32c(&(len as u32).to_le_bytes()), payload);
        if crc != stored {
            end.damage = stop("record checksum mismatch");
            break;
        }
        let Some(op) = decode_record(payload) else {
            end.damage = stop("record does not parse");
            break;
        };
        let go_on = visit(op);
        at += RECORD_HEADER_LEN + len;
        end.records += 1;
        end.valid_bytes = at as u64;
        if !go_on {
            break;
        }
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = Record> {
        prop_oneof![
            op().prop_map(Record::Op),
            any::<u64>().prop_map(Record::Applied)
        ]
    }

    fn op() -> impl Strategy<Value = GraphOp> {
        prop_oneof![
            (any::<u32>(), 0u8..=15).prop_map(|(id, level)| GraphOp::AddNode { id, level }),
            (
                any::<u32>(),
                0u8..=15,
                proptest::collection::vec(any::<u32>(), 0..70)
            )
                .prop_map(|(id, level, neighbors)| GraphOp::SetNeighbors {
                    id,
                    level,
                    neighbors
                }),
            proptest::option::of((any::<u32>(), 0u8..=15))
                .prop_map(|entry| GraphOp::SetEntryPoint { entry }),
            any::<u32>().prop_map(|id| GraphOp::Tombstone { id }),
            any::<u32>().prop_map(|id| GraphOp::RemoveNode { id }),
            any::<u32>().prop_map(|id| GraphOp::Published { id }),
        ]
    }

    fn encoded(records: &[Record]) -> Vec<u8> {
        let mut b = encode_header(3).to_vec();
        for r in records {
            match r {
                Record::Op(op) => encode_op(op, &mut b),
                Record::Applied(p) => encode_applied(*p, &mut b),
            }
        }
        b
    }

    fn read(bytes: &[u8]) -> (Vec<Record>, LogEnd) {
        let mut out = Vec::new();
        let end = read_ops(bytes, &mut |op| {
            out.push(op);
            true
        })
        .expect("header");
        (out, end)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Every op reads back as written, in order.
        #[test]
        fn ops_round_trip(ops in proptest::collection::vec(record(), 0..40)) {
            let bytes = encoded(&ops);
            let (back, end) = read(&bytes);
            prop_assert_eq!(&back, &ops);
            prop_assert_eq!(end, LogEnd { generation: 3, records: ops.len() as u64, valid_bytes: bytes.len() as u64, damage: None });
        }

        /// Cut anywhere after the header: exactly the whole records before the cut come back.
        #[test]
        fn a_torn_tail_yields_the_prefix(ops in proptest::collection::vec(record(), 1..20), cut in any::<prop::sample::Index>()) {
            let bytes = encoded(&ops);
            let cut = HEADER_LEN + cut.index(bytes.len() - HEADER_LEN);
            let (back, end) = read(&bytes[..cut]);
            prop_assert_eq!(&back[..], &ops[..back.len()]);
            prop_assert_eq!(end.valid_bytes as usize <= cut, true);
            let whole = end.valid_bytes as usize == cut;
            prop_assert_eq!(end.damage.is_none(), whole);
        }

        /// A flipped bit after the header stops reading at or before the damaged record,
        /// and nothing after it is handed out.
        #[test]
        fn a_flipped_bit_stops_reading(ops in proptest::collection::vec(record(), 1..20), at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut bytes = encoded(&ops);
            let i = HEADER_LEN + at.index(bytes.len() - HEADER_LEN);
            bytes[i] ^= 1 << bit;
            let (back, end) = read(&bytes);
            prop_assert!(end.damage.is_some());
            prop_assert!(end.valid_bytes as usize <= i);
            prop_assert_eq!(&back[..], &ops[..back.len()]);
        }

        /// Random bytes never panic.
        #[test]
        fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..512), header in any::<bool>()) {
            if header {
                let h = encode_header(1);
                let n = h.len().min(bytes.len());
                bytes[..n].copy_from_slice(&h[..n]);
            }
            let _ = read_ops(&bytes, &mut |_| true);
        }
    }

    #[test]
    fn headers_are_checked() {
        let h = encode_header(9);
        assert_eq!(decode_header(&h), Ok(9));
        assert_eq!(decode_header(&h[..10]), Err(LogError::Truncated));
        let mut bad = h;
        bad[0] ^= 1;
        assert_eq!(decode_header(&bad), Err(LogError::BadMagic));
        let mut bad = h;
        bad[8] = 2;
        assert_eq!(decode_header(&bad), Err(LogError::Version(2)));
        let mut bad = h;
        bad[13] ^= 1;
        assert_eq!(decode_header(&bad), Err(LogError::Checksum));
    }
}
