//! `Class` JSON: the class-wide settings (inverted index, sharding, replication,
//! multi-tenancy) and the class itself.

use serde_json::{Map, Value, json};
use weft_db::error::UserError;
use weft_db::schema::{
    ClassDef, DeletionStrategy, InvertedIndexConfig, MultiTenancyConfig, ReplicationConfig,
    ShardingConfig, StopwordPreset,
};

use super::fields::{Fields, invalid, set};
use super::property::{property_from_value, property_value};
use super::vector_index::{vectors_from_json, vectors_to_json};

/// Parses a `Class` object; unknown keys are ignored.
pub(super) fn class_from_value(body: &Value) -> Result<ClassDef, UserError> {
    let f = Fields::of(body, "")?;
    let mut class = ClassDef::new(f.str("class")?.unwrap_or_default());
    set(
        &mut class.description,
        f.str("description")?.map(str::to_string),
    );
    if let Some(items) = f.array("properties")? {
        class.properties = items
            .iter()
            .map(property_from_value)
            .collect::<Result<_, _>>()?;
    }
    class.vectors = vectors_from_json(&f)?;
    class.module_config = f.opaque_object("moduleConfig")?;
    if let Some(inverted) = f.object("invertedIndexConfig")? {
        inverted_from_json(&inverted.fields(), &mut class.inverted_index)?;
    }
    if let Some(sharding) = f.object("shardingConfig")? {
        sharding_from_json(&sharding.fields(), &mut class.sharding)?;
    }
    if let Some(replication) = f.object("replicationConfig")? {
        replication_from_json(&replication.fields(), &mut class.replication)?;
    }
    if let Some(mt) = f.object("multiTenancyConfig")? {
        multi_tenancy_from_json(&mt.fields(), &mut class.multi_tenancy)?;
    }
    Ok(class)
}

fn inverted_from_json(f: &Fields<'_>, c: &mut InvertedIndexConfig) -> Result<(), UserError> {
    set(
        &mut c.cleanup_interval_seconds,
        f.unsigned("cleanupIntervalSeconds")?,
    );
    if let Some(bm25) = f.object("bm25")? {
        let bm25 = bm25.fields();
        set(&mut c.bm25.k1, bm25.f64("k1")?);
        set(&mut c.bm25.b, bm25.f64("b")?);
    }
    if let Some(stopwords) = f.object("stopwords")? {
        let s = stopwords.fields();
        set(
            &mut c.stopwords.preset,
            s.parsed("preset", StopwordPreset::parse, "en or none")?,
        );
        set(&mut c.stopwords.additions, s.strings("additions")?);
        set(&mut c.stopwords.removals, s.strings("removals")?);
    }
    set(&mut c.index_timestamps, f.bool("indexTimestamps")?);
    set(&mut c.index_null_state, f.bool("indexNullState")?);
    set(&mut c.index_property_length, f.bool("indexPropertyLength")?);
    set(&mut c.using_block_max_wand, f.bool("usingBlockMaxWAND")?);
    Ok(())
}

/// Only the configurable keys are read; `actualCount`, `desiredVirtualCount` and
/// `actualVirtualCount` are derived and ignored on input.
fn sharding_from_json(f: &Fields<'_>, c: &mut ShardingConfig) -> Result<(), UserError> {
    set(
        &mut c.virtual_per_physical,
        f.unsigned("virtualPerPhysical")?,
    );
    set(&mut c.desired_count, f.unsigned("desiredCount")?);
    let fixed = [
        ("key", ShardingConfig::KEY),
        ("strategy", ShardingConfig::STRATEGY),
        ("function", ShardingConfig::FUNCTION),
    ];
    for (key, only) in fixed {
        if let Some(value) = f.str(key)?.filter(|v| !v.is_empty() && *v != only) {
            return Err(invalid(format!(
                "{}: unsupported value {value:?} (only \"{only}\" is supported)",
                f.path_of(key)
            )));
        }
    }
    Ok(())
}

fn replication_from_json(f: &Fields<'_>, c: &mut ReplicationConfig) -> Result<(), UserError> {
    set(&mut c.factor, f.unsigned("factor")?);
    set(&mut c.async_enabled, f.bool("asyncEnabled")?);
    let strategies = "NoAutomatedResolution, DeleteOnConflict or TimeBasedResolution";
    set(
        &mut c.deletion_strategy,
        f.parsed("deletionStrategy", DeletionStrategy::parse, strategies)?,
    );
    if let Some(config) = f.object("asyncConfig")? {
        c.async_config = async_config_from_json(&config.fields())?;
    }
    Ok(())
}

