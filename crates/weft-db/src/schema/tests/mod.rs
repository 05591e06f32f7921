//! Tests of the schema domain: validation, defaults, update rules, persistence.

use std::path::Path;

use proptest::prelude::*;

use super::validation::{normalize_class_name, normalize_property_name};
use super::*;
use crate::error::{Corruption, DbError, UserError};
use crate::{Db, DbOptions};

fn open(dir: &Path) -> Db {
    Db::open(DbOptions::new(dir, "node1")).expect("open")
}

fn text(name: &str) -> PropertyDef {
    PropertyDef::primitive(name, Primitive::Text)
}

fn class_with(name: &str, properties: Vec<PropertyDef>) -> ClassDef {
    ClassDef {
        properties,
        ..ClassDef::new(name)
    }
}

/// The 422 message of a failed call, or a panic if it did not fail that way.
fn invalid_message<T: std::fmt::Debug>(result: Result<T, DbError>) -> String {
    match result {
        Err(DbError::User(UserError::Invalid(m) | UserError::AlreadyExists(m))) => m,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn create_err(class: ClassDef) -> String {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    invalid_message(db.create_class(class))
}

fn hnsw(class: &mut ClassDef) -> &mut HnswConfig {
    match &mut class.vectors {
        VectorSetup::Legacy {
            index: VectorIndexConfig::Hnsw(h),
            ..
        } => h,
        other => panic!("not a legacy hnsw class: {other:?}"),
    }
}

// ---------------------------------------------------------------- names

#[test]
fn class_names_are_capitalised_and_checked() {
    assert_eq!(normalize_class_name("article").unwrap(), "Article");
    assert_eq!(normalize_class_name("Article_2").unwrap(), "Article_2");
    assert_eq!(normalize_class_name(&"A".repeat(255)).unwrap().len(), 255);
    for bad in [
        "",
        "1abc",
        "_Abc",
        "Bad-Name",
        "Ärger",
        "A b",
        &"A".repeat(256),
    ] {
        let err = normalize_class_name(bad).unwrap_err().to_string();
        assert_eq!(err, format!("'{bad}' is not a valid class name"));
    }
    for reserved in ["raft", "Raft", "RAFT"] {
        assert!(normalize_class_name(reserved).is_err(), "{reserved}");
    }
}

#[test]
fn property_names_are_lowercased_and_checked() {
    assert_eq!(normalize_property_name("Title").unwrap(), "title");
    assert_eq!(normalize_property_name("_under").unwrap(), "_under");
    assert_eq!(
        normalize_property_name(&"p".repeat(231)).unwrap().len(),
        231
    );
    assert!(normalize_property_name(&"p".repeat(232)).is_err());
    for bad in ["", "1a", "a-b", "a b"] {
        let err = normalize_property_name(bad).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("'{bad}' is not a valid property name")),
            "{err}"
        );
    }
    for reserved in ["id", "_id", "_additional", "Id"] {
        let err = normalize_property_name(reserved).unwrap_err().to_string();
        assert!(err.contains("reserved"), "{reserved}: {err}");
    }
    for suffix in validation::RESERVED_PROPERTY_SUFFIXES {
        let err = normalize_property_name(&format!("title{suffix}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("cannot end with '{suffix}'")),
            "{err}"
        );
    }
}

proptest! {
    #[test]
    fn names_matching_the_class_regex_are_accepted(name in "[A-Z][_0-9A-Za-z]{0,254}") {
        prop_assume!(!name.eq_ignore_ascii_case("raft"));
        prop_assert_eq!(normalize_class_name(&name).unwrap(), name);
    }

    #[test]
    fn a_lowercase_first_letter_is_upper_cased(name in "[a-z][_0-9A-Za-z]{0,254}") {
        prop_assume!(!name.eq_ignore_ascii_case("raft"));
        let normalized = normalize_class_name(&name).unwrap();
        prop_assert!(validation::is_valid_class_name(&normalized));
    }

    #[test]
    fn a_foreign_character_anywhere_is_refused(
        prefix in "[A-Z][_0-9A-Za-z]{0,20}",
        bad in "[^_0-9A-Za-z]",
        suffix in "[_0-9A-Za-z]{0,20}",
    ) {
        let name = format!("{prefix}{bad}{suffix}");
        prop_assert!(normalize_class_name(&name).is_err(), "accepted {name:?}");
        prop_assert!(normalize_property_name(&name).is_err(), "accepted {name:?}");
    }

    #[test]
    fn property_names_matching_the_regex_are_accepted(name in "[_a-z][_0-9A-Za-z]{0,230}") {
        let reserved = validation::RESERVED_PROPERTY_NAMES.contains(&name.as_str())
            || validation::RESERVED_PROPERTY_SUFFIXES.iter().any(|s| name.ends_with(s));
        prop_assert_eq!(normalize_property_name(&name).is_ok(), !reserved);
    }
}

// ---------------------------------------------------------------- class validation

#[test]
fn duplicate_classes_compare_case_insensitively() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(ClassDef::new("Article")).unwrap();
    let exact = invalid_message(db.create_class(ClassDef::new("article")));
    assert_eq!(exact, "class name Article already exists");
    let similar = invalid_message(db.create_class(ClassDef::new("ARTICLE")));
    assert_eq!(
        similar,
        "class name ARTICLE already exists: found similar class \"Article\""
    );
    assert_eq!(db.classes().len(), 1);
}

