//! `PUT /v1/schema/{class}` rules: mutable fields change, immutable ones are refused.

use super::*;

fn setup() -> (tempfile::TempDir, Db, ClassDef) {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let stored = db
        .create_class(class_with("Article", vec![text("title")]))
        .unwrap();
    (dir, db, stored)
}

fn update_err(db: &Db, class: ClassDef) -> String {
    invalid_message(db.update_class("Article", class))
}

#[test]
fn mutable_fields_change_and_persist() {
    let (dir, db, stored) = setup();
    let mut next = stored.clone();
    next.description = "news".into();
    next.inverted_index.bm25.k1 = 1.5;
    next.inverted_index.stopwords.additions = vec!["foo".into()];
    next.inverted_index.cleanup_interval_seconds = 90;
    next.module_config = Some(serde_json::json!({"generative-x": {}}));
    next.properties[0].description = "headline".into();
    let h = hnsw(&mut next);
    h.ef = 64;
    h.dynamic_ef_max = 800;
    h.flat_search_cutoff = 10;
    h.vector_cache_max_objects = 5;
    h.pq.enabled = true;
    let updated = db.update_class("article", next.clone()).unwrap();
    assert_eq!(updated, next);
    db.close().unwrap();
    let db = open(dir.path());
    assert_eq!(db.class("Article"), Some(next));
}

#[test]
fn missing_class_is_not_found() {
    let (_dir, db, stored) = setup();
    let result = db.update_class("Nope", stored);
    assert!(
        matches!(result, Err(DbError::User(UserError::ClassNotFound(_)))),
        "{result:?}"
    );
}

#[test]
fn empty_properties_keep_the_stored_ones() {
    let (_dir, db, stored) = setup();
    let next = ClassDef {
        properties: Vec::new(),
        ..stored.clone()
    };
    assert_eq!(
        db.update_class("Article", next).unwrap().properties,
        stored.properties
    );
}

#[test]
fn immutable_fields_are_refused_with_their_name() {
    let (_dir, db, stored) = setup();
    let mut cases: Vec<(ClassDef, &str)> = Vec::new();
    cases.push((
        ClassDef {
            name: "Other".into(),
            ..stored.clone()
        },
        "class name is immutable",
    ));
    let mut c = stored.clone();
    hnsw(&mut c).distance = Distance::Dot;
    cases.push((
        c,
        "distance is immutable: attempted change from \"cosine\" to \"dot\"",
    ));
    let mut c = stored.clone();
    hnsw(&mut c).max_connections = 64;
    cases.push((c, "maxConnections is immutable"));
    let mut c = stored.clone();
    hnsw(&mut c).ef_construction = 64;
    cases.push((c, "efConstruction is immutable"));
    let c = ClassDef {
        vectors: VectorSetup::Legacy {
            vectorizer: Some("none".into()),
            index: VectorIndexConfig::Flat(FlatConfig::default()),
        },
        ..stored.clone()
    };
    cases.push((
        c,
        "vectorIndexType is immutable: attempted change from \"hnsw\" to \"flat\"",
    ));
    cases.push((
        ClassDef {
            vectors: named("default", "none"),
            ..stored.clone()
        },
        "cannot change between",
    ));
    let mut c = stored.clone();
    c.properties.push(text("extra"));
    cases.push((c, "properties cannot be updated through updating the class"));
    let mut c = stored.clone();
    c.properties[0].data_type = DataType::Primitive(Primitive::Int);
    cases.push((c, "property \"title\": dataType is immutable"));
    let mut c = stored.clone();
    c.properties[0].tokenization = Some(Tokenization::Field);
    cases.push((c, "property \"title\": tokenization is immutable"));
    let mut c = stored.clone();
    c.properties[0].index_filterable = false;
    cases.push((c, "property \"title\": indexFilterable is immutable"));
    let mut c = stored.clone();
    c.inverted_index.index_timestamps = true;
    cases.push((c, "invertedIndexConfig.indexTimestamps is immutable"));
    let mut c = stored.clone();
    c.sharding.virtual_per_physical = 64;
    cases.push((c, "shardingConfig is immutable"));
    let mut c = stored.clone();
    if let VectorSetup::Legacy { vectorizer, .. } = &mut c.vectors {
        *vectorizer = Some("text2vec-x".into());
    }
    cases.push((c, "vectorizer is immutable"));
    let mut c = stored.clone();
    c.replication.factor = 3;
    cases.push((c, "1 available, 3 requested"));
    for (class, expected) in cases {
        let msg = update_err(&db, class);
        assert!(msg.contains(expected), "expected {expected:?} in {msg:?}");
    }
    assert_eq!(
        db.class("Article"),
        Some(stored),
        "refused updates change nothing"
    );
}

