//! Class JSON in and out: the Python client's bodies, every default key it reads, round
//! trips, updates through GET-then-PUT, and 422s (never panics) on wrong JSON.

use proptest::prelude::*;
use serde_json::{Value, json};
use weft_db::error::UserError;
use weft_db::schema::{ShardState, ShardStatus};
use weft_db::{Db, DbError, DbOptions};

use super::*;
use crate::error::{ErrorCode, WireError};

fn db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(DbOptions::new(dir.path(), "node1")).unwrap();
    (dir, db)
}

/// POST /v1/schema as the server does it: parse, create, render.
fn create(db: &Db, body: Value) -> Result<Value, DbError> {
    let class = class_from_json(body)?;
    Ok(class_to_json(&db.create_class(class)?))
}

fn message(result: Result<impl std::fmt::Debug, DbError>) -> String {
    match result {
        Err(DbError::User(UserError::Invalid(m))) => m,
        other => panic!("expected a 422, got {other:?}"),
    }
}

fn legacy_body() -> Value {
    json!({"vectorIndexType":"hnsw","vectorIndexConfig":{"distance":"cosine"},"vectorizer":"none",
        "class":"Article","properties":[{"name":"title","dataType":["text"]},{"name":"count","dataType":["int"]},
        {"name":"price","dataType":["number"]},{"name":"flag","dataType":["boolean"]},{"name":"when","dataType":["date"]}]})
}

fn named_body() -> Value {
    json!({"vectorConfig":{"default":{"vectorizer":{"none":{}},"vectorIndexType":"flat","vectorIndexConfig":{"distance":"dot"}}},
        "class":"Article2","properties":[{"name":"title","dataType":["text"],"skip_vectorization":false,"vectorize_property_name":true}]})
}

/// Every key `collection.config.get()` indexes directly, with the default values that the
/// upstream tests assert.
fn assert_class_defaults(c: &Value) {
    let inv = &c["invertedIndexConfig"];
    assert_eq!(inv["bm25"], json!({"b": 0.75, "k1": 1.2}));
    assert_eq!(inv["cleanupIntervalSeconds"], 60);
    assert_eq!(
        inv["stopwords"],
        json!({"preset": "en", "additions": null, "removals": null})
    );
    for flag in ["indexTimestamps", "indexNullState", "indexPropertyLength"] {
        assert_eq!(inv[flag], false, "{flag}");
    }
    assert_eq!(inv["usingBlockMaxWAND"], true);
    assert_eq!(
        c["replicationConfig"],
        json!({"factor": 1, "asyncEnabled": false, "deletionStrategy": "TimeBasedResolution"})
    );
    assert_eq!(
        c["shardingConfig"],
        json!({"virtualPerPhysical": 128, "desiredCount": 1, "actualCount": 1,
            "desiredVirtualCount": 128, "actualVirtualCount": 128, "key": "_id",
            "strategy": "hash", "function": "murmur3"})
    );
    assert_eq!(
        c["multiTenancyConfig"],
        json!({"enabled": false, "autoTenantCreation": false, "autoTenantActivation": false})
    );
    assert!(c["properties"].is_array());
}

fn assert_hnsw_defaults(h: &Value, distance: &str) {
    let expected = json!({
        "skip": false, "cleanupIntervalSeconds": 300, "maxConnections": 32, "efConstruction": 128,
        "ef": -1, "dynamicEfMin": 100, "dynamicEfMax": 500, "dynamicEfFactor": 8,
        "vectorCacheMaxObjects": 1_000_000_000_000_u64, "flatSearchCutoff": 40000,
        "distance": distance, "filterStrategy": "acorn",
        "pq": {"enabled": false, "bitCompression": false, "segments": 0, "centroids": 256,
            "trainingLimit": 100000, "encoder": {"type": "kmeans", "distribution": "log-normal"}},
        "bq": {"enabled": false},
        "sq": {"enabled": false, "trainingLimit": 100000, "rescoreLimit": 20},
        "rq": {"enabled": false, "bits": 8, "rescoreLimit": 20},
        "multivector": {"enabled": false, "aggregation": "maxSim",
            "muvera": {"enabled": false, "ksim": 4, "dprojections": 16, "repetitions": 10}},
        "skipDefaultQuantization": false, "trackDefaultQuantization": false,
    });
    assert_eq!(h, &expected);
}

