//! The Prometheus HTTP API (`/api/v1/query` & co, `/federate`), evaluated by
//! the `sightline-promql` engine over the tsdb.

mod admin;
mod federate;
mod meta;
mod params;
mod query;
mod response;
mod status;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64};

use axum::Router;
use axum::routing::{get, post};
use parking_lot::RwLock;
use sightline_promql::{Engine, EngineOptions};

use crate::ApiState;

/// What the Prometheus API needs beyond storage: engine settings and the
/// running configuration as shown by `/api/v1/status/*`.
pub struct PromSettings {
    pub engine: Engine,
    /// The running configuration as YAML, secrets shown as `<secret>`; the
    /// reload hook replaces it.
    pub config_yaml: Arc<RwLock<String>>,
    /// External labels of the running configuration (added by `/federate`).
    pub external_labels: Arc<RwLock<Vec<(String, String)>>>,
    /// Command-line flags as `/api/v1/status/flags` lists them.
    pub flags: RwLock<Vec<(String, String)>>,
    pub start_time_ms: i64,
    pub last_config_time_ms: Arc<AtomicI64>,
    pub last_reload_ok: Arc<AtomicBool>,
    /// `--web.enable-admin-api`: series deletion endpoints answer only when set.
    pub enable_admin_api: bool,
    /// `--query.max-concurrency`: queries evaluated at once; more wait.
    pub query_permits: tokio::sync::Semaphore,
    /// The permits' number, for `prometheus_engine_queries_concurrent_max`.
    pub query_max_concurrency: usize,
    /// Queries executing or waiting for a permit (`prometheus_engine_queries`).
    pub queries_in_flight: Arc<std::sync::atomic::AtomicI64>,
    /// Query timings by slice (`prometheus_engine_query_duration_seconds`).
    pub query_durations: Arc<QueryDurations>,
}

/// Where a query's time went, as Prometheus's engine reports it.
#[derive(Debug, Default)]
pub struct QueryDurations {
    pub prepare_time: sightline_model::summary::Summary,
    pub queue_time: sightline_model::summary::Summary,
    pub inner_eval: sightline_model::summary::Summary,
}

impl Default for PromSettings {
    fn default() -> Self {
        let now = params::now_ms();
        PromSettings {
            engine: Engine::new(EngineOptions::default()),
            config_yaml: Arc::new(RwLock::new(String::new())),
            external_labels: Arc::new(RwLock::new(Vec::new())),
            flags: RwLock::new(Vec::new()),
            start_time_ms: now,
            last_config_time_ms: Arc::new(AtomicI64::new(now)),
            last_reload_ok: Arc::new(AtomicBool::new(true)),
            enable_admin_api: false,
            query_permits: tokio::sync::Semaphore::new(20),
            query_max_concurrency: 20,
            queries_in_flight: Arc::new(std::sync::atomic::AtomicI64::new(0)),
            query_durations: Arc::default(),
        }
    }
}

/// The query engine's gauges under Prometheus's names.
pub fn expose_engine_metrics(p: &PromSettings, e: &mut sightline_model::exposition::Exposition) {
    e.gauge1(
        "prometheus_engine_queries",
        "The current number of queries being executed or waiting.",
        p.queries_in_flight
            .load(std::sync::atomic::Ordering::Relaxed) as f64,
    );
    e.gauge1(
        "prometheus_engine_queries_concurrent_max",
        "The max number of concurrent queries.",
        p.query_max_concurrency as f64,
    );
    let d = &p.query_durations;
    let points: Vec<sightline_model::exposition::SummaryPoint> = [
        ("inner_eval", &d.inner_eval),
        ("prepare_time", &d.prepare_time),
        ("queue_time", &d.queue_time),
    ]
    .into_iter()
    .map(|(slice, sm)| {
        let (q, sum, n) = sm.snapshot(&[0.5, 0.9, 0.99]);
        (vec![slice.to_string()], q, sum, n)
    })
    .collect();
    e.summary(
        "prometheus_engine_query_duration_seconds",
        "Query timings",
        &["slice"],
        &points,
    );
}

/// Routes of the Prometheus API (registered behind auth by [`crate::router`]).
pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/v1/query", get(query::query).post(query::query))
        .route(
            "/api/v1/query_range",
            get(query::query_range).post(query::query_range),
        )
        .route(
            "/api/v1/format_query",
            get(query::format_query).post(query::format_query),
        )
        .route(
            "/api/v1/parse_query",
            get(query::parse_query).post(query::parse_query),
        )
        .route("/api/v1/series", get(meta::series).post(meta::series))
        .route("/api/v1/labels", get(meta::labels).post(meta::labels))
        .route("/api/v1/label/{name}/values", get(meta::label_values))
        .route(
            "/api/v1/query_exemplars",
            get(meta::query_exemplars).post(meta::query_exemplars),
        )
        .route("/api/v1/status/buildinfo", get(status::buildinfo))
        .route("/api/v1/status/config", get(status::config))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/runtimeinfo", get(status::runtimeinfo))
        .route("/api/v1/status/tsdb", get(status::tsdb))
        .route("/api/v1/status/tsdb/blocks", get(status::tsdb_blocks))
        .route("/api/v1/status/walreplay", get(status::walreplay))
        .route("/api/v1/notifications", get(status::notifications))
        .route("/api/v1/features", get(status::features))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(admin::delete_series).put(admin::delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(admin::clean_tombstones).put(admin::clean_tombstones),
        )
        .route("/federate", get(federate::federate))
}
