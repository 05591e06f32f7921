//! Validation of classes and properties, with Weaviate's rules and messages
//! (`entities/schema/validation.go`, `usecases/schema/class.go`, `property.go`).
//!
//! Every function here returns [`UserError::Invalid`] (HTTP 422) with a message meant for the
//! user as is. Name normalisation (first letter upper-cased for classes, lower-cased for
//! properties) happens here too, so the stored names are the normalised ones.

use std::collections::HashSet;

use super::SchemaDefaults;
use super::class::ClassDef;
use super::data_type::{DataType, Primitive};
use super::inverted::InvertedIndexConfig;
use super::property::PropertyDef;
use super::vector_index::{Distance, FlatConfig, HnswConfig, VectorIndexConfig, VectorSetup};
use crate::error::UserError;

/// Weft runs on a single node: at most one physical shard and one replica.
pub const NODE_COUNT: u32 = 1;
/// Longest class name.
pub const MAX_CLASS_NAME_LEN: usize = 255;
/// Longest property name.
pub const MAX_PROPERTY_NAME_LEN: usize = 231;
/// Longest named-vector name.
pub const MAX_VECTOR_NAME_LEN: usize = 230;
/// Property names that cannot be used.
pub const RESERVED_PROPERTY_NAMES: [&str; 3] = ["_additional", "_id", "id"];
/// Suffixes a property name cannot end with (they name internal buckets).
pub const RESERVED_PROPERTY_SUFFIXES: [&str; 6] = [
    "_searchable",
    "_rangeable",
    "_temp",
    "__meta_count",
    "_propertyLength",
    "_nullState",
];

fn invalid(message: impl Into<String>) -> UserError {
    UserError::Invalid(message.into())
}

/// `[_A-Za-z]` then `[_0-9A-Za-z]`, total length 1..=max (`None` = unbounded).
fn is_graphql_name(name: &str, max: Option<usize>) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic());
    first_ok
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && max.is_none_or(|max| name.len() <= max)
}

/// Whether `name` matches `^[A-Z][_0-9A-Za-z]{0,254}$` (no normalisation).
pub fn is_valid_class_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && is_graphql_name(name, Some(MAX_CLASS_NAME_LEN))
}

/// Weaviate's `UppercaseClassName`: the first letter upper-cased.
pub fn uppercase_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The first letter lower-cased (property names).
pub fn lowercase_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Upper-cases the first letter and validates a class name.
pub fn normalize_class_name(name: &str) -> Result<String, UserError> {
    let normalized = uppercase_first(name);
    if !is_valid_class_name(&normalized) || normalized.eq_ignore_ascii_case("raft") {
        return Err(invalid(format!("'{name}' is not a valid class name")));
    }
    Ok(normalized)
}

/// Lower-cases the first letter and validates a (top-level) property name.
pub fn normalize_property_name(name: &str) -> Result<String, UserError> {
    let normalized = lowercase_first(name);
    if !is_graphql_name(&normalized, Some(MAX_PROPERTY_NAME_LEN)) {
        return Err(invalid(format!(
            "'{name}' is not a valid property name. Property names in Weaviate are restricted to \
             valid GraphQL names, which must be “/[_A-Za-z][_0-9A-Za-z]{{0,230}}/”."
        )));
    }
    if RESERVED_PROPERTY_NAMES.contains(&normalized.as_str()) {
        return Err(invalid(format!("'{name}' is a reserved property name")));
    }
    if let Some(suffix) = RESERVED_PROPERTY_SUFFIXES
        .iter()
        .find(|s| normalized.ends_with(*s))
    {
        return Err(invalid(format!(
            "'{name}' is not a valid property name, property names cannot end with '{suffix}'"
        )));
    }
    Ok(normalized)
}

/// Validates a nested property name (`[_A-Za-z][_0-9A-Za-z]*`, kept as given).
pub fn validate_nested_property_name(name: &str) -> Result<(), UserError> {
    if is_graphql_name(name, None) {
        Ok(())
    } else {
        Err(invalid(format!(
            "'{name}' is not a valid nested property name, it must match /[_A-Za-z][_0-9A-Za-z]*/"
        )))
    }
}

/// Validates a named-vector name (`[_A-Za-z][_0-9A-Za-z]{0,229}`).
pub fn validate_vector_name(name: &str) -> Result<(), UserError> {
    if is_graphql_name(name, Some(MAX_VECTOR_NAME_LEN)) {
        Ok(())
    } else {
        Err(invalid(format!(
            "vectorConfig: '{name}' is not a valid vector name, it must match \
             /[_A-Za-z][_0-9A-Za-z]{{0,229}}/"
        )))
    }
}