/// `replicationConfig.asyncConfig` with Weaviate's ranges. `None` = any value ≥ 1 (durations
/// and sizes); frequencies may be 0.
const ASYNC_FIELDS: &[(&str, i64, Option<i64>)] = &[
    ("hashtreeHeight", 0, Some(20)),
    ("frequency", 0, None),
    ("frequencyWhilePropagating", 0, None),
    ("loggingFrequency", 1, None),
    ("diffBatchSize", 1, Some(10_000)),
    ("diffPerNodeTimeout", 1, None),
    ("prePropagationTimeout", 1, None),
    ("propagationTimeout", 1, None),
    ("propagationLimit", 1, Some(100_000)),
    ("propagationDelay", 1, None),
    ("propagationConcurrency", 1, Some(20)),
    ("propagationBatchSize", 1, Some(1_000)),
    ("maxWorkers", 1, None),
    ("aliveNodesCheckingFrequency", 1, None),
];

fn async_config_from_json(
    f: &Fields<'_>,
) -> Result<std::collections::BTreeMap<String, i64>, UserError> {
    let mut out = std::collections::BTreeMap::new();
    for &(name, min, max) in ASYNC_FIELDS {
        let Some(v) = f.i64(name)? else { continue };
        let in_range = v >= min && max.is_none_or(|m| v <= m);
        if !in_range {
            let range = match max {
                Some(m) => format!("min {min}, max {m}"),
                None => format!("min {min}"),
            };
            return Err(invalid(format!(
                "async replication config: {name}: value {v} out of range: {range}"
            )));
        }
        out.insert(name.to_string(), v);
    }
    Ok(out)
}

fn multi_tenancy_from_json(f: &Fields<'_>, c: &mut MultiTenancyConfig) -> Result<(), UserError> {
    set(&mut c.enabled, f.bool("enabled")?);
    set(&mut c.auto_tenant_creation, f.bool("autoTenantCreation")?);
    set(
        &mut c.auto_tenant_activation,
        f.bool("autoTenantActivation")?,
    );
    Ok(())
}

/// Renders a class with every key the Python client reads.
pub(super) fn class_value(class: &ClassDef) -> Value {
    let mut out = Map::new();
    out.insert("class".into(), json!(class.name));
    if !class.description.is_empty() {
        out.insert("description".into(), json!(class.description));
    }
    let properties: Vec<Value> = class.properties.iter().map(property_value).collect();
    out.insert("properties".into(), Value::Array(properties));
    vectors_to_json(&class.vectors, &mut out);
    if let Some(config) = &class.module_config {
        out.insert("moduleConfig".into(), config.clone());
    }
    out.insert(
        "invertedIndexConfig".into(),
        inverted_to_json(&class.inverted_index),
    );
    out.insert("shardingConfig".into(), sharding_to_json(&class.sharding));
    let r = &class.replication;
    let mut replication = json!({
        "factor": r.factor,
        "asyncEnabled": r.async_enabled,
        "deletionStrategy": r.deletion_strategy.as_str(),
    });
    if !r.async_config.is_empty() {
        replication["asyncConfig"] = json!(r.async_config);
    }
    out.insert("replicationConfig".into(), replication);
    let mt = &class.multi_tenancy;
    out.insert(
        "multiTenancyConfig".into(),
        json!({
            "enabled": mt.enabled,
            "autoTenantCreation": mt.auto_tenant_creation,
            "autoTenantActivation": mt.auto_tenant_activation,
        }),
    );
    Value::Object(out)
}

/// An empty list is sent as `null`, as Weaviate does for unset stopword lists.
fn words_or_null(words: &[String]) -> Value {
    if words.is_empty() {
        Value::Null
    } else {
        json!(words)
    }
}

fn inverted_to_json(c: &InvertedIndexConfig) -> Value {
    json!({
        "cleanupIntervalSeconds": c.cleanup_interval_seconds,
        "bm25": { "b": c.bm25.b, "k1": c.bm25.k1 },
        "stopwords": {
            "preset": c.stopwords.preset.as_str(),
            "additions": words_or_null(&c.stopwords.additions),
            "removals": words_or_null(&c.stopwords.removals),
        },
        "indexTimestamps": c.index_timestamps,
        "indexNullState": c.index_null_state,
        "indexPropertyLength": c.index_property_length,
        "usingBlockMaxWAND": c.using_block_max_wand,
    })
}

fn sharding_to_json(c: &ShardingConfig) -> Value {
    json!({
        "virtualPerPhysical": c.virtual_per_physical,
        "desiredCount": c.desired_count,
        "actualCount": c.actual_count(),
        "desiredVirtualCount": c.virtual_count(),
        "actualVirtualCount": c.virtual_count(),
        "key": ShardingConfig::KEY,
        "strategy": ShardingConfig::STRATEGY,
        "function": ShardingConfig::FUNCTION,
    })
}
