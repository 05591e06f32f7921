//! T5 at the engine level: copy a running shard directory file by file (like `cp -r`) while
//! writers, flushes and compactions run; a shard opened on the copy has every write
//! acknowledged before the copy began.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use weft_lsm::{Options, Shard, Strategy, WriteBatch};

fn copy_tree(src: &Path, dst: &Path, pause: Duration) {
    // List first (like cp -r reading a directory), then copy file by file.
    let mut files = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    for f in files {
        let rel = f.strip_prefix(src).unwrap();
        let to = dst.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        // A file renamed or removed since the listing is skipped, as cp reports and goes on.
        let _ = std::fs::copy(&f, &to);
        std::thread::sleep(pause);
    }
}

fn key(t: u64, i: u64) -> Vec<u8> {
    format!("w{t}-{i:06}").into_bytes()
}

/// Returns the number of acknowledged-before-copy writes missing from each copy.
fn copies_while_running(grace: Duration, rounds: usize) -> usize {
    let src = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .memtable_max_bytes(8 << 10)
        .flush_dirty_after(Duration::from_millis(30))
        .compaction_min_segments(2)
        .compaction_interval(Duration::from_millis(5))
        .file_deletion_grace(grace);
    let shard = Arc::new(Shard::open(src.path(), opts).unwrap());
    shard.declare_bucket("objects", Strategy::Replace).unwrap();
    shard.declare_bucket("ids", Strategy::RoaringSet).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..3).map(|_| AtomicU64::new(0)).collect());
    let writers: Vec<_> = (0..3u64)
        .map(|t| {
            let (shard, stop, acked) = (Arc::clone(&shard), Arc::clone(&stop), Arc::clone(&acked));
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let mut b = WriteBatch::new();
                    b.put("objects", &key(t, i), &[t as u8; 64]).roaring_add(
                        "ids",
                        b"all",
                        &[t << 32 | i],
                    );
                    shard.write(&b).unwrap();
                    i += 1;
                    acked[t as usize].store(i, Ordering::Release);
                    if i % 8 == 0 {
                        let mut b = WriteBatch::new();
                        b.delete("objects", &key(t, i - 8));
                        shard.write(&b).unwrap();
                    }
                }
            })
        })
        .collect();
    let mut missing = 0;
    for round in 0..rounds {
        std::thread::sleep(Duration::from_millis(40));
        let before: Vec<u64> = acked.iter().map(|a| a.load(Ordering::Acquire)).collect();
        let dst = tempfile::tempdir().unwrap();
        copy_tree(src.path(), dst.path(), Duration::from_millis(2));
        let copy = match Shard::open(dst.path(), Options::default().background(false)) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("round {round}: copy does not open: {e}");
                missing += 1;
                continue;
            }
        };
        let ids = copy.roaring_get("ids", b"all").unwrap();
        for (t, &n) in before.iter().enumerate() {
            let t = t as u64;
            for i in 0..n {
                // Every 8th key is deleted later; the copy may hold that later state (it is
                // not a point-in-time snapshot), so only its bitmap id is checked.
                let deleted_later = i % 8 == 0;
                let got = copy.get("objects", &key(t, i)).unwrap();
                if !ids.contains(t << 32 | i)
                    || (!deleted_later && got.as_deref() != Some(&[t as u8; 64][..]))
                {
                    eprintln!(
                        "round {round}: write {t}/{i} missing (acked before copy: {n}): id {} value {:?}; {:?}",
                        ids.contains(t << 32 | i),
                        got.map(|g| g.len()),
                        copy.recovery_report()
                    );
                    missing += 1;
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let shard = Arc::into_inner(shard).unwrap();
    shard.close().unwrap();
    missing
}

#[test]
fn a_copy_of_a_running_shard_has_every_write_acked_before_the_copy() {
    assert_eq!(copies_while_running(Duration::from_secs(900), 5), 0);
}

/// Negative control: with no grace period the copy can miss files deleted under it. Shows the
/// test above can see the bug; timing-dependent, so not run by default.
#[test]
#[ignore = "timing-dependent negative control; run with --ignored"]
fn without_grace_copies_can_lose_writes() {
    let missing: usize = (0..5)
        .map(|_| copies_while_running(Duration::ZERO, 4))
        .sum();
    assert!(missing > 0, "grace 0 never lost anything in 20 copies");
}

/// A copy that read `lsm/` before a bucket was declared and the WAL after the bucket's first
/// writes (a property added to a live class while `cp -r` runs): the bucket's `BUCKET` file
/// is missing from the copy but its records are in the WAL. The copy opens with the bucket
/// declared from the WAL (its strategy from its ops) and every write in it, and keeps it
/// declared after the next reopen.
#[test]
fn a_bucket_declared_while_the_copy_ran_is_declared_from_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let opts = Options::default().background(false);
    let shard = Shard::open(&src, opts.clone()).unwrap();
    shard.declare_bucket("old", Strategy::Replace).unwrap();
    let mut batch = WriteBatch::new();
    batch.put("old", b"k", b"v");
    shard.write(&batch).unwrap();
    shard
        .declare_bucket("fresh_set", Strategy::RoaringSet)
        .unwrap();
    shard.declare_bucket("fresh_map", Strategy::Map).unwrap();
    let mut batch = WriteBatch::new();
    batch.roaring_add("fresh_set", b"token", &[3, 5]);
    batch.map_put("fresh_map", b"term", b"doc", b"tf");
    batch.put("old", b"k2", b"v2");
    shard.write(&batch).unwrap();
    // The copy: everything but the new buckets' directories (read before they existed).
    let dst = dir.path().join("dst");
    copy_tree(&src, &dst, Duration::ZERO);
    std::fs::remove_dir_all(dst.join("lsm").join("fresh_set")).unwrap();
    std::fs::remove_dir_all(dst.join("lsm").join("fresh_map")).unwrap();
    drop(shard);
    for round in 0..2 {
        let copy = Shard::open(&dst, opts.clone()).unwrap();
        let mut names: Vec<(String, Strategy)> = copy.buckets();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            names,
            vec![
                ("fresh_map".to_string(), Strategy::Map),
                ("fresh_set".to_string(), Strategy::RoaringSet),
                ("old".to_string(), Strategy::Replace),
            ],
            "round {round}"
        );
        if round == 0 {
            assert_eq!(
                copy.recovery_report().buckets_declared,
                vec!["fresh_map".to_string(), "fresh_set".to_string()]
            );
        }
        let bits = copy.roaring_get("fresh_set", b"token").unwrap();
        assert_eq!(bits.iter().collect::<Vec<u64>>(), vec![3, 5]);
        assert_eq!(copy.get("old", b"k2").unwrap().as_deref(), Some(&b"v2"[..]));
        assert!(
            copy.map_get("fresh_map", b"term")
                .unwrap()
                .contains_key(&b"doc"[..])
        );
        copy.close().unwrap();
    }
}
