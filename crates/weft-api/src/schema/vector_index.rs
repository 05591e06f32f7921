//! `vectorizer` / `vectorIndexType` / `vectorIndexConfig` and named vectors (`vectorConfig`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use weft_db::error::UserError;
use weft_db::schema::{
    Distance, FilterStrategy, FlatConfig, FlatQuantizer, HnswConfig, MultivectorConfig,
    NamedVector, PqConfig, PqDistribution, PqEncoderKind, RqConfig, SqConfig, VectorIndexConfig,
    VectorSetup, Vectorizer,
};

use super::fields::{Fields, invalid, set};

/// Index types weft accepts.
const SUPPORTED_TYPES: &str = "hnsw, flat";

/// Reads the class's vector setup: named vectors when `vectorConfig` is given, else the
/// legacy class-level vector.
pub(super) fn vectors_from_json(f: &Fields<'_>) -> Result<VectorSetup, UserError> {
    let named = f.object("vectorConfig")?;
    let Some(named) = named.filter(|n| !n.fields().is_empty()) else {
        let vectorizer = f
            .str("vectorizer")?
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        let config = f.object("vectorIndexConfig")?;
        let index = index_from_json(
            f.str("vectorIndexType")?,
            config.as_ref().map(|c| c.fields()),
            &f.path_of("vectorIndexType"),
        )?;
        return Ok(VectorSetup::Legacy { vectorizer, index });
    };
    let legacy_vectorizer = f
        .str("vectorizer")?
        .is_some_and(|v| !v.is_empty() && v != "none");
    if f.has("vectorIndexType") || f.has("vectorIndexConfig") || legacy_vectorizer {
        return Err(invalid(
            "a class cannot have both a class-level vector index (vectorizer, vectorIndexType, \
             vectorIndexConfig) and named vectors (vectorConfig)",
        ));
    }
    let named = named.fields();
    let mut vectors = BTreeMap::new();
    for name in named.keys() {
        let entry = named.object(name)?.ok_or_else(|| {
            invalid(format!(
                "{}: expected an object, got null",
                named.path_of(name)
            ))
        })?;
        vectors.insert(name.to_string(), named_vector_from_json(&entry.fields())?);
    }
    Ok(VectorSetup::Named(vectors))
}

fn named_vector_from_json(f: &Fields<'_>) -> Result<NamedVector, UserError> {
    let vectorizer = match f.object("vectorizer")? {
        None => Vectorizer::none(),
        Some(v) => {
            let v = v.fields();
            let mut modules = v.keys();
            let (Some(module), None) = (modules.next(), modules.next()) else {
                return Err(invalid(format!(
                    "{}: must name exactly one vectorizer module",
                    f.path_of("vectorizer")
                )));
            };
            let settings = v
                .opaque_object(module)?
                .unwrap_or_else(|| Value::Object(Map::new()));
            Vectorizer {
                module: module.to_string(),
                settings,
            }
        }
    };
    let config = f.object("vectorIndexConfig")?;
    let index = index_from_json(
        f.str("vectorIndexType")?,
        config.as_ref().map(|c| c.fields()),
        &f.path_of("vectorIndexType"),
    )?;
    Ok(NamedVector { vectorizer, index })
}

/// Reads an index of type `kind` (default `hnsw`) from `config`.
pub(super) fn index_from_json(
    kind: Option<&str>,
    config: Option<Fields<'_>>,
    kind_path: &str,
) -> Result<VectorIndexConfig, UserError> {
    match kind.unwrap_or("hnsw") {
        "hnsw" | "" => {
            let mut hnsw = HnswConfig::default();
            if let Some(f) = config {
                hnsw_from_json(&f, &mut hnsw)?;
            }
            Ok(VectorIndexConfig::Hnsw(hnsw))
        }
        "flat" => {
            let mut flat = FlatConfig::default();
            if let Some(f) = config {
                flat_from_json(&f, &mut flat)?;
            }
            Ok(VectorIndexConfig::Flat(flat))
        }
        other @ ("dynamic" | "hfresh") => Err(invalid(format!(
            "{kind_path}: vector index type \"{other}\" is not supported by this server \
             (supported: {SUPPORTED_TYPES})"
        ))),
        other => Err(invalid(format!(
            "{kind_path}: unrecognized or unsupported vectorIndexType \"{other}\" (supported: \
             {SUPPORTED_TYPES})"
        ))),
    }
}

fn distance_from_json(f: &Fields<'_>) -> Result<Option<Distance>, UserError> {
    let names = Distance::names().join(", ");
    f.parsed("distance", Distance::parse, &format!("one of {names}"))
}

