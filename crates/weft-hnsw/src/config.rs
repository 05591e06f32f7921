//! Index knobs, named and defaulted as in Weaviate's `vectorIndexConfig`.

use weft_vector::Metric;

/// HNSW configuration. Defaults are Weaviate's.
#[derive(Debug, Clone, PartialEq)]
pub struct HnswConfig {
    /// `distance`.
    pub metric: Metric,
    /// `maxConnections` (M): neighbours per node on upper levels; level 0 keeps 2·M.
    pub max_connections: usize,
    /// `efConstruction`: candidate list size while inserting.
    pub ef_construction: usize,
    /// `ef`: candidate list size while searching; −1 picks it from k (see
    /// [`HnswConfig::effective_ef`]).
    pub ef: i64,
    /// `dynamicEfMin`.
    pub dynamic_ef_min: usize,
    /// `dynamicEfMax`.
    pub dynamic_ef_max: usize,
    /// `dynamicEfFactor`.
    pub dynamic_ef_factor: usize,
    /// `flatSearchCutoff`: filtered searches whose allow-list is smaller than this scan the
    /// allowed vectors instead of walking the graph.
    pub flat_search_cutoff: usize,
    /// `cleanupIntervalSeconds`: how often the background cleanup reconnects around tombstones.
    pub cleanup_interval_seconds: u64,
    /// Seed of the level generator (fixed for reproducible graphs).
    pub seed: u64,
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig {
            metric: Metric::Cosine,
            max_connections: 32,
            ef_construction: 128,
            ef: -1,
            dynamic_ef_min: 100,
            dynamic_ef_max: 500,
            dynamic_ef_factor: 8,
            flat_search_cutoff: 40_000,
            cleanup_interval_seconds: 300,
            seed: 0x5eed_1234_abcd_0042,
        }
    }
}

impl HnswConfig {
    /// The ef a search for `k` results uses: the fixed `ef` if ≥ 0, else
    /// `k · dynamicEfFactor` clamped to `[dynamicEfMin, dynamicEfMax]`; never below k.
    pub fn effective_ef(&self, k: usize) -> usize {
        let ef = if self.ef >= 0 {
            self.ef as usize
        } else {
            (k.saturating_mul(self.dynamic_ef_factor)).clamp(
                self.dynamic_ef_min,
                self.dynamic_ef_max.max(self.dynamic_ef_min),
            )
        };
        ef.max(k).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_ef() {
        let c = HnswConfig::default();
        assert_eq!(c.effective_ef(10), 100);
        assert_eq!(c.effective_ef(20), 160);
        assert_eq!(c.effective_ef(100), 500);
        assert_eq!(c.effective_ef(1000), 1000);
        let fixed = HnswConfig { ef: 32, ..c };
        assert_eq!(fixed.effective_ef(10), 32);
        assert_eq!(fixed.effective_ef(50), 50);
    }
}
