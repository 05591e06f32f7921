//! Compressed indexes (sq, rq-8, rq-1, bq, pq): recall with rescoring against brute force on the f32
//! vectors, compression while inserts and searches run, and snapshot round trips.
#![expect(clippy::unwrap_used, reason = "tests fail by panicking")]

mod common;

use common::{clustered, config};

use weft_hnsw::{Hnsw, Metric, Neighbor, Quantizer, RQ_SEED, Rescore};

const N: usize = 3000;
const DIM: usize = 48;

fn quantizers(index: &Hnsw, metric: Metric) -> Vec<Quantizer> {
    vec![
        index.train_sq(10_000).unwrap(),
        Quantizer::rq8(metric, DIM, RQ_SEED).unwrap(),
        Quantizer::rq4(metric, DIM, RQ_SEED).unwrap(),
        index.train_pq(10_000, 0, 256).unwrap().unwrap(),
    ]
}

/// The exact k nearest of `q` among `data` (ids = positions).
fn brute(data: &[Vec<f32>], metric: Metric, q: &[f32], k: usize) -> Vec<u32> {
    let norm = |v: &[f32]| {
        let mut v = v.to_vec();
        if metric.normalizes() {
            weft_vector::normalize(&mut v);
        }
        v
    };
    let q = norm(q);
    let mut all: Vec<(f32, u32)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (metric.distance(&q, &norm(v)), i as u32))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    all.into_iter().take(k).map(|(_, i)| i).collect()
}

fn recall(got: &[Neighbor], truth: &[u32]) -> f64 {
    got.iter().filter(|n| truth.contains(&n.id)).count() as f64 / truth.len() as f64
}

fn source(
    data: &[Vec<f32>],
) -> impl Fn(&[u32]) -> Result<Vec<Option<Vec<f32>>>, weft_hnsw::IndexError> + Sync + '_ {
    |ids: &[u32]| Ok(ids.iter().map(|&i| data.get(i as usize).cloned()).collect())
}

#[test]
fn rescored_recall_stays_near_f32_recall() {
    for metric in [Metric::Cosine, Metric::Dot, Metric::L2Squared] {
        let data = clustered(N, DIM, 30, metric, 11);
        let queries = clustered(60, DIM, 30, metric, 12);
        let ef = if metric == Metric::Dot { 200 } else { 64 };
        let plain = Hnsw::new(DIM, config(metric));
        for (i, v) in data.iter().enumerate() {
            plain.insert(i as u32, v).unwrap();
        }
        let truth: Vec<Vec<u32>> = queries
            .iter()
            .map(|q| brute(&data, metric, q, 10))
            .collect();
        let measure = |index: &Hnsw, rescore: Option<&Rescore<'_>>| {
            queries
                .iter()
                .zip(&truth)
                .map(|(q, t)| {
                    let got = index
                        .search_rescored(q, 10, Some(ef), None, rescore)
                        .unwrap();
                    common::assert_sorted(&got);
                    recall(&got, t)
                })
                .sum::<f64>()
                / queries.len() as f64
        };
        let f32_recall = measure(&plain, None);
        let src = source(&data);
        for q in quantizers(&plain, metric) {
            let kind = q.kind();
            let index = Hnsw::new(DIM, config(metric));
            for (i, v) in data.iter().enumerate() {
                index.insert(i as u32, v).unwrap();
            }
            assert!(index.compress(q).unwrap());
            assert!(
                !index
                    .compress(Quantizer::rq8(metric, DIM, 1).unwrap())
                    .unwrap()
            );
            let rescore = Rescore {
                limit: 40,
                source: &src,
            };
            let got = measure(&index, Some(&rescore));
            eprintln!("{metric} {kind:?}: recall {got:.3}, f32 {f32_recall:.3}");
            assert!(
                got >= f32_recall - 0.03,
                "{metric} {kind:?}: rescored recall {got} vs f32 {f32_recall}"
            );
            // Rescored distances are the exact ones.
            let q = &queries[0];
            let hits = index
                .search_rescored(q, 5, Some(ef), None, Some(&rescore))
                .unwrap();
            for h in &hits {
                let mut v = data[h.id as usize].clone();
                let mut qn = q.clone();
                if metric.normalizes() {
                    weft_vector::normalize(&mut v);
                    weft_vector::normalize(&mut qn);
                }
                assert!((metric.distance(&qn, &v) - h.distance).abs() < 1e-4);
            }
            // Memory: the codes replace the f32 vectors.
            assert!(index.memory_bytes() < plain.memory_bytes());
        }
    }
}

