//! A TraceQL subset: spanset filters `{ cond }` with `&&`, `||`, parentheses,
//! comparisons `= != > >= < <= =~ !~` on intrinsics (`name`, `status`,
//! `kind`, `duration`, `statusMessage`, trace-level `rootName`,
//! `rootServiceName`, `traceDuration` and their `span:`/`trace:` forms),
//! scoped (`span.`, `resource.`) and unscoped (`.attr`) attributes, and
//! spanset operators `&&` / `||` between filters. Errors carry the column, as
//! Tempo reports them (`parse error at line 1, col N: ...`).
//!
//! Span-level conditions compile to the store's [`Expr`] (a pre-filter the
//! store evaluates); trace-level ones are checked on the fetched traces.

use regex::Regex;
use sightline_traces::{Expr, Field, Lit, Op, Span, SpanKind, StatusCode};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    And,
    Or,
    Pipe,
    Op(Op),
    Str(String),
    Int(i64),
    Float(f64),
    Dur(u64),
    Ident(String),
}

#[derive(Debug, PartialEq)]
pub struct ParseError {
    pub col: usize,
    pub msg: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "parse error at line 1, col {}: {}", self.col, self.msg)
    }
}

fn err<T>(col: usize, msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        col,
        msg: msg.into(),
    })
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let ident_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-');
    while i < b.len() {
        let c = b[i];
        let col = i + 1;
        let two: String = b[i..(i + 2).min(b.len())].iter().collect();
        let (tok, len) = match c {
            ' ' | '\t' | '\n' | '\r' => {
                i += 1;
                continue;
            }
            '{' => (Tok::LBrace, 1),
            '}' => (Tok::RBrace, 1),
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            _ if two == "&&" => (Tok::And, 2),
            _ if two == "||" => (Tok::Or, 2),
            _ if two == "!=" => (Tok::Op(Op::Ne), 2),
            _ if two == "=~" => (Tok::Op(Op::Re), 2),
            _ if two == "!~" => (Tok::Op(Op::NotRe), 2),
            _ if two == ">=" => (Tok::Op(Op::Ge), 2),
            _ if two == "<=" => (Tok::Op(Op::Le), 2),
            '|' => (Tok::Pipe, 1),
            '=' => (Tok::Op(Op::Eq), 1),
            '>' => (Tok::Op(Op::Gt), 1),
            '<' => (Tok::Op(Op::Lt), 1),
            '"' | '`' => {
                let q = c;
                let mut j = i + 1;
                let mut v = String::new();
                while j < b.len() && b[j] != q {
                    if b[j] == '\\' && q == '"' && j + 1 < b.len() {
                        j += 1;
                        v.push(match b[j] {
                            'n' => '\n',
                            't' => '\t',
                            x => x,
                        });
                    } else {
                        v.push(b[j]);
                    }
                    j += 1;
                }
                if j >= b.len() {
                    return err(col, "unterminated string");
                }
                out.push((col, Tok::Str(v)));
                i = j + 1;
                continue;
            }
            _ if c.is_ascii_digit()
                || (c == '-' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == '.' || b[j] == 'µ') {
                    j += 1;
                }
                let text: String = b[i..j].iter().collect();
                let t = if let Ok(n) = text.parse::<i64>() {
                    Tok::Int(n)
                } else if let Ok(f) = text.parse::<f64>() {
                    Tok::Float(f)
                } else if let Ok(d) = crate::params::parse_go_duration(&text) {
                    Tok::Dur(d)
                } else {
                    return err(col, format!("invalid number or duration {text:?}"));
                };
                out.push((col, t));
                i = j;
                continue;
            }
            _ if ident_char(c) => {
                let mut j = i;
                while j < b.len() && ident_char(b[j]) {
                    j += 1;
                }
                // Quoted attribute names: span."http.method"
                let mut name: String = b[i..j].iter().collect();
                if name.ends_with('.') && b.get(j) == Some(&'"') {
                    let mut k = j + 1;
                    while k < b.len() && b[k] != '"' {
                        name.push(b[k]);
                        k += 1;
                    }
                    if k >= b.len() {
                        return err(col, "unterminated quoted attribute name");
                    }
                    j = k + 1;
                }
                out.push((col, Tok::Ident(name)));
                i = j;
                continue;
            }
            _ => return err(col, format!("unexpected character {c:?}")),
        };
        i += len;
        out.push((col, tok));
    }
    Ok(out)
}

