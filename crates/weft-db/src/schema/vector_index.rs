//! Vector index settings: the index kind (HNSW or flat), distance, quantizers, multi-vectors,
//! and how a class holds its vectors (one legacy class-level vector or named vectors).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Distance metric of a vector index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Distance {
    /// `cosine` (default)
    Cosine,
    /// `dot`
    Dot,
    /// `l2-squared`
    L2Squared,
    /// `manhattan`
    Manhattan,
    /// `hamming`
    Hamming,
}

const DISTANCES: [(Distance, &str); 5] = [
    (Distance::Cosine, "cosine"),
    (Distance::Dot, "dot"),
    (Distance::L2Squared, "l2-squared"),
    (Distance::Manhattan, "manhattan"),
    (Distance::Hamming, "hamming"),
];

impl Distance {
    /// Weaviate's name.
    pub fn as_str(self) -> &'static str {
        DISTANCES
            .iter()
            .find(|(d, _)| *d == self)
            .map_or("", |(_, n)| n)
    }

    /// Parses Weaviate's name.
    pub fn parse(name: &str) -> Option<Distance> {
        DISTANCES.iter().find(|(_, n)| *n == name).map(|(d, _)| *d)
    }

    /// The names accepted by [`Distance::parse`], for error messages.
    pub fn names() -> Vec<&'static str> {
        DISTANCES.iter().map(|(_, n)| *n).collect()
    }
}

/// How HNSW applies filters during search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterStrategy {
    /// `acorn` (default)
    Acorn,
    /// `sweeping`
    Sweeping,
}

impl FilterStrategy {
    /// Weaviate's name.
    pub fn as_str(self) -> &'static str {
        match self {
            FilterStrategy::Acorn => "acorn",
            FilterStrategy::Sweeping => "sweeping",
        }
    }

    /// Parses Weaviate's name.
    pub fn parse(name: &str) -> Option<FilterStrategy> {
        match name {
            "acorn" => Some(FilterStrategy::Acorn),
            "sweeping" => Some(FilterStrategy::Sweeping),
            _ => None,
        }
    }
}

/// PQ encoder kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PqEncoderKind {
    /// `kmeans` (default)
    Kmeans,
    /// `tile`
    Tile,
}

impl PqEncoderKind {
    /// Weaviate's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PqEncoderKind::Kmeans => "kmeans",
            PqEncoderKind::Tile => "tile",
        }
    }

    /// Parses Weaviate's name.
    pub fn parse(name: &str) -> Option<PqEncoderKind> {
        match name {
            "kmeans" => Some(PqEncoderKind::Kmeans),
            "tile" => Some(PqEncoderKind::Tile),
            _ => None,
        }
    }
}

/// PQ encoder distribution (used by the `tile` encoder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PqDistribution {
    /// `log-normal` (default)
    LogNormal,
    /// `normal`
    Normal,
}

impl PqDistribution {
    /// Weaviate's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PqDistribution::LogNormal => "log-normal",
            PqDistribution::Normal => "normal",
        }
    }

    /// Parses Weaviate's name.
    pub fn parse(name: &str) -> Option<PqDistribution> {
        match name {
            "log-normal" => Some(PqDistribution::LogNormal),
            "normal" => Some(PqDistribution::Normal),
            _ => None,
        }
    }
}

/// Product quantization of an HNSW index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PqConfig {
    /// Whether PQ is on.
    pub enabled: bool,
    /// `bitCompression`
    pub bit_compression: bool,
    /// `segments` (0 = chosen from the dimensions)
    pub segments: u32,
    /// `centroids` (1..=256)
    pub centroids: u32,
    /// `trainingLimit`
    pub training_limit: u64,
    /// `encoder.type`
    pub encoder: PqEncoderKind,
    /// `encoder.distribution`
    pub distribution: PqDistribution,
}

impl Default for PqConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bit_compression: false,
            segments: 0,
            centroids: 256,
            training_limit: 100_000,
            encoder: PqEncoderKind::Kmeans,
            distribution: PqDistribution::LogNormal,
        }
    }
}

/// Scalar quantization of an HNSW index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqConfig {
    /// Whether SQ is on.
    pub enabled: bool,
    /// `trainingLimit`
    pub training_limit: u64,
    /// `rescoreLimit`
    pub rescore_limit: i64,
}

