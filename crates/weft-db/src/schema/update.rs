//! Rules of `PUT /v1/schema/{class}`: which settings may change on a live class.
//!
//! Mutable: description, class `moduleConfig`, inverted index BM25 / stopwords / cleanup
//! interval, replication settings (within what one node allows), HNSW search-time knobs (`ef`,
//! `dynamicEf*`, `flatSearchCutoff`, `vectorCacheMaxObjects`, `cleanupIntervalSeconds`,
//! `filterStrategy`, `skip`), enabling one quantizer on HNSW, flat `vectorCacheMaxObjects`,
//! property descriptions, multi-tenancy auto flags.
//! Everything else is immutable and refused with a message naming the field.

use super::class::ClassDef;
use super::property::PropertyDef;
use super::validation::normalize_class_name;
use super::vector_index::{FlatConfig, HnswConfig, NamedVector, VectorIndexConfig, VectorSetup};
use crate::error::UserError;

fn immutable(field: &str, from: impl std::fmt::Display, to: impl std::fmt::Display) -> UserError {
    UserError::Invalid(format!(
        "{field} is immutable: attempted change from \"{from}\" to \"{to}\""
    ))
}

/// Merges `updated` into `stored`, refusing immutable changes. The result still has to pass
/// the class validation. An update with no properties keeps the stored ones.
pub fn merge_update(stored: &ClassDef, mut updated: ClassDef) -> Result<ClassDef, UserError> {
    let name = normalize_class_name(&updated.name)?;
    if name != stored.name {
        return Err(UserError::Invalid(format!(
            "class name is immutable: attempted change from \"{}\" to \"{}\"",
            stored.name, updated.name
        )));
    }
    updated.name = name;
    updated.properties = merge_properties(&stored.properties, updated.properties)?;
    updated.vectors = merge_vectors(&stored.vectors, updated.vectors)?;
    check_inverted(stored, &updated)?;
    if stored.sharding != updated.sharding {
        return Err(UserError::Invalid(
            "shardingConfig is immutable: re-configuring sharding is not supported".to_string(),
        ));
    }
    if stored.multi_tenancy.enabled != updated.multi_tenancy.enabled {
        return Err(immutable(
            "multiTenancyConfig.enabled",
            stored.multi_tenancy.enabled,
            updated.multi_tenancy.enabled,
        ));
    }
    super::validation::validate_multi_tenancy(&updated.multi_tenancy)?;
    Ok(updated)
}

fn check_inverted(stored: &ClassDef, updated: &ClassDef) -> Result<(), UserError> {
    let (old, new) = (&stored.inverted_index, &updated.inverted_index);
    let flags = [
        (
            "indexTimestamps",
            old.index_timestamps,
            new.index_timestamps,
        ),
        ("indexNullState", old.index_null_state, new.index_null_state),
        (
            "indexPropertyLength",
            old.index_property_length,
            new.index_property_length,
        ),
        (
            "usingBlockMaxWAND",
            old.using_block_max_wand,
            new.using_block_max_wand,
        ),
    ];
    for (field, from, to) in flags {
        if from != to {
            return Err(immutable(&format!("invertedIndexConfig.{field}"), from, to));
        }
    }
    Ok(())
}

fn properties_changed() -> UserError {
    UserError::Invalid(
        "properties cannot be updated through updating the class. Use the add property feature \
         (e.g. \"POST /v1/schema/{className}/properties\") to add additional properties"
            .to_string(),
    )
}

fn merge_properties(
    stored: &[PropertyDef],
    updated: Vec<PropertyDef>,
) -> Result<Vec<PropertyDef>, UserError> {
    if updated.is_empty() {
        return Ok(stored.to_vec());
    }
    if updated.len() != stored.len() {
        return Err(properties_changed());
    }
    let mut merged = Vec::with_capacity(stored.len());
    for old in stored {
        let new = updated
            .iter()
            .find(|p| super::validation::lowercase_first(&p.name) == old.name)
            .ok_or_else(properties_changed)?;
        merged.push(merge_property(old, new, &old.name)?);
    }
    Ok(merged)
}