/// Trace-level intrinsics, known only once the whole trace is fetched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TraceField {
    RootName,
    RootService,
    Duration,
}

#[derive(Debug, Clone)]
pub enum Cond {
    True,
    Span(Field, Op, Lit),
    Trace(TraceField, Op, Lit),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

#[derive(Debug, Clone)]
pub enum Spanset {
    Filter(Cond),
    And(Box<Spanset>, Box<Spanset>),
    Or(Box<Spanset>, Box<Spanset>),
}

#[derive(Debug, Clone)]
pub struct Query {
    pub root: Spanset,
    /// Attribute keys the query refers to (returned with matched spans).
    pub attrs: Vec<String>,
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end_col: usize,
    attrs: Vec<String>,
}

enum Attr {
    Span(Field),
    Trace(TraceField),
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn col(&self) -> usize {
        self.toks
            .get(self.pos)
            .map(|(c, _)| *c)
            .unwrap_or(self.end_col)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }
    fn expect(&mut self, want: Tok, what: &str) -> Result<(), ParseError> {
        let col = self.col();
        match self.next() {
            Some(t) if t == want => Ok(()),
            Some(t) => err(
                col,
                format!("syntax error: unexpected {t:?}, expecting {what}"),
            ),
            None => err(
                col,
                format!("syntax error: unexpected end of query, expecting {what}"),
            ),
        }
    }

