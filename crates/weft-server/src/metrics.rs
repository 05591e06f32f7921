//! Prometheus metrics (`PROMETHEUS_MONITORING_ENABLED`, served on `/metrics` of
//! `PROMETHEUS_MONITORING_PORT`): Weaviate's names where one exists, `weft_*` for the
//! durability metrics Weaviate does not have.
//!
//! Request metrics are recorded as requests finish; shard, WAL and backup metrics are read from
//! the database and the backup service at each scrape (a [`Collector`]), so they cost nothing
//! between scrapes.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use weft_db::Db;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// Milliseconds buckets of Weaviate's `*_durations_ms` histograms.
fn ms_buckets() -> impl Iterator<Item = f64> {
    [
        1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 10000.0,
    ]
    .into_iter()
}

/// The metrics of one server.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    batch: Family<Labels, Histogram>,
    queries: Family<Labels, Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Reads shard, WAL and backup metrics at scrape time.
struct Live {
    db: Arc<OnceLock<Arc<Db>>>,
    backups: Arc<OnceLock<Arc<weft_backup::Manager>>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[(Labels, f64)],
) -> Result<(), std::fmt::Error> {
    let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (l, v) in rows {
        m.encode_family(l)?.encode_gauge(v)?;
    }
    Ok(())
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[(Labels, u64)],
) -> Result<(), std::fmt::Error> {
    let mut m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (l, v) in rows {
        m.encode_family(l)?
            .encode_counter::<prometheus_client::encoding::NoLabelSet, _, f64>(v, None)?;
    }
    Ok(())
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(db) = self.db.get() {
            let shards = db.shard_metrics();
            let key = |m: &weft_db::ShardMetrics| {
                labels(&[("class_name", &m.class), ("shard_name", &m.shard)])
            };
            let rows: Vec<_> = shards.iter().map(|m| (key(m), m.objects as f64)).collect();
            gauge(
                &mut encoder,
                "object_count",
                "Objects stored per shard",
                &rows,
            )?;
            let rows: Vec<_> = shards
                .iter()
                .map(|m| {
                    (
                        key(m),
                        m.vector_index_sizes.iter().map(|(_, n)| *n).sum::<u64>() as f64,
                    )
                })
                .collect();
            gauge(
                &mut encoder,
                "vector_index_size",
                "Live vectors in the shard's vector indexes",
                &rows,
            )?;
            let rows: Vec<_> = shards
                .iter()
                .map(|m| {
                    let mut l = key(m);
                    l.push(("status".into(), m.status.clone()));
                    (l, 1.0)
                })
                .collect();
            gauge(
                &mut encoder,
                "weft_shard_status",
                "1 for the shard's current status (READY or READONLY)",
                &rows,
            )?;
            let rows: Vec<_> = shards.iter().map(|m| (key(m), m.wal.bytes)).collect();
            counter(
                &mut encoder,
                "weft_wal_bytes",
                "Bytes written to the shard's write-ahead log since it opened",
                &rows,
            )?;
            let rows: Vec<_> = shards
                .iter()
                .map(|m| (key(m), m.recovered_records as f64))
                .collect();
            gauge(
                &mut encoder,
                "weft_wal_recovered_records",
                "WAL records replayed when the shard opened (0 after an orderly shutdown)",
                &rows,
            )?;
            // Per bucket: (labels, segments, bytes).
            let buckets: Vec<(Labels, f64, f64)> = shards
                .iter()
                .flat_map(|m| {
                    m.segments.iter().map(move |(bucket, strategy, n, bytes)| {
                        let mut l = key(m);
                        l.push(("path".into(), bucket.clone()));
                        l.push(("strategy".into(), (*strategy).to_string()));
                        (l, *n as f64, *bytes as f64)
                    })
                })
                .collect();
            let rows: Vec<_> = buckets.iter().map(|(l, n, _)| (l.clone(), *n)).collect();
            gauge(
                &mut encoder,
                "lsm_active_segments",
                "Live segments per bucket (Weaviate's name)",
                &rows,
            )?;
            let rows: Vec<_> = buckets.into_iter().map(|(l, _, b)| (l, b)).collect();
            gauge(
                &mut encoder,
                "lsm_segment_size_bytes",
                "Bytes of the live segments per bucket",
                &rows,
            )?;
            let rows: Vec<_> = shards
                .iter()
                .flat_map(|m| {
                    [("insert", m.vector_inserts), ("delete", m.vector_deletes)].map(|(op, n)| {
                        let mut l = key(m);
                        l.push(("operation".into(), op.to_string()));
                        (l, n)
                    })
                })
                .collect();
            counter(
                &mut encoder,
                "vector_index_operations",
                "Vector index inserts and deletes since the shard opened",
                &rows,
            )?;
            let rows: Vec<_> = shards
                .iter()
                .map(|m| {
                    let mut l = key(m);
                    l.push(("operation".into(), "load_shard".into()));
                    (l, m.load_seconds * 1000.0)
                })
                .collect();
            gauge(
                &mut encoder,
                "startup_durations_ms",
                "How long opening the shard took (recovery and vector index load), ms",
                &rows,
            )?;
            // One histogram over every shard's WAL fsyncs.
            let mut sum = 0.0;
            let mut count = 0;
            let mut buckets = vec![0u64; weft_db::FSYNC_BUCKETS.len() + 1];
            for m in &shards {
                sum += m.wal.fsync_seconds;
                count += m.wal.fsyncs;
                for (b, n) in buckets.iter_mut().zip(&m.wal.fsync_buckets) {
                    *b += n;
                }
            }
            let bounds: Vec<(f64, u64)> = weft_db::FSYNC_BUCKETS
                .iter()
                .copied()
                .chain([f64::INFINITY])
                .zip(buckets)
                .collect();
            encoder
                .encode_descriptor(
                    "weft_wal_fsync_duration_seconds",
                    "Latency of WAL fsyncs (every acknowledged write waited for one)",
                    None,
                    MetricType::Histogram,
                )?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    sum, count, &bounds, None,
                )?;
        }
        if let Some(b) = self.backups.get() {
            let s = b.stats();
            gauge(
                &mut encoder,
                "weft_backup_running",
                "1 while a backup or restore runs",
                &[(
                    labels(&[("kind", s.kind)]),
                    if s.running { 1.0 } else { 0.0 },
                )],
            )?;
            gauge(
                &mut encoder,
                "weft_backup_bytes",
                "Bytes (before compression) the running or last backup has processed",
                &[(Labels::new(), s.bytes as f64)],
            )?;
            let rows: Vec<_> = s
                .finished
                .iter()
                .map(|(kind, status, n)| (labels(&[("kind", kind), ("status", status)]), *n))
                .collect();
            counter(
                &mut encoder,
                "weft_backups",
                "Backups and restores finished since start, by outcome",
                &rows,
            )?;
        }
        Ok(())
    }
}

