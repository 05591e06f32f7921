//! `weft-bench backup`: a backup of a live shard of about 1 GB while 4 writers insert.
//!
//! Reports, in one run: the writers' latency (max = p100, p99) without a backup and while one
//! runs; the backup's throughput next to the disk's sequential read rate (O_DIRECT read of the
//! shard's files); the restore time; and the size of an incremental backup after 1 % of the
//! objects changed, next to the full backup's size. In process (weft-db + weft-backup on a
//! tokio runtime, the filesystem backend), so the numbers are the engine's, not HTTP's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use clap::Args;
use serde_json::json;
use weft_api::backup::{CreateRequest, RestoreRequest, Status};
use weft_backup::{BackendConfig, Manager, ManagerOptions};
use weft_db::object::{ObjectInput, WriteMode};
use weft_db::{Db, DbOptions};

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Directory on the disk under test (data and backups go below it; removed at the end).
    #[arg(long)]
    dir: PathBuf,
    /// Objects loaded before the measurement.
    #[arg(long, default_value_t = 100_000)]
    objects: usize,
    /// Bytes of (non-indexed) text per loaded object.
    #[arg(long, default_value_t = 10_000)]
    body: usize,
    /// Seconds of the baseline load without a backup.
    #[arg(long, default_value_t = 10)]
    baseline_secs: u64,
    /// Compression level of the backups.
    #[arg(long, default_value = "ZstdBestSpeed")]
    compression: String,
}

const DIM: usize = 128;
const CLASS: &str = "Doc";

fn text(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let words = [
        "alpha", "beta", "gamma", "delta", "weft", "warp", "loom", "shard", "fsync",
    ];
    let mut s = String::with_capacity(len + 8);
    while s.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let w = words[(x % words.len() as u64) as usize];
        s.push_str(w);
        s.push_str(&format!("{} ", x % 1000));
    }
    s.truncate(len);
    s
}

fn vector(seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
    (0..DIM)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 10_000) as f32 / 10_000.0
        })
        .collect()
}

fn object(n: u64, body: usize) -> ObjectInput {
    ObjectInput {
        class: CLASS.into(),
        id: Some(uuid::Uuid::from_u128(u128::from(n) + 1)),
        properties: json!({"body": text(n, body), "n": n})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        vector: Some(vector(n)),
        ..ObjectInput::default()
    }
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                dir_size(&path)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}

fn files_under(p: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                files_under(&path, out);
            } else {
                out.push(path);
            }
        }
    }
}

#[derive(Default)]
struct Latencies {
    idle: Vec<Duration>,
    backup: Vec<Duration>,
}

fn stats(mut v: Vec<Duration>) -> (usize, Duration, Duration) {
    v.sort_unstable();
    let n = v.len();
    let p99 = v.get(n * 99 / 100).copied().unwrap_or_default();
    let max = v.last().copied().unwrap_or_default();
    (n, p99, max)
}

