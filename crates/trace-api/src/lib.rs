//! The tracing query APIs: Jaeger (classic JSON under `/jaeger/api`, api_v3,
//! SPM metrics) and Tempo (under `/tempo/api`, with a TraceQL subset). Handlers
//! translate HTTP to [`TraceStore`] calls and span-metric reads from the TSDB.

mod deps;
mod jaeger_model;
mod jaeger_v1;
mod jaeger_v3;
pub mod params;
mod spm;
mod tempo;
pub mod traceql;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use sightline_traces::{SearchQuery, Span, TraceId, TraceStore};
use sightline_tsdb::Queryable;

pub use jaeger_model::trace_json;

pub struct TraceApi {
    pub store: Arc<dyn TraceStore>,
    pub tsdb: Arc<dyn Queryable>,
}

/// Runs storage work off the async reactor; errors become strings for the response.
pub(crate) async fn blocking<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Search, then load each hit's full trace (newest first).
pub(crate) fn fetch_traces(
    store: &dyn TraceStore,
    q: &SearchQuery,
) -> Result<Vec<(TraceId, Vec<Span>)>, String> {
    let hits = store.search(q).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(hits.len());
    for h in hits {
        let spans = store.trace(&h.trace_id, None).map_err(|e| e.to_string())?;
        if !spans.is_empty() {
            out.push((h.trace_id, spans));
        }
    }
    Ok(out)
}

pub fn router(api: Arc<TraceApi>) -> Router {
    Router::new()
        .route("/jaeger/api/services", get(jaeger_v1::services))
        .route(
            "/jaeger/api/services/{service}/operations",
            get(jaeger_v1::service_operations),
        )
        .route("/jaeger/api/operations", get(jaeger_v1::operations))
        .route("/jaeger/api/traces", get(jaeger_v1::search))
        .route("/jaeger/api/traces/{id}", get(jaeger_v1::trace))
        .route("/jaeger/api/dependencies", get(jaeger_v1::dependencies))
        .route("/jaeger/api/v3/services", get(jaeger_v3::services))
        .route("/jaeger/api/v3/operations", get(jaeger_v3::operations))
        .route("/jaeger/api/v3/traces", get(jaeger_v3::search))
        .route("/jaeger/api/v3/traces/{id}", get(jaeger_v3::trace))
        .route("/jaeger/api/metrics/{kind}", get(spm::metrics))
        .route("/tempo/api/echo", get(tempo::echo))
        .route("/tempo/api/status/buildinfo", get(tempo::buildinfo))
        .route("/tempo/api/traces/{id}", get(tempo::trace_v1))
        .route("/tempo/api/v2/traces/{id}", get(tempo::trace_v2))
        .route("/tempo/api/search", get(tempo::search))
        .route("/tempo/api/search/tags", get(tempo::tags_v1))
        .route("/tempo/api/v2/search/tags", get(tempo::tags_v2))
        .route(
            "/tempo/api/search/tag/{tag}/values",
            get(tempo::tag_values_v1),
        )
        .route(
            "/tempo/api/v2/search/tag/{tag}/values",
            get(tempo::tag_values_v2),
        )
        .with_state(api)
}
