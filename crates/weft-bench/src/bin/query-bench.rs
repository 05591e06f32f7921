//! Vector import and search end to end through gRPC (and GraphQL) against the same work
//! in-process.
//!
//! Starts the real `weft` on a temp data directory (default `sync` WAL policy), creates a
//! cosine HNSW class with the given `maxConnections` / `efConstruction` / fixed `ef`, imports
//! `base.fvecs` through gRPC `BatchObjects` and runs the queries of `query.fvecs` through gRPC
//! `Search` (`near_vector`, limit k, metadata uuid + distance, as the Python client's
//! `query.near_vector` sends it) with 1 and 2 client threads. The same import
//! (`Db::put_objects`, same batches) and the same queries (`Db::search`, same ef) run
//! in-process on a `Db` of their own. Object ids are derived from the row number, so recall@k
//! is checked against `gt.ivecs` on both paths. The same queries also run as GraphQL `Get`
//! (`nearVector`, limit k, `_additional { id distance }`, what the v3 client's
//! `with_near_vector(...).with_additional(["id", "distance"])` posts). Query runs are interleaved (in-process, gRPC)
//! and repeated; the best run of each is kept, as `weft-bench ann` and `bench/hnswlib_ref.py`
//! do.
//!
//! ```text
//! cargo build --release -p weft -p weft-bench
//! target/release/query-bench --weft target/release/weft --data ../shared/data/minilm-wiki-384-27k
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use serde_json::{Value, json};
use uuid::Uuid;
use weft_api::proto::v1::vectors::VectorType;
use weft_api::proto::v1::weaviate_client::WeaviateClient;
use weft_api::proto::v1::{
    BatchObject, BatchObjectsRequest, MetadataRequest, NearVector, SearchRequest, Vectors,
};
use weft_db::object::{ObjectInput, WriteMode};
use weft_db::{Db, DbOptions, Near, NearQuery};

#[derive(Debug, Parser)]
struct Args {
    /// The weft binary to start.
    #[arg(long)]
    weft: PathBuf,
    /// Directory with `base.fvecs`, `query.fvecs` and `gt.ivecs` (cosine).
    #[arg(long)]
    data: PathBuf,
    /// `maxConnections` (hnswlib's M).
    #[arg(long, default_value_t = 16)]
    m: u32,
    /// `efConstruction`.
    #[arg(long, default_value_t = 128)]
    ef_construction: u32,
    /// Fixed search `ef` of the class (both paths use it).
    #[arg(long, default_value_t = 64)]
    ef: u32,
    /// Results per query (recall@k).
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Objects per import batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Client threads for the query runs, comma-separated.
    #[arg(long, default_value = "1,2")]
    threads: String,
    /// Query runs per path and thread count; the best is kept.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Use only the first N base vectors (recall is then not against the full ground truth).
    #[arg(long)]
    limit: Option<usize>,
    /// Compression of the class: none, sq (trainingLimit = the base size, so it compresses
    /// once imported) or rq8; rescoreLimit 20. Searches start once both indexes are compressed.
    #[arg(long, default_value = "none")]
    quantizer: String,
}

const CLASS: &str = "QueryBench";

/// Rows of a TEXMEX `.fvecs` / `.ivecs` file as raw little-endian 32-bit words.
fn read_rows(path: &Path) -> Result<(usize, Vec<[u8; 4]>)> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    ensure!(bytes.len() >= 4, "{}: empty", path.display());
    let dim = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let dim = usize::try_from(dim).context("negative dimension")?;
    let row = 4 + 4 * dim;
    ensure!(
        dim > 0 && bytes.len().is_multiple_of(row),
        "{}: not a .fvecs/.ivecs file",
        path.display()
    );
    let words = bytes
        .chunks_exact(row)
        .flat_map(|r| r[4..].chunks_exact(4).map(|w| [w[0], w[1], w[2], w[3]]))
        .collect();
    Ok((dim, words))
}

fn read_fvecs(path: &Path) -> Result<Vec<Vec<f32>>> {
    let (dim, words) = read_rows(path)?;
    Ok(words
        .chunks_exact(dim)
        .map(|r| r.iter().map(|w| f32::from_le_bytes(*w)).collect())
        .collect())
}

