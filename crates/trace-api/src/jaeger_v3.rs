//! Jaeger api_v3 over HTTP (`/jaeger/api/v3/...`): OTLP-shaped JSON (hex IDs,
//! integer enums, decimal-string 64-bit times). Unlike Jaeger, an empty search
//! answers 200 with no resource spans: Grafana treats any non-200 as a failure.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value as J, json};
use sightline_otlp::convert::spans_to_pb;
use sightline_traces::span::parse_trace_id;
use sightline_traces::{Expr, Field, Lit, Op, SearchQuery, Span};

use crate::params::{Params, parse_go_duration, parse_rfc3339};
use crate::{TraceApi, blocking, fetch_traces};

fn error(status: StatusCode, msg: &str) -> Response {
    (
        status,
        Json(json!({"error": {"httpCode": status.as_u16(), "message": msg}})),
    )
        .into_response()
}

fn result(spans: &[Span]) -> Response {
    let rs = spans_to_pb(spans);
    Json(json!({"result": {"resourceSpans": rs}})).into_response()
}

pub async fn services(State(api): State<Arc<TraceApi>>) -> Response {
    match blocking(move || api.store.operations()).await {
        Ok(ops) => {
            let s: BTreeSet<String> = ops
                .into_iter()
                .map(|(s, _, _)| s)
                .filter(|s| !s.is_empty())
                .collect();
            Json(json!({"services": s})).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

pub async fn operations(State(api): State<Arc<TraceApi>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let service = p.get(&["service"]).unwrap_or("").to_string();
    let kind = match crate::jaeger_v1::span_kind_param(&p, &["spanKind", "span_kind"], "span kind")
    {
        Ok(k) => k,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    match crate::jaeger_v1::operations_of(api, service, kind).await {
        Ok(v) => Json(json!({"operations": v})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

pub async fn trace(State(api): State<Arc<TraceApi>>, Path(id): Path<String>) -> Response {
    let Some(tid) = parse_trace_id(&id) else {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("malformed trace ID {id:?}"),
        );
    };
    match blocking(move || api.store.trace(&tid, None).map_err(|e| e.to_string())).await {
        Ok(spans) if spans.is_empty() => error(StatusCode::NOT_FOUND, "trace not found"),
        Ok(spans) => result(&spans),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

fn parse(p: &Params) -> Result<SearchQuery, String> {
    let time = |keys: &[&str]| -> Result<u64, String> {
        let v = p
            .get(keys)
            .ok_or_else(|| format!("'{}' is required", keys[0]))?;
        parse_rfc3339(v)
    };
    let start = time(&["query.startTimeMin", "query.start_time_min"])?;
    let end = time(&["query.startTimeMax", "query.start_time_max"])?;
    if start >= end {
        return Err("'query.startTimeMin' must be before 'query.startTimeMax'".into());
    }
    let dur = |keys: &[&str]| p.get(keys).map(parse_go_duration).transpose();
    let min = dur(&["query.durationMin", "query.duration_min"])?;
    let max = dur(&["query.durationMax", "query.duration_max"])?;
    let limit = match p.get(&[
        "query.searchDepth",
        "query.search_depth",
        "query.num_traces",
    ]) {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| format!("cannot parse search depth {l:?}"))?,
        None => 100,
    };
    let mut f = Vec::new();
    if let Some(s) = p.get(&["query.serviceName", "query.service_name"]) {
        f.push(Expr::Cmp(Field::Service, Op::Eq, Lit::Str(s.into())));
    }
    if let Some(s) = p.get(&["query.operationName", "query.operation_name"]) {
        f.push(Expr::Cmp(Field::Name, Op::Eq, Lit::Str(s.into())));
    }
    if let Some(a) = p.get(&["query.attributes"]) {
        let m: serde_json::Map<String, J> =
            serde_json::from_str(a).map_err(|e| format!("malformed query.attributes: {e}"))?;
        for (k, v) in m {
            let v = match v {
                J::String(s) => s,
                o => o.to_string(),
            };
            f.push(Expr::Cmp(Field::Tag(k), Op::Eq, Lit::Str(v)));
        }
    }
    Ok(SearchQuery {
        start_ns: start,
        end_ns: end,
        filter: Expr::and(f),
        min_duration_ns: min,
        max_duration_ns: max,
        limit: if limit == 0 { 100 } else { limit },
    })
}

pub async fn search(State(api): State<Arc<TraceApi>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let sq = match parse(&p) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    match blocking(move || fetch_traces(api.store.as_ref(), &sq)).await {
        Ok(traces) => {
            let all: Vec<Span> = traces.into_iter().flat_map(|(_, s)| s).collect();
            result(&all)
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}
