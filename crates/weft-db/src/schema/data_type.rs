//! Data types of properties: the primitive types of Weaviate and cross-references.

use serde::{Deserialize, Serialize};

/// A primitive (non-reference) data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Primitive {
    /// `text`
    Text,
    /// `text[]`
    TextArray,
    /// `int`
    Int,
    /// `int[]`
    IntArray,
    /// `number`
    Number,
    /// `number[]`
    NumberArray,
    /// `boolean`
    Boolean,
    /// `boolean[]`
    BooleanArray,
    /// `date` (RFC 3339)
    Date,
    /// `date[]`
    DateArray,
    /// `uuid`
    Uuid,
    /// `uuid[]`
    UuidArray,
    /// `geoCoordinates`
    GeoCoordinates,
    /// `phoneNumber`
    PhoneNumber,
    /// `blob` (base64)
    Blob,
    /// `blobHash`
    BlobHash,
    /// `object` (needs nested properties)
    Object,
    /// `object[]` (needs nested properties)
    ObjectArray,
}

/// Every primitive, with its wire name.
const PRIMITIVES: [(Primitive, &str); 18] = [
    (Primitive::Text, "text"),
    (Primitive::TextArray, "text[]"),
    (Primitive::Int, "int"),
    (Primitive::IntArray, "int[]"),
    (Primitive::Number, "number"),
    (Primitive::NumberArray, "number[]"),
    (Primitive::Boolean, "boolean"),
    (Primitive::BooleanArray, "boolean[]"),
    (Primitive::Date, "date"),
    (Primitive::DateArray, "date[]"),
    (Primitive::Uuid, "uuid"),
    (Primitive::UuidArray, "uuid[]"),
    (Primitive::GeoCoordinates, "geoCoordinates"),
    (Primitive::PhoneNumber, "phoneNumber"),
    (Primitive::Blob, "blob"),
    (Primitive::BlobHash, "blobHash"),
    (Primitive::Object, "object"),
    (Primitive::ObjectArray, "object[]"),
];

impl Primitive {
    /// All primitive types.
    pub fn all() -> impl Iterator<Item = Primitive> {
        PRIMITIVES.iter().map(|(p, _)| *p)
    }

    /// Weaviate's name of the type (`text[]`, `geoCoordinates`, …).
    pub fn as_str(self) -> &'static str {
        PRIMITIVES
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("", |(_, name)| name)
    }

    /// Parses Weaviate's name; the exact spelling is required, as in Weaviate.
    pub fn parse(name: &str) -> Option<Primitive> {
        PRIMITIVES.iter().find(|(_, n)| *n == name).map(|(p, _)| *p)
    }

    /// `text` or `text[]`: the only types that are tokenized and searchable.
    pub fn is_text(self) -> bool {
        matches!(self, Primitive::Text | Primitive::TextArray)
    }

    /// The type of one element: `text` for `text[]` and so on; a scalar type itself.
    pub fn element(self) -> Primitive {
        use Primitive as P;
        match self {
            P::TextArray => P::Text,
            P::IntArray => P::Int,
            P::NumberArray => P::Number,
            P::BooleanArray => P::Boolean,
            P::DateArray => P::Date,
            P::UuidArray => P::Uuid,
            P::ObjectArray => P::Object,
            other => other,
        }
    }

    /// `object` or `object[]`: types that carry nested properties.
    pub fn is_object(self) -> bool {
        matches!(self, Primitive::Object | Primitive::ObjectArray)
    }

    /// Types that may have a range index (`indexRangeFilters`).
    pub fn supports_range_index(self) -> bool {
        matches!(self, Primitive::Int | Primitive::Number | Primitive::Date)
    }

    /// Types allowed inside `nestedProperties`.
    pub fn allowed_nested(self) -> bool {
        !matches!(
            self,
            Primitive::GeoCoordinates | Primitive::PhoneNumber | Primitive::BlobHash
        )
    }

    /// Types that may be filtered with an inverted index.
    pub fn supports_filterable(self) -> bool {
        !matches!(self, Primitive::Blob | Primitive::BlobHash)
    }
}

impl std::fmt::Display for Primitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The data type of a property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    /// A single primitive type.
    Primitive(Primitive),
    /// A cross-reference to objects of one or more classes (names as stored, capitalised).
    Reference(Vec<String>),
}

impl DataType {
    /// The wire form: a list of type names.
    pub fn to_names(&self) -> Vec<String> {
        match self {
            DataType::Primitive(p) => vec![p.as_str().to_string()],
            DataType::Reference(classes) => classes.clone(),
        }
    }

    /// The primitive type, if this is not a reference.
    pub fn primitive(&self) -> Option<Primitive> {
        match self {
            DataType::Primitive(p) => Some(*p),
            DataType::Reference(_) => None,
        }
    }

    /// Whether this is `text` or `text[]`.
    pub fn is_text(&self) -> bool {
        self.primitive().is_some_and(Primitive::is_text)
    }

    /// Whether this is `object` or `object[]`.
    pub fn is_object(&self) -> bool {
        self.primitive().is_some_and(Primitive::is_object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Primitive::all() {
            assert_eq!(Primitive::parse(p.as_str()), Some(p), "{p:?}");
        }
        assert_eq!(Primitive::all().count(), 18);
    }

    #[test]
    fn parse_is_exact() {
        assert_eq!(Primitive::parse("Text"), None);
        assert_eq!(Primitive::parse("geocoordinates"), None);
        assert_eq!(
            Primitive::parse("string"),
            None,
            "legacy string is migrated by the parser"
        );
    }
}