/// rq with 1 bit, centred on the data's mean or not, with Weaviate's default rescoreLimit
/// (512: all `ef` candidates), finds what the f32 index finds at the same `ef`. Like bq it needs directions spread over many dimensions (uniform 128-d
/// vectors here): on the clustered 48-d set above, neighbours differ by less than a 1-bit code
/// resolves (recall ≈ 0.6, see BENCHMARKS.md for the same on the synthetic 128-d mixture).
#[test]
fn rq1_rescored_recall_stays_near_f32_recall() {
    let dim = 128;
    for (metric, centred) in [(Metric::Cosine, false), (Metric::L2Squared, true)] {
        let data = common::random(N / 2, dim, metric, 61);
        let queries = common::random(60, dim, metric, 62);
        let truth: Vec<Vec<u32>> = queries
            .iter()
            .map(|q| brute(&data, metric, q, 10))
            .collect();
        let src = source(&data);
        let rescore = Rescore {
            limit: 512,
            source: &src,
        };
        let plain = Hnsw::new(dim, config(metric));
        for (i, v) in data.iter().enumerate() {
            plain.insert(i as u32, v).unwrap();
        }
        let measure = |index: &Hnsw, rescore: Option<&Rescore<'_>>| {
            queries
                .iter()
                .zip(&truth)
                .map(|(q, t)| {
                    let got = index
                        .search_rescored(q, 10, Some(200), None, rescore)
                        .unwrap();
                    common::assert_sorted(&got);
                    recall(&got, t)
                })
                .sum::<f64>()
                / queries.len() as f64
        };
        let f32_recall = measure(&plain, None);
        {
            let index = Hnsw::new(dim, config(metric));
            for (i, v) in data.iter().enumerate() {
                index.insert(i as u32, v).unwrap();
            }
            let q = if centred {
                index.train_rq1(1000, RQ_SEED).unwrap()
            } else {
                Quantizer::rq1(metric, dim, RQ_SEED).unwrap()
            };
            assert!(index.compress(q).unwrap());
            let got = measure(&index, Some(&rescore));
            eprintln!("{metric} rq-1 centred {centred}: recall {got:.3}, f32 {f32_recall:.3}");
            assert!(
                got >= f32_recall - 0.03,
                "{metric} centred {centred}: rescored recall {got} vs f32 {f32_recall}"
            );
            // 128 bits padded to 256 plus 5 header words: 52 bytes a vector instead of 512.
            assert!(index.memory_bytes() * 2 < plain.memory_bytes());
        }
    }
}

#[test]
fn bq_with_every_candidate_rescored_finds_the_neighbours() {
    // Sign bits only describe directions well in many dimensions with no shared offset (as
    // learned embeddings are): uniform vectors in 128 dimensions here. On the clustered
    // 48-dimensional set above, whole clusters share their signs and the walk is blind.
    let metric = Metric::Cosine;
    let dim = 128;
    let data = common::random(N, dim, metric, 51);
    let queries = common::random(60, dim, metric, 52);
    let index = Hnsw::new(dim, config(metric));
    index.compress(Quantizer::bq(metric, dim).unwrap()).unwrap();
    for (i, v) in data.iter().enumerate() {
        index.insert(i as u32, v).unwrap();
    }
    let src = source(&data);
    let all = Rescore {
        limit: usize::MAX,
        source: &src,
    };
    let got = queries
        .iter()
        .map(|q| {
            let hits = index
                .search_rescored(q, 10, Some(200), None, Some(&all))
                .unwrap();
            common::assert_sorted(&hits);
            recall(&hits, &brute(&data, metric, q, 10))
        })
        .sum::<f64>()
        / queries.len() as f64;
    eprintln!("bq: recall {got:.3}");
    assert!(got >= 0.8, "bq rescored recall {got}");
    // 1 bit per dimension: 128 dimensions are 4 words.
    assert_eq!(index.vector(0).unwrap().len(), 4);
}

