//! Golden snapshot files: a snapshot written by an earlier version of the format must keep
//! opening. `tests/fixtures/hnsw-v1.snapshot` was written by format version 1 from the index
//! [`build`] makes (ids with gaps as left by updates, a cleanup, then tombstones); regenerate it
//! only for a new version, under a new name, with
//! `WEFT_WRITE_FIXTURES=1 cargo test -p weft-hnsw --test snapshot_fixture -- --ignored`.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking; the fixture is a constant file"
)]

use weft_hnsw::{Hnsw, HnswConfig, Metric, SnapshotMark};

const DIM: usize = 4;
const V1: &[u8] = include_bytes!("fixtures/hnsw-v1.snapshot");
const V2_RQ8: &[u8] = include_bytes!("fixtures/hnsw-v2-rq8.snapshot");
const V3_RQ8: &[u8] = include_bytes!("fixtures/hnsw-v3-rq8.snapshot");
/// What the version 3 fixture records about its place in the caller's history.
const V3_MARK: SnapshotMark = SnapshotMark {
    covered: 180,
    lsn: 4242,
    log_generation: 17,
};

fn cfg() -> HnswConfig {
    HnswConfig {
        metric: Metric::L2Squared,
        max_connections: 4,
        ef_construction: 32,
        ..HnswConfig::default()
    }
}

/// The vector stored under `id`.
fn vector(id: u32) -> [f32; DIM] {
    let x = id as f32;
    [x, (x * 0.37).sin() * 10.0, (id % 7) as f32, -(x * 0.5)]
}

/// Ids 0, 3, 6, … 177; those divisible by 7 deleted and cleaned up, then those divisible by
/// 11 (and not by 7) deleted but left tombstoned.
fn build() -> Hnsw {
    let index = Hnsw::new(DIM, cfg());
    for id in (0..60u32).map(|i| i * 3) {
        index.insert(id, &vector(id)).unwrap();
    }
    for id in (0..180).step_by(3).filter(|id| id % 7 == 0) {
        assert!(index.delete(id));
    }
    index.cleanup();
    for id in (0..180).step_by(3).filter(|id| id % 11 == 0 && id % 7 != 0) {
        assert!(index.delete(id));
    }
    index
}

fn live() -> impl Iterator<Item = u32> {
    (0..180).step_by(3).filter(|id| id % 7 != 0 && id % 11 != 0)
}

#[test]
fn version_1_snapshot_opens() {
    let (index, info) = Hnsw::read_snapshot(&mut &V1[..], V1.len() as u64, DIM, cfg()).unwrap();
    let tombstoned = (0..180)
        .step_by(3)
        .filter(|id| id % 11 == 0 && id % 7 != 0)
        .count();
    assert_eq!((info.covered, info.lsn, info.log_generation), (180, 0, 0));
    assert_eq!(info.tombstoned, tombstoned as u64);
    assert_eq!(info.nodes as usize, live().count() + tombstoned);
    assert_eq!(index.len(), live().count());
    assert_eq!(index.tombstone_count(), tombstoned);
    for id in live() {
        assert!(index.contains(id), "{id}");
        assert_eq!(index.vector(id).as_deref(), Some(&vector(id)[..]));
        let hit = index.search(&vector(id), 1, None).unwrap();
        assert_eq!((hit[0].id, hit[0].distance), (id, 0.0), "{id}");
    }
    for id in (0..180u32).filter(|id| id % 3 != 0 || id % 7 == 0 || id % 11 == 0) {
        assert!(!index.contains(id), "{id}");
    }
    // The loaded graph is the one that was written: same nodes, lists and entry point.
    assert_eq!(index.snapshot(), build().snapshot());
}

/// [`build`] compressed with rq-8.
fn build_rq8() -> Hnsw {
    let index = build();
    let q = weft_hnsw::Quantizer::rq8(Metric::L2Squared, DIM, weft_hnsw::RQ_SEED).unwrap();
    assert!(index.compress(q).unwrap());
    index
}

#[test]
fn version_1_snapshot_can_be_compressed_after_opening() {
    let (index, _) = Hnsw::read_snapshot(&mut &V1[..], V1.len() as u64, DIM, cfg()).unwrap();
    let q = weft_hnsw::Quantizer::rq8(Metric::L2Squared, DIM, weft_hnsw::RQ_SEED).unwrap();
    assert!(index.compress(q).unwrap());
    let expected = build_rq8();
    for id in live() {
        assert_eq!(
            bits(index.vector(id)),
            bits(expected.vector(id)),
            "codes of {id}"
        );
    }
}

#[test]
fn version_2_compressed_snapshot_opens() {
    let (index, info) =
        Hnsw::read_snapshot(&mut &V2_RQ8[..], V2_RQ8.len() as u64, DIM, cfg()).unwrap();
    assert_eq!((info.covered, info.lsn, info.log_generation), (180, 0, 0));
    assert!(index.is_compressed());
    let expected = build_rq8();
    assert_eq!(index.quantizer(), expected.quantizer());
    assert_eq!(index.len(), live().count());
    for id in live() {
        // The codes are read back, not recomputed: the same rows as a fresh encoding.
        assert_eq!(
            bits(index.vector(id)),
            bits(expected.vector(id)),
            "codes of {id}"
        );
        // Searches on the codes answer as the index that wrote them (the estimates of a
        // 4-dimensional set are coarse, so no self-match is asserted).
        assert_eq!(
            index.search(&vector(id), 3, None).unwrap(),
            expected.search(&vector(id), 3, None).unwrap()
        );
    }
    assert_eq!(index.snapshot(), expected.snapshot());
}

#[test]
fn version_3_snapshot_opens_with_its_lsn() {
    let (index, info) =
        Hnsw::read_snapshot(&mut &V3_RQ8[..], V3_RQ8.len() as u64, DIM, cfg()).unwrap();
    assert_eq!(
        (info.covered, info.lsn, info.log_generation),
        (180, 4242, 17)
    );
    let expected = build_rq8();
    assert_eq!(index.quantizer(), expected.quantizer());
    for id in live() {
        assert_eq!(
            bits(index.vector(id)),
            bits(expected.vector(id)),
            "codes of {id}"
        );
    }
    assert_eq!(index.snapshot(), expected.snapshot());
    // What this build writes is this version, byte for byte.
    let mut bytes = Vec::new();
    expected.write_snapshot_at(V3_MARK, &mut bytes).unwrap();
    assert_eq!(bytes, V3_RQ8);
}

#[test]
#[ignore = "writes the fixtures; run only to create a new format version's file"]
fn write_fixture() {
    if std::env::var("WEFT_WRITE_FIXTURES").as_deref() != Ok("1") {
        return;
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    // hnsw-v1.snapshot and hnsw-v2-rq8.snapshot were written by versions 1 and 2 and are kept
    // as they are.
    let mut bytes = Vec::new();
    build_rq8().write_snapshot_at(V3_MARK, &mut bytes).unwrap();
    std::fs::write(format!("{dir}/hnsw-v3-rq8.snapshot"), bytes).unwrap();
}

/// A row's bits (codes read as f32 may be NaN, which is not equal to itself).
fn bits(row: Option<Vec<f32>>) -> Option<Vec<u32>> {
    row.map(|r| r.iter().map(|x| x.to_bits()).collect())
}
