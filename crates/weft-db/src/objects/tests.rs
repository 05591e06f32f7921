use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::object::{ListRequest, ObjectInput, WriteMode};
use crate::schema::ShardState;
use crate::{Db, DbError, DbOptions};

fn open(dir: &std::path::Path, autoschema: bool) -> Db {
    let mut opts = DbOptions::new(dir, "node1");
    opts.autoschema = autoschema;
    opts.storage = opts.storage.background(false);
    Db::open(opts).unwrap()
}

fn input(class: &str, id: u128, props: Value, vector: Option<Vec<f32>>) -> ObjectInput {
    ObjectInput {
        class: class.into(),
        id: Some(Uuid::from_u128(id)),
        properties: props.as_object().cloned().unwrap_or_default(),
        vector,
        ..ObjectInput::default()
    }
}

#[test]
fn autoschema_creates_class_and_properties_then_objects_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), true);
    let obj = db
        .put_object(
            input(
                "article",
                1,
                json!({"title": "Hello World", "n": 2}),
                Some(vec![1.0, 0.0]),
            ),
            WriteMode::Insert,
        )
        .unwrap();
    assert_eq!(obj.class, "Article");
    let class = db.class("Article").unwrap();
    assert!(class.property("title").is_some() && class.property("n").is_some());
    let got = db
        .get_object("Article", Uuid::from_u128(1), true)
        .unwrap()
        .unwrap();
    assert_eq!(got.properties["title"], json!("Hello World"));
    assert_eq!(got.vectors[""], vec![1.0, 0.0]);
    let dup = db
        .put_object(input("Article", 1, json!({}), None), WriteMode::Insert)
        .unwrap_err();
    assert!(dup.to_string().contains("already exists"), "{dup}");
    let wrong_dims = db
        .put_object(
            input("Article", 2, json!({}), Some(vec![1.0])),
            WriteMode::Insert,
        )
        .unwrap_err();
    assert!(wrong_dims.to_string().contains("length 1"), "{wrong_dims}");
    assert!(db.verify().unwrap().is_clean());
    db.close().unwrap();

    let db = open(dir.path(), true);
    assert_eq!(db.object_count("Article"), 1);
    let again = db
        .get_object("Article", Uuid::from_u128(1), true)
        .unwrap()
        .unwrap();
    assert_eq!(again, got);
}

#[test]
fn without_autoschema_unknown_classes_and_properties_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), false);
    let err = db
        .put_object(input("Missing", 1, json!({}), None), WriteMode::Insert)
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    db.create_class(crate::schema::ClassDef::new("Known"))
        .unwrap();
    let err = db
        .put_object(input("Known", 1, json!({"x": 1}), None), WriteMode::Insert)
        .unwrap_err();
    assert!(
        err.to_string().contains("no such prop with name 'x'"),
        "{err}"
    );
}

#[test]
fn readonly_shard_refuses_writes_but_serves_reads() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), true);
    db.put_object(input("C", 1, json!({"a": "x"}), None), WriteMode::Insert)
        .unwrap();
    let shard = db.shards("C").unwrap()[0].name.clone();
    db.set_shard_status("C", &shard, ShardState::ReadOnly, "manually set by user")
        .unwrap();
    let err = db
        .put_object(input("C", 2, json!({"a": "y"}), None), WriteMode::Insert)
        .unwrap_err();
    assert!(matches!(err, DbError::Batch(_)));
    assert!(
        err.to_string()
            .contains("store is read-only due to: manually set by user"),
        "{err}"
    );
    assert!(db.delete_object("C", Uuid::from_u128(1)).is_err());
    assert!(
        db.get_object("C", Uuid::from_u128(1), false)
            .unwrap()
            .is_some()
    );
}

