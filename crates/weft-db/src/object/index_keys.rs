//! Keys of the filterable inverted index: for each filterable property, a roaring-set bucket
//! `property_<name>` maps an encoded value (or text token) to the doc ids having it.
//!
//! Encodings sort like the values (for range filters later): integers and dates (microseconds)
//! as big-endian with the sign bit flipped, numbers as IEEE bits made order-preserving, booleans
//! as one byte, uuids as their 16 bytes, text as UTF-8 tokens of the property's tokenization.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use uuid::Uuid;

use super::coerce::parse_date;
use weft_inverted::postings::Analyzed;

use crate::schema::{ClassDef, DataType, Primitive, PropertyDef, Tokenization};

/// Name of the bucket of a property's filterable index.
pub fn bucket_name(property: &str) -> String {
    format!("property_{property}")
}

/// Every `(bucket, key)` pair an object's properties put into the filterable index.
pub fn index_entries(class: &ClassDef, props: &Map<String, Value>) -> BTreeSet<(String, Vec<u8>)> {
    let mut out = BTreeSet::new();
    for prop in class.properties.iter().filter(|p| p.index_filterable) {
        if prop.is_reference() {
            out.extend(
                reference_keys(props.get(&prop.name))
                    .into_iter()
                    .map(|k| (bucket_name(&prop.name), k)),
            );
            continue;
        }
        let Some(value) = props.get(&prop.name) else {
            continue;
        };
        let Some(primitive) = prop.data_type.primitive() else {
            continue;
        };
        let bucket = bucket_name(&prop.name);
        let tokenization = prop.tokenization.unwrap_or(Tokenization::Word);
        let mut push = |v: &Value| {
            for key in scalar_keys(primitive, tokenization, v) {
                out.insert((bucket.clone(), key));
            }
        };
        match value {
            Value::Array(items) => items.iter().for_each(&mut push),
            other => push(other),
        }
    }
    out
}

/// Name of the bucket of a property's searchable (BM25) index.
pub fn searchable_bucket(property: &str) -> String {
    format!("searchable_{property}")
}

/// Whether a property gets a searchable index: a top-level `text` / `text[]` property with
/// `indexSearchable`.
pub fn is_searchable(prop: &PropertyDef) -> bool {
    prop.index_searchable && prop.data_type.is_text()
}

/// What each searchable property of an object puts into the searchable index: its tokens
/// (every element of a text array together) with their frequencies. Properties the object
/// does not hold are absent; an empty text is present with no tokens.
pub fn searchable_entries(
    class: &ClassDef,
    props: &Map<String, Value>,
) -> BTreeMap<String, Analyzed> {
    let mut out = BTreeMap::new();
    for prop in class.properties.iter().filter(|p| is_searchable(p)) {
        let Some(value) = props.get(&prop.name) else {
            continue;
        };
        let tokenization = prop.tokenization.unwrap_or(Tokenization::Word);
        let texts: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        let analyzed = Analyzed::from_tokens(
            texts
                .into_iter()
                .flat_map(|t| tokenize(tokenization, t).into_iter()),
        );
        out.insert(prop.name.clone(), analyzed);
    }
    out
}

/// First byte of the reference-count key of a reference property's bucket (beacon keys start
/// with their scheme's letters, never with it).
pub const REF_COUNT_TAG: u8 = 0;

/// The key of "holds `n` references" in a reference property's bucket.
pub fn ref_count_key(n: i64) -> Vec<u8> {
    let mut key = vec![REF_COUNT_TAG];
    key.extend(int_key(n));
    key
}

/// The keys a reference property's value puts into its bucket: each distinct beacon as
/// stored, and its number of references (0 when the object does not hold the property, as
/// Weaviate indexes "no reference set").
pub fn reference_keys(value: Option<&Value>) -> BTreeSet<Vec<u8>> {
    let items: &[Value] = match value {
        Some(Value::Array(items)) => items,
        _ => &[],
    };
    let mut out: BTreeSet<Vec<u8>> = items
        .iter()
        .filter_map(|i| i.get("beacon").and_then(Value::as_str))
        .map(|b| b.as_bytes().to_vec())
        .collect();
    out.insert(ref_count_key(
        i64::try_from(items.len()).unwrap_or(i64::MAX),
    ));
    out
}

