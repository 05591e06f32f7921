//! `restart-index`: the index-side costs of a restart at sizes where building through
//! `weft_db::Db` takes too long for this machine: build `--n` vectors straight into
//! `weft_hnsw::Hnsw` on all cores (with `--build-ef-construction`, cheaper than the schema's),
//! write and read its snapshot file, then insert a `--tail` on all cores with the real
//! efConstruction — the work `Db::open` does after `kill -9`, minus the WAL replay and the
//! key scan of the vectors bucket (measured by `restart` at 100k).
//!
//! ```text
//! cargo run --release -p weft-bench -- restart-index --n 1000000
//! ```

use std::io::{BufReader, BufWriter};
use std::time::Instant;

use anyhow::{Context, Result};
use weft_hnsw::{Hnsw, HnswConfig, Metric};

use crate::synthetic::mixture;

/// Arguments of `restart-index`.
#[derive(clap::Args, Debug)]
pub struct RestartIndexArgs {
    #[arg(long, default_value_t = 1_000_000)]
    n: usize,
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Vectors inserted after loading (default: 10 000, the background writer's cap).
    #[arg(long, default_value_t = 10_000)]
    tail: usize,
    #[arg(long, default_value_t = 32)]
    m: usize,
    /// efConstruction of the tail inserts (the schema's).
    #[arg(long, default_value_t = 128)]
    ef_construction: usize,
    /// efConstruction of the initial build (lower: faster to set up; the snapshot has the
    /// same size).
    #[arg(long, default_value_t = 64)]
    build_ef_construction: usize,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Keep the snapshot at this path; if it exists, skip the build and only load it.
    #[arg(long)]
    snapshot: Option<std::path::PathBuf>,
    /// Times to load the snapshot (each load is reported; the last one is kept).
    #[arg(long, default_value_t = 1)]
    loads: usize,
}

fn parallel(threads: usize, ids: std::ops::Range<usize>, f: impl Fn(usize) + Sync) {
    let next = std::sync::atomic::AtomicUsize::new(ids.start);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= ids.end {
                        break;
                    }
                    f(i);
                }
            });
        }
    });
}

/// Builds `--n` vectors into an index and writes its snapshot to `path`.
fn build_and_write(
    a: &RestartIndexArgs,
    data: &[Vec<f32>],
    path: &std::path::Path,
    cfg: HnswConfig,
) -> Result<()> {
    let t = Instant::now();
    let h = Hnsw::new(a.dim, cfg);
    parallel(a.threads, 0..a.n, |i| {
        if let Some(v) = data.get(i) {
            let _ = h.insert(i as u32, v);
        }
    });
    println!(
        "restart-index: n={} dim={} M={} build {:.1} s",
        a.n,
        a.dim,
        a.m,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let info = h.write_snapshot(a.n as u64, &mut out)?;
    out.into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .sync_all()?;
    println!(
        "snapshot write {:.2} s ({:.0} MiB)",
        t.elapsed().as_secs_f64(),
        info.bytes as f64 / f64::from(1 << 20)
    );
    Ok(())
}

/// Runs `restart-index`.
pub fn run(a: &RestartIndexArgs) -> Result<()> {
    let cfg = |ef_construction| HnswConfig {
        metric: Metric::L2Squared,
        max_connections: a.m,
        ef_construction,
        ..HnswConfig::default()
    };
    let data = mixture(a.n + a.tail, a.dim, 100, 7, 1);
    let dir = tempfile::tempdir()?;
    let path = a
        .snapshot
        .clone()
        .unwrap_or_else(|| dir.path().join("index.snapshot"));
    if !path.exists() {
        build_and_write(a, &data, &path, cfg(a.build_ef_construction))?;
    }
    let mut h = None;
    for _ in 0..a.loads.max(1) {
        drop(h.take());
        let t = Instant::now();
        let file = std::fs::File::open(&path)?;
        let len = file.metadata()?.len();
        let mut input = BufReader::with_capacity(1 << 20, file);
        let (loaded_h, loaded) =
            Hnsw::read_snapshot(&mut input, len, a.dim, cfg(a.ef_construction))
                .context("read_snapshot")?;
        println!(
            "snapshot load {:.2} s ({} nodes; file in page cache)",
            t.elapsed().as_secs_f64(),
            loaded.nodes
        );
        h = Some(loaded_h);
    }
    let h = h.context("no load")?;
    let t = Instant::now();
    parallel(a.threads, a.n..a.n + a.tail, |i| {
        if let Some(v) = data.get(i) {
            let _ = h.insert(i as u32, v);
        }
    });
    let took = t.elapsed().as_secs_f64();
    println!(
        "tail insert {} on {} threads {:.2} s ({:.0} /s)",
        a.tail,
        a.threads,
        took,
        a.tail as f64 / took
    );
    let (mut tried, mut self_hits) = (0, 0);
    for i in (0..a.n + a.tail).step_by(((a.n + a.tail) / 200).max(1)) {
        let v = data.get(i).context("sample")?;
        tried += 1;
        self_hits += usize::from(
            h.search(v, 1, None)?
                .first()
                .is_some_and(|n| n.id == i as u32),
        );
    }
    println!("self-recall of sampled vectors: {self_hits}/{tried}");
    Ok(())
}
