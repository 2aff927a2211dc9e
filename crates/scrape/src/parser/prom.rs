//! The Prometheus text format, version 0.0.4, following `promparse.go`/`promlex.l`:
//! blanks (spaces and tabs) may separate any two tokens, `#` lines other than
//! `# HELP`/`# TYPE` are comments, timestamps are integer milliseconds, and
//! every line, the last included, ends with a newline.

use sightline_model::MetricType;

use super::labels::{Span, find_duplicate};
use super::lex::{Cursor, Escapes, is_label_start, is_name_start, unescape};
use super::{Entry, LineBuf, ParseError, ParseErrorKind, ParseSink, SampleRef, float};

pub(crate) fn parse(
    input: &str,
    default_ts: i64,
    sink: &mut impl ParseSink,
) -> Result<(), ParseError> {
    let mut p = Parser {
        cur: Cursor::new(input),
        line: LineBuf::default(),
        mtype: MetricType::Unknown,
    };
    loop {
        let start = p.cur.pos;
        match p.next_line(default_ts, sink) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(kind) => {
                // The line the entry starts on (a label value may span lines).
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
    /// The most recent `# TYPE`, used (like Prometheus) to normalize `le` and
    /// `quantile` label values.
    mtype: MetricType,
}

fn err(msg: impl Into<String>) -> ParseErrorKind {
    ParseErrorKind::Syntax(msg.into())
}

impl<'a> Parser<'a> {
    /// Parses one line; `Ok(false)` at the end of input.
    fn next_line(
        &mut self,
        default_ts: i64,
        sink: &mut impl ParseSink,
    ) -> Result<bool, ParseErrorKind> {
        self.line.clear();
        self.cur.skip_blanks();
        match self.cur.peek() {
            None => Ok(false),
            Some(b'\n') => {
                self.cur.pos += 1;
                Ok(true)
            }
            // Prometheus's lexer treats NUL at the start of a token as the end
            // of input.
            Some(0) => Ok(false),
            Some(b'#') => {
                self.cur.pos += 1;
                self.comment(sink)?;
                Ok(true)
            }
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

    fn expect_newline(&mut self, what: &str) -> Result<(), ParseErrorKind> {
        self.cur.skip_blanks();
        if self.cur.eat(b'\n') {
            Ok(())
        } else {
            Err(err(format!(
                "expected newline {what}, got {}",
                self.cur.describe_next()
            )))
        }
    }

    fn comment(&mut self, sink: &mut impl ParseSink) -> Result<(), ParseErrorKind> {
        let cur = &mut self.cur;
        let mut meta = None;
        if matches!(cur.peek(), Some(b' ' | b'\t')) {
            cur.skip_blanks();
            for (word, kind) in [("HELP", true), ("TYPE", false)] {
                if cur.starts_with(word) && matches!(cur.b.get(cur.pos + 4), Some(b' ' | b'\t')) {
                    cur.pos += 4;
                    cur.skip_blanks();
                    meta = Some((word, kind));
                    break;
                }
            }
        }
        let Some((word, is_help)) = meta else {
            // A plain comment.
            cur.rest_of_line();
            cur.eat(b'\n');
            return Ok(());
        };

        let src = cur.src;
        let family = match cur.peek() {
            Some(b'"') => {
                let raw = cur.quoted(true).map_err(err)?;
                unescape(src, raw, Escapes::Quoted, &mut self.line.buf)
            }
            _ => cur
                .metric_name()
                .ok_or_else(|| err(format!("expected metric name after {word}")))?,
        };
        // Prometheus takes the rest of the line minus its first byte (the
        // separating blank) as the text.
        let rest = cur.rest_of_line();
        let text = if rest.end - rest.start > 1 {
            Span::input(rest.start + 1, rest.end)
        } else {
            Span::input(rest.end, rest.end)
        };
        if src.get(text.start..text.end).is_none() {
            return Err(err(format!("{word} text is not valid UTF-8")));
        }
        if !cur.eat(b'\n') {
            return Err(err(format!(
                "expected newline after {word} line, got end of input"
            )));
        }

        let buf = &mut self.line.buf;
        if is_help {
            let text = unescape(src, text, Escapes::Help, buf);
            let (family, text) = (family.resolve(src, buf), text.resolve(src, buf));
            return sink
                .entry(Entry::Help { family, text })
                .map_err(ParseErrorKind::Sink);
        }
        let kind = match text.resolve(src, "") {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" => MetricType::Unknown,
            other => return Err(err(format!("invalid metric type {other:?}"))),
        };
        self.mtype = kind;
        let family = family.resolve(src, buf);
        sink.entry(Entry::Type { family, kind })
            .map_err(ParseErrorKind::Sink)
    }

    fn sample(&mut self, default_ts: i64, sink: &mut impl ParseSink) -> Result<(), ParseErrorKind> {
        let mut name = self.cur.metric_name();
        self.cur.skip_blanks();
        if self.cur.eat(b'{') {
            self.labels(&mut name)?;
            self.cur.skip_blanks();
        }
        let Some(name) = name else {
            return Err(err(
                "metric name not set: expected a name before '{' or a quoted name inside",
            ));
        };

        let tok = self.cur.token(b"{\t");
        if tok.start == tok.end {
            return Err(err(format!(
                "expected value after metric name, got {}",
                self.cur.describe_next()
            )));
        }
        let raw = self.cur.str(tok);
        let value =
            float::parse_go_float(raw).map_err(|e| err(format!("invalid value {raw:?}: {e}")))?;

        self.cur.skip_blanks();
        let timestamp = match self.cur.peek() {
            Some(b'\n') => {
                self.cur.pos += 1;
                None
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.cur.pos;
                while self.cur.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.cur.pos += 1;
                }
                let raw = self.cur.str(Span::input(start, self.cur.pos));
                let ts: i64 = raw
                    .parse()
                    .map_err(|_| err(format!("timestamp {raw} out of range")))?;
                self.expect_newline("after timestamp")?;
                Some(ts)
            }
            _ => {
                return Err(err(format!(
                    "expected timestamp or newline after value, got {}",
                    self.cur.describe_next()
                )));
            }
        };

        let input = self.cur.src;
        let labels = self.line.labels(input);
        if let Some(dup) = find_duplicate(&labels) {
            return Err(err(format!("duplicate label name {dup:?}")));
        }
        if labels.get(sightline_model::METRIC_NAME).is_some() {
            return Err(err("duplicate label name \"__name__\""));
        }
        self.line.normalize_floats(input, self.mtype);
        let sample = SampleRef {
            name: name.resolve(input, &self.line.buf),
            labels: self.line.labels(input),
            value,
            timestamp,
            t: timestamp.unwrap_or(default_ts),
            exemplar: None,
        };
        sink.entry(Entry::Sample(sample))
            .map_err(ParseErrorKind::Sink)
    }

    /// The inside of `{...}`, cursor after the `{`. Blanks may appear between
    /// tokens, commas are optional separators (Prometheus accepts `{a="1" b="2"}`
    /// and a trailing comma), and raw newlines are allowed inside values.
    fn labels(&mut self, name: &mut Option<Span>) -> Result<(), ParseErrorKind> {
        let src = self.cur.src;
        loop {
            self.cur.skip_blanks();
            let label = match self.cur.peek() {
                Some(b'}') => {
                    self.cur.pos += 1;
                    return Ok(());
                }
                Some(b'"') => {
                    let raw = self.cur.quoted(true).map_err(err)?;
                    let span = unescape(src, raw, Escapes::Quoted, &mut self.line.buf);
                    self.cur.skip_blanks();
                    // A lone quoted string is the (UTF-8) metric name.
                    if matches!(self.cur.peek(), Some(b',' | b'}')) {
                        if name.is_some() {
                            return Err(err("metric name already set"));
                        }
                        *name = Some(span);
                        self.cur.eat(b',');
                        continue;
                    }
                    span
                }
                Some(c) if is_label_start(c) => self.cur.label_name().unwrap_or_default(),
                _ => {
                    return Err(err(format!(
                        "expected label name or '}}', got {}",
                        self.cur.describe_next()
                    )));
                }
            };
            self.cur.skip_blanks();
            if !self.cur.eat(b'=') {
                return Err(err(format!(
                    "expected '=' after label name, got {}",
                    self.cur.describe_next()
                )));
            }
            self.cur.skip_blanks();
            if self.cur.peek() != Some(b'"') {
                return Err(err(format!(
                    "expected quoted label value, got {}",
                    self.cur.describe_next()
                )));
            }
            let raw = self.cur.quoted(true).map_err(err)?;
            let value = unescape(src, raw, Escapes::Quoted, &mut self.line.buf);
            self.line.labels.push((label, value));
            self.cur.skip_blanks();
            self.cur.eat(b',');
        }
    }
}