/// What a class may refer to: the names of the classes that exist, plus its own.
#[derive(Debug)]
pub struct ReferenceTargets<'a> {
    /// Name of the class being validated (self-references are allowed).
    pub own: &'a str,
    /// Names of the stored classes.
    pub existing: Vec<&'a str>,
}

impl ReferenceTargets<'_> {
    fn contains(&self, name: &str) -> bool {
        name == self.own || self.existing.contains(&name)
    }
}

/// Normalises names and validates a whole class (not its uniqueness, which the catalog
/// checks under its lock).
pub fn validate_class(
    class: &mut ClassDef,
    existing: &[&str],
    defaults: &SchemaDefaults,
) -> Result<(), UserError> {
    class.name = normalize_class_name(&class.name)?;
    let targets = ReferenceTargets {
        own: &class.name,
        existing: existing.to_vec(),
    };
    let mut seen = HashSet::new();
    for property in &mut class.properties {
        validate_property(property, &targets)?;
        if !seen.insert(property.name.to_ascii_lowercase()) {
            return Err(duplicate_property(&class.name, &property.name));
        }
    }
    validate_vectors(&class.vectors, defaults)?;
    validate_inverted(&class.inverted_index)?;
    validate_class_settings(class)
}

/// Weaviate's message for a property name used twice.
pub fn duplicate_property(class: &str, property: &str) -> UserError {
    invalid(format!(
        "class \"{class}\": conflict for property \"{property}\": already in use or provided \
         multiple times"
    ))
}

/// Sharding, replication and multi-tenancy.
fn validate_class_settings(class: &mut ClassDef) -> Result<(), UserError> {
    let sharding = &mut class.sharding;
    if sharding.desired_count == 0 {
        sharding.desired_count = NODE_COUNT;
    }
    if sharding.desired_count > NODE_COUNT {
        return Err(invalid(format!(
            "shardingConfig: desiredCount {} is greater than the number of nodes ({NODE_COUNT})",
            sharding.desired_count
        )));
    }
    if sharding.virtual_per_physical == 0 {
        sharding.virtual_per_physical =
            super::class::ShardingConfig::default().virtual_per_physical;
    }
    if class.replication.factor == 0 {
        class.replication.factor = 1;
    }
    if class.replication.factor > NODE_COUNT {
        return Err(invalid(format!(
            "could not find enough weaviate nodes for replication: {NODE_COUNT} available, {} \
             requested",
            class.replication.factor
        )));
    }
    validate_multi_tenancy(&class.multi_tenancy)?;
    Ok(())
}

/// Normalises the name of a top-level property and validates it.
pub fn validate_property(
    property: &mut PropertyDef,
    targets: &ReferenceTargets<'_>,
) -> Result<(), UserError> {
    property.name = normalize_property_name(&property.name)?;
    validate_property_body(property, Some(targets))
}

/// Checks type, tokenization, flags and nested properties. `targets` is `None` for nested
/// properties, which cannot be references.
fn validate_property_body(
    property: &PropertyDef,
    targets: Option<&ReferenceTargets<'_>>,
) -> Result<(), UserError> {
    let name = &property.name;
    let primitive = match (&property.data_type, targets) {
        (DataType::Reference(classes), Some(targets)) => {
            return validate_reference(property, classes, targets);
        }
        (DataType::Reference(_), None) => {
            return Err(invalid(format!(
                "nested property '{name}': reference data types are not allowed in nested \
                 properties"
            )));
        }
        (DataType::Primitive(p), _) => *p,
    };
    if targets.is_none() && !primitive.allowed_nested() {
        return Err(invalid(format!(
            "nested property '{name}': data type '{primitive}' is not allowed in nested properties"
        )));
    }
    validate_tokenization(property, primitive)?;
    validate_index_flags(property, primitive)?;
    validate_nested(property, primitive)
}

fn validate_reference(
    property: &PropertyDef,
    classes: &[String],
    targets: &ReferenceTargets<'_>,
) -> Result<(), UserError> {
    let name = &property.name;
    if classes.is_empty() {
        return Err(invalid(format!(
            "property '{name}': dataType must not be empty"
        )));
    }
    for target in classes {
        if !is_valid_class_name(target) {
            return Err(invalid(format!(
                "property '{name}': invalid dataType: '{target}' is not a valid class name"
            )));
        }
        if !targets.contains(target) {
            return Err(invalid(format!(
                "property '{name}': invalid dataType: reference property to nonexistent class \
                 \"{target}\""
            )));
        }
    }
    if property.tokenization.is_some() {
        return Err(invalid(format!(
            "property '{name}': Tokenization is not allowed for reference data type"
        )));
    }
    if property.index_searchable || property.index_range_filters {
        return Err(invalid(format!(
            "property '{name}': 'indexSearchable' and 'indexRangeFilters' are not allowed for \
             reference data types"
        )));
    }
    if !property.nested_properties.is_empty() {
        return Err(nested_not_allowed(name));
    }
    Ok(())
}

