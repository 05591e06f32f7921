//! Persisted vector indexes: orderly close, crashes, damaged snapshots, changes after a
//! snapshot, foreign snapshots.

use std::path::Path;

use rand::{Rng, SeedableRng};
use serde_json::json;
use uuid::Uuid;

use super::{LoadReport, files};
use crate::object::{ObjectInput, WriteMode};
use crate::query::search::{Near, NearQuery, Query};
use crate::schema::{ClassDef, Distance, FlatConfig, HnswConfig, VectorIndexConfig, VectorSetup};
use crate::{Db, DbOptions};

const DIM: usize = 8;

fn open(dir: &Path) -> Db {
    let mut opts = DbOptions::new(dir, "node1");
    opts.storage = opts.storage.background(false);
    Db::open(opts).unwrap()
}

fn class_with(index: VectorIndexConfig) -> ClassDef {
    let mut class = ClassDef::new("Vec");
    class.vectors = VectorSetup::Legacy {
        vectorizer: Some("none".into()),
        index,
    };
    class
}

fn hnsw(distance: Distance) -> ClassDef {
    class_with(VectorIndexConfig::Hnsw(HnswConfig {
        distance,
        ..HnswConfig::default()
    }))
}

fn vectors(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect()
}

/// Upserts object `first + i` with vector `vs[i]`.
fn put(db: &Db, first: usize, vs: &[Vec<f32>]) {
    let inputs = vs
        .iter()
        .enumerate()
        .map(|(i, v)| ObjectInput {
            class: "Vec".into(),
            id: Some(Uuid::from_u128((first + i) as u128 + 1)),
            properties: json!({"i": first + i})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            vector: Some(v.clone()),
            ..ObjectInput::default()
        })
        .collect();
    assert!(
        db.put_objects(inputs, WriteMode::Upsert)
            .iter()
            .all(Result::is_ok)
    );
}

fn near(db: &Db, v: &[f32], limit: u64) -> Vec<u128> {
    let req = Query {
        class: "Vec".into(),
        limit,
        near: Some(NearQuery {
            near: Near::Vector(v.to_vec()),
            target: None,
            max_distance: None,
            min_certainty: None,
        }),
        ..Query::default()
    };
    db.search(&req)
        .unwrap()
        .iter()
        .map(|h| h.object.id.as_u128() - 1)
        .collect()
}

fn report(db: &Db) -> LoadReport {
    db.collection("Vec").unwrap().load_report().clone()
}

fn snapshot_path(db: &Db) -> std::path::PathBuf {
    files::path(db.collection("Vec").unwrap().dir(), "")
}

/// `live[i]` is the current vector of object i (None: deleted). Checks that every live
/// object is its own nearest neighbour and that recall@10 against brute force is ≥ 0.95.
fn check(db: &Db, live: &[Option<Vec<f32>>]) {
    let l2 = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>();
    for (i, v) in live.iter().enumerate() {
        if let Some(v) = v {
            assert_eq!(
                near(db, v, 1),
                [i as u128],
                "object {i} is not its own nearest"
            );
        }
    }
    let queries = vectors(20, 99);
    let mut found = 0;
    for q in &queries {
        let mut truth: Vec<(f32, u128)> = live
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (l2(q, v), i as u128)))
            .collect();
        truth.sort_by(|a, b| a.0.total_cmp(&b.0));
        let truth: Vec<u128> = truth.iter().take(10).map(|t| t.1).collect();
        let hits = near(db, q, 10);
        assert!(
            hits.iter().all(|h| live[*h as usize].is_some()),
            "a deleted object was returned"
        );
        found += hits.iter().filter(|h| truth.contains(h)).count();
    }
    let recall = found as f64 / (queries.len() * 10) as f64;
    assert!(recall >= 0.95, "recall@10 {recall}");
}