#[test]
fn legacy_class_from_the_python_client_gets_every_default() {
    let (_dir, db) = db();
    let c = create(&db, legacy_body()).unwrap();
    assert_eq!(c["class"], "Article");
    assert_class_defaults(&c);
    assert_eq!(c["vectorizer"], "none");
    assert_eq!(c["vectorIndexType"], "hnsw");
    assert_hnsw_defaults(&c["vectorIndexConfig"], "cosine");
    assert!(c.get("vectorConfig").is_none());
    let props = c["properties"].as_array().unwrap();
    assert_eq!(
        props[0],
        json!({"name": "title", "dataType": ["text"], "tokenization": "word",
            "indexFilterable": true, "indexSearchable": true, "indexRangeFilters": false})
    );
    for p in &props[1..] {
        assert_eq!(p["indexFilterable"], true, "{p}");
        assert_eq!(p["indexSearchable"], false, "{p}");
        assert_eq!(p["indexRangeFilters"], false, "{p}");
        assert!(
            p.get("tokenization").is_none(),
            "non-text has no tokenization: {p}"
        );
    }
}

#[test]
fn named_vector_class_comes_back_named_with_full_index_config() {
    let (_dir, db) = db();
    let c = create(&db, named_body()).unwrap();
    assert_class_defaults(&c);
    for key in ["vectorizer", "vectorIndexType", "vectorIndexConfig"] {
        assert!(c.get(key).is_none(), "no top-level {key}: {c}");
    }
    let v = &c["vectorConfig"]["default"];
    assert_eq!(v["vectorizer"], json!({"none": {}}));
    assert_eq!(v["vectorIndexType"], "flat");
    let off = json!({"enabled": false, "rescoreLimit": -1, "cache": false});
    let rq = json!({"enabled": false, "rescoreLimit": -1, "cache": false, "bits": 8});
    assert_eq!(
        v["vectorIndexConfig"],
        json!({"distance": "dot", "vectorCacheMaxObjects": 1_000_000_000_000_u64,
            "pq": off, "bq": off, "sq": off, "rq": rq,
            "skipDefaultQuantization": false, "trackDefaultQuantization": false})
    );
    let prop = &c["properties"][0];
    assert!(
        prop.get("skip_vectorization").is_none(),
        "unknown keys are dropped"
    );

    let hnsw = json!({"class": "Plain", "vectorConfig": {"default": {"vectorizer": {"none": {}},
        "vectorIndexType": "hnsw"}}});
    let c = create(&db, hnsw).unwrap();
    assert_hnsw_defaults(&c["vectorConfig"]["default"]["vectorIndexConfig"], "cosine");
}

/// Weaviate's parseRQMap: `bits: 1` without a `rescoreLimit` rescores 512 candidates; a
/// given limit is kept, and 8 bits keep the default 20.
#[test]
fn one_bit_rq_without_a_rescore_limit_rescores_512() {
    let (_dir, db) = db();
    for (name, rq, want) in [
        ("A", json!({"enabled": true, "bits": 1}), 512),
        (
            "B",
            json!({"enabled": true, "bits": 1, "rescoreLimit": 30}),
            30,
        ),
        ("C", json!({"enabled": true}), 20),
    ] {
        let c = create(&db, json!({"class": name, "vectorIndexConfig": {"rq": rq}})).unwrap();
        assert_eq!(c["vectorIndexConfig"]["rq"]["rescoreLimit"], want, "{name}");
    }
}

#[test]
fn minimal_class_defaults_to_legacy_hnsw_and_the_default_vectorizer() {
    let (_dir, db) = db();
    let c = create(&db, json!({"class": "minimal"})).unwrap();
    assert_eq!(c["class"], "Minimal");
    assert_eq!(c["vectorizer"], "none");
    assert_eq!(c["properties"], json!([]));
    assert_hnsw_defaults(&c["vectorIndexConfig"], "cosine");
    assert_class_defaults(&c);
}