    fn spanset_expr(&mut self) -> Result<Spanset, ParseError> {
        let mut left = self.spanset_term()?;
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                    let r = self.spanset_term()?;
                    left = Spanset::And(Box::new(left), Box::new(r));
                }
                Some(Tok::Or) => {
                    self.pos += 1;
                    let r = self.spanset_term()?;
                    left = Spanset::Or(Box::new(left), Box::new(r));
                }
                _ => return Ok(left),
            }
        }
    }

    fn spanset_term(&mut self) -> Result<Spanset, ParseError> {
        let col = self.col();
        match self.next() {
            Some(Tok::LBrace) => {
                if self.peek() == Some(&Tok::RBrace) {
                    self.pos += 1;
                    return Ok(Spanset::Filter(Cond::True));
                }
                let c = self.or_cond()?;
                self.expect(Tok::RBrace, "}")?;
                Ok(Spanset::Filter(c))
            }
            Some(Tok::LParen) => {
                let s = self.spanset_expr()?;
                self.expect(Tok::RParen, ")")?;
                Ok(s)
            }
            Some(t) => err(col, format!("syntax error: unexpected {t:?}, expecting {{")),
            None => err(col, "syntax error: unexpected end of query, expecting {"),
        }
    }

    fn or_cond(&mut self) -> Result<Cond, ParseError> {
        let mut v = vec![self.and_cond()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            v.push(self.and_cond()?);
        }
        Ok(if v.len() == 1 {
            v.pop().unwrap()
        } else {
            Cond::Or(v)
        })
    }

    fn and_cond(&mut self) -> Result<Cond, ParseError> {
        let mut v = vec![self.unary()?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            v.push(self.unary()?);
        }
        Ok(if v.len() == 1 {
            v.pop().unwrap()
        } else {
            Cond::And(v)
        })
    }

    fn unary(&mut self) -> Result<Cond, ParseError> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let c = self.or_cond()?;
            self.expect(Tok::RParen, ")")?;
            return Ok(c);
        }
        let col = self.col();
        let name = match self.next() {
            Some(Tok::Ident(n)) => n,
            Some(t) => {
                return err(
                    col,
                    format!("syntax error: unexpected {t:?}, expecting an attribute"),
                );
            }
            None => {
                return err(
                    col,
                    "syntax error: unexpected end of query, expecting an attribute",
                );
            }
        };
        let attr = self.attribute(&name, col)?;
        let ocol = self.col();
        let op = match self.next() {
            Some(Tok::Op(o)) => o,
            Some(t) => {
                return err(
                    ocol,
                    format!("syntax error: unexpected {t:?}, expecting a comparison operator"),
                );
            }
            None => {
                return err(
                    ocol,
                    "syntax error: unexpected end of query, expecting a comparison operator",
                );
            }
        };
        let vcol = self.col();
        let v = self.next().ok_or(ParseError {
            col: vcol,
            msg: "syntax error: unexpected end of query, expecting a value".into(),
        })?;
        match attr {
            Attr::Span(f) => {
                let lit = literal(&f, op, v, vcol)?;
                Ok(Cond::Span(f, op, lit))
            }
            Attr::Trace(t) => {
                let f = match t {
                    TraceField::Duration => Field::DurationNs,
                    _ => Field::Name,
                };
                let lit = literal(&f, op, v, vcol)?;
                Ok(Cond::Trace(t, op, lit))
            }
        }
    }

    fn attribute(&mut self, n: &str, col: usize) -> Result<Attr, ParseError> {
        let f = match n {
            "name" | "span:name" => Field::Name,
            "status" | "span:status" => Field::Status,
            "kind" | "span:kind" => Field::Kind,
            "duration" | "span:duration" => Field::DurationNs,
            "statusMessage" | "span:statusMessage" => Field::StatusMessage,
            "instrumentation:name" => Field::ScopeName,
            "rootName" | "trace:rootName" => return Ok(Attr::Trace(TraceField::RootName)),
            "rootServiceName" | "trace:rootService" => {
                return Ok(Attr::Trace(TraceField::RootService));
            }
            "traceDuration" | "trace:duration" => return Ok(Attr::Trace(TraceField::Duration)),
            _ => {
                let (f, key) = if let Some(k) = n.strip_prefix("span.") {
                    (Field::SpanAttr(k.to_string()), k)
                } else if let Some(k) = n.strip_prefix("resource.") {
                    (Field::ResourceAttr(k.to_string()), k)
                } else if let Some(k) = n.strip_prefix('.') {
                    (Field::AnyAttr(k.to_string()), k)
                } else if n.starts_with("event.")
                    || n.starts_with("link.")
                    || n.starts_with("instrumentation.")
                {
                    return err(col, format!("scope of {n:?} is not supported"));
                } else {
                    return err(
                        col,
                        format!(
                            "unknown attribute {n:?}; use span., resource. or . before attribute names"
                        ),
                    );
                };
                if key.is_empty() {
                    return err(col, "empty attribute name");
                }
                if !self.attrs.iter().any(|a| a == key) {
                    self.attrs.push(key.to_string());
                }
                f
            }
        };
        Ok(Attr::Span(f))
    }
}

