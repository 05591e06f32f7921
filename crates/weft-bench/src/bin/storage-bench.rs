//! Storage engine benchmark: weft-lsm vs fjall vs the raw disk, same run, same machine.
//!
//! ```sh
//! cargo run --release -p weft-bench --bin storage-bench -- [--dir PATH] [--secs N] [--keys N]
//!     [--replay-mb N] [--replay-order ascending|random] [--only writes|reads|replay]
//! ```
#![expect(clippy::unwrap_used, reason = "a benchmark binary aborts on any error")]

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fjall::{Database, KeyspaceCreateOptions, PersistMode};
use weft_lsm::{Options, Shard, Strategy, SyncPolicy, WriteBatch};

struct Args {
    dir: PathBuf,
    secs: f64,
    keys: u64,
    replay_mb: u64,
    /// Keys of the replayed records in random order (UUID-like object keys) instead of
    /// ascending.
    replay_random: bool,
    /// Run only one part (`writes`, `reads` or `replay`); all of them by default.
    only: Option<String>,
}

impl Args {
    fn runs(&self, part: &str) -> bool {
        self.only.as_deref().is_none_or(|o| o == part)
    }
}

fn args() -> Args {
    let mut a = Args {
        dir: std::env::temp_dir(),
        secs: 3.0,
        keys: 200_000,
        replay_mb: 128,
        replay_random: false,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_default();
        match flag.as_str() {
            "--dir" => a.dir = PathBuf::from(v),
            "--secs" => a.secs = v.parse().unwrap(),
            "--keys" => a.keys = v.parse().unwrap(),
            "--replay-mb" => a.replay_mb = v.parse().unwrap(),
            "--replay-order" => a.replay_random = v == "random",
            "--only" => a.only = Some(v),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn key(thread: u64, i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&thread.to_le_bytes());
    k[8..].copy_from_slice(&i.to_le_bytes());
    k.reverse(); // byte-wise order of (i, thread) spreads writers over the key space
    k
}

const VALUE: [u8; 100] = [0x5a; 100];

fn fdatasync_rate(dir: &Path, secs: f64) -> f64 {
    let path = dir.join("fsync-probe");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .unwrap();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        f.write_all(&[0u8; 128]).unwrap();
        f.sync_data().unwrap();
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path).unwrap();
    rate
}

/// Runs `op(thread, i)` on `threads` threads for `secs`; returns operations per second.
fn run_threads(threads: u64, secs: f64, op: impl Fn(u64, u64) + Send + Sync + 'static) -> f64 {
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (op, stop, count) = (Arc::clone(&op), Arc::clone(&stop), Arc::clone(&count));
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    op(t, i);
                    i += 1;
                }
                count.fetch_add(i, Ordering::Relaxed);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn weft_writes(dir: &Path, threads: u64, secs: f64) -> f64 {
    let d = tempfile::tempdir_in(dir).unwrap();
    let shard = Arc::new(Shard::open(d.path(), Options::default().sync(SyncPolicy::Sync)).unwrap());
    shard.declare_bucket("objects", Strategy::Replace).unwrap();
    let s = Arc::clone(&shard);
    let rate = run_threads(threads, secs, move |t, i| {
        let mut b = WriteBatch::new();
        b.put("objects", &key(t, i), &VALUE);
        s.write(&b).unwrap();
    });
    Arc::into_inner(shard).unwrap().close().unwrap();
    rate
}

fn fjall_writes(dir: &Path, threads: u64, secs: f64) -> f64 {
    let d = tempfile::tempdir_in(dir).unwrap();
    let db = Database::builder(d.path()).open().unwrap();
    let ks = db
        .keyspace("objects", KeyspaceCreateOptions::default)
        .unwrap();
    let db2 = db.clone();
    run_threads(threads, secs, move |t, i| {
        ks.insert(key(t, i), VALUE).unwrap();
        db2.persist(PersistMode::SyncData).unwrap();
    })
}

fn timed(n: u64, f: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    (0..n).for_each(f);
    n as f64 / start.elapsed().as_secs_f64()
}

fn lcg(i: u64, n: u64) -> u64 {
    i.wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        % n
}

fn weft_reads(dir: &Path, keys: u64) -> (f64, f64) {
    let d = tempfile::tempdir_in(dir).unwrap();
    let shard = Shard::open(
        d.path(),
        Options::default().sync(SyncPolicy::None).background(false),
    )
    .unwrap();
    shard.declare_bucket("objects", Strategy::Replace).unwrap();
    for chunk in 0..keys / 100 {
        let mut b = WriteBatch::new();
        for i in chunk * 100..chunk * 100 + 100 {
            b.put("objects", &key(0, i), &VALUE);
        }
        shard.write(&b).unwrap();
    }
    shard.flush().unwrap();
    shard.compact().unwrap();
    let gets = timed(keys, |i| {
        assert!(
            shard
                .get("objects", &key(0, lcg(i, keys)))
                .unwrap()
                .is_some()
        );
    });
    let scans = timed(keys / 100, |i| {
        let lo = key(0, lcg(i, keys));
        let got = shard
            .scan(
                "objects",
                std::ops::Bound::Included(&lo),
                std::ops::Bound::Unbounded,
                100,
            )
            .unwrap();
        assert!(!got.is_empty());
    });
    shard.close().unwrap();
    (gets, scans)
}

fn fjall_reads(dir: &Path, keys: u64) -> (f64, f64) {
    let d = tempfile::tempdir_in(dir).unwrap();
    let db = Database::builder(d.path()).open().unwrap();
    let ks = db
        .keyspace("objects", KeyspaceCreateOptions::default)
        .unwrap();
    for i in 0..keys {
        ks.insert(key(0, i), VALUE).unwrap();
    }
    ks.rotate_memtable_and_wait().unwrap();
    ks.major_compact().unwrap();
    let gets = timed(keys, |i| {
        assert!(ks.get(key(0, lcg(i, keys))).unwrap().is_some());
    });
    let scans = timed(keys / 100, |i| {
        let lo = key(0, lcg(i, keys));
        let n = ks
            .range(lo..)
            .take(100)
            .map(|g| g.into_inner().unwrap().1.len())
            .sum::<usize>();
        assert!(n > 0);
    });
    (gets, scans)
}

/// Sequential read of `files` bypassing the page cache (O_DIRECT): the disk's read bandwidth.
fn direct_read_rate(files: &[PathBuf]) -> f64 {
    weft_bench::direct_read_rate(files).unwrap_or_else(|e| panic!("O_DIRECT read: {e}"))
}

/// Returns (replay MB/s, cached read MB/s, O_DIRECT read MB/s of the same WAL files, WAL MB).
fn replay(dir: &Path, mb: u64, random: bool) -> (f64, f64, f64, f64) {
    let d = tempfile::tempdir_in(dir).unwrap();
    let opts = Options::default()
        .sync(SyncPolicy::None)
        .background(false)
        .memtable_max_bytes(u64::MAX);
    {
        let shard = Shard::open(d.path(), opts.clone()).unwrap();
        shard.declare_bucket("objects", Strategy::Replace).unwrap();
        let records = mb * (1 << 20) / 160;
        for i in 0..records {
            let mut b = WriteBatch::new();
            let n = if random {
                // splitmix64: a bijection, so keys stay unique.
                let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            } else {
                i
            };
            b.put("objects", &key(0, n), &VALUE);
            shard.write(&b).unwrap();
        }
        // Dropped without close: the WAL is synced but not flushed, like a crash.
    }
    let wal_dir = d.path().join("wal");
    let files: Vec<PathBuf> = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let bytes: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    let mbs = bytes as f64 / f64::from(1 << 20);
    // Sequential read of the same files (page cache warm, as for the replay that follows).
    let start = Instant::now();
    let mut read = 0;
    for f in &files {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut File::open(f).unwrap(), &mut buf).unwrap();
        read += buf.len();
    }
    let read_rate = read as f64 / f64::from(1 << 20) / start.elapsed().as_secs_f64();
    let direct = direct_read_rate(&files);
    let shard = Shard::open(d.path(), opts).unwrap();
    let r = shard.recovery_report().clone();
    let replay_rate = r.wal_bytes_read as f64 / f64::from(1 << 20) / r.duration.as_secs_f64();
    drop(shard);
    (replay_rate, read_rate, direct, mbs)
}