fn validate_tokenization(property: &PropertyDef, primitive: Primitive) -> Result<(), UserError> {
    let Some(tokenization) = property.tokenization else {
        return Ok(());
    };
    let name = &property.name;
    if !primitive.is_text() {
        return Err(invalid(format!(
            "property '{name}': Tokenization '{tokenization}' is not allowed for data type \
             '{primitive}'"
        )));
    }
    if !tokenization.is_supported() {
        return Err(invalid(format!(
            "property '{name}': tokenization '{tokenization}' is not supported by this server \
             (supported: word, lowercase, whitespace, field, trigram)"
        )));
    }
    Ok(())
}

fn validate_index_flags(property: &PropertyDef, primitive: Primitive) -> Result<(), UserError> {
    let name = &property.name;
    if property.index_searchable && !primitive.is_text() {
        return Err(invalid(format!(
            "property '{name}': 'indexSearchable' is not allowed for other than text/text[] data \
             types"
        )));
    }
    if property.index_range_filters && !primitive.supports_range_index() {
        return Err(invalid(format!(
            "property '{name}': 'indexRangeFilters' is not allowed for other than int/number/date \
             data types"
        )));
    }
    if property.index_filterable && !primitive.supports_filterable() {
        return Err(invalid(format!(
            "property '{name}': 'indexFilterable' is not allowed for data type '{primitive}'"
        )));
    }
    Ok(())
}

fn nested_not_allowed(name: &str) -> UserError {
    invalid(format!(
        "property '{name}': nestedProperties are only allowed for data types object/object[]"
    ))
}

fn validate_nested(property: &PropertyDef, primitive: Primitive) -> Result<(), UserError> {
    let name = &property.name;
    if !primitive.is_object() {
        return if property.nested_properties.is_empty() {
            Ok(())
        } else {
            Err(nested_not_allowed(name))
        };
    }
    if property.nested_properties.is_empty() {
        return Err(invalid(format!(
            "property '{name}': at least one nested property is required for data type \
             object/object[]"
        )));
    }
    let mut seen = HashSet::new();
    for nested in &property.nested_properties {
        validate_nested_property_name(&nested.name)?;
        if !seen.insert(nested.name.to_ascii_lowercase()) {
            return Err(invalid(format!(
                "property '{name}': nested property '{}' is provided multiple times",
                nested.name
            )));
        }
        validate_property_body(nested, None)?;
    }
    Ok(())
}

/// Checks that a vectorizer module is available.
fn validate_module(
    module: &str,
    context: &str,
    defaults: &SchemaDefaults,
) -> Result<(), UserError> {
    if module == "none" || defaults.vectorizer_modules.iter().any(|m| m == module) {
        Ok(())
    } else {
        Err(invalid(format!(
            "{context}vectorizer: no module with name \"{module}\" present"
        )))
    }
}

/// Checks the vectorizers and the vector index settings.
pub fn validate_vectors(vectors: &VectorSetup, defaults: &SchemaDefaults) -> Result<(), UserError> {
    match vectors {
        VectorSetup::Legacy { vectorizer, index } => {
            if let Some(module) = vectorizer {
                validate_module(module, "", defaults)?;
            }
            validate_index(index, "vectorIndexConfig: ")
        }
        VectorSetup::Named(named) => {
            if named.is_empty() {
                return Err(invalid(
                    "vectorConfig: at least one named vector is required",
                ));
            }
            for (name, vector) in named {
                validate_vector_name(name)?;
                let context = format!("vectorConfig \"{name}\": ");
                validate_module(&vector.vectorizer.module, &context, defaults)?;
                validate_index(&vector.index, &format!("{context}vectorIndexConfig: "))?;
            }
            Ok(())
        }
    }
}

/// Checks one vector index; `context` prefixes every message.
pub fn validate_index(index: &VectorIndexConfig, context: &str) -> Result<(), UserError> {
    let result = match index {
        VectorIndexConfig::Hnsw(hnsw) => validate_hnsw(hnsw),
        VectorIndexConfig::Flat(flat) => validate_flat(flat),
    };
    result.map_err(|message| invalid(format!("{context}{message}")))
}