#[test]
fn compression_while_inserting_and_searching() {
    let metric = Metric::L2Squared;
    let data = clustered(N, DIM, 30, metric, 21);
    let index = Hnsw::new(DIM, config(metric));
    let half = N / 2;
    for (i, v) in data.iter().enumerate().take(half) {
        index.insert(i as u32, v).unwrap();
    }
    let src = source(&data);
    std::thread::scope(|s| {
        let index = &index;
        let data = &data;
        s.spawn(move || {
            for (i, v) in data.iter().enumerate().skip(half) {
                index.insert(i as u32, v).unwrap();
            }
        });
        s.spawn(move || {
            for (i, v) in data.iter().enumerate().take(half).step_by(7) {
                let hit = index.search(v, 1, None).unwrap();
                assert!(!hit.is_empty(), "search {i} found nothing");
            }
        });
        let q = Quantizer::rq8(metric, DIM, RQ_SEED).unwrap();
        assert!(index.compress(q).unwrap());
    });
    assert!(index.is_compressed());
    assert_eq!(index.len(), N);
    let rescore = Rescore {
        limit: 20,
        source: &src,
    };
    // Every vector, inserted before, during or after the switch, is stored as codes and is
    // its own nearest neighbour after rescoring.
    for (i, v) in data.iter().enumerate() {
        let row = index.vector(i as u32).unwrap();
        assert_eq!(row.len(), index.quantizer().unwrap().row_words(), "{i}");
        let hit = index
            .search_rescored(v, 1, Some(64), None, Some(&rescore))
            .unwrap();
        assert_eq!((hit[0].id, hit[0].distance), (i as u32, 0.0), "{i}");
    }
}

/// pq: the graph keeps growing on codes (inserts search with a table built from their own
/// code and select neighbours by code-to-code distances), cleanup repairs lists on codes,
/// and every candidate of the walk is rescored (Weaviate's rule).
#[test]
fn pq_index_grows_and_heals_on_codes() {
    for metric in [Metric::L2Squared, Metric::Cosine] {
        let data = clustered(N, DIM, 30, metric, 71);
        let queries = clustered(60, DIM, 30, metric, 72);
        let index = Hnsw::new(DIM, config(metric));
        let half = N / 3;
        for (i, v) in data.iter().enumerate().take(half) {
            index.insert(i as u32, v).unwrap();
        }
        // 8 segments of 6 dimensions, 256 centroids: 8 bytes a vector instead of 192.
        let q = index.train_pq(half, 8, 256).unwrap().unwrap();
        assert_eq!(q.kind(), weft_hnsw::QuantKind::Pq);
        assert_eq!(q.row_words(), 2);
        assert!(index.compress(q).unwrap());
        assert!(index.train_pq(half, 8, 256).unwrap().is_none());
        for (i, v) in data.iter().enumerate().skip(half) {
            index.insert(i as u32, v).unwrap();
        }
        let deleted: Vec<u32> = (0..N as u32).step_by(10).collect();
        for &id in &deleted {
            assert!(index.delete(id));
        }
        assert_eq!(index.cleanup(), deleted.len());
        let truth_of = |q: &[f32]| -> Vec<u32> {
            brute(&data, metric, q, N)
                .into_iter()
                .filter(|i| i % 10 != 0)
                .take(10)
                .collect()
        };
        let src = source(&data);
        let all = Rescore {
            limit: usize::MAX,
            source: &src,
        };
        let got = queries
            .iter()
            .map(|q| {
                let hits = index
                    .search_rescored(q, 10, Some(100), None, Some(&all))
                    .unwrap();
                common::assert_sorted(&hits);
                assert!(
                    hits.iter().all(|h| h.id % 10 != 0),
                    "a deleted node returned"
                );
                recall(&hits, &truth_of(q))
            })
            .sum::<f64>()
            / queries.len() as f64;
        eprintln!("{metric} pq: recall {got:.3}");
        assert!(got >= 0.9, "{metric} pq rescored recall {got}");
        // Without rescoring, 6 dimensions per byte order the neighbours roughly (0.35 seen;
        // a random order finds none).
        let coarse = queries
            .iter()
            .map(|q| {
                let hits = index.search_rescored(q, 10, Some(100), None, None).unwrap();
                recall(&hits, &truth_of(q))
            })
            .sum::<f64>()
            / queries.len() as f64;
        assert!(
            coarse >= 0.2 && coarse <= got + 1e-9,
            "{metric} pq codes {coarse}"
        );
    }
}