fn populated(dir: &Path, n: usize) -> (Db, Vec<Option<Vec<f32>>>) {
    let db = open(dir);
    db.create_class(hnsw(Distance::L2Squared)).unwrap();
    let vs = vectors(n, 1);
    put(&db, 0, &vs);
    (db, vs.into_iter().map(Some).collect())
}

#[test]
fn orderly_close_then_open_loads_the_snapshot_without_inserting() {
    let dir = tempfile::tempdir().unwrap();
    let (db, live) = populated(dir.path(), 400);
    db.close().unwrap();
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!(r.snapshots_loaded, 1, "{r:?}");
    assert_eq!(r.snapshot_nodes, 400);
    assert_eq!((r.inserted, r.deleted), (0, 0), "{r:?}");
    assert!(r.rebuilt.is_empty(), "{r:?}");
    // No write since the snapshot: it is the index, the vectors bucket is not read.
    assert_eq!((r.exact, r.keys_scanned), (1, 0), "{r:?}");
    check(&db, &live);
    // Nothing changed: closing again keeps the snapshot as it is.
    let path = snapshot_path(&db);
    let before = std::fs::read(&path).unwrap();
    db.close().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn crash_without_any_snapshot_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let (db, live) = populated(dir.path(), 400);
    drop(db);
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!(r.snapshots_loaded, 0);
    assert_eq!(r.inserted, 400);
    assert_eq!(r.rebuilt.get("").map(String::as_str), Some("no snapshot"));
    check(&db, &live);
}

/// Damage done to the snapshot file between a close and the next open.
fn damaged_snapshot_falls_back(damage: impl FnOnce(&Path), reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (db, live) = populated(dir.path(), 300);
    let path = snapshot_path(&db);
    db.close().unwrap();
    damage(&path);
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!(r.snapshots_loaded, 0, "{r:?}");
    assert_eq!(r.inserted, 300);
    let why = r.rebuilt.get("").unwrap();
    assert!(why.contains(reason), "{why}");
    // Removed before the rebuild: a later open must not load it over the rebuilt index.
    assert!(!path.exists());
    check(&db, &live);
    // A fresh snapshot is written (here: on close), and the next open uses it.
    db.close().unwrap();
    let db = open(dir.path());
    assert_eq!(report(&db).snapshots_loaded, 1);
    check(&db, &live);
}

#[test]
fn corrupt_byte_falls_back_to_rebuild() {
    damaged_snapshot_falls_back(
        |p| {
            let mut b = std::fs::read(p).unwrap();
            let mid = b.len() / 2;
            b[mid] ^= 0x20;
            std::fs::write(p, b).unwrap();
        },
        "checksum mismatch in the chunk",
    );
}

#[test]
fn truncated_snapshot_falls_back_to_rebuild() {
    damaged_snapshot_falls_back(
        |p| {
            let b = std::fs::read(p).unwrap();
            std::fs::write(p, &b[..b.len() - 7]).unwrap();
        },
        "truncated",
    );
}

#[test]
fn deleted_snapshot_falls_back_to_rebuild() {
    damaged_snapshot_falls_back(|p| std::fs::remove_file(p).unwrap(), "no snapshot");
}

