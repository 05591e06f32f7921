//! Memory and snapshot size of an index under updates as weft-db makes them: every object is
//! deleted and re-inserted under a fresh, higher id, with a cleanup after each round.
//!
//! ```sh
//! cargo run --release -p weft-hnsw --example update_memory -- [objects] [rounds] [dim] [M]
//! ```
//! (defaults 10 000, 30, 64, 16). Uses only `insert`, `delete`, `cleanup`, `memory_bytes` and
//! `write_snapshot`, so the same file measures older versions of the index too.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use weft_hnsw::{Hnsw, HnswConfig, Metric};

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn snapshot_len(index: &Hnsw, covered: u64) -> usize {
    let mut out = Vec::new();
    match index.write_snapshot(covered, &mut out) {
        Ok(_) => out.len(),
        Err(e) => panic!("snapshot: {e}"),
    }
}

fn main() {
    let (n, rounds, dim, m) = (arg(1, 10_000), arg(2, 30), arg(3, 64), arg(4, 16));
    let cfg = HnswConfig {
        metric: Metric::L2Squared,
        max_connections: m,
        ef_construction: 64,
        ..HnswConfig::default()
    };
    let index = Hnsw::new(dim, cfg);
    let mut r = StdRng::seed_from_u64(1);
    let mut vector = || -> Vec<f32> { (0..dim).map(|_| r.random_range(-1.0f32..1.0)).collect() };
    let mut current: Vec<u32> = Vec::with_capacity(n);
    for id in 0..n as u32 {
        if let Err(e) = index.insert(id, &vector()) {
            panic!("insert {id}: {e}");
        }
        current.push(id);
    }
    let mem0 = index.memory_bytes();
    let snap0 = snapshot_len(&index, n as u64);
    println!(
        "objects {n}, dim {dim}, M {m}, {rounds} rounds of delete + insert under a fresh id + cleanup"
    );
    println!("round | memory_bytes | x first build | snapshot bytes | x first build");
    println!("0 | {mem0} | 1.00 | {snap0} | 1.00");
    let mut next = n as u32;
    for round in 1..=rounds {
        for cur in current.iter_mut() {
            index.delete(*cur);
            if let Err(e) = index.insert(next, &vector()) {
                panic!("insert {next}: {e}");
            }
            *cur = next;
            next += 1;
        }
        index.cleanup();
        if round % 10 == 0 || round == rounds {
            let mem = index.memory_bytes();
            let snap = snapshot_len(&index, u64::from(next));
            println!(
                "{round} | {mem} | {:.2} | {snap} | {:.2}",
                mem as f64 / mem0 as f64,
                snap as f64 / snap0 as f64
            );
        }
    }
}
