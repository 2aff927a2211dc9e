//! Sightline's own metrics on `/metrics`: HTTP request durations, remote-write
//! counters, and the TSDB's state read at scrape time.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::RwLock;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sightline_model::exposition::Exposition;
use sightline_tsdb::{Db, DbMetrics};

use crate::ApiState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub handler: String,
    pub code: String,
}

/// Writes one component's metrics into the exposition at scrape time.
pub type MetricsSource = Box<dyn Fn(&mut Exposition) + Send + Sync>;

pub struct SelfMetrics {
    registry: Registry,
    db: Arc<Db>,
    sources: RwLock<Vec<MetricsSource>>,
    pub http_duration: Family<HttpLabels, Histogram>,
    /// Requests by (handler, code), for `prometheus_http_requests_total`.
    http_requests: parking_lot::Mutex<std::collections::BTreeMap<(String, String), u64>>,
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
            "prometheus_http_request_duration_seconds",
            "Histogram of latencies for HTTP requests.",
            http_duration.clone(),
        );
        let remote_write_samples = Counter::default();
        let remote_write_samples_rejected = Counter::default();
        let remote_write_rejected_requests = Counter::default();
        let reload_ok = Gauge::default();
        reload_ok.set(1);
        registry.register(
            "prometheus_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
            reload_ok.clone(),
        );
        let reload_time = Gauge::default();
        reload_time.set(now_secs());
        registry.register(
            "prometheus_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
            reload_time.clone(),
        );
        SelfMetrics {
            registry,
            db,
            sources: RwLock::new(Vec::new()),
            http_duration,
            http_requests: Default::default(),
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

    /// Adds a component (scrape manager, rules, Alertmanager, ...) whose
    /// metrics are written on every scrape of `/metrics`.
    pub fn add_source(&self, f: MetricsSource) {
        self.sources.write().push(f);
    }

    /// The whole `/metrics` text: build info, process, TSDB, every added
    /// source, `extra`, then the registry's own families.
    pub fn render_with(&self, extra: impl FnOnce(&mut Exposition)) -> String {
        let mut e = Exposition::new();
        let version = env!("CARGO_PKG_VERSION");
        let revision = format!("sightline-{version}");
        // The Prometheus API level Sightline implements, as /api/v1/status/buildinfo says.
        e.gauge(
            "prometheus_build_info",
            "A metric with a constant '1' value labeled by version, revision, branch, goversion from which prometheus was built, and the goos and goarch for the build.",
            &[(
                &[
                    ("branch", ""),
                    ("goarch", std::env::consts::ARCH),
                    ("goos", std::env::consts::OS),
                    ("goversion", "rust"),
                    ("revision", &revision),
                    ("tags", ""),
                    ("version", "3.0.0"),
                ],
                1.0,
            )],
        );
        e.gauge(
            "sightline_build_info",
            "Sightline's version.",
            &[(&[("version", version)], 1.0)],
        );
        crate::process_metrics::expose(&mut e);
        expose_tsdb(&self.db, &mut e);
        for s in self.sources.read().iter() {
            s(&mut e);
        }
        // Counters stay out of the registry: it would write OpenMetrics
        // family names (without `_total`), which the 0.0.4 format reads as
        // a different metric than the samples.
        e.counter1(
            "sightline_remote_write_samples_total",
            "Samples stored from remote-write requests",
            self.remote_write_samples.get() as f64,
        );
        e.counter1(
            "sightline_remote_write_samples_rejected_total",
            "Samples of remote-write requests refused by the TSDB (out of order, out of bounds, ...)",
            self.remote_write_samples_rejected.get() as f64,
        );
        e.counter1(
            "sightline_remote_write_invalid_requests_total",
            "Remote-write requests refused as malformed, too large or of an unsupported type",
            self.remote_write_rejected_requests.get() as f64,
        );
        let requests: Vec<(Vec<String>, f64)> = self
            .http_requests
            .lock()
            .iter()
            .map(|((h, c), n)| (vec![c.clone(), h.clone()], *n as f64))
            .collect();
        e.family_owned(
            "prometheus_http_requests_total",
            "counter",
            "Counter of HTTP requests.",
            &["code", "handler"],
            &requests,
        );
        extra(&mut e);
        let mut out = e.into_string();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %err, "encoding self metrics failed");
        }
        // The registry writes OpenMetrics' terminator; the 0.0.4 text format has none.
        if out.ends_with("# EOF\n") {
            out.truncate(out.len() - "# EOF\n".len());
        }
        out
    }

    pub fn render(&self) -> String {
        self.render_with(|_| {})
    }
}