#[test]
fn changes_after_the_snapshot_are_applied_on_open() {
    for lose in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut live) = populated(dir.path(), 300);
        db.close().unwrap();
        let db = open(dir.path());
        // After the snapshot: 40 updates (new vectors), 25 deletes, 50 new objects; then a
        // crash.
        let updated = vectors(40, 2);
        put(&db, 0, &updated);
        for (i, v) in updated.into_iter().enumerate() {
            live[i] = Some(v);
        }
        for (i, slot) in live.iter_mut().enumerate().take(125).skip(100) {
            let id = Uuid::from_u128(i as u128 + 1);
            assert!(db.delete_object("Vec", id).unwrap());
            *slot = None;
        }
        let added = vectors(50, 3);
        put(&db, 300, &added);
        live.extend(added.into_iter().map(Some));
        drop(db);
        if lose {
            lose_logs(dir.path());
        }
        let db = open(dir.path());
        let r = report(&db);
        assert_eq!((r.snapshots_loaded, r.snapshot_nodes), (1, 300), "{r:?}");
        if lose {
            // Without the log: compared with the bucket, the changes are redone.
            assert_eq!(r.exact, 0, "{r:?}");
            assert_eq!((r.inserted, r.deleted), (40 + 50, 40 + 25), "{r:?}");
        } else {
            // The log holds every write up to the last one: replayed, nothing compared.
            assert_eq!((r.exact, r.keys_scanned), (1, 0), "{r:?}");
            assert_eq!((r.log_added, r.log_tombstoned), (40 + 50, 40 + 25), "{r:?}");
            assert_eq!((r.inserted, r.deleted), (0, 0), "{r:?}");
        }
        check(&db, &live);
    }
}

/// Deletes allocate no doc id: only the LSN (or the log's marks) tells the snapshot is no
/// longer the index.
#[test]
fn deletes_after_an_exact_snapshot_are_seen_after_a_crash() {
    for lose in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut live) = populated(dir.path(), 200);
        db.close().unwrap();
        let db = open(dir.path());
        assert_eq!(report(&db).exact, 1);
        for i in 0..15 {
            assert!(db.delete_object("Vec", Uuid::from_u128(i + 1)).unwrap());
            live[i as usize] = None;
        }
        drop(db);
        if lose {
            lose_logs(dir.path());
        }
        let db = open(dir.path());
        let r = report(&db);
        if lose {
            assert_eq!((r.snapshots_loaded, r.exact), (1, 0), "{r:?}");
            assert_eq!((r.keys_scanned, r.deleted), (185, 15), "{r:?}");
        } else {
            assert_eq!(
                (r.exact, r.log_tombstoned, r.keys_scanned),
                (1, 15, 0),
                "{r:?}"
            );
        }
        check(&db, &live);
        // Closed orderly again: the new snapshot is exact once more.
        db.close().unwrap();
        let db = open(dir.path());
        let r = report(&db);
        assert_eq!((r.exact, r.keys_scanned), (1, 0), "{r:?}");
        check(&db, &live);
    }
}

/// A snapshot of format version 2 records no LSN: it is loaded and compared with the bucket.
#[test]
fn a_snapshot_without_an_lsn_is_compared_with_the_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let (db, live) = populated(dir.path(), 150);
    let path = snapshot_path(&db);
    db.close().unwrap();
    // The same index written again without an LSN.
    let b = std::fs::read(&path).unwrap();
    let cfg = super::hnsw_config(&HnswConfig {
        distance: Distance::L2Squared,
        ..HnswConfig::default()
    });
    let (h, info) =
        weft_hnsw::Hnsw::read_snapshot(&mut b.as_slice(), b.len() as u64, DIM, cfg).unwrap();
    assert_ne!(info.lsn, 0);
    let mut bytes = Vec::new();
    h.write_snapshot(info.covered, &mut bytes).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!(
        (r.snapshots_loaded, r.exact, r.keys_scanned),
        (1, 0, 150),
        "{r:?}"
    );
    assert_eq!((r.inserted, r.deleted), (0, 0), "{r:?}");
    check(&db, &live);
}

#[test]
fn background_snapshot_then_crash_replays_only_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (db, mut live) = populated(dir.path(), 300);
    for i in 0..10 {
        assert!(db.delete_object("Vec", Uuid::from_u128(i + 1)).unwrap());
        live[i as usize] = None;
    }
    assert_eq!(db.collection("Vec").unwrap().snapshot_indexes(), 1);
    let added = vectors(30, 4);
    put(&db, 300, &added);
    live.extend(added.into_iter().map(Some));
    drop(db);
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!(r.snapshots_loaded, 1, "{r:?}");
    // The tombstones of the snapshot are still there, not re-deleted; the tail is replayed.
    assert_eq!(
        (r.snapshot_nodes, r.log_added, r.inserted, r.deleted),
        (300, 30, 0, 0),
        "{r:?}"
    );
    check(&db, &live);
    // Without the logs, the tail is inserted from the bucket instead.
    drop(db);
    lose_logs(dir.path());
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!(
        (r.snapshot_nodes, r.inserted, r.deleted),
        (300, 30, 0),
        "{r:?}"
    );
    check(&db, &live);
}