#[test]
fn duplicate_properties_are_refused() {
    let msg = create_err(class_with("Book", vec![text("title"), text("Title")]));
    assert_eq!(
        msg,
        "class \"Book\": conflict for property \"title\": already in use or provided multiple times"
    );
}

#[test]
fn property_rules() {
    let int = |name: &str| PropertyDef::primitive(name, Primitive::Int);
    let cases: Vec<(PropertyDef, &str)> = vec![
        (
            PropertyDef {
                tokenization: Some(Tokenization::Word),
                ..int("n")
            },
            "Tokenization 'word' is not allowed for data type 'int'",
        ),
        (
            PropertyDef {
                tokenization: Some(Tokenization::Gse),
                ..text("t")
            },
            "tokenization 'gse' is not supported",
        ),
        (
            PropertyDef {
                index_searchable: true,
                ..int("n")
            },
            "'indexSearchable' is not allowed",
        ),
        (
            PropertyDef {
                index_range_filters: true,
                ..text("t")
            },
            "'indexRangeFilters' is not allowed",
        ),
        (
            PropertyDef::primitive("o", Primitive::Object),
            "at least one nested property is required",
        ),
        (
            PropertyDef {
                nested_properties: vec![text("x")],
                ..int("n")
            },
            "nestedProperties are only allowed",
        ),
        (
            PropertyDef::new("r", DataType::Reference(vec!["Missing".into()])),
            "reference property to nonexistent class \"Missing\"",
        ),
        (
            PropertyDef {
                index_filterable: true,
                ..PropertyDef::primitive("b", Primitive::Blob)
            },
            "'indexFilterable' is not allowed",
        ),
    ];
    for (property, expected) in cases {
        let msg = create_err(class_with("Thing", vec![property.clone()]));
        assert!(msg.contains(expected), "{property:?}: {msg}");
    }
}

#[test]
fn nested_properties_are_checked() {
    let object = |nested: Vec<PropertyDef>| PropertyDef {
        nested_properties: nested,
        ..PropertyDef::primitive("o", Primitive::Object)
    };
    let reference = PropertyDef::new("r", DataType::Reference(vec!["Thing".into()]));
    let geo = PropertyDef::primitive("g", Primitive::GeoCoordinates);
    let bad_name = text("a-b");
    let twice = vec![text("x"), text("X")];
    for (nested, expected) in [
        (vec![reference], "reference data types are not allowed"),
        (vec![geo], "is not allowed in nested properties"),
        (vec![bad_name], "is not a valid nested property name"),
        (twice, "provided multiple times"),
    ] {
        let msg = create_err(class_with("Thing", vec![object(nested)]));
        assert!(msg.contains(expected), "{msg}");
    }
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let inner = object(vec![text("street")]);
    let stored = db
        .create_class(class_with("Thing", vec![object(vec![inner])]))
        .unwrap();
    let nested_text = &stored.properties[0].nested_properties[0].nested_properties[0];
    assert_eq!(
        nested_text.tokenization,
        Some(Tokenization::Word),
        "defaults reach nested text"
    );
}

