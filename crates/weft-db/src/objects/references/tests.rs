//! Reference writes and reference filters against a model: which book holds which beacons.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use super::BatchReference;
use crate::object::{ObjectInput, WriteMode};
use crate::query::{Filter, FilterValue, Operator, Query, Target};
use crate::schema::{ClassDef, DataType, PropertyDef};
use crate::{Db, DbOptions};

const AUTHORS: u128 = 6;
const BOOKS: u128 = 8;

fn open(dir: &std::path::Path) -> Db {
    let mut opts = DbOptions::new(dir, "node1");
    opts.autoschema = false;
    opts.storage = opts.storage.background(false);
    Db::open(opts).unwrap()
}

fn author(i: u128) -> Uuid {
    Uuid::from_u128(0xA000 + i)
}

fn book(i: u128) -> Uuid {
    Uuid::from_u128(0xB000 + i)
}

fn beacon(i: u128) -> String {
    format!("weaviate://localhost/Author/{}", author(i))
}

fn schema(db: &Db) {
    let mut a = ClassDef::new("Author");
    a.properties = vec![
        PropertyDef::new("name", DataType::Primitive(crate::schema::Primitive::Text)),
        PropertyDef::new("age", DataType::Primitive(crate::schema::Primitive::Int)),
    ];
    db.create_class(a).unwrap();
    let mut b = ClassDef::new("Book");
    b.properties = vec![
        PropertyDef::new("title", DataType::Primitive(crate::schema::Primitive::Text)),
        PropertyDef::new("writtenBy", DataType::Reference(vec!["Author".into()])),
    ];
    db.create_class(b).unwrap();
}

fn seed(db: &Db) {
    let authors = (0..AUTHORS)
        .map(|i| ObjectInput {
            class: "Author".into(),
            id: Some(author(i)),
            properties: json!({"name": format!("a{i}"), "age": i as i64 * 10})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..ObjectInput::default()
        })
        .collect();
    assert!(
        db.put_objects(authors, WriteMode::Insert)
            .iter()
            .all(Result::is_ok)
    );
    let books = (0..BOOKS)
        .map(|i| ObjectInput {
            class: "Book".into(),
            id: Some(book(i)),
            properties: json!({"title": format!("b{i}")})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..ObjectInput::default()
        })
        .collect();
    assert!(
        db.put_objects(books, WriteMode::Insert)
            .iter()
            .all(Result::is_ok)
    );
}

fn stored(db: &Db, b: u128) -> Vec<String> {
    let obj = db.get_object("Book", book(b), false).unwrap().unwrap();
    match obj.properties.get("writtenBy") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|r| r["beacon"].as_str().unwrap().to_string())
            .collect(),
        _ => Vec::new(),
    }
}

fn matching(db: &Db, filter: Filter) -> Vec<u128> {
    let hits = db
        .search(&Query {
            class: "Book".into(),
            limit: 1000,
            filter: Some(filter),
            ..Query::default()
        })
        .unwrap();
    let mut out: Vec<u128> = hits
        .iter()
        .map(|h| h.object.id.as_u128() - 0xB000)
        .collect();
    out.sort_unstable();
    out
}

fn count_filter(op: Operator, n: i64) -> Filter {
    Filter::Condition {
        target: Target::RefCount("writtenBy".into()),
        op,
        value: FilterValue::Int(n),
    }
}

fn by_age(op: Operator, n: i64) -> Filter {
    Filter::Condition {
        target: Target::Reference {
            on: "writtenBy".into(),
            class: None,
            target: Box::new(Target::Property("age".into())),
        },
        op,
        value: FilterValue::Int(n),
    }
}

