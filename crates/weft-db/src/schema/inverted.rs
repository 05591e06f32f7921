//! Inverted index settings of a class: BM25 parameters, stopwords and index flags.

use serde::{Deserialize, Serialize};

/// BM25 parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bm25Config {
    /// `k1` (1.2, ≥ 0)
    pub k1: f64,
    /// `b` (0.75, within 0..=1)
    pub b: f64,
}

impl Default for Bm25Config {
    fn default() -> Self {
        Self { k1: 1.2, b: 0.75 }
    }
}

/// Built-in stopword lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopwordPreset {
    /// `en` (default)
    En,
    /// `none`
    None,
}

impl StopwordPreset {
    /// Weaviate's name.
    pub fn as_str(self) -> &'static str {
        match self {
            StopwordPreset::En => "en",
            StopwordPreset::None => "none",
        }
    }

    /// Parses Weaviate's name.
    pub fn parse(name: &str) -> Option<StopwordPreset> {
        match name {
            "en" => Some(StopwordPreset::En),
            "none" => Some(StopwordPreset::None),
            _ => None,
        }
    }
}

/// Stopwords: a preset plus additions and removals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopwordConfig {
    /// `preset`
    pub preset: StopwordPreset,
    /// `additions` (empty is sent as `null`)
    pub additions: Vec<String>,
    /// `removals` (empty is sent as `null`)
    pub removals: Vec<String>,
}

impl Default for StopwordConfig {
    fn default() -> Self {
        Self {
            preset: StopwordPreset::En,
            additions: Vec::new(),
            removals: Vec::new(),
        }
    }
}

/// `invertedIndexConfig`, with Weaviate's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvertedIndexConfig {
    /// `cleanupIntervalSeconds` (60)
    pub cleanup_interval_seconds: u64,
    /// `bm25`
    pub bm25: Bm25Config,
    /// `stopwords`
    pub stopwords: StopwordConfig,
    /// `indexTimestamps` (false)
    pub index_timestamps: bool,
    /// `indexNullState` (false)
    pub index_null_state: bool,
    /// `indexPropertyLength` (false)
    pub index_property_length: bool,
    /// `usingBlockMaxWAND` (true)
    pub using_block_max_wand: bool,
}

impl Default for InvertedIndexConfig {
    fn default() -> Self {
        Self {
            cleanup_interval_seconds: 60,
            bm25: Bm25Config::default(),
            stopwords: StopwordConfig::default(),
            index_timestamps: false,
            index_null_state: false,
            index_property_length: false,
            using_block_max_wand: true,
        }
    }
}