/// The database's state under Prometheus's `prometheus_tsdb_*` names where
/// Sightline's counter means the same, and `sightline_tsdb_*` otherwise.
fn expose_tsdb(db: &Db, e: &mut Exposition) {
    let m = &db.metrics;
    let g = |c: &std::sync::atomic::AtomicU64| DbMetrics::get(c) as f64;
    let head = db.head();
    let float: &[(&str, &str)] = &[("type", "float")];
    e.gauge1(
        "prometheus_tsdb_head_series",
        "Total number of series in the head block.",
        head.num_series() as f64,
    );
    e.gauge1(
        "prometheus_tsdb_wal_storage_size_bytes",
        "Size of the write log directory.",
        db.wal_size_bytes() as f64,
    );
    e.gauge1(
        "prometheus_tsdb_blocks_loaded",
        "Number of currently loaded data blocks",
        db.blocks().len() as f64,
    );
    e.gauge1(
        "prometheus_tsdb_storage_blocks_bytes",
        "The number of bytes that are currently used for local storage by all blocks.",
        db.blocks_size_bytes() as f64,
    );
    let head_min = head.min_t.load(Ordering::Relaxed);
    let head_max = head.max_t.load(Ordering::Relaxed);
    if head_max != i64::MIN {
        e.gauge1(
            "prometheus_tsdb_head_min_time",
            "Minimum time bound of the head block.",
            head_min as f64,
        );
        e.gauge1(
            "prometheus_tsdb_head_max_time",
            "Maximum timestamp of the head block.",
            head_max as f64,
        );
        e.gauge1(
            "prometheus_tsdb_head_min_time_seconds",
            "Minimum time bound of the head block.",
            head_min as f64 / 1000.0,
        );
        e.gauge1(
            "prometheus_tsdb_head_max_time_seconds",
            "Maximum timestamp of the head block.",
            head_max as f64 / 1000.0,
        );
    }
    e.counter(
        "prometheus_tsdb_head_samples_appended_total",
        "Total number of appended samples.",
        &[(float, g(&m.samples_appended))],
    );
    e.counter1(
        "prometheus_tsdb_exemplar_exemplars_appended_total",
        "Total number of appended exemplars.",
        g(&m.exemplars_appended),
    );
    e.counter1(
        "prometheus_tsdb_head_series_created_total",
        "Total number of series created in the head",
        g(&m.series_created),
    );
    e.counter1(
        "prometheus_tsdb_head_series_removed_total",
        "Total number of series removed in the head",
        g(&m.series_removed),
    );
    e.counter(
        "prometheus_tsdb_out_of_order_samples_total",
        "Total number of out of order samples ingestion failed attempts due to out of order being disabled.",
        &[(float, g(&m.out_of_order))],
    );
    e.counter(
        "prometheus_tsdb_out_of_bound_samples_total",
        "Total number of out of bound samples ingestion failed attempts with out of order support disabled.",
        &[(float, g(&m.out_of_bounds))],
    );
    e.counter1(
        "prometheus_tsdb_wal_corruptions_total",
        "Total number of WAL corruptions.",
        g(&m.wal_corruptions),
    );
    // A block that cannot be opened is what fails Prometheus's block reload.
    e.counter1(
        "prometheus_tsdb_reloads_failures_total",
        "Number of times the database failed to reloadBlocks block data from disk.",
        g(&m.corrupt_blocks),
    );
    e.counter1(
        "prometheus_tsdb_compactions_total",
        "Total number of compactions that were executed for the partition.",
        g(&m.compactions),
    );
    e.counter1(
        "prometheus_tsdb_compactions_failed_total",
        "Total number of compactions that failed for the partition.",
        g(&m.compaction_failures),
    );
    e.counter1(
        "prometheus_tsdb_checkpoint_creations_total",
        "Total number of checkpoint creations attempted.",
        g(&m.checkpoints),
    );
    e.counter1(
        "sightline_tsdb_duplicate_samples_total",
        "Samples refused for a duplicate timestamp with another value",
        g(&m.duplicate),
    );
    e.counter1(
        "sightline_tsdb_invalid_label_samples_total",
        "Samples refused for invalid labels",
        g(&m.invalid_labels),
    );
    e.counter1(
        "sightline_tsdb_invalid_exemplars_total",
        "Exemplars refused",
        g(&m.invalid_exemplars),
    );
    e.counter1(
        "sightline_tsdb_blocks_cut_total",
        "Blocks written from the head",
        g(&m.blocks_cut),
    );
    e.counter1(
        "sightline_tsdb_retention_deleted_blocks_total",
        "Blocks deleted by retention",
        g(&m.retention_deletions),
    );
    let (bytes, hits, misses) = sightline_tsdb::block::frame_cache::global().stats();
    e.gauge1(
        "sightline_tsdb_frame_cache_bytes",
        "Decompressed block chunk frames held in memory",
        bytes as f64,
    );
    e.counter1(
        "sightline_tsdb_frame_cache_hits_total",
        "Block chunk frame reads served from the frame cache",
        hits as f64,
    );
    e.counter1(
        "sightline_tsdb_frame_cache_misses_total",
        "Block chunk frame reads that decompressed the frame",
        misses as f64,
    );
}

pub async fn handler(State(s): State<Arc<ApiState>>) -> Response {
    let body = s
        .metrics
        .render_with(|e| crate::prom::expose_engine_metrics(&s.prom, e));
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
    let code = resp.status().as_u16().to_string();
    *m.http_requests
        .lock()
        .entry((handler.clone(), code.clone()))
        .or_default() += 1;
    m.http_duration
        .get_or_create(&HttpLabels { handler, code })
        .observe(start.elapsed().as_secs_f64());
    resp
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
