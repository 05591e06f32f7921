//! The searchable index's entries: for each searchable property, term → (doc id → term
//! frequency, property length), plus per property the sum and count of its lengths as
//! Weaviate's property-length tracker keeps them. Encodings are in
//! `docs/format/inverted.md`; the storage (one WAL record with the object) is weft-db's.

use std::collections::BTreeMap;

/// One posting: a document holding a term in one property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posting {
    /// The document's internal id.
    pub doc: u64,
    /// How often the term occurs in the property (text arrays: over all elements).
    pub tf: u32,
    /// The property's length in tokens (stopwords included), for length normalisation.
    pub len: u32,
}

/// What one property of one document contributes to the searchable index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analyzed {
    /// Each distinct token with its frequency.
    pub terms: BTreeMap<String, u32>,
    /// Tokens in all (the length stored with every posting).
    pub tokens: u32,
}

impl Analyzed {
    /// Counts `tokens` (of every element of a text array together).
    pub fn from_tokens(tokens: impl IntoIterator<Item = String>) -> Self {
        let mut out = Self::default();
        for t in tokens {
            *out.terms.entry(t).or_insert(0) += 1;
            out.tokens = out.tokens.saturating_add(1);
        }
        out
    }

    /// The length Weaviate's tracker records for the property's average: the number of
    /// distinct tokens (its `len(prop.Items)`), not the token count stored with postings.
    pub fn tracked_length(&self) -> u64 {
        self.terms.len() as u64
    }
}

/// Key of a posting inside a term's map: the doc id big-endian, so maps iterate in doc order.
pub fn doc_key(doc: u64) -> [u8; 8] {
    #[expect(clippy::big_endian_bytes, reason = "doc-ordered map keys")]
    doc.to_be_bytes()
}

/// The doc id of a posting key.
pub fn parse_doc_key(key: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(key).ok().map(u64::from_be_bytes)
}

/// Value of a posting: term frequency and property length, u32 little-endian each.
pub fn encode_value(tf: u32, len: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&tf.to_le_bytes());
    out[4..].copy_from_slice(&len.to_le_bytes());
    out
}

/// Decodes a posting from its map key and value; `None` if either has the wrong size.
pub fn decode(key: &[u8], value: &[u8]) -> Option<Posting> {
    let doc = parse_doc_key(key)?;
    let raw = <[u8; 8]>::try_from(value).ok()?;
    let [a, b, c, d, e, f, g, h] = raw;
    Some(Posting {
        doc,
        tf: u32::from_le_bytes([a, b, c, d]),
        len: u32::from_le_bytes([e, f, g, h]),
    })
}

/// Per-property length statistics: sum of tracked lengths and number of documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LengthStats {
    /// Sum of [`Analyzed::tracked_length`] over the documents holding the property.
    pub sum: u64,
    /// Documents holding the property.
    pub count: u64,
}

impl LengthStats {
    /// 16 bytes: sum, count (u64 LE).
    pub fn encode(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.sum.to_le_bytes());
        out[8..].copy_from_slice(&self.count.to_le_bytes());
        out
    }

    /// Decodes [`LengthStats::encode`]; `None` for any other size.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let raw = <[u8; 16]>::try_from(bytes).ok()?;
        let (s, c) = raw.split_at(8);
        Some(Self {
            sum: u64::from_le_bytes(s.try_into().ok()?),
            count: u64::from_le_bytes(c.try_into().ok()?),
        })
    }

    /// Adds (`add`) or removes one document's length.
    pub fn track(&mut self, length: u64, add: bool) {
        if add {
            self.sum = self.sum.saturating_add(length);
            self.count = self.count.saturating_add(1);
        } else {
            self.sum = self.sum.saturating_sub(length);
            self.count = self.count.saturating_sub(1);
        }
    }

    /// The mean, `None` when no document holds the property (Weaviate's NaN).
    pub fn mean(self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_round_trip_and_keys_sort_by_doc() {
        let p = decode(&doc_key(7), &encode_value(3, 12));
        assert_eq!(
            p,
            Some(Posting {
                doc: 7,
                tf: 3,
                len: 12
            })
        );
        assert!(doc_key(255) < doc_key(256));
        assert_eq!(decode(&[1, 2], &encode_value(1, 1)), None);
        assert_eq!(decode(&doc_key(1), &[0; 7]), None);
    }

    #[test]
    fn analyzed_counts_frequencies_and_both_lengths() {
        let a = Analyzed::from_tokens(["a", "b", "a"].map(String::from));
        assert_eq!(a.terms.get("a"), Some(&2));
        assert_eq!(a.tokens, 3);
        assert_eq!(a.tracked_length(), 2);
        let mut s = LengthStats::default();
        s.track(4, true);
        s.track(2, true);
        assert_eq!(s.mean(), Some(3.0));
        s.track(4, false);
        assert_eq!(LengthStats::decode(&s.encode()), Some(s));
        assert_eq!(s.mean(), Some(2.0));
        assert_eq!(LengthStats::default().mean(), None);
    }
}
