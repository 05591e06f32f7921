//! Stopwords: Weaviate's presets with a class's additions and removals. Removed from queries
//! only (Weaviate indexes stopwords and counts them in property lengths), and only for the
//! `word` tokenization.

use std::collections::BTreeSet;

/// Weaviate's `en` preset (`adapters/repos/db/inverted/stopwords/presets.go`).
pub const EN: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// A class's stopwords.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stopwords {
    words: BTreeSet<String>,
}

/// An unknown preset name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPreset(pub String);

impl std::fmt::Display for UnknownPreset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stopwords preset {:?} does not exist: use \"en\" or \"none\"",
            self.0
        )
    }
}

impl std::error::Error for UnknownPreset {}

impl Stopwords {
    /// Preset `preset` (`en`, `none`; empty means `en`) plus `additions`, minus `removals`.
    pub fn new(
        preset: &str,
        additions: &[String],
        removals: &[String],
    ) -> Result<Self, UnknownPreset> {
        let mut words: BTreeSet<String> = match preset {
            "" | "en" => EN.iter().map(|w| (*w).to_string()).collect(),
            "none" => BTreeSet::new(),
            other => return Err(UnknownPreset(other.to_string())),
        };
        words.extend(additions.iter().cloned());
        for r in removals {
            words.remove(r);
        }
        Ok(Self { words })
    }

    /// Whether `token` (already lower-cased) is a stopword.
    pub fn contains(&self, token: &str) -> bool {
        self.words.contains(token)
    }

    /// The query terms that remain (order kept).
    pub fn filter_query(&self, tokens: Vec<String>) -> Vec<String> {
        tokens.into_iter().filter(|t| !self.contains(t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_additions_and_removals() {
        let en = Stopwords::new("en", &[], &[]).unwrap();
        assert!(en.contains("the") && en.contains("with") && !en.contains("weft"));
        let custom = Stopwords::new("en", &["weft".into()], &["the".into()]).unwrap();
        assert!(custom.contains("weft") && !custom.contains("the"));
        assert!(!Stopwords::new("none", &[], &[]).unwrap().contains("the"));
        assert_eq!(
            en.filter_query(vec!["the".into(), "loom".into(), "a".into()]),
            ["loom"]
        );
        assert!(Stopwords::new("de", &[], &[]).is_err());
    }
}