/// Only descriptions may change; `path` names the property in messages.
fn merge_property(
    old: &PropertyDef,
    new: &PropertyDef,
    path: &str,
) -> Result<PropertyDef, UserError> {
    let field = |f: &str| format!("property \"{path}\": {f}");
    if old.data_type != new.data_type {
        return Err(immutable(
            &field("dataType"),
            old.data_type.to_names().join(","),
            new.data_type.to_names().join(","),
        ));
    }
    // A text property sent back without tokenization keeps the stored one.
    let tokenization = new.tokenization.or(old.tokenization);
    if old.tokenization != tokenization {
        let name = |t: Option<super::Tokenization>| t.map_or("", |t| t.as_str());
        return Err(immutable(
            &field("tokenization"),
            name(old.tokenization),
            name(tokenization),
        ));
    }
    let flags = [
        (
            "indexFilterable",
            old.index_filterable,
            new.index_filterable,
        ),
        (
            "indexSearchable",
            old.index_searchable,
            new.index_searchable,
        ),
        (
            "indexRangeFilters",
            old.index_range_filters,
            new.index_range_filters,
        ),
    ];
    for (name, from, to) in flags {
        if from != to {
            return Err(immutable(&field(name), from, to));
        }
    }
    if old.nested_properties.len() != new.nested_properties.len() {
        return Err(UserError::Invalid(field("nestedProperties are immutable")));
    }
    let mut nested = Vec::with_capacity(old.nested_properties.len());
    for old_nested in &old.nested_properties {
        let new_nested = new
            .nested_properties
            .iter()
            .find(|p| p.name == old_nested.name)
            .ok_or_else(|| UserError::Invalid(field("nestedProperties are immutable")))?;
        let nested_path = format!("{path}.{}", old_nested.name);
        nested.push(merge_property(old_nested, new_nested, &nested_path)?);
    }
    Ok(PropertyDef {
        description: new.description.clone(),
        nested_properties: nested,
        ..old.clone()
    })
}

fn merge_vectors(stored: &VectorSetup, updated: VectorSetup) -> Result<VectorSetup, UserError> {
    match (stored, updated) {
        (
            VectorSetup::Legacy {
                vectorizer: old_vectorizer,
                index: old_index,
            },
            VectorSetup::Legacy { vectorizer, index },
        ) => {
            let vectorizer = vectorizer.or_else(|| old_vectorizer.clone());
            if &vectorizer != old_vectorizer {
                let name = |v: &Option<String>| v.clone().unwrap_or_default();
                return Err(immutable(
                    "vectorizer",
                    name(old_vectorizer),
                    name(&vectorizer),
                ));
            }
            let index = merge_index(old_index, index, "")?;
            Ok(VectorSetup::Legacy { vectorizer, index })
        }
        (VectorSetup::Named(old), VectorSetup::Named(mut new)) => {
            if !old.keys().eq(new.keys()) {
                return Err(UserError::Invalid(
                    "vectorConfig: named vectors cannot be added or removed".to_string(),
                ));
            }
            for (name, old_vector) in old {
                let context = format!("vectorConfig \"{name}\": ");
                if let Some(vector) = new.remove(name) {
                    let merged = merge_named(old_vector, vector, &context)?;
                    new.insert(name.clone(), merged);
                }
            }
            Ok(VectorSetup::Named(new))
        }
        (VectorSetup::Legacy { .. }, VectorSetup::Named(_))
        | (VectorSetup::Named(_), VectorSetup::Legacy { .. }) => Err(UserError::Invalid(
            "vectorConfig: cannot change between a class-level vector index and named vectors"
                .to_string(),
        )),
    }
}

fn merge_named(
    old: &NamedVector,
    new: NamedVector,
    context: &str,
) -> Result<NamedVector, UserError> {
    if old.vectorizer != new.vectorizer {
        return Err(UserError::Invalid(format!(
            "{context}vectorizer is immutable"
        )));
    }
    let index = merge_index(&old.index, new.index, context)?;
    Ok(NamedVector {
        vectorizer: new.vectorizer,
        index,
    })
}