fn read_ivecs(path: &Path) -> Result<Vec<Vec<u32>>> {
    let (dim, words) = read_rows(path)?;
    Ok(words
        .chunks_exact(dim)
        .map(|r| r.iter().map(|w| u32::from_le_bytes(*w)).collect())
        .collect())
}

/// The id of base row `row` (version-4 layout, so every client accepts it).
fn row_id(row: usize) -> Uuid {
    uuid::Builder::from_u128((0x5eed_u128 << 64) | row as u128)
        .with_version(uuid::Version::Random)
        .with_variant(uuid::Variant::RFC4122)
        .into_uuid()
}

/// The row of an id made by [`row_id`]: the low 56 bits (the variant bits are above them).
fn id_row(id: &Uuid) -> usize {
    (id.as_u128() & 0x00ff_ffff_ffff_ffff) as usize
}

fn class_json(args: &Args, n: usize) -> Value {
    let mut config = json!({
        "distance": "cosine",
        "maxConnections": args.m,
        "efConstruction": args.ef_construction,
        "ef": args.ef,
    });
    match args.quantizer.as_str() {
        "sq" => config["sq"] = json!({"enabled": true, "trainingLimit": n, "rescoreLimit": 20}),
        "rq8" => config["rq"] = json!({"enabled": true, "bits": 8, "rescoreLimit": 20}),
        "bq" => config["bq"] = json!({"enabled": true}),
        _ => {}
    }
    json!({
        "class": CLASS,
        "vectorizer": "none",
        "vectorIndexType": "hnsw",
        "vectorIndexConfig": config,
        "properties": [],
    })
}

