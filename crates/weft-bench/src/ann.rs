//! `ann`: build rate, recall@k vs QPS over ef, memory per vector.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use weft_hnsw::{Hnsw, HnswConfig, Quantizer, RQ_SEED, Rescore};
use weft_vector::Metric;

use crate::fvecs::{read_fvecs, read_ivecs};

/// Arguments of `ann`.
#[derive(clap::Args, Debug)]
pub struct AnnArgs {
    /// Base vectors (fvecs).
    #[arg(long)]
    base: PathBuf,
    /// Query vectors (fvecs).
    #[arg(long)]
    query: PathBuf,
    /// Ground truth ids (ivecs, closest first).
    #[arg(long)]
    gt: PathBuf,
    /// cosine, dot, l2-squared, manhattan or hamming.
    #[arg(long, default_value = "l2-squared")]
    metric: Metric,
    /// maxConnections (M; level 0 keeps 2·M, as hnswlib's M).
    #[arg(long, default_value_t = 16)]
    m: usize,
    #[arg(long, default_value_t = 128)]
    ef_construction: usize,
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// ef values to sweep.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10,16,24,32,48,64,96,128,256"
    )]
    ef: Vec<usize>,
    /// Thread counts for build and search.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Use only the first n base vectors (ground truth must match).
    #[arg(long)]
    limit: Option<usize>,
    /// Passes over the queries per ef (the best pass is reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Compression: none, sq (trained on up to 100 000 vectors), rq8, rq4, rq1 (centred on the mean
    /// of up to 100 000 vectors), rq1-origin (not centred), bq or pq (k-means on up to
    /// 100 000 vectors, 256 centroids).
    #[arg(long, default_value = "none")]
    quantizer: String,
    /// pq segments (0: Weaviate's automatic choice, d/2 below 256 dimensions).
    #[arg(long, default_value_t = 0)]
    pq_segments: usize,
    /// Candidates rescored with the f32 vectors (Weaviate's rescoreLimit; 0: none). The
    /// vectors come from memory here, not from the vectors bucket as in the server.
    #[arg(long, default_value_t = 20)]
    rescore: usize,
    /// rq8, rq1 and bq: build on codes from the first vector (as a class created with rq) instead of
    /// compressing the f32 graph after the build (as a config update).
    #[arg(long)]
    build_compressed: bool,
}

fn quantizer(a: &AnnArgs, index: &Hnsw) -> anyhow::Result<Option<Quantizer>> {
    Ok(match a.quantizer.as_str() {
        "none" => None,
        "sq" => Some(index.train_sq(100_000).context("sq training")?),
        "rq8" => Some(Quantizer::rq8(a.metric, index.dim(), RQ_SEED)?),
        "rq4" => Some(Quantizer::rq4(a.metric, index.dim(), RQ_SEED)?),
        // Centred on the mean of the vectors indexed so far (none when building on codes).
        "rq1" => Some(index.train_rq1(100_000, RQ_SEED).context("rq1 training")?),
        "rq1-origin" => Some(Quantizer::rq1(a.metric, index.dim(), RQ_SEED)?),
        "bq" => Some(Quantizer::bq(a.metric, index.dim())?),
        // Weaviate's defaults: automatic segments, 256 centroids, trainingLimit 100 000.
        "pq" => Some(
            index
                .train_pq(100_000, a.pq_segments, 256)?
                .context("pq training")?,
        ),
        other => bail!("unknown quantizer {other:?} (none, sq, rq8, rq4, rq1, bq, pq)"),
    })
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<usize>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn build(
    a: &AnnArgs,
    base: &[Vec<f32>],
    cfg: &HnswConfig,
    threads: usize,
) -> anyhow::Result<(Hnsw, f64)> {
    let index = Hnsw::new(base[0].len(), cfg.clone());
    if a.build_compressed
        && let Some(q) = quantizer(a, &index)?
    {
        index.compress(q)?;
    }
    let next = AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(v) = base.get(i) else { return Ok(()) };
                        index.insert(i as u32, v)?;
                    }
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("build thread panicked"))??;
        }
        Ok(())
    })?;
    Ok((index, t.elapsed().as_secs_f64()))
}

