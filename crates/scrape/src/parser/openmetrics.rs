//! OpenMetrics 1.0 text, following `openmetricsparse.go`/`openmetricslex.l`
//! and the spec's ABNF: exactly one space between tokens, no blank lines,
//! `# HELP`/`# TYPE`/`# UNIT` are the only comments, timestamps are (float)
//! seconds, exemplars follow ` # `, and the input ends with `# EOF`.
//!
//! Family-level rules live in [`super::om_rules`]; this module is the syntax.

use sightline_model::MetricType;

use super::labels::{Span, find_duplicate};
use super::lex::{Cursor, Escapes, is_label_start, is_name_start, unescape};
use super::om_rules::{MetaKind, OmRules, RawSample};
use super::{Entry, ExemplarRef, LineBuf, ParseError, ParseErrorKind, ParseSink, SampleRef, float};

pub(crate) fn parse(
    input: &str,
    default_ts: i64,
    validate: bool,
    sink: &mut impl ParseSink,
) -> Result<(), ParseError> {
    let mut p = Parser {
        cur: Cursor::new(input),
        line: LineBuf::default(),
        rules: validate.then(OmRules::default),
        type_family: String::new(),
        mtype: MetricType::Unknown,
    };
    loop {
        let start = p.cur.pos;
        match p.next_line(default_ts, sink) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(kind) => {
                return Err(ParseError {
                    line: p.cur.line_of(start),
                    kind,
                });
            }
        }
    }
}

struct Parser<'a> {
    cur: Cursor<'a>,
    line: LineBuf,
    rules: Option<OmRules>,
    /// Family and kind of the most recent `# TYPE`: decides which samples are
    /// `_created` timestamps and which label values get normalized.
    type_family: String,
    mtype: MetricType,
}

fn err(msg: impl Into<String>) -> ParseErrorKind {
    ParseErrorKind::Syntax(msg.into())
}

impl<'a> Parser<'a> {
    fn next_line(
        &mut self,
        default_ts: i64,
        sink: &mut impl ParseSink,
    ) -> Result<bool, ParseErrorKind> {
        self.line.clear();
        match self.cur.peek() {
            None => Err(err("unexpected end of input: missing \"# EOF\"")),
            Some(b'\n') => Err(err("blank lines are not allowed")),
            Some(b'#') => self.comment(sink),
            Some(c) if c == b'{' || is_name_start(c) => {
                self.sample(default_ts, sink)?;
                Ok(true)
            }
            Some(_) => Err(err(format!(
                "expected a metric name or '#' at the start of a line, got {}",
                self.cur.describe_next()
            ))),
        }
    }

    /// `# EOF`, `# HELP`, `# TYPE` or `# UNIT`. `Ok(false)` after `# EOF`.
    fn comment(&mut self, sink: &mut impl ParseSink) -> Result<bool, ParseErrorKind> {
        let cur = &mut self.cur;
        if !cur.eat_str("# ") {
            return Err(err("comments must start with \"# \""));
        }
        if cur.eat_str("EOF") {
            cur.eat(b'\n');
            if !cur.at_end() {
                return Err(err("unexpected data after \"# EOF\""));
            }
            if let Some(rules) = &mut self.rules {
                rules.finish().map_err(err)?;
            }
            return Ok(false);
        }
        let kind = if cur.eat_str("HELP ") {
            MetaKind::Help
        } else if cur.eat_str("TYPE ") {
            MetaKind::Type
        } else if cur.eat_str("UNIT ") {
            MetaKind::Unit
        } else {
            return Err(err(
                "expected HELP, TYPE, UNIT or EOF after \"# \" (other comments are not allowed)",
            ));
        };
        let word = kind.word();
        let src = cur.src;
        let family = match cur.peek() {
            Some(b'"') => {
                let raw = cur.quoted(false).map_err(err)?;
                unescape(src, raw, Escapes::Quoted, &mut self.line.buf)
            }
            _ => cur
                .metric_name()
                .ok_or_else(|| err(format!("expected metric name after {word}")))?,
        };
        if !cur.eat(b' ') {
            return Err(err(format!(
                "expected a space and text after the metric name in {word}"
            )));
        }
        let text = cur.rest_of_line();
        if !cur.eat(b'\n') {
            return Err(err(format!("expected newline after {word} line")));
        }

        let buf = &mut self.line.buf;
        let text = match kind {
            MetaKind::Help => unescape(src, text, Escapes::Quoted, buf),
            _ => text,
        };
        let (family, text) = (family.resolve(src, buf), text.resolve(src, buf));
        let entry = match kind {
            MetaKind::Help => Entry::Help { family, text },
            MetaKind::Type => {
                let kind = match text {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    "histogram" => MetricType::Histogram,
                    "gaugehistogram" => MetricType::Gaugehistogram,
                    "summary" => MetricType::Summary,
                    "info" => MetricType::Info,
                    "stateset" => MetricType::Stateset,
                    "unknown" => MetricType::Unknown,
                    other => return Err(err(format!("invalid metric type {other:?}"))),
                };
                self.mtype = kind;
                self.type_family.clear();
                self.type_family.push_str(family);
                Entry::Type { family, kind }
            }
            MetaKind::Unit => {
                // As Prometheus checks: a non-empty unit must be a `_`-separated
                // suffix of the family name.
                if !text.is_empty()
                    && !family
                        .strip_suffix(text)
                        .is_some_and(|rest| rest.ends_with('_'))
                {
                    return Err(err(format!(
                        "unit {text:?} is not a suffix of metric {family:?}"
                    )));
                }
                Entry::Unit { family, unit: text }
            }
        };
        if let Some(rules) = &mut self.rules {
            rules.metadata(&entry).map_err(err)?;
        }
        sink.entry(entry).map_err(ParseErrorKind::Sink)?;
        Ok(true)
    }