#[test]
fn references_need_an_existing_class_or_self() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let self_ref = PropertyDef::new("parent", DataType::Reference(vec!["Node".into()]));
    db.create_class(class_with("Node", vec![self_ref])).unwrap();
    let to_node = PropertyDef::new("node", DataType::Reference(vec!["Node".into()]));
    db.create_class(class_with("Edge", vec![to_node])).unwrap();
    let to_both = PropertyDef::new("x", DataType::Reference(vec!["Node".into(), "Nope".into()]));
    let msg = invalid_message(db.create_class(class_with("Other", vec![to_both])));
    assert!(msg.contains("nonexistent class \"Nope\""), "{msg}");
}

#[test]
fn vector_index_rules() {
    let mut cases: Vec<(ClassDef, &str)> = Vec::new();
    let mut c = ClassDef::new("V");
    hnsw(&mut c).max_connections = 3;
    cases.push((
        c.clone(),
        "maxConnections must be between 4 and 2047, got 3",
    ));
    hnsw(&mut c).max_connections = 2048;
    cases.push((c, "maxConnections must be between 4 and 2047, got 2048"));
    let mut c = ClassDef::new("V");
    hnsw(&mut c).pq.enabled = true;
    hnsw(&mut c).bq_enabled = true;
    cases.push((
        c,
        "only one of pq, bq, sq, rq may be enabled, found: pq, bq",
    ));
    let mut c = ClassDef::new("V");
    hnsw(&mut c).rq.bits = 2;
    cases.push((c, "rq.bits must be 1, 4 or 8"));
    let mut c = ClassDef::new("V");
    hnsw(&mut c).ef = 0;
    cases.push((c, "ef must be -1"));
    let mut c = ClassDef::new("V");
    hnsw(&mut c).dynamic_ef_min = 600;
    cases.push((
        c,
        "dynamicEfMin (600) must not be greater than dynamicEfMax (500)",
    ));
    let mut flat = FlatConfig::default();
    flat.pq.enabled = true;
    let c = ClassDef {
        vectors: VectorSetup::Legacy {
            vectorizer: None,
            index: VectorIndexConfig::Flat(flat),
        },
        ..ClassDef::new("V")
    };
    cases.push((
        c,
        "vectorIndexConfig: PQ is not currently supported for flat indices",
    ));
    for (class, expected) in cases {
        let msg = create_err(class);
        assert!(msg.contains(expected), "expected {expected:?} in {msg:?}");
    }
}

fn named(name: &str, module: &str) -> VectorSetup {
    let vector = NamedVector {
        vectorizer: Vectorizer {
            module: module.into(),
            settings: serde_json::json!({}),
        },
        index: VectorIndexConfig::default(),
    };
    VectorSetup::Named([(name.to_string(), vector)].into())
}

#[test]
fn vectorizers_and_vector_names() {
    let with = |vectors| ClassDef {
        vectors,
        ..ClassDef::new("V")
    };
    let msg = create_err(with(named("a-b", "none")));
    assert!(msg.contains("'a-b' is not a valid vector name"), "{msg}");
    let msg = create_err(with(named("default", "text2vec-openai")));
    assert_eq!(
        msg,
        "vectorConfig \"default\": vectorizer: no module with name \"text2vec-openai\" present"
    );
    let legacy = VectorSetup::Legacy {
        vectorizer: Some("img2vec".into()),
        index: Default::default(),
    };
    let msg = create_err(with(legacy));
    assert_eq!(msg, "vectorizer: no module with name \"img2vec\" present");
    let msg = create_err(with(VectorSetup::Named(Default::default())));
    assert!(msg.contains("at least one named vector"), "{msg}");

    let dir = tempfile::tempdir().unwrap();
    let mut options = DbOptions::new(dir.path(), "n");
    options.schema_defaults.vectorizer_modules = vec!["text2vec-openai".into()];
    let db = Db::open(options).unwrap();
    db.create_class(with(named("default", "text2vec-openai")))
        .unwrap();
}