/// Whether a property (by data type) gets a filterable index bucket.
pub fn is_indexed(data_type: &DataType) -> bool {
    if matches!(data_type, DataType::Reference(_)) {
        return true;
    }
    data_type.primitive().is_some_and(|p| {
        !matches!(
            p,
            Primitive::Object
                | Primitive::ObjectArray
                | Primitive::GeoCoordinates
                | Primitive::PhoneNumber
                | Primitive::Blob
                | Primitive::BlobHash
        )
    })
}

/// Index keys of one scalar value of a property of type `p` (or its array form).
pub fn scalar_keys(p: Primitive, tokenization: Tokenization, v: &Value) -> Vec<Vec<u8>> {
    use Primitive as P;
    match (p, v) {
        (P::Text | P::TextArray, Value::String(s)) => tokenize(tokenization, s)
            .into_iter()
            .map(String::into_bytes)
            .collect(),
        (P::Int | P::IntArray, Value::Number(n)) => n.as_i64().map(int_key).into_iter().collect(),
        (P::Number | P::NumberArray, Value::Number(n)) => {
            n.as_f64().map(float_key).into_iter().collect()
        }
        (P::Boolean | P::BooleanArray, Value::Bool(b)) => vec![vec![u8::from(*b)]],
        (P::Date | P::DateArray, Value::String(s)) => parse_date(s)
            .map(|t| int_key(t.as_microsecond()))
            .into_iter()
            .collect(),
        (P::Uuid | P::UuidArray, Value::String(s)) => Uuid::parse_str(s)
            .map(|u| u.as_bytes().to_vec())
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// Order-preserving key of an integer.
#[expect(clippy::big_endian_bytes, reason = "sortable key encoding")]
pub fn int_key(v: i64) -> Vec<u8> {
    ((v as u64) ^ (1 << 63)).to_be_bytes().to_vec()
}

/// Order-preserving key of a float (-0.0 and 0.0 are the same key).
#[expect(clippy::big_endian_bytes, reason = "sortable key encoding")]
pub fn float_key(v: f64) -> Vec<u8> {
    let v = if v == 0.0 { 0.0 } else { v };
    let bits = v.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits ^ (1 << 63)
    };
    ordered.to_be_bytes().to_vec()
}

/// Splits text into index tokens the way Weaviate's tokenizations do (`weft_inverted`).
pub fn tokenize(tokenization: Tokenization, text: &str) -> Vec<String> {
    use weft_inverted::Tokenizer;
    let t = match tokenization {
        Tokenization::Field => Tokenizer::Field,
        Tokenization::Whitespace => Tokenizer::Whitespace,
        Tokenization::Lowercase => Tokenizer::Lowercase,
        Tokenization::Trigram => Tokenizer::Trigram,
        // `word` and the tokenizers weft does not support (refused by the schema).
        _ => Tokenizer::Word,
    };
    weft_inverted::tokenize(t, text)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn word_tokenization_lowercases_and_splits_on_punctuation() {
        assert_eq!(
            tokenize(Tokenization::Word, "Hello, World! x-y"),
            ["hello", "world", "x", "y"]
        );
        assert_eq!(tokenize(Tokenization::Field, "  A b  "), ["A b"]);
        assert_eq!(tokenize(Tokenization::Whitespace, "A b"), ["A", "b"]);
        assert_eq!(tokenize(Tokenization::Lowercase, "A b"), ["a", "b"]);
        assert_eq!(tokenize(Tokenization::Trigram, "abcd"), ["abc", "bcd"]);
    }

    proptest! {
        #[test]
        fn int_keys_sort_like_ints(a in any::<i64>(), b in any::<i64>()) {
            prop_assert_eq!(a.cmp(&b), int_key(a).cmp(&int_key(b)));
        }

        #[test]
        fn float_keys_sort_like_floats(a in -1e300f64..1e300, b in -1e300f64..1e300) {
            prop_assert_eq!(a.partial_cmp(&b).unwrap(), float_key(a).cmp(&float_key(b)));
        }
    }
}