fn literal(f: &Field, op: Op, v: Tok, col: usize) -> Result<Lit, ParseError> {
    if matches!(op, Op::Re | Op::NotRe) {
        let Tok::Str(s) = v else {
            return err(col, "regular expression must be a string");
        };
        return Regex::new(&format!("^(?s:{s})$"))
            .map(Lit::Regex)
            .map_err(|e| ParseError {
                col,
                msg: format!("invalid regex: {e}"),
            });
    }
    Ok(match (f, v) {
        (Field::Status, Tok::Ident(s)) => match s.as_str() {
            "error" => Lit::Status(StatusCode::Error),
            "ok" => Lit::Status(StatusCode::Ok),
            "unset" => Lit::Status(StatusCode::Unset),
            _ => return err(col, format!("invalid status {s:?}: use error, ok or unset")),
        },
        (Field::Kind, Tok::Ident(s)) => match SpanKind::parse(&s) {
            Some(k) => Lit::Kind(k),
            None => return err(col, format!("invalid kind {s:?}")),
        },
        (Field::DurationNs, Tok::Dur(d)) => Lit::DurationNs(d),
        (Field::DurationNs, Tok::Int(0)) => Lit::DurationNs(0),
        (Field::DurationNs, t) => {
            return err(
                col,
                format!("duration needs a duration value like 100ms, not {t:?}"),
            );
        }
        (_, Tok::Str(s)) => Lit::Str(s),
        (_, Tok::Int(i)) => Lit::Int(i),
        (_, Tok::Float(x)) => Lit::Float(x),
        (_, Tok::Dur(d)) => Lit::DurationNs(d),
        (_, Tok::Ident(s)) if s == "true" || s == "false" => Lit::Bool(s == "true"),
        (_, Tok::Ident(s)) if matches!(s.as_str(), "error" | "ok" | "unset") => Lit::Str(s),
        (_, t) => {
            return err(
                col,
                format!("syntax error: unexpected {t:?}, expecting a value"),
            );
        }
    })
}

pub fn parse(q: &str) -> Result<Query, ParseError> {
    let toks = lex(q)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end_col: q.chars().count() + 1,
        attrs: Vec::new(),
    };
    let root = p.spanset_expr()?;
    if let Some(t) = p.peek().cloned() {
        let col = p.col();
        return if t == Tok::Pipe {
            err(
                col,
                "pipelines (| count(), | select(), ...) are not supported",
            )
        } else {
            err(col, format!("syntax error: unexpected {t:?}"))
        };
    }
    Ok(Query {
        root,
        attrs: p.attrs,
    })
}

/// Trace facts for trace-level conditions.
pub struct TraceCtx<'a> {
    pub root: Option<&'a Span>,
    pub duration_ns: u64,
}

impl Cond {
    pub fn eval(&self, s: &Span, t: &TraceCtx) -> bool {
        match self {
            Cond::True => true,
            Cond::Span(f, op, lit) => Expr::Cmp(f.clone(), *op, lit.clone()).matches(s),
            Cond::Trace(tf, op, lit) => {
                // Evaluate through a probe span carrying the trace-level value.
                let Some(root) = t.root else { return false };
                match tf {
                    TraceField::RootName => Expr::Cmp(Field::Name, *op, lit.clone()).matches(root),
                    TraceField::RootService => {
                        Expr::Cmp(Field::Service, *op, lit.clone()).matches(root)
                    }
                    TraceField::Duration => {
                        let probe = Span {
                            start_ns: 0,
                            end_ns: t.duration_ns,
                            ..Default::default()
                        };
                        Expr::Cmp(Field::DurationNs, *op, lit.clone()).matches(&probe)
                    }
                }
            }
            Cond::And(v) => v.iter().all(|c| c.eval(s, t)),
            Cond::Or(v) => v.iter().any(|c| c.eval(s, t)),
        }
    }

    /// A span-level relaxation for the store: trace-level parts become "true".
    fn prefilter(&self) -> Expr {
        match self {
            Cond::True | Cond::Trace(..) => Expr::True,
            Cond::Span(f, op, l) => Expr::Cmp(f.clone(), *op, l.clone()),
            Cond::And(v) => Expr::and(v.iter().map(|c| c.prefilter()).collect()),
            Cond::Or(v) => {
                let parts: Vec<Expr> = v.iter().map(|c| c.prefilter()).collect();
                if parts.iter().any(|e| matches!(e, Expr::True)) {
                    Expr::True
                } else {
                    Expr::Or(parts)
                }
            }
        }
    }

    fn has_trace_level(&self) -> bool {
        match self {
            Cond::Trace(..) => true,
            Cond::And(v) | Cond::Or(v) => v.iter().any(|c| c.has_trace_level()),
            _ => false,
        }
    }
}

