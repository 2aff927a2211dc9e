//! Sightline's own metrics on `/metrics`: HTTP request durations, remote-write
//! counters, and the TSDB's state read at scrape time.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sightline_tsdb::{Db, DbMetrics};

use crate::ApiState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub handler: String,
    pub code: String,
}

pub struct SelfMetrics {
    registry: Registry,
    pub http_duration: Family<HttpLabels, Histogram>,
    pub remote_write_samples: Counter,
    pub remote_write_samples_rejected: Counter,
    pub remote_write_rejected_requests: Counter,
    reload_ok: Gauge,
    reload_time: Gauge,
}

impl SelfMetrics {
    pub fn new(db: Arc<Db>) -> Self {
        let mut registry = Registry::default();
        let http_duration = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 4.0, 10))
        });
        registry.register(
            "sightline_http_request_duration_seconds",
            "Latency of HTTP requests by route and status code",
            http_duration.clone(),
        );
        let remote_write_samples = Counter::default();
        registry.register(
            "sightline_remote_write_samples",
            "Samples stored from remote-write requests",
            remote_write_samples.clone(),
        );
        let remote_write_samples_rejected = Counter::default();
        registry.register(
            "sightline_remote_write_samples_rejected",
            "Samples of remote-write requests refused by the TSDB (out of order, out of bounds, ...)",
            remote_write_samples_rejected.clone(),
        );
        let remote_write_rejected_requests = Counter::default();
        registry.register(
            "sightline_remote_write_invalid_requests",
            "Remote-write requests refused as malformed, too large or of an unsupported type",
            remote_write_rejected_requests.clone(),
        );
        let reload_ok = Gauge::default();
        reload_ok.set(1);
        registry.register(
            "sightline_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful",
            reload_ok.clone(),
        );
        let reload_time = Gauge::default();
        reload_time.set(now_secs());
        registry.register(
            "sightline_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            reload_time.clone(),
        );
        registry.register_collector(Box::new(TsdbCollector { db }));
        SelfMetrics {
            registry,
            http_duration,
            remote_write_samples,
            remote_write_samples_rejected,
            remote_write_rejected_requests,
            reload_ok,
            reload_time,
        }
    }

    pub fn record_reload(&self, ok: bool) {
        self.reload_ok.set(ok as i64);
        if ok {
            self.reload_time.set(now_secs());
        }
    }

    pub fn register_collector(&mut self, c: Box<dyn Collector>) {
        self.registry.register_collector(c);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding self metrics failed");
        }
        out
    }
}

/// Reads the database's counters and gauges when `/metrics` is scraped.
struct TsdbCollector {
    db: Arc<Db>,
}

impl std::fmt::Debug for TsdbCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TsdbCollector")
    }
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: u64,
) -> Result<(), std::fmt::Error> {
    let m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(v).encode(m)
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: i64,
) -> Result<(), std::fmt::Error> {
    let m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(v).encode(m)
}

impl Collector for TsdbCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = &self.db.metrics;
        let g = DbMetrics::get;
        let head = self.db.head();
        gauge(
            &mut enc,
            "sightline_tsdb_head_series",
            "Active series in the head",
            head.num_series() as i64,
        )?;
        gauge(
            &mut enc,
            "sightline_tsdb_wal_size_bytes",
            "Bytes in the write-ahead log",
            self.db.wal_size_bytes() as i64,
        )?;
        gauge(
            &mut enc,
            "sightline_tsdb_blocks_loaded",
            "Persisted blocks",
            self.db.blocks().len() as i64,
        )?;
        gauge(
            &mut enc,
            "sightline_tsdb_storage_blocks_bytes",
            "Bytes of persisted blocks",
            self.db.blocks_size_bytes() as i64,
        )?;
        let head_min = head.min_t.load(Ordering::Relaxed);
        let head_max = head.max_t.load(Ordering::Relaxed);
        if head_max != i64::MIN {
            gauge(
                &mut enc,
                "sightline_tsdb_head_min_time",
                "Oldest timestamp in the head (ms)",
                head_min,
            )?;
            gauge(
                &mut enc,
                "sightline_tsdb_head_max_time",
                "Newest timestamp in the head (ms)",
                head_max,
            )?;
        }
        counter(
            &mut enc,
            "sightline_tsdb_head_samples_appended",
            "Samples appended to the head",
            g(&m.samples_appended),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_exemplars_appended",
            "Exemplars appended",
            g(&m.exemplars_appended),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_head_series_created",
            "Series created in the head",
            g(&m.series_created),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_head_series_removed",
            "Series removed from the head",
            g(&m.series_removed),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_out_of_order_samples",
            "Samples refused as out of order",
            g(&m.out_of_order),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_out_of_bounds_samples",
            "Samples refused as older than the head accepts",
            g(&m.out_of_bounds),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_duplicate_samples",
            "Samples refused for a duplicate timestamp with another value",
            g(&m.duplicate),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_invalid_label_samples",
            "Samples refused for invalid labels",
            g(&m.invalid_labels),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_invalid_exemplars",
            "Exemplars refused",
            g(&m.invalid_exemplars),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_wal_corruptions",
            "WAL damage found at start-up",
            g(&m.wal_corruptions),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_corrupt_blocks",
            "Blocks that could not be opened",
            g(&m.corrupt_blocks),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_blocks_cut",
            "Blocks written from the head",
            g(&m.blocks_cut),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_compactions",
            "Block compactions completed",
            g(&m.compactions),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_compaction_failures",
            "Block compactions that failed",
            g(&m.compaction_failures),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_retention_deleted_blocks",
            "Blocks deleted by retention",
            g(&m.retention_deletions),
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_checkpoints",
            "WAL checkpoints written",
            g(&m.checkpoints),
        )?;
        let (bytes, hits, misses) = sightline_tsdb::block::frame_cache::global().stats();
        gauge(
            &mut enc,
            "sightline_tsdb_frame_cache_bytes",
            "Decompressed block chunk frames held in memory",
            bytes as i64,
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_frame_cache_hits",
            "Block chunk frame reads served from the frame cache",
            hits,
        )?;
        counter(
            &mut enc,
            "sightline_tsdb_frame_cache_misses",
            "Block chunk frame reads that decompressed the frame",
            misses,
        )?;
        Ok(())
    }
}

pub async fn handler(State(s): State<Arc<ApiState>>) -> Response {
    let body = s.metrics.render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Middleware timing every request by its route pattern.
pub async fn track(State(m): State<Arc<SelfMetrics>>, req: Request, next: Next) -> Response {
    let handler = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".to_string());
    let start = Instant::now();
    let resp = next.run(req).await;
    m.http_duration
        .get_or_create(&HttpLabels {
            handler,
            code: resp.status().as_u16().to_string(),
        })
        .observe(start.elapsed().as_secs_f64());
    resp
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
