//! Unit-level behaviour of the public API on the real file system.

use std::time::Duration;

use weft_lsm::{Error, Options, Shard, Strategy, SyncPolicy, WriteBatch};

#[test]
fn write_read_close_reopen_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let shard = Shard::open(dir.path(), Options::default().background(false)).unwrap();
    shard.declare_bucket("objects", Strategy::Replace).unwrap();
    for i in 0..100u32 {
        let mut b = WriteBatch::new();
        b.put("objects", &i.to_le_bytes(), &i.to_le_bytes());
        shard.write(&b).unwrap();
    }
    shard.flush().unwrap();
    let mut b = WriteBatch::new();
    b.delete("objects", &7u32.to_le_bytes());
    shard.write(&b).unwrap();
    shard.close().unwrap();

    let shard = Shard::open(dir.path(), Options::default().background(false)).unwrap();
    assert_eq!(shard.recovery_report().records_replayed, 0);
    assert_eq!(shard.get("objects", &7u32.to_le_bytes()).unwrap(), None);
    assert_eq!(
        shard.get("objects", &8u32.to_le_bytes()).unwrap(),
        Some(8u32.to_le_bytes().to_vec())
    );
    assert_eq!(shard.prefix_scan("objects", b"", 1000).unwrap().len(), 99);
}

#[test]
fn get_many_answers_as_get_across_memtable_segments_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let shard = Shard::open(dir.path(), Options::default().background(false)).unwrap();
    shard.declare_bucket("objects", Strategy::Replace).unwrap();
    for round in 0..3u32 {
        let mut b = WriteBatch::new();
        for i in (round..60).step_by(3) {
            b.put("objects", &i.to_le_bytes(), &(i * 10 + round).to_le_bytes());
        }
        if round == 2 {
            b.delete("objects", &5u32.to_le_bytes());
        }
        shard.write(&b).unwrap();
        if round < 2 {
            shard.flush().unwrap();
        }
    }
    let keys: Vec<Vec<u8>> = [59u32, 0, 5, 200, 31, 31]
        .iter()
        .map(|k| k.to_le_bytes().to_vec())
        .collect();
    let one_by_one: Vec<Option<Vec<u8>>> = keys
        .iter()
        .map(|k| shard.get("objects", k).unwrap())
        .collect();
    assert_eq!(shard.get_many("objects", &keys).unwrap(), one_by_one);
    assert_eq!(one_by_one[2], None, "deleted");
    assert_eq!(one_by_one[3], None, "never written");
    assert!(one_by_one[0].is_some() && one_by_one[4] == one_by_one[5]);
    assert!(shard.get_many("nope", &keys).is_err());
}

