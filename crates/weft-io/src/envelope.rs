//! The envelope of small whole-file records (schema, shard state, …): magic, version, length
//! and a CRC32C over everything, so a torn or flipped file is detected, never half-read.
//!
//! Byte layout (all little-endian), specified in `docs/format/envelope.md`:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic, chosen per file kind |
//! | 8 | 4 | format version (u32) |
//! | 12 | 8 | payload length (u64) |
//! | 20 | 4 | CRC32C of bytes 0..20 followed by the payload |
//! | 24 | n | payload |

/// Size of the envelope header.
pub const HEADER_LEN: usize = 24;

/// Why bytes are not a valid envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Shorter than a header.
    #[error("file is {len} bytes, shorter than the {HEADER_LEN}-byte header")]
    TooShort { len: usize },
    /// The magic is not the expected one.
    #[error("bad magic {found:02x?}, expected {expected:02x?}")]
    BadMagic { found: [u8; 8], expected: [u8; 8] },
    /// The payload length does not match the file size.
    #[error("payload length {declared} does not match the {actual} bytes after the header")]
    BadLength { declared: u64, actual: usize },
    /// The checksum does not match.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadChecksum { stored: u32, computed: u32 },
}

/// Wraps `payload` in an envelope.
pub fn seal(magic: [u8; 8], version: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out), payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Checks an envelope and returns `(version, payload)`. The caller decides which versions it
/// can read.
pub fn open(magic: [u8; 8], bytes: &[u8]) -> Result<(u32, &[u8]), EnvelopeError> {
    let (header, payload) = bytes
        .split_at_checked(HEADER_LEN)
        .ok_or(EnvelopeError::TooShort { len: bytes.len() })?;
    let field = |range: std::ops::Range<usize>| header.get(range).unwrap_or_default();
    let mut found = [0u8; 8];
    found.copy_from_slice(field(0..8));
    if found != magic {
        return Err(EnvelopeError::BadMagic {
            found,
            expected: magic,
        });
    }
    let version = u32::from_le_bytes(field(8..12).try_into().unwrap_or_default());
    let declared = u64::from_le_bytes(field(12..20).try_into().unwrap_or_default());
    if declared != payload.len() as u64 {
        return Err(EnvelopeError::BadLength {
            declared,
            actual: payload.len(),
        });
    }
    let stored = u32::from_le_bytes(field(20..24).try_into().unwrap_or_default());
    let computed = crc32c::crc32c_append(crc32c::crc32c(field(0..20)), payload);
    if stored != computed {
        return Err(EnvelopeError::BadChecksum { stored, computed });
    }
    Ok((version, payload))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MAGIC: [u8; 8] = *b"WEFTTEST";

    #[test]
    fn round_trip() {
        let sealed = seal(MAGIC, 3, b"payload");
        assert_eq!(open(MAGIC, &sealed).unwrap(), (3, &b"payload"[..]));
    }

    #[test]
    fn truncation_is_detected() {
        let sealed = seal(MAGIC, 1, b"payload");
        for len in 0..sealed.len() {
            assert!(
                open(MAGIC, &sealed[..len]).is_err(),
                "accepted a {len}-byte prefix"
            );
        }
    }

    proptest! {
        #[test]
        fn any_single_bit_flip_is_detected(payload in proptest::collection::vec(any::<u8>(), 0..200), bit in any::<usize>()) {
            let mut sealed = seal(MAGIC, 1, &payload);
            let bit = bit % (sealed.len() * 8);
            sealed[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(open(MAGIC, &sealed).is_err());
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = open(MAGIC, &bytes);
        }
    }
}
