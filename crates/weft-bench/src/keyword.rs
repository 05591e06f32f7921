//! `keyword`: BM25 in-process through `Db::search`, on a real data directory.
//!
//! * import rate of the corpus into a class whose `text` property is searchable, and into one
//!   where it is not (`indexSearchable: false`, `indexFilterable: false`);
//! * data directory size per document of both, after an orderly close;
//! * BM25 top-10 over the query file, one thread: QPS and p50 / p99, after the shard is
//!   reopened (segments, not memtables);
//! * the top-10 document numbers of every query (`--out`), for the overlap with tantivy that
//!   `scripts/bm25.py` computes.
//!
//! Corpus: one document per line (JSON lines with a `text` field, or plain text); queries: one
//! per line.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::json;
use uuid::Uuid;
use weft_bench::percentile;
use weft_db::object::{ObjectInput, WriteMode};
use weft_db::query::{KeywordOperator, KeywordQuery};
use weft_db::schema::{ClassDef, DataType, Primitive, PropertyDef};
use weft_db::{Db, DbOptions, Query};

/// Arguments of `keyword`.
#[derive(clap::Args, Debug)]
pub struct KeywordArgs {
    /// Documents, one per line (JSON with `text`, or plain text).
    #[arg(long)]
    corpus: PathBuf,
    /// Queries, one per line.
    #[arg(long)]
    queries: PathBuf,
    /// Data directory (a temp dir if not given).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Write each query's top-10 document numbers here (one line per query, space-separated).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip the import without a searchable index.
    #[arg(long)]
    no_plain: bool,
}

fn read_lines(path: &Path) -> Result<Vec<String>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        let text = match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(v) => v
                .get("text")
                .and_then(|t| t.as_str())
                .map(str::to_string)
                .unwrap_or(line),
            Err(_) => line,
        };
        out.push(text);
    }
    Ok(out)
}

fn dir_size(p: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(p) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn open(dir: &Path) -> Result<Db> {
    Db::open(DbOptions::new(dir, "node1")).context("opening the database")
}

fn import(db: &Db, class: &str, searchable: bool, docs: &[String]) -> Result<f64> {
    let mut c = ClassDef::new(class);
    let mut p = PropertyDef::new("text", DataType::Primitive(Primitive::Text));
    p.index_searchable = searchable;
    p.index_filterable = searchable;
    c.properties = vec![p];
    db.create_class(c)?;
    let start = Instant::now();
    for (chunk_no, chunk) in docs.chunks(1000).enumerate() {
        let inputs = chunk
            .iter()
            .enumerate()
            .map(|(i, t)| ObjectInput {
                class: class.into(),
                id: Some(Uuid::from_u128((chunk_no * 1000 + i) as u128 + 1)),
                properties: json!({ "text": t })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                ..ObjectInput::default()
            })
            .collect();
        for r in db.put_objects(inputs, WriteMode::Upsert) {
            r?;
        }
    }
    Ok(docs.len() as f64 / start.elapsed().as_secs_f64())
}

/// Runs the benchmark.
pub fn run(a: &KeywordArgs) -> Result<()> {
    let docs = read_lines(&a.corpus)?;
    let queries = read_lines(&a.queries)?;
    let tmp = tempfile::tempdir()?;
    let dir = a.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    eprintln!(
        "{} documents, {} queries, data in {}",
        docs.len(),
        queries.len(),
        dir.display()
    );
    let db = open(&dir)?;
    let rate = import(&db, "Bench", true, &docs)?;
    let plain_rate = if a.no_plain {
        None
    } else {
        Some(import(&db, "Plain", false, &docs)?)
    };
    db.close()?;
    let size = dir_size(&dir.join("bench")) as f64 / docs.len() as f64;
    let plain_size = dir_size(&dir.join("plain")) as f64 / docs.len() as f64;
    let db = open(&dir)?;
    let query = |q: &str| Query {
        class: "Bench".into(),
        limit: 10,
        keyword: Some(KeywordQuery {
            query: q.into(),
            properties: Vec::new(),
            operator: KeywordOperator::Default,
        }),
        ..Query::default()
    };
    for q in queries.iter().take(50) {
        db.search(&query(q))?;
    }
    let mut lat = Vec::with_capacity(queries.len());
    let mut tops = Vec::with_capacity(queries.len());
    let start = Instant::now();
    for q in &queries {
        let t = Instant::now();
        let hits = db.search(&query(q))?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        tops.push(
            hits.iter()
                .map(|h| (h.object.id.as_u128() - 1).to_string())
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    let qps = queries.len() as f64 / start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    if let Some(out) = &a.out {
        let mut f = std::fs::File::create(out)?;
        for t in &tops {
            writeln!(f, "{t}")?;
        }
    }
    println!("| measure | value |");
    println!("|---|---|");
    println!("| documents | {} |", docs.len());
    println!("| import, searchable text (docs/s) | {rate:.0} |");
    if let Some(p) = plain_rate {
        println!("| import, text not indexed (docs/s) | {p:.0} |");
        println!("| import rate ratio searchable / plain | {:.2} |", rate / p);
        println!("| data per document, searchable / plain (bytes) | {size:.0} / {plain_size:.0} |");
    } else {
        println!("| data per document (bytes) | {size:.0} |");
    }
    println!("| BM25 top-10, 1 thread (QPS) | {qps:.0} |");
    println!(
        "| latency p50 / p99 (ms) | {:.3} / {:.3} |",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    Ok(())
}