fn rich_body() -> Value {
    json!({
        "class": "Rich", "description": "all of it",
        "moduleConfig": {"generative-openai": {"model": "gpt"}},
        "properties": [
            {"name": "title", "dataType": ["text"], "tokenization": "field", "description": "d",
             "moduleConfig": {"text2vec-x": {"skip": true}}},
            {"name": "tags", "dataType": ["text[]"], "indexFilterable": false},
            {"name": "n", "dataType": ["number"], "indexRangeFilters": true},
            {"name": "where", "dataType": ["geoCoordinates"]},
            {"name": "blob", "dataType": ["blob"]},
            {"name": "addr", "dataType": ["object"], "nestedProperties": [
                {"name": "street", "dataType": ["text"]},
                {"name": "inner", "dataType": ["object[]"], "nestedProperties": [
                    {"name": "n", "dataType": ["int"]}]}]},
            {"name": "self", "dataType": ["Rich"]},
        ],
        "vectorIndexType": "hnsw",
        "vectorIndexConfig": {"distance": "l2-squared", "maxConnections": 16, "ef": 100,
            "filterStrategy": "sweeping", "pq": {"enabled": true, "segments": 8,
            "encoder": {"type": "tile", "distribution": "normal"}},
            "multivector": {"enabled": true, "muvera": {"enabled": true, "ksim": 2}}},
        "invertedIndexConfig": {"bm25": {"k1": 1.1, "b": 0.6}, "cleanupIntervalSeconds": 30,
            "stopwords": {"preset": "none", "additions": ["x"], "removals": ["y"]},
            "indexTimestamps": true, "indexNullState": true, "indexPropertyLength": true},
        "replicationConfig": {"factor": 1, "deletionStrategy": "DeleteOnConflict"},
        "shardingConfig": {"virtualPerPhysical": 64},
    })
}

#[test]
fn json_round_trip_is_exact() {
    let (_dir, db) = db();
    for body in [legacy_body(), named_body(), rich_body()] {
        let stored = db.create_class(class_from_json(body).unwrap()).unwrap();
        let rendered = class_to_json(&stored);
        let reparsed = class_from_json(rendered.clone()).unwrap();
        assert_eq!(reparsed, stored, "{rendered}");
        assert_eq!(class_to_json(&reparsed), rendered);
        assert_eq!(db.class(&stored.name), Some(stored));
    }
    let rich = class_to_json(&db.class("Rich").unwrap());
    assert_eq!(rich["vectorIndexConfig"]["pq"]["encoder"]["type"], "tile");
    assert_eq!(rich["properties"][0]["tokenization"], "field");
    assert_eq!(
        rich["properties"][4]["indexFilterable"], false,
        "blobs are not filterable"
    );
    assert_eq!(rich["properties"][6]["dataType"], json!(["Rich"]));
    assert_eq!(rich["shardingConfig"]["desiredVirtualCount"], 64);
    assert_eq!(
        rich["invertedIndexConfig"]["stopwords"]["additions"],
        json!(["x"])
    );
}

#[test]
fn update_by_get_then_put_like_the_python_client() {
    let (_dir, db) = db();
    create(&db, legacy_body()).unwrap();
    let mut merged = class_to_json(&db.class("Article").unwrap());
    merged["description"] = json!("updated");
    merged["invertedIndexConfig"]["bm25"]["k1"] = json!(1.7);
    merged["vectorIndexConfig"]["ef"] = json!(256);
    merged["vectorIndexConfig"]["bq"]["enabled"] = json!(true);
    merged["replicationConfig"]["deletionStrategy"] = json!("NoAutomatedResolution");
    let updated = db
        .update_class("Article", class_from_json(merged.clone()).unwrap())
        .unwrap();
    assert_eq!(class_to_json(&updated), merged);

    let mut bad = merged.clone();
    bad["vectorIndexConfig"]["distance"] = json!("dot");
    let msg = message(db.update_class("Article", class_from_json(bad).unwrap()));
    assert_eq!(
        msg,
        "vectorIndexConfig: distance is immutable: attempted change from \"cosine\" to \"dot\""
    );
    let mut bad = merged;
    bad["properties"][0]["dataType"] = json!(["int"]);
    let msg = message(db.update_class("Article", class_from_json(bad).unwrap()));
    assert!(
        msg.contains("property \"title\": dataType is immutable"),
        "{msg}"
    );
}

