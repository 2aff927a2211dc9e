//! Span predicates shared by every query front end. Jaeger's search form and
//! Tempo's TraceQL both compile to an [`Expr`] over span fields; the store
//! evaluates it per span (and a future ClickHouse backend translates it to
//! SQL), so the query languages never see storage details.

use regex::Regex;

use crate::span::{SpanKind, StatusCode, Value, attr};

#[derive(Clone, Debug)]
pub enum Field {
    Service,
    Name,
    Kind,
    Status,
    StatusMessage,
    DurationNs,
    ScopeName,
    SpanAttr(String),
    ResourceAttr(String),
    /// TraceQL's unscoped `.attr`: span attribute first, then resource attribute.
    AnyAttr(String),
    /// Jaeger's tag filter: span, resource or event attribute, plus the tags
    /// Jaeger derives from OTLP (`span.kind`, `error`, `otel.status_code`, ...).
    Tag(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Re,
    NotRe,
}

#[derive(Clone, Debug)]
pub enum Lit {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    DurationNs(u64),
    Kind(SpanKind),
    Status(StatusCode),
    Regex(Regex),
}

#[derive(Clone, Debug)]
pub enum Expr {
    True,
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cmp(Field, Op, Lit),
}

/// What a predicate can ask of a span; implemented by stored rows (lazily
/// decoded columns) and by fully decoded spans alike.
pub trait SpanView {
    fn service(&self) -> &str;
    fn name(&self) -> &str;
    fn kind(&self) -> SpanKind;
    fn status(&self) -> StatusCode;
    fn status_message(&self) -> &str;
    fn duration_ns(&self) -> u64;
    fn scope_name(&self) -> &str;
    fn span_attr(&self, key: &str) -> Option<&Value>;
    fn resource_attr(&self, key: &str) -> Option<&Value>;
    fn event_attr(&self, key: &str) -> Option<&Value>;
}

impl SpanView for crate::span::Span {
    fn service(&self) -> &str {
        &self.resource.service
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> SpanKind {
        self.kind
    }
    fn status(&self) -> StatusCode {
        self.status_code
    }
    fn status_message(&self) -> &str {
        &self.status_message
    }
    fn duration_ns(&self) -> u64 {
        crate::span::Span::duration_ns(self)
    }
    fn scope_name(&self) -> &str {
        &self.scope.name
    }
    fn span_attr(&self, key: &str) -> Option<&Value> {
        attr(&self.attrs, key)
    }
    fn resource_attr(&self, key: &str) -> Option<&Value> {
        attr(&self.resource.attrs, key)
    }
    fn event_attr(&self, key: &str) -> Option<&Value> {
        self.events.iter().find_map(|e| attr(&e.attrs, key))
    }
}

impl Expr {
    pub fn and(mut v: Vec<Expr>) -> Expr {
        v.retain(|e| !matches!(e, Expr::True));
        match v.len() {
            0 => Expr::True,
            1 => v.pop().unwrap(),
            _ => Expr::And(v),
        }
    }

    pub fn matches(&self, s: &dyn SpanView) -> bool {
        match self {
            Expr::True => true,
            Expr::And(v) => v.iter().all(|e| e.matches(s)),
            Expr::Or(v) => v.iter().any(|e| e.matches(s)),
            Expr::Cmp(f, op, lit) => cmp_field(s, f, *op, lit),
        }
    }

    /// Whether evaluating needs attributes (so a store can skip decoding them).
    pub fn needs_attrs(&self) -> bool {
        match self {
            Expr::True => false,
            Expr::And(v) | Expr::Or(v) => v.iter().any(|e| e.needs_attrs()),
            Expr::Cmp(f, _, _) => matches!(
                f,
                Field::SpanAttr(_)
                    | Field::ResourceAttr(_)
                    | Field::AnyAttr(_)
                    | Field::Tag(_)
                    | Field::StatusMessage
            ),
        }
    }