#[test]
fn class_setting_rules() {
    let mut c = ClassDef::new("C");
    c.inverted_index.bm25.b = 1.5;
    assert!(create_err(c).contains("bm25.b must be between 0 and 1, got 1.5"));
    let mut c = ClassDef::new("C");
    c.inverted_index.bm25.k1 = -1.0;
    assert!(create_err(c).contains("bm25.k1 must be >= 0"));
    let mut c = ClassDef::new("C");
    c.inverted_index.stopwords.additions = vec!["a".into(), "the".into()];
    c.inverted_index.stopwords.removals = vec!["the".into()];
    assert!(create_err(c).contains("found 'the' in both"));
    let mut c = ClassDef::new("C");
    c.replication.factor = 2;
    assert!(create_err(c).contains("1 available, 2 requested"));
    let mut c = ClassDef::new("C");
    c.sharding.desired_count = 2;
    assert!(create_err(c).contains("desiredCount 2 is greater than the number of nodes (1)"));
    let mut c = ClassDef::new("C");
    c.multi_tenancy.auto_tenant_creation = true;
    assert!(create_err(c).contains("can't enable autoTenantCreation on a non-multi-tenant class"));
    let mut c = ClassDef::new("C");
    c.multi_tenancy.auto_tenant_activation = true;
    assert!(
        create_err(c).contains("can't enable autoTenantActivation on a non-multi-tenant class")
    );
}

// ---------------------------------------------------------------- defaults

#[test]
fn create_fills_server_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let props = vec![
        text("title"),
        PropertyDef::primitive("count", Primitive::Int),
    ];
    let stored = db.create_class(class_with("article", props)).unwrap();
    assert_eq!(stored.name, "Article");
    assert_eq!(
        stored.vectors,
        VectorSetup::Legacy {
            vectorizer: Some("none".into()),
            index: Default::default()
        }
    );
    assert_eq!(stored.properties[0].tokenization, Some(Tokenization::Word));
    assert!(stored.properties[0].index_searchable);
    assert_eq!(stored.properties[1].tokenization, None);
    assert!(!stored.properties[1].index_searchable);
    assert!(stored.properties[1].index_filterable);
    assert_eq!(db.class("Article"), Some(stored.clone()));
    assert_eq!(
        db.class("article"),
        Some(stored),
        "lookup upper-cases the first letter"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut options = DbOptions::new(dir.path(), "n");
    options.schema_defaults.tokenization = Tokenization::Field;
    options.schema_defaults.vectorizer = "text2vec-x".into();
    options.schema_defaults.vectorizer_modules = vec!["text2vec-x".into()];
    let db = Db::open(options).unwrap();
    let stored = db.create_class(class_with("A", vec![text("t")])).unwrap();
    assert_eq!(stored.properties[0].tokenization, Some(Tokenization::Field));
    assert!(
        matches!(stored.vectors, VectorSetup::Legacy { vectorizer: Some(ref v), .. } if v == "text2vec-x")
    );
}