impl Default for SqConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            training_limit: 100_000,
            rescore_limit: 20,
        }
    }
}

/// Rotational quantization of an HNSW index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RqConfig {
    /// Whether RQ is on.
    pub enabled: bool,
    /// `bits` (1 or 8)
    pub bits: u32,
    /// `rescoreLimit`
    pub rescore_limit: i64,
}

impl Default for RqConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bits: 8,
            rescore_limit: 20,
        }
    }
}

/// MUVERA encoding of multi-vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MuveraConfig {
    /// Whether MUVERA is on.
    pub enabled: bool,
    /// `ksim`
    pub ksim: u32,
    /// `dprojections`
    pub dprojections: u32,
    /// `repetitions`
    pub repetitions: u32,
}

impl Default for MuveraConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            ksim: 4,
            dprojections: 16,
            repetitions: 10,
        }
    }
}

/// Multi-vector (late interaction) settings of an HNSW index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultivectorConfig {
    /// Whether each object holds several vectors for this index.
    pub enabled: bool,
    /// `aggregation`; only `maxSim` exists.
    pub aggregation: String,
    /// `muvera`
    pub muvera: MuveraConfig,
}

impl Default for MultivectorConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            aggregation: "maxSim".to_string(),
            muvera: MuveraConfig::default(),
        }
    }
}

/// HNSW index settings, with Weaviate's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HnswConfig {
    /// `skip`: do not index vectors at all.
    pub skip: bool,
    /// `cleanupIntervalSeconds` (300)
    pub cleanup_interval_seconds: u64,
    /// `maxConnections` (32, 4..=2047)
    pub max_connections: u32,
    /// `efConstruction` (128)
    pub ef_construction: u32,
    /// `ef` (-1 = dynamic)
    pub ef: i64,
    /// `dynamicEfMin` (100)
    pub dynamic_ef_min: i64,
    /// `dynamicEfMax` (500)
    pub dynamic_ef_max: i64,
    /// `dynamicEfFactor` (8)
    pub dynamic_ef_factor: i64,
    /// `vectorCacheMaxObjects` (1e12)
    pub vector_cache_max_objects: u64,
    /// `flatSearchCutoff` (40000)
    pub flat_search_cutoff: u64,
    /// `distance` (cosine)
    pub distance: Distance,
    /// `filterStrategy` (acorn)
    pub filter_strategy: FilterStrategy,
    /// `pq`
    pub pq: PqConfig,
    /// `bq.enabled`
    pub bq_enabled: bool,
    /// `sq`
    pub sq: SqConfig,
    /// `rq`
    pub rq: RqConfig,
    /// `multivector`
    pub multivector: MultivectorConfig,
    /// `skipDefaultQuantization`
    pub skip_default_quantization: bool,
    /// `trackDefaultQuantization`
    pub track_default_quantization: bool,
}

/// Weaviate's default `vectorCacheMaxObjects`.
pub const DEFAULT_VECTOR_CACHE_MAX_OBJECTS: u64 = 1_000_000_000_000;

impl Default for HnswConfig {
    fn default() -> Self {
        Self {
            skip: false,
            cleanup_interval_seconds: 300,
            max_connections: 32,
            ef_construction: 128,
            ef: -1,
            dynamic_ef_min: 100,
            dynamic_ef_max: 500,
            dynamic_ef_factor: 8,
            vector_cache_max_objects: DEFAULT_VECTOR_CACHE_MAX_OBJECTS,
            flat_search_cutoff: 40_000,
            distance: Distance::Cosine,
            filter_strategy: FilterStrategy::Acorn,
            pq: PqConfig::default(),
            bq_enabled: false,
            sq: SqConfig::default(),
            rq: RqConfig::default(),
            multivector: MultivectorConfig::default(),
            skip_default_quantization: false,
            track_default_quantization: false,
        }
    }
}

impl HnswConfig {
    /// Names of the quantizers that are enabled (at most one is valid).
    pub fn enabled_quantizers(&self) -> Vec<&'static str> {
        let flags = [("pq", self.pq.enabled), ("bq", self.bq_enabled)];
        let more = [("sq", self.sq.enabled), ("rq", self.rq.enabled)];
        flags
            .into_iter()
            .chain(more)
            .filter(|(_, on)| *on)
            .map(|(n, _)| n)
            .collect()
    }
}

