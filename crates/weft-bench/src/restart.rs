//! `restart`: how long `Db::open` takes to make a large HNSW index searchable again, after an
//! orderly close and after `kill -9` (weft's answer to Weaviate #7189 / #9918).
//!
//! 1. Builds `--n` synthetic vectors (`--dim`, Gaussian mixture) through `weft_db::Db` into an
//!    HNSW class, in batches of `--batch`, and closes orderly (which writes the snapshot).
//! 2. Reopens: orderly restart time (snapshot load + key scan, nothing to insert).
//! 3. A child process (`restart-child`) opens the same directory, upserts `--tail` more
//!    vectors (one in ten an update of an existing object) and is killed with SIGKILL.
//! 4. Reopens: crash restart time (snapshot + WAL replay + the tail inserted).
//! 5. Unless `--skip-rebuild`: deletes the snapshot and reopens: the full rebuild the
//!    snapshot saves (what every restart cost before).
//!
//! Each reopen is checked: sampled vectors must be their own nearest neighbour.
//!
//! ```text
//! cargo run --release -p weft-bench -- restart --n 100000
//! ```

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use uuid::Uuid;
use weft_db::object::{ObjectInput, WriteMode};
use weft_db::schema::{ClassDef, Distance, HnswConfig, VectorIndexConfig, VectorSetup};
use weft_db::{Db, DbOptions, Near, NearQuery, Query};

use crate::synthetic::mixture;

const CLASS: &str = "Restart";
const SEED: u64 = 7;
const CLUSTERS: usize = 100;

/// Arguments of `restart`.
#[derive(clap::Args, Debug)]
pub struct RestartArgs {
    /// Vectors in the index.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Vectors upserted after the snapshot before the kill (default: just under what makes
    /// the background writer take a snapshot, clamp(n / 20, 1 000, 10 000) inserts + deletes,
    /// so the open after the kill sees the largest tail the policy normally leaves).
    #[arg(long)]
    tail: Option<usize>,
    /// Objects per `put_objects` batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// `maxConnections`.
    #[arg(long, default_value_t = 32)]
    m: u32,
    /// `efConstruction`.
    #[arg(long, default_value_t = 128)]
    ef_construction: u32,
    /// Data directory (default: a temp dir, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Skip the full-rebuild measurement (it takes as long as the build).
    #[arg(long)]
    skip_rebuild: bool,
    /// Reuse the class already built in `--dir` by an earlier run (same `--n`, `--dim`)
    /// instead of building it again.
    #[arg(long)]
    reuse: bool,
    /// Also measure the restarts through this `weft` binary: time from spawning it on the
    /// data directory to the first correct answer of a GraphQL `nearVector` query (after
    /// the kill, only through the binary).
    #[arg(long)]
    weft_bin: Option<PathBuf>,
}

/// Arguments of the hidden `restart-child`.
#[derive(clap::Args, Debug)]
pub struct ChildArgs {
    #[arg(long)]
    dir: PathBuf,
    #[arg(long)]
    n: usize,
    #[arg(long)]
    dim: usize,
    #[arg(long)]
    tail: usize,
    #[arg(long)]
    batch: usize,
}

fn options(dir: &Path) -> DbOptions {
    DbOptions::new(dir, "bench")
}

fn uuid(i: usize) -> Uuid {
    Uuid::from_u128(i as u128 + 1)
}

/// The vectors of objects `first..first + count` (batch-aligned streams of the mixture).
fn batch_vectors(first: usize, count: usize, dim: usize, generation: u64) -> Vec<Vec<f32>> {
    mixture(count, dim, CLUSTERS, SEED, (first as u64) << 8 | generation)
}

fn put(db: &Db, first: usize, vectors: Vec<Vec<f32>>) -> Result<()> {
    let inputs = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| ObjectInput {
            class: CLASS.into(),
            id: Some(uuid(first + i)),
            vector: Some(v),
            ..ObjectInput::default()
        })
        .collect();
    for r in db.put_objects(inputs, WriteMode::Upsert) {
        r.context("put_objects")?;
    }
    Ok(())
}

fn open_timed(dir: &Path) -> Result<(Db, Duration)> {
    let t = Instant::now();
    let db = Db::open(options(dir)).context("Db::open")?;
    Ok((db, t.elapsed()))
}

