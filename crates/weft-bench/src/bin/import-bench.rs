//! Durable batch import through the real server: REST `POST /v1/batch/objects` and gRPC
//! `BatchObjects`, with 1 and 8 client threads and batches of 100 and 1000, against a `weft`
//! it starts on a temp data directory (default `sync` WAL policy: every acknowledged batch is
//! fdatasync'ed). Also measures `Db::put_objects` in-process, the server-less ceiling.
//!
//! ```text
//! cargo build --release -p weft -p weft-bench
//! target/release/import-bench --weft target/release/weft --objects 20000
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::{Value, json};
use weft_api::proto::v1::batch_object::Properties;
use weft_api::proto::v1::weaviate_client::WeaviateClient;
use weft_api::proto::v1::{BatchObject, BatchObjectsRequest};
use weft_bench::server::WeftServer;

#[derive(Debug, Parser)]
struct Args {
    /// The weft binary to start.
    #[arg(long)]
    weft: PathBuf,
    /// Objects per configuration.
    #[arg(long, default_value_t = 20_000)]
    objects: usize,
    /// Vector dimension.
    #[arg(long, default_value_t = 32)]
    dim: usize,
}

fn vector(i: usize, dim: usize) -> Vec<f32> {
    // Distinct, deterministic, spread out.
    (0..dim)
        .map(|d| (((i * 31 + d * 17) % 997) as f32 / 997.0) - 0.5 + (i as f32) * 1e-6)
        .collect()
}

fn rest_object(class: &str, i: usize, dim: usize) -> Value {
    json!({
        "class": class,
        "properties": {"title": format!("object number {i}"), "count": i, "price": i as f64 * 0.5, "flag": i.is_multiple_of(2)},
        "vector": vector(i, dim),
    })
}

fn create_class(server: &WeftServer, class: &str) -> Result<()> {
    let body = json!({
        "class": class,
        "vectorIndexConfig": {"distance": "cosine"},
        "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "count", "dataType": ["int"]},
            {"name": "price", "dataType": ["number"]},
            {"name": "flag", "dataType": ["boolean"]},
        ],
    });
    ureq::post(format!("{}/v1/schema", server.rest))
        .send_json(&body)
        .context("create class")?;
    Ok(())
}