/// Writes over the class's snapshot a valid snapshot of another index.
fn foreign_snapshot_is_ignored(dim: usize, metric: weft_hnsw::Metric, field: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (db, live) = populated(dir.path(), 200);
    let path = snapshot_path(&db);
    db.close().unwrap();
    let other = weft_hnsw::Hnsw::new(
        dim,
        weft_hnsw::HnswConfig {
            metric,
            ..weft_hnsw::HnswConfig::default()
        },
    );
    for i in 0..50u32 {
        other.insert(i, &vec![i as f32 + 1.0; dim]).unwrap();
    }
    let mut bytes = Vec::new();
    other.write_snapshot(50, &mut bytes).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!(r.snapshots_loaded, 0);
    let why = r.rebuilt.get("").unwrap();
    assert!(why.contains(field), "{why}");
    check(&db, &live);
}

#[test]
fn snapshot_of_another_dimension_is_ignored() {
    foreign_snapshot_is_ignored(DIM + 1, weft_hnsw::Metric::L2Squared, "dimension");
}

#[test]
fn snapshot_of_another_metric_is_ignored() {
    foreign_snapshot_is_ignored(DIM, weft_hnsw::Metric::Cosine, "metric");
}

#[test]
fn flat_index_snapshot_roundtrips() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(class_with(VectorIndexConfig::Flat(FlatConfig {
        distance: Distance::L2Squared,
        ..FlatConfig::default()
    })))
    .unwrap();
    let vs = vectors(150, 5);
    put(&db, 0, &vs);
    let mut live: Vec<_> = vs.into_iter().map(Some).collect();
    assert!(db.delete_object("Vec", Uuid::from_u128(1)).unwrap());
    live[0] = None;
    db.close().unwrap();
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!(
        (r.snapshots_loaded, r.snapshot_nodes, r.inserted),
        (1, 149, 0),
        "{r:?}"
    );
    check(&db, &live);
}

/// An hnsw class of `distance` with `set` applied to its config.
fn hnsw_with(distance: Distance, set: impl FnOnce(&mut HnswConfig)) -> ClassDef {
    let mut config = HnswConfig {
        distance,
        ..HnswConfig::default()
    };
    set(&mut config);
    class_with(VectorIndexConfig::Hnsw(config))
}

/// The hnsw config of a class with the legacy vector.
fn legacy_hnsw(class: &mut ClassDef) -> &mut HnswConfig {
    let VectorSetup::Legacy {
        index: VectorIndexConfig::Hnsw(c),
        ..
    } = &mut class.vectors
    else {
        panic!("legacy hnsw class expected");
    };
    c
}

fn compressed(db: &Db) -> bool {
    db.collection("Vec").unwrap().vectors_compressed()
}

