//! Properties of a class, their index flags and tokenization.

use serde::{Deserialize, Serialize};

use super::data_type::{DataType, Primitive};

/// How text is split into tokens for the inverted index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Tokenization {
    /// Alphanumeric runs, lower-cased (Weaviate's default).
    Word,
    /// Split on whitespace, lower-cased.
    Lowercase,
    /// Split on whitespace, case kept.
    Whitespace,
    /// The whole value is one token (trimmed).
    Field,
    /// Overlapping 3-grams.
    Trigram,
    /// Chinese/Japanese segmenter (disabled in Weaviate unless `USE_GSE`).
    Gse,
    /// Korean morphological analyser (disabled unless enabled by env).
    KagomeKr,
    /// Japanese morphological analyser (disabled unless enabled by env).
    KagomeJa,
    /// Chinese segmenter (disabled unless enabled by env).
    GseCh,
}

const TOKENIZATIONS: [(Tokenization, &str); 9] = [
    (Tokenization::Word, "word"),
    (Tokenization::Lowercase, "lowercase"),
    (Tokenization::Whitespace, "whitespace"),
    (Tokenization::Field, "field"),
    (Tokenization::Trigram, "trigram"),
    (Tokenization::Gse, "gse"),
    (Tokenization::KagomeKr, "kagome_kr"),
    (Tokenization::KagomeJa, "kagome_ja"),
    (Tokenization::GseCh, "gse_ch"),
];

impl Tokenization {
    /// Weaviate's name.
    pub fn as_str(self) -> &'static str {
        TOKENIZATIONS
            .iter()
            .find(|(t, _)| *t == self)
            .map_or("", |(_, name)| name)
    }

    /// Parses Weaviate's name (exact spelling).
    pub fn parse(name: &str) -> Option<Tokenization> {
        TOKENIZATIONS
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(t, _)| *t)
    }

    /// Tokenizers weft implements. The language-specific ones are off by default in Weaviate
    /// too, and weft has no implementation of them.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            Tokenization::Word
                | Tokenization::Lowercase
                | Tokenization::Whitespace
                | Tokenization::Field
                | Tokenization::Trigram
        )
    }
}

impl std::fmt::Display for Tokenization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A property of a class, or a nested property of an `object` / `object[]` property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyDef {
    /// Name (first letter lower-cased when validated).
    pub name: String,
    /// Data type.
    pub data_type: DataType,
    /// Free text; empty when not given.
    pub description: String,
    /// Tokenization of text types. `None` for other types, and for text types before the
    /// catalog fills the server default (`word`).
    pub tokenization: Option<Tokenization>,
    /// `indexFilterable` (default true, false for blobs).
    pub index_filterable: bool,
    /// `indexSearchable` (default true for text types, false otherwise).
    pub index_searchable: bool,
    /// `indexRangeFilters` (default false).
    pub index_range_filters: bool,
    /// Nested properties of `object` / `object[]` (empty otherwise).
    pub nested_properties: Vec<PropertyDef>,
    /// Opaque per-module settings (`moduleConfig`), kept as given.
    pub module_config: Option<serde_json::Value>,
    /// `disableDuplicatedReferences` (reference properties): adding a reference the property
    /// already holds changes nothing. Default false (duplicates kept), as Weaviate's default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_duplicated_references: bool,
}

impl PropertyDef {
    /// A property of type `data_type` with every flag at its Weaviate default.
    pub fn new(name: impl Into<String>, data_type: DataType) -> Self {
        let text = data_type.is_text();
        Self {
            name: name.into(),
            description: String::new(),
            tokenization: None,
            index_filterable: data_type
                .primitive()
                .is_none_or(Primitive::supports_filterable),
            index_searchable: text,
            index_range_filters: false,
            nested_properties: Vec::new(),
            module_config: None,
            disable_duplicated_references: false,
            data_type,
        }
    }

    /// A property of primitive type `primitive` with defaults.
    pub fn primitive(name: impl Into<String>, primitive: Primitive) -> Self {
        Self::new(name, DataType::Primitive(primitive))
    }

    /// Whether the property is a cross-reference.
    pub fn is_reference(&self) -> bool {
        matches!(self.data_type, DataType::Reference(_))
    }

    /// Fills the tokenization of text properties (and nested text properties) that have none.
    pub(crate) fn fill_tokenization(&mut self, default: Tokenization) {
        if self.data_type.is_text() && self.tokenization.is_none() {
            self.tokenization = Some(default);
        }
        for nested in &mut self.nested_properties {
            nested.fill_tokenization(default);
        }
    }
}