/// Splits `0..n` into batches and hands them to `threads` workers; returns objects/s.
fn run_parallel(
    n: usize,
    batch: usize,
    threads: usize,
    work: Arc<dyn Fn(usize, usize) -> Result<()> + Send + Sync>,
) -> Result<f64> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let next = Arc::clone(&next);
            let work = Arc::clone(&work);
            std::thread::spawn(move || -> Result<()> {
                loop {
                    let lo = next.fetch_add(batch, std::sync::atomic::Ordering::Relaxed);
                    if lo >= n {
                        return Ok(());
                    }
                    work(lo, (lo + batch).min(n))?;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn rest_rate(
    server: &WeftServer,
    class: &str,
    args: &Args,
    batch: usize,
    threads: usize,
) -> Result<f64> {
    let url = format!("{}/v1/batch/objects", server.rest);
    let (class, dim) = (class.to_string(), args.dim);
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    run_parallel(
        args.objects,
        batch,
        threads,
        Arc::new(move |lo, hi| {
            let objects: Vec<Value> = (lo..hi).map(|i| rest_object(&class, i, dim)).collect();
            let reply: Value = agent
                .post(&url)
                .send_json(json!({ "objects": objects }))?
                .body_mut()
                .read_json()?;
            let failed = reply.as_array().map_or(0, |a| {
                a.iter()
                    .filter(|o| o["result"]["status"] != "SUCCESS")
                    .count()
            });
            if failed > 0 {
                bail!("{failed} objects failed: {}", reply[0]);
            }
            Ok(())
        }),
    )
}

fn grpc_object(class: &str, i: usize, dim: usize) -> BatchObject {
    use prost_types::value::Kind;
    let field = |k: Kind| prost_types::Value { kind: Some(k) };
    let mut fields = std::collections::BTreeMap::new();
    fields.insert(
        "title".to_string(),
        field(Kind::StringValue(format!("object number {i}"))),
    );
    fields.insert("count".to_string(), field(Kind::NumberValue(i as f64)));
    fields.insert(
        "price".to_string(),
        field(Kind::NumberValue(i as f64 * 0.5)),
    );
    fields.insert(
        "flag".to_string(),
        field(Kind::BoolValue(i.is_multiple_of(2))),
    );
    BatchObject {
        uuid: uuid::Uuid::new_v4().to_string(),
        collection: class.to_string(),
        vector_bytes: vector(i, dim)
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        properties: Some(Properties {
            non_ref_properties: Some(prost_types::Struct { fields }),
            ..Properties::default()
        }),
        ..BatchObject::default()
    }
}

fn grpc_rate(
    rt: &tokio::runtime::Runtime,
    server: &WeftServer,
    class: &str,
    args: &Args,
    batch: usize,
    threads: usize,
) -> Result<f64> {
    let channel =
        rt.block_on(tonic::transport::Endpoint::from_shared(server.grpc.clone())?.connect())?;
    let (class, dim) = (class.to_string(), args.dim);
    let handle = rt.handle().clone();
    run_parallel(
        args.objects,
        batch,
        threads,
        Arc::new(move |lo, hi| {
            let mut client = WeaviateClient::new(channel.clone())
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX);
            let objects = (lo..hi).map(|i| grpc_object(&class, i, dim)).collect();
            let reply = handle.block_on(client.batch_objects(BatchObjectsRequest {
                objects,
                consistency_level: None,
            }))?;
            let errors = reply.into_inner().errors;
            if let Some(e) = errors.first() {
                bail!("{} objects failed: {}", errors.len(), e.error);
            }
            Ok(())
        }),
    )
}

fn in_process_rate(args: &Args, batch: usize, threads: usize) -> Result<f64> {
    use weft_db::object::{ObjectInput, WriteMode};
    let dir = tempfile::tempdir()?;
    let db = Arc::new(weft_db::Db::open(weft_db::DbOptions::new(
        dir.path(),
        "bench",
    ))?);
    let dim = args.dim;
    let db2 = Arc::clone(&db);
    let rate = run_parallel(
        args.objects,
        batch,
        threads,
        Arc::new(move |lo, hi| {
            let inputs = (lo..hi)
                .map(|i| {
                    let obj = rest_object("InProc", i, dim);
                    ObjectInput {
                        class: "InProc".into(),
                        properties: obj["properties"].as_object().cloned().unwrap_or_default(),
                        vector: Some(vector(i, dim)),
                        ..ObjectInput::default()
                    }
                })
                .collect();
            for r in db2.put_objects(inputs, WriteMode::Upsert) {
                r?;
            }
            Ok(())
        }),
    )?;
    drop(db);
    Ok(rate)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "objects per run: {}, dim {}, WAL policy sync (default)",
        args.objects, args.dim
    );
    println!("| path | client threads | batch | objects/s |");
    println!("|---|---|---|---|");
    for batch in [100, 1000] {
        for threads in [1, 8] {
            let rate = in_process_rate(&args, batch, threads)?;
            println!("| in-process Db::put_objects | {threads} | {batch} | {rate:.0} |");
            let server = weft_bench::server::start(&args.weft)?;
            create_class(&server, "RestBench")?;
            let rate = rest_rate(&server, "RestBench", &args, batch, threads)?;
            println!("| REST /v1/batch/objects | {threads} | {batch} | {rate:.0} |");
            create_class(&server, "GrpcBench")?;
            let rate = grpc_rate(&rt, &server, "GrpcBench", &args, batch, threads)?;
            println!("| gRPC BatchObjects | {threads} | {batch} | {rate:.0} |");
        }
    }
    Ok(())
}
