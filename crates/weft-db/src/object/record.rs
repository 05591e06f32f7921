//! The bytes of a stored object in the `objects` bucket and of a vector in the `vectors`
//! bucket. Specified in `docs/format/object.md`. Integrity is the engine's job (every segment
//! block and WAL record is checksummed); this layer still checks lengths and versions and
//! never panics on bad bytes.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::StoredObject;

/// Version byte of the object record.
pub const OBJECT_RECORD_V1: u8 = 1;

const HEADER: usize = 1 + 1 + 8 + 8 + 8 + 4;

/// Why stored bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Shorter than its header or its declared lengths.
    #[error("record truncated: {0} bytes")]
    Truncated(usize),
    /// Unknown version byte.
    #[error("unknown object record version {0}")]
    Version(u8),
    /// The property document is not a JSON object.
    #[error("property document is not valid: {0}")]
    Properties(String),
    /// A vector value whose length is not a multiple of 4.
    #[error("vector of {0} bytes is not a whole number of f32")]
    Vector(usize),
}

/// Encodes an object's record (everything but its vectors, which live in their own bucket).
pub fn encode_object(obj: &StoredObject) -> Vec<u8> {
    let props = Value::Object(obj.properties.clone()).to_string();
    let mut out = Vec::with_capacity(HEADER + props.len());
    out.push(OBJECT_RECORD_V1);
    out.push(0);
    out.extend_from_slice(&obj.doc_id.to_le_bytes());
    out.extend_from_slice(&obj.created_ms.to_le_bytes());
    out.extend_from_slice(&obj.updated_ms.to_le_bytes());
    out.extend_from_slice(&(props.len() as u32).to_le_bytes());
    out.extend_from_slice(props.as_bytes());
    out
}

/// The header fields of a record, decoded without touching the property document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Internal id.
    pub doc_id: u64,
    /// Creation time, unix ms.
    pub created_ms: i64,
    /// Update time, unix ms.
    pub updated_ms: i64,
}

fn le_u64(bytes: &[u8], at: usize) -> Result<u64, RecordError> {
    bytes
        .get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map(u64::from_le_bytes)
        .ok_or(RecordError::Truncated(bytes.len()))
}

/// Decodes the header of a record.
pub fn decode_header(bytes: &[u8]) -> Result<RecordHeader, RecordError> {
    let version = *bytes.first().ok_or(RecordError::Truncated(0))?;
    if version != OBJECT_RECORD_V1 {
        return Err(RecordError::Version(version));
    }
    Ok(RecordHeader {
        doc_id: le_u64(bytes, 2)?,
        created_ms: le_u64(bytes, 10)? as i64,
        updated_ms: le_u64(bytes, 18)? as i64,
    })
}

/// Decodes a whole record; `class` and `id` come from where it was found, `vectors` are
/// filled by the caller.
pub fn decode_object(class: &str, id: Uuid, bytes: &[u8]) -> Result<StoredObject, RecordError> {
    let header = decode_header(bytes)?;
    let len = bytes
        .get(26..30)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_le_bytes)
        .ok_or(RecordError::Truncated(bytes.len()))? as usize;
    let doc = bytes
        .get(HEADER..HEADER + len)
        .ok_or(RecordError::Truncated(bytes.len()))?;
    let properties: Map<String, Value> =
        serde_json::from_slice(doc).map_err(|e| RecordError::Properties(e.to_string()))?;
    Ok(StoredObject {
        class: class.to_string(),
        id,
        doc_id: header.doc_id,
        properties,
        vectors: BTreeMap::new(),
        created_ms: header.created_ms,
        updated_ms: header.updated_ms,
    })
}

/// Key of a vector in the `vectors` bucket: doc id (big-endian, so a scan is in doc-id order)
/// followed by the vector name.
#[expect(
    clippy::big_endian_bytes,
    reason = "sortable key: scans go in doc-id order"
)]
pub fn vector_key(doc_id: u64, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + name.len());
    key.extend_from_slice(&doc_id.to_be_bytes());
    key.extend_from_slice(name.as_bytes());
    key
}

/// Splits a `vectors` bucket key into doc id and vector name.
#[expect(
    clippy::big_endian_bytes,
    reason = "sortable key: scans go in doc-id order"
)]
pub fn parse_vector_key(key: &[u8]) -> Option<(u64, String)> {
    let (id, name) = key.split_at_checked(8)?;
    let id = u64::from_be_bytes(id.try_into().ok()?);
    Some((id, String::from_utf8(name.to_vec()).ok()?))
}

/// Little-endian f32 bytes.
pub fn encode_vector(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes little-endian f32 bytes.
pub fn decode_vector(bytes: &[u8]) -> Result<Vec<f32>, RecordError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(RecordError::Vector(bytes.len()));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn sample() -> StoredObject {
        let mut properties = Map::new();
        properties.insert("title".into(), json!("hello"));
        properties.insert("count".into(), json!(3));
        StoredObject {
            class: "Article".into(),
            id: Uuid::from_u128(7),
            doc_id: 42,
            properties,
            vectors: BTreeMap::new(),
            created_ms: 1_700_000_000_000,
            updated_ms: 1_700_000_000_123,
        }
    }

    #[test]
    fn object_round_trip() {
        let obj = sample();
        let bytes = encode_object(&obj);
        assert_eq!(decode_object("Article", obj.id, &bytes).unwrap(), obj);
        assert_eq!(decode_header(&bytes).unwrap().doc_id, 42);
    }

    #[test]
    fn truncated_and_unknown_versions_are_errors() {
        let bytes = encode_object(&sample());
        for len in 0..bytes.len() {
            assert!(
                decode_object("A", Uuid::nil(), &bytes[..len]).is_err(),
                "len {len}"
            );
        }
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert_eq!(decode_header(&bad), Err(RecordError::Version(9)));
    }

    #[test]
    fn vector_keys_sort_by_doc_id() {
        assert!(vector_key(1, "zzz") < vector_key(2, ""));
        assert_eq!(
            parse_vector_key(&vector_key(258, "named")),
            Some((258, "named".into()))
        );
        assert_eq!(parse_vector_key(&[1, 2]), None);
    }

    proptest! {
        #[test]
        fn vectors_round_trip(v in proptest::collection::vec(any::<f32>().prop_filter("finite", |x| x.is_finite()), 0..64)) {
            prop_assert_eq!(decode_vector(&encode_vector(&v)).unwrap(), v);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = decode_object("A", Uuid::nil(), &bytes);
            let _ = decode_vector(&bytes);
        }
    }
}