    fn sample(&mut self, default_ts: i64, sink: &mut impl ParseSink) -> Result<(), ParseErrorKind> {
        let mut name = self.cur.metric_name();
        if self.cur.eat(b'{') {
            self.labels(Some(&mut name))?;
        }
        let Some(name) = name else {
            return Err(err(
                "metric name not set: expected a name before '{' or a quoted name inside",
            ));
        };
        if !self.cur.eat(b' ') {
            return Err(err(format!(
                "expected a space and value after metric name, got {}",
                self.cur.describe_next()
            )));
        }
        let value = self.number("value")?;

        let mut ts = None;
        let mut has_exemplar = false;
        if self.cur.eat(b' ') {
            has_exemplar = self.exemplar_start();
            if !has_exemplar {
                ts = Some(self.timestamp("timestamp")?);
                if self.cur.eat(b' ') {
                    has_exemplar = self.exemplar_start();
                    if !has_exemplar {
                        return Err(err(format!(
                            "expected \" # {{\" (exemplar) or newline after timestamp, got {}",
                            self.cur.describe_next()
                        )));
                    }
                }
            }
        }
        let exemplar = if has_exemplar {
            Some(self.exemplar()?)
        } else {
            None
        };
        if !self.cur.eat(b'\n') {
            return Err(err(format!(
                "expected newline, got {}",
                self.cur.describe_next()
            )));
        }

        let input = self.cur.src;
        let labels = self.line.labels(input);
        if let Some(dup) = find_duplicate(&labels) {
            return Err(err(format!("duplicate label name {dup:?}")));
        }
        if labels.get(sightline_model::METRIC_NAME).is_some() {
            return Err(err("duplicate label name \"__name__\""));
        }
        if let Some(dup) = find_duplicate(&self.line.exemplar_labels(input)) {
            return Err(err(format!("duplicate exemplar label name {dup:?}")));
        }
        let name_str = name.resolve(input, &self.line.buf);
        if let Some(rules) = &mut self.rules {
            let ex_labels = self.line.exemplar_labels(input);
            rules
                .sample(&RawSample {
                    name: name_str,
                    labels,
                    value,
                    ts: ts.map(|(secs, _)| secs),
                    exemplar_labels: exemplar.is_some().then_some(ex_labels),
                })
                .map_err(err)?;
        }

        let created = matches!(
            self.mtype,
            MetricType::Counter | MetricType::Summary | MetricType::Histogram
        ) && name_str
            .strip_suffix("_created")
            .is_some_and(|f| f == self.type_family);
        self.line.normalize_floats(input, self.mtype);
        let timestamp = ts.map(|(_, ms)| ms);
        let sample = SampleRef {
            name: name.resolve(input, &self.line.buf),
            labels: self.line.labels(input),
            value,
            timestamp,
            t: timestamp.unwrap_or(default_ts),
            exemplar: exemplar.map(|(value, ts)| ExemplarRef {
                labels: self.line.exemplar_labels(input),
                value,
                timestamp: ts.map(|(_, ms)| ms),
            }),
        };
        let entry = if created {
            Entry::Created(sample)
        } else {
            Entry::Sample(sample)
        };
        sink.entry(entry).map_err(ParseErrorKind::Sink)
    }

