//! `GET /api/v1/alertmanagers`: the external Alertmanagers the notifier
//! discovered, in Prometheus's shape (`AlertmanagerDiscovery`). The built-in
//! Alertmanager is fed in-process and is not listed.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use sightline_rules::ExternalSink;

/// The route, with the external sink as its state (merged by the binary).
pub fn alertmanagers_router(sink: Arc<ExternalSink>) -> Router {
    Router::new()
        .route("/api/v1/alertmanagers", get(alertmanagers))
        .with_state(sink)
}

async fn alertmanagers(State(sink): State<Arc<ExternalSink>>) -> Json<serde_json::Value> {
    let (active, dropped) = sink.alertmanagers();
    let urls = |v: Vec<String>| -> Vec<serde_json::Value> {
        v.into_iter()
            .map(|u| serde_json::json!({ "url": u }))
            .collect()
    };
    Json(serde_json::json!({
        "status": "success",
        "data": {
            "activeAlertmanagers": urls(active),
            "droppedAlertmanagers": urls(dropped),
        }
    }))
}