#[test]
fn properties_in_and_out() {
    let (_dir, db) = db();
    create(&db, legacy_body()).unwrap();
    let body = json!({"name": "Summary", "dataType": ["text"], "skip_vectorization": true});
    let added = db
        .add_property("Article", property_from_json(body).unwrap())
        .unwrap();
    assert_eq!(
        property_to_json(&added),
        json!({"name": "summary", "dataType": ["text"], "tokenization": "word",
            "indexFilterable": true, "indexSearchable": true, "indexRangeFilters": false})
    );
    let legacy = property_from_json(json!({"name": "s", "dataType": ["string"]})).unwrap();
    let stored = db.add_property("Article", legacy).unwrap();
    assert_eq!(property_to_json(&stored)["dataType"], json!(["text"]));
    assert_eq!(property_to_json(&stored)["tokenization"], "whitespace");
    let inverted_off = json!({"name": "q", "dataType": ["int"], "indexInverted": false});
    let stored = db
        .add_property("Article", property_from_json(inverted_off).unwrap())
        .unwrap();
    assert_eq!(property_to_json(&stored)["indexFilterable"], false);
    let dup = property_from_json(json!({"name": "title", "dataType": ["text"]})).unwrap();
    assert_eq!(
        message(db.add_property("Article", dup)),
        "class \"Article\": conflict for property \"title\": already in use or provided multiple \
         times"
    );
}

#[test]
fn bad_input_is_a_422_naming_the_field() {
    let cases = [
        (json!("not an object"), "request body: expected an object"),
        (
            json!({"class": 42}),
            "class: expected a string, got a number (42)",
        ),
        (
            json!({"class": "A", "properties": "x"}),
            "properties: expected an array",
        ),
        (
            json!({"class": "A", "properties": ["x"]}),
            "property: expected an object",
        ),
        (
            json!({"class": "A", "properties": [{"name": "p"}]}),
            "property 'p': dataType is required",
        ),
        (
            json!({"class": "A", "properties": [{"name": "p", "dataType": []}]}),
            "property 'p': dataType must not be empty",
        ),
        (
            json!({"class": "A", "properties": [{"name": "p", "dataType": ["nonsense"]}]}),
            "property 'p': invalid dataType: unknown data type \"nonsense\"",
        ),
        (
            json!({"class": "A", "properties": [{"name": "p", "dataType": ["text", "int"]}]}),
            "must be given alone",
        ),
        (
            json!({"class": "A", "properties": [{"name": "p", "dataType": ["A", "int"]}]}),
            "cannot mix",
        ),
        (
            json!({"class": "A", "properties": [{"name": "p", "dataType": ["text"], "tokenization": "bogus"}]}),
            "unknown tokenization \"bogus\"",
        ),
        (
            json!({"class": "A", "properties": [{"name": "p", "dataType": ["text"], "indexFilterable": "yes"}]}),
            "property 'p': indexFilterable: expected a boolean",
        ),
        (
            json!({"class": "A", "properties": [{"name": "o", "dataType": ["object"], "nestedProperties": [{"name": "x", "dataType": [1]}]}]}),
            "property 'o.x': dataType: expected an array of strings",
        ),
        (
            json!({"class": "A", "vectorIndexConfig": {"distance": "euclid"}}),
            "vectorIndexConfig.distance: unsupported value \"euclid\"",
        ),
        (
            json!({"class": "A", "vectorIndexConfig": {"maxConnections": -1}}),
            "vectorIndexConfig.maxConnections: expected a non-negative integer",
        ),
        (
            json!({"class": "A", "vectorIndexConfig": {"ef": 1.5}}),
            "vectorIndexConfig.ef: expected an integer",
        ),
        (
            json!({"class": "A", "vectorIndexConfig": "hnsw"}),
            "vectorIndexConfig: expected an object",
        ),
        (
            json!({"class": "A", "vectorIndexType": "annoy"}),
            "unrecognized or unsupported vectorIndexType \"annoy\"",
        ),
        (
            json!({"class": "A", "vectorIndexType": "dynamic"}),
            "\"dynamic\" is not supported by this server",
        ),
        (
            json!({"class": "A", "vectorIndexType": "hnsw", "vectorConfig": {"v": {}}}),
            "cannot have both",
        ),
        (
            json!({"class": "A", "vectorConfig": {"v": {"vectorizer": {"a": {}, "b": {}}}}}),
            "vectorConfig.v.vectorizer: must name exactly one",
        ),
        (
            json!({"class": "A", "invertedIndexConfig": {"bm25": {"k1": "high"}}}),
            "invertedIndexConfig.bm25.k1: expected a number",
        ),
        (
            json!({"class": "A", "invertedIndexConfig": {"stopwords": {"preset": "fr"}}}),
            "invertedIndexConfig.stopwords.preset: unsupported value \"fr\"",
        ),
        (
            json!({"class": "A", "shardingConfig": {"strategy": "range"}}),
            "shardingConfig.strategy: unsupported value \"range\"",
        ),
        (
            json!({"class": "A", "replicationConfig": {"deletionStrategy": "Never"}}),
            "replicationConfig.deletionStrategy",
        ),
        (
            json!({"class": "A", "moduleConfig": []}),
            "moduleConfig: expected an object",
        ),
    ];
    for (body, expected) in cases {
        let msg = message(class_from_json(body.clone()));
        assert!(
            msg.contains(expected),
            "{body}: expected {expected:?} in {msg:?}"
        );
    }
}