#[test]
fn rq_enabled_by_an_update_compresses_and_survives_restarts_and_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let (db, mut live) = populated(dir.path(), 400);
    assert_eq!(db.collection("Vec").unwrap().compress_indexes(), 0);
    let mut class = db.class("Vec").unwrap();
    let c = legacy_hnsw(&mut class);
    c.rq.enabled = true;
    db.update_class("Vec", class).unwrap();
    assert!(!compressed(&db), "compression is the worker's job");
    assert_eq!(db.collection("Vec").unwrap().compress_indexes(), 1);
    assert!(compressed(&db));
    // Rescoring with the stored f32 vectors: exact self matches, brute-force recall.
    check(&db, &live);
    db.close().unwrap();

    let db = open(dir.path());
    let r = report(&db);
    assert_eq!((r.snapshots_loaded, r.inserted), (1, 0), "{r:?}");
    assert!(compressed(&db), "the snapshot holds the codes");
    check(&db, &live);
    // Writes after the snapshot, then a crash: the tail is encoded on open.
    let more = vectors(150, 7);
    put(&db, 400, &more);
    live.extend(more.into_iter().map(Some));
    drop(db);
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!(
        (r.snapshots_loaded, r.log_added, r.inserted),
        (1, 150, 0),
        "{r:?}"
    );
    assert!(compressed(&db));
    check(&db, &live);
    // The same tail without the log: inserted (and encoded) from the bucket.
    drop(db);
    lose_logs(dir.path());
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!((r.snapshots_loaded, r.inserted), (1, 150), "{r:?}");
    assert!(compressed(&db));
    check(&db, &live);
}

#[test]
fn sq_waits_for_its_training_limit() {
    for (limit, expect) in [(100_000u64, 0usize), (300, 1)] {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        let class = hnsw_with(Distance::Cosine, |c| {
            c.sq.enabled = true;
            c.sq.training_limit = limit;
        });
        db.create_class(class).unwrap();
        let vs = vectors(400, 3);
        put(&db, 0, &vs);
        assert_eq!(db.collection("Vec").unwrap().compress_indexes(), expect);
        assert_eq!(compressed(&db), expect == 1);
        for (i, v) in vs.iter().enumerate().step_by(13) {
            assert_eq!(near(&db, v, 1), [i as u128]);
        }
        db.close().unwrap();
        let db = open(dir.path());
        assert_eq!(compressed(&db), expect == 1);
    }
}

#[test]
fn pq_trains_at_its_limit_or_when_enabled_and_keeps_its_codebooks() {
    // At creation: waits for trainingLimit vectors, as sq.
    for (limit, expect) in [(100_000u64, 0usize), (300, 1)] {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        db.create_class(hnsw_with(Distance::L2Squared, |c| {
            c.pq.enabled = true;
            c.pq.training_limit = limit;
        }))
        .unwrap();
        let vs = vectors(400, 3);
        put(&db, 0, &vs);
        assert_eq!(db.collection("Vec").unwrap().compress_indexes(), expect);
        assert_eq!(compressed(&db), expect == 1);
        let live: Vec<_> = vs.into_iter().map(Some).collect();
        check(&db, &live);
    }
    // Enabled by an update on a populated index: trained at once, kept across an orderly
    // restart (the snapshot holds the codebooks) and a crash with a tail of writes.
    let dir = tempfile::tempdir().unwrap();
    let (db, mut live) = populated(dir.path(), 400);
    let mut class = db.class("Vec").unwrap();
    let c = legacy_hnsw(&mut class);
    c.pq.enabled = true;
    c.pq.segments = 4;
    db.update_class("Vec", class).unwrap();
    assert_eq!(db.collection("Vec").unwrap().compress_indexes(), 1);
    assert!(compressed(&db));
    check(&db, &live);
    db.close().unwrap();
    let db = open(dir.path());
    assert_eq!(report(&db).snapshots_loaded, 1);
    assert!(compressed(&db));
    check(&db, &live);
    let more = vectors(120, 9);
    put(&db, 400, &more);
    live.extend(more.into_iter().map(Some));
    drop(db);
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!((r.snapshots_loaded, r.inserted), (1, 0), "{r:?}");
    assert!(compressed(&db));
    assert_eq!(db.collection("Vec").unwrap().compress_indexes(), 0);
    check(&db, &live);
}

