//! Spans → Jaeger's UI JSON model (what `/api/traces` returns and Grafana's
//! Jaeger data source reads): microsecond times, `CHILD_OF` references,
//! typed tags, and a `processes` map the spans point into. OTLP concepts map as
//! Jaeger's own OTLP translator does (span kind → `span.kind` tag, status →
//! `otel.status_code` + `error`, scope → `otel.scope.*`, events → logs).

use base64::Engine;
use serde_json::{Value as J, json};
use sightline_traces::span::hex;
use sightline_traces::{Resource, Span, SpanKind, StatusCode, TraceId, Value};

/// Jaeger prints 16 hex digits when the high half of the ID is zero, else 32.
pub fn trace_id_str(id: &TraceId) -> String {
    if id[..8] == [0; 8] {
        hex(&id[8..])
    } else {
        hex(id)
    }
}

const MAX_SAFE_INT: i64 = (1 << 53) - 1;

pub fn tag(key: &str, v: &Value) -> J {
    match v {
        Value::Str(s) => json!({"key": key, "type": "string", "value": s}),
        Value::Bool(b) => json!({"key": key, "type": "bool", "value": b}),
        // Beyond JavaScript's safe integers the value is sent as a string (as Jaeger does).
        Value::Int(i) if i.abs() > MAX_SAFE_INT => {
            json!({"key": key, "type": "int64", "value": i.to_string()})
        }
        Value::Int(i) => json!({"key": key, "type": "int64", "value": i}),
        Value::Double(d) => json!({"key": key, "type": "float64", "value": d}),
        Value::Bytes(b) => {
            json!({"key": key, "type": "binary", "value": base64::engine::general_purpose::STANDARD.encode(b)})
        }
        Value::Array(_) | Value::Map(_) => {
            json!({"key": key, "type": "string", "value": json_text(v).to_string()})
        }
    }
}

/// Arrays and maps become JSON text, as Jaeger's translator stores them.
fn json_text(v: &Value) -> J {
    match v {
        Value::Str(s) => J::String(s.clone()),
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => json!(i),
        Value::Double(d) => json!(d),
        Value::Bytes(b) => J::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::Array(a) => J::Array(a.iter().map(json_text).collect()),
        Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), json_text(v))).collect()),
    }
}

fn span_tags(s: &Span) -> Vec<J> {
    let mut tags: Vec<J> = s.attrs.iter().map(|(k, v)| tag(k, v)).collect();
    if !s.scope.name.is_empty() {
        tags.push(tag("otel.scope.name", &Value::Str(s.scope.name.clone())));
    }
    if !s.scope.version.is_empty() {
        tags.push(tag(
            "otel.scope.version",
            &Value::Str(s.scope.version.clone()),
        ));
    }
    if s.kind != SpanKind::Unspecified {
        tags.push(tag("span.kind", &Value::Str(s.kind.as_str().into())));
    }
    match s.status_code {
        StatusCode::Unset => {}
        StatusCode::Ok => tags.push(tag("otel.status_code", &Value::Str("OK".into()))),
        StatusCode::Error => {
            tags.push(tag("otel.status_code", &Value::Str("ERROR".into())));
            tags.push(tag("error", &Value::Bool(true)));
        }
    }
    if !s.status_message.is_empty() {
        tags.push(tag(
            "otel.status_description",
            &Value::Str(s.status_message.clone()),
        ));
    }
    if !s.trace_state.is_empty() {
        tags.push(tag("w3c.tracestate", &Value::Str(s.trace_state.clone())));
    }
    tags
}

/// One trace in the UI model. `spans` must all belong to the same trace.
pub fn trace_json(id: &TraceId, spans: &[Span]) -> J {
    let tid = trace_id_str(id);
    let mut processes: Vec<&Resource> = Vec::new();
    let mut out = Vec::with_capacity(spans.len());
    for s in spans {
        let pi = match processes
            .iter()
            .position(|r| std::ptr::eq(*r, &*s.resource) || **r == *s.resource)
        {
            Some(i) => i,
            None => {
                processes.push(&s.resource);
                processes.len() - 1
            }
        };
        let mut refs = Vec::new();
        if !s.is_root() {
            refs.push(
                json!({"refType": "CHILD_OF", "traceID": tid, "spanID": hex(&s.parent_span_id)}),
            );
        }
        for l in &s.links {
            refs.push(json!({"refType": "FOLLOWS_FROM", "traceID": trace_id_str(&l.trace_id), "spanID": hex(&l.span_id)}));
        }
        let logs: Vec<J> = s
            .events
            .iter()
            .map(|e| {
                let mut fields = vec![tag("event", &Value::Str(e.name.clone()))];
                fields.extend(e.attrs.iter().map(|(k, v)| tag(k, v)));
                json!({"timestamp": e.time_ns / 1000, "fields": fields})
            })
            .collect();
        let mut j = json!({
            "traceID": tid,
            "spanID": hex(&s.span_id),
            "operationName": s.name,
            "references": refs,
            "startTime": s.start_ns / 1000,
            "duration": s.duration_ns() / 1000,
            "tags": span_tags(s),
            "logs": logs,
            "processID": format!("p{}", pi + 1),
            "warnings": null,
        });
        if s.flags & 0xff != 0 {
            j["flags"] = json!(s.flags & 0xff);
        }
        out.push(j);
    }
    let procs: serde_json::Map<String, J> = processes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let tags: Vec<J> = r
                .attrs
                .iter()
                .filter(|(k, _)| k != "service.name")
                .map(|(k, v)| tag(k, v))
                .collect();
            (
                format!("p{}", i + 1),
                json!({"serviceName": r.service, "tags": tags}),
            )
        })
        .collect();
    json!({"traceID": tid, "spans": out, "processes": procs, "warnings": null})
}

/// The v1 envelope: all five keys always present.
pub fn envelope(data: J, total: usize, errors: Option<Vec<J>>) -> J {
    json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors})
}