#[test]
fn unclean_stop_is_reported_and_recovered() {
    let dir = tempfile::tempdir().unwrap();
    {
        let shard = Shard::open(dir.path(), Options::default().background(false)).unwrap();
        shard.declare_bucket("objects", Strategy::Replace).unwrap();
        let mut b = WriteBatch::new();
        b.put("objects", b"a", b"1");
        shard.write(&b).unwrap();
        // Dropped without close: like a crash after the acknowledgement.
    }
    let shard = Shard::open(dir.path(), Options::default().background(false)).unwrap();
    let report = shard.recovery_report();
    assert_eq!(report.records_replayed, 1);
    let warning = report.warning().unwrap();
    assert!(
        warning.contains("active write-ahead-log found"),
        "{warning}"
    );
    assert_eq!(shard.get("objects", b"a").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let shard = Shard::open(dir.path(), Options::default().background(false)).unwrap();
    shard.declare_bucket("objects", Strategy::Replace).unwrap();
    assert!(matches!(
        shard.declare_bucket("objects", Strategy::Set),
        Err(Error::StrategyMismatch { .. })
    ));
    assert!(matches!(
        shard.declare_bucket("../x", Strategy::Set),
        Err(Error::InvalidBucketName(_))
    ));
    let mut b = WriteBatch::new();
    b.set_add("objects", b"k", &[b"v"]);
    assert!(matches!(
        shard.write(&b),
        Err(Error::StrategyMismatch { .. })
    ));
    let mut b = WriteBatch::new();
    b.put("nope", b"k", b"v");
    assert!(matches!(shard.write(&b), Err(Error::UnknownBucket(_))));
    assert!(matches!(
        shard.write(&WriteBatch::new()),
        Err(Error::EmptyBatch)
    ));
    assert!(matches!(
        shard.get("nope", b"k"),
        Err(Error::UnknownBucket(_))
    ));
    // A second open of the same directory is refused while the first holds the lock.
    assert!(Shard::open(dir.path(), Options::default()).is_err());
}

#[test]
fn concurrent_writers_share_fsyncs_and_background_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .memtable_max_bytes(16 << 10)
        .compaction_min_segments(3)
        .compaction_interval(Duration::from_millis(20));
    let shard = std::sync::Arc::new(Shard::open(dir.path(), opts.clone()).unwrap());
    shard.declare_bucket("objects", Strategy::Replace).unwrap();
    shard.declare_bucket("ids", Strategy::RoaringSet).unwrap();
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let shard = std::sync::Arc::clone(&shard);
            std::thread::spawn(move || {
                for i in 0..200u64 {
                    let mut b = WriteBatch::new();
                    let k = format!("{t}-{i}");
                    b.put("objects", k.as_bytes(), &[7; 100]).roaring_add(
                        "ids",
                        b"all",
                        &[t * 1000 + i],
                    );
                    shard.write(&b).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(shard.roaring_get("ids", b"all").unwrap().len(), 1600);
    let shard = std::sync::Arc::into_inner(shard).unwrap();
    shard.close().unwrap();
    let shard = Shard::open(dir.path(), opts.sync(SyncPolicy::None)).unwrap();
    assert_eq!(shard.roaring_get("ids", b"all").unwrap().len(), 1600);
    assert_eq!(
        shard.prefix_scan("objects", b"", usize::MAX).unwrap().len(),
        1600
    );
}

#[test]
fn pins_hold_files_past_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .background(false)
        .file_deletion_grace(Duration::ZERO);
    let shard = Shard::open(dir.path(), opts).unwrap();
    shard.declare_bucket("objects", Strategy::Replace).unwrap();
    for round in 0..3u8 {
        let mut b = WriteBatch::new();
        b.put("objects", &[round], &[round]);
        shard.write(&b).unwrap();
        shard.flush().unwrap();
    }
    let pin = shard.pin().unwrap();
    assert!(
        pin.files()
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "seg"))
    );
    shard.compact().unwrap();
    let held = shard.collect_garbage();
    for f in pin.files() {
        assert!(!held.contains(f), "pinned {f:?} was deleted");
        assert!(dir.path().join(f).exists(), "pinned {f:?} is gone");
    }
    drop(pin);
    let deleted = shard.collect_garbage();
    assert!(
        deleted
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "seg")),
        "{deleted:?}"
    );
    for i in 0..3u8 {
        assert_eq!(shard.get("objects", &[i]).unwrap(), Some(vec![i]));
    }
}