    /// After a space: is this ` # {`? Consumes `# {` if so.
    fn exemplar_start(&mut self) -> bool {
        self.cur.eat_str("# {")
    }

    /// ` # {labels} value [timestamp]`, cursor after the `{`.
    fn exemplar(&mut self) -> Result<(f64, Option<(f64, i64)>), ParseErrorKind> {
        self.labels(None)?;
        if !self.cur.eat(b' ') {
            return Err(err(format!(
                "expected a space and value after exemplar labels, got {}",
                self.cur.describe_next()
            )));
        }
        let value = self.number("exemplar value")?;
        let ts = if self.cur.eat(b' ') {
            Some(self.timestamp("exemplar timestamp")?)
        } else {
            None
        };
        Ok((value, ts))
    }

    /// A float token `[^ \n]+`.
    fn number(&mut self, what: &str) -> Result<f64, ParseErrorKind> {
        let tok = self.cur.token(b"");
        if tok.start == tok.end {
            return Err(err(format!(
                "expected {what}, got {}",
                self.cur.describe_next()
            )));
        }
        let raw = self.cur.str(tok);
        float::parse_go_float(raw).map_err(|e| err(format!("invalid {what} {raw:?}: {e}")))
    }

    /// Seconds since the epoch (a float), returned as seconds and milliseconds.
    fn timestamp(&mut self, what: &str) -> Result<(f64, i64), ParseErrorKind> {
        let secs = self.number(what)?;
        if !secs.is_finite() {
            return Err(err(format!("invalid {what}: must be finite")));
        }
        // Truncation toward zero, like Prometheus's int64(ts * 1000).
        Ok((secs, (secs * 1000.0) as i64))
    }

    /// The inside of `{...}` for a sample (`name` given) or an exemplar, cursor
    /// after the `{`: `name="value"` pairs separated by single commas, nothing
    /// else, no trailing comma.
    fn labels(&mut self, mut name: Option<&mut Option<Span>>) -> Result<(), ParseErrorKind> {
        let src = self.cur.src;
        if self.cur.eat(b'}') {
            return Ok(());
        }
        loop {
            let label = match self.cur.peek() {
                Some(b'"') => {
                    let raw = self.cur.quoted(false).map_err(err)?;
                    let span = unescape(src, raw, Escapes::Quoted, &mut self.line.buf);
                    match (&mut name, self.cur.peek()) {
                        // A lone quoted string is the (UTF-8) metric name.
                        (Some(name), Some(b',' | b'}')) => {
                            if name.is_some() {
                                return Err(err("metric name already set"));
                            }
                            **name = Some(span);
                            if self.cur.eat(b'}') {
                                return Ok(());
                            }
                            self.cur.pos += 1;
                            continue;
                        }
                        _ => span,
                    }
                }
                Some(c) if is_label_start(c) => self.cur.label_name().unwrap_or_default(),
                _ => {
                    return Err(err(format!(
                        "expected label name, got {}",
                        self.cur.describe_next()
                    )));
                }
            };
            if !self.cur.eat(b'=') {
                return Err(err(format!(
                    "expected '=' after label name, got {}",
                    self.cur.describe_next()
                )));
            }
            if self.cur.peek() != Some(b'"') {
                return Err(err(format!(
                    "expected quoted label value, got {}",
                    self.cur.describe_next()
                )));
            }
            let raw = self.cur.quoted(false).map_err(err)?;
            let value = unescape(src, raw, Escapes::Quoted, &mut self.line.buf);
            if name.is_some() {
                self.line.labels.push((label, value));
            } else {
                self.line.exemplar.push((label, value));
            }
            match self.cur.peek() {
                Some(b',') => self.cur.pos += 1,
                Some(b'}') => {
                    self.cur.pos += 1;
                    return Ok(());
                }
                _ => {
                    return Err(err(format!(
                        "expected ',' or '}}' after label value, got {}",
                        self.cur.describe_next()
                    )));
                }
            }
        }
    }
}
