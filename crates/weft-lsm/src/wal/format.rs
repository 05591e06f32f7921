//! Byte layout of WAL files (`docs/format/wal.md`) and the recovery scan.

use super::reader::{DEFAULT_CHUNK, Next, OpenError, RecordReader};
use crate::codec::{le_u32, le_u64};

pub(crate) const MAGIC: [u8; 8] = *b"WEFTWAL\0";
pub(crate) const VERSION: u16 = 1;
pub(crate) const HEADER_LEN: usize = 32;
pub(crate) const RECORD_HEADER_LEN: usize = 24;
/// Record kind: a write batch.
pub(crate) const KIND_BATCH: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileHeader {
    pub(crate) salt: u32,
    pub(crate) first_lsn: u64,
}

impl FileHeader {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&self.salt.to_le_bytes());
        b[16..24].copy_from_slice(&self.first_lsn.to_le_bytes());
        let crc = crc32c::crc32c(&b[..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Self, (u64, &'static str)> {
        let b = b
            .get(..HEADER_LEN)
            .ok_or((0, "file shorter than the WAL header"))?;
        if b[0..8] != MAGIC {
            return Err((0, "bad WAL magic"));
        }
        if le_u32(b, 28) != Some(crc32c::crc32c(&b[..28])) {
            return Err((28, "WAL header checksum mismatch"));
        }
        if u16::from_le_bytes([b[8], b[9]]) != VERSION {
            return Err((8, "unsupported WAL version"));
        }
        let salt = le_u32(b, 12).ok_or((12, "header truncated"))?;
        let first_lsn = le_u64(b, 16).ok_or((16, "header truncated"))?;
        Ok(Self { salt, first_lsn })
    }
}

pub(crate) fn padded(len: usize) -> usize {
    len.next_multiple_of(8)
}

pub(crate) fn record_crc(salt: u32, header: &[u8], payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c_append(salt, &header[0..4]);
    let crc = crc32c::crc32c_append(crc, &header[8..RECORD_HEADER_LEN]);
    crc32c::crc32c_append(crc, payload)
}

/// Appends one framed record (header, payload, zero padding to 8 bytes).
pub(crate) fn encode_record(out: &mut Vec<u8>, salt: u32, lsn: u64, payload: &[u8]) {
    let start = out.len();
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&lsn.to_le_bytes());
    out.push(KIND_BATCH);
    out.extend_from_slice(&[0u8; 7]);
    out.extend_from_slice(payload);
    out.resize(start + RECORD_HEADER_LEN + padded(payload.len()), 0);
    let crc = record_crc(salt, &out[start..start + RECORD_HEADER_LEN], payload);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// A record that validated: its LSN and where its payload is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordRef {
    pub(crate) lsn: u64,
    pub(crate) payload: (usize, usize),
    pub(crate) end: usize,
}

/// Parses the record at `off`; `None` if it does not validate. The length is checked against
/// the cap and the file size before anything else is read.
pub(crate) fn parse_record(
    bytes: &[u8],
    off: usize,
    salt: u32,
    max_len: usize,
) -> Option<RecordRef> {
    let header = bytes.get(off..off.checked_add(RECORD_HEADER_LEN)?)?;
    let len = le_u32(header, 0)? as usize;
    if len > max_len {
        return None;
    }
    let payload_start = off + RECORD_HEADER_LEN;
    let end = payload_start.checked_add(padded(len))?;
    if end > bytes.len() {
        return None;
    }
    let payload = bytes.get(payload_start..payload_start + len)?;
    if le_u32(header, 4)? != record_crc(salt, header, payload) || header[16] != KIND_BATCH {
        return None;
    }
    Some(RecordRef {
        lsn: le_u64(header, 8)?,
        payload: (payload_start, payload_start + len),
        end,
    })
}

/// Result of scanning one WAL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    pub(crate) header: FileHeader,
    pub(crate) records: Vec<RecordRef>,
    /// End of the last valid record.
    pub(crate) valid_end: usize,
    /// Where the first invalid bytes start, if the file does not end cleanly.
    pub(crate) damage: Option<Damage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    pub(crate) offset: usize,
    pub(crate) reason: &'static str,
    /// A valid record with a later LSN follows: damage in the middle, not a torn tail.
    pub(crate) followed_by_valid: bool,
}

/// Scans a whole WAL file held in memory (fuzzing and tests; recovery streams the file
/// through [`RecordReader`]). LSNs must be dense starting at the header's first LSN.
pub(crate) fn scan(bytes: &[u8], max_len: usize) -> Result<Scan, (u64, &'static str)> {
    scan_chunked(bytes, max_len, DEFAULT_CHUNK)
}

/// [`scan`] reading `chunk` bytes at a time.
pub(crate) fn scan_chunked(
    bytes: &[u8],
    max_len: usize,
    chunk: usize,
) -> Result<Scan, (u64, &'static str)> {
    let mut r =
        RecordReader::open(bytes, bytes.len() as u64, max_len, chunk).map_err(|e| match e {
            OpenError::Header(off, reason) => (off, reason),
            OpenError::Io(_) => (0, "read past the end"),
        })?;
    let mut records = Vec::new();
    let damage = loop {
        match r.next_record() {
            Ok(Next::Record {
                lsn,
                offset,
                payload,
            }) => {
                let start = offset as usize;
                let end = start + payload.len();
                records.push(RecordRef {
                    lsn,
                    payload: (start, end),
                    end: start + padded(payload.len()),
                });
            }
            Ok(Next::End) => break None,
            Ok(Next::Damaged(d)) => break Some(d),
            Err(_) => return Err((r.valid_end(), "read past the end")),
        }
    };
    Ok(Scan {
        header: r.header(),
        records,
        valid_end: r.valid_end() as usize,
        damage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: u64) -> Vec<u8> {
        let mut b = FileHeader {
            salt: 0xdead_beef,
            first_lsn: 5,
        }
        .encode()
        .to_vec();
        for i in 0..n {
            encode_record(&mut b, 0xdead_beef, 5 + i, &vec![i as u8; (i * 3) as usize]);
        }
        b
    }

    #[test]
    fn clean_file_scans_fully() {
        let b = file(10);
        let s = scan(&b, 1 << 20).unwrap();
        assert_eq!(s.records.len(), 10);
        assert_eq!(s.valid_end, b.len());
        assert_eq!(s.damage, None);
    }

    #[test]
    fn every_truncation_is_a_clean_prefix() {
        let b = file(6);
        for cut in HEADER_LEN..b.len() {
            let s = scan(&b[..cut], 1 << 20).unwrap();
            assert!(s.valid_end <= cut);
            if let Some(d) = &s.damage {
                assert!(!d.followed_by_valid, "cut {cut}");
            }
        }
    }

    #[test]
    fn flip_in_the_middle_is_not_a_torn_tail() {
        let mut b = file(6);
        b[HEADER_LEN + 30] ^= 4;
        let s = scan(&b, 1 << 20).unwrap();
        assert!(s.damage.unwrap().followed_by_valid);
    }

    #[test]
    fn other_salt_never_validates() {
        let b = file(3);
        let mut other = FileHeader {
            salt: 1,
            first_lsn: 5,
        }
        .encode()
        .to_vec();
        other.extend_from_slice(&b[HEADER_LEN..]);
        let s = scan(&other, 1 << 20).unwrap();
        assert!(s.records.is_empty());
    }
}