/// Sampled objects must come back as their own nearest neighbour.
fn check(db: &Db, n: usize, dim: usize, samples: usize) -> Result<f64> {
    let mut hits = 0;
    let step = (n / samples).max(1);
    let mut tried = 0;
    for first in (0..n).step_by(step).take(samples) {
        let Some(obj) = db
            .get_object(CLASS, uuid(first), true)
            .context("get_object")?
        else {
            bail!("object {first} is missing");
        };
        let v = obj.vectors.get("").context("object without vector")?;
        ensure!(v.len() == dim, "vector of {} dimensions", v.len());
        let req = Query {
            class: CLASS.into(),
            limit: 1,
            near: Some(NearQuery {
                near: Near::Vector(v.clone()),
                target: None,
                max_distance: None,
                min_certainty: None,
            }),
            ..Query::default()
        };
        let found = db.search(&req).context("search")?;
        tried += 1;
        hits += usize::from(found.first().is_some_and(|h| h.object.id == uuid(first)));
    }
    Ok(hits as f64 / tried.max(1) as f64)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Runs `restart`.
pub fn run(a: &RestartArgs) -> Result<()> {
    let temp;
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    // One in ten tail vectors is an update: an insert plus a delete of the old doc id.
    let tail = a.tail.unwrap_or((a.n / 20).clamp(1_000, 10_000) * 9 / 10);
    println!(
        "restart: n={} dim={} M={} efConstruction={} tail={} dir={}",
        a.n,
        a.dim,
        a.m,
        a.ef_construction,
        tail,
        dir.display()
    );
    if a.reuse {
        println!("reusing the class built in {}", dir.display());
    } else {
        build(a, &dir)?;
    }
    let snapshot_bytes = snapshot_size(&dir)?;
    println!(
        "snapshot size {:.1} MiB",
        snapshot_bytes as f64 / (1 << 20) as f64
    );

    let (db, orderly) = open_timed(&dir)?;
    let ok = check(&db, a.n, a.dim, 200)?;
    println!(
        "orderly restart: Db::open {} (self-recall {ok:.3})",
        secs(orderly)
    );
    db.close()?;
    if let Some(bin) = &a.weft_bin {
        let probe = probe_vector(&dir, 0, a.dim)?;
        let (took, server) = first_answer(bin, &dir, &probe, 0)?;
        println!(
            "orderly restart through the binary: first correct answer after {}",
            secs(took)
        );
        server.terminate()?;
    }

    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["restart-child", "--dir"])
        .arg(&dir)
        .args([
            "--n",
            &a.n.to_string(),
            "--dim",
            &a.dim.to_string(),
            "--tail",
            &tail.to_string(),
            "--batch",
            &a.batch.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("child stdout")?).read_line(&mut line)?;
    ensure!(line.trim() == "done", "child said {line:?}");
    // Child::kill sends SIGKILL on Unix.
    child.kill()?;
    let status = child.wait()?;
    println!("child killed ({status}) after upserting {tail} vectors");
    let log_bytes: u64 = snapshot_files(&dir)?
        .iter()
        .filter(|f| f.to_string_lossy().contains(".oplog."))
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    println!(
        "graph-operation logs {:.1} MiB",
        log_bytes as f64 / (1 << 20) as f64
    );
    if let Some(bin) = &a.weft_bin {
        // The last object of the tail: only found if the tail is indexed.
        let last = a.n + (tail - tail / 10) - 1;
        let probe = batch_vectors(last - (last - a.n) % a.batch, a.batch, a.dim, 0)
            .swap_remove((last - a.n) % a.batch);
        let (took, server) = first_answer(bin, &dir, &probe, last)?;
        println!(
            "restart after kill -9 through the binary: first correct answer after {}",
            secs(took)
        );
        drop(server);
        return Ok(());
    }
    let (db, crashed) = open_timed(&dir)?;
    let ok = check(&db, a.n, a.dim, 200)?;
    println!(
        "restart after kill -9: Db::open {} (self-recall {ok:.3})",
        secs(crashed)
    );
    drop(db);

    if !a.skip_rebuild {
        remove_snapshots(&dir)?;
        let (db, rebuild) = open_timed(&dir)?;
        let ok = check(&db, a.n, a.dim, 200)?;
        println!(
            "restart without a snapshot (full rebuild): Db::open {} (self-recall {ok:.3})",
            secs(rebuild)
        );
        drop(db);
    }
    Ok(())
}

/// Builds the class through `Db` and closes it orderly.
fn build(a: &RestartArgs, dir: &Path) -> Result<()> {
    let db = Db::open(options(dir))?;
    let mut class = ClassDef::new(CLASS);
    class.vectors = VectorSetup::Legacy {
        vectorizer: Some("none".into()),
        index: VectorIndexConfig::Hnsw(HnswConfig {
            distance: Distance::L2Squared,
            max_connections: a.m,
            ef_construction: a.ef_construction,
            ..HnswConfig::default()
        }),
    };
    db.create_class(class)?;
    let t = Instant::now();
    let mut first = 0;
    while first < a.n {
        let count = a.batch.min(a.n - first);
        put(&db, first, batch_vectors(first, count, a.dim, 0))?;
        first += count;
        if first % (a.n / 10).max(1) < a.batch {
            println!("  built {first} ({})", secs(t.elapsed()));
        }
    }
    let build = t.elapsed();
    let t = Instant::now();
    db.close()?;
    let close = t.elapsed();
    println!(
        "build {} ({:.0} vectors/s), orderly close (snapshot) {}",
        secs(build),
        a.n as f64 / build.as_secs_f64(),
        secs(close)
    );
    Ok(())
}

/// Runs `restart-child`: opens, upserts the tail, says `done`, waits to be killed.
pub fn child(a: &ChildArgs) -> Result<()> {
    let db = Db::open(options(&a.dir))?;
    let updates = a.tail / 10;
    // Updates of existing objects (new doc ids: the old ones must be deleted on open).
    put(&db, 0, batch_vectors(0, updates, a.dim, 1))?;
    let mut first = a.n;
    while first < a.n + (a.tail - updates) {
        let count = a.batch.min(a.n + (a.tail - updates) - first);
        put(&db, first, batch_vectors(first, count, a.dim, 0))?;
        first += count;
    }
    println!("done");
    std::thread::sleep(Duration::from_secs(3600));
    drop(db);
    Ok(())
}

/// The stored vector of object `i` (read through `Db`, closed again).
fn probe_vector(dir: &Path, i: usize, dim: usize) -> Result<Vec<f32>> {
    let db = Db::open(options(dir))?;
    let v = db
        .get_object(CLASS, uuid(i), true)?
        .and_then(|o| o.vectors.get("").cloned())
        .context("probe object without vector")?;
    ensure!(v.len() == dim, "probe vector of {} dimensions", v.len());
    db.close()?;
    Ok(v)
}

/// Spawns `bin` over `dir` and polls a GraphQL `nearVector` search for `probe` until its
/// first hit is object `want`: the time from the spawn, and the running server.
fn first_answer(
    bin: &Path,
    dir: &Path,
    probe: &[f32],
    want: usize,
) -> Result<(Duration, weft_bench::server::WeftServer)> {
    let vector = probe
        .iter()
        .map(|x| format!("{x}"))
        .collect::<Vec<_>>()
        .join(",");
    let body = serde_json::json!({
        "query": format!(
            "{{ Get {{ {CLASS}(nearVector: {{vector: [{vector}]}}, limit: 1) {{ _additional {{ id }} }} }} }}"
        )
    });
    let want = uuid(want).to_string();
    let t = Instant::now();
    let server = weft_bench::server::spawn(bin, dir, "bench", None)?;
    let url = format!("{}/v1/graphql", server.rest);
    let deadline = t + Duration::from_secs(600);
    while Instant::now() < deadline {
        if let Ok(mut resp) = ureq::post(&url).send_json(&body)
            && let Ok(v) = resp.body_mut().read_json::<serde_json::Value>()
        {
            let id = v
                .pointer(&format!("/data/Get/{CLASS}/0/_additional/id"))
                .and_then(serde_json::Value::as_str);
            if id == Some(want.as_str()) {
                return Ok((t.elapsed(), server));
            }
            if let Some(id) = id {
                bail!("the first answer is {id}, not {want}");
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    bail!("no correct answer within 600 s")
}

fn snapshot_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let class_dir = dir.join(CLASS.to_lowercase());
    for shard in std::fs::read_dir(&class_dir)? {
        let vi = shard?.path().join("vector_index");
        if vi.is_dir() {
            for f in std::fs::read_dir(vi)? {
                out.push(f?.path());
            }
        }
    }
    Ok(out)
}

fn snapshot_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for f in snapshot_files(dir)? {
        total += std::fs::metadata(f)?.len();
    }
    Ok(total)
}

fn remove_snapshots(dir: &Path) -> Result<()> {
    for f in snapshot_files(dir)? {
        std::fs::remove_file(f)?;
    }
    Ok(())
}