/// `DEFAULT_QUANTIZATION`: every index that enables no quantizer and does not skip the default
/// gets it, tracked; the others keep theirs, untracked; updates keep both flags.
#[test]
fn default_quantization_fills_indexes_that_enable_none() {
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().unwrap();
    let mut options = DbOptions::new(dir.path(), "n");
    options.schema_defaults.quantization = DefaultQuantization::Rq1;
    let db = Db::open(options).unwrap();
    let index = |v: &VectorSetup, name: &str| -> VectorIndexConfig {
        v.indexes()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| c.clone())
            .unwrap()
    };
    let plain = db.create_class(ClassDef::new("Plain")).unwrap();
    let VectorIndexConfig::Hnsw(h) = index(&plain.vectors, "") else {
        panic!("hnsw")
    };
    assert_eq!(
        (h.rq.enabled, h.rq.bits, h.rq.rescore_limit),
        (true, 1, 512)
    );
    assert!(h.track_default_quantization);

    let mut own = ClassDef::new("Own");
    hnsw(&mut own).sq.enabled = true;
    hnsw(&mut own).track_default_quantization = true;
    let own = db.create_class(own).unwrap();
    let VectorIndexConfig::Hnsw(h) = index(&own.vectors, "") else {
        panic!("hnsw")
    };
    assert_eq!((h.sq.enabled, h.rq.enabled), (true, false));
    assert!(!h.track_default_quantization, "not the server's default");

    let mut skip = ClassDef::new("Skip");
    hnsw(&mut skip).skip_default_quantization = true;
    let skip = db.create_class(skip).unwrap();
    let VectorIndexConfig::Hnsw(h) = index(&skip.vectors, "") else {
        panic!("hnsw")
    };
    assert!(h.enabled_quantizers().is_empty() && !h.track_default_quantization);

    let mut vectors = BTreeMap::new();
    for (name, config) in [
        ("a", VectorIndexConfig::Hnsw(HnswConfig::default())),
        ("b", VectorIndexConfig::Flat(FlatConfig::default())),
    ] {
        vectors.insert(
            name.to_string(),
            NamedVector {
                vectorizer: Vectorizer::none(),
                index: config,
            },
        );
    }
    let named = db
        .create_class(ClassDef {
            vectors: VectorSetup::Named(vectors),
            ..ClassDef::new("Named")
        })
        .unwrap();
    let VectorIndexConfig::Flat(f) = index(&named.vectors, "b") else {
        panic!("flat")
    };
    assert_eq!((f.rq.enabled, f.rq_bits, f.rq.rescore_limit), (true, 1, -1));
    assert!(f.track_default_quantization);
    assert!(matches!(index(&named.vectors, "a"), VectorIndexConfig::Hnsw(h) if h.rq.bits == 1));

    // An update cannot change the two flags.
    let mut update = plain.clone();
    hnsw(&mut update).track_default_quantization = false;
    hnsw(&mut update).skip_default_quantization = true;
    let updated = db.update_class("Plain", update).unwrap();
    assert_eq!(updated, plain);

    // Flat indexes take rq and bq only; pq and sq leave them uncompressed.
    let mut flat = FlatConfig::default();
    let mut c = VectorIndexConfig::Flat(flat.clone());
    c.apply_default_quantization(DefaultQuantization::Sq);
    assert_eq!(c, VectorIndexConfig::Flat(flat.clone()));
    flat.bq.enabled = true;
    flat.track_default_quantization = true;
    let mut c = VectorIndexConfig::Flat(FlatConfig::default());
    c.apply_default_quantization(DefaultQuantization::Bq);
    assert_eq!(c, VectorIndexConfig::Flat(flat));

    for (s, want) in [
        (" RQ-8 ", Ok(DefaultQuantization::Rq8)),
        ("", Ok(DefaultQuantization::None)),
        ("pq", Ok(DefaultQuantization::Pq)),
    ] {
        assert_eq!(DefaultQuantization::parse(s), want);
    }
    assert_eq!(
        DefaultQuantization::parse("rq-4"),
        Ok(DefaultQuantization::Rq4)
    );
    assert!(DefaultQuantization::parse("zq").is_err());
}

