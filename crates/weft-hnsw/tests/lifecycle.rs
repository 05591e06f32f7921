//! Deletes with cleanup, filtered search, concurrency, op replay and the flat index.

mod common;

use std::sync::{Arc, Mutex};

use common::{build, clustered, config, random, recall, rng};
use rand::Rng;
use rand::seq::SliceRandom;
use roaring::RoaringBitmap;
use weft_hnsw::{CleanupThread, FlatIndex, GraphObserver, GraphOp, Hnsw, HnswConfig, Metric};

const DIM: usize = 16;

#[test]
fn recall_after_deleting_30_percent() {
    let data = clustered(2000, DIM, 20, Metric::L2Squared, 21);
    let queries = clustered(50, DIM, 20, Metric::L2Squared, 22);
    let index = build(&data, config(Metric::L2Squared));
    let mut ids: Vec<u32> = (0..data.len() as u32).collect();
    ids.shuffle(&mut rng(23));
    let deleted: RoaringBitmap = ids[..600].iter().copied().collect();
    // Include the entry point, so cleanup has to move it.
    let (ep, _) = index.entry_point().unwrap();
    assert!(index.delete(ep) || deleted.contains(ep));
    for id in &deleted {
        index.delete(id);
    }
    assert!(!index.delete(deleted.min().unwrap()), "double delete");
    let live = data.len() - deleted.len() as usize - usize::from(!deleted.contains(ep));
    assert_eq!(index.len(), live);

    let before = recall(&index, &queries, 10, 64, None);
    for q in &queries {
        for hit in index.search_with_ef(q, 10, 64, None).unwrap() {
            assert!(index.contains(hit.id), "deleted id {} returned", hit.id);
        }
    }
    let removed = index.cleanup();
    assert_eq!(removed, data.len() - live);
    assert_eq!(index.tombstone_count(), 0);
    assert!(!deleted.contains(index.entry_point().unwrap().0));
    let after = recall(&index, &queries, 10, 64, None);
    eprintln!("recall after 30% deletes: {before:.4} tombstoned, {after:.4} cleaned");
    assert!(before >= 0.95 && after >= 0.95, "recall {before} / {after}");
    // No list still points at a removed node.
    let snap = index.snapshot();
    assert_eq!(snap.nodes.len(), live);
    for n in &snap.nodes {
        for list in &n.neighbors {
            assert!(
                list.iter().all(|x| index.contains(*x)),
                "link to removed node"
            );
        }
    }
    // Inserting after cleanup works; deleted ids stay unusable.
    index.insert(5000, &data[0]).unwrap();
    assert!(index.insert(deleted.min().unwrap(), &data[0]).is_err());
}

#[test]
fn delete_nearly_everything() {
    let data = random(300, DIM, Metric::Cosine, 31);
    let index = build(&data, config(Metric::Cosine));
    for id in 0..295 {
        assert!(index.delete(id));
    }
    index.cleanup();
    let hits = index.search(&data[0], 10, None).unwrap();
    let mut got: Vec<u32> = hits.iter().map(|h| h.id).collect();
    got.sort_unstable();
    assert_eq!(got, (295..300).collect::<Vec<_>>());
    for id in 295..300 {
        index.delete(id);
    }
    index.cleanup();
    assert_eq!(index.entry_point(), None);
    assert!(index.search(&data[0], 10, None).unwrap().is_empty());
    index.insert(1000, &data[1]).unwrap();
    assert_eq!(index.search(&data[1], 1, None).unwrap()[0].id, 1000);
}

#[test]
fn filtered_search_graph_and_flat() {
    let data = clustered(2000, DIM, 20, Metric::L2Squared, 41);
    let queries = clustered(40, DIM, 20, Metric::L2Squared, 42);
    let mut r = rng(43);
    for fraction in [0.02, 0.2, 0.6] {
        let allow: RoaringBitmap = (0..data.len() as u32)
            .filter(|_| r.random_bool(fraction))
            .collect();
        // Cutoff 0 forces the graph walk; the default (40 000) makes every list here "small".
        for cutoff in [0, 40_000] {
            let cfg = HnswConfig {
                flat_search_cutoff: cutoff,
                ..config(Metric::L2Squared)
            };
            let index = build(&data, cfg);
            let ef = if fraction < 0.05 { 400 } else { 64 };
            let rec = recall(&index, &queries, 10, ef, Some(&allow));
            eprintln!("filter {fraction} cutoff {cutoff}: recall {rec:.4}");
            let want = if cutoff > 0 { 1.0 } else { 0.9 };
            assert!(
                rec >= want,
                "filtered recall {rec} (fraction {fraction}, cutoff {cutoff})"
            );
        }
    }
}

