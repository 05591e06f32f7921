use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::{FlatIndex, Hnsw, HnswConfig};

fn cfg(metric: Metric) -> HnswConfig {
    HnswConfig {
        metric,
        max_connections: 8,
        ef_construction: 64,
        ..HnswConfig::default()
    }
}

fn random(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut r = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| r.random_range(-1.0f32..1.0)).collect())
        .collect()
}

fn built(n: usize, dim: usize, metric: Metric) -> (Hnsw, Vec<Vec<f32>>) {
    let data = random(n, dim, 7);
    let h = Hnsw::new(dim, cfg(metric));
    for (i, v) in data.iter().enumerate() {
        h.insert(i as u32, v).unwrap();
    }
    (h, data)
}

fn bytes_of(h: &Hnsw, covered: u64) -> Vec<u8> {
    let mut out = Vec::new();
    h.write_snapshot(covered, &mut out).unwrap();
    out
}

fn load(bytes: &[u8], dim: usize, metric: Metric) -> Result<(Hnsw, SnapshotInfo), SnapshotError> {
    Hnsw::read_snapshot(&mut &bytes[..], bytes.len() as u64, dim, cfg(metric))
}

#[test]
fn hnsw_roundtrip_keeps_graph_tombstones_and_vectors() {
    let (h, data) = built(600, 8, Metric::Cosine);
    for id in (0..600).step_by(7) {
        h.delete(id);
    }
    let bytes = bytes_of(&h, 600);
    let (g, info) = load(&bytes, 8, Metric::Cosine).unwrap();
    assert_eq!(info.nodes, 600);
    assert_eq!(info.tombstoned, 86);
    assert_eq!(info.bytes, bytes.len() as u64);
    assert_eq!(g.snapshot(), h.snapshot());
    assert_eq!(g.len(), h.len());
    assert_eq!(g.tombstone_count(), h.tombstone_count());
    assert_eq!(g.entry_point(), h.entry_point());
    for id in 0..600u32 {
        assert_eq!(g.vector(id), h.vector(id), "vector {id}");
    }
    for q in data.iter().take(20) {
        assert_eq!(g.search(q, 5, None).unwrap(), h.search(q, 5, None).unwrap());
    }
    // The level generator continues where it stopped: the next insert draws the same level.
    h.insert(600, &data[0]).unwrap();
    g.insert(600, &data[0]).unwrap();
    assert_eq!(g.snapshot(), h.snapshot());
    // Encoding is deterministic.
    assert_eq!(bytes_of(&g, 601), bytes_of(&h, 601));
}

#[test]
fn watermark_leaves_out_later_nodes_and_links_to_them() {
    let (h, _) = built(300, 4, Metric::L2Squared);
    let bytes = bytes_of(&h, 200);
    let d = decode(&bytes).unwrap();
    assert_eq!(d.header.covered, 200);
    assert_eq!(d.nodes.len(), 200);
    assert!(
        d.nodes
            .iter()
            .flat_map(|n| n.neighbors.iter().flatten())
            .all(|&n| n < 200)
    );
    let (g, _) = load(&bytes, 4, Metric::L2Squared).unwrap();
    let (ep, level) = g.entry_point().unwrap();
    assert!(ep < 200);
    assert!(d.nodes.iter().all(|n| n.neighbors.len() - 1 <= level));
    // The later ids can be inserted on top.
    for i in 200..300u32 {
        g.insert(i, &h.vector(i).unwrap()).unwrap();
    }
    assert_eq!(g.len(), 300);
}

#[test]
fn empty_index_roundtrips() {
    let h = Hnsw::new(3, cfg(Metric::Dot));
    let bytes = bytes_of(&h, 0);
    let (g, info) = load(&bytes, 3, Metric::Dot).unwrap();
    assert_eq!((info.nodes, g.len(), g.entry_point()), (0, 0, None));
}

#[test]
fn fingerprint_mismatch_is_refused() {
    let (h, _) = built(50, 4, Metric::Cosine);
    let bytes = bytes_of(&h, 50);
    for (dim, metric, m) in [
        (5, Metric::Cosine, 8),
        (4, Metric::Dot, 8),
        (4, Metric::Cosine, 16),
    ] {
        let c = HnswConfig {
            max_connections: m,
            ..cfg(metric)
        };
        let err = Hnsw::read_snapshot(&mut &bytes[..], bytes.len() as u64, dim, c).unwrap_err();
        assert!(matches!(err, SnapshotError::Mismatch { .. }), "{err}");
    }
    let err = FlatIndex::read_snapshot(&mut &bytes[..], bytes.len() as u64, 4, Metric::Cosine)
        .unwrap_err();
    assert!(
        matches!(err, SnapshotError::Mismatch { field: "kind", .. }),
        "{err}"
    );
}