#[test]
fn compressed_snapshot_round_trip_keeps_codes_and_answers() {
    for rq1 in [false, true] {
        snapshot_round_trip(rq1);
    }
}

#[test]
fn pq_snapshot_round_trip_keeps_the_codebooks() {
    let metric = Metric::Dot;
    let data = clustered(800, DIM, 10, metric, 81);
    let cfg = config(metric);
    let index = Hnsw::new(DIM, cfg.clone());
    for (i, v) in data.iter().enumerate() {
        index.insert(i as u32, v).unwrap();
    }
    // 48 dimensions, 256 centroids: a 48 KiB codebook.
    index
        .compress(index.train_pq(800, 0, 256).unwrap().unwrap())
        .unwrap();
    let mut bytes = Vec::new();
    index.write_snapshot(800, &mut bytes).unwrap();
    let (loaded, _) =
        Hnsw::read_snapshot(&mut bytes.as_slice(), bytes.len() as u64, DIM, cfg.clone()).unwrap();
    assert_eq!(loaded.quantizer(), index.quantizer());
    assert_eq!(loaded.snapshot(), index.snapshot());
    for q in data.iter().step_by(40) {
        assert_eq!(
            loaded.search(q, 10, None).unwrap(),
            index.search(q, 10, None).unwrap()
        );
    }
    let extra = clustered(1, DIM, 10, metric, 82).remove(0);
    loaded.insert(900, &extra).unwrap();
    index.insert(900, &extra).unwrap();
    assert_eq!(bits(loaded.vector(900)), bits(index.vector(900)));
    // A codebook beyond 64 KiB (256 centroids × 128 dimensions × 4 bytes) has its length in
    // all four header bytes 20..24.
    let wide = Hnsw::new(128, cfg.clone());
    let vs = common::random(300, 128, metric, 83);
    for (i, v) in vs.iter().enumerate() {
        wide.insert(i as u32, v).unwrap();
    }
    wide.compress(wide.train_pq(300, 0, 256).unwrap().unwrap())
        .unwrap();
    let mut bytes = Vec::new();
    wide.write_snapshot(300, &mut bytes).unwrap();
    assert!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()) > 65_536);
    let (loaded, _) =
        Hnsw::read_snapshot(&mut bytes.as_slice(), bytes.len() as u64, 128, cfg).unwrap();
    assert_eq!(loaded.quantizer(), wide.quantizer());
    assert_eq!(loaded.search(&vs[7], 1, None).unwrap()[0].id, 7);
}

fn snapshot_round_trip(rq1: bool) {
    let metric = Metric::Cosine;
    let data = clustered(800, DIM, 10, metric, 31);
    let cfg = config(metric);
    let index = Hnsw::new(DIM, cfg.clone());
    for (i, v) in data.iter().enumerate() {
        index.insert(i as u32, v).unwrap();
    }
    for id in (0..800).step_by(9) {
        index.delete(id);
    }
    let q = if rq1 {
        Quantizer::rq1(metric, DIM, RQ_SEED).unwrap()
    } else {
        index.train_sq(500).unwrap()
    };
    index.compress(q).unwrap();
    let mut bytes = Vec::new();
    index.write_snapshot(800, &mut bytes).unwrap();
    let (loaded, info) =
        Hnsw::read_snapshot(&mut bytes.as_slice(), bytes.len() as u64, DIM, cfg.clone()).unwrap();
    assert_eq!(info.nodes, 800);
    assert_eq!(loaded.quantizer(), index.quantizer());
    assert_eq!(loaded.snapshot(), index.snapshot());
    for id in 0..800u32 {
        assert_eq!(bits(loaded.vector(id)), bits(index.vector(id)), "{id}");
    }
    for q in data.iter().step_by(50) {
        assert_eq!(
            loaded.search(q, 10, None).unwrap(),
            index.search(q, 10, None).unwrap()
        );
    }
    // Inserts after loading are encoded with the loaded parameters.
    let extra = clustered(1, DIM, 10, metric, 32).remove(0);
    loaded.insert(900, &extra).unwrap();
    index.insert(900, &extra).unwrap();
    assert_eq!(bits(loaded.vector(900)), bits(index.vector(900)));
    // A damaged quantizer block is a checksum error, not another index.
    let mut bad = bytes.clone();
    // The block follows the 60-byte header of format version 3.
    bad[60 + 2] ^= 1;
    let err = Hnsw::read_snapshot(&mut bad.as_slice(), bad.len() as u64, DIM, cfg).unwrap_err();
    assert!(err.to_string().contains("quantizer"), "{err}");
}

