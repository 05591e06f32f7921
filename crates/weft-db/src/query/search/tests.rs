use rand::{Rng, SeedableRng};
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::object::{ObjectInput, WriteMode};
use crate::schema::{ClassDef, HnswConfig, VectorIndexConfig};
use crate::{Db, DbOptions};

fn open(dir: &std::path::Path) -> Db {
    let mut opts = DbOptions::new(dir, "node1");
    opts.storage = opts.storage.background(false);
    Db::open(opts).unwrap()
}

fn class(distance: Distance) -> ClassDef {
    let mut class = ClassDef::new("Vec");
    let index = VectorIndexConfig::Hnsw(HnswConfig {
        distance,
        ..HnswConfig::default()
    });
    class.vectors = VectorSetup::Legacy {
        vectorizer: Some("none".into()),
        index,
    };
    class
}

fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect()
}

fn insert_all(db: &Db, vs: &[Vec<f32>]) {
    let inputs = vs
        .iter()
        .enumerate()
        .map(|(i, v)| ObjectInput {
            class: "Vec".into(),
            id: Some(Uuid::from_u128(i as u128 + 1)),
            properties: json!({"i": i}).as_object().cloned().unwrap_or_default(),
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

fn near(db: &Db, v: &[f32], limit: u64) -> Vec<SearchHit> {
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
    db.search(&req).unwrap()
}

#[test]
fn each_object_is_its_own_nearest_neighbour_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(class(Distance::L2Squared)).unwrap();
    let vs = vectors(300, 8, 1);
    insert_all(&db, &vs);
    for (i, v) in vs.iter().enumerate().step_by(7) {
        let hits = near(&db, v, 3);
        assert_eq!(hits[0].object.id, Uuid::from_u128(i as u128 + 1));
        assert_eq!(hits[0].distance, Some(0.0));
        assert!(hits[0].certainty.is_none(), "certainty is cosine-only");
    }
    db.close().unwrap();
    // The index is rebuilt from the vectors bucket on open.
    let db = open(dir.path());
    for (i, v) in vs.iter().enumerate().step_by(11) {
        assert_eq!(near(&db, v, 1)[0].object.id, Uuid::from_u128(i as u128 + 1));
    }
}

#[test]
fn recall_at_10_matches_brute_force_and_deletes_disappear() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(class(Distance::Cosine)).unwrap();
    let vs = vectors(1000, 16, 2);
    insert_all(&db, &vs);
    let queries = vectors(20, 16, 3);
    let cos = |a: &[f32], b: &[f32]| {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
        1.0 - dot / (na * nb)
    };
    let mut found = 0;
    for q in &queries {
        let mut truth: Vec<(f32, usize)> =
            vs.iter().enumerate().map(|(i, v)| (cos(q, v), i)).collect();
        truth.sort_by(|a, b| a.0.total_cmp(&b.0));
        let truth: Vec<Uuid> = truth
            .iter()
            .take(10)
            .map(|(_, i)| Uuid::from_u128(*i as u128 + 1))
            .collect();
        let hits = near(&db, q, 10);
        assert!(hits.iter().all(|h| h.certainty.is_some()));
        found += hits.iter().filter(|h| truth.contains(&h.object.id)).count();
    }
    let recall = found as f64 / (queries.len() * 10) as f64;
    assert!(recall >= 0.95, "recall@10 {recall}");
    let first = near(&db, &queries[0], 1)[0].object.id;
    assert!(db.delete_object("Vec", first).unwrap());
    assert!(
        near(&db, &queries[0], 10)
            .iter()
            .all(|h| h.object.id != first)
    );
}

#[test]
fn thresholds_near_object_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(class(Distance::L2Squared)).unwrap();
    insert_all(&db, &[vec![0.0, 0.0], vec![1.0, 0.0], vec![5.0, 0.0]]);
    let mut req = Query {
        class: "Vec".into(),
        limit: 10,
        near: Some(NearQuery {
            near: Near::Object(Uuid::from_u128(1)),
            target: None,
            max_distance: Some(2.0),
            min_certainty: None,
        }),
        ..Query::default()
    };
    let ids: Vec<u128> = db
        .search(&req)
        .unwrap()
        .iter()
        .map(|h| h.object.id.as_u128())
        .collect();
    assert_eq!(ids, [1, 2]);
    req.near.as_mut().unwrap().min_certainty = Some(0.5);
    assert!(
        db.search(&req)
            .unwrap_err()
            .to_string()
            .contains("certainty")
    );
    req.near.as_mut().unwrap().target = Some("nope".into());
    assert!(db.search(&req).is_err());
    let by_id = Query {
        class: "vec".into(),
        limit: 1,
        filter: Some(crate::query::Filter::Condition {
            target: crate::query::Target::Id,
            op: crate::query::Operator::Equal,
            value: crate::query::FilterValue::Text(Uuid::from_u128(3).to_string()),
        }),
        ..Query::default()
    };
    assert_eq!(db.search(&by_id).unwrap()[0].object.id, Uuid::from_u128(3));
}