/// Runs all queries on `threads` threads; returns (recall, qps).
#[expect(clippy::too_many_arguments, reason = "one sweep point's settings")]
fn sweep_point(
    index: &Hnsw,
    queries: &[Vec<f32>],
    gt: &[Vec<u32>],
    k: usize,
    ef: usize,
    threads: usize,
    base: &[Vec<f32>],
    rescore: usize,
) -> anyhow::Result<(f64, f64)> {
    let source = |ids: &[u32]| -> Result<Vec<Option<Vec<f32>>>, weft_hnsw::IndexError> {
        Ok(ids.iter().map(|&i| base.get(i as usize).cloned()).collect())
    };
    let rescore = Rescore {
        limit: rescore,
        source: &source,
    };
    let rescore = &rescore;
    let mut found = vec![Vec::new(); queries.len()];
    let chunk = queries.len().div_ceil(threads.max(1));
    let t = Instant::now();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let workers: Vec<_> = queries
            .chunks(chunk)
            .zip(found.chunks_mut(chunk))
            .map(|(qs, out)| {
                s.spawn(move || -> anyhow::Result<()> {
                    for (q, o) in qs.iter().zip(out) {
                        *o = index.search_rescored(q, k, Some(ef), None, Some(rescore))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("search thread panicked"))??;
        }
        Ok(())
    })?;
    let secs = t.elapsed().as_secs_f64();
    let mut hits = 0usize;
    for (f, g) in found.iter().zip(gt) {
        let truth = &g[..k.min(g.len())];
        hits += f.iter().filter(|n| truth.contains(&n.id)).count();
    }
    Ok((
        hits as f64 / (queries.len() * k) as f64,
        queries.len() as f64 / secs,
    ))
}

pub fn run(a: &AnnArgs) -> anyhow::Result<()> {
    let mut base = read_fvecs(&a.base).context("base")?;
    if let Some(n) = a.limit {
        base.truncate(n);
    }
    let queries = read_fvecs(&a.query).context("query")?;
    let gt = read_ivecs(&a.gt).context("ground truth")?;
    if base.is_empty() || queries.len() != gt.len() {
        bail!("empty base or query/ground-truth count mismatch");
    }
    println!(
        "# weft-hnsw: n={} dim={} queries={} metric={} M={} efConstruction={} k={} simd={:?} quantizer={} rescore={}",
        base.len(),
        base[0].len(),
        queries.len(),
        a.metric,
        a.m,
        a.ef_construction,
        a.k,
        weft_vector::simd_level(),
        a.quantizer,
        a.rescore
    );
    let cfg = HnswConfig {
        metric: a.metric,
        max_connections: a.m,
        ef_construction: a.ef_construction,
        ..HnswConfig::default()
    };
    let mut kept = None;
    for &bt in &a.threads {
        drop(kept.take());
        let rss0 = rss_bytes();
        let (index, secs) = build(a, &base, &cfg, bt)?;
        if !a.build_compressed
            && let Some(q) = quantizer(a, &index)?
        {
            let t = Instant::now();
            index.compress(q)?;
            println!(
                "compress {} secs={:.2}",
                a.quantizer,
                t.elapsed().as_secs_f64()
            );
        }
        let rss = rss_bytes().saturating_sub(rss0);
        println!(
            "build threads={bt} secs={secs:.2} rate={:.0}/s mem_per_vector={:.0}B (rss) {:.0}B (allocated)",
            base.len() as f64 / secs,
            rss as f64 / base.len() as f64,
            index.memory_bytes() as f64 / base.len() as f64,
        );
        kept = Some(index);
    }
    let Some(index) = kept else {
        bail!("no build thread count given")
    };
    for &st in &a.threads {
        for &ef in &a.ef {
            let mut best = (0.0, 0.0);
            for _ in 0..a.repeats.max(1) {
                let (r, qps) = sweep_point(&index, &queries, &gt, a.k, ef, st, &base, a.rescore)?;
                if qps > best.1 {
                    best = (r, qps);
                }
            }
            println!(
                "search threads={st} ef={ef} recall@{}={:.4} qps={:.0}",
                a.k, best.0, best.1
            );
        }
    }
    Ok(())
}
