//! `weft-bench`: benchmarks that need more than a criterion loop.
//!
//! * `backup`: a backup of a live ~1 GB shard while 4 writers insert (writer pauses,
//!   throughput vs the disk's read rate, restore time, incremental size).
//! * `ann`: build an HNSW index from fvecs, sweep ef, report recall@k, QPS and build rate.
//! * `keyword`: BM25 in-process (import with and without a searchable property, size per
//!   document, top-10 QPS and p99, the top-10 lists for the comparison with tantivy).
//! * `gen-synthetic`: write a seeded Gaussian-mixture data set (base, queries, exact ground
//!   truth) as fvecs/ivecs, so that the hnswlib reference script reads the very same data.
//! * `restart`: `Db::open` time of a large HNSW index after an orderly close and after
//!   `kill -9` (persisted index snapshots); `restart-index`: the index part of it at 1M.
//!
//! * `graphql-schema`: generating the GraphQL schema for a catalog of 1 000 classes.
//!
//! Run in release: `cargo run --release -p weft-bench -- ann --help`.
#![forbid(unsafe_code)]

mod ann;
mod backup;
mod filters;
mod fvecs;
mod graphql_schema;
mod keyword;
mod restart;
mod restart_index;
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
    /// A backup of a live ~1 GB shard under 4 writers: writer pauses, throughput, restore, incremental size.
    Backup(backup::BackupArgs),
    /// Filtered near_vector (QPS, recall) by selectivity, range+sort and aggregate latency.
    Filters(filters::FilterArgs),
    /// BM25 in-process: import rate with and without a searchable property, size, QPS, p99.
    Keyword(keyword::KeywordArgs),
    /// The cost of generating the GraphQL schema for N classes, and of a cached lookup.
    GraphqlSchema(graphql_schema::GraphqlSchemaArgs),
    /// Write a seeded Gaussian mixture with exact ground truth.
    GenSynthetic(synthetic::GenArgs),
    /// Restart time of a large HNSW index: orderly, after kill -9, and without a snapshot.
    Restart(restart::RestartArgs),
    /// Index-side restart costs at sizes too slow to build through `Db` here.
    RestartIndex(restart_index::RestartIndexArgs),
    /// Child process of `restart` (killed with SIGKILL).
    #[command(hide = true)]
    RestartChild(restart::ChildArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Ann(a) => ann::run(&a),
        Cmd::Backup(a) => backup::run(&a),
        Cmd::Filters(a) => filters::run(&a),
        Cmd::GenSynthetic(g) => synthetic::run(&g),
        Cmd::GraphqlSchema(a) => graphql_schema::run(&a),
        Cmd::Keyword(k) => keyword::run(&k),
        Cmd::Restart(r) => restart::run(&r),
        Cmd::RestartIndex(r) => restart_index::run(&r),
        Cmd::RestartChild(c) => restart::child(&c),
    }
}