fn hnsw_from_json(f: &Fields<'_>, c: &mut HnswConfig) -> Result<(), UserError> {
    set(&mut c.skip, f.bool("skip")?);
    set(
        &mut c.cleanup_interval_seconds,
        f.unsigned("cleanupIntervalSeconds")?,
    );
    set(&mut c.max_connections, f.unsigned("maxConnections")?);
    set(&mut c.ef_construction, f.unsigned("efConstruction")?);
    set(&mut c.ef, f.i64("ef")?);
    set(&mut c.dynamic_ef_min, f.i64("dynamicEfMin")?);
    set(&mut c.dynamic_ef_max, f.i64("dynamicEfMax")?);
    set(&mut c.dynamic_ef_factor, f.i64("dynamicEfFactor")?);
    set(
        &mut c.vector_cache_max_objects,
        f.unsigned("vectorCacheMaxObjects")?,
    );
    set(&mut c.flat_search_cutoff, f.unsigned("flatSearchCutoff")?);
    set(&mut c.distance, distance_from_json(f)?);
    set(
        &mut c.filter_strategy,
        f.parsed("filterStrategy", FilterStrategy::parse, "acorn or sweeping")?,
    );
    if let Some(pq) = f.object("pq")? {
        pq_from_json(&pq.fields(), &mut c.pq)?;
    }
    if let Some(bq) = f.object("bq")? {
        set(&mut c.bq_enabled, bq.fields().bool("enabled")?);
    }
    if let Some(sq) = f.object("sq")? {
        sq_from_json(&sq.fields(), &mut c.sq)?;
    }
    if let Some(rq) = f.object("rq")? {
        rq_from_json(&rq.fields(), &mut c.rq)?;
    }
    if let Some(mv) = f.object("multivector")? {
        multivector_from_json(&mv.fields(), &mut c.multivector)?;
    }
    default_quantization_flags(
        f,
        &mut c.skip_default_quantization,
        &mut c.track_default_quantization,
    )
}

fn pq_from_json(f: &Fields<'_>, c: &mut PqConfig) -> Result<(), UserError> {
    set(&mut c.enabled, f.bool("enabled")?);
    set(&mut c.bit_compression, f.bool("bitCompression")?);
    set(&mut c.segments, f.unsigned("segments")?);
    set(&mut c.centroids, f.unsigned("centroids")?);
    set(&mut c.training_limit, f.unsigned("trainingLimit")?);
    if let Some(encoder) = f.object("encoder")? {
        let e = encoder.fields();
        set(
            &mut c.encoder,
            e.parsed("type", PqEncoderKind::parse, "kmeans or tile")?,
        );
        set(
            &mut c.distribution,
            e.parsed(
                "distribution",
                PqDistribution::parse,
                "log-normal or normal",
            )?,
        );
    }
    Ok(())
}

fn sq_from_json(f: &Fields<'_>, c: &mut SqConfig) -> Result<(), UserError> {
    set(&mut c.enabled, f.bool("enabled")?);
    set(&mut c.training_limit, f.unsigned("trainingLimit")?);
    set(&mut c.rescore_limit, f.i64("rescoreLimit")?);
    Ok(())
}

fn rq_from_json(f: &Fields<'_>, c: &mut RqConfig) -> Result<(), UserError> {
    set(&mut c.enabled, f.bool("enabled")?);
    set(&mut c.bits, f.unsigned("bits")?);
    let limit = f.i64("rescoreLimit")?;
    // Weaviate's parseRQMap: 1-bit codes without a rescoreLimit rescore 512 candidates.
    if limit.is_none() && c.bits == 1 {
        c.rescore_limit = 512;
    }
    set(&mut c.rescore_limit, limit);
    Ok(())
}

fn multivector_from_json(f: &Fields<'_>, c: &mut MultivectorConfig) -> Result<(), UserError> {
    set(&mut c.enabled, f.bool("enabled")?);
    set(
        &mut c.aggregation,
        f.str("aggregation")?.map(str::to_string),
    );
    if let Some(muvera) = f.object("muvera")? {
        let m = muvera.fields();
        set(&mut c.muvera.enabled, m.bool("enabled")?);
        set(&mut c.muvera.ksim, m.unsigned("ksim")?);
        set(&mut c.muvera.dprojections, m.unsigned("dprojections")?);
        set(&mut c.muvera.repetitions, m.unsigned("repetitions")?);
    }
    Ok(())
}

fn flat_from_json(f: &Fields<'_>, c: &mut FlatConfig) -> Result<(), UserError> {
    set(&mut c.distance, distance_from_json(f)?);
    set(
        &mut c.vector_cache_max_objects,
        f.unsigned("vectorCacheMaxObjects")?,
    );
    let quantizers = [("pq", &mut c.pq), ("bq", &mut c.bq), ("sq", &mut c.sq)];
    for (key, q) in quantizers {
        if let Some(obj) = f.object(key)? {
            flat_quantizer_from_json(&obj.fields(), q)?;
        }
    }
    if let Some(rq) = f.object("rq")? {
        let rq = rq.fields();
        flat_quantizer_from_json(&rq, &mut c.rq)?;
        set(&mut c.rq_bits, rq.unsigned("bits")?);
    }
    default_quantization_flags(
        f,
        &mut c.skip_default_quantization,
        &mut c.track_default_quantization,
    )
}

