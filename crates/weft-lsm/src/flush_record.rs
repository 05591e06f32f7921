//! Flush records: one immutable file per shard-wide flush at LSN F, listing the segments it
//! produced. Written after those segments are durable; its presence confirms the flush.
//! Byte layout: `docs/format/flush-record.md` (a weft-io envelope around the payload below).

use weft_io::envelope;

use crate::codec::{DResult, Reader, put_bytes, put_varint};

pub(crate) const MAGIC: [u8; 8] = *b"WEFTFLS\0";
pub(crate) const VERSION: u32 = 1;
pub(crate) const DIR: &str = "flush";

pub(crate) fn file_name(lsn: u64) -> String {
    format!("{lsn:016x}.flush")
}

pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".flush")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// One segment a flush produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlushedSegment {
    pub(crate) bucket: String,
    pub(crate) file_no: u64,
    pub(crate) lsn_lo: u64,
    pub(crate) lsn_hi: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlushRecord {
    pub(crate) lsn: u64,
    pub(crate) prev_lsn: u64,
    pub(crate) segments: Vec<FlushedSegment>,
}

impl FlushRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut p = Vec::new();
        put_varint(&mut p, self.lsn);
        put_varint(&mut p, self.prev_lsn);
        put_varint(&mut p, self.segments.len() as u64);
        for s in &self.segments {
            put_bytes(&mut p, s.bucket.as_bytes());
            put_varint(&mut p, s.file_no);
            put_varint(&mut p, s.lsn_lo);
            put_varint(&mut p, s.lsn_hi);
        }
        envelope::seal(MAGIC, VERSION, &p)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        let (version, payload) = envelope::open(MAGIC, bytes).map_err(|e| e.to_string())?;
        if version != VERSION {
            return Err(format!("unsupported flush record version {version}"));
        }
        Self::decode_payload(payload).map_err(|e| e.to_string())
    }

    fn decode_payload(payload: &[u8]) -> DResult<Self> {
        let mut r = Reader::new(payload);
        let lsn = r.varint()?;
        let prev_lsn = r.varint()?;
        let n = r.count(4)?;
        let mut segments = Vec::with_capacity(n);
        for _ in 0..n {
            let bucket = std::str::from_utf8(r.bytes()?)
                .map_err(|_| r.err("bucket name is not UTF-8"))?
                .to_string();
            segments.push(FlushedSegment {
                bucket,
                file_no: r.varint()?,
                lsn_lo: r.varint()?,
                lsn_hi: r.varint()?,
            });
        }
        if !r.is_empty() {
            return Err(r.err("trailing bytes"));
        }
        Ok(Self {
            lsn,
            prev_lsn,
            segments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_damage() {
        let rec = FlushRecord {
            lsn: 42,
            prev_lsn: 7,
            segments: vec![FlushedSegment {
                bucket: "objects".into(),
                file_no: 3,
                lsn_lo: 7,
                lsn_hi: 42,
            }],
        };
        let bytes = rec.encode();
        assert_eq!(FlushRecord::decode(&bytes).unwrap(), rec);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(FlushRecord::decode(&bad).is_err());
        }
        assert_eq!(parse_file_name(&file_name(42)), Some(42));
    }
}