impl Metrics {
    /// Metrics reading the database and the backup service from these cells once set.
    pub(crate) fn new(
        db: Arc<OnceLock<Arc<Db>>>,
        backups: Arc<OnceLock<Arc<weft_backup::Manager>>>,
    ) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "requests",
            "Requests by API, endpoint and outcome (ok, user_error, server_error)",
            requests.clone(),
        );
        let batch = Family::<Labels, Histogram>::new_with_constructor(
            (|| Histogram::new(ms_buckets())) as fn() -> Histogram,
        );
        registry.register(
            "batch_durations_ms",
            "Duration of batch writes in milliseconds",
            batch.clone(),
        );
        let queries = Family::<Labels, Histogram>::new_with_constructor(
            (|| Histogram::new(ms_buckets())) as fn() -> Histogram,
        );
        registry.register(
            "queries_durations_ms",
            "Duration of queries in milliseconds",
            queries.clone(),
        );
        registry.register_collector(Box::new(Live { db, backups }));
        Self {
            registry,
            requests,
            batch,
            queries,
        }
    }

    /// Records one finished request: `api` is `rest` or `grpc`, `endpoint` the route or
    /// method, `status` the HTTP status (gRPC: mapped to one).
    pub fn observe(&self, api: &str, endpoint: &str, status: u16, took: Duration) {
        let outcome = match status {
            0..=399 => "ok",
            400..=499 => "user_error",
            _ => "server_error",
        };
        self.requests
            .get_or_create(&labels(&[
                ("api", api),
                ("query_type", endpoint),
                ("status", outcome),
            ]))
            .inc();
        let ms = took.as_secs_f64() * 1000.0;
        let batch = endpoint.contains("batch") || endpoint.contains("BatchObjects");
        let query = endpoint.contains("Search")
            || endpoint.contains("Aggregate")
            || endpoint == "/v1/graphql";
        if batch {
            self.batch
                .get_or_create(&labels(&[
                    ("operation", "total_api_level"),
                    ("class_name", "n/a"),
                    ("shard_name", "n/a"),
                ]))
                .observe(ms);
        } else if query {
            self.queries
                .get_or_create(&labels(&[("class_name", "n/a"), ("query_type", endpoint)]))
                .observe(ms);
        }
    }

    /// The Prometheus text exposition of everything.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = Arc::clone(&metrics);
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