#[test]
fn rq_at_creation_is_compressed_from_the_first_vector() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(hnsw_with(Distance::Dot, |c| c.rq.enabled = true))
        .unwrap();
    let vs = vectors(200, 5);
    put(&db, 0, &vs);
    assert!(compressed(&db));
    assert_eq!(db.collection("Vec").unwrap().compress_indexes(), 0);
    for (i, v) in vs.iter().enumerate().step_by(7) {
        // Dot: the nearest of v is the vector with the largest product, not always v.
        let hits = near(&db, v, 200);
        assert!(hits.contains(&(i as u128)));
    }
}

#[test]
fn flat_rq_is_compressed_at_creation_and_loads_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let mut flat = FlatConfig {
        distance: Distance::L2Squared,
        ..FlatConfig::default()
    };
    flat.rq.enabled = true;
    flat.rq.rescore_limit = 30;
    db.create_class(class_with(VectorIndexConfig::Flat(flat)))
        .unwrap();
    let vs = vectors(300, 8);
    put(&db, 0, &vs);
    assert!(compressed(&db));
    let live: Vec<Option<Vec<f32>>> = vs.into_iter().map(Some).collect();
    check(&db, &live);
    db.close().unwrap();
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!((r.snapshots_loaded, r.inserted), (1, 0), "{r:?}");
    assert!(compressed(&db));
    check(&db, &live);
}

/// The graph-operation log files in the class's shard.
fn log_files(db: &Db) -> Vec<std::path::PathBuf> {
    log_files_in(db.collection("Vec").unwrap().dir())
}

/// Removes every graph-operation log under the data directory `dir`: the open must compare
/// with the bucket instead.
fn lose_logs(dir: &Path) {
    for class in std::fs::read_dir(dir).unwrap().flatten() {
        let Ok(shards) = std::fs::read_dir(class.path()) else {
            continue;
        };
        for shard in shards.flatten() {
            if shard.path().join(files::DIR).is_dir() {
                for f in log_files_in(&shard.path()) {
                    std::fs::remove_file(f).unwrap();
                }
            }
        }
    }
}

fn log_files_in(shard_dir: &Path) -> Vec<std::path::PathBuf> {
    let dir = shard_dir.join(files::DIR);
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().contains(".oplog."))
        .collect();
    out.sort();
    out
}

/// A background snapshot, then 40 new objects, 10 deletes and 20 updates, all logged; then
/// a crash. Opening replays the log: nothing is re-inserted or compared away.
#[test]
fn the_graph_log_replays_the_tail_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (db, mut live) = populated(dir.path(), 300);
    let coll = db.collection("Vec").unwrap();
    assert_eq!(coll.snapshot_indexes(), 1);
    let added = vectors(40, 5);
    put(&db, 300, &added);
    live.extend(added.into_iter().map(Some));
    for (i, slot) in live.iter_mut().enumerate().take(10) {
        assert!(
            db.delete_object("Vec", Uuid::from_u128(i as u128 + 1))
                .unwrap()
        );
        *slot = None;
    }
    let updated = vectors(20, 6);
    put(&db, 50, &updated);
    for (i, v) in updated.into_iter().enumerate() {
        live[50 + i] = Some(v);
    }
    coll.write_graph_logs();
    assert_eq!(log_files(&db).len(), 1);
    drop(coll);
    drop(db);
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!((r.snapshots_loaded, r.log_files), (1, 1), "{r:?}");
    assert_eq!((r.log_added, r.log_tombstoned), (60, 30), "{r:?}");
    // Everything was in the log, up to the last write's mark: nothing compared.
    assert_eq!(
        (r.exact, r.keys_scanned, r.inserted, r.deleted),
        (1, 0, 0, 0),
        "{r:?}"
    );
    check(&db, &live);
    // The next snapshot supersedes the log: its files go, the new generation's file holds
    // only its header.
    assert_eq!(db.collection("Vec").unwrap().snapshot_indexes(), 1);
    let logs = log_files(&db);
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(std::fs::metadata(&logs[0]).unwrap().len(), 24);
    db.close().unwrap();
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!(
        (r.exact, r.log_files, r.log_ops, r.keys_scanned),
        (1, 1, 0, 0),
        "{r:?}"
    );
    check(&db, &live);
}

