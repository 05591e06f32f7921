//! The schema: classes, properties, vector and inverted index settings, shards.
//!
//! * [`ClassDef`] / [`PropertyDef`] are the domain model of Weaviate's `Class` / `Property`,
//!   with Weaviate's defaults ([`ClassDef::new`], `Default` impls).
//! * [`validation`] holds the naming and consistency rules, with Weaviate's messages.
//! * [`Catalog`] keeps every class durably in `<data_path>/schema.bin`
//!   (format: `docs/format/schema.md`).
//!
//! Wire JSON lives in `weft-api`; nothing here knows Weaviate's JSON key names.

mod catalog;
pub(crate) mod catalog_file;
pub(crate) use catalog_file::{finish_class_deletions, io_err};
mod class;
mod data_type;
mod inverted;
mod property;
mod shard;
mod update;
pub mod validation;
mod vector_index;

#[cfg(test)]
mod tests;

pub use catalog::Catalog;
pub use catalog_file::{SCHEMA_FILE, SCHEMA_MAGIC, SCHEMA_VERSION, class_dir};
pub use class::{
    ClassDef, DeletionStrategy, MultiTenancyConfig, ReplicationConfig, ShardingConfig,
};
pub use data_type::{DataType, Primitive};
pub use inverted::{Bm25Config, InvertedIndexConfig, StopwordConfig, StopwordPreset};
pub use property::{PropertyDef, Tokenization};
pub use shard::{SHARD_NAME_LEN, ShardState, ShardStatus, TenantStatus, reason};
pub use vector_index::{
    DEFAULT_VECTOR_CACHE_MAX_OBJECTS, DefaultQuantization, Distance, FilterStrategy, FlatConfig,
    FlatQuantizer, HnswConfig, MultivectorConfig, MuveraConfig, NamedVector, PqConfig,
    PqDistribution, PqEncoderKind, RqConfig, SqConfig, VectorIndexConfig, VectorSetup, Vectorizer,
};

/// Defaults applied to new classes, from the server's configuration.
#[derive(Debug, Clone)]
pub struct SchemaDefaults {
    /// `DEFAULT_VECTORIZER_MODULE` (`none`): vectorizer of legacy classes that name none.
    pub vectorizer: String,
    /// `DEFAULT_TOKENIZATION` (`word`): tokenization of text properties that name none.
    pub tokenization: Tokenization,
    /// Vectorizer modules this server offers besides `none` (weft has none yet). A class that
    /// names another module is refused, as Weaviate refuses modules that are not enabled.
    pub vectorizer_modules: Vec<String>,
    /// `DEFAULT_QUANTIZATION` (`none`): compression of new vector indexes that enable none.
    pub quantization: DefaultQuantization,
}

impl Default for SchemaDefaults {
    fn default() -> Self {
        Self {
            vectorizer: "none".to_string(),
            tokenization: Tokenization::Word,
            vectorizer_modules: Vec::new(),
            quantization: DefaultQuantization::None,
        }
    }
}