fn main() {
    let a = args();
    println!("dir: {}", a.dir.display());
    if a.runs("writes") {
        bench_writes(&a);
    }
    if a.runs("reads") {
        bench_reads(&a);
    }
    if a.runs("replay") {
        bench_replay(&a);
    }
}

fn bench_writes(a: &Args) {
    let fsync = fdatasync_rate(&a.dir, a.secs);
    println!("fdatasync (128 B append + fdatasync, 1 thread): {fsync:.0}/s");
    println!(
        "\n| writers | weft sync (ops/s) | fjall SyncData (ops/s) | weft/fjall | weft/fdatasync |"
    );
    println!("|---|---|---|---|---|");
    for threads in [1, 8, 64] {
        let w = weft_writes(&a.dir, threads, a.secs);
        let f = fjall_writes(&a.dir, threads, a.secs);
        println!(
            "| {threads} | {w:.0} | {f:.0} | {:.2} | {:.2} |",
            w / f,
            w / fsync
        );
    }
}

fn bench_reads(a: &Args) {
    let (wg, ws) = weft_reads(&a.dir, a.keys);
    let (fg, fs) = fjall_reads(&a.dir, a.keys);
    println!(
        "\n| reads ({} keys, 1 thread) | weft (ops/s) | fjall (ops/s) | weft/fjall |",
        a.keys
    );
    println!("|---|---|---|---|");
    println!(
        "| point get (random) | {wg:.0} | {fg:.0} | {:.2} |",
        wg / fg
    );
    println!(
        "| range scan, 100 keys | {ws:.0} | {fs:.0} | {:.2} |",
        ws / fs
    );
}

fn bench_replay(a: &Args) {
    let (rr, sr, dr, mb) = replay(&a.dir, a.replay_mb, a.replay_random);
    println!(
        "\n| WAL replay ({mb:.0} MB, {} keys) | MB/s | replay / this |",
        if a.replay_random {
            "random"
        } else {
            "ascending"
        }
    );
    println!("|---|---|---|");
    println!("| replay (open after a crash, page cache warm) | {rr:.0} | 1.00 |");
    println!(
        "| sequential read, O_DIRECT (disk bandwidth) | {dr:.0} | {:.2} |",
        rr / dr
    );
    println!("| sequential read, page cache | {sr:.0} | {:.2} |", rr / sr);
}
