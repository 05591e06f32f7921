//! Many identical vectors (common in real data: duplicated texts embed identically) must not
//! degrade the graph: every distinct value stays findable at distance 0, and neighbour lists
//! of a cluster of duplicates do not fill up with duplicates (which made each insert shrink
//! dozens of full lists).

use weft_hnsw::{Hnsw, HnswConfig, Metric};

#[test]
fn clusters_of_duplicates_stay_searchable_and_lean() {
    let distinct = 7u32;
    let index = Hnsw::new(
        4,
        HnswConfig {
            metric: Metric::L2Squared,
            ..HnswConfig::default()
        },
    );
    let value = |k: u32| [k as f32, (k * k) as f32, 1.0, -(k as f32)];
    for i in 0..1500u32 {
        index.insert(i, &value(i % distinct)).unwrap();
    }
    for k in 0..distinct {
        let hits = index.search(&value(k), 5, None).unwrap();
        assert_eq!(hits.len(), 5);
        assert!(
            hits.iter()
                .all(|h| h.distance == 0.0 && h.id % distinct == k),
            "{k}: {hits:?}"
        );
    }
    // A node links to at most one exact duplicate per selection, so its level-0 list holds
    // far fewer than 2·M entries of its own value.
    let snapshot = index.snapshot();
    let node = snapshot.nodes.iter().find(|n| n.id == 700).unwrap();
    let dup_links = node.neighbors[0]
        .iter()
        .filter(|&&n| n % distinct == 700 % distinct)
        .count();
    assert!(
        dup_links < 16,
        "node 700 links to {dup_links} duplicates of itself"
    );
}