    /// Services a matching span must belong to, when the expression pins them
    /// (`service = x` at the top level); lets stores skip whole row groups.
    pub fn required_services(&self) -> Option<Vec<String>> {
        match self {
            Expr::Cmp(Field::Service, Op::Eq, Lit::Str(s)) => Some(vec![s.clone()]),
            Expr::Cmp(Field::ResourceAttr(k), Op::Eq, Lit::Str(s)) if k == "service.name" => {
                Some(vec![s.clone()])
            }
            Expr::And(v) => v.iter().find_map(|e| e.required_services()),
            Expr::Or(v) => {
                let mut all = Vec::new();
                for e in v {
                    all.extend(e.required_services()?);
                }
                Some(all)
            }
            _ => None,
        }
    }
}

fn cmp_field(s: &dyn SpanView, f: &Field, op: Op, lit: &Lit) -> bool {
    match f {
        Field::Service => cmp_str(s.service(), op, lit),
        Field::Name => cmp_str(s.name(), op, lit),
        Field::StatusMessage => cmp_str(s.status_message(), op, lit),
        Field::ScopeName => cmp_str(s.scope_name(), op, lit),
        Field::Kind => match lit {
            Lit::Kind(k) => cmp_ord(s.kind() as u8, *k as u8, op),
            Lit::Str(x) => SpanKind::parse(x).is_some_and(|k| cmp_ord(s.kind() as u8, k as u8, op)),
            _ => false,
        },
        Field::Status => match lit {
            Lit::Status(c) => cmp_ord(s.status() as u8, *c as u8, op),
            Lit::Str(x) => cmp_str(s.status().as_str(), op, &Lit::Str(x.to_ascii_lowercase())),
            _ => false,
        },
        Field::DurationNs => match lit {
            Lit::DurationNs(d) => cmp_ord(s.duration_ns(), *d, op),
            Lit::Int(i) => cmp_ord(s.duration_ns() as i128, *i as i128, op),
            _ => false,
        },
        Field::SpanAttr(k) => s.span_attr(k).is_some_and(|v| cmp_value(v, op, lit)),
        Field::ResourceAttr(k) => match k.as_str() {
            "service.name" => cmp_str(s.service(), op, lit),
            _ => s.resource_attr(k).is_some_and(|v| cmp_value(v, op, lit)),
        },
        Field::AnyAttr(k) => match s.span_attr(k) {
            Some(v) => cmp_value(v, op, lit),
            None => s.resource_attr(k).is_some_and(|v| cmp_value(v, op, lit)),
        },
        Field::Tag(k) => {
            let text = |v: &Value| cmp_str(&v.to_text(), op, lit);
            match k.as_str() {
                "span.kind" => cmp_str(s.kind().as_str(), op, lit),
                "otel.status_code" => cmp_str(&s.status().as_str().to_ascii_uppercase(), op, lit),
                "error" if s.status() == StatusCode::Error => cmp_str("true", op, lit),
                "otel.status_description" => cmp_str(s.status_message(), op, lit),
                "otel.scope.name" => cmp_str(s.scope_name(), op, lit),
                _ => {
                    s.span_attr(k).is_some_and(text)
                        || s.resource_attr(k).is_some_and(text)
                        || s.event_attr(k).is_some_and(text)
                }
            }
        }
    }
}

fn cmp_ord<T: PartialOrd>(a: T, b: T, op: Op) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Re | Op::NotRe => false,
    }
}

fn cmp_str(a: &str, op: Op, lit: &Lit) -> bool {
    match (op, lit) {
        (Op::Re, Lit::Regex(r)) => r.is_match(a),
        (Op::NotRe, Lit::Regex(r)) => !r.is_match(a),
        (_, Lit::Str(b)) => cmp_ord(a, b.as_str(), op),
        (_, Lit::Int(i)) => a.parse::<i64>().is_ok_and(|x| cmp_ord(x, *i, op)),
        (_, Lit::Float(f)) => a.parse::<f64>().is_ok_and(|x| cmp_ord(x, *f, op)),
        (_, Lit::Bool(b)) => a.parse::<bool>().is_ok_and(|x| cmp_ord(x, *b, op)),
        (_, Lit::Kind(k)) => cmp_ord(a, k.as_str(), op),
        (_, Lit::Status(c)) => cmp_ord(a, c.as_str(), op),
        _ => false,
    }
}

/// Typed comparison as TraceQL does it: ints and floats compare numerically
/// with each other, strings with strings; a type mismatch never matches.
fn cmp_value(v: &Value, op: Op, lit: &Lit) -> bool {
    match (v, lit) {
        (Value::Str(s), _) => cmp_str(s, op, lit),
        (Value::Int(a), Lit::Int(b)) => cmp_ord(*a, *b, op),
        (Value::Int(a), Lit::Float(b)) => cmp_ord(*a as f64, *b, op),
        (Value::Double(a), Lit::Float(b)) => cmp_ord(*a, *b, op),
        (Value::Double(a), Lit::Int(b)) => cmp_ord(*a, *b as f64, op),
        (Value::Int(a), Lit::DurationNs(d)) => cmp_ord(*a as i128, *d as i128, op),
        (Value::Bool(a), Lit::Bool(b)) => cmp_ord(*a, *b, op),
        (_, Lit::Regex(_)) => cmp_str(&v.to_text(), op, lit),
        (_, Lit::Str(s)) => cmp_ord(v.to_text().as_str(), s.as_str(), op),
        _ => false,
    }
}

/// One search: a span predicate within a time range (span start, ns), newest traces first.
#[derive(Clone, Debug)]
pub struct SearchQuery {
    pub start_ns: u64,
    pub end_ns: u64,
    pub filter: Expr,
    pub min_duration_ns: Option<u64>,
    pub max_duration_ns: Option<u64>,
    pub limit: usize,
}

impl SearchQuery {
    pub fn span_matches(&self, s: &dyn SpanView) -> bool {
        let d = s.duration_ns();
        self.min_duration_ns.is_none_or(|m| d >= m)
            && self.max_duration_ns.is_none_or(|m| d <= m)
            && self.filter.matches(s)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TraceHit {
    pub trace_id: crate::span::TraceId,
    /// Start of the newest matching span (ns), used for ordering.
    pub start_ns: u64,
}