fn compare(op: Operator, have: i64, want: i64) -> bool {
    match op {
        Operator::Equal => have == want,
        Operator::NotEqual => have != want,
        Operator::GreaterThan => have > want,
        Operator::GreaterThanEqual => have >= want,
        Operator::LessThan => have < want,
        _ => have <= want,
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add(u128, u128),
    Batch(Vec<(u128, u128)>),
    Replace(u128, Vec<u128>),
    Remove(u128, u128),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let b = 0..BOOKS;
    let a = 0..AUTHORS;
    prop_oneof![
        3 => (b.clone(), a.clone()).prop_map(|(b, a)| Op::Add(b, a)),
        3 => prop::collection::vec((0..BOOKS, 0..AUTHORS), 1..6).prop_map(Op::Batch),
        1 => (b.clone(), prop::collection::vec(0..AUTHORS, 0..4)).prop_map(|(b, l)| Op::Replace(b, l)),
        2 => (b, a).prop_map(|(b, a)| Op::Remove(b, a)),
        1 => Just(Op::Reopen),
    ]
}

fn ops() -> [Operator; 6] {
    [
        Operator::Equal,
        Operator::NotEqual,
        Operator::GreaterThan,
        Operator::GreaterThanEqual,
        Operator::LessThan,
        Operator::LessThanEqual,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Every way of changing references keeps the stored beacons equal to a model, and the
    /// reference-count and reference-path filters (through the index) equal the model's answer,
    /// across reopens; `verify` stays clean.
    #[test]
    fn reference_writes_and_filters_follow_the_model(steps in prop::collection::vec(op(), 1..14)) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = open(dir.path());
        schema(&db);
        seed(&db);
        let mut model: BTreeMap<u128, Vec<u128>> = (0..BOOKS).map(|b| (b, Vec::new())).collect();
        for step in steps {
            match step {
                Op::Add(b, a) => {
                    db.add_reference("Book", book(b), "writtenBy", &json!({"beacon": beacon(a)}), None).unwrap();
                    model.get_mut(&b).unwrap().push(a);
                }
                Op::Batch(pairs) => {
                    let refs: Vec<BatchReference> = pairs.iter().map(|&(b, a)| BatchReference {
                        from: format!("weaviate://localhost/Book/{}/writtenBy", book(b)),
                        // Class-less: completed to the property's only target.
                        to: format!("weaviate://localhost/{}", author(a)),
                        tenant: None,
                    }).collect();
                    for r in db.add_references(&refs) {
                        r.unwrap();
                    }
                    for (b, a) in pairs {
                        model.get_mut(&b).unwrap().push(a);
                    }
                }
                Op::Replace(b, list) => {
                    let body: Vec<Value> = list.iter().map(|&a| json!({"beacon": beacon(a)})).collect();
                    db.replace_references("Book", book(b), "writtenBy", &Value::Array(body), None).unwrap();
                    model.insert(b, list);
                }
                Op::Remove(b, a) => {
                    db.delete_reference("Book", book(b), "writtenBy", &json!({"beacon": beacon(a)}), None).unwrap();
                    model.get_mut(&b).unwrap().retain(|&x| x != a);
                }
                Op::Reopen => {
                    db.close().unwrap();
                    db = open(dir.path());
                }
            }
            for (&b, authors) in &model {
                let want: Vec<String> = authors.iter().map(|&a| beacon(a)).collect();
                prop_assert_eq!(stored(&db, b), want, "book {}", b);
            }
            for op in ops() {
                for n in [0i64, 1, 2] {
                    let want: Vec<u128> = model.iter()
                        .filter(|(_, l)| compare(op, l.len() as i64, n))
                        .map(|(&b, _)| b).collect();
                    prop_assert_eq!(matching(&db, count_filter(op, n)), want, "count {:?} {}", op, n);
                }
                let age = 20;
                let want: Vec<u128> = model.iter()
                    .filter(|(_, l)| l.iter().any(|&a| compare(op, a as i64 * 10, age)))
                    .map(|(&b, _)| b).collect();
                prop_assert_eq!(matching(&db, by_age(op, age)), want, "age {:?}", op);
            }
        }
        let report = db.verify().unwrap();
        prop_assert!(report.is_clean(), "{:?}", report.problems);
        db.close().unwrap();
    }
}

#[test]
fn errors_name_the_cause_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    schema(&db);
    seed(&db);
    let missing = format!("weaviate://localhost/Author/{}", Uuid::from_u128(0xE000));
    let err = db
        .add_reference(
            "Book",
            book(0),
            "writtenBy",
            &json!({"beacon": missing}),
            None,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "validate reference: no object with id {} found",
            Uuid::from_u128(0xE000)
        )
    );
    let err = db
        .add_reference(
            "Book",
            book(0),
            "title",
            &json!({"beacon": beacon(0)}),
            None,
        )
        .unwrap_err();
    assert!(err.to_string().contains("is not a reference-type"), "{err}");
    let err = db
        .add_reference(
            "Book",
            book(99),
            "writtenBy",
            &json!({"beacon": beacon(0)}),
            None,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            crate::DbError::User(crate::error::UserError::ObjectNotFound { .. })
        ),
        "{err}"
    );
    let err = db
        .add_reference(
            "Nope",
            book(0),
            "writtenBy",
            &json!({"beacon": beacon(0)}),
            None,
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("collection \"Nope\" not found in schema"),
        "{err}"
    );
    let err = db
        .add_reference(
            "Book",
            book(0),
            "writtenBy",
            &json!({"beacon": "weaviate://localhost/Author/x"}),
            None,
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid reference: invalid cref URI"),
        "{err}"
    );
    // An object write naming a missing target fails whole; one naming an object of the same
    // call succeeds.
    let write = |id: u128, target: Uuid| ObjectInput {
        class: "Book".into(),
        id: Some(book(id)),
        properties:
            json!({"writtenBy": [{"beacon": format!("weaviate://localhost/Author/{target}")}]})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ..ObjectInput::default()
    };
    let err = db
        .put_object(write(50, Uuid::from_u128(0xE000)), WriteMode::Insert)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("'cref' Book:writtenBy: no object with id"),
        "{err}"
    );
    assert!(db.get_object("Book", book(50), false).unwrap().is_none());
    let new_author = ObjectInput {
        class: "Author".into(),
        id: Some(author(77)),
        ..ObjectInput::default()
    };
    let results = db.put_objects(vec![write(51, author(77)), new_author], WriteMode::Upsert);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // Batch references: per-item errors, targets unchecked.
    let results = db.add_references(&[
        BatchReference {
            from: format!("weaviate://localhost/Book/{}/writtenBy", book(1)),
            to: missing.clone(),
            tenant: None,
        },
        BatchReference {
            from: format!("weaviate://localhost/Book/{}/writtenBy", book(99)),
            to: beacon(0),
            tenant: None,
        },
        BatchReference {
            from: format!("weaviate://localhost/Book/{}/nope", book(1)),
            to: beacon(0),
            tenant: None,
        },
        BatchReference {
            from: format!("weaviate://localhost/Book/{}", book(1)),
            to: beacon(0),
            tenant: None,
        },
    ]);
    assert!(results[0].is_ok());
    let messages: Vec<String> = results[1..]
        .iter()
        .map(|r| r.as_ref().unwrap_err().to_string())
        .collect();
    assert_eq!(
        messages[0],
        format!("object with id {} not found", book(99))
    );
    assert_eq!(messages[1], "property nope does not exist for class Book");
    assert!(
        messages[2].contains("must use long-form"),
        "{}",
        messages[2]
    );
    assert_eq!(stored(&db, 1), vec![missing]);
}