/// Waits until `done` says the class is compressed (or 60 s passed).
fn wait_compressed(what: &str, done: impl Fn() -> bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        ensure!(
            Instant::now() < deadline,
            "{what} not compressed after 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn vector_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Imports every base row through gRPC `BatchObjects`, one client thread; returns objects/s.
fn grpc_import(
    rt: &tokio::runtime::Runtime,
    channel: &tonic::transport::Channel,
    base: &[Vec<f32>],
    batch: usize,
) -> Result<f64> {
    let mut client = WeaviateClient::new(channel.clone())
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
    let started = Instant::now();
    for lo in (0..base.len()).step_by(batch) {
        let hi = (lo + batch).min(base.len());
        let objects = (lo..hi)
            .map(|row| BatchObject {
                uuid: row_id(row).to_string(),
                collection: CLASS.to_string(),
                vector_bytes: vector_bytes(&base[row]),
                ..BatchObject::default()
            })
            .collect();
        let reply = rt.block_on(client.batch_objects(BatchObjectsRequest {
            objects,
            consistency_level: None,
        }))?;
        let errors = reply.into_inner().errors;
        if let Some(e) = errors.first() {
            bail!("{} objects failed: {}", errors.len(), e.error);
        }
    }
    Ok(base.len() as f64 / started.elapsed().as_secs_f64())
}

/// Imports every base row through `Db::put_objects`, same batches; returns objects/s.
fn in_process_import(db: &Db, base: &[Vec<f32>], batch: usize) -> Result<f64> {
    let started = Instant::now();
    for lo in (0..base.len()).step_by(batch) {
        let hi = (lo + batch).min(base.len());
        let inputs = (lo..hi)
            .map(|row| ObjectInput {
                class: CLASS.into(),
                id: Some(row_id(row)),
                vector: Some(base[row].clone()),
                ..ObjectInput::default()
            })
            .collect();
        for r in db.put_objects(inputs, WriteMode::Upsert) {
            r?;
        }
    }
    Ok(base.len() as f64 / started.elapsed().as_secs_f64())
}

/// One client thread's search: query index -> the base rows returned.
type Searcher = Box<dyn FnMut(usize) -> Result<Vec<usize>>>;

/// Runs every query once over `threads` workers pulling the next query index; each worker
/// first builds its own searcher with `init` (not timed). Returns (QPS, rows per query).
fn run_queries(
    queries: usize,
    threads: usize,
    init: Arc<dyn Fn() -> Result<Searcher> + Send + Sync>,
) -> Result<(f64, Vec<Vec<usize>>)> {
    let next = Arc::new(AtomicUsize::new(0));
    let ready = Arc::new(std::sync::Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (next, init, ready) = (Arc::clone(&next), Arc::clone(&init), Arc::clone(&ready));
            std::thread::spawn(move || -> Result<Vec<(usize, Vec<usize>)>> {
                let searcher = init();
                ready.wait();
                let mut search = searcher?;
                let mut out = Vec::new();
                loop {
                    let q = next.fetch_add(1, Ordering::Relaxed);
                    if q >= queries {
                        return Ok(out);
                    }
                    out.push((q, search(q)?));
                }
            })
        })
        .collect();
    ready.wait();
    let started = Instant::now();
    let mut results = vec![Vec::new(); queries];
    for h in handles {
        for (q, rows) in h.join().map_err(|_| anyhow::anyhow!("worker panicked"))?? {
            results[q] = rows;
        }
    }
    let qps = queries as f64 / started.elapsed().as_secs_f64();
    Ok((qps, results))
}

fn recall(results: &[Vec<usize>], gt: &[Vec<u32>], k: usize) -> f64 {
    let hits: usize = results
        .iter()
        .zip(gt)
        .map(|(got, truth)| {
            let truth: HashSet<usize> = truth.iter().take(k).map(|&r| r as usize).collect();
            got.iter().take(k).filter(|r| truth.contains(r)).count()
        })
        .sum();
    hits as f64 / (results.len() * k) as f64
}

fn grpc_search_request(query: &[f32], k: usize) -> SearchRequest {
    SearchRequest {
        collection: CLASS.to_string(),
        limit: k as u32,
        uses_123_api: true,
        uses_125_api: true,
        uses_127_api: true,
        metadata: Some(MetadataRequest {
            uuid: true,
            distance: true,
            ..MetadataRequest::default()
        }),
        near_vector: Some(NearVector {
            vectors: vec![Vectors {
                vector_bytes: vector_bytes(query),
                r#type: VectorType::SingleFp32 as i32,
                ..Vectors::default()
            }],
            ..NearVector::default()
        }),
        ..SearchRequest::default()
    }
}

/// Server-side time of the gRPC searches (`SearchReply.took`) and their number, to split a
/// query's latency into server work and transport.
static SERVER_MICROS: AtomicUsize = AtomicUsize::new(0);
static SERVER_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Each client thread drives its own single-threaded tokio runtime and its own connection
/// (HTTP/2 channel), so a query costs no thread hand-offs on the client side.
fn grpc_search(
    endpoint: &str,
    queries: &Arc<Vec<Vec<f32>>>,
    k: usize,
    threads: usize,
) -> Result<(f64, Vec<Vec<usize>>)> {
    let (endpoint, queries) = (endpoint.to_string(), Arc::clone(queries));
    run_queries(
        queries.len(),
        threads,
        Arc::new(move || -> Result<Searcher> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let channel =
                rt.block_on(tonic::transport::Endpoint::from_shared(endpoint.clone())?.connect())?;
            let mut client = WeaviateClient::new(channel)
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX);
            let queries = Arc::clone(&queries);
            Ok(Box::new(move |q| {
                let reply = rt.block_on(client.search(grpc_search_request(&queries[q], k)))?;
                let reply = reply.into_inner();
                SERVER_MICROS.fetch_add((reply.took * 1e6) as usize, Ordering::Relaxed);
                SERVER_CALLS.fetch_add(1, Ordering::Relaxed);
                reply
                    .results
                    .iter()
                    .map(|r| {
                        let meta = r.metadata.as_ref().context("result without metadata")?;
                        let id = Uuid::from_slice(&meta.id_as_bytes).context("id_as_bytes")?;
                        Ok(id_row(&id))
                    })
                    .collect()
            }))
        }),
    )
}

