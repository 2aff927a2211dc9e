//! Streaming parsers for the Prometheus text exposition format (0.0.4) and
//! OpenMetrics 1.0 text.
//!
//! [`parse`] walks the input once and hands each entry to a [`ParseSink`].
//! Entries borrow from the input (or from a scratch buffer reused across lines
//! for strings that needed unescaping), so a well-formed sample costs no
//! allocation. Entries are delivered as they are parsed: on error, the sink has
//! already seen the entries before the bad line and must discard them itself
//! (a scrape is all-or-nothing, exactly as with Prometheus's appender rollback).
//!
//! Semantics follow Prometheus's `model/textparse` (`promparse.go`,
//! `openmetricsparse.go`). OpenMetrics input is additionally checked against
//! the family-level rules of the OpenMetrics spec (metadata placement, name
//! clashes, counter/histogram/summary/stateset/info invariants, grouping,
//! exemplar placement), matching the OpenMetrics conformance suite; see
//! [`ParseOptions::validate_openmetrics`].

mod float;
mod labels;
mod lex;
mod om_rules;
mod openmetrics;
mod prom;

use std::fmt;

use sightline_model::{Labels, MetricType};

pub use labels::LabelsRef;
use labels::Span;

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`: millisecond timestamps, no `# EOF`.
    PrometheusText,
    /// `application/openmetrics-text; version=1.0.0`: second timestamps,
    /// exemplars, mandatory `# EOF`.
    OpenMetrics,
}

/// Picks the parser for a scrape response's Content-Type. Anything that is not
/// OpenMetrics (including a missing or unknown type) is read as the classic
/// text format, the format every Prometheus exporter can produce.
pub fn format_from_content_type(ct: &str) -> Format {
    let media = ct.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case("application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::PrometheusText
    }
}

/// One parsed line.
#[derive(Debug, PartialEq)]
pub enum Entry<'a> {
    /// `# HELP family text`, unescaped.
    Help { family: &'a str, text: &'a str },
    /// `# TYPE family type`.
    Type { family: &'a str, kind: MetricType },
    /// `# UNIT family unit` (OpenMetrics only).
    Unit { family: &'a str, unit: &'a str },
    /// A sample line.
    Sample(SampleRef<'a>),
    /// An OpenMetrics `<family>_created` sample of a counter, summary or
    /// histogram. Its value is the series' creation time in seconds (see
    /// [`SampleRef::created_ms`]). Prometheus stores it as an ordinary sample
    /// unless created-timestamp ingestion is enabled; the sink chooses.
    Created(SampleRef<'a>),
}

/// A sample, borrowed from the input.
#[derive(Debug, PartialEq)]
pub struct SampleRef<'a> {
    /// The metric name (sample name, e.g. `http_requests_total`).
    pub name: &'a str,
    pub labels: LabelsRef<'a>,
    pub value: f64,
    /// The timestamp written in the input, in milliseconds.
    pub timestamp: Option<i64>,
    /// The timestamp to store: `timestamp`, or the caller's default.
    pub t: i64,
    pub exemplar: Option<ExemplarRef<'a>>,
}

impl SampleRef<'_> {
    /// For [`Entry::Created`]: the creation time in milliseconds.
    pub fn created_ms(&self) -> i64 {
        (self.value * 1000.0) as i64
    }

    /// The full label set including `__name__`, as stored. Allocates.
    pub fn to_labels(&self) -> Labels {
        let mut b = sightline_model::LabelsBuilder::new();
        b.set(sightline_model::METRIC_NAME, self.name);
        for (n, v) in self.labels.iter() {
            b.set(n, v);
        }
        b.build()
    }
}

/// An OpenMetrics exemplar: ` # {labels} value [timestamp]`.
#[derive(Debug, PartialEq)]
pub struct ExemplarRef<'a> {
    pub labels: LabelsRef<'a>,
    pub value: f64,
    /// Milliseconds; `None` when the exemplar carries no timestamp.
    pub timestamp: Option<i64>,
}

/// What a sink may return to stop parsing (e.g. a sample limit was hit).
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Receives entries as they are parsed.
pub trait ParseSink {
    fn entry(&mut self, entry: Entry<'_>) -> Result<(), SinkError>;
}

impl<F> ParseSink for F
where
    F: FnMut(Entry<'_>) -> Result<(), SinkError>,
{
    fn entry(&mut self, entry: Entry<'_>) -> Result<(), SinkError> {
        self(entry)
    }
}

/// An owned copy of an [`Entry`], for tests and callers that buffer.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedEntry {
    Help { family: String, text: String },
    Type { family: String, kind: MetricType },
    Unit { family: String, unit: String },
    Sample(OwnedSample),
    Created(OwnedSample),
}

#[derive(Clone, Debug, PartialEq)]
pub struct OwnedSample {
    pub name: String,
    /// In input order, as written (empty values kept).
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp: Option<i64>,
    pub t: i64,
    pub exemplar: Option<OwnedExemplar>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OwnedExemplar {
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp: Option<i64>,
}

fn owned_labels(l: &LabelsRef<'_>) -> Vec<(String, String)> {
    l.iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

impl SampleRef<'_> {
    pub fn to_owned_sample(&self) -> OwnedSample {
        OwnedSample {
            name: self.name.to_owned(),
            labels: owned_labels(&self.labels),
            value: self.value,
            timestamp: self.timestamp,
            t: self.t,
            exemplar: self.exemplar.as_ref().map(|e| OwnedExemplar {
                labels: owned_labels(&e.labels),
                value: e.value,
                timestamp: e.timestamp,
            }),
        }
    }
}

impl Entry<'_> {
    pub fn to_owned_entry(&self) -> OwnedEntry {
        match self {
            Entry::Help { family, text } => OwnedEntry::Help {
                family: (*family).to_owned(),
                text: (*text).to_owned(),
            },
            Entry::Type { family, kind } => OwnedEntry::Type {
                family: (*family).to_owned(),
                kind: *kind,
            },
            Entry::Unit { family, unit } => OwnedEntry::Unit {
                family: (*family).to_owned(),
                unit: (*unit).to_owned(),
            },
            Entry::Sample(s) => OwnedEntry::Sample(s.to_owned_sample()),
            Entry::Created(s) => OwnedEntry::Created(s.to_owned_sample()),
        }
    }
}

impl ParseSink for Vec<OwnedEntry> {
    fn entry(&mut self, entry: Entry<'_>) -> Result<(), SinkError> {
        self.push(entry.to_owned_entry());
        Ok(())
    }
}

/// Why parsing stopped.
#[derive(Debug)]
pub struct ParseError {
    /// 1-based line of the offending entry.
    pub line: usize,
    pub kind: ParseErrorKind,
}

#[derive(Debug)]
pub enum ParseErrorKind {
    /// The input is not valid in the format.
    Syntax(String),
    /// The sink refused an entry.
    Sink(SinkError),
}

impl ParseError {
    pub(crate) fn syntax(line: usize, msg: impl Into<String>) -> Self {
        ParseError {
            line,
            kind: ParseErrorKind::Syntax(msg.into()),
        }
    }