fn validate_hnsw(c: &HnswConfig) -> Result<(), String> {
    if !(4..=2047).contains(&c.max_connections) {
        return Err(format!(
            "maxConnections must be between 4 and 2047, got {}",
            c.max_connections
        ));
    }
    if c.ef_construction == 0 {
        return Err("efConstruction must be at least 1".to_string());
    }
    if c.ef != -1 && c.ef < 1 {
        return Err(format!(
            "ef must be -1 (dynamic) or at least 1, got {}",
            c.ef
        ));
    }
    if c.dynamic_ef_min < 1 || c.dynamic_ef_factor < 1 {
        return Err("dynamicEfMin and dynamicEfFactor must be at least 1".to_string());
    }
    if c.dynamic_ef_min > c.dynamic_ef_max {
        return Err(format!(
            "dynamicEfMin ({}) must not be greater than dynamicEfMax ({})",
            c.dynamic_ef_min, c.dynamic_ef_max
        ));
    }
    let enabled = c.enabled_quantizers();
    if enabled.len() > 1 {
        return Err(format!(
            "only one of pq, bq, sq, rq may be enabled, found: {}",
            enabled.join(", ")
        ));
    }
    if c.pq.enabled && !(1..=256).contains(&c.pq.centroids) {
        return Err(format!(
            "pq.centroids must be between 1 and 256, got {}",
            c.pq.centroids
        ));
    }
    if ![1, 4, 8].contains(&c.rq.bits) {
        return Err(format!("rq.bits must be 1, 4 or 8, got {}", c.rq.bits));
    }
    // Weaviate accepts these and fails every search later ("Distance not supported yet").
    if (c.sq.enabled || c.rq.enabled || c.pq.enabled)
        && matches!(c.distance, Distance::Manhattan | Distance::Hamming)
    {
        return Err(format!(
            "{} compression does not support distance {}",
            if c.sq.enabled {
                "sq"
            } else if c.pq.enabled {
                "pq"
            } else {
                "rq"
            },
            c.distance.as_str()
        ));
    }
    if c.multivector.aggregation != "maxSim" {
        return Err(format!(
            "multivector.aggregation must be \"maxSim\", got \"{}\"",
            c.multivector.aggregation
        ));
    }
    Ok(())
}

fn validate_flat(c: &FlatConfig) -> Result<(), String> {
    if [&c.pq, &c.bq, &c.sq, &c.rq]
        .iter()
        .any(|q| q.cache && !q.enabled)
    {
        return Err("not possible to use the cache without compression".to_string());
    }
    if c.pq.enabled {
        return Err("PQ is not currently supported for flat indices".to_string());
    }
    if c.sq.enabled {
        return Err("SQ is not currently supported for flat indices".to_string());
    }
    if c.bq.enabled && c.rq.enabled {
        return Err("only one of bq, rq may be enabled".to_string());
    }
    if c.rq_bits != 1 && c.rq_bits != 8 {
        return Err(format!("rq.bits must be 1 or 8, got {}", c.rq_bits));
    }
    Ok(())
}

/// Checks `invertedIndexConfig`.
pub fn validate_inverted(c: &InvertedIndexConfig) -> Result<(), UserError> {
    let b = c.bm25.b;
    if !(0.0..=1.0).contains(&b) {
        return Err(invalid(format!(
            "invertedIndexConfig: bm25.b must be between 0 and 1, got {b}"
        )));
    }
    let k1 = c.bm25.k1;
    if !(k1 >= 0.0 && k1.is_finite()) {
        return Err(invalid(format!(
            "invertedIndexConfig: bm25.k1 must be >= 0, got {k1}"
        )));
    }
    let removals: HashSet<&str> = c.stopwords.removals.iter().map(String::as_str).collect();
    if let Some(word) = c
        .stopwords
        .additions
        .iter()
        .find(|w| removals.contains(w.as_str()))
    {
        return Err(invalid(format!(
            "invertedIndexConfig: found '{word}' in both stopwords.additions and \
             stopwords.removals"
        )));
    }
    Ok(())
}

/// The auto flags need multi-tenancy (Weaviate's messages).
pub fn validate_multi_tenancy(mt: &super::MultiTenancyConfig) -> Result<(), UserError> {
    if !mt.enabled && mt.auto_tenant_creation {
        return Err(invalid(
            "can't enable autoTenantCreation on a non-multi-tenant class",
        ));
    }
    if !mt.enabled && mt.auto_tenant_activation {
        return Err(invalid(
            "can't enable autoTenantActivation on a non-multi-tenant class",
        ));
    }
    Ok(())
}

/// A tenant name: `^[A-Za-z0-9\-_]{1,64}$`; `index` is its position in the request.
pub fn validate_tenant_name(index: usize, name: &str) -> Result<(), UserError> {
    if name.is_empty() {
        return Err(invalid(format!(
            "tenant name at index {index}: empty tenant name"
        )));
    }
    let fits = name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !fits {
        return Err(invalid(format!(
            "tenant name at index {index}:  '{name}' is not a valid tenant name. should only \
             contain alphanumeric characters (a-z, A-Z, 0-9), underscore (_), and hyphen (-), \
             with a length between 1 and 64 characters"
        )));
    }
    Ok(())
}