/// A quantizer of a flat index (`pq`, `bq`, `sq`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlatQuantizer {
    /// Whether it is on.
    pub enabled: bool,
    /// `rescoreLimit` (-1 = default)
    pub rescore_limit: i64,
    /// `cache`
    pub cache: bool,
}

impl Default for FlatQuantizer {
    fn default() -> Self {
        Self {
            enabled: false,
            rescore_limit: -1,
            cache: false,
        }
    }
}

/// Flat (brute-force) index settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlatConfig {
    /// `distance` (cosine)
    pub distance: Distance,
    /// `vectorCacheMaxObjects` (1e12)
    pub vector_cache_max_objects: u64,
    /// `pq` (cannot be enabled on flat)
    pub pq: FlatQuantizer,
    /// `bq`
    pub bq: FlatQuantizer,
    /// `sq` (cannot be enabled on flat)
    pub sq: FlatQuantizer,
    /// `rq`
    pub rq: FlatQuantizer,
    /// `rq.bits` (8)
    pub rq_bits: u32,
    /// `skipDefaultQuantization`: `DEFAULT_QUANTIZATION` is not applied to this index.
    #[serde(default)]
    pub skip_default_quantization: bool,
    /// `trackDefaultQuantization`: the compression is the server's `DEFAULT_QUANTIZATION`.
    #[serde(default)]
    pub track_default_quantization: bool,
}

impl Default for FlatConfig {
    fn default() -> Self {
        Self {
            distance: Distance::Cosine,
            vector_cache_max_objects: DEFAULT_VECTOR_CACHE_MAX_OBJECTS,
            pq: FlatQuantizer::default(),
            bq: FlatQuantizer::default(),
            sq: FlatQuantizer::default(),
            rq: FlatQuantizer::default(),
            rq_bits: 8,
            skip_default_quantization: false,
            track_default_quantization: false,
        }
    }
}

impl FlatConfig {
    /// Names of the quantizers that are enabled.
    pub fn enabled_quantizers(&self) -> Vec<&'static str> {
        [
            ("pq", &self.pq),
            ("bq", &self.bq),
            ("sq", &self.sq),
            ("rq", &self.rq),
        ]
        .into_iter()
        .filter(|(_, q)| q.enabled)
        .map(|(n, _)| n)
        .collect()
    }
}

/// The compression `DEFAULT_QUANTIZATION` gives new vector indexes that enable none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DefaultQuantization {
    /// `none` or unset.
    #[default]
    None,
    /// `pq` (hnsw only).
    Pq,
    /// `sq` (hnsw only).
    Sq,
    /// `rq-1`.
    Rq1,
    /// `rq-4` (hnsw only).
    Rq4,
    /// `rq-8`.
    Rq8,
    /// `bq`.
    Bq,
}

impl DefaultQuantization {
    /// Parses Weaviate's names (`none`, `pq`, `sq`, `rq-1`, `rq-4`, `rq-8`, `bq`; case and
    /// surrounding spaces ignored; empty is `none`).
    pub fn parse(s: &str) -> Result<DefaultQuantization, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "" | "none" => DefaultQuantization::None,
            "pq" => DefaultQuantization::Pq,
            "sq" => DefaultQuantization::Sq,
            "rq-1" => DefaultQuantization::Rq1,
            "rq-4" => DefaultQuantization::Rq4,
            "rq-8" => DefaultQuantization::Rq8,
            "bq" => DefaultQuantization::Bq,
            other => {
                return Err(format!(
                    "unknown quantization {other:?} (none, pq, sq, rq-1, rq-4, rq-8, bq)"
                ));
            }
        })
    }
}

/// A vector index: its kind and settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorIndexConfig {
    /// `hnsw`
    Hnsw(HnswConfig),
    /// `flat`
    Flat(FlatConfig),
}

impl Default for VectorIndexConfig {
    fn default() -> Self {
        VectorIndexConfig::Hnsw(HnswConfig::default())
    }
}

