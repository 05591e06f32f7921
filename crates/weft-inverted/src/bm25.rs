//! BM25 as Weaviate's default engine (BlockMax-WAND) computes it: every searched property is
//! scored on its own against that property's average length, multiplied by the property's
//! boost, and a document's score is the sum over query terms and properties.

/// `invertedIndexConfig.bm25`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Params {
    /// Term-frequency saturation (default 1.2).
    pub k1: f64,
    /// Length normalisation (default 0.75).
    pub b: f64,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Self { k1: 1.2, b: 0.75 }
    }
}

/// Weaviate's idf: `ln(1 + (N - n + 0.5) / (n + 0.5))`, with `N` raised to `n` if smaller.
pub fn idf(n: f64, total: f64) -> f64 {
    let total = total.max(n);
    (1.0 + (total - n + 0.5) / (n + 0.5)).ln()
}

/// The score one term contributes from one property of one document.
pub fn term_score(
    freq: f64,
    prop_len: f64,
    avg_prop_len: f64,
    idf: f64,
    boost: f64,
    p: Bm25Params,
) -> f64 {
    let norm = if avg_prop_len > 0.0 {
        prop_len / avg_prop_len
    } else {
        1.0
    };
    let tf = freq / (freq + p.k1 * ((1.0 - p.b) + p.b * norm));
    tf * idf * boost
}

/// `title^2` → (`title`, 2.0); no `^` → boost 1. A boost that does not parse is 0, as in
/// Weaviate.
pub fn parse_boost(spec: &str) -> (&str, f64) {
    match spec.split_once('^') {
        Some((name, boost)) => (name, boost.trim().parse().unwrap_or(0.0)),
        None => (spec, 1.0),
    }
}

/// Query terms counted: duplicates collapse into one term whose idf is multiplied by its count
/// (Weaviate's `duplicateTextBoost`). Order of first appearance.
pub fn count_terms(tokens: &[String]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for t in tokens {
        match out.iter_mut().find(|(w, _)| w == t) {
            Some((_, n)) => *n += 1,
            None => out.push((t.clone(), 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idf_and_term_scores_follow_the_formulas() {
        // 10 docs, the term in 2.
        let i = idf(2.0, 10.0);
        assert!((i - (1.0 + 8.5 / 2.5f64).ln()).abs() < 1e-12);
        // N smaller than n (approximate counts) is raised to n.
        assert!((idf(5.0, 3.0) - idf(5.0, 5.0)).abs() < 1e-12);
        let p = Bm25Params::default();
        // Average length: tf = f / (f + k1).
        let s = term_score(2.0, 10.0, 10.0, i, 1.0, p);
        assert!((s - i * 2.0 / 3.2).abs() < 1e-12);
        // Longer than average scores less; a boost multiplies.
        assert!(term_score(2.0, 20.0, 10.0, i, 1.0, p) < s);
        assert!((term_score(2.0, 10.0, 10.0, i, 2.0, p) - 2.0 * s).abs() < 1e-12);
        // b = 0: no length normalisation.
        let flat = Bm25Params { k1: 1.2, b: 0.0 };
        assert_eq!(
            term_score(1.0, 5.0, 10.0, i, 1.0, flat),
            term_score(1.0, 50.0, 10.0, i, 1.0, flat)
        );
    }

    #[test]
    fn boosts_and_duplicate_terms() {
        assert_eq!(parse_boost("title^2"), ("title", 2.0));
        assert_eq!(parse_boost("body"), ("body", 1.0));
        assert_eq!(parse_boost("body^x"), ("body", 0.0));
        let t: Vec<String> = ["foo", "bar", "foo"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            count_terms(&t),
            [("foo".to_string(), 2), ("bar".to_string(), 1)]
        );
    }
}