/// `Shard::range` streams one snapshot: writes, flushes, compaction and the deletion of the
/// replaced segments (grace 0) while it is being read change nothing it yields.
#[test]
#[expect(
    clippy::big_endian_bytes,
    reason = "big-endian keys sort like the numbers"
)]
fn range_streams_a_consistent_snapshot_through_flush_compaction_and_gc() {
    use std::ops::Bound;
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .background(false)
        .block_bytes(64)
        .file_deletion_grace(Duration::ZERO);
    let shard = Shard::open(dir.path(), opts).unwrap();
    shard.declare_bucket("r", Strategy::Replace).unwrap();
    for round in 0..3u32 {
        for i in 0..200u32 {
            let mut b = WriteBatch::new();
            b.put("r", &(i * 3 + round).to_be_bytes(), &round.to_le_bytes());
            shard.write(&b).unwrap();
        }
        shard.flush().unwrap();
    }
    let lo = 100u32.to_be_bytes();
    let mut it = shard
        .range("r", Bound::Included(&lo[..]), Bound::Unbounded)
        .unwrap();
    let first: Vec<_> = it.by_ref().take(10).map(Result::unwrap).collect();
    // Rewrite everything, flush, compact to one segment and delete the old files.
    for i in 0..600u32 {
        let mut b = WriteBatch::new();
        b.put("r", &i.to_be_bytes(), b"new");
        shard.write(&b).unwrap();
    }
    shard.flush().unwrap();
    shard.compact().unwrap();
    shard.collect_garbage();
    let rest: Vec<_> = it.map(Result::unwrap).collect();
    let all: Vec<_> = first.into_iter().chain(rest).collect();
    assert_eq!(all.len(), 500, "keys 100..600 of the snapshot");
    for (i, (k, v)) in all.iter().enumerate() {
        assert_eq!(k, &(100 + i as u32).to_be_bytes().to_vec());
        assert_ne!(
            v,
            &weft_lsm::Value::Bytes(b"new".to_vec()),
            "a later write leaked in"
        );
    }
}

/// A backup's view of a live shard: the pinned files, immutable ones hard-linked and the WAL
/// tail copied up to [`weft_lsm::Pin::wal_tail`], taken while writers, flushes and compaction
/// run, recover exactly the writes whose LSN is at most the pin's.
#[test]
#[expect(
    clippy::big_endian_bytes,
    reason = "big-endian keys sort like the numbers"
)]
fn a_pinned_copy_taken_under_load_recovers_exactly_the_writes_up_to_its_lsn() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .background(false)
        .file_deletion_grace(Duration::ZERO);
    let shard = Arc::new(Shard::open(dir.path(), opts.clone()).unwrap());
    shard.declare_bucket("objects", Strategy::Replace).unwrap();
    let written = Arc::new(Mutex::new(Vec::<(u64, u32)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3u32)
        .map(|w| {
            let (shard, written, stop) = (shard.clone(), written.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) || i < 300 {
                    let key = w * 1_000_000 + i;
                    let mut b = WriteBatch::new();
                    b.put("objects", &key.to_be_bytes(), &key.to_le_bytes());
                    let lsn = shard.write(&b).unwrap();
                    written.lock().unwrap().push((lsn, key));
                    i += 1;
                    if i.is_multiple_of(97) {
                        shard.flush().unwrap();
                    }
                    if i.is_multiple_of(301) {
                        shard.compact().unwrap();
                        shard.collect_garbage();
                    }
                }
            })
        })
        .collect();
    while written.lock().unwrap().len() < 500 {
        std::thread::yield_now();
    }
    let copy = tempfile::tempdir().unwrap();
    let pin = shard.pin().unwrap();
    let tail = pin.wal_tail().map(|(p, n)| (p.to_path_buf(), n));
    for f in pin.files() {
        let to = copy.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        match &tail {
            Some((p, n)) if p == f => {
                let bytes = std::fs::read(dir.path().join(f)).unwrap();
                std::fs::write(&to, &bytes[..usize::try_from(*n).unwrap()]).unwrap();
            }
            _ => std::fs::hard_link(dir.path().join(f), &to).unwrap(),
        }
    }
    let lsn = pin.lsn();
    drop(pin);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let restored = Shard::open(copy.path(), opts).unwrap();
    restored
        .declare_bucket("objects", Strategy::Replace)
        .unwrap();
    let mut expected: Vec<u32> = written
        .lock()
        .unwrap()
        .iter()
        .filter(|(l, _)| *l <= lsn)
        .map(|(_, k)| *k)
        .collect();
    expected.sort_unstable();
    assert!(expected.len() >= 500 && expected.len() < written.lock().unwrap().len());
    let got: Vec<u32> = restored
        .prefix_scan("objects", b"", usize::MAX)
        .unwrap()
        .iter()
        .map(|(k, _)| u32::from_be_bytes(k.as_slice().try_into().unwrap()))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(restored.durable_lsn(), lsn);
}