/// GraphQL `Get` with `nearVector` over HTTP/1.1 keep-alive, one connection per thread.
fn graphql_search(
    rest: &str,
    queries: &Arc<Vec<Vec<f32>>>,
    k: usize,
    threads: usize,
) -> Result<(f64, Vec<Vec<usize>>)> {
    let (url, queries) = (format!("{rest}/v1/graphql"), Arc::clone(queries));
    run_queries(
        queries.len(),
        threads,
        Arc::new(move || -> Result<Searcher> {
            let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
            let (url, queries) = (url.clone(), Arc::clone(&queries));
            Ok(Box::new(move |q| {
                let vector: Vec<String> = queries[q].iter().map(f32::to_string).collect();
                let query = format!(
                    "{{Get{{{CLASS}(nearVector: {{vector: [{}]}} limit: {k}){{_additional{{id distance}}}}}}}}",
                    vector.join(", ")
                );
                let body: Value = agent
                    .post(&url)
                    .send_json(json!({ "query": query }))?
                    .body_mut()
                    .read_json()?;
                body["data"]["Get"][CLASS]
                    .as_array()
                    .with_context(|| format!("no results: {body}"))?
                    .iter()
                    .map(|hit| {
                        let id = hit["_additional"]["id"].as_str().context("id")?;
                        Ok(id_row(&Uuid::parse_str(id)?))
                    })
                    .collect()
            }))
        }),
    )
}

fn in_process_search(
    db: &Arc<Db>,
    queries: &Arc<Vec<Vec<f32>>>,
    k: usize,
    threads: usize,
) -> Result<(f64, Vec<Vec<usize>>)> {
    let (db, queries) = (Arc::clone(db), Arc::clone(queries));
    run_queries(
        queries.len(),
        threads,
        Arc::new(move || -> Result<Searcher> {
            let (db, queries) = (Arc::clone(&db), Arc::clone(&queries));
            Ok(Box::new(move |q| {
                let hits = db.search(&weft_db::Query {
                    class: CLASS.to_string(),
                    limit: k as u64,
                    offset: 0,
                    after: None,
                    near: Some(NearQuery {
                        near: Near::Vector(queries[q].clone()),
                        target: None,
                        max_distance: None,
                        min_certainty: None,
                    }),
                    with_vectors: false,
                    ..weft_db::Query::default()
                })?;
                Ok(hits.iter().map(|h| id_row(&h.object.id)).collect())
            }))
        }),
    )
}

#[derive(Default, Clone, Copy)]
struct Best {
    qps: f64,
    recall: f64,
}

