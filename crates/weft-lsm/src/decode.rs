//! Entry points that run each on-disk decoder over arbitrary bytes, for fuzzing (`fuzz/`) and
//! the random-bytes property tests. Each returns an error for invalid input and never panics
//! or allocates more than a small multiple of its input.

use crate::codec::DecodeError;
use crate::segment::format;

/// Scans bytes as a WAL file; returns the number of valid records.
pub fn wal_file(bytes: &[u8]) -> Result<usize, (u64, &'static str)> {
    crate::wal::format::scan(bytes, 1 << 20).map(|s| s.records.len())
}

/// Decodes bytes as a WAL record payload (a write batch); returns its op count.
pub fn wal_payload(bytes: &[u8]) -> Result<usize, DecodeError> {
    crate::batch::WriteBatch::decode(bytes).map(|b| b.len())
}

/// Decodes a segment data block (with its CRC trailer) and every entry in it.
pub fn segment_block(bytes: &[u8]) -> Result<usize, DecodeError> {
    let payload = format::unseal(bytes)?;
    let pairs = format::decode_block(payload)?;
    for (_, v) in &pairs {
        crate::entry::Entry::decode(v)?;
    }
    Ok(pairs.len())
}

/// Decodes a segment entry (a value inside a block) without a CRC.
pub fn segment_entry(bytes: &[u8]) -> Result<(), DecodeError> {
    crate::entry::Entry::decode(bytes).map(|_| ())
}

/// Decodes a segment index section payload.
pub fn segment_index(bytes: &[u8]) -> Result<usize, DecodeError> {
    format::decode_index(bytes, u64::MAX).map(|i| i.len())
}

/// Decodes a segment footer against a claimed file length.
pub fn segment_footer(bytes: &[u8], file_len: u64) -> Result<(), DecodeError> {
    format::Footer::decode(bytes, file_len).map(|_| ())
}

/// Decodes a segment header.
pub fn segment_header(bytes: &[u8]) -> Result<(), DecodeError> {
    format::Header::decode(bytes).map(|_| ())
}

/// Decodes segment properties.
pub fn segment_props(bytes: &[u8]) -> Result<(), DecodeError> {
    format::Props::decode(bytes, u64::MAX).map(|_| ())
}

/// Decodes a bloom filter section payload.
pub fn bloom(bytes: &[u8]) -> Result<(), DecodeError> {
    crate::bloom::Bloom::decode(bytes).map(|_| ())
}

/// Decodes a flush record file.
pub fn flush_record(bytes: &[u8]) -> Result<(), String> {
    crate::flush_record::FlushRecord::decode(bytes).map(|_| ())
}
