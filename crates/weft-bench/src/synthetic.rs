//! Seeded Gaussian mixture with exact ground truth.

use std::path::PathBuf;

use weft_vector::Metric;

use crate::fvecs::{write_fvecs, write_ivecs};

/// Arguments of `gen-synthetic`.
#[derive(clap::Args, Debug)]
pub struct GenArgs {
    /// Output directory (gets base.fvecs, query.fvecs, gt.ivecs).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    #[arg(long, default_value_t = 128)]
    dim: usize,
    #[arg(long, default_value_t = 100)]
    clusters: usize,
    /// Ground-truth neighbours per query.
    #[arg(long, default_value_t = 100)]
    gt_k: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// splitmix64 + Box–Muller: reproducible without extra dependencies.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

/// Points around `clusters` centres (centres ~ N(0, 1), spread ~ N(0, 0.35²) per axis).
pub fn mixture(n: usize, dim: usize, clusters: usize, seed: u64, rng_stream: u64) -> Vec<Vec<f32>> {
    let mut c = Rng(seed);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| c.normal()).collect())
        .collect();
    let mut r = Rng(seed ^ rng_stream.wrapping_mul(0x2545_f491_4f6c_dd1d));
    (0..n)
        .map(|_| {
            let centre = &centres[(r.next_u64() % clusters as u64) as usize];
            centre.iter().map(|&x| x + 0.35 * r.normal()).collect()
        })
        .collect()
}

/// Exact top-`k` ids of every query by scanning `base`, on `threads` threads.
pub fn ground_truth(
    base: &[Vec<f32>],
    queries: &[Vec<f32>],
    k: usize,
    metric: Metric,
    threads: usize,
) -> Vec<Vec<u32>> {
    let dist = metric.distance_fn();
    let mut out = vec![Vec::new(); queries.len()];
    let chunk = queries.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for (qs, outs) in queries.chunks(chunk).zip(out.chunks_mut(chunk)) {
            s.spawn(move || {
                for (q, o) in qs.iter().zip(outs) {
                    let mut all: Vec<(f32, u32)> = base
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (dist(q, v), i as u32))
                        .collect();
                    let k = k.min(all.len());
                    all.select_nth_unstable_by(k.saturating_sub(1), |a, b| a.0.total_cmp(&b.0));
                    all.truncate(k);
                    all.sort_by(|a, b| a.0.total_cmp(&b.0));
                    *o = all.into_iter().map(|(_, i)| i).collect();
                }
            });
        }
    });
    out
}

pub fn run(a: &GenArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.out)?;
    let base = mixture(a.n, a.dim, a.clusters, a.seed, 1);
    let queries = mixture(a.queries, a.dim, a.clusters, a.seed, 2);
    let t = std::time::Instant::now();
    let gt = ground_truth(&base, &queries, a.gt_k, Metric::L2Squared, a.threads);
    eprintln!("ground truth in {:.1}s", t.elapsed().as_secs_f64());
    write_fvecs(&a.out.join("base.fvecs"), &base)?;
    write_fvecs(&a.out.join("query.fvecs"), &queries)?;
    write_ivecs(&a.out.join("gt.ivecs"), &gt)?;
    println!(
        "wrote {} base, {} queries, dim {} to {}",
        a.n,
        a.queries,
        a.dim,
        a.out.display()
    );
    Ok(())
}