#[test]
fn version_and_magic_are_checked() {
    let (h, _) = built(10, 4, Metric::Cosine);
    let mut bytes = bytes_of(&h, 10);
    bytes[8] = 4;
    assert!(matches!(decode(&bytes), Err(SnapshotError::Version(4))));
    bytes[8] = 0;
    assert!(matches!(decode(&bytes), Err(SnapshotError::Version(0))));
    bytes[0] = b'X';
    assert!(matches!(decode(&bytes), Err(SnapshotError::BadMagic)));
}

#[test]
fn flat_roundtrip() {
    let data = random(300, 6, 3);
    let f = FlatIndex::new(6, Metric::Cosine);
    for (i, v) in data.iter().enumerate() {
        f.insert(i as u32 * 2, v).unwrap();
    }
    for id in (0..600).step_by(10) {
        f.delete(id);
    }
    let mut bytes = Vec::new();
    let info = f.write_snapshot(500, &mut bytes).unwrap();
    // Even ids below 500 (250) minus the multiples of 10 (50).
    assert_eq!(info.nodes, 200);
    let (g, loaded) =
        FlatIndex::read_snapshot(&mut &bytes[..], bytes.len() as u64, 6, Metric::Cosine).unwrap();
    assert_eq!(loaded, info);
    assert_eq!(g.len(), 200);
    for q in data.iter().take(10) {
        let want: Vec<_> = f
            .search(q, 5, None)
            .unwrap()
            .into_iter()
            .filter(|n| n.id < 500)
            .collect();
        let got = g.search(q, 5, None).unwrap();
        assert_eq!(got[..want.len()], want[..]);
    }
}

#[test]
fn large_index_spans_several_chunks() {
    let (h, _) = built(3000, 128, Metric::L2Squared);
    let bytes = bytes_of(&h, 3000);
    let d = decode(&bytes).unwrap();
    assert!(d.trailer.chunks >= 2, "{} chunks", d.trailer.chunks);
    let (g, _) = load(&bytes, 128, Metric::L2Squared).unwrap();
    assert_eq!(g.snapshot(), h.snapshot());
}

/// Every strict prefix is refused as truncated or malformed, never accepted.
#[test]
fn every_truncation_is_detected() {
    let (h, _) = built(40, 3, Metric::L2Squared);
    let bytes = bytes_of(&h, 40);
    for cut in 0..bytes.len() {
        assert!(
            decode(&bytes[..cut]).is_err(),
            "prefix of {cut} bytes accepted"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(decode(&longer).is_err());
}

fn sample() -> &'static [u8] {
    static SAMPLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(|| {
        let (h, _) = built(120, 4, Metric::Cosine);
        h.delete(3);
        bytes_of(&h, 120)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random bytes (with and without a valid magic/version prefix) never panic.
    #[test]
    fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..2048), prefix in any::<bool>()) {
        if prefix && bytes.len() >= 10 {
            bytes[..8].copy_from_slice(&MAGIC);
            bytes[8..10].copy_from_slice(&VERSION.to_le_bytes());
        }
        prop_assert!(decode(&bytes).is_err());
        prop_assert!(load(&bytes, 4, Metric::Cosine).is_err());
    }

    /// A valid snapshot with bits flipped is refused (CRC32C detects every 1–3 bit error).
    #[test]
    fn bit_flips_are_detected(flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4)) {
        let mut bytes = sample().to_vec();
        let mut seen = std::collections::HashSet::new();
        for (at, bit) in &flips {
            let i = at.index(bytes.len());
            if seen.insert((i, *bit)) {
                bytes[i] ^= 1 << bit;
            }
        }
        prop_assert!(decode(&bytes).is_err());
        prop_assert!(load(&bytes, 4, Metric::Cosine).is_err());
    }

    /// Truncated at a random point, or with a random tail: refused.
    #[test]
    fn truncated_or_extended_is_refused(cut in any::<prop::sample::Index>(), tail in proptest::collection::vec(any::<u8>(), 1..64)) {
        let bytes = sample();
        let cut = cut.index(bytes.len());
        prop_assert!(decode(&bytes[..cut]).is_err());
        let mut longer = bytes.to_vec();
        longer.extend_from_slice(&tail);
        prop_assert!(decode(&longer).is_err());
    }
}

/// The offsets of the chunks of a snapshot without a quantizer block (start, end).
fn chunk_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut at = HEADER_LEN;
    let mut out = Vec::new();
    while bytes[at] == TAG_CHUNK {
        let plen = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        let end = at + CHUNK_HEADER_LEN + plen;
        out.push((at, end));
        at = end;
    }
    out
}

