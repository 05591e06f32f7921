//! Concurrent inserts into one graph must build a graph as sound as a sequential build: every
//! vector is found as its own nearest neighbour and every live node is reachable from the
//! entry point. Stress: 8 threads started together, clustered data with exact duplicate pairs,
//! M 12 and 16.
//!
//! `WEFT_LONG=1` runs 100 rounds (the acceptance bar for the concurrent-insert race);
//! by default a few rounds run so CI stays fast.

mod common;

use std::collections::BTreeSet;
use std::sync::Barrier;

use common::{clustered, rng};
use rand::Rng;
use weft_hnsw::{Hnsw, HnswConfig, Metric};

const DIM: usize = 8;
/// maxConnections per round, cycled. (With M ≤ 8 a sequential build of this data also leaves a
/// node unreachable in about one round in a thousand: the selection heuristic can prune a
/// node's last in-link. That is not what this test is about.)
const MS: [usize; 2] = [12, 16];
const THREADS: usize = 8;

fn rounds() -> u64 {
    match std::env::var("WEFT_LONG") {
        Ok(v) if v == "1" => 100,
        _ => 3,
    }
}

/// Clustered vectors where about a quarter are exact copies of an earlier one (each value at
/// most twice: larger groups of exact duplicates are a known limit of the selection heuristic
/// even for sequential builds, see `docs/decisions/0006-vector-index.md`).
fn data(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let base = clustered(n, DIM, 6, Metric::L2Squared, seed);
    let mut r = rng(seed ^ 0xd0);
    let mut out: Vec<Vec<f32>> = Vec::with_capacity(n);
    let mut copied = vec![false; n];
    for v in base {
        let j = r.random_range(0..out.len().max(1));
        if j < out.len() && !copied[j] && r.random_bool(0.3) {
            copied[j] = true;
            copied[out.len()] = true;
            out.push(out[j].clone());
        } else {
            out.push(v);
        }
    }
    out
}

/// Ids of the live nodes reachable from the entry point following lists of every level.
fn reachable(index: &Hnsw) -> BTreeSet<u32> {
    let snap = index.snapshot();
    let lists: std::collections::HashMap<u32, &Vec<Vec<u32>>> =
        snap.nodes.iter().map(|n| (n.id, &n.neighbors)).collect();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<u32> = snap.entry.map(|(id, _)| id).into_iter().collect();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for list in lists.get(&id).into_iter().flat_map(|l| l.iter()) {
            stack.extend(list.iter().copied().filter(|n| !seen.contains(n)));
        }
    }
    seen.retain(|&id| index.contains(id));
    seen
}

/// Everything the graph must satisfy after a build; a description of the first failure.
fn check(index: &Hnsw, data: &[Vec<f32>]) -> Result<(), String> {
    if index.len() != data.len() {
        return Err(format!("len {} of {}", index.len(), data.len()));
    }
    let reach = reachable(index);
    if reach.len() != data.len() {
        let lost: Vec<u32> = (0..data.len() as u32)
            .filter(|id| !reach.contains(id))
            .take(10)
            .collect();
        return Err(format!(
            "{} of {} nodes unreachable from the entry point, e.g. {lost:?}",
            data.len() - reach.len(),
            data.len()
        ));
    }
    for (id, v) in data.iter().enumerate() {
        let copies = data.iter().filter(|w| *w == v).count();
        let hits = index
            .search_with_ef(v, copies + 2, 64, None)
            .map_err(|e| e.to_string())?;
        let top = hits.first().map(|h| h.distance);
        let found = hits.iter().any(|h| h.id == id as u32 && h.distance == 0.0);
        if top != Some(0.0) || !found {
            return Err(format!(
                "{id} ({copies} copies) not its own nearest neighbour: {hits:?}"
            ));
        }
    }
    Ok(())
}

fn build_concurrently(data: &[Vec<f32>], cfg: HnswConfig) -> Hnsw {
    let index = Hnsw::new(DIM, cfg);
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (index, start) = (&index, &start);
            s.spawn(move || {
                start.wait();
                for i in (t..data.len()).step_by(THREADS) {
                    if let Err(e) = index.insert(i as u32, &data[i]) {
                        panic!("insert {i}: {e}");
                    }
                }
            });
        }
    });
    index
}