/// A log whose tail is missing (cut inside a record, as a crash during an append or a power
/// loss leaves it) is replayed up to the cut; the rest is inserted from the bucket.
#[test]
fn a_log_cut_short_is_replayed_up_to_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (db, mut live) = populated(dir.path(), 200);
    let coll = db.collection("Vec").unwrap();
    assert_eq!(coll.snapshot_indexes(), 1);
    let first = vectors(30, 7);
    put(&db, 200, &first);
    live.extend(first.into_iter().map(Some));
    let files = log_files(&db);
    let cut = std::fs::metadata(&files[0]).unwrap().len();
    let second = vectors(25, 8);
    put(&db, 230, &second);
    live.extend(second.into_iter().map(Some));
    drop(coll);
    drop(db);
    // Cut 5 bytes into the second write's records.
    let bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], &bytes[..cut as usize + 5]).unwrap();
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!(r.exact, 0, "{r:?}");
    assert_eq!((r.log_added, r.inserted, r.deleted), (30, 25, 0), "{r:?}");
    check(&db, &live);
}

/// A damaged record stops the replay there (a warning names the file); the rest comes from
/// the bucket, and the answers are right.
#[test]
fn a_damaged_graph_log_is_replayed_up_to_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (db, mut live) = populated(dir.path(), 200);
    let coll = db.collection("Vec").unwrap();
    assert_eq!(coll.snapshot_indexes(), 1);
    for (round, seed) in [(0usize, 9u64), (1, 10)] {
        let vs = vectors(30, seed);
        put(&db, 200 + 30 * round, &vs);
        live.extend(vs.into_iter().map(Some));
        coll.write_graph_logs();
    }
    let files = log_files(&db);
    assert_eq!(files.len(), 1);
    drop(coll);
    drop(db);
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let at = bytes.len() * 3 / 4;
    bytes[at] ^= 0x40;
    std::fs::write(&files[0], bytes).unwrap();
    let db = open(dir.path());
    let r = report(&db);
    assert!(r.log_added > 0 && r.log_added < 60, "{r:?}");
    assert_eq!(r.log_added + r.inserted, 60, "{r:?}");
    check(&db, &live);
}

/// Logging starts before the open compares with the bucket, so a second crash replays both
/// runs' logs; a lost generation stops the replay before it.
#[test]
fn logs_of_two_runs_replay_in_order_and_a_missing_generation_stops_replay() {
    for lose_first in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut live) = populated(dir.path(), 200);
        let coll = db.collection("Vec").unwrap();
        let shard_dir = coll.dir().to_path_buf();
        assert_eq!(coll.snapshot_indexes(), 1);
        let a = vectors(20, 11);
        put(&db, 200, &a);
        live.extend(a.into_iter().map(Some));
        coll.write_graph_logs();
        drop(coll);
        drop(db);
        // Second run: replays the first run's log, logs 15 more, crashes.
        let db = open(dir.path());
        assert_eq!(report(&db).log_added, 20);
        let b = vectors(15, 12);
        put(&db, 220, &b);
        live.extend(b.into_iter().map(Some));
        db.collection("Vec").unwrap().write_graph_logs();
        drop(db);
        let logs = log_files_in(&shard_dir);
        assert_eq!(logs.len(), 2, "{logs:?}");
        if lose_first {
            std::fs::remove_file(&logs[0]).unwrap();
        }
        let db = open(dir.path());
        let r = report(&db);
        if lose_first {
            assert_eq!((r.log_files, r.log_added, r.inserted), (0, 0, 35), "{r:?}");
        } else {
            assert_eq!((r.log_files, r.log_added, r.inserted), (2, 35, 0), "{r:?}");
        }
        check(&db, &live);
    }
}

