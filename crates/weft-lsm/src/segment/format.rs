//! Byte layout of segment files (`docs/format/segment.md`): header, checksummed sections,
//! footer. Every decoder here takes untrusted bytes and returns an error, never panics.

use crate::Strategy;
use crate::codec::{DResult, DecodeError, Reader, le_u32, le_u64, put_bytes, put_varint};

pub(crate) const MAGIC: [u8; 8] = *b"WEFTSEG\0";
pub(crate) const VERSION: u16 = 1;
pub(crate) const HEADER_LEN: usize = 64;
pub(crate) const FOOTER_LEN: usize = 72;
/// Largest section (index, bloom, properties) or block accepted on read.
pub(crate) const MAX_SECTION: u64 = 1 << 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) strategy: Strategy,
    pub(crate) file_no: u64,
    pub(crate) generation: u32,
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&VERSION.to_le_bytes());
        b[10..12].copy_from_slice(&self.strategy.code().to_le_bytes());
        b[16..24].copy_from_slice(&self.file_no.to_le_bytes());
        b[24..28].copy_from_slice(&self.generation.to_le_bytes());
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8]) -> DResult<Self> {
        let err = |offset, reason| DecodeError { offset, reason };
        let b = b.get(..HEADER_LEN).ok_or(err(0, "header truncated"))?;
        if b[0..8] != MAGIC {
            return Err(err(0, "bad segment magic"));
        }
        if le_u32(b, 60) != Some(crc32c::crc32c(&b[..60])) {
            return Err(err(60, "header checksum mismatch"));
        }
        if u16::from_le_bytes([b[8], b[9]]) != VERSION {
            return Err(err(8, "unsupported segment version"));
        }
        let strategy = Strategy::from_code(u16::from_le_bytes([b[10], b[11]]))
            .ok_or(err(10, "unknown strategy"))?;
        let file_no = le_u64(b, 16).ok_or(err(16, "header truncated"))?;
        let generation = le_u32(b, 24).ok_or(err(24, "header truncated"))?;
        Ok(Self {
            strategy,
            file_no,
            generation,
        })
    }
}

/// Where the sections are; the last 72 bytes of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Footer {
    pub(crate) index: (u64, u64),
    pub(crate) bloom: (u64, u64),
    pub(crate) props: (u64, u64),
    pub(crate) file_len: u64,
}

impl Footer {
    pub(crate) fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut b = [0u8; FOOTER_LEN];
        let fields = [
            self.index.0,
            self.index.1,
            self.bloom.0,
            self.bloom.1,
            self.props.0,
            self.props.1,
            self.file_len,
        ];
        for (i, f) in fields.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&f.to_le_bytes());
        }
        b[56..58].copy_from_slice(&VERSION.to_le_bytes());
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b[64..72].copy_from_slice(&MAGIC);
        b
    }

    /// Decodes and validates a footer against the actual file length: every section must lie
    /// between the header and the footer.
    pub(crate) fn decode(b: &[u8], actual_len: u64) -> DResult<Self> {
        let err = |offset, reason| DecodeError { offset, reason };
        let b = b.get(..FOOTER_LEN).ok_or(err(0, "footer truncated"))?;
        if b[64..72] != MAGIC {
            return Err(err(
                64,
                "bad footer magic (file truncated or not a segment)",
            ));
        }
        if le_u32(b, 60) != Some(crc32c::crc32c(&b[..60])) {
            return Err(err(60, "footer checksum mismatch"));
        }
        if u16::from_le_bytes([b[56], b[57]]) != VERSION {
            return Err(err(56, "unsupported footer version"));
        }
        let f = |i: usize| le_u64(b, i * 8).ok_or(err(i * 8, "footer truncated"));
        let footer = Self {
            index: (f(0)?, f(1)?),
            bloom: (f(2)?, f(3)?),
            props: (f(4)?, f(5)?),
            file_len: f(6)?,
        };
        if footer.file_len != actual_len {
            return Err(err(
                48,
                "file length does not match the footer (truncated or extended)",
            ));
        }
        for (i, s) in [footer.index, footer.bloom, footer.props]
            .into_iter()
            .enumerate()
        {
            check_section(s, actual_len).map_err(|reason| err(i * 16, reason))?;
        }
        Ok(footer)
    }
}

/// A section (offset, length incl. its CRC) must lie between header and footer.
pub(crate) fn check_section((off, len): (u64, u64), file_len: u64) -> Result<(), &'static str> {
    let data_end = file_len
        .checked_sub(FOOTER_LEN as u64)
        .ok_or("file shorter than footer")?;
    if off < HEADER_LEN as u64 || !(4..=MAX_SECTION).contains(&len) {
        return Err("section offset or length out of range");
    }
    match off.checked_add(len) {
        Some(end) if end <= data_end => Ok(()),
        _ => Err("section extends past the data area"),
    }
}

/// Splits `payload || crc32c(payload)` and checks the CRC.
pub(crate) fn unseal(section: &[u8]) -> DResult<&[u8]> {
    let n = section.len().checked_sub(4).ok_or(DecodeError {
        offset: 0,
        reason: "section too short",
    })?;
    let (payload, crc) = section.split_at(n);
    if le_u32(crc, 0) != Some(crc32c::crc32c(payload)) {
        return Err(DecodeError {
            offset: 0,
            reason: "section checksum mismatch",
        });
    }
    Ok(payload)
}