fn config(round: u64, m: usize) -> HnswConfig {
    HnswConfig {
        metric: Metric::L2Squared,
        max_connections: m,
        ef_construction: 100,
        seed: 0x5eed ^ round.wrapping_mul(0x9e37_79b9),
        ..HnswConfig::default()
    }
}

#[test]
fn eight_threads_build_a_sound_graph() {
    let mut failures = Vec::new();
    let rounds = rounds();
    for round in 0..rounds {
        let data = data(1500, 1000 + round);
        let m = MS[round as usize % MS.len()];
        let index = build_concurrently(&data, config(round, m));
        if let Err(e) = check(&index, &data) {
            failures.push(format!("round {round} (M={m}): {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {rounds} rounds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn sequential_build_is_sound_too() {
    for round in 0..rounds() {
        let data = data(1500, 2000 + round);
        let m = MS[round as usize % MS.len()];
        let index = Hnsw::new(DIM, config(round, m));
        for (i, v) in data.iter().enumerate() {
            if let Err(e) = index.insert(i as u32, v) {
                panic!("insert {i}: {e}");
            }
        }
        if let Err(e) = check(&index, &data) {
            panic!("round {round} (M={m}): {e}");
        }
    }
}

/// Inserts on 4 threads while another deletes and searches and a third runs cleanup in a loop:
/// everything terminates (no lock cycle between inserts, deletes and cleanup), no deleted id
/// is ever returned, and afterwards the live nodes are found again (all but a few: repairing
/// around deletes is approximate; 100 rounds missed at most 10 of ~870 live nodes in a round).
#[test]
fn inserts_deletes_and_cleanup_interleave() {
    for round in 0..rounds() {
        interleave_round(round);
    }
}

fn interleave_round(round: u64) {
    let data = data(1200, 77 + round);
    let index = Hnsw::new(DIM, config(0, 12));
    let done = std::sync::atomic::AtomicBool::new(false);
    let deleted: std::sync::Mutex<BTreeSet<u32>> = Default::default();
    std::thread::scope(|s| {
        let inserters: Vec<_> = (0..4)
            .map(|t| {
                let (index, data) = (&index, &data);
                s.spawn(move || {
                    for i in (t..data.len()).step_by(4) {
                        if let Err(e) = index.insert(i as u32, &data[i]) {
                            panic!("insert {i}: {e}");
                        }
                    }
                })
            })
            .collect();
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                index.cleanup();
                std::thread::yield_now();
            }
        });
        s.spawn(|| {
            let mut r = rng(78 + round);
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let id = r.random_range(0..data.len() as u32);
                if index.delete(id) {
                    deleted.lock().map(|mut d| d.insert(id)).ok();
                }
                let gone = deleted.lock().map(|d| d.clone()).unwrap_or_default();
                let q = &data[r.random_range(0..data.len())];
                for hit in index.search(q, 5, None).into_iter().flatten() {
                    assert!(!gone.contains(&hit.id), "deleted {} returned", hit.id);
                }
            }
        });
        for h in inserters {
            if h.join().is_err() {
                panic!("an inserter panicked");
            }
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    index.cleanup();
    let gone = deleted.lock().map(|d| d.clone()).unwrap_or_default();
    assert_eq!(index.len(), data.len() - gone.len());
    assert_eq!(index.tombstone_count(), 0);
    let mut missed = 0;
    for (id, v) in data.iter().enumerate() {
        if gone.contains(&(id as u32)) {
            continue;
        }
        let hits = index.search_with_ef(v, 4, 64, None).unwrap_or_default();
        missed += usize::from(!hits.iter().any(|h| h.id == id as u32));
    }
    assert!(
        missed * 100 <= 3 * data.len(),
        "round {round}: {missed} live nodes not found by their own vector ({} deleted)",
        gone.len()
    );
}