#[test]
fn cleanup_reuses_slots_of_compressed_nodes() {
    let metric = Metric::L2Squared;
    let data = clustered(1200, DIM, 10, metric, 41);
    let index = Hnsw::new(DIM, config(metric));
    // A quantizer of another metric or dimension does not fit.
    assert!(
        index
            .compress(Quantizer::rq8(Metric::Dot, DIM, RQ_SEED).unwrap())
            .is_err()
    );
    assert!(
        index
            .compress(Quantizer::rq8(metric, DIM + 1, RQ_SEED).unwrap())
            .is_err()
    );
    for (i, v) in data.iter().enumerate().take(600) {
        index.insert(i as u32, v).unwrap();
    }
    index
        .compress(Quantizer::rq8(metric, DIM, RQ_SEED).unwrap())
        .unwrap();
    for id in 0..300 {
        index.delete(id);
    }
    assert_eq!(index.cleanup(), 300);
    for (i, v) in data.iter().enumerate().skip(600) {
        index.insert(i as u32, v).unwrap();
    }
    assert!(index.slot_count() <= 900);
    let src = source(&data);
    let rescore = Rescore {
        limit: 20,
        source: &src,
    };
    for (i, v) in data.iter().enumerate().skip(300).step_by(11) {
        let hit = index
            .search_rescored(v, 1, Some(64), None, Some(&rescore))
            .unwrap();
        assert_eq!(hit[0].id, i as u32);
    }
}

/// A row's bits (codes read as f32 may be NaN, which is not equal to itself).
fn bits(row: Option<Vec<f32>>) -> Option<Vec<u32>> {
    row.map(|r| r.iter().map(|x| x.to_bits()).collect())
}

#[test]
fn flat_compressed_rescores_and_round_trips() {
    use weft_hnsw::FlatIndex;
    let metric = Metric::Cosine;
    let dim = 128;
    let data = common::random(1500, dim, metric, 61);
    let queries = common::random(40, dim, metric, 62);
    let src = source(&data);
    for q in [
        Quantizer::rq8(metric, dim, RQ_SEED).unwrap(),
        Quantizer::rq1(metric, dim, RQ_SEED).unwrap(),
        Quantizer::bq(metric, dim).unwrap(),
    ] {
        let kind = q.kind();
        let flat = FlatIndex::compressed(q);
        for (i, v) in data.iter().enumerate() {
            flat.insert(i as u32, v).unwrap();
        }
        let measure = |index: &FlatIndex, limit: usize| {
            let rescore = Rescore {
                limit,
                source: &src,
            };
            queries
                .iter()
                .map(|q| {
                    let hits = index.search_rescored(q, 10, None, Some(&rescore)).unwrap();
                    common::assert_sorted(&hits);
                    recall(&hits, &brute(&data, metric, q, 10))
                })
                .sum::<f64>()
                / queries.len() as f64
        };
        // Weaviate's default (−1, passed as 0): the best k by codes, re-ordered exactly.
        let reordered = measure(&flat, 0);
        let wide = measure(&flat, 200);
        eprintln!("flat {kind:?}: recall {reordered:.3} (k), {wide:.3} (200)");
        // One bit per dimension ranks coarsely: 200 of 1 500 rescored still miss some.
        let floor = match kind {
            weft_hnsw::QuantKind::Bq => 0.85,
            weft_hnsw::QuantKind::Rq1 => 0.95,
            _ => 0.98,
        };
        assert!(wide >= reordered && wide >= floor, "{kind:?}: {wide}");
        let mut bytes = Vec::new();
        flat.write_snapshot(1500, &mut bytes).unwrap();
        let (loaded, _) =
            FlatIndex::read_snapshot(&mut bytes.as_slice(), bytes.len() as u64, dim, metric)
                .unwrap();
        assert_eq!(loaded.quantizer(), flat.quantizer());
        assert_eq!(measure(&loaded, 200), wide);
    }
}