/// `skipDefaultQuantization` and `trackDefaultQuantization` (hnsw and flat).
fn default_quantization_flags(
    f: &Fields<'_>,
    skip: &mut bool,
    track: &mut bool,
) -> Result<(), UserError> {
    set(skip, f.bool("skipDefaultQuantization")?);
    set(track, f.bool("trackDefaultQuantization")?);
    Ok(())
}

fn flat_quantizer_from_json(f: &Fields<'_>, q: &mut FlatQuantizer) -> Result<(), UserError> {
    set(&mut q.enabled, f.bool("enabled")?);
    set(&mut q.rescore_limit, f.i64("rescoreLimit")?);
    set(&mut q.cache, f.bool("cache")?);
    Ok(())
}

/// Writes the vector keys of a class into `out`.
pub(super) fn vectors_to_json(vectors: &VectorSetup, out: &mut Map<String, Value>) {
    match vectors {
        VectorSetup::Legacy { vectorizer, index } => {
            let vectorizer = vectorizer.as_deref().unwrap_or("none");
            out.insert("vectorizer".into(), json!(vectorizer));
            out.insert("vectorIndexType".into(), json!(index.kind_name()));
            out.insert("vectorIndexConfig".into(), index_to_json(index));
        }
        VectorSetup::Named(named) => {
            let config: Map<String, Value> = named
                .iter()
                .map(|(name, v)| {
                    let vector = json!({
                        "vectorizer": { v.vectorizer.module.clone(): v.vectorizer.settings },
                        "vectorIndexType": v.index.kind_name(),
                        "vectorIndexConfig": index_to_json(&v.index),
                    });
                    (name.clone(), vector)
                })
                .collect();
            out.insert("vectorConfig".into(), Value::Object(config));
        }
    }
}

/// `vectorIndexConfig` with every key.
pub(super) fn index_to_json(index: &VectorIndexConfig) -> Value {
    match index {
        VectorIndexConfig::Hnsw(c) => hnsw_to_json(c),
        VectorIndexConfig::Flat(c) => flat_to_json(c),
    }
}

fn hnsw_to_json(c: &HnswConfig) -> Value {
    json!({
        "skip": c.skip,
        "cleanupIntervalSeconds": c.cleanup_interval_seconds,
        "maxConnections": c.max_connections,
        "efConstruction": c.ef_construction,
        "ef": c.ef,
        "dynamicEfMin": c.dynamic_ef_min,
        "dynamicEfMax": c.dynamic_ef_max,
        "dynamicEfFactor": c.dynamic_ef_factor,
        "vectorCacheMaxObjects": c.vector_cache_max_objects,
        "flatSearchCutoff": c.flat_search_cutoff,
        "distance": c.distance.as_str(),
        "filterStrategy": c.filter_strategy.as_str(),
        "pq": {
            "enabled": c.pq.enabled,
            "bitCompression": c.pq.bit_compression,
            "segments": c.pq.segments,
            "centroids": c.pq.centroids,
            "trainingLimit": c.pq.training_limit,
            "encoder": {
                "type": c.pq.encoder.as_str(),
                "distribution": c.pq.distribution.as_str(),
            },
        },
        "bq": { "enabled": c.bq_enabled },
        "sq": {
            "enabled": c.sq.enabled,
            "trainingLimit": c.sq.training_limit,
            "rescoreLimit": c.sq.rescore_limit,
        },
        "rq": { "enabled": c.rq.enabled, "bits": c.rq.bits, "rescoreLimit": c.rq.rescore_limit },
        "multivector": {
            "enabled": c.multivector.enabled,
            "aggregation": c.multivector.aggregation,
            "muvera": {
                "enabled": c.multivector.muvera.enabled,
                "ksim": c.multivector.muvera.ksim,
                "dprojections": c.multivector.muvera.dprojections,
                "repetitions": c.multivector.muvera.repetitions,
            },
        },
        "skipDefaultQuantization": c.skip_default_quantization,
        "trackDefaultQuantization": c.track_default_quantization,
    })
}

fn flat_quantizer_to_json(q: &FlatQuantizer) -> Value {
    json!({ "enabled": q.enabled, "rescoreLimit": q.rescore_limit, "cache": q.cache })
}

fn flat_to_json(c: &FlatConfig) -> Value {
    let mut rq = flat_quantizer_to_json(&c.rq);
    if let Value::Object(map) = &mut rq {
        map.insert("bits".into(), json!(c.rq_bits));
    }
    json!({
        "distance": c.distance.as_str(),
        "vectorCacheMaxObjects": c.vector_cache_max_objects,
        "pq": flat_quantizer_to_json(&c.pq),
        "bq": flat_quantizer_to_json(&c.bq),
        "sq": flat_quantizer_to_json(&c.sq),
        "rq": rq,
        "skipDefaultQuantization": c.skip_default_quantization,
        "trackDefaultQuantization": c.track_default_quantization,
    })
}