#[test]
fn list_pages_with_offset_and_after() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), true);
    let batch: Vec<_> = (1..=10)
        .map(|i| input("C", i, json!({"i": i}), None))
        .collect();
    assert!(
        db.put_objects(batch, WriteMode::Upsert)
            .iter()
            .all(Result::is_ok)
    );
    let ids = |objs: Vec<crate::object::StoredObject>| {
        objs.iter().map(|o| o.id.as_u128()).collect::<Vec<_>>()
    };
    let page = |offset, limit, after| {
        db.list_objects(
            &ListRequest {
                class: Some("C".into()),
                offset,
                limit,
                after,
                tenant: None,
            },
            false,
        )
        .unwrap()
    };
    assert_eq!(ids(page(0, 3, None)), [1, 2, 3]);
    assert_eq!(ids(page(8, 5, None)), [9, 10]);
    assert_eq!(ids(page(0, 2, Some(Uuid::from_u128(4)))), [5, 6]);
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8, bool),
    Merge(u8, u8),
    Delete(u8),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..6, 0u8..4, any::<bool>()).prop_map(|(id, v, f)| Op::Put(id, v, f)),
        2 => (0u8..6, 0u8..4).prop_map(|(id, v)| Op::Merge(id, v)),
        2 => (0u8..6).prop_map(Op::Delete),
        1 => Just(Op::Reopen),
    ]
}

fn props(v: u8, flag: bool) -> Value {
    json!({"color": format!("c{v} shade"), "size": v, "flag": flag, "tags": [format!("t{v}"), "all"]})
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Objects and the filterable index always agree with a map of the expected objects.
    #[test]
    fn objects_and_index_match_an_oracle(ops in proptest::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = open(dir.path(), true);
        let mut oracle: BTreeMap<u8, Map<String, Value>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Put(id, v, flag) => {
                    db.put_object(input("Thing", u128::from(id), props(v, flag), Some(vec![f32::from(v), 1.0])), WriteMode::Upsert).unwrap();
                    oracle.insert(id, props(v, flag).as_object().cloned().unwrap());
                }
                Op::Merge(id, v) => {
                    let res = db.put_object(input("Thing", u128::from(id), json!({"size": v}), None), WriteMode::Merge);
                    match oracle.get_mut(&id) {
                        Some(o) => { res.unwrap(); o.insert("size".into(), json!(v)); }
                        None => prop_assert!(res.is_err()),
                    }
                }
                Op::Delete(id) => {
                    if db.class("Thing").is_some() {
                        let existed = db.delete_object("Thing", Uuid::from_u128(u128::from(id))).unwrap();
                        prop_assert_eq!(existed, oracle.remove(&id).is_some());
                    }
                }
                Op::Reopen => {
                    db.close().unwrap();
                    db = open(dir.path(), true);
                }
            }
        }
        let report = db.verify().unwrap();
        prop_assert!(report.is_clean(), "{:?}", report.problems);
        for (id, expected) in &oracle {
            let got = db.get_object("Thing", Uuid::from_u128(u128::from(*id)), false).unwrap().unwrap();
            let mut got_props = got.properties.clone();
            // Autoschema infers numbers as `number`; compare numerically.
            for v in got_props.values_mut() { if let Some(f) = v.as_f64() { *v = json!(f); } }
            let mut want = expected.clone();
            for v in want.values_mut() { if let Some(f) = v.as_f64() { *v = json!(f); } }
            prop_assert_eq!(got_props, want);
        }
        prop_assert_eq!(db.object_count("Thing"), oracle.len() as u64);
    }
}

/// Regression: concurrent first writes to a missing class (autoschema) raced between the
/// catalog entry and the opened collection, failing some writers with "class not found".
#[test]
fn concurrent_autoschema_creation_of_one_class_never_fails_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(open(dir.path(), true));
    for round in 0..5 {
        let class = format!("Race{round}");
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (db, class) = (std::sync::Arc::clone(&db), class.clone());
                std::thread::spawn(move || {
                    db.put_object(
                        input(&class, t + 1, json!({"t": t}), None),
                        WriteMode::Upsert,
                    )
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        assert_eq!(db.object_count(&class), 8);
    }
}