#[test]
fn concurrent_reference_adds_to_one_object_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    schema(&db);
    seed(&db);
    std::thread::scope(|s| {
        for t in 0..4u128 {
            let db = &db;
            s.spawn(move || {
                for _ in 0..25 {
                    db.add_reference(
                        "Book",
                        book(0),
                        "writtenBy",
                        &json!({"beacon": beacon(t)}),
                        None,
                    )
                    .unwrap();
                }
            });
        }
    });
    let got = stored(&db, 0);
    assert_eq!(got.len(), 100);
    for t in 0..4 {
        assert_eq!(got.iter().filter(|b| **b == beacon(t)).count(), 25);
    }
}

#[test]
fn references_written_before_their_index_existed_are_indexed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    schema(&db);
    seed(&db);
    for b in 0..BOOKS {
        for a in 0..(b % 3) {
            db.add_reference(
                "Book",
                book(b),
                "writtenBy",
                &json!({"beacon": beacon(a)}),
                None,
            )
            .unwrap();
        }
    }
    let want_count = matching(&db, count_filter(Operator::Equal, 1));
    let want_age = matching(&db, by_age(Operator::GreaterThan, 5));
    assert!(!want_count.is_empty() && !want_age.is_empty());
    let shard_dir = dir
        .path()
        .join("book")
        .join(&db.shards("Book").unwrap()[0].name);
    db.close().unwrap();
    // What an older weft left: the objects with their beacons, no reference index.
    {
        let shard = weft_lsm::Shard::open(&shard_dir, weft_lsm::Options::default()).unwrap();
        shard
            .declare_bucket("meta", weft_lsm::Strategy::Replace)
            .unwrap();
        let bucket = "property_writtenBy";
        shard
            .declare_bucket(bucket, weft_lsm::Strategy::RoaringSet)
            .unwrap();
        let mut batch = weft_lsm::WriteBatch::new();
        for (key, value) in shard
            .scan(
                bucket,
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                usize::MAX,
            )
            .unwrap()
        {
            if let weft_lsm::Value::Bitmap(bits) = value {
                let ids: Vec<u64> = bits.iter().collect();
                batch.roaring_remove(bucket, &key, &ids);
            }
        }
        batch.delete("meta", b"filterable/writtenBy");
        shard.write(&batch).unwrap();
        shard.close().unwrap();
    }
    let db = open(dir.path());
    assert_eq!(matching(&db, count_filter(Operator::Equal, 1)), want_count);
    assert_eq!(matching(&db, by_age(Operator::GreaterThan, 5)), want_age);
    let report = db.verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    db.close().unwrap();
}

