//! `filters`: the query model in-process, on a real data directory.
//!
//! * filtered `near_vector` (the filter `bucket < t` on an int property, `bucket = i % 1000`) at
//!   100 %, 50 %, 10 %, 1 % and 0.1 % selectivity: QPS and recall@k against brute force over the
//!   matching vectors;
//! * `fetch_objects` with a range filter and a sort (limit 10): latency p50 / p99;
//! * an aggregation (mean, median, top occurrences) over every object: latency.
//!
//! The same filtered queries against hnswlib's filter callback: `bench/hnswlib_filter_ref.py`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::json;
use uuid::Uuid;
use weft_bench::percentile;
use weft_db::object::{ObjectInput, WriteMode};
use weft_db::query::{
    AggregateRequest, Filter, FilterValue, Operator, PropertyMetrics, SortBy, Target,
};
use weft_db::schema::{
    ClassDef, DataType, Distance, HnswConfig, Primitive, PropertyDef, VectorIndexConfig,
    VectorSetup,
};
use weft_db::{Db, DbOptions, NearQuery, Query};

use crate::fvecs::read_fvecs;

/// Arguments of `filters`.
#[derive(clap::Args, Debug)]
pub struct FilterArgs {
    /// Base vectors (fvecs).
    #[arg(long)]
    base: PathBuf,
    /// Query vectors (fvecs).
    #[arg(long)]
    query: PathBuf,
    /// `cosine` or `l2-squared`.
    #[arg(long, default_value = "cosine")]
    metric: String,
    /// Results per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Queries per selectivity (at most the file's).
    #[arg(long, default_value_t = 500)]
    queries: usize,
    /// Data directory (a temp dir if not given).
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn distance(metric: &str, a: &[f32], b: &[f32]) -> f32 {
    if metric == "cosine" {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        1.0 - dot / (n(a) * n(b))
    } else {
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
    }
}

fn bucket_below(t: i64) -> Filter {
    Filter::Condition {
        target: Target::Property("bucket".into()),
        op: Operator::LessThan,
        value: FilterValue::Int(t),
    }
}

fn import(db: &Db, base: &[Vec<f32>], metric: &str) -> Result<f64> {
    let mut class = ClassDef::new("Bench");
    class.properties = vec![
        PropertyDef::new("bucket", DataType::Primitive(Primitive::Int)),
        PropertyDef::new("word", DataType::Primitive(Primitive::Text)),
        PropertyDef::new("score", DataType::Primitive(Primitive::Number)),
    ];
    let distance = if metric == "cosine" {
        Distance::Cosine
    } else {
        Distance::L2Squared
    };
    class.vectors = VectorSetup::Legacy {
        vectorizer: Some("none".into()),
        index: VectorIndexConfig::Hnsw(HnswConfig {
            distance,
            ..HnswConfig::default()
        }),
    };
    db.create_class(class)?;
    let started = Instant::now();
    for (c, chunk) in base.chunks(1000).enumerate() {
        let inputs = chunk
            .iter()
            .enumerate()
            .map(|(j, v)| {
                let i = c * 1000 + j;
                ObjectInput {
                    class: "Bench".into(),
                    id: Some(Uuid::from_u128(i as u128 + 1)),
                    properties: json!({"bucket": i % 1000, "word": format!("w{}", i % 37), "score": (i % 501) as f64 / 7.0})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                    vector: Some(v.clone()),
                    ..ObjectInput::default()
                }
            })
            .collect();
        for r in db.put_objects(inputs, WriteMode::Upsert) {
            r?;
        }
    }
    Ok(base.len() as f64 / started.elapsed().as_secs_f64())
}

/// Runs the benchmark and prints Markdown tables.
pub fn run(a: &FilterArgs) -> Result<()> {
    let base = read_fvecs(&a.base).context("base")?;
    let queries = read_fvecs(&a.query).context("queries")?;
    let queries = &queries[..a.queries.min(queries.len())];
    let tmp = tempfile::tempdir()?;
    let dir = a.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let db = Db::open(DbOptions::new(&dir, "bench"))?;
    let rate = import(&db, &base, &a.metric)?;
    println!("imported {} vectors ({rate:.0}/s)\n", base.len());
    println!(
        "| selectivity | matching | recall@{} | QPS (1 thread) |",
        a.k
    );
    println!("|---|---|---|---|");
    for (label, t) in [
        ("100 %", 1000i64),
        ("50 %", 500),
        ("10 %", 100),
        ("1 %", 10),
        ("0.1 %", 1),
    ] {
        let allowed: Vec<usize> = (0..base.len()).filter(|i| (*i as i64 % 1000) < t).collect();
        let mut found = 0usize;
        let mut wanted = 0usize;
        let mut took = 0.0f64;
        for q in queries {
            let req = Query {
                class: "Bench".into(),
                limit: a.k as u64,
                filter: (t < 1000).then(|| bucket_below(t)),
                near: Some(NearQuery::vector(q.clone())),
                ..Query::default()
            };
            let started = Instant::now();
            let hits = db.search(&req)?;
            took += started.elapsed().as_secs_f64();
            let mut truth: Vec<(f32, usize)> = allowed
                .iter()
                .map(|&i| (distance(&a.metric, &base[i], q), i))
                .collect();
            truth.sort_by(|x, y| x.0.total_cmp(&y.0));
            let truth: std::collections::HashSet<u128> = truth
                .iter()
                .take(a.k)
                .map(|(_, i)| *i as u128 + 1)
                .collect();
            wanted += truth.len();
            found += hits
                .iter()
                .filter(|h| truth.contains(&h.object.id.as_u128()))
                .count();
        }
        println!(
            "| {label} | {} | {:.4} | {:.0} |",
            allowed.len(),
            found as f64 / wanted.max(1) as f64,
            queries.len() as f64 / took
        );
    }
    // The filter alone: fetch_objects of one matching object, per selectivity.
    println!("\n| selectivity | fetch_objects(filter, limit 1), p50 |\n|---|---|");
    for (label, t) in [("50 %", 500i64), ("10 %", 100), ("1 %", 10)] {
        let mut lat = Vec::new();
        for _ in 0..30 {
            let req = Query {
                class: "Bench".into(),
                limit: 1,
                filter: Some(bucket_below(t)),
                ..Query::default()
            };
            let started = Instant::now();
            db.search(&req)?;
            lat.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        lat.sort_by(f64::total_cmp);
        println!("| {label} | {:.2} ms |", percentile(&lat, 0.5));
    }
    // fetch_objects with a range filter and a sort.
    let mut lat = Vec::new();
    for r in 0..50i64 {
        let req = Query {
            class: "Bench".into(),
            limit: 10,
            filter: Some(Filter::And(vec![
                Filter::Condition {
                    target: Target::Property("bucket".into()),
                    op: Operator::GreaterThanEqual,
                    value: FilterValue::Int(r * 10),
                },
                bucket_below(r * 10 + 200),
            ])),
            sort: vec![SortBy::named("score", false), SortBy::named("_id", true)],
            ..Query::default()
        };
        let started = Instant::now();
        let hits = db.search(&req)?;
        lat.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(hits.len() == 10, "range+sort returned {}", hits.len());
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "\nfetch_objects, range filter (20 % of objects) + sort, limit 10: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    let mut lat = Vec::new();
    for _ in 0..10 {
        let req = AggregateRequest {
            class: "Bench".into(),
            properties: vec![
                PropertyMetrics {
                    property: "score".into(),
                    top_occurrences: None,
                },
                PropertyMetrics {
                    property: "word".into(),
                    top_occurrences: Some(5),
                },
            ],
            ..AggregateRequest::default()
        };
        let started = Instant::now();
        db.aggregate(&req)?;
        lat.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "aggregate over all {} objects (mean/median/mode of a number, top occurrences of a text): p50 {:.1} ms",
        base.len(),
        percentile(&lat, 0.5)
    );
    db.close()?;
    Ok(())
}
