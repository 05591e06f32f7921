//! Applying the vector-index side of a committed write batch: deletes of replaced vectors, then
//! inserts of the new ones, spread over the machine's cores for large batches.

use std::collections::{BTreeMap, HashSet};

use crate::vector_index::VectorIndexes;

/// What a successful write changes in the vector indexes.
#[derive(Debug)]
pub(crate) struct IndexChange {
    /// The replaced object's doc id and vector names.
    pub(crate) old: Option<(u64, Vec<String>)>,
    /// The new doc id and vectors.
    pub(crate) new: (u64, BTreeMap<String, Vec<f32>>),
}

/// Below this many inserts a batch is indexed on the calling thread.
const PARALLEL_MIN: usize = 64;

/// Applies the changes of one committed batch, in effect in order. Doc ids are fresh per write,
/// so a vector created by this batch and replaced later in it is neither inserted nor deleted;
/// the remaining inserts are independent and run on up to `available_parallelism` threads
/// (the HNSW graph takes concurrent inserts).
pub(crate) fn apply(indexes: &VectorIndexes, class: &str, changes: Vec<IndexChange>) {
    let created: HashSet<u64> = changes.iter().map(|c| c.new.0).collect();
    let mut replaced_here: HashSet<(String, u64)> = HashSet::new();
    let mut inserts: Vec<(String, u64, Vec<f32>)> = Vec::new();
    for change in changes {
        if let Some((doc_id, names)) = change.old {
            for name in names {
                if created.contains(&doc_id) {
                    replaced_here.insert((name, doc_id));
                } else {
                    indexes.delete(&name, doc_id);
                }
            }
        }
        let (doc_id, vectors) = change.new;
        inserts.extend(vectors.into_iter().map(|(name, v)| (name, doc_id, v)));
    }
    inserts.retain(|(name, doc_id, _)| !replaced_here.contains(&(name.clone(), *doc_id)));
    let insert = |(name, doc_id, v): &(String, u64, Vec<f32>)| {
        if let Err(err) = indexes.insert(name, *doc_id, v) {
            tracing::error!(action = "vector_index_insert", class = %class, "cannot index doc {doc_id}: {err}");
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if inserts.len() < PARALLEL_MIN || threads < 2 {
        inserts.iter().for_each(insert);
        return;
    }
    let chunk = inserts.len().div_ceil(threads);
    std::thread::scope(|s| {
        for part in inserts.chunks(chunk) {
            s.spawn(move || part.iter().for_each(insert));
        }
    });
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use serde_json::Map;
    use uuid::Uuid;

    use crate::object::{ObjectInput, WriteMode};
    use crate::schema::ClassDef;
    use crate::{Db, DbOptions, Query};

    fn input(id: u128, v: Vec<f32>) -> ObjectInput {
        ObjectInput {
            class: "Par".into(),
            id: Some(Uuid::from_u128(id)),
            properties: Map::new(),
            vector: Some(v),
            ..ObjectInput::default()
        }
    }

    /// A large batch is indexed on several threads: every vector is its own nearest
    /// neighbour afterwards, and an object written twice in one batch is indexed once, with
    /// its last vector.
    #[test]
    fn a_large_batch_is_indexed_in_parallel_and_in_effect_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = DbOptions::new(dir.path(), "node1");
        opts.storage = opts.storage.background(false);
        let db = Db::open(opts).unwrap();
        db.create_class(ClassDef::new("Par")).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut vectors: Vec<Vec<f32>> = (0..1500)
            .map(|_| (0..12).map(|_| rng.random_range(-1.0f32..1.0)).collect())
            .collect();
        let mut batch: Vec<ObjectInput> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| input(i as u128 + 1, v.clone()))
            .collect();
        // Object 1 again, later in the same batch, with another vector.
        let moved: Vec<f32> = (0..12).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        batch.push(input(1, moved.clone()));
        vectors[0] = moved;
        for r in db.put_objects(batch, WriteMode::Upsert) {
            r.unwrap();
        }
        let coll = db.collection("Par").unwrap();
        assert_eq!(coll.object_count(), 1500);
        for (i, v) in vectors.iter().enumerate() {
            let req = Query {
                class: "Par".into(),
                limit: 1,
                near: Some(crate::NearQuery::vector(v.clone())),
                ..Query::default()
            };
            let hits = db.search(&req).unwrap();
            assert_eq!(
                hits[0].object.id,
                Uuid::from_u128(i as u128 + 1),
                "vector {i}"
            );
        }
        let report = db.verify().unwrap();
        assert!(report.is_clean(), "{:?}", report.problems);
    }
}
