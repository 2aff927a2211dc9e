//! The span model every part of the trace pipeline shares. It mirrors OTLP's
//! span closely (so nothing a client sent is lost on the way to the Jaeger,
//! Tempo and OTLP read paths) but keeps resource and scope behind `Arc`s:
//! one batch shares one resource among thousands of spans.

use std::sync::Arc;

pub type TraceId = [u8; 16];
pub type SpanId = [u8; 8];

/// An attribute value (OTLP `AnyValue`).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Map(Vec<(String, Value)>),
}

impl Value {
    /// The value as Jaeger/TraceQL compare it in text form (`200`, `true`, `1.5`).
    pub fn to_text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Double(d) => d.to_string(),
            Value::Bytes(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
            Value::Array(v) => format!(
                "[{}]",
                v.iter().map(|x| x.to_text()).collect::<Vec<_>>().join(",")
            ),
            Value::Map(m) => format!(
                "{{{}}}",
                m.iter()
                    .map(|(k, v)| format!("{k}:{}", v.to_text()))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }
}

pub type Attrs = Vec<(String, Value)>;

pub fn attr<'a>(attrs: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum SpanKind {
    #[default]
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl SpanKind {
    pub fn from_i32(v: i32) -> SpanKind {
        match v {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }
    /// Lower-case name as Jaeger's `span.kind` tag and TraceQL's `kind` use.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
    pub fn parse(s: &str) -> Option<SpanKind> {
        Some(match s.to_ascii_lowercase().as_str() {
            "unspecified" | "span_kind_unspecified" => SpanKind::Unspecified,
            "internal" | "span_kind_internal" => SpanKind::Internal,
            "server" | "span_kind_server" => SpanKind::Server,
            "client" | "span_kind_client" => SpanKind::Client,
            "producer" | "span_kind_producer" => SpanKind::Producer,
            "consumer" | "span_kind_consumer" => SpanKind::Consumer,
            _ => return None,
        })
    }
    /// The OTLP enum name, as the spanmetrics connector writes it in `span_kind`.
    pub fn otel_name(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
            SpanKind::Internal => "SPAN_KIND_INTERNAL",
            SpanKind::Server => "SPAN_KIND_SERVER",
            SpanKind::Client => "SPAN_KIND_CLIENT",
            SpanKind::Producer => "SPAN_KIND_PRODUCER",
            SpanKind::Consumer => "SPAN_KIND_CONSUMER",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum StatusCode {
    #[default]
    Unset = 0,
    Ok = 1,
    Error = 2,
}

impl StatusCode {
    pub fn from_i32(v: i32) -> StatusCode {
        match v {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "unset",
            StatusCode::Ok => "ok",
            StatusCode::Error => "error",
        }
    }
    pub fn otel_name(self) -> &'static str {
        match self {
            StatusCode::Unset => "STATUS_CODE_UNSET",
            StatusCode::Ok => "STATUS_CODE_OK",
            StatusCode::Error => "STATUS_CODE_ERROR",
        }
    }
}

/// The entity that produced spans; `service` is `service.name` pulled out for fast filtering.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resource {
    pub service: String,
    pub attrs: Attrs,
    pub dropped_attrs: u32,
}

impl Resource {
    pub fn new(attrs: Attrs) -> Resource {
        let service = match attr(&attrs, "service.name") {
            Some(Value::Str(s)) => s.clone(),
            Some(v) => v.to_text(),
            None => String::new(),
        };
        Resource {
            service,
            attrs,
            dropped_attrs: 0,
        }
    }
}

/// Instrumentation scope (library) that produced spans.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Scope {
    pub name: String,
    pub version: String,
    pub attrs: Attrs,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Event {
    pub time_ns: u64,
    pub name: String,
    pub attrs: Attrs,
    pub dropped_attrs: u32,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Link {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: String,
    pub attrs: Attrs,
    pub dropped_attrs: u32,
    pub flags: u32,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// All zeroes for a root span.
    pub parent_span_id: SpanId,
    pub trace_state: String,
    pub flags: u32,
    pub name: String,
    pub kind: SpanKind,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attrs: Attrs,
    pub dropped_attrs: u32,
    pub events: Vec<Event>,
    pub dropped_events: u32,
    pub links: Vec<Link>,
    pub dropped_links: u32,
    pub status_code: StatusCode,
    pub status_message: String,
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
}

impl Span {
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
    pub fn is_root(&self) -> bool {
        self.parent_span_id == [0; 8]
    }
    pub fn service(&self) -> &str {
        &self.resource.service
    }
}

pub fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(D[(x >> 4) as usize] as char);
        s.push(D[(x & 15) as usize] as char);
    }
    s
}

/// Parses a trace ID typed by a user or client: 1–32 hex digits, any case, left-padded with zeroes.
pub fn parse_trace_id(s: &str) -> Option<TraceId> {
    let s = s.trim();
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{s:0>32}");
    let mut id = [0u8; 16];
    for (i, out) in id.iter_mut().enumerate() {
        *out = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(id)
}
