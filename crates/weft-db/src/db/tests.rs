//! Lifecycle under failure: a damaged shard at startup, interrupted deletes, a failed schema
//! write, a delete racing a request, a malformed counter.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use uuid::Uuid;

use crate::object::{ObjectInput, WriteMode};
use crate::schema::ShardState;
use crate::{Db, DbError, DbOptions};

fn open(dir: &Path) -> Db {
    let mut opts = DbOptions::new(dir, "node1");
    opts.storage = opts.storage.background(false);
    Db::open(opts).unwrap()
}

fn put(db: &Db, class: &str, id: u128) {
    let input = ObjectInput {
        class: class.into(),
        id: Some(Uuid::from_u128(id)),
        properties: json!({"title": format!("t{id}")})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        ..ObjectInput::default()
    };
    db.put_object(input, WriteMode::Insert).unwrap();
}

fn has(db: &Db, class: &str, id: u128) -> bool {
    db.get_object(class, Uuid::from_u128(id), false)
        .unwrap()
        .is_some()
}

fn shard_dir(db: &Db, class: &str) -> std::path::PathBuf {
    db.collection(class).unwrap().dir().to_path_buf()
}

#[test]
fn a_damaged_shard_leaves_its_class_unavailable_and_the_rest_serving() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    put(&db, "Good", 1);
    put(&db, "Bad", 2);
    let bucket_file = shard_dir(&db, "Bad").join("lsm/objects/BUCKET");
    db.close().unwrap();
    std::fs::write(&bucket_file, b"garbage").unwrap();

    let db = open(dir.path());
    assert!(has(&db, "Good", 1), "the undamaged class serves");
    put(&db, "Good", 3);
    let err = db.get_object("Bad", Uuid::from_u128(2), false).unwrap_err();
    assert!(matches!(err, DbError::ShardUnavailable { .. }), "{err:?}");
    let msg = crate::error::chain(&err);
    assert!(msg.contains("BUCKET"), "the error names the file: {msg}");
    let shards = db.shards("Bad").unwrap();
    assert_eq!(shards[0].status, ShardState::ReadOnly);
    assert!(shards[0].reason.contains("failed to open"), "{shards:?}");
    let report = db.verify().unwrap();
    assert!(!report.is_clean());
}

#[test]
fn an_interrupted_delete_is_finished_or_undone_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    put(&db, "Kept", 1);
    put(&db, "Gone", 2);
    db.delete_class("Gone").unwrap();
    db.close().unwrap();
    // A crash after the data moved aside but before the schema change: the class is still
    // listed, so the data comes back.
    std::fs::rename(dir.path().join("kept"), dir.path().join("kept.deleted")).unwrap();
    // And a leftover of a finished delete.
    std::fs::create_dir(dir.path().join("gone.deleted")).unwrap();
    let db = open(dir.path());
    assert!(has(&db, "Kept", 1));
    assert!(!dir.path().join("kept.deleted").exists());
    assert!(!dir.path().join("gone.deleted").exists());
    assert!(db.class("Gone").is_none());
}

#[test]
fn deleting_a_class_waits_for_the_requests_that_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(open(dir.path()));
    put(&db, "Busy", 1);
    let in_use = db.collection("Busy").unwrap();
    let released = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&released);
    let (tx, rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        flag.store(true, Ordering::SeqCst);
        drop(in_use);
    });
    rx.recv().unwrap();
    db.delete_class("Busy").unwrap();
    assert!(
        released.load(Ordering::SeqCst),
        "the delete returned while a request still held the shard"
    );
    holder.join().unwrap();
    assert!(!dir.path().join("busy").exists());
    assert!(db.class("Busy").is_none());
}

#[test]
fn a_malformed_counter_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    put(&db, "Counted", 1);
    let shard = shard_dir(&db, "Counted");
    db.close().unwrap();
    {
        let opts = weft_lsm::Options::default().background(false);
        let engine = weft_lsm::Shard::open(&shard, opts).unwrap();
        engine
            .declare_bucket("meta", weft_lsm::Strategy::Replace)
            .unwrap();
        let mut b = weft_lsm::WriteBatch::new();
        b.put("meta", b"next_doc_id", b"abc");
        engine.write(&b).unwrap();
        engine.close().unwrap();
    }
    let db = open(dir.path());
    let err = db
        .get_object("Counted", Uuid::from_u128(1), false)
        .unwrap_err();
    let msg = crate::error::chain(&err);
    assert!(msg.contains("next_doc_id") && msg.contains("meta"), "{msg}");
}

fn put_vec(db: &Db, class: &str, id: u128) {
    let input = ObjectInput {
        class: class.into(),
        id: Some(Uuid::from_u128(id)),
        properties: json!({"title": format!("t{id}")})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        vector: Some(vec![id as f32, 1.0, 0.5]),
        ..ObjectInput::default()
    };
    db.put_object(input, WriteMode::Insert).unwrap();
}

/// A staged backup holds exactly the writes before it; restoring it after the class was
/// deleted brings back the class with those objects, its index and its vectors.
#[test]
fn a_staged_shard_restores_exactly_the_writes_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    for i in 1..=20 {
        put_vec(&db, "Article", i);
    }
    db.collection("Article").unwrap().snapshot_indexes();
    for i in 21..=30 {
        put_vec(&db, "Article", i);
    }
    let staging = dir.path().join(".backup-staging-t");
    let mut staged = db.stage_for_backup("Article", &staging).unwrap();
    assert_eq!(staged.len(), 1);
    let staged = staged.remove(0);
    let shards = [(staged.shard.clone(), None)];
    assert!(
        staged
            .files
            .iter()
            .any(|f| f.rel.starts_with("vector_index"))
    );
    for i in 31..=40 {
        put_vec(&db, "Article", i);
    }
    // Restoring over the existing class fails like a create, and changes nothing.
    let class_dir = staging.join("article");
    let err = db
        .restore_class(staged.class.clone(), &shards, &class_dir)
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(class_dir.exists() && has(&db, "Article", 40));

    db.delete_class("Article").unwrap();
    db.restore_class(staged.class.clone(), &shards, &class_dir)
        .unwrap();
    assert!(!class_dir.exists());
    for i in 1..=30 {
        assert!(has(&db, "Article", i), "object {i} is restored");
    }
    for i in 31..=40 {
        assert!(!has(&db, "Article", i), "object {i} came after the backup");
    }
    assert_eq!(db.object_count("Article"), 30);
    put_vec(&db, "Article", 41);
    db.close().unwrap();
    let db = open(dir.path());
    assert_eq!(db.object_count("Article"), 31);
    assert!(db.verify().unwrap().is_clean());
}

/// A crash inside a restore: a `.restored` directory of a class the schema does not list is
/// removed at open; one of a class it lists is moved into place.
#[test]
fn an_interrupted_restore_is_finished_or_undone_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    put(&db, "Listed", 1);
    db.close().unwrap();
    std::fs::rename(
        dir.path().join("listed"),
        dir.path().join("listed.restored"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("unlisted.restored/abc")).unwrap();
    let db = open(dir.path());
    assert!(has(&db, "Listed", 1));
    assert!(!dir.path().join("unlisted.restored").exists());
    assert!(!dir.path().join("listed.restored").exists());
}
