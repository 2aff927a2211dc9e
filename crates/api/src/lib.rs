//! Sightline's HTTP surface: one router serving health, self metrics,
//! remote write and (as they land) the Prometheus, Alertmanager, Jaeger and
//! Tempo APIs. Handlers only translate HTTP to calls on the storage traits.

mod alertmanagers;
mod auth;
mod health;
mod process_metrics;
mod prom;
mod remote_read;
mod remote_write;
mod rules;
mod self_metrics;
mod targets;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use sightline_tsdb::Db;

pub use alertmanagers::alertmanagers_router;
pub use auth::BasicAuth;
pub use prom::PromSettings;
pub use rules::rules_router;
pub use self_metrics::SelfMetrics;

/// Called by `POST /-/reload`; returns the error text when the new config is refused.
pub type ReloadFn = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

pub struct ApiState {
    pub db: Arc<Db>,
    pub metrics: Arc<SelfMetrics>,
    pub ready: AtomicBool,
    pub reload: Option<ReloadFn>,
    /// Largest decompressed remote-write body accepted.
    pub max_write_bytes: usize,
    /// Remote-write requests processed at once; more are answered 503 (retried by senders).
    pub write_permits: tokio::sync::Semaphore,
    /// Scrape targets and their metadata for `/api/v1/targets` & co (None: no scraping).
    pub scrapes: Option<sightline_scrape::ScrapeManager>,
    /// Engine settings and running config for the Prometheus query API.
    pub prom: PromSettings,
}

impl ApiState {
    /// Runs the reload hook and records the outcome for `/metrics`.
    pub fn reload_config(&self) -> Result<(), String> {
        let r = match &self.reload {
            Some(f) => f(),
            None => Ok(()),
        };
        self.metrics.record_reload(r.is_ok());
        r
    }

    pub fn new(db: Arc<Db>, metrics: Arc<SelfMetrics>) -> Self {
        ApiState {
            db,
            metrics,
            ready: AtomicBool::new(false),
            reload: None,
            max_write_bytes: 64 << 20,
            write_permits: tokio::sync::Semaphore::new(64),
            scrapes: None,
            prom: PromSettings::default(),
        }
    }
}

/// The whole HTTP surface. `auth`, when set, guards everything but the health endpoints.
pub fn router(state: Arc<ApiState>, auth: Option<Arc<BasicAuth>>) -> Router {
    router_with(state, auth, Router::new())
}

/// [`router`] plus routes owned by other crates (OTLP, Jaeger, Tempo), which
/// come with their state applied and sit behind the same auth.
pub fn router_with(state: Arc<ApiState>, auth: Option<Arc<BasicAuth>>, extra: Router) -> Router {
    let guarded: Router<Arc<ApiState>> = Router::new()
        .route("/metrics", get(self_metrics::handler))
        .route("/-/reload", post(health::reload).put(health::reload))
        .route("/api/v1/write", post(remote_write::handler))
        .route("/api/v1/read", post(remote_read::handler))
        .merge(prom::routes())
        .route("/api/v1/targets", get(targets::targets))
        .route("/api/v1/targets/metadata", get(targets::targets_metadata))
        .route("/api/v1/metadata", get(targets::metadata))
        .route("/api/v1/scrape_pools", get(targets::scrape_pools))
        .layer(DefaultBodyLimit::max(state.max_write_bytes));
    // `extra` already has its state; `with_state(())` only retypes it to merge here.
    let guarded: Router<Arc<ApiState>> = guarded.merge(extra.with_state(()));
    let guarded = match auth {
        Some(a) => guarded.layer(axum::middleware::from_fn_with_state(a, auth::require)),
        None => guarded,
    };
    Router::new()
        .route("/-/healthy", get(health::healthy).head(health::healthy))
        .route("/-/ready", get(health::ready).head(health::ready))
        .merge(guarded)
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            self_metrics::track,
        ))
        .with_state(state)
}