/// Snapshots taken while batches are being indexed, then a crash: every object is still its
/// own nearest neighbour. (A snapshot that switched the log generation in the middle of a
/// batch left that batch's nodes out of both the snapshot and the new generation, and an open
/// whose log reached the last write did not compare with the bucket: found by the `kill -9`
/// import test.)
#[test]
fn snapshots_racing_writes_lose_nothing_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(hnsw(Distance::L2Squared)).unwrap();
    let all = vectors(2400, 21);
    let coll = db.collection("Vec").unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let snapshots = std::thread::scope(|s| {
        let taker = s.spawn(|| {
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                n += coll.snapshot_indexes();
            }
            n
        });
        for (i, chunk) in all.chunks(300).enumerate() {
            put(&db, i * 300, chunk);
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        taker.join().unwrap()
    });
    assert!(snapshots > 0);
    drop(coll);
    drop(db);
    let db = open(dir.path());
    let live: Vec<Option<Vec<f32>>> = all.into_iter().map(Some).collect();
    check(&db, &live);
}

/// The log may hold a write the shard does not (a copy of the directory taken while the
/// server wrote; a WAL tail lost): replay stops at the mark of the shard's last write, so
/// the later write is not in the index, and cuts the log there, so that a later open does
/// not replay it once new writes have taken its LSNs.
#[test]
fn a_log_ahead_of_the_shard_is_replayed_only_up_to_the_shards_last_write() {
    let dir = tempfile::tempdir().unwrap();
    let (db, mut live) = populated(dir.path(), 200);
    let coll = db.collection("Vec").unwrap();
    let shard_dir = coll.dir().to_path_buf();
    assert_eq!(coll.snapshot_indexes(), 1);
    let kept = vectors(20, 31);
    put(&db, 200, &kept);
    live.extend(kept.into_iter().map(Some));
    // The last write updates objects 0..9 (tombstones of their old doc ids, new nodes): its
    // WAL record is torn below, its log records survive.
    put(&db, 0, &vectors(10, 32));
    drop(coll);
    drop(db);
    let mut wal: Vec<_> = std::fs::read_dir(shard_dir.join("wal"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    wal.sort();
    let active = wal.last().unwrap();
    let len = std::fs::metadata(active).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(active)
        .unwrap()
        .set_len(len - 16)
        .unwrap();
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!(
        (r.exact, r.log_added, r.log_tombstoned, r.keys_scanned),
        (1, 20, 0, 0),
        "{r:?}"
    );
    assert_eq!(db.collection("Vec").unwrap().index_len(""), 220);
    check(&db, &live);
    // New writes take the lost write's LSNs and doc ids; then a crash. The cut log must
    // not bring the lost write's tombstones back.
    let fresh = vectors(10, 33);
    put(&db, 220, &fresh);
    live.extend(fresh.into_iter().map(Some));
    drop(db);
    let db = open(dir.path());
    let r = report(&db);
    assert_eq!(db.collection("Vec").unwrap().index_len(""), 230, "{r:?}");
    check(&db, &live);
}

/// Restarts without writes each add a log generation holding only the open's mark of the
/// same last LSN: replay stops at the first such mark, and the later ones are not taken for
/// a log ahead of the shard (nothing is cut).
#[test]
fn restarts_without_writes_cut_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, live) = populated(dir.path(), 150);
    let shard_dir = db.collection("Vec").unwrap().dir().to_path_buf();
    db.close().unwrap();
    let mut files = log_files_in(&shard_dir).len();
    for _ in 0..3 {
        let db = open(dir.path());
        let r = report(&db);
        assert_eq!((r.exact, r.keys_scanned), (1, 0), "{r:?}");
        check(&db, &live);
        db.close().unwrap();
        let now = log_files_in(&shard_dir).len();
        assert_eq!(now, files + 1);
        files = now;
    }
}
