//! Tempo's HTTP API under `/tempo/api/...`, shaped for Grafana's Tempo data
//! source: trace by ID (v1 and v2, protobuf when asked, else JSON), TraceQL
//! search, tag names and values, echo and buildinfo. Trace JSON uses the
//! OTLP/JSON mapping (hex IDs); Grafana reads traces over protobuf.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use serde_json::{Value as J, json};
use sightline_otlp::convert::{traces_data, value_to_pb};
use sightline_otlp::proto::tonic::trace::v1::TracesData;
use sightline_traces::span::attr;
use sightline_traces::span::{hex, parse_trace_id};
use sightline_traces::{Expr, Field, SearchQuery, Span, TraceId, Value, now_ns};

use crate::params::{Params, parse_go_duration};
use crate::traceql::{self, TraceCtx};
use crate::{TraceApi, blocking};

/// `tempopb.TraceByIDResponse`: field 1 is a `tempopb.Trace`, wire-identical to OTLP `TracesData`.
#[derive(Clone, PartialEq, Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TracesData>,
}

/// The Tempo version reported to Grafana (it gates features by semver).
pub const TEMPO_VERSION: &str = "2.9.0";

fn error(status: StatusCode, msg: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{msg}\n"),
    )
        .into_response()
}

fn wants_protobuf(h: &HeaderMap) -> bool {
    h.get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/protobuf") || a.contains("application/x-protobuf"))
}

pub async fn echo() -> &'static str {
    "echo"
}

pub async fn buildinfo() -> Json<J> {
    Json(json!({
        "version": TEMPO_VERSION,
        "revision": env!("CARGO_PKG_VERSION"),
        "branch": "sightline",
        "buildDate": "",
        "buildUser": "sightline",
        "goVersion": "n/a (sightline)",
    }))
}

async fn load(api: Arc<TraceApi>, id: &str) -> Result<Vec<Span>, Response> {
    let Some(tid) = parse_trace_id(id) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            &format!("invalid trace id {id:?}"),
        ));
    };
    match blocking(move || api.store.trace(&tid, None)).await {
        Ok(s) if s.is_empty() => Err(error(StatusCode::NOT_FOUND, "trace not found")),
        Ok(s) => Ok(s),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, &e)),
    }
}