    /// The message without the line prefix.
    pub fn message(&self) -> String {
        match &self.kind {
            ParseErrorKind::Syntax(m) => m.clone(),
            ParseErrorKind::Sink(e) => e.to_string(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ParseErrorKind::Syntax(m) => write!(f, "line {}: {m}", self.line),
            ParseErrorKind::Sink(e) => write!(f, "line {}: {e}", self.line),
        }
    }
}

impl std::error::Error for ParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ParseErrorKind::Syntax(_) => None,
            ParseErrorKind::Sink(e) => Some(e.as_ref()),
        }
    }
}

/// Knobs for [`parse_with`].
#[derive(Clone, Copy, Debug)]
pub struct ParseOptions {
    /// Enforce the OpenMetrics family-level rules (on by default): the
    /// conformance suite requires them, but Prometheus itself only checks
    /// syntax, so turning this off accepts what Prometheus accepts.
    pub validate_openmetrics: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            validate_openmetrics: true,
        }
    }
}

/// Parses `input` in `format`, feeding every entry to `sink`. Samples without
/// a timestamp get `default_ts_ms` in [`SampleRef::t`].
pub fn parse(
    format: Format,
    input: &[u8],
    default_ts_ms: i64,
    sink: &mut impl ParseSink,
) -> Result<(), ParseError> {
    parse_with(format, input, default_ts_ms, ParseOptions::default(), sink)
}

/// [`parse`] with explicit options.
pub fn parse_with(
    format: Format,
    input: &[u8],
    default_ts_ms: i64,
    opts: ParseOptions,
    sink: &mut impl ParseSink,
) -> Result<(), ParseError> {
    // Validating once up front lets every token be a `&str` without
    // re-checking. Prometheus rejects invalid UTF-8 in names, label values and
    // help text; we also reject it inside plain comments.
    let input = std::str::from_utf8(input).map_err(|e| {
        let line = 1 + input[..e.valid_up_to()]
            .iter()
            .filter(|&&c| c == b'\n')
            .count();
        ParseError::syntax(line, "invalid UTF-8")
    })?;
    match format {
        Format::PrometheusText => prom::parse(input, default_ts_ms, sink),
        Format::OpenMetrics => {
            openmetrics::parse(input, default_ts_ms, opts.validate_openmetrics, sink)
        }
    }
}

/// Per-line scratch space shared by both parsers, reused across lines.
#[derive(Default)]
pub(crate) struct LineBuf {
    /// Unescaped strings and normalized label values.
    pub(crate) buf: String,
    pub(crate) labels: Vec<(Span, Span)>,
    pub(crate) exemplar: Vec<(Span, Span)>,
}

impl LineBuf {
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.labels.clear();
        self.exemplar.clear();
    }

    pub(crate) fn labels<'a>(&'a self, input: &'a str) -> LabelsRef<'a> {
        LabelsRef::new(input, &self.buf, &self.labels)
    }

    pub(crate) fn exemplar_labels<'a>(&'a self, input: &'a str) -> LabelsRef<'a> {
        LabelsRef::new(input, &self.buf, &self.exemplar)
    }

    /// Rewrites `le` (histograms) and `quantile` (summaries) values into
    /// canonical float form, as Prometheus 3 does, so `le="1"` and `le="1.0"`
    /// are the same series.
    pub(crate) fn normalize_floats(&mut self, input: &str, kind: MetricType) {
        let target = match kind {
            MetricType::Histogram => "le",
            MetricType::Summary => "quantile",
            _ => return,
        };
        for i in 0..self.labels.len() {
            let (n, v) = self.labels[i];
            if n.resolve(input, &self.buf) != target {
                continue;
            }
            let Ok(f) = float::parse_go_float(v.resolve(input, &self.buf)) else {
                continue;
            };
            let start = self.buf.len();
            float::push_openmetrics_float(&mut self.buf, f);
            if self.buf[start..] == *v.resolve(input, &self.buf) {
                self.buf.truncate(start);
            } else {
                self.labels[i].1 = Span {
                    start,
                    end: self.buf.len(),
                    in_buf: true,
                };
            }
        }
    }
}
