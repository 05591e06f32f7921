//! Test data and recall measurement shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use roaring::RoaringBitmap;
use weft_hnsw::{Hnsw, HnswConfig, Metric, Neighbor};

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Uniform in [-1, 1); for hamming, small integers so that components often agree.
pub fn random(n: usize, dim: usize, metric: Metric, seed: u64) -> Vec<Vec<f32>> {
    let mut r = rng(seed);
    (0..n)
        .map(|_| {
            (0..dim)
                .map(|_| {
                    if metric == Metric::Hamming {
                        f32::from(r.random_range(0u8..4))
                    } else {
                        r.random_range(-1.0f32..1.0)
                    }
                })
                .collect()
        })
        .collect()
}

/// A Gaussian-ish mixture: `clusters` centres, points near them.
pub fn clustered(
    n: usize,
    dim: usize,
    clusters: usize,
    metric: Metric,
    seed: u64,
) -> Vec<Vec<f32>> {
    let mut r = rng(seed);
    let centres = random(clusters, dim, metric, seed ^ 0xc1);
    (0..n)
        .map(|_| {
            let c = &centres[r.random_range(0..clusters)];
            c.iter()
                .map(|&x| {
                    if metric == Metric::Hamming {
                        if r.random_bool(0.2) {
                            f32::from(r.random_range(0u8..4))
                        } else {
                            x
                        }
                    } else {
                        // Sum of uniforms: roughly normal, sigma ~0.1.
                        let noise: f32 = (0..4).map(|_| r.random_range(-0.09f32..0.09)).sum();
                        x + noise
                    }
                })
                .collect()
        })
        .collect()
}

pub fn config(metric: Metric) -> HnswConfig {
    HnswConfig {
        metric,
        max_connections: 16,
        ef_construction: 100,
        ..HnswConfig::default()
    }
}

pub fn build(data: &[Vec<f32>], cfg: HnswConfig) -> Hnsw {
    let h = Hnsw::new(data[0].len(), cfg);
    for (i, v) in data.iter().enumerate() {
        h.insert(i as u32, v).unwrap();
    }
    h
}

/// Fraction of returned hits that are at least as close as the true k-th neighbour (robust to
/// ties, which hamming has many of), over all queries.
pub fn recall(
    index: &Hnsw,
    queries: &[Vec<f32>],
    k: usize,
    ef: usize,
    allow: Option<&RoaringBitmap>,
) -> f64 {
    let mut hits = 0usize;
    let mut total = 0usize;
    for q in queries {
        let exact = index.exact_search(q, k, allow).unwrap();
        let got = index.search_with_ef(q, k, ef, allow).unwrap();
        total += exact.len();
        let Some(kth) = exact.last() else { continue };
        hits += got
            .iter()
            .filter(|n| n.distance <= kth.distance + 1e-5)
            .count()
            .min(exact.len());
        assert_sorted(&got);
        if let Some(a) = allow {
            assert!(
                got.iter().all(|n| a.contains(n.id)),
                "result outside the allow-list"
            );
        }
    }
    hits as f64 / total.max(1) as f64
}

pub fn assert_sorted(hits: &[Neighbor]) {
    assert!(
        hits.windows(2).all(|w| w[0].distance <= w[1].distance),
        "hits not sorted"
    );
}