#[test]
fn concurrent_inserts_and_searches() {
    let data = clustered(2000, DIM, 20, Metric::L2Squared, 51);
    let index = Hnsw::new(DIM, config(Metric::L2Squared));
    std::thread::scope(|s| {
        for t in 0..2 {
            let (index, data) = (&index, &data);
            s.spawn(move || {
                for i in (t..data.len()).step_by(2) {
                    index.insert(i as u32, &data[i]).unwrap();
                }
            });
        }
        s.spawn(|| {
            for i in 0..300 {
                let hits = index.search(&data[i % 50], 5, None).unwrap();
                common::assert_sorted(&hits);
                if i % 3 == 0 {
                    index.delete(1999 - i as u32 / 3);
                }
            }
        });
    });
    index.cleanup();
    let queries = clustered(40, DIM, 20, Metric::L2Squared, 52);
    let rec = recall(&index, &queries, 10, 64, None);
    assert!(rec >= 0.95, "recall after concurrent build {rec}");
}

#[derive(Default)]
struct Recorder(Mutex<Vec<GraphOp>>);

impl GraphObserver for Recorder {
    fn record(&self, op: GraphOp) {
        self.0.lock().expect("recorder lock").push(op);
    }
}

#[test]
fn op_log_and_snapshot_rebuild_the_graph() {
    let data = random(800, DIM, Metric::Cosine, 61);
    let log = Arc::new(Recorder::default());
    let index = Hnsw::new(DIM, config(Metric::Cosine)).with_observer(log.clone());
    for (i, v) in data.iter().enumerate() {
        index.insert(i as u32, v).unwrap();
    }
    let mid = index.snapshot();
    let ops_at_mid = log.0.lock().unwrap().len();
    for id in (0..800).step_by(5) {
        index.delete(id);
    }
    index.cleanup();
    for id in 0..10u32 {
        index.delete(100 + id * 7 + 1);
    }
    let want = index.snapshot();
    let ops = log.0.lock().unwrap().clone();
    let vector_of = |id: u32| data.get(id as usize).cloned();

    // 1. Full replay of the log onto an empty index.
    let replayed = Hnsw::new(DIM, config(Metric::Cosine));
    let mut v = vector_of;
    for op in &ops {
        replayed.apply(op, &mut v).unwrap();
    }
    assert_eq!(replayed.snapshot(), want);

    // 2. Snapshot taken midway plus the log tail (with some overlap: ops are idempotent).
    let restored = Hnsw::from_snapshot(DIM, config(Metric::Cosine), &mid, vector_of).unwrap();
    for op in &ops[ops_at_mid.saturating_sub(50)..] {
        restored.apply(op, &mut v).unwrap();
    }
    assert_eq!(restored.snapshot(), want);
    assert_eq!(restored.len(), index.len());
    let q = &data[3];
    assert_eq!(
        restored.search(q, 10, None).unwrap(),
        index.search(q, 10, None).unwrap()
    );
}

#[test]
fn background_cleanup_thread() {
    let data = random(300, DIM, Metric::L2Squared, 71);
    let index = Arc::new(build(&data, config(Metric::L2Squared)));
    let cleaner =
        CleanupThread::spawn(index.clone(), Some(std::time::Duration::from_millis(10))).unwrap();
    for id in 0..100 {
        index.delete(id);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while index.tombstone_count() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(cleaner);
    assert_eq!(index.tombstone_count(), 0);
}

#[test]
fn flat_index_is_exact() {
    for metric in Metric::ALL {
        let data = random(500, DIM, metric, 81);
        let flat = FlatIndex::new(DIM, metric);
        let hnsw = build(&data, config(metric));
        for (i, v) in data.iter().enumerate() {
            flat.insert(i as u32, v).unwrap();
        }
        assert!(flat.delete(7) && !flat.delete(7) && hnsw.delete(7));
        let allow: RoaringBitmap = (0..500).step_by(3).collect();
        for q in random(10, DIM, metric, 82) {
            for filter in [None, Some(&allow)] {
                let got = flat.search(&q, 10, filter).unwrap();
                let want = hnsw.exact_search(&q, 10, filter).unwrap();
                let d =
                    |h: &[weft_hnsw::Neighbor]| h.iter().map(|n| n.distance).collect::<Vec<_>>();
                assert_eq!(d(&got), d(&want), "{metric}");
                assert!(got.iter().all(|n| n.id != 7));
            }
        }
        assert_eq!(flat.len(), 499);
    }
}

/// A replayed entry-point change to a node the index does not hold (its insert was not
/// replayed) keeps the entry; a graph left without one gets it back from `repair_entry`.
#[test]
fn replay_never_leaves_the_graph_without_an_entry_point() {
    let data = random(200, DIM, Metric::L2Squared, 81);
    let index = Hnsw::new(DIM, config(Metric::L2Squared));
    for (i, v) in data.iter().enumerate() {
        index.insert(i as u32, v).unwrap();
    }
    let q = &data[7];
    let before = index.search(q, 5, None).unwrap();
    let mut none = |_: u32| None;
    index
        .apply(
            &GraphOp::SetEntryPoint {
                entry: Some((9_999, 2)),
            },
            &mut none,
        )
        .unwrap();
    assert_eq!(index.search(q, 5, None).unwrap(), before);
    assert!(!index.repair_entry());
    index
        .apply(&GraphOp::SetEntryPoint { entry: None }, &mut none)
        .unwrap();
    assert!(index.search(q, 5, None).unwrap().is_empty());
    assert!(index.repair_entry());
    let after = index.search(q, 5, None).unwrap();
    assert_eq!((after[0].id, before[0].id), (7, 7));
}