pub(crate) fn seal(payload: &mut Vec<u8>) {
    let crc = crc32c::crc32c(payload);
    payload.extend_from_slice(&crc.to_le_bytes());
}

/// One data block of a table: the last key in it and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) last_key: Vec<u8>,
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

pub(crate) fn encode_index(entries: &[IndexEntry], out: &mut Vec<u8>) {
    put_varint(out, entries.len() as u64);
    for e in entries {
        put_bytes(out, &e.last_key);
        put_varint(out, e.offset);
        put_varint(out, e.len);
    }
}

/// Decodes an index; keys must be strictly increasing and blocks must not overlap.
pub(crate) fn decode_index(payload: &[u8], file_len: u64) -> DResult<Vec<IndexEntry>> {
    let mut r = Reader::new(payload);
    let n = r.count(3)?;
    let mut out: Vec<IndexEntry> = Vec::with_capacity(n);
    for _ in 0..n {
        let last_key = r.bytes()?.to_vec();
        let offset = r.varint()?;
        let len = r.varint()?;
        check_section((offset, len), file_len).map_err(|reason| r.err(reason))?;
        if let Some(prev) = out.last()
            && (prev.last_key >= last_key || prev.offset + prev.len > offset)
        {
            return Err(r.err("index entries out of order"));
        }
        out.push(IndexEntry {
            last_key,
            offset,
            len,
        });
    }
    if !r.is_empty() {
        return Err(r.err("trailing bytes after index"));
    }
    Ok(out)
}

/// Decodes a data block payload into (key, value) pairs; keys strictly increasing.
pub(crate) fn decode_block(payload: &[u8]) -> DResult<Vec<(&[u8], &[u8])>> {
    let mut r = Reader::new(payload);
    let n = r.count(2)?;
    let mut out: Vec<(&[u8], &[u8])> = Vec::with_capacity(n);
    for _ in 0..n {
        let k = r.bytes()?;
        let v = r.bytes()?;
        if out.last().is_some_and(|(pk, _)| *pk >= k) {
            return Err(r.err("block keys out of order"));
        }
        out.push((k, v));
    }
    if !r.is_empty() {
        return Err(r.err("trailing bytes after block entries"));
    }
    Ok(out)
}

/// Finds `key` in a data block payload without materializing the block; stops at the first
/// larger key. Checks the same invariants as [`decode_block`] on the part it reads.
pub(crate) fn find_in_block<'a>(payload: &'a [u8], key: &[u8]) -> DResult<Option<&'a [u8]>> {
    let mut r = Reader::new(payload);
    let n = r.count(2)?;
    let mut prev: Option<&[u8]> = None;
    for _ in 0..n {
        let k = r.bytes()?;
        let v = r.bytes()?;
        if prev.is_some_and(|p| p >= k) {
            return Err(r.err("block keys out of order"));
        }
        match k.cmp(key) {
            std::cmp::Ordering::Less => prev = Some(k),
            std::cmp::Ordering::Equal => return Ok(Some(v)),
            std::cmp::Ordering::Greater => return Ok(None),
        }
    }
    Ok(None)
}

/// The properties section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Props {
    pub(crate) lsn_lo: u64,
    pub(crate) lsn_hi: u64,
    pub(crate) entries: u64,
    pub(crate) tombstones: u64,
    pub(crate) inputs: Vec<u64>,
    pub(crate) secondary: Vec<(u64, u64)>,
}

impl Props {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, 1);
        put_varint(out, self.lsn_lo);
        put_varint(out, self.lsn_hi);
        put_varint(out, self.entries);
        put_varint(out, self.tombstones);
        put_varint(out, self.inputs.len() as u64);
        for i in &self.inputs {
            put_varint(out, *i);
        }
        put_varint(out, self.secondary.len() as u64);
        for (off, len) in &self.secondary {
            put_varint(out, *off);
            put_varint(out, *len);
        }
    }

    pub(crate) fn decode(payload: &[u8], file_len: u64) -> DResult<Self> {
        let mut r = Reader::new(payload);
        if r.varint()? != 1 {
            return Err(r.err("unsupported properties version"));
        }
        let lsn_lo = r.varint()?;
        let lsn_hi = r.varint()?;
        if lsn_lo > lsn_hi {
            return Err(r.err("LSN range reversed"));
        }
        let entries = r.varint()?;
        let tombstones = r.varint()?;
        let n = r.count(1)?;
        let mut inputs = Vec::with_capacity(n);
        for _ in 0..n {
            inputs.push(r.varint()?);
        }
        let n = r.count(2)?;
        let mut secondary = Vec::with_capacity(n);
        for _ in 0..n {
            let s = (r.varint()?, r.varint()?);
            check_section(s, file_len).map_err(|reason| r.err(reason))?;
            secondary.push(s);
        }
        if !r.is_empty() {
            return Err(r.err("trailing bytes after properties"));
        }
        Ok(Self {
            lsn_lo,
            lsn_hi,
            entries,
            tombstones,
            inputs,
            secondary,
        })
    }
}