async fn wait(m: &Manager, id: &str, restore: bool) -> Result<()> {
    loop {
        let st = if restore {
            m.restore_status("filesystem", id).await
        } else {
            m.create_status("filesystem", id).await
        }
        .map_err(|e| anyhow!(e.message))?;
        match st.status {
            Status::Success => return Ok(()),
            s if s.is_final() => return Err(anyhow!("{id}: {:?}: {:?}", s, st.error)),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

pub fn run(a: &BackupArgs) -> Result<()> {
    let root = a.dir.join("weft-backup-bench");
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("data");
    let backups = root.join("backups");
    std::fs::create_dir_all(&data)?;
    let db = Arc::new(Db::open(DbOptions::new(&data, "node1"))?);
    let class = weft_api::schema::class_from_json(json!({
        "class": CLASS,
        "properties": [
            {"name": "body", "dataType": ["text"], "indexFilterable": false, "indexSearchable": false},
            {"name": "n", "dataType": ["int"]}
        ],
        "vectorIndexConfig": {"efConstruction": 64, "maxConnections": 16}
    }))?;
    db.create_class(class)?;
    let t = Instant::now();
    for start in (0..a.objects).step_by(1000) {
        let batch: Vec<_> = (start..(start + 1000).min(a.objects))
            .map(|n| object(n as u64, a.body))
            .collect();
        for r in db.put_objects(batch, WriteMode::Insert) {
            r?;
        }
        if start % 20_000 == 0 {
            eprintln!("loaded {start} objects ({:.0?})", t.elapsed());
        }
    }
    let load = t.elapsed();
    let class_dir = data.join(CLASS.to_ascii_lowercase());
    let shard_bytes = dir_size(&class_dir);
    eprintln!(
        "loaded {} objects, shard {:.0} MB, in {load:.0?}",
        a.objects,
        shard_bytes as f64 / 1e6
    );
    let mut files = Vec::new();
    files_under(&class_dir, &mut files);
    let disk_rate = weft_bench::direct_read_rate(&files).context("O_DIRECT read")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let manager = Manager::new(
        Arc::clone(&db),
        &[BackendConfig::Filesystem {
            path: backups.clone(),
        }],
        ManagerOptions {
            node: "node1".into(),
            server_version: "bench".into(),
            chunk_size: 128 << 20,
            test_chunk_pause: None,
        },
    )
    .map_err(|e| anyhow!(e.message))?;

    // Writers: 4 threads, one object per durable write; phase 0 idle, 1 backup, 2 stop.
    let phase = Arc::new(AtomicU8::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let lat = Arc::new(parking_lot::Mutex::new(Latencies::default()));
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let (db, phase, stop, lat) = (db.clone(), phase.clone(), stop.clone(), lat.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let n = 1_000_000_000 + w * 100_000_000 + i;
                    let p = phase.load(Ordering::Relaxed);
                    let t = Instant::now();
                    if db.put_object(object(n, 1000), WriteMode::Insert).is_err() {
                        return;
                    }
                    let d = t.elapsed();
                    if p == phase.load(Ordering::Relaxed) {
                        let mut l = lat.lock();
                        match p {
                            0 => l.idle.push(d),
                            1 => l.backup.push(d),
                            _ => {}
                        }
                    }
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(a.baseline_secs));
    phase.store(1, Ordering::Relaxed);
    let create = |id: &str, base: Option<&str>| CreateRequest {
        id: Some(id.into()),
        incremental_base_backup_id: base.map(str::to_string),
        config: Some(weft_api::backup::BackupConfig {
            compression_level: Some(a.compression.clone()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let t = Instant::now();
    runtime.block_on(async {
        manager
            .create("filesystem", create("full", None))
            .await
            .map_err(|e| anyhow!(e.message))?;
        wait(&manager, "full", false).await
    })?;
    let backup_took = t.elapsed();
    let pin_took = manager.last_pin_took().unwrap_or_default();
    phase.store(2, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.join();
    }
    let full_pre = runtime
        .block_on(manager.create_status("filesystem", "full"))
        .map_err(|e| anyhow!(e.message))?
        .size
        .unwrap_or(0.0)
        * f64::from(1u32 << 30);
    let full_stored = dir_size(&backups.join("full"));

    // 1 % of the loaded objects change, then an incremental backup.
    let changed = (a.objects / 100).max(1);
    for start in (0..changed).step_by(1000) {
        let batch: Vec<_> = (start..(start + 1000).min(changed))
            .map(|n| {
                let mut o = object(n as u64, a.body);
                o.properties.insert("n".into(), json!(n + 7));
                o
            })
            .collect();
        for r in db.put_objects(batch, WriteMode::Replace) {
            r?;
        }
    }
    let t = Instant::now();
    runtime.block_on(async {
        manager
            .create("filesystem", create("inc", Some("full")))
            .await
            .map_err(|e| anyhow!(e.message))?;
        wait(&manager, "inc", false).await
    })?;
    let inc_took = t.elapsed();
    let inc_stored = dir_size(&backups.join("inc"));
    // What the incremental backup uploaded, by kind of file.
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(
        backups.join("inc").join("node1").join("backup.json"),
    )?)?;
    let mut uploaded: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for shard in manifest["classes"][0]["shards"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for f in shard["files"].as_array().into_iter().flatten() {
            let path = f["path"].as_str().unwrap_or_default();
            let kind = path.split('/').next().unwrap_or_default().to_string();
            let size = f["size"].as_u64().unwrap_or(0);
            let e = uploaded.entry(kind).or_default();
            if f["backup"] == "inc" {
                e.0 += size;
            } else {
                e.1 += size;
            }
        }
    }

    // Restore the full backup after deleting the class.
    db.delete_class(CLASS)?;
    let t = Instant::now();
    runtime.block_on(async {
        manager
            .restore("filesystem", "full", RestoreRequest::default())
            .await
            .map_err(|e| anyhow!(e.message))?;
        wait(&manager, "full", true).await
    })?;
    let restore_took = t.elapsed();
    let restored = db.object_count(CLASS);

    let (n0, p99_0, max0) = stats(std::mem::take(&mut lat.lock().idle));
    let (n1, p99_1, max1) = stats(std::mem::take(&mut lat.lock().backup));
    let mb = |b: f64| b / f64::from(1 << 20);
    println!(
        "shard: {} objects, {:.0} MiB on disk (loaded in {load:.1?}); compression {}",
        a.objects,
        mb(shard_bytes as f64),
        a.compression
    );
    println!();
    println!("| 4 writers, one object per durable write | writes | p99 | max (p100) |");
    println!("|---|---|---|---|");
    println!(
        "| no backup ({} s) | {n0} | {p99_0:.1?} | {max0:.1?} |",
        a.baseline_secs
    );
    println!("| during the backup ({backup_took:.1?}) | {n1} | {p99_1:.1?} | {max1:.1?} |");
    println!(
        "| the backup's pin of the shard (the only time writers wait for it) | | | {pin_took:.2?} |"
    );
    println!(
        "| ratio during / without | | {:.2} | {:.2} |",
        p99_1.as_secs_f64() / p99_0.as_secs_f64().max(1e-9),
        max1.as_secs_f64() / max0.as_secs_f64().max(1e-9)
    );
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| backup: data before compression | {:.0} MiB |",
        mb(full_pre)
    );
    println!("| backup: stored | {:.0} MiB |", mb(full_stored as f64));
    println!(
        "| backup throughput (before compression) | {:.0} MiB/s |",
        mb(full_pre) / backup_took.as_secs_f64()
    );
    println!("| disk sequential read, O_DIRECT | {disk_rate:.0} MiB/s |");
    println!(
        "| backup throughput / disk read rate | {:.2} |",
        mb(full_pre) / backup_took.as_secs_f64() / disk_rate
    );
    println!("| restore ({restored} objects) | {restore_took:.1?} |");
    println!(
        "| incremental backup after {changed} objects (1 %) changed: stored | {:.1} MiB in {inc_took:.1?} |",
        mb(inc_stored as f64)
    );
    println!(
        "| incremental / full stored size | {:.3} |",
        inc_stored as f64 / full_stored.max(1) as f64
    );
    println!();
    println!(
        "| incremental backup, by directory | uploaded (MiB, before compression) | referenced in the base (MiB) |"
    );
    println!("|---|---|---|");
    for (kind, (up, refd)) in &uploaded {
        println!(
            "| `{kind}/` | {:.1} | {:.1} |",
            mb(*up as f64),
            mb(*refd as f64)
        );
    }
    drop(manager);
    drop(runtime);
    if let Ok(db) = Arc::try_unwrap(db) {
        db.close()?;
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
