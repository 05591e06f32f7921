use std::collections::BTreeMap;

use weft_io::SimFs;

use super::*;
use crate::batch::OpKind;

fn spec() -> SegmentSpec {
    SegmentSpec {
        strategy: Strategy::Replace,
        file_no: 7,
        generation: 0,
        lsn_lo: 0,
        lsn_hi: 10,
        inputs: vec![],
        block_bytes: 128,
        bloom_bits_per_key: 10,
    }
}

fn sample() -> BTreeMap<Vec<u8>, Entry> {
    (0..300u32)
        .map(|i| {
            let key = format!("key{i:05}").into_bytes();
            let e = if i % 7 == 0 {
                Entry::Tombstone
            } else {
                Entry::from_op(&OpKind::Put {
                    value: vec![i as u8; (i % 50) as usize].into(),
                    secondary: vec![format!("s{i}").into_bytes()],
                })
            };
            (key, e)
        })
        .collect()
}

fn write(fs: &SimFs, entries: &BTreeMap<Vec<u8>, Entry>) -> Arc<Segment> {
    fs.create_dir_all(Path::new("/s")).unwrap();
    let mut w = SegmentWriter::create(fs, Path::new("/s/a.seg"), &spec()).unwrap();
    for (k, e) in entries {
        w.add(k, e).unwrap();
    }
    w.finish().unwrap();
    Arc::new(Segment::open(fs, Path::new("/s/a.seg"), "a.seg".into()).unwrap())
}

#[test]
fn point_reads_ranges_and_secondary() {
    let fs = SimFs::new();
    let entries = sample();
    let seg = write(&fs, &entries);
    assert_eq!(seg.props.entries, 300);
    for (k, e) in &entries {
        assert_eq!(seg.get(k).unwrap().as_ref(), Some(e));
    }
    assert_eq!(seg.get(b"nope").unwrap(), None);
    let got: Vec<_> = seg
        .range(Bound::Included(b"key00010"), Bound::Excluded(b"key00020"))
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(got.len(), 10);
    assert_eq!(
        seg.secondary(0, b"s12").unwrap(),
        Some(b"key00012".to_vec())
    );
    assert_eq!(seg.secondary(1, b"s12").unwrap(), None);
}

#[test]
fn every_single_bit_flip_is_detected_or_harmless() {
    let fs = SimFs::new();
    let entries = sample();
    write(&fs, &entries);
    let path = Path::new("/s/a.seg");
    let good = fs.read_all(path).unwrap();
    // Flip one bit in a sample of positions (every 7th byte keeps the test fast).
    for pos in (0..good.len()).step_by(7) {
        let mut bad = good.clone();
        bad[pos] ^= 1 << (pos % 8);
        fs.overwrite(path, bad).unwrap();
        let Ok(seg) = Segment::open(&fs, path, "a.seg".into()) else {
            continue;
        };
        let seg = Arc::new(seg);
        for (k, e) in &entries {
            match seg.get(k) {
                Ok(Some(got)) => assert_eq!(&got, e, "wrong value after flipping byte {pos}"),
                Ok(None) => panic!("key lost silently after flipping byte {pos}"),
                Err(err) => assert!(matches!(err, Error::Corrupt { .. }), "{err}"),
            }
        }
    }
}

#[test]
fn truncation_is_rejected_at_open() {
    let fs = SimFs::new();
    write(&fs, &sample());
    let path = Path::new("/s/a.seg");
    let good = fs.read_all(path).unwrap();
    for cut in [0, 10, 64, 200, good.len() / 2, good.len() - 1] {
        fs.overwrite(path, good[..cut].to_vec()).unwrap();
        let err = Segment::open(&fs, path, "a.seg".into()).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("a.seg"));
    }
}
