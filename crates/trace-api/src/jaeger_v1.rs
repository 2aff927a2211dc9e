//! Jaeger's classic JSON API (`/jaeger/api/...`): services, operations, trace
//! search and lookup, dependencies. Shapes per Jaeger's `http_handler.go`:
//! every response is the `{data,total,limit,offset,errors}` envelope.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value as J, json};
use sightline_traces::span::parse_trace_id;
use sightline_traces::{Expr, Field, Lit, Op, SearchQuery, SpanKind, now_ns};

use crate::jaeger_model::{envelope, trace_json};
use crate::params::{Params, parse_go_duration};
use crate::{TraceApi, blocking, fetch_traces};

pub fn error(status: StatusCode, msg: &str) -> Response {
    (
        status,
        Json(envelope(
            J::Null,
            0,
            Some(vec![json!({"code": status.as_u16(), "msg": msg})]),
        )),
    )
        .into_response()
}

pub async fn services(State(api): State<Arc<TraceApi>>) -> Response {
    match blocking(move || api.store.operations()).await {
        Ok(ops) => {
            let s: BTreeSet<String> = ops
                .into_iter()
                .map(|(s, _, _)| s)
                .filter(|s| !s.is_empty())
                .collect();
            let n = s.len();
            Json(envelope(json!(s), n, None)).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

pub async fn service_operations(
    State(api): State<Arc<TraceApi>>,
    Path(service): Path<String>,
) -> Response {
    match blocking(move || api.store.operations()).await {
        Ok(ops) => {
            let names: BTreeSet<String> = ops
                .into_iter()
                .filter(|(s, _, _)| *s == service)
                .map(|(_, n, _)| n)
                .collect();
            let n = names.len();
            Json(envelope(json!(names), n, None)).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

/// Operations of a service with their kinds (`spanKind` narrows).
pub async fn operations(State(api): State<Arc<TraceApi>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let Some(service) = p.get(&["service"]).map(str::to_string) else {
        return error(StatusCode::BAD_REQUEST, "parameter 'service' is required");
    };
    let kind = match span_kind_param(&p, &["spanKind"], "spanKind") {
        Ok(k) => k,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    match operations_of(api, service, kind).await {
        Ok(v) => {
            let n = v.len();
            Json(envelope(J::Array(v), n, None)).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

/// The span kind asked for under one of `keys`, or the 400 message naming
/// the value when it is not a kind (`what` is how the API spells the parameter).
pub(crate) fn span_kind_param(
    p: &Params,
    keys: &[&str],
    what: &str,
) -> Result<Option<SpanKind>, String> {
    match p.get(keys) {
        None => Ok(None),
        Some(k) => SpanKind::parse(k)
            .map(Some)
            .ok_or_else(|| format!("unsupported {what} {k:?}")),
    }
}

/// A service's operations as Jaeger's `{name, spanKind}` objects (both API
/// versions use this shape), narrowed to `kind` when given.
pub(crate) async fn operations_of(
    api: Arc<TraceApi>,
    service: String,
    kind: Option<SpanKind>,
) -> Result<Vec<J>, String> {
    let ops = blocking(move || api.store.operations()).await?;
    Ok(ops
        .into_iter()
        .filter(|(s, _, k)| *s == service && kind.is_none_or(|want| want == *k))
        .map(|(_, n, k)| json!({"name": n, "spanKind": kind_str(k)}))
        .collect())
}

pub fn kind_str(k: SpanKind) -> &'static str {
    if k == SpanKind::Unspecified {
        ""
    } else {
        k.as_str()
    }
}

/// `tags` (JSON objects, possibly repeated) and `tag=k:v` → tag predicates.
pub fn tag_filters(p: &Params) -> Result<Vec<Expr>, String> {
    let mut v = Vec::new();
    for t in p.all("tags") {
        let m: serde_json::Map<String, J> = serde_json::from_str(t)
            .map_err(|e| format!("malformed 'tags' parameter {t:?}: {e}"))?;
        for (k, val) in m {
            let s = match val {
                J::String(s) => s,
                other => other.to_string(),
            };
            v.push(Expr::Cmp(Field::Tag(k), Op::Eq, Lit::Str(s)));
        }
    }
    for t in p.all("tag") {
        let (k, val) = t
            .split_once(':')
            .ok_or_else(|| format!("malformed 'tag' parameter {t:?}: expected key:value"))?;
        v.push(Expr::Cmp(
            Field::Tag(k.to_string()),
            Op::Eq,
            Lit::Str(val.to_string()),
        ));
    }
    Ok(v)
}

fn parse_search(p: &Params) -> Result<SearchQuery, String> {
    let now = now_ns();
    let us = |k: &str| -> Result<Option<u64>, String> {
        p.get(&[k])
            .map(|v| {
                v.parse::<u64>()
                    .map(|x| x.saturating_mul(1000))
                    .map_err(|_| format!("cannot parse '{k}' {v:?} as microseconds"))
            })
            .transpose()
    };
    let end = us("end")?.unwrap_or(now);
    let start = us("start")?.unwrap_or(end.saturating_sub(2 * 24 * 3600 * 1_000_000_000));
    let dur = |k: &str| {
        p.get(&[k])
            .map(parse_go_duration)
            .transpose()
            .map_err(|e| format!("cannot parse '{k}': {e}"))
    };
    let (min, max) = (dur("minDuration")?, dur("maxDuration")?);
    if let (Some(a), Some(b)) = (min, max)
        && b < a
    {
        return Err("'maxDuration' should be greater than 'minDuration'".into());
    }
    let limit = match p.get(&["limit"]) {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| format!("cannot parse 'limit' {l:?}"))?,
        None => 100,
    };
    let mut filters = Vec::new();
    if let Some(s) = p.get(&["service"]) {
        filters.push(Expr::Cmp(Field::Service, Op::Eq, Lit::Str(s.to_string())));
    }
    if let Some(o) = p.get(&["operation"]) {
        filters.push(Expr::Cmp(Field::Name, Op::Eq, Lit::Str(o.to_string())));
    }
    filters.extend(tag_filters(p)?);
    Ok(SearchQuery {
        start_ns: start,
        end_ns: end,
        filter: Expr::and(filters),
        min_duration_ns: min,
        max_duration_ns: max,
        limit: if limit == 0 { 100 } else { limit },
    })
}

pub async fn search(State(api): State<Arc<TraceApi>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    // Repeated traceID = multi-get; other filters are ignored.
    let ids: Vec<String> = p.all("traceID").map(str::to_string).collect();
    if !ids.is_empty() {
        let mut parsed = Vec::new();
        for s in &ids {
            match parse_trace_id(s) {
                Some(id) => parsed.push(id),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        &format!("malformed trace ID {s:?}"),
                    );
                }
            }
        }
        let res = blocking(move || {
            let mut found = Vec::new();
            let mut missing = Vec::new();
            for (id, s) in parsed.iter().zip(ids) {
                let spans = api.store.trace(id, None).map_err(|e| e.to_string())?;
                if spans.is_empty() {
                    missing.push(json!({"code": 404, "msg": "trace not found", "traceID": s}));
                } else {
                    found.push(trace_json(id, &spans));
                }
            }
            Ok::<_, String>((found, missing))
        })
        .await;
        return match res {
            Ok((found, missing)) => Json(envelope(
                J::Array(found),
                0,
                (!missing.is_empty()).then_some(missing),
            ))
            .into_response(),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        };
    }
    let sq = match parse_search(&p) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    match blocking(move || fetch_traces(api.store.as_ref(), &sq)).await {
        Ok(traces) => {
            let data: Vec<J> = traces
                .iter()
                .map(|(id, spans)| trace_json(id, spans))
                .collect();
            Json(envelope(J::Array(data), 0, None)).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

pub async fn trace(
    State(api): State<Arc<TraceApi>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(tid) = parse_trace_id(&id) else {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("malformed trace ID {id:?}"),
        );
    };
    // `start`/`end` only narrow the lookup; Grafana may send ms where Jaeger expects µs,
    // so they are widened rather than trusted to exclude data.
    let _ = Params::parse(q.as_deref());
    match blocking(move || api.store.trace(&tid, None).map_err(|e| e.to_string())).await {
        Ok(spans) if spans.is_empty() => error(StatusCode::NOT_FOUND, "trace not found"),
        Ok(spans) => Json(envelope(json!([trace_json(&tid, &spans)]), 0, None)).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

/// `GET /api/dependencies?endTs=<ms>&lookback=<ms>[&service=]`: service-graph edges with call counts.
pub async fn dependencies(State(api): State<Arc<TraceApi>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let ms = |k: &str, d: i64| -> Result<i64, String> {
        p.get(&[k])
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| format!("cannot parse '{k}' {v:?}"))
            })
            .unwrap_or(Ok(d))
    };
    let now_ms = (now_ns() / 1_000_000) as i64;
    let (end, lookback) = match (ms("endTs", now_ms), ms("lookback", 86_400_000)) {
        (Ok(e), Ok(l)) => (e, l),
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let service = p.get(&["service"]).map(str::to_string);
    match blocking(move || crate::deps::dependencies(api.tsdb.as_ref(), end - lookback, end)).await
    {
        Ok(edges) => {
            let v: Vec<J> = edges
                .into_iter()
                .filter(|(c, s, _)| service.as_ref().is_none_or(|x| x == c || x == s))
                .map(|(c, s, n)| json!({"parent": c, "child": s, "callCount": n}))
                .collect();
            Json(envelope(J::Array(v), 0, None)).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}