/// A snapshot of several chunks loads as the index that was written, and chunks out of id
/// order (each one intact, every CRC matching) are refused.
#[test]
fn a_multi_chunk_snapshot_loads_and_chunk_order_is_checked() {
    let (h, data) = built(3000, 96, Metric::L2Squared);
    let bytes = bytes_of(&h, 3000);
    let spans = chunk_spans(&bytes);
    assert!(spans.len() >= 2, "{spans:?}");
    let (loaded, info) = load(&bytes, 96, Metric::L2Squared).unwrap();
    assert_eq!(info.nodes, 3000);
    assert_eq!(loaded.snapshot(), h.snapshot());
    for (i, v) in data.iter().enumerate().step_by(97) {
        assert_eq!(loaded.search(v, 1, None).unwrap()[0].id, i as u32);
    }
    // Swap the first two chunks: every CRC still matches, the ids go backwards.
    let ((a0, a1), (b0, b1)) = (spans[0], spans[1]);
    let mut swapped = bytes[..a0].to_vec();
    swapped.extend_from_slice(&bytes[b0..b1]);
    swapped.extend_from_slice(&bytes[a0..a1]);
    swapped.extend_from_slice(&bytes[b1..]);
    let err = load(&swapped, 96, Metric::L2Squared).unwrap_err();
    assert!(err.to_string().contains("not increasing"), "{err}");
    assert!(decode(&swapped).is_err());
}

/// Ids of a crafted snapshot: exactly `0..n` (lists need no translation), dense with gaps
/// (translated through a table) or far apart (translated by binary search).
fn crafted_ids(kind: u8, n: usize) -> Vec<u32> {
    match kind {
        0 => (0..n as u32).collect(),
        1 => (0..n as u32).map(|i| i * 3 + 1).collect(),
        _ => (0..n as u32).map(|i| i * 100_003 + 7).collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// A snapshot of several chunks, written node by node with lists that link to ids it
    /// holds and to ids it does not, loads (on several threads) as the model says: every
    /// node with its vector, tombstone and level, each list with exactly the links to held
    /// ids, in order.
    #[test]
    fn restored_lists_keep_exactly_the_links_to_held_ids(
        kind in 0u8..3,
        n in 150usize..400,
        absent in any::<bool>(),
        seed in any::<u64>(),
    ) {
        const DIM: usize = 2048;
        let ids = crafted_ids(kind, n);
        let held: std::collections::BTreeSet<u32> = ids.iter().copied().collect();
        let mut r = StdRng::seed_from_u64(seed);
        let top = *ids.last().unwrap();
        let mut nodes = Vec::new();
        for &id in &ids {
            let levels = if r.random_range(0..8) == 0 { 2 } else { 1 };
            let lists: Vec<Vec<u32>> = (0..levels)
                .map(|l| {
                    let len = r.random_range(0..=if l == 0 { 16 } else { 8 });
                    (0..len)
                        .map(|_| match r.random_range(0..4) {
                            // Absent: beyond every id, or between held ones.
                            0 if absent => top + 1 + r.random_range(0..50),
                            1 => r.random_range(0..=top),
                            _ => ids[r.random_range(0..ids.len())],
                        })
                        .collect()
                })
                .collect();
            let v: Vec<f32> = (0..DIM).map(|_| r.random_range(-1.0f32..1.0)).collect();
            nodes.push((id, r.random_range(0..5) == 0, lists, v));
        }
        let header = SnapshotHeader {
            kind: IndexKind::Hnsw,
            metric: Metric::L2Squared,
            dim: DIM as u32,
            max_connections: 8,
            covered: u64::from(top) + 1,
            rng_state: 1,
            lsn: 0,
            log_generation: 0,
            quantizer: None,
        };
        let mut bytes = Vec::new();
        let mut w = write::SnapshotWriter::start(&mut bytes, &header).unwrap();
        for (id, t, lists, v) in &nodes {
            w.node(*id, *t, lists, v).unwrap();
        }
        let entry = nodes.iter().find(|n| n.2.len() == 2).or(nodes.first()).unwrap();
        w.finish(Some((entry.0, (entry.2.len() - 1) as u8))).unwrap();
        prop_assert!(chunk_spans(&bytes).len() >= 2);
        let (g, info) = load(&bytes, DIM, Metric::L2Squared).unwrap();
        prop_assert_eq!(info.nodes, n as u64);
        prop_assert_eq!(info.tombstoned, nodes.iter().filter(|n| n.1).count() as u64);
        prop_assert_eq!(g.len() + g.tombstone_count(), n);
        let snap = g.snapshot();
        prop_assert_eq!(snap.nodes.len(), n);
        for (got, (id, t, lists, v)) in snap.nodes.iter().zip(&nodes) {
            prop_assert_eq!(got.id, *id);
            prop_assert_eq!(got.tombstoned, *t);
            let want: Vec<Vec<u32>> = lists
                .iter()
                .map(|l| l.iter().copied().filter(|x| held.contains(x)).collect())
                .collect();
            prop_assert_eq!(&got.neighbors, &want, "lists of {}", id);
            prop_assert_eq!(g.vector(*id), Some(v.clone()));
        }
        prop_assert_eq!(g.entry_point(), Some((entry.0, entry.2.len() - 1)));
    }
}
