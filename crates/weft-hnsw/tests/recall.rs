//! Recall against brute force for every metric on random and clustered data.

mod common;

use common::{build, clustered, config, random, recall};
use weft_hnsw::Metric;

const N: usize = 1500;
const DIM: usize = 24;

fn check(metric: Metric, data: &[Vec<f32>], queries: &[Vec<f32>], what: &str) {
    let index = build(data, config(metric));
    assert_eq!(index.len(), data.len());
    // Inner product is not a metric: the graph heuristics fit it worse and it needs a larger
    // ef for the same recall (as in hnswlib and Weaviate).
    let ef = if metric == Metric::Dot { 256 } else { 64 };
    let r = recall(&index, queries, 10, ef, None);
    eprintln!("{metric} {what}: recall@10 = {r:.4}");
    assert!(r >= 0.95, "{metric} {what}: recall@10 {r} < 0.95");
}

#[test]
fn recall_random_every_metric() {
    for metric in Metric::ALL {
        let data = random(N, DIM, metric, 1);
        let queries = random(50, DIM, metric, 2);
        check(metric, &data, &queries, "random");
    }
}

#[test]
fn recall_clustered_every_metric() {
    for metric in Metric::ALL {
        let data = clustered(N, DIM, 20, metric, 3);
        let queries = clustered(50, DIM, 20, metric, 3 ^ 0xff);
        check(metric, &data, &queries, "clustered");
    }
}

#[test]
fn exact_self_match_and_dynamic_ef() {
    let data = clustered(N, DIM, 20, Metric::L2Squared, 5);
    let index = build(&data, config(Metric::L2Squared));
    for (i, v) in data.iter().enumerate().step_by(97) {
        let hits = index.search(v, 1, None).unwrap();
        assert_eq!(
            hits[0].distance, 0.0,
            "vector {i} is not its own nearest neighbour"
        );
    }
}

#[test]
fn errors() {
    let index = build(&random(10, 4, Metric::Dot, 9), config(Metric::Dot));
    assert_eq!(
        index.insert(3, &[0.0; 4]),
        Err(weft_hnsw::IndexError::Exists(3))
    );
    assert!(matches!(
        index.insert(11, &[0.0; 5]),
        Err(weft_hnsw::IndexError::Dimension {
            expected: 4,
            got: 5
        })
    ));
    assert!(index.search(&[0.0; 3], 1, None).is_err());
    assert!(index.search(&[0.0; 4], 0, None).unwrap().is_empty());
    let empty = weft_hnsw::Hnsw::new(4, config(Metric::Dot));
    assert!(empty.search(&[0.0; 4], 5, None).unwrap().is_empty());
}

/// Larger run, in release: `cargo test --release -p weft-hnsw -- --ignored`.
#[test]
#[ignore = "large: run in release"]
fn recall_large_clustered() {
    let data = clustered(50_000, 64, 100, Metric::L2Squared, 11);
    let queries = clustered(200, 64, 100, Metric::L2Squared, 12);
    let index = build(&data, config(Metric::L2Squared));
    let r = recall(&index, &queries, 10, 64, None);
    assert!(r >= 0.95, "recall {r}");
}