#[test]
fn disable_duplicated_references_skips_a_beacon_already_held() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    schema(&db);
    let mut shelf = ClassDef::new("Shelf");
    let mut holds = PropertyDef::new("holds", DataType::Reference(vec!["Author".into()]));
    holds.disable_duplicated_references = true;
    shelf.properties = vec![holds];
    db.create_class(shelf).unwrap();
    seed(&db);
    let id = Uuid::from_u128(0xD000);
    db.put_object(
        ObjectInput {
            class: "Shelf".into(),
            id: Some(id),
            ..ObjectInput::default()
        },
        WriteMode::Insert,
    )
    .unwrap();
    for _ in 0..3 {
        db.add_reference("Shelf", id, "holds", &json!({"beacon": beacon(0)}), None)
            .unwrap();
    }
    let from = format!("weaviate://localhost/Shelf/{id}/holds");
    for r in db.add_references(&[
        BatchReference {
            from: from.clone(),
            to: beacon(1),
            tenant: None,
        },
        BatchReference {
            from,
            to: beacon(1),
            tenant: None,
        },
    ]) {
        r.unwrap();
    }
    let obj = db.get_object("Shelf", id, false).unwrap().unwrap();
    assert_eq!(
        obj.properties["holds"],
        json!([{"beacon": beacon(0)}, {"beacon": beacon(1)}])
    );
    // Books keep duplicates (the default).
    for _ in 0..2 {
        db.add_reference(
            "Book",
            book(0),
            "writtenBy",
            &json!({"beacon": beacon(0)}),
            None,
        )
        .unwrap();
    }
    assert_eq!(stored(&db, 0).len(), 2);
}