pub async fn trace_v1(
    State(api): State<Arc<TraceApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let spans = match load(api, &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let td = traces_data(&spans);
    if wants_protobuf(&headers) {
        return (
            [(header::CONTENT_TYPE, "application/protobuf")],
            td.encode_to_vec(),
        )
            .into_response();
    }
    Json(json!({"resourceSpans": td.resource_spans})).into_response()
}

pub async fn trace_v2(
    State(api): State<Arc<TraceApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let spans = match load(api, &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let td = traces_data(&spans);
    if wants_protobuf(&headers) {
        let body = TraceByIdResponse { trace: Some(td) }.encode_to_vec();
        return ([(header::CONTENT_TYPE, "application/protobuf")], body).into_response();
    }
    Json(json!({"trace": {"resourceSpans": td.resource_spans}})).into_response()
}

/// Tempo prints trace IDs with leading zeros trimmed.
fn tempo_trace_id(id: &TraceId) -> String {
    let h = hex(id);
    let t = h.trim_start_matches('0');
    if t.is_empty() { "0".into() } else { t.into() }
}

fn kv_json(k: &str, v: &Value) -> J {
    json!({"key": k, "value": serde_json::to_value(value_to_pb(v)).unwrap_or(J::Null)})
}

fn time_range(p: &Params) -> Result<(u64, u64), String> {
    let secs = |k: &str| -> Result<Option<u64>, String> {
        p.get(&[k])
            .map(|v| {
                v.parse::<u64>()
                    .map(|s| s * 1_000_000_000)
                    .map_err(|_| format!("invalid {k} {v:?}"))
            })
            .transpose()
    };
    let end = secs("end")?.map(|e| e + 999_999_999).unwrap_or(u64::MAX);
    let start = secs("start")?.unwrap_or(0);
    if start > end {
        return Err("invalid start and end: start must not be after end".into());
    }
    Ok((start, end))
}

/// Legacy tag search: logfmt `k=v k2="a b"`.
fn logfmt(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let (k, r) = rest
            .split_once('=')
            .ok_or_else(|| format!("invalid tags {s:?}"))?;
        let (v, r) = if let Some(q) = r.strip_prefix('"') {
            let end = q.find('"').ok_or_else(|| format!("invalid tags {s:?}"))?;
            (&q[..end], &q[end + 1..])
        } else {
            r.split_once(' ').unwrap_or((r, ""))
        };
        out.push((k.trim().to_string(), v.to_string()));
        rest = r.trim();
    }
    Ok(out)
}

pub async fn search(State(api): State<Arc<TraceApi>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let (start, end) = match time_range(&p) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let limit = p
        .get(&["limit"])
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(20);
    let spss = p
        .get(&["spss"])
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(3);
    let query = match p.get(&["q"]) {
        Some(q) => match traceql::parse(q) {
            Ok(q) => q,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
        },
        None => {
            // Legacy search: tags + min/maxDuration, translated to a TraceQL spanset.
            let mut s = String::from("{");
            let tags = match p.get(&["tags"]).map(logfmt).transpose() {
                Ok(t) => t.unwrap_or_default(),
                Err(e) => return error(StatusCode::BAD_REQUEST, &e),
            };
            let mut parts: Vec<String> = tags
                .iter()
                .map(|(k, v)| {
                    let key = match k.as_str() {
                        "name" => "name".to_string(),
                        "service.name" => "resource.service.name".to_string(),
                        k => format!(".{k}"),
                    };
                    format!(
                        "{key} = \"{}\"",
                        v.replace('\\', "\\\\").replace('"', "\\\"")
                    )
                })
                .collect();
            for (k, op) in [("minDuration", ">="), ("maxDuration", "<=")] {
                if let Some(d) = p.get(&[k]) {
                    if let Err(e) = parse_go_duration(d) {
                        return error(StatusCode::BAD_REQUEST, &format!("invalid {k}: {e}"));
                    }
                    parts.push(format!("duration {op} {d}"));
                }
            }
            s.push_str(&parts.join(" && "));
            s.push('}');
            match traceql::parse(&s) {
                Ok(q) => q,
                Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
            }
        }
    };
    let res = blocking(move || {
        let over = if query.selective_after_fetch() { 5 } else { 1 };
        let sq = SearchQuery {
            start_ns: start,
            end_ns: end,
            filter: query.prefilter(),
            min_duration_ns: None,
            max_duration_ns: None,
            limit: limit * over,
        };
        let hits = api.store.search(&sq)?;
        let mut out = Vec::new();
        for h in hits {
            if out.len() >= limit {
                break;
            }
            let spans = api.store.trace(&h.trace_id, None)?;
            if let Some(j) = trace_result(&h.trace_id, &spans, &query, spss) {
                out.push(j);
            }
        }
        Ok::<_, sightline_traces::StoreError>(out)
    })
    .await;
    match res {
        Ok(traces) => Json(json!({"traces": traces, "metrics": {"inspectedTraces": traces.len(), "completedJobs": 1, "totalJobs": 1}}))
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

fn trace_result(id: &TraceId, spans: &[Span], q: &traceql::Query, spss: usize) -> Option<J> {
    if spans.is_empty() {
        return None;
    }
    let root = spans.iter().find(|s| s.is_root());
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(0);
    let ctx = TraceCtx {
        root,
        duration_ns: end - start,
    };
    let sets = q.eval(spans, &ctx);
    if sets.is_empty() {
        return None;
    }
    let sets: Vec<J> = sets
        .iter()
        .map(|set| spanset_json(set, spans, q, spss))
        .collect();
    let mut stats: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for s in spans {
        let e = stats.entry(s.service()).or_default();
        e.0 += 1;
        if s.status_code == sightline_traces::StatusCode::Error {
            e.1 += 1;
        }
    }
    let stats: serde_json::Map<String, J> = stats
        .into_iter()
        .map(|(k, (n, e))| (k.to_string(), json!({"spanCount": n, "errorCount": e})))
        .collect();
    Some(json!({
        "traceID": tempo_trace_id(id),
        "rootServiceName": root.map(|r| r.service().to_string()).unwrap_or_else(|| "<root span not yet received>".into()),
        "rootTraceName": root.map(|r| r.name.clone()).unwrap_or_default(),
        "startTimeUnixNano": start.to_string(),
        "durationMs": (end - start) / 1_000_000,
        "spanSet": sets[0],
        "spanSets": sets,
        "serviceStats": stats,
    }))
}

/// One `spanSets[]` entry: up to `spss` spans (with the attributes the query
/// names and those `select()` asks for), `matched`, and the spanset's
/// attributes (`by()` values, aggregate results).
fn spanset_json(set: &traceql::ResultSet, spans: &[Span], q: &traceql::Query, spss: usize) -> J {
    let mut keys: Vec<&str> = vec!["service.name"];
    keys.extend(q.attrs.iter().map(|s| s.as_str()));
    let span_json: Vec<J> = set
        .spans
        .iter()
        .take(spss)
        .map(|i| {
            let s = &spans[*i];
            let mut attrs: Vec<J> = keys
                .iter()
                .filter_map(|k| {
                    let v = attr(&s.attrs, k).or_else(|| attr(&s.resource.attrs, k))?;
                    Some(kv_json(k, v))
                })
                .collect();
            for (k, f) in &set.select {
                // As Tempo: name and duration are the span's own fields, not attributes.
                if keys.contains(&k.as_str()) || matches!(f, Field::Name | Field::DurationNs) {
                    continue;
                }
                if let Some(v) = traceql::field_value(s, f) {
                    attrs.push(kv_json(k, &v));
                }
            }
            json!({
                "spanID": hex(&s.span_id),
                "name": s.name,
                "startTimeUnixNano": s.start_ns.to_string(),
                "durationNanos": s.duration_ns().to_string(),
                "attributes": attrs,
            })
        })
        .collect();
    let mut set_json = json!({"spans": span_json, "matched": set.spans.len()});
    if !set.attrs.is_empty() {
        set_json["attributes"] = set.attrs.iter().map(|(k, v)| kv_json(k, v)).collect();
    }
    set_json
}

const INTRINSICS: &[&str] = &[
    "duration",
    "kind",
    "name",
    "rootName",
    "rootServiceName",
    "status",
    "statusMessage",
    "traceDuration",
];

fn tag_range(p: &Params) -> Result<(u64, u64), String> {
    let (s, e) = time_range(p)?;
    // Without a range, look at the last day (tag listings scan recent spans).
    Ok(if p.get(&["start"]).is_none() {
        (now_ns().saturating_sub(86_400 * 1_000_000_000), e)
    } else {
        (s, e)
    })
}

pub async fn tags_v2(State(api): State<Arc<TraceApi>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let (start, end) = match tag_range(&p) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let scope = p.get(&["scope"]).unwrap_or("all").to_string();
    if !matches!(
        scope.as_str(),
        "all" | "resource" | "span" | "intrinsic" | "event" | "link" | "instrumentation"
    ) {
        return error(StatusCode::BAD_REQUEST, &format!("invalid scope {scope:?}"));
    }
    match blocking(move || api.store.tag_keys(start, end)).await {
        Ok(k) => {
            let mut scopes = Vec::new();
            if scope == "all" || scope == "resource" {
                scopes.push(json!({"name": "resource", "tags": k.resource}));
            }
            if scope == "all" || scope == "span" {
                scopes.push(json!({"name": "span", "tags": k.span}));
            }
            if scope == "all" || scope == "intrinsic" {
                scopes.push(json!({"name": "intrinsic", "tags": INTRINSICS}));
            }
            Json(json!({"scopes": scopes, "metrics": {}})).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

pub async fn tags_v1(State(api): State<Arc<TraceApi>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let (start, end) = match tag_range(&p) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    match blocking(move || api.store.tag_keys(start, end)).await {
        Ok(k) => {
            let mut names: Vec<String> = k
                .span
                .into_iter()
                .chain(k.resource)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            names.sort();
            Json(json!({"tagNames": names})).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

/// Grafana encodes the tag path segment twice; decode until no escapes remain.
fn decode_tag(t: &str) -> String {
    let mut s = t.to_string();
    for _ in 0..2 {
        if !s.contains('%') {
            break;
        }
        s = form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or(s);
    }
    s
}

fn tag_field(tag: &str) -> Option<(Field, bool)> {
    // (field, keyword-typed)
    Some(match tag {
        "name" | "span:name" | "rootName" | "trace:rootName" => (Field::Name, false),
        "status" | "span:status" => (Field::Status, true),
        "kind" | "span:kind" => (Field::Kind, true),
        "statusMessage" | "span:statusMessage" => (Field::StatusMessage, false),
        "rootServiceName" | "trace:rootService" => (Field::Service, false),
        _ => {
            if let Some(k) = tag.strip_prefix("span.") {
                (Field::SpanAttr(k.into()), false)
            } else if let Some(k) = tag.strip_prefix("resource.") {
                (Field::ResourceAttr(k.into()), false)
            } else if let Some(k) = tag.strip_prefix('.') {
                (Field::AnyAttr(k.into()), false)
            } else if tag.contains(':') || tag.is_empty() {
                return None;
            } else {
                // v1 style: an unscoped attribute name.
                (Field::AnyAttr(tag.into()), false)
            }
        }
    })
}

fn typed(v: &Value, keyword: bool) -> J {
    let (t, s) = match v {
        _ if keyword => ("keyword", v.to_text()),
        Value::Str(s) => ("string", s.clone()),
        Value::Int(i) => ("int", i.to_string()),
        Value::Double(d) => ("float", d.to_string()),
        Value::Bool(b) => ("bool", b.to_string()),
        other => ("string", other.to_text()),
    };
    json!({"type": t, "value": s})
}

async fn tag_values(api: Arc<TraceApi>, tag: String, p: Params, v2: bool) -> Response {
    let tag = decode_tag(&tag);
    let Some((field, keyword)) = tag_field(&tag) else {
        return error(StatusCode::BAD_REQUEST, &format!("unsupported tag {tag:?}"));
    };
    let (start, end) = match tag_range(&p) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    // `q` may be partial while the user types: use it when it parses, else ignore it (as Tempo does).
    let filter = p
        .get(&["q"])
        .and_then(|q| traceql::parse(q).ok())
        .map(|q| q.prefilter())
        .unwrap_or(Expr::True);
    let limit = p
        .get(&["limit"])
        .and_then(|l| l.parse().ok())
        .unwrap_or(1000);
    let sq = SearchQuery {
        start_ns: start,
        end_ns: end,
        filter,
        min_duration_ns: None,
        max_duration_ns: None,
        limit,
    };
    match blocking(move || api.store.tag_values(&field, &sq)).await {
        Ok(vals) => {
            let mut vals = vals;
            vals.sort_by_key(|a| a.to_text());
            if v2 {
                let v: Vec<J> = vals.iter().map(|x| typed(x, keyword)).collect();
                Json(json!({"tagValues": v, "metrics": {}})).into_response()
            } else {
                let v: Vec<String> = vals.iter().map(|x| x.to_text()).collect();
                Json(json!({"tagValues": v})).into_response()
            }
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

pub async fn tag_values_v2(
    State(api): State<Arc<TraceApi>>,
    Path(tag): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    tag_values(api, tag, Params::parse(q.as_deref()), true).await
}

pub async fn tag_values_v1(
    State(api): State<Arc<TraceApi>>,
    Path(tag): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    tag_values(api, tag, Params::parse(q.as_deref()), false).await
}
