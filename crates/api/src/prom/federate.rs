//! `/federate?match[]=...`: the newest sample of every matching series in
//! the Prometheus text format, so another Prometheus can scrape Sightline.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sightline_model::{Labels, is_stale_nan};
use sightline_promql::parser;
use sightline_tsdb::{Queryable, SelectHints};

use super::params::{Params, now_ms};
use crate::ApiState;

fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    sightline_model::exposition::escape_value(&mut out, v);
    out
}

/// Values as the text format writes them (Go's `'g'` formatting, as
/// Prometheus's federation does), not the query API's `'f'`.
fn format_float(v: f64) -> String {
    sightline_model::exposition::format_sample_value(v)
}

pub async fn federate(
    State(st): State<Arc<ApiState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &body);
    let mut sets = Vec::new();
    for m in p.all("match[]") {
        match parser::parse_selector(m) {
            Ok(ms) => sets.push(ms),
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        }
    }
    let lookback = st.prom.engine.opts.lookback_delta_ms;
    let external = st.prom.external_labels.read().clone();
    let res = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let now = now_ms();
        let qr = st
            .db
            .querier(now - lookback, now)
            .map_err(|e| e.to_string())?;
        // Newest non-stale sample per series, grouped by metric family name.
        let mut families: BTreeMap<String, BTreeMap<Labels, (f64, i64)>> = BTreeMap::new();
        for ms in &sets {
            for s in qr
                .select(ms, &SelectHints::default())
                .map_err(|e| e.to_string())?
            {
                let Some(last) = s.samples.last() else {
                    continue;
                };
                if is_stale_nan(last.v) {
                    continue;
                }
                let mut b = s.labels.to_builder();
                for (k, v) in &external {
                    if s.labels.get(k).is_none() {
                        b.set(k.clone(), v.clone());
                    }
                }
                let labels = b.build();
                let name = labels.get("__name__").unwrap_or("").to_string();
                families
                    .entry(name)
                    .or_default()
                    .insert(labels, (last.v, last.t));
            }
        }
        let mut out = String::new();
        for (name, series) in families {
            let _ = writeln!(out, "# TYPE {name} untyped");
            for (labels, (v, t)) in series {
                out.push_str(&name);
                let rest: Vec<String> = labels
                    .iter()
                    .filter(|l| l.name != "__name__")
                    .map(|l| format!("{}=\"{}\"", l.name, escape_value(&l.value)))
                    .collect();
                if !rest.is_empty() {
                    let _ = write!(out, "{{{}}}", rest.join(","));
                }
                let _ = writeln!(out, " {} {}", format_float(v), t);
            }
        }
        Ok(out)
    })
    .await;
    match res {
        Ok(Ok(text)) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