impl Best {
    fn keep(&mut self, qps: f64, recall: f64) {
        if qps > self.qps {
            *self = Best { qps, recall };
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut base = read_fvecs(&args.data.join("base.fvecs"))?;
    if let Some(n) = args.limit {
        base.truncate(n);
    }
    let queries = Arc::new(read_fvecs(&args.data.join("query.fvecs"))?);
    let gt = read_ivecs(&args.data.join("gt.ivecs"))?;
    ensure!(gt.len() == queries.len(), "gt.ivecs and query.fvecs differ");
    ensure!(base.len() < 1 << 56, "too many rows for row ids");
    let threads: Vec<usize> = args
        .threads
        .split(',')
        .map(|t| t.trim().parse().context("--threads"))
        .collect::<Result<_>>()?;
    let (k, dim) = (args.k, base.first().map_or(0, Vec::len));
    println!(
        "# query-bench: n={} dim={dim} queries={} metric=cosine maxConnections={} \
         efConstruction={} ef={} k={k} batch={} (WAL policy sync, the default)",
        base.len(),
        queries.len(),
        args.m,
        args.ef_construction,
        args.ef,
        args.batch
    );

    // In-process first, on its own database.
    let dir = tempfile::tempdir()?;
    let db = Arc::new(Db::open(DbOptions::new(dir.path(), "bench"))?);
    let n = base.len();
    db.create_class(weft_api::schema::class_from_json(class_json(&args, n))?)?;
    let inproc_import = in_process_import(&db, &base, args.batch)?;
    println!(
        "import in-process Db::put_objects batch={} rate={inproc_import:.0}/s",
        args.batch
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let server = weft_bench::server::start(&args.weft)?;
    ureq::post(format!("{}/v1/schema", server.rest))
        .send_json(class_json(&args, n))
        .context("create class")?;
    let channel =
        rt.block_on(tonic::transport::Endpoint::from_shared(server.grpc.clone())?.connect())?;
    let grpc_import_rate = grpc_import(&rt, &channel, &base, args.batch)?;
    println!(
        "import gRPC BatchObjects batch={} rate={grpc_import_rate:.0}/s",
        args.batch
    );
    drop(base);
    if args.quantizer != "none" {
        let shards = db.shards(CLASS)?;
        wait_compressed("in-process", || {
            shards.iter().all(|s| db.shard_compressed(CLASS, &s.name))
        })?;
        let nodes = format!("{}/v1/nodes/{CLASS}?output=verbose", server.rest);
        wait_compressed("server", || {
            ureq::get(&nodes)
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .is_some_and(|v| v["nodes"][0]["shards"][0]["compressed"] == json!(true))
        })?;
        println!("# both indexes compressed ({})", args.quantizer);
    }
    // Let background snapshots of either index finish before measuring searches.
    std::thread::sleep(Duration::from_secs(3));

    let mut inproc = vec![Best::default(); threads.len()];
    let mut grpc = vec![Best::default(); threads.len()];
    let mut graphql = vec![Best::default(); threads.len()];
    for _ in 0..args.repeats.max(1) {
        for (i, &t) in threads.iter().enumerate() {
            let (qps, rows) = in_process_search(&db, &queries, k, t)?;
            inproc[i].keep(qps, recall(&rows, &gt, k));
            let (qps, rows) = grpc_search(&server.grpc, &queries, k, t)?;
            grpc[i].keep(qps, recall(&rows, &gt, k));
            let (qps, rows) = graphql_search(&server.rest, &queries, k, t)?;
            graphql[i].keep(qps, recall(&rows, &gt, k));
        }
    }
    for (i, &t) in threads.iter().enumerate() {
        println!(
            "search in-process Db::search threads={t} ef={} recall@{k}={:.4} qps={:.0}",
            args.ef, inproc[i].recall, inproc[i].qps
        );
        println!(
            "search gRPC Search near_vector threads={t} ef={} recall@{k}={:.4} qps={:.0}",
            args.ef, grpc[i].recall, grpc[i].qps
        );
        println!(
            "search GraphQL Get nearVector threads={t} ef={} recall@{k}={:.4} qps={:.0}",
            args.ef, graphql[i].recall, graphql[i].qps
        );
    }

    println!();
    println!("| | in-process | gRPC | gRPC / in-process |");
    println!("|---|---|---|---|");
    println!(
        "| import, batch {}, 1 client thread | {inproc_import:.0} /s | {grpc_import_rate:.0} /s | {:.2} |",
        args.batch,
        grpc_import_rate / inproc_import
    );
    for (i, &t) in threads.iter().enumerate() {
        println!(
            "| search, {t} client thread{}, ef = {} | {:.3} @ {:.0} QPS | {:.3} @ {:.0} QPS | {:.2} |",
            if t == 1 { "" } else { "s" },
            args.ef,
            inproc[i].recall,
            inproc[i].qps,
            grpc[i].recall,
            grpc[i].qps,
            grpc[i].qps / inproc[i].qps
        );
    }
    // The transport floor: the same call for a class that does not exist (the server answers
    // NOT_FOUND before any search), one client thread.
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let channel =
            rt.block_on(tonic::transport::Endpoint::from_shared(server.grpc.clone())?.connect())?;
        let mut client = WeaviateClient::new(channel);
        let mut req = grpc_search_request(&queries[0], k);
        req.collection = "NoSuchClass".into();
        let n = 2000;
        let started = Instant::now();
        for _ in 0..n {
            let _ = rt.block_on(client.search(req.clone()));
        }
        println!(
            "# gRPC round trip without a search (unknown class): {:.0} µs per call",
            started.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );
    }
    let calls = SERVER_CALLS.load(Ordering::Relaxed).max(1);
    println!(
        "# gRPC Search: server-side time (SearchReply.took) {:.0} µs per call over {calls} calls",
        SERVER_MICROS.load(Ordering::Relaxed) as f64 / calls as f64
    );
    println!();
    println!("| | gRPC `Search` | GraphQL `Get` | GraphQL / gRPC |");
    println!("|---|---|---|---|");
    for (i, &t) in threads.iter().enumerate() {
        println!(
            "| nearVector, limit {k}, {t} client thread{} | {:.3} @ {:.0} QPS | {:.3} @ {:.0} QPS | {:.2} |",
            if t == 1 { "" } else { "s" },
            grpc[i].recall,
            grpc[i].qps,
            graphql[i].recall,
            graphql[i].qps,
            graphql[i].qps / grpc[i].qps
        );
    }
    drop(server);
    drop(channel);
    drop(rt);
    if let Ok(db) = Arc::try_unwrap(db) {
        db.close()?;
    }
    Ok(())
}