impl VectorIndexConfig {
    /// Applies the server's default compression as Weaviate does on class creation: an index
    /// that enables no quantizer and does not set `skipDefaultQuantization` gets `q` (with
    /// Weaviate's rescore limits: rq-1 512 on hnsw, the flat default −1) and
    /// `trackDefaultQuantization` true; every other index gets `trackDefaultQuantization`
    /// false. A flat index takes only rq and bq (as in Weaviate, pq and sq leave it as it is).
    pub fn apply_default_quantization(&mut self, q: DefaultQuantization) {
        type D = DefaultQuantization;
        match self {
            VectorIndexConfig::Hnsw(c) => {
                c.track_default_quantization = false;
                if !c.enabled_quantizers().is_empty() || c.skip_default_quantization {
                    return;
                }
                match q {
                    D::None => return,
                    D::Pq => c.pq.enabled = true,
                    D::Sq => c.sq.enabled = true,
                    D::Bq => c.bq_enabled = true,
                    D::Rq1 | D::Rq4 | D::Rq8 => {
                        c.rq = RqConfig {
                            enabled: true,
                            bits: match q {
                                D::Rq1 => 1,
                                D::Rq4 => 4,
                                _ => 8,
                            },
                            rescore_limit: if q == D::Rq1 { 512 } else { 20 },
                        };
                    }
                }
                c.track_default_quantization = true;
            }
            VectorIndexConfig::Flat(c) => {
                c.track_default_quantization = false;
                if !c.enabled_quantizers().is_empty() || c.skip_default_quantization {
                    return;
                }
                let default = FlatQuantizer {
                    enabled: true,
                    ..FlatQuantizer::default()
                };
                match q {
                    // rq-4 too: Weaviate's flat index has no 4-bit codes (it logs an error).
                    D::None | D::Pq | D::Sq | D::Rq4 => return,
                    D::Bq => c.bq = default,
                    D::Rq1 | D::Rq8 => {
                        c.rq = default;
                        c.rq_bits = if q == D::Rq1 { 1 } else { 8 };
                    }
                }
                c.track_default_quantization = true;
            }
        }
    }

    /// `vectorIndexType` on the wire.
    pub fn kind_name(&self) -> &'static str {
        match self {
            VectorIndexConfig::Hnsw(_) => "hnsw",
            VectorIndexConfig::Flat(_) => "flat",
        }
    }

    /// The distance metric.
    pub fn distance(&self) -> Distance {
        match self {
            VectorIndexConfig::Hnsw(c) => c.distance,
            VectorIndexConfig::Flat(c) => c.distance,
        }
    }
}

/// A vectorizer module reference: `{"<module>": {<opaque settings>}}` on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vectorizer {
    /// Module name (`none` = vectors are supplied by the user).
    pub module: String,
    /// Opaque module settings (a JSON object).
    pub settings: serde_json::Value,
}

impl Vectorizer {
    /// The `none` vectorizer (self-provided vectors).
    pub fn none() -> Self {
        Self {
            module: "none".to_string(),
            settings: serde_json::Value::Object(Default::default()),
        }
    }
}

/// One named vector of a class (`vectorConfig.<name>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedVector {
    /// The vectorizer of this vector.
    pub vectorizer: Vectorizer,
    /// Its index.
    pub index: VectorIndexConfig,
}

/// How a class holds its vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorSetup {
    /// One unnamed vector per object (`vectorizer`, `vectorIndexType`, `vectorIndexConfig`).
    Legacy {
        /// Vectorizer module name; `None` until the catalog fills the server default.
        vectorizer: Option<String>,
        /// The class-level index.
        index: VectorIndexConfig,
    },
    /// Named vectors (`vectorConfig`), at least one.
    Named(BTreeMap<String, NamedVector>),
}

impl Default for VectorSetup {
    fn default() -> Self {
        VectorSetup::Legacy {
            vectorizer: None,
            index: VectorIndexConfig::default(),
        }
    }
}

impl VectorSetup {
    /// Every index of the class with its vector name (`""` for the legacy vector).
    pub fn indexes(&self) -> Vec<(&str, &VectorIndexConfig)> {
        match self {
            VectorSetup::Legacy { index, .. } => vec![("", index)],
            VectorSetup::Named(vectors) => vectors
                .iter()
                .map(|(name, v)| (name.as_str(), &v.index))
                .collect(),
        }
    }
}