#[test]
fn validation_messages_reach_the_client() {
    let (_dir, db) = db();
    create(&db, legacy_body()).unwrap();
    let cases = [
        (json!({"class": "1abc"}), "'1abc' is not a valid class name"),
        (json!({"class": ""}), "'' is not a valid class name"),
        (json!({"class": "raft"}), "'raft' is not a valid class name"),
        (
            json!({"class": "ARTICLE"}),
            "class name ARTICLE already exists: found similar class \"Article\"",
        ),
        (
            json!({"class": "T", "properties": [{"name": "p", "dataType": ["Nope"]}]}),
            "reference property to nonexistent class \"Nope\"",
        ),
        (
            json!({"class": "T", "properties": [{"name": "o", "dataType": ["object"]}]}),
            "at least one nested property is required",
        ),
        (
            json!({"class": "T", "vectorIndexConfig": {"maxConnections": 5000}}),
            "maxConnections must be between 4 and 2047",
        ),
        (
            json!({"class": "T", "properties": [{"name": "id", "dataType": ["text"]}]}),
            "'id' is a reserved property name",
        ),
    ];
    for (body, expected) in cases {
        let class = class_from_json(body.clone()).unwrap();
        let err = db.create_class(class).unwrap_err();
        let wire = WireError::from_db(&err);
        assert_eq!(wire.status, 422, "{body}");
        assert!(
            wire.message.contains(expected),
            "{body}: {:?}",
            wire.message
        );
    }
}

#[test]
fn error_table() {
    let cases: Vec<(DbError, ErrorCode, u16)> = vec![
        (
            UserError::Invalid("x".into()).into(),
            ErrorCode::InvalidInput,
            422,
        ),
        (
            UserError::AlreadyExists("x".into()).into(),
            ErrorCode::AlreadyExists,
            422,
        ),
        (
            UserError::ClassNotFound("X".into()).into(),
            ErrorCode::ClassNotFound,
            404,
        ),
        (
            UserError::ShardNotFound {
                class: "X".into(),
                shard: "s".into(),
            }
            .into(),
            ErrorCode::ShardNotFound,
            404,
        ),
        (DbError::Poisoned, ErrorCode::Poisoned, 500),
    ];
    for (err, code, status) in cases {
        let wire = WireError::from_db(&err);
        assert_eq!((wire.code, wire.status), (code, status), "{err:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schema.bin"), b"garbage").unwrap();
    let err = Db::open(DbOptions::new(dir.path(), "n")).unwrap_err();
    let wire = WireError::from_db(&err);
    assert_eq!((wire.code, wire.status), (ErrorCode::CorruptFile, 500));
    assert!(
        wire.message.contains("schema.bin") && wire.message.contains("shorter"),
        "{}",
        wire.message
    );
}

