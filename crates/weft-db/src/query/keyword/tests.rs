//! The searchable index kept right through inserts, replaces, merges and deletes (checked by
//! `verify`, which rebuilds it from the objects), across reopen, and built at open for data
//! written before it existed.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::object::{ObjectInput, WriteMode};
use crate::query::{KeywordOperator, KeywordQuery};
use crate::schema::{ClassDef, DataType, Primitive, PropertyDef};
use crate::{Db, DbOptions, Query};

fn open(dir: &std::path::Path) -> Db {
    let mut opts = DbOptions::new(dir, "node1");
    opts.storage = opts.storage.background(false);
    Db::open(opts).unwrap()
}

fn class() -> ClassDef {
    let mut c = ClassDef::new("Note");
    c.properties = vec![
        PropertyDef::new("title", DataType::Primitive(Primitive::Text)),
        PropertyDef::new("tags", DataType::Primitive(Primitive::TextArray)),
    ];
    c
}

fn put(db: &Db, id: u128, props: Value, mode: WriteMode) {
    let input = ObjectInput {
        class: "Note".into(),
        id: Some(Uuid::from_u128(id)),
        properties: props.as_object().cloned().unwrap_or_default(),
        ..ObjectInput::default()
    };
    db.put_object(input, mode).unwrap();
}

fn bm25(db: &Db, q: &str) -> Vec<(u128, f32)> {
    let hits = db
        .search(&Query {
            class: "Note".into(),
            limit: 100,
            keyword: Some(KeywordQuery {
                query: q.into(),
                properties: Vec::new(),
                operator: KeywordOperator::Default,
            }),
            ..Query::default()
        })
        .unwrap();
    hits.iter()
        .map(|h| (h.object.id.as_u128(), h.score.unwrap_or(f32::NAN)))
        .collect()
}

fn ids(hits: &[(u128, f32)]) -> Vec<u128> {
    let mut out: Vec<u128> = hits.iter().map(|h| h.0).collect();
    out.sort_unstable();
    out
}

fn assert_clean(db: &Db) {
    let report = db.verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn postings_follow_every_kind_of_write_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(class()).unwrap();
    put(
        &db,
        1,
        json!({"title": "red apple", "tags": ["fruit"]}),
        WriteMode::Insert,
    );
    put(
        &db,
        2,
        json!({"title": "green apple pie"}),
        WriteMode::Insert,
    );
    put(
        &db,
        3,
        json!({"title": "blue sky", "tags": ["sky", "fruit"]}),
        WriteMode::Insert,
    );
    assert_eq!(ids(&bm25(&db, "apple")), [1, 2]);
    assert_eq!(ids(&bm25(&db, "fruit")), [1, 3]);
    assert_clean(&db);
    // Replace drops the old terms, merge keeps the unchanged property's.
    put(
        &db,
        1,
        json!({"title": "yellow banana"}),
        WriteMode::Replace,
    );
    put(&db, 3, json!({"title": "apple sky"}), WriteMode::Merge);
    assert_eq!(ids(&bm25(&db, "apple")), [2, 3]);
    assert_eq!(ids(&bm25(&db, "fruit")), [3]);
    assert_eq!(ids(&bm25(&db, "banana")), [1]);
    assert_clean(&db);
    assert!(db.delete_object("Note", Uuid::from_u128(2)).unwrap());
    assert_eq!(ids(&bm25(&db, "apple")), [3]);
    assert_clean(&db);
    let before = bm25(&db, "apple sky banana");
    db.close().unwrap();
    let db = open(dir.path());
    assert_eq!(bm25(&db, "apple sky banana"), before);
    assert_clean(&db);
}

#[test]
fn data_written_before_the_searchable_index_is_indexed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(class()).unwrap();
    for i in 0..1500u128 {
        let word = if i % 3 == 0 { "three" } else { "other" };
        put(
            &db,
            i + 1,
            json!({"title": format!("{word} n{i}")}),
            WriteMode::Insert,
        );
    }
    let want = bm25(&db, "three");
    assert_eq!(want.len(), 100);
    let shard_dir = {
        let shards = db.shards("Note").unwrap();
        dir.path().join("note").join(&shards[0].name)
    };
    db.close().unwrap();
    // What an older weft left: objects and the filterable index, no searchable index.
    {
        let shard = weft_lsm::Shard::open(&shard_dir, weft_lsm::Options::default()).unwrap();
        shard
            .declare_bucket("meta", weft_lsm::Strategy::Replace)
            .unwrap();
        let mut batch = weft_lsm::WriteBatch::new();
        for prop in ["title", "tags"] {
            let bucket = format!("searchable_{prop}");
            shard
                .declare_bucket(&bucket, weft_lsm::Strategy::Map)
                .unwrap();
            for (term, value) in shard
                .scan(
                    &bucket,
                    std::ops::Bound::Unbounded,
                    std::ops::Bound::Unbounded,
                    usize::MAX,
                )
                .unwrap()
            {
                if let weft_lsm::Value::Map(m) = value {
                    for k in m.keys() {
                        batch.map_remove(&bucket, &term, k);
                    }
                }
            }
            batch.delete("meta", format!("searchable/{prop}").as_bytes());
            batch.delete("meta", format!("proplen/{prop}").as_bytes());
        }
        shard.write(&batch).unwrap();
        let left = shard
            .scan(
                "searchable_title",
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                usize::MAX,
            )
            .unwrap();
        assert!(
            left.iter()
                .all(|(_, v)| matches!(v, weft_lsm::Value::Map(m) if m.is_empty()))
        );
        assert!(shard.get("meta", b"searchable/title").unwrap().is_none());
        shard.close().unwrap();
    }
    let db = open(dir.path());
    assert_eq!(bm25(&db, "three"), want);
    assert_clean(&db);
    // Once built, reopening does not build again (the marker is there): same answers.
    db.close().unwrap();
    let db = open(dir.path());
    assert_eq!(bm25(&db, "three"), want);
}