#[test]
fn domain_defaults_match_weaviate() {
    let h = HnswConfig::default();
    assert_eq!(
        (
            h.skip,
            h.cleanup_interval_seconds,
            h.max_connections,
            h.ef_construction,
            h.ef
        ),
        (false, 300, 32, 128, -1)
    );
    assert_eq!(
        (h.dynamic_ef_min, h.dynamic_ef_max, h.dynamic_ef_factor),
        (100, 500, 8)
    );
    assert_eq!(
        (h.vector_cache_max_objects, h.flat_search_cutoff),
        (1_000_000_000_000, 40_000)
    );
    assert_eq!(
        (h.distance, h.filter_strategy),
        (Distance::Cosine, FilterStrategy::Acorn)
    );
    assert!(h.enabled_quantizers().is_empty());
    let i = InvertedIndexConfig::default();
    assert_eq!(
        (i.cleanup_interval_seconds, i.bm25.k1, i.bm25.b),
        (60, 1.2, 0.75)
    );
    assert!(i.using_block_max_wand && !i.index_timestamps && !i.index_null_state);
    let s = ShardingConfig::default();
    assert_eq!(
        (s.virtual_per_physical, s.desired_count, s.virtual_count()),
        (128, 1, 128)
    );
    assert_eq!(
        ReplicationConfig::default().deletion_strategy,
        DeletionStrategy::TimeBasedResolution
    );
    assert!(!PropertyDef::primitive("b", Primitive::Blob).index_filterable);
}

// ---------------------------------------------------------------- properties and shards

#[test]
fn add_property() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(class_with("Book", vec![text("title")]))
        .unwrap();
    let added = db.add_property("book", text("Summary")).unwrap();
    assert_eq!(added.name, "summary");
    assert_eq!(added.tokenization, Some(Tokenization::Word));
    let msg = invalid_message(db.add_property("Book", text("TITLE")));
    assert_eq!(
        msg,
        "class \"Book\": conflict for property \"tITLE\": already in use or provided multiple times"
    );
    let to_missing = PropertyDef::new("x", DataType::Reference(vec!["Nope".into()]));
    assert!(invalid_message(db.add_property("Book", to_missing)).contains("nonexistent class"));
    let self_ref = PropertyDef::new("related", DataType::Reference(vec!["Book".into()]));
    db.add_property("Book", self_ref).unwrap();
    assert!(matches!(
        db.add_property("Nope", text("x")),
        Err(DbError::User(UserError::ClassNotFound(_)))
    ));
    db.close().unwrap();
    let db = open(dir.path());
    let names: Vec<String> = db
        .class("Book")
        .unwrap()
        .properties
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["title", "summary", "related"]);
}

#[test]
fn one_ready_shard_per_class() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(ClassDef::new("A")).unwrap();
    let shards = db.shards("A").unwrap();
    assert_eq!(shards.len(), 1);
    assert_eq!(shards[0].name.len(), SHARD_NAME_LEN);
    assert_eq!(shards[0].status, ShardState::Ready);
    let name = shards[0].name.clone();
    let set = db
        .set_shard_status("a", &name, ShardState::ReadOnly, reason::MANUAL)
        .unwrap();
    assert_eq!(
        (set.status, set.reason.as_str()),
        (ShardState::ReadOnly, reason::MANUAL)
    );
    assert_eq!(db.shards("A").unwrap()[0].status, ShardState::ReadOnly);
    assert!(matches!(
        db.set_shard_status("A", "nope", ShardState::Ready, reason::MANUAL),
        Err(DbError::User(UserError::ShardNotFound { .. }))
    ));
    assert!(matches!(
        db.shards("B"),
        Err(DbError::User(UserError::ClassNotFound(_)))
    ));
    db.close().unwrap();
    let db = open(dir.path());
    let reopened = db.shards("A").unwrap();
    assert_eq!(reopened[0].name, name, "shard names are persisted");
    assert_eq!(
        (reopened[0].status, reopened[0].reason.as_str()),
        (ShardState::ReadOnly, reason::MANUAL),
        "a READONLY set by hand is persisted (decision 0007)"
    );
}

#[test]
fn concurrent_creates_of_one_name_admit_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(open(dir.path()));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let db = std::sync::Arc::clone(&db);
            let name = if i % 2 == 0 { "Race" } else { "race" };
            std::thread::spawn(move || db.create_class(ClassDef::new(name)).is_ok())
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok);
    assert_eq!(wins.count(), 1);
    assert_eq!(db.classes().len(), 1);
}

mod persistence;
mod update;
