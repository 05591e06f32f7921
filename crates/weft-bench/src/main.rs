//! `weft-bench`: benchmarks that need more than a criterion loop.
//!
//! * `ann`: build an HNSW index from fvecs, sweep ef, report recall@k, QPS and build rate.
//! * `gen-synthetic`: write a seeded Gaussian-mixture data set (base, queries, exact ground
//!   truth) as fvecs/ivecs, so that the hnswlib reference script reads the very same data.
//!
//! Run in release: `cargo run --release -p weft-bench -- ann --help`.
#![forbid(unsafe_code)]

mod ann;
mod fvecs;
mod synthetic;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "weft-bench", about = "weft benchmarks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// ANN benchmark: build rate, recall@k vs QPS over ef, memory per vector.
    Ann(ann::AnnArgs),
    /// Write a seeded Gaussian mixture with exact ground truth.
    GenSynthetic(synthetic::GenArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Ann(a) => ann::run(&a),
        Cmd::GenSynthetic(g) => synthetic::run(&g),
    }
}
