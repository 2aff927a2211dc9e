//! OTLP protobuf types ⇄ the store's span model. Inbound, every span is
//! validated (IDs of the right length and not all zero) so that one bad span
//! is rejected and counted without losing the rest of the request; outbound,
//! spans are regrouped by resource and scope for the OTLP-shaped read APIs
//! (Jaeger api_v3, Tempo).

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span as PbSpan, Status, TracesData,
    span::{Event as PbEvent, Link as PbLink},
};
use sightline_traces::{Attrs, Event, Link, Resource, Scope, Span, SpanKind, StatusCode, Value};

pub fn value_from_pb(v: &AnyValue) -> Value {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => Value::Str(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::Int(*i),
        Some(any_value::Value::DoubleValue(d)) => Value::Double(*d),
        Some(any_value::Value::BytesValue(b)) => Value::Bytes(b.clone()),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(value_from_pb).collect())
        }
        Some(any_value::Value::KvlistValue(m)) => Value::Map(attrs_from_pb(&m.values)),
        // An empty AnyValue (allowed by the spec) becomes an empty string.
        _ => Value::Str(String::new()),
    }
}

pub fn attrs_from_pb(kvs: &[KeyValue]) -> Attrs {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value
                    .as_ref()
                    .map(value_from_pb)
                    .unwrap_or(Value::Str(String::new())),
            )
        })
        .collect()
}

pub fn value_to_pb(v: &Value) -> AnyValue {
    let value = match v {
        Value::Str(s) => any_value::Value::StringValue(s.clone()),
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Int(i) => any_value::Value::IntValue(*i),
        Value::Double(d) => any_value::Value::DoubleValue(*d),
        Value::Bytes(b) => any_value::Value::BytesValue(b.clone()),
        Value::Array(a) => any_value::Value::ArrayValue(ArrayValue {
            values: a.iter().map(value_to_pb).collect(),
        }),
        Value::Map(m) => any_value::Value::KvlistValue(KeyValueList {
            values: attrs_to_pb(m),
        }),
    };
    AnyValue { value: Some(value) }
}

pub fn attrs_to_pb(a: &[(String, Value)]) -> Vec<KeyValue> {
    a.iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: Some(value_to_pb(v)),
            ..Default::default()
        })
        .collect()
}

/// Outcome of converting one export request.
#[derive(Default, Debug)]
pub struct Converted {
    pub spans: Vec<Span>,
    pub rejected: u64,
    /// The first reason a span was rejected (reported to the client as the partial-success message).
    pub error: Option<String>,
}

fn id<const N: usize>(b: &[u8]) -> Option<[u8; N]> {
    let a: [u8; N] = b.try_into().ok()?;
    (a != [0; N]).then_some(a)
}

pub fn spans_from_pb(rs: Vec<ResourceSpans>) -> Converted {
    let mut out = Converted::default();
    for r in rs {
        let res = r.resource.unwrap_or_default();
        let mut resource = Resource::new(attrs_from_pb(&res.attributes));
        resource.dropped_attrs = res.dropped_attributes_count;
        let resource = Arc::new(resource);
        for ss in r.scope_spans {
            let sc = ss.scope.unwrap_or_default();
            let scope = Arc::new(Scope {
                name: sc.name,
                version: sc.version,
                attrs: attrs_from_pb(&sc.attributes),
            });
            for s in ss.spans {
                let (Some(trace_id), Some(span_id)) = (id::<16>(&s.trace_id), id::<8>(&s.span_id))
                else {
                    out.rejected += 1;
                    out.error.get_or_insert_with(|| {
                        format!(
                            "span {:?}: trace_id must be 16 bytes and span_id 8 bytes, not all zero (got {} and {} bytes)",
                            s.name,
                            s.trace_id.len(),
                            s.span_id.len()
                        )
                    });
                    continue;
                };
                let parent_span_id = match s.parent_span_id.len() {
                    0 => [0; 8],
                    8 => s.parent_span_id.as_slice().try_into().unwrap(),
                    n => {
                        out.rejected += 1;
                        out.error.get_or_insert_with(|| {
                            format!(
                                "span {:?}: parent_span_id must be 8 bytes (got {n})",
                                s.name
                            )
                        });
                        continue;
                    }
                };
                let status = s.status.unwrap_or_default();
                out.spans.push(Span {
                    trace_id,
                    span_id,
                    parent_span_id,
                    trace_state: s.trace_state,
                    flags: s.flags,
                    name: s.name,
                    kind: SpanKind::from_i32(s.kind),
                    start_ns: s.start_time_unix_nano,
                    // A span ending before it starts is kept with zero duration (as the spanmetrics connector treats it).
                    end_ns: s.end_time_unix_nano.max(s.start_time_unix_nano),
                    attrs: attrs_from_pb(&s.attributes),
                    dropped_attrs: s.dropped_attributes_count,
                    events: s
                        .events
                        .into_iter()
                        .map(|e| Event {
                            time_ns: e.time_unix_nano,
                            name: e.name,
                            attrs: attrs_from_pb(&e.attributes),
                            dropped_attrs: e.dropped_attributes_count,
                        })
                        .collect(),
                    dropped_events: s.dropped_events_count,
                    links: s
                        .links
                        .into_iter()
                        .filter_map(|l| {
                            Some(Link {
                                trace_id: l.trace_id.as_slice().try_into().ok()?,
                                span_id: l.span_id.as_slice().try_into().ok()?,
                                trace_state: l.trace_state,
                                attrs: attrs_from_pb(&l.attributes),
                                dropped_attrs: l.dropped_attributes_count,
                                flags: l.flags,
                            })
                        })
                        .collect(),
                    dropped_links: s.dropped_links_count,
                    status_code: StatusCode::from_i32(status.code),
                    status_message: status.message,
                    resource: resource.clone(),
                    scope: scope.clone(),
                });
            }
        }
    }
    out
}