impl Spanset {
    /// Spans (indexes into `spans`) of the resulting spanset; empty = the trace does not match.
    pub fn eval(&self, spans: &[Span], t: &TraceCtx) -> Vec<usize> {
        match self {
            Spanset::Filter(c) => (0..spans.len()).filter(|i| c.eval(&spans[*i], t)).collect(),
            Spanset::And(a, b) => {
                let (x, y) = (a.eval(spans, t), b.eval(spans, t));
                if x.is_empty() || y.is_empty() {
                    Vec::new()
                } else {
                    union(x, y)
                }
            }
            Spanset::Or(a, b) => union(a.eval(spans, t), b.eval(spans, t)),
        }
    }

    /// Store pre-filter: traces with at least one span passing it are candidates.
    pub fn prefilter(&self) -> Expr {
        match self {
            Spanset::Filter(c) => c.prefilter(),
            // Both sides must match some span; the store checks one span at a time, so use the first.
            Spanset::And(a, _) => a.prefilter(),
            Spanset::Or(a, b) => match (a.prefilter(), b.prefilter()) {
                (Expr::True, _) | (_, Expr::True) => Expr::True,
                (x, y) => Expr::Or(vec![x, y]),
            },
        }
    }

    /// Whether candidates may be dropped after fetching (so the store should over-fetch).
    pub fn selective_after_fetch(&self) -> bool {
        match self {
            Spanset::Filter(c) => c.has_trace_level(),
            _ => true,
        }
    }
}

fn union(mut a: Vec<usize>, b: Vec<usize>) -> Vec<usize> {
    a.extend(b);
    a.sort_unstable();
    a.dedup();
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grafana_queries() {
        for q in [
            r#"{resource.service.name="gateway" && name="GET /checkout"}"#,
            "{ resource.service.name = \"payment\" && status = error }",
            "{ span.http.response.status_code >= 500 }",
            r#"{ .deployment.environment = "production" }"#,
            "{ duration > 100ms }",
            r#"{ kind = server && span.http.route =~ "/order.*" }"#,
            "{ traceDuration > 1s }",
            r#"{ rootServiceName = "gateway" }"#,
            r#"{ resource.service.name = "a" } && { resource.service.name = "b" }"#,
            r#"{ (name = "a" || name != "b") && span:kind = client }"#,
            r#"{ span."http.method" !~ "PO.*" }"#,
            "{}",
            "{ span.flag = true && .ratio < 0.5 && .count <= -3 }",
        ] {
            parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("{ name = }").unwrap_err();
        assert_eq!(e.col, 10);
        assert!(
            e.to_string().starts_with("parse error at line 1, col 10"),
            "{e}"
        );
        assert_eq!(parse("{ bogus = 1 }").unwrap_err().col, 3);
        assert_eq!(parse(r#"{ name = "x" "#).unwrap_err().col, 14);
        assert_eq!(parse("{ status = broken }").unwrap_err().col, 12);
        assert_eq!(parse("{ duration > 5 }").unwrap_err().col, 14);
        assert!(
            parse("{ name = \"x\" } | count() > 1")
                .unwrap_err()
                .msg
                .contains("pipelines")
        );
        assert_eq!(parse(r#"{ name =~ "(" }"#).unwrap_err().col, 11);
    }

    #[test]
    fn lexes_two_char_operators() {
        let t: Vec<Tok> = lex("a>=1 b!=2 c=~\"x\" d<=3 e!~\"y\" f&&g||h")
            .unwrap()
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert!(t.contains(&Tok::Op(Op::Ge)));
        assert!(t.contains(&Tok::Op(Op::Ne)));
        assert!(t.contains(&Tok::Op(Op::Re)));
        assert!(t.contains(&Tok::Op(Op::Le)));
        assert!(t.contains(&Tok::Op(Op::NotRe)));
        assert!(t.contains(&Tok::And) && t.contains(&Tok::Or));
    }
}