#[test]
fn shards_json() {
    let shards = [ShardStatus::ready("AbCdEf012345")];
    assert_eq!(
        shards_to_json(&shards, "node1"),
        json!([{"name": "AbCdEf012345", "status": "READY",
            "per_node_status": {"node1": "READY"}, "vectorQueueSize": 0}])
    );
    assert_eq!(
        shard_status_from_json(&json!({"status": "readonly"})).unwrap(),
        ShardState::ReadOnly
    );
    assert_eq!(
        shard_status_to_json(ShardState::ReadOnly),
        json!({"status": "READONLY"})
    );
    assert!(
        message(shard_status_from_json(&json!({"status": "LOADING"})))
            .contains("invalid storage status")
    );
    assert!(
        schema_to_json(&[])["classes"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-zA-Z_\\-\\[\\] ]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const KNOWN_PATHS: [&[&str]; 12] = [
    &["class"],
    &["properties"],
    &["vectorIndexConfig"],
    &["vectorIndexConfig", "pq"],
    &["vectorIndexType"],
    &["vectorConfig"],
    &["vectorConfig", "v", "vectorIndexConfig"],
    &["invertedIndexConfig", "bm25"],
    &["invertedIndexConfig", "stopwords"],
    &["shardingConfig"],
    &["replicationConfig", "factor"],
    &["multiTenancyConfig"],
];

proptest! {
    #[test]
    fn any_value_at_a_known_key_is_accepted_or_a_422(
        path_index in 0..KNOWN_PATHS.len(),
        value in arbitrary_json(),
    ) {
        let mut body = json!({"class": "Fuzz"});
        let mut slot = &mut body;
        for key in KNOWN_PATHS[path_index] {
            if !slot.is_object() {
                *slot = json!({});
            }
            slot = slot.as_object_mut().unwrap().entry(key.to_string()).or_insert(json!({}));
        }
        *slot = value;
        let (_dir, db) = db();
        match class_from_json(body).and_then(|c| db.create_class(c)) {
            Ok(stored) => prop_assert_eq!(class_from_json(class_to_json(&stored)).unwrap(), stored),
            Err(DbError::User(_)) => {}
            Err(other) => prop_assert!(false, "not a user error: {other:?}"),
        }
    }
}

#[test]
fn replication_async_config_is_validated_kept_and_returned() {
    let (dir, db) = db();
    let body = json!({"class": "Async", "replicationConfig": {"factor": 1, "asyncEnabled": true,
        "asyncConfig": {"frequency": 30000, "hashtreeHeight": 16, "propagationConcurrency": 4}}});
    let c = create(&db, body).unwrap();
    assert_eq!(
        c["replicationConfig"]["asyncConfig"],
        json!({"frequency": 30000, "hashtreeHeight": 16, "propagationConcurrency": 4})
    );
    let bad = json!({"class": "Bad", "replicationConfig": {"asyncConfig": {"hashtreeHeight": 99}}});
    assert!(message(create(&db, bad)).contains(
        "async replication config: hashtreeHeight: value 99 out of range: min 0, max 20"
    ));
    // Persisted: it survives a reopen.
    db.close().unwrap();
    let db = Db::open(weft_db::DbOptions::new(dir.path(), "node1")).unwrap();
    let stored = db.class("Async").unwrap();
    assert_eq!(
        stored.replication.async_config.get("frequency"),
        Some(&30000)
    );
}

#[test]
fn disable_duplicated_references_round_trips_and_is_omitted_when_false() {
    let p = property_from_json(json!({
        "name": "holds", "dataType": ["Author"], "disableDuplicatedReferences": true
    }))
    .unwrap();
    assert!(p.disable_duplicated_references);
    assert_eq!(
        property_to_json(&p)["disableDuplicatedReferences"],
        json!(true)
    );
    let plain = property_from_json(json!({"name": "holds", "dataType": ["Author"]})).unwrap();
    assert!(!plain.disable_duplicated_references);
    assert!(
        property_to_json(&plain)
            .get("disableDuplicatedReferences")
            .is_none()
    );
    assert!(
        property_from_json(json!({
            "name": "holds", "dataType": ["Author"], "disableDuplicatedReferences": "yes"
        }))
        .is_err()
    );
}