fn merge_index(
    old: &VectorIndexConfig,
    new: VectorIndexConfig,
    context: &str,
) -> Result<VectorIndexConfig, UserError> {
    if old.kind_name() != new.kind_name() {
        let field = format!("{context}vectorIndexType");
        return Err(immutable(&field, old.kind_name(), new.kind_name()));
    }
    if old.distance() != new.distance() {
        let field = format!("{context}vectorIndexConfig: distance");
        return Err(immutable(
            &field,
            old.distance().as_str(),
            new.distance().as_str(),
        ));
    }
    let checked = match (old, &new) {
        (VectorIndexConfig::Hnsw(old), VectorIndexConfig::Hnsw(new)) => check_hnsw(old, new),
        (VectorIndexConfig::Flat(old), VectorIndexConfig::Flat(new)) => check_flat(old, new),
        (VectorIndexConfig::Hnsw(_), VectorIndexConfig::Flat(_))
        | (VectorIndexConfig::Flat(_), VectorIndexConfig::Hnsw(_)) => Ok(()),
    };
    checked.map_err(|m| UserError::Invalid(format!("{context}vectorIndexConfig: {m}")))?;
    // As in Weaviate, `skipDefaultQuantization` and `trackDefaultQuantization` keep the values
    // of the class's creation whatever an update sends.
    let mut new = new;
    match (old, &mut new) {
        (VectorIndexConfig::Hnsw(old), VectorIndexConfig::Hnsw(new)) => {
            new.skip_default_quantization = old.skip_default_quantization;
            new.track_default_quantization = old.track_default_quantization;
        }
        (VectorIndexConfig::Flat(old), VectorIndexConfig::Flat(new)) => {
            new.skip_default_quantization = old.skip_default_quantization;
            new.track_default_quantization = old.track_default_quantization;
        }
        _ => {}
    }
    Ok(new)
}

fn check_hnsw(old: &HnswConfig, new: &HnswConfig) -> Result<(), String> {
    let fields = [
        (
            "maxConnections",
            u64::from(old.max_connections),
            u64::from(new.max_connections),
        ),
        (
            "efConstruction",
            u64::from(old.ef_construction),
            u64::from(new.ef_construction),
        ),
    ];
    for (name, from, to) in fields {
        if from != to {
            return Err(format!(
                "{name} is immutable: attempted change from {from} to {to}"
            ));
        }
    }
    if old.multivector != new.multivector {
        return Err("multivector is immutable".to_string());
    }
    // Weaviate's message (`hnsw/config_update.go`): the codes are of one width.
    if old.rq.enabled && new.rq.enabled && old.rq.bits != new.rq.bits {
        return Err(format!(
            "rq bits is immutable: attempted change from \"{}\" to \"{}\"",
            old.rq.bits, new.rq.bits
        ));
    }
    let now = new.enabled_quantizers();
    if let Some(q) = old
        .enabled_quantizers()
        .into_iter()
        .find(|q| !now.contains(q))
    {
        return Err(format!("{q} cannot be disabled once enabled"));
    }
    Ok(())
}

/// Weaviate's flat rules: a flat index is compressed at creation or never (the `enabled` flags,
/// `pq.cache` and `rq.bits` are immutable); `rescoreLimit` and the bq / rq `cache` may change.
fn check_flat(old: &FlatConfig, new: &FlatConfig) -> Result<(), String> {
    let immutable = |name: &str, from: &dyn std::fmt::Display, to: &dyn std::fmt::Display| {
        format!("{name} is immutable: attempted change from \"{from}\" to \"{to}\"")
    };
    if old.pq.cache != new.pq.cache {
        return Err(immutable("pq.cache", &old.pq.cache, &new.pq.cache));
    }
    for (name, from, to) in [
        ("pq", &old.pq, &new.pq),
        ("bq", &old.bq, &new.bq),
        ("rq", &old.rq, &new.rq),
    ] {
        if from.enabled != to.enabled {
            return Err(immutable(name, &from.enabled, &to.enabled));
        }
    }
    if old.rq_bits != new.rq_bits {
        return Err(immutable("rq.bits", &old.rq_bits, &new.rq_bits));
    }
    Ok(())
}