pub fn span_to_pb(s: &Span) -> PbSpan {
    PbSpan {
        trace_id: s.trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: if s.is_root() {
            Vec::new()
        } else {
            s.parent_span_id.to_vec()
        },
        flags: s.flags,
        name: s.name.clone(),
        kind: s.kind as i32,
        start_time_unix_nano: s.start_ns,
        end_time_unix_nano: s.end_ns,
        attributes: attrs_to_pb(&s.attrs),
        dropped_attributes_count: s.dropped_attrs,
        events: s
            .events
            .iter()
            .map(|e| PbEvent {
                time_unix_nano: e.time_ns,
                name: e.name.clone(),
                attributes: attrs_to_pb(&e.attrs),
                dropped_attributes_count: e.dropped_attrs,
            })
            .collect(),
        dropped_events_count: s.dropped_events,
        links: s
            .links
            .iter()
            .map(|l| PbLink {
                trace_id: l.trace_id.to_vec(),
                span_id: l.span_id.to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: attrs_to_pb(&l.attrs),
                dropped_attributes_count: l.dropped_attrs,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: s.dropped_links,
        status: (s.status_code != StatusCode::Unset || !s.status_message.is_empty()).then(|| {
            Status {
                message: s.status_message.clone(),
                code: s.status_code as i32,
            }
        }),
    }
}

/// One resource with its scopes' spans, while grouping.
type Grouped = (Arc<Resource>, Vec<(Arc<Scope>, Vec<PbSpan>)>);

/// Groups spans by resource and scope (value equality) into OTLP `ResourceSpans`.
pub fn spans_to_pb(spans: &[Span]) -> Vec<ResourceSpans> {
    let mut out: Vec<Grouped> = Vec::new();
    for s in spans {
        let ri = match out
            .iter()
            .position(|(r, _)| Arc::ptr_eq(r, &s.resource) || **r == *s.resource)
        {
            Some(i) => i,
            None => {
                out.push((s.resource.clone(), Vec::new()));
                out.len() - 1
            }
        };
        let scopes = &mut out[ri].1;
        let si = match scopes
            .iter()
            .position(|(sc, _)| Arc::ptr_eq(sc, &s.scope) || **sc == *s.scope)
        {
            Some(i) => i,
            None => {
                scopes.push((s.scope.clone(), Vec::new()));
                scopes.len() - 1
            }
        };
        scopes[si].1.push(span_to_pb(s));
    }
    out.into_iter()
        .map(|(r, scopes)| ResourceSpans {
            resource: Some(PbResource {
                attributes: attrs_to_pb(&r.attrs),
                dropped_attributes_count: r.dropped_attrs,
                entity_refs: Vec::new(),
            }),
            scope_spans: scopes
                .into_iter()
                .map(|(sc, spans)| ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: sc.name.clone(),
                        version: sc.version.clone(),
                        attributes: attrs_to_pb(&sc.attrs),
                        dropped_attributes_count: 0,
                    }),
                    spans,
                    schema_url: String::new(),
                })
                .collect(),
            schema_url: String::new(),
        })
        .collect()
}

pub fn traces_data(spans: &[Span]) -> TracesData {
    TracesData {
        resource_spans: spans_to_pb(spans),
    }
}