#[test]
fn quantizers_can_be_enabled_but_not_disabled() {
    let (_dir, db, stored) = setup();
    let mut with_bq = stored.clone();
    hnsw(&mut with_bq).bq_enabled = true;
    db.update_class("Article", with_bq.clone()).unwrap();
    let msg = update_err(&db, stored);
    assert!(msg.contains("bq cannot be disabled once enabled"), "{msg}");
    let mut switched = with_bq;
    hnsw(&mut switched).bq_enabled = false;
    hnsw(&mut switched).pq.enabled = true;
    assert!(update_err(&db, switched).contains("bq cannot be disabled"));
}

/// A class on a flat index whose config `f` adjusts.
fn flat_class(name: &str, f: impl Fn(&mut FlatConfig)) -> ClassDef {
    let mut class = class_with(name, vec![text("title")]);
    let mut flat = FlatConfig::default();
    f(&mut flat);
    class.vectors = VectorSetup::Legacy {
        vectorizer: Some("none".into()),
        index: VectorIndexConfig::Flat(flat),
    };
    class
}

#[test]
fn flat_indexes_follow_weaviates_update_rules() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let stored = db
        .create_class(flat_class("Article", |c| c.bq.enabled = true))
        .unwrap();
    let with = |f: &dyn Fn(&mut FlatConfig)| {
        let mut next = stored.clone();
        if let VectorSetup::Legacy {
            index: VectorIndexConfig::Flat(c),
            ..
        } = &mut next.vectors
        {
            f(c);
        }
        next
    };
    // rescoreLimit and the bq cache may change.
    let next = with(&|c| {
        c.bq.rescore_limit = 50;
        c.bq.cache = true;
    });
    assert_eq!(db.update_class("Article", next.clone()).unwrap(), next);
    let msg = update_err(&db, with(&|c| c.bq.enabled = false));
    assert!(
        msg.contains("bq is immutable: attempted change from \"true\" to \"false\""),
        "{msg}"
    );
    let msg = update_err(&db, with(&|c| c.pq.cache = true));
    assert!(msg.contains("pq.cache is immutable"), "{msg}");
    let msg = invalid_message(db.create_class(flat_class("Other", |c| c.sq.cache = true)));
    assert!(
        msg.contains("not possible to use the cache without compression"),
        "{msg}"
    );
    let msg = update_err(&db, with(&|c| c.rq_bits = 1));
    assert!(
        msg.contains("rq.bits is immutable: attempted change from \"8\" to \"1\""),
        "{msg}"
    );
}

#[test]
fn named_vectors_keep_their_set_and_vectorizers() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let stored = db
        .create_class(ClassDef {
            vectors: named("default", "none"),
            ..ClassDef::new("N")
        })
        .unwrap();
    let msg = invalid_message(db.update_class(
        "N",
        ClassDef {
            vectors: named("other", "none"),
            ..stored.clone()
        },
    ));
    assert!(
        msg.contains("named vectors cannot be added or removed"),
        "{msg}"
    );
    let mut next = stored.clone();
    if let VectorSetup::Named(vectors) = &mut next.vectors {
        let vector = vectors.get_mut("default").unwrap();
        if let VectorIndexConfig::Hnsw(h) = &mut vector.index {
            h.ef = 99;
        }
    }
    assert_eq!(db.update_class("N", next.clone()).unwrap(), next);
}
