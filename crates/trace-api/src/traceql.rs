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
use std::collections::{HashMap, HashSet};

use sightline_traces::span::attr;
use sightline_traces::{Expr, Field, Lit, Op, Span, SpanKind, StatusCode, Value};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    And,
    Or,
    Pipe,
    Comma,
    /// A structural operator that is not also a comparison (`>>`, `<<`, `~`, `!>>`, `&>`, ...).
    Struct(Rel, Mode),
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
            ',' => (Tok::Comma, 1),
            _ if three(&b, i) == "!>>" => (Tok::Struct(Rel::Descendant, Mode::Not), 3),
            _ if three(&b, i) == "!<<" => (Tok::Struct(Rel::Ancestor, Mode::Not), 3),
            _ if three(&b, i) == "&>>" => (Tok::Struct(Rel::Descendant, Mode::Union), 3),
            _ if three(&b, i) == "&<<" => (Tok::Struct(Rel::Ancestor, Mode::Union), 3),
            _ if two == ">>" => (Tok::Struct(Rel::Descendant, Mode::Normal), 2),
            _ if two == "<<" => (Tok::Struct(Rel::Ancestor, Mode::Normal), 2),
            _ if two == "!>" => (Tok::Struct(Rel::Child, Mode::Not), 2),
            _ if two == "!<" => (Tok::Struct(Rel::Parent, Mode::Not), 2),
            _ if two == "&>" => (Tok::Struct(Rel::Child, Mode::Union), 2),
            _ if two == "&<" => (Tok::Struct(Rel::Parent, Mode::Union), 2),
            _ if two == "&~" => (Tok::Struct(Rel::Sibling, Mode::Union), 2),
            '~' => (Tok::Struct(Rel::Sibling, Mode::Normal), 1),
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

fn three(b: &[char], i: usize) -> String {
    b[i..(i + 3).min(b.len())].iter().collect()
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

/// How a right-hand span relates to a left-hand one in a structural operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rel {
    /// `>`: the right-hand span's parent is a left-hand span.
    Child,
    /// `<`: the right-hand span is the parent of a left-hand span.
    Parent,
    /// `>>`: a left-hand span is an ancestor of the right-hand span.
    Descendant,
    /// `<<`: the right-hand span is an ancestor of a left-hand span.
    Ancestor,
    /// `~`: same parent, another span.
    Sibling,
}

impl Rel {
    fn inverse(self) -> Rel {
        match self {
            Rel::Child => Rel::Parent,
            Rel::Parent => Rel::Child,
            Rel::Descendant => Rel::Ancestor,
            Rel::Ancestor => Rel::Descendant,
            Rel::Sibling => Rel::Sibling,
        }
    }
}

/// Plain (`>>`: matching right-hand spans), negated (`!>>`: right-hand spans
/// without the relation) or union (`&>>`: matching spans of both sides).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Normal,
    Not,
    Union,
}

#[derive(Debug, Clone)]
pub enum Spanset {
    Filter(Cond),
    And(Box<Spanset>, Box<Spanset>),
    Or(Box<Spanset>, Box<Spanset>),
    Struct(Box<Spanset>, Rel, Mode, Box<Spanset>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AggFn {
    Count,
    Avg,
    Min,
    Max,
    Sum,
}

/// One pipeline stage after `|`.
#[derive(Debug, Clone)]
pub enum Stage {
    /// `| { cond }` or any spanset expression: keeps the spans of each spanset that match.
    Filter(Spanset),
    /// `| avg(duration) > 1s`: keeps spansets whose aggregate compares true.
    Aggregate {
        f: AggFn,
        field: Option<Field>,
        label: String,
        op: Op,
        value: f64,
    },
    /// `| by(resource.service.name)`: splits each spanset per value.
    By { field: Field, label: String },
    /// `| select(span.http.method, ...)`: returns these attributes with the spans.
    Select(Vec<(String, Field)>),
}

#[derive(Debug, Clone)]
pub struct Query {
    pub root: Spanset,
    pub stages: Vec<Stage>,
    /// Attribute keys the query refers to (returned with matched spans).
    pub attrs: Vec<String>,
}

/// One resulting spanset of a trace.
#[derive(Debug, Clone, Default)]
pub struct ResultSet {
    /// Indexes into the trace's spans.
    pub spans: Vec<usize>,
    /// Spanset attributes: `by(...)` values and aggregate results (`count()`).
    pub attrs: Vec<(String, Value)>,
    /// Attributes `select(...)` asks for: (key as returned, field).
    pub select: Vec<(String, Field)>,
}

/// How deeply parentheses may nest. The parser recurses once per level, so
/// without a bound a short query like `{((((...))))}` overflows the thread's
/// stack and aborts the process; past this depth parsing fails instead.
pub const MAX_NESTING_DEPTH: usize = 128;

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end_col: usize,
    attrs: Vec<String>,
    /// Open parentheses around the current position.
    depth: usize,
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
    /// Opens one more level of parentheses at `col`.
    fn enter(&mut self, col: usize) -> Result<(), ParseError> {
        if self.depth >= MAX_NESTING_DEPTH {
            return err(
                col,
                format!("parentheses nested too deeply (more than {MAX_NESTING_DEPTH} levels)"),
            );
        }
        self.depth += 1;
        Ok(())
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

    /// `&&` and `||` share one left-associative level; the structural
    /// operators bind tighter (as in Tempo's grammar).
    fn spanset_expr(&mut self) -> Result<Spanset, ParseError> {
        let mut left = self.spanset_struct()?;
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                    let r = self.spanset_struct()?;
                    left = Spanset::And(Box::new(left), Box::new(r));
                }
                Some(Tok::Or) => {
                    self.pos += 1;
                    let r = self.spanset_struct()?;
                    left = Spanset::Or(Box::new(left), Box::new(r));
                }
                _ => return Ok(left),
            }
        }
    }

    fn spanset_struct(&mut self) -> Result<Spanset, ParseError> {
        let mut left = self.spanset_term()?;
        loop {
            let (rel, mode) = match self.peek() {
                Some(Tok::Struct(r, m)) => (*r, *m),
                Some(Tok::Op(Op::Gt)) => (Rel::Child, Mode::Normal),
                Some(Tok::Op(Op::Lt)) => (Rel::Parent, Mode::Normal),
                Some(Tok::Op(Op::NotRe)) => (Rel::Sibling, Mode::Not),
                Some(Tok::Op(o)) => {
                    let col = self.col();
                    return err(
                        col,
                        format!("syntax error: {o:?} is not an operator between spansets"),
                    );
                }
                _ => return Ok(left),
            };
            self.pos += 1;
            let r = self.spanset_term()?;
            left = Spanset::Struct(Box::new(left), rel, mode, Box::new(r));
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
                self.enter(col)?;
                let s = self.spanset_expr()?;
                if self.peek() == Some(&Tok::Pipe) {
                    let c = self.col();
                    return err(c, "pipelines inside parentheses are not supported");
                }
                self.expect(Tok::RParen, ")")?;
                self.depth -= 1;
                Ok(s)
            }
            Some(Tok::Ident(n)) => {
                if METRICS_FNS.contains(&n.as_str()) {
                    err(
                        col,
                        format!("metrics function {n}() is not supported in search"),
                    )
                } else {
                    err(col, format!("syntax error: unexpected {n:?}, expecting {{"))
                }
            }
            Some(t) => err(col, format!("syntax error: unexpected {t:?}, expecting {{")),
            None => err(col, "syntax error: unexpected end of query, expecting {"),
        }
    }

    /// One stage after `|`.
    fn stage(&mut self) -> Result<Stage, ParseError> {
        let col = self.col();
        let name = match self.peek() {
            Some(Tok::LBrace) | Some(Tok::LParen) => {
                return Ok(Stage::Filter(self.spanset_expr()?));
            }
            Some(Tok::Ident(n)) => n.clone(),
            Some(t) => {
                let t = t.clone();
                return err(
                    col,
                    format!("syntax error: unexpected {t:?}, expecting a pipeline stage"),
                );
            }
            None => {
                return err(
                    col,
                    "syntax error: unexpected end of query, expecting a pipeline stage",
                );
            }
        };
        self.pos += 1;
        let f = match name.as_str() {
            "count" => AggFn::Count,
            "avg" => AggFn::Avg,
            "min" => AggFn::Min,
            "max" => AggFn::Max,
            "sum" => AggFn::Sum,
            "by" => {
                self.expect(Tok::LParen, "(")?;
                let (text, field) = self.stage_field()?;
                if self.peek() == Some(&Tok::Comma) {
                    let c = self.col();
                    return err(c, "by() takes one attribute");
                }
                self.expect(Tok::RParen, ")")?;
                return Ok(Stage::By {
                    field,
                    label: format!("by({text})"),
                });
            }
            "select" => {
                self.expect(Tok::LParen, "(")?;
                let mut v = Vec::new();
                loop {
                    let (text, field) = self.stage_field()?;
                    let key = attr_key(&field).map(str::to_string).unwrap_or(text);
                    v.push((key, field));
                    if self.peek() == Some(&Tok::Comma) {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                self.expect(Tok::RParen, ")")?;
                return Ok(Stage::Select(v));
            }
            "coalesce" => return err(col, "coalesce() is not supported"),
            n if METRICS_FNS.contains(&n) => {
                return err(
                    col,
                    format!("metrics function {n}() is not supported in search"),
                );
            }
            n => return err(col, format!("unknown pipeline stage {n:?}")),
        };
        self.expect(Tok::LParen, "(")?;
        let (field, label) = if f == AggFn::Count {
            self.expect(Tok::RParen, ")")?;
            (None, "count()".to_string())
        } else {
            let (text, field) = self.stage_field()?;
            self.expect(Tok::RParen, ")")?;
            (Some(field), format!("{name}({text})"))
        };
        let ocol = self.col();
        let op = match self.next() {
            Some(Tok::Op(o)) if !matches!(o, Op::Re | Op::NotRe) => o,
            Some(t) => {
                return err(
                    ocol,
                    format!("syntax error: unexpected {t:?}, expecting a comparison after {label}"),
                );
            }
            None => {
                return err(
                    ocol,
                    format!("a bare {label} is not supported: compare it, as in {label} > 1"),
                );
            }
        };
        let vcol = self.col();
        let value = match self.next() {
            Some(Tok::Int(i)) => i as f64,
            Some(Tok::Float(x)) => x,
            Some(Tok::Dur(d)) => d as f64,
            Some(t) => {
                return err(
                    vcol,
                    format!("syntax error: unexpected {t:?}, expecting a number or duration"),
                );
            }
            None => {
                return err(
                    vcol,
                    "syntax error: unexpected end of query, expecting a number or duration",
                );
            }
        };
        Ok(Stage::Aggregate {
            f,
            field,
            label,
            op,
            value,
        })
    }

    /// An attribute or span intrinsic inside `by()`, `select()` or an aggregate.
    fn stage_field(&mut self) -> Result<(String, Field), ParseError> {
        let col = self.col();
        match self.next() {
            Some(Tok::Ident(n)) => match self.attribute(&n, col)? {
                Attr::Span(f) => Ok((n, f)),
                Attr::Trace(_) => err(
                    col,
                    format!("trace-level intrinsic {n:?} is not supported here"),
                ),
            },
            Some(t) => err(
                col,
                format!("syntax error: unexpected {t:?}, expecting an attribute"),
            ),
            None => err(
                col,
                "syntax error: unexpected end of query, expecting an attribute",
            ),
        }
    }

    /// `&&` and `||` inside a filter share one left-associative level, as in
    /// Tempo's grammar (`%left AND OR`): `{ a || b && c }` is `{ (a || b) && c }`.
    fn or_cond(&mut self) -> Result<Cond, ParseError> {
        let mut left = self.unary()?;
        loop {
            let and = match self.peek() {
                Some(Tok::And) => true,
                Some(Tok::Or) => false,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.unary()?;
            left = match (and, left) {
                (true, Cond::And(mut v)) => {
                    v.push(right);
                    Cond::And(v)
                }
                (false, Cond::Or(mut v)) => {
                    v.push(right);
                    Cond::Or(v)
                }
                (true, l) => Cond::And(vec![l, right]),
                (false, l) => Cond::Or(vec![l, right]),
            };
        }
    }

    fn unary(&mut self) -> Result<Cond, ParseError> {
        if self.peek() == Some(&Tok::LParen) {
            self.enter(self.col())?;
            self.pos += 1;
            let c = self.or_cond()?;
            self.expect(Tok::RParen, ")")?;
            self.depth -= 1;
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

/// Names of TraceQL metrics functions (rejected by name in search).
const METRICS_FNS: &[&str] = &[
    "rate",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
    "topk",
    "bottomk",
];

/// The attribute key a field is returned under, for attribute fields.
fn attr_key(f: &Field) -> Option<&str> {
    match f {
        Field::SpanAttr(k) | Field::ResourceAttr(k) | Field::AnyAttr(k) => Some(k),
        _ => None,
    }
}

pub fn parse(q: &str) -> Result<Query, ParseError> {
    let toks = lex(q)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end_col: q.chars().count() + 1,
        attrs: Vec::new(),
        depth: 0,
    };
    let root = p.spanset_expr()?;
    let mut stages = Vec::new();
    while p.peek() == Some(&Tok::Pipe) {
        p.pos += 1;
        stages.push(p.stage()?);
    }
    if let Some(t) = p.peek().cloned() {
        let col = p.col();
        return if matches!(t, Tok::And | Tok::Or) && !stages.is_empty() {
            err(col, "combining pipelines with && or || is not supported")
        } else {
            err(col, format!("syntax error: unexpected {t:?}"))
        };
    }
    Ok(Query {
        root,
        stages,
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

/// Parent links of a trace's spans, for the structural operators.
pub struct Tree {
    parent: Vec<Option<usize>>,
}

impl Tree {
    pub fn new(spans: &[Span]) -> Tree {
        let by_id: HashMap<[u8; 8], usize> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span_id, i))
            .collect();
        let parent = spans
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if s.is_root() {
                    None
                } else {
                    by_id.get(&s.parent_span_id).copied().filter(|p| *p != i)
                }
            })
            .collect();
        Tree { parent }
    }

    /// Ancestors of `i`, nearest first (bounded, so a cyclic parent chain ends).
    fn ancestors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let mut cur = self.parent.get(i).copied().flatten();
        let mut left = self.parent.len();
        std::iter::from_fn(move || {
            let c = cur?;
            if left == 0 {
                return None;
            }
            left -= 1;
            cur = self.parent[c];
            Some(c)
        })
    }
}

/// The spans of `onto` that stand in `rel` to some span of `from`
/// (`Rel::Child`: `onto` spans whose parent is in `from`).
fn related(rel: Rel, from: &[usize], onto: &[usize], spans: &[Span], tree: &Tree) -> Vec<usize> {
    let from_set: HashSet<usize> = from.iter().copied().collect();
    match rel {
        Rel::Child => {
            // Parent by ID, so a child whose parent span is missing still relates to nothing.
            let ids: HashSet<[u8; 8]> = from.iter().map(|i| spans[*i].span_id).collect();
            onto.iter()
                .copied()
                .filter(|i| !spans[*i].is_root() && ids.contains(&spans[*i].parent_span_id))
                .collect()
        }
        Rel::Parent => {
            let parents: HashSet<usize> = from.iter().filter_map(|i| tree.parent[*i]).collect();
            onto.iter()
                .copied()
                .filter(|i| parents.contains(i))
                .collect()
        }
        Rel::Descendant => onto
            .iter()
            .copied()
            .filter(|i| tree.ancestors(*i).any(|a| from_set.contains(&a)))
            .collect(),
        Rel::Ancestor => {
            let mut anc = HashSet::new();
            for i in from {
                anc.extend(tree.ancestors(*i));
            }
            onto.iter().copied().filter(|i| anc.contains(i)).collect()
        }
        Rel::Sibling => {
            let mut parents: HashMap<[u8; 8], usize> = HashMap::new();
            for i in from {
                if !spans[*i].is_root() {
                    *parents.entry(spans[*i].parent_span_id).or_default() += 1;
                }
            }
            onto.iter()
                .copied()
                .filter(|i| {
                    let s = &spans[*i];
                    if s.is_root() {
                        return false;
                    }
                    let n = parents.get(&s.parent_span_id).copied().unwrap_or(0);
                    // A span is not its own sibling.
                    n > usize::from(from_set.contains(i))
                })
                .collect()
        }
    }
}

impl Spanset {
    /// Spans of the resulting spanset among the candidates `cand` (indexes
    /// into `spans`); empty = no match.
    pub fn eval(&self, cand: &[usize], spans: &[Span], t: &TraceCtx, tree: &Tree) -> Vec<usize> {
        match self {
            Spanset::Filter(c) => cand
                .iter()
                .copied()
                .filter(|i| c.eval(&spans[*i], t))
                .collect(),
            Spanset::And(a, b) => {
                let x = a.eval(cand, spans, t, tree);
                if x.is_empty() {
                    return x;
                }
                let y = b.eval(cand, spans, t, tree);
                if y.is_empty() { y } else { union(x, y) }
            }
            Spanset::Or(a, b) => union(a.eval(cand, spans, t, tree), b.eval(cand, spans, t, tree)),
            Spanset::Struct(a, rel, mode, b) => {
                let l = a.eval(cand, spans, t, tree);
                let r = b.eval(cand, spans, t, tree);
                match mode {
                    Mode::Normal => related(*rel, &l, &r, spans, tree),
                    Mode::Not => {
                        let yes: HashSet<usize> =
                            related(*rel, &l, &r, spans, tree).into_iter().collect();
                        r.into_iter().filter(|i| !yes.contains(i)).collect()
                    }
                    Mode::Union => {
                        let rr = related(*rel, &l, &r, spans, tree);
                        if rr.is_empty() {
                            return rr;
                        }
                        let ll = related(rel.inverse(), &rr, &l, spans, tree);
                        union(ll, rr)
                    }
                }
            }
        }
    }

    /// Store pre-filter: traces with at least one span passing it are candidates.
    pub fn prefilter(&self) -> Expr {
        match self {
            Spanset::Filter(c) => c.prefilter(),
            // Both sides must match some span; the store checks one span at a time, so use the first.
            Spanset::And(a, _) => a.prefilter(),
            Spanset::Struct(a, _, Mode::Normal | Mode::Union, _) => a.prefilter(),
            Spanset::Struct(_, _, Mode::Not, b) => b.prefilter(),
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

/// A span's value for a field, as `by()`, `select()` and aggregates read it.
pub fn field_value(s: &Span, f: &Field) -> Option<Value> {
    let text = |x: &str| Some(Value::Str(x.to_string()));
    match f {
        Field::Service => text(s.service()),
        Field::Name => text(&s.name),
        Field::Kind => text(s.kind.as_str()),
        Field::Status => text(s.status_code.as_str()),
        Field::StatusMessage => text(&s.status_message),
        Field::ScopeName => text(&s.scope.name),
        Field::DurationNs => Some(Value::Int(s.duration_ns() as i64)),
        Field::SpanAttr(k) => attr(&s.attrs, k).cloned(),
        Field::ResourceAttr(k) => attr(&s.resource.attrs, k)
            .cloned()
            .or_else(|| (k == "service.name").then(|| Value::Str(s.service().to_string()))),
        Field::AnyAttr(k) => attr(&s.attrs, k)
            .or_else(|| attr(&s.resource.attrs, k))
            .cloned(),
        Field::Tag(_) => None,
    }
}

fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Double(d) => Some(*d),
        _ => None,
    }
}

fn cmp_f64(a: f64, op: Op, b: f64) -> bool {
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

/// Go's `time.Duration` text (`1.5s`, `250ms`, `1m30s`), as Tempo prints duration aggregates.
pub fn go_duration(ns: u64) -> String {
    fn frac(v: u64, unit: u64) -> String {
        let (i, f) = (v / unit, v % unit);
        if f == 0 {
            return i.to_string();
        }
        let w = unit.to_string().len() - 1;
        let fs = format!("{f:0w$}");
        format!("{i}.{}", fs.trim_end_matches('0'))
    }
    match ns {
        0 => "0s".into(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => format!("{}µs", frac(n, 1_000)),
        n if n < 1_000_000_000 => format!("{}ms", frac(n, 1_000_000)),
        n => {
            let (h, m) = (n / 3_600_000_000_000, (n / 60_000_000_000) % 60);
            let sec = frac(n % 60_000_000_000, 1_000_000_000);
            if h > 0 {
                format!("{h}h{m}m{sec}s")
            } else if m > 0 {
                format!("{m}m{sec}s")
            } else {
                format!("{sec}s")
            }
        }
    }
}

impl Stage {
    fn apply(
        &self,
        input: Vec<ResultSet>,
        spans: &[Span],
        t: &TraceCtx,
        tree: &Tree,
    ) -> Vec<ResultSet> {
        let mut out = Vec::new();
        for mut set in input {
            match self {
                Stage::Filter(ss) => {
                    let r = ss.eval(&set.spans, spans, t, tree);
                    if !r.is_empty() {
                        set.spans = r;
                        out.push(set);
                    }
                }
                Stage::Aggregate {
                    f,
                    field,
                    label,
                    op,
                    value,
                } => {
                    // As Tempo: spans without a (numeric) value are skipped, and a
                    // spanset with no values at all has no aggregate and drops out.
                    let vals: Vec<Value> = match field {
                        None => Vec::new(),
                        Some(fd) => set
                            .spans
                            .iter()
                            .filter_map(|i| field_value(&spans[*i], fd))
                            .filter(|v| numeric(v).is_some())
                            .collect(),
                    };
                    if *f != AggFn::Count && vals.is_empty() {
                        continue;
                    }
                    let nums = || vals.iter().filter_map(numeric);
                    let all_int = vals.iter().all(|v| matches!(v, Value::Int(_)));
                    let pick = |better: fn(f64, f64) -> bool| {
                        vals.iter()
                            .cloned()
                            .reduce(|a, b| {
                                if better(numeric(&b).unwrap(), numeric(&a).unwrap()) {
                                    b
                                } else {
                                    a
                                }
                            })
                            .unwrap()
                    };
                    // Results keep their type as in Tempo: min/max the value's, sum of ints an int.
                    let result = match f {
                        AggFn::Count => Value::Int(set.spans.len() as i64),
                        AggFn::Sum if all_int => Value::Int(
                            vals.iter()
                                .map(|v| if let Value::Int(i) = v { *i } else { 0 })
                                .fold(0i64, i64::saturating_add),
                        ),
                        AggFn::Sum => Value::Double(nums().sum()),
                        AggFn::Avg => Value::Double(nums().sum::<f64>() / vals.len() as f64),
                        AggFn::Min => pick(|a, b| a < b),
                        AggFn::Max => pick(|a, b| a > b),
                    };
                    let x = numeric(&result).unwrap_or(f64::NAN);
                    if !cmp_f64(x, *op, *value) {
                        continue;
                    }
                    let v = match field {
                        Some(Field::DurationNs) if *f != AggFn::Count && x >= 0.0 => {
                            Value::Str(go_duration(x.round() as u64))
                        }
                        _ => result,
                    };
                    set.attrs.push((label.clone(), v));
                    out.push(set);
                }
                Stage::By { field, label } => {
                    let mut groups: Vec<(Option<Value>, Vec<usize>)> = Vec::new();
                    for i in &set.spans {
                        let v = field_value(&spans[*i], field);
                        match groups.iter_mut().find(|(k, _)| *k == v) {
                            Some(g) => g.1.push(*i),
                            None => groups.push((v, vec![*i])),
                        }
                    }
                    for (k, members) in groups {
                        let mut g = set.clone();
                        g.spans = members;
                        // Tempo groups spans without the value under nil, printed "nil".
                        g.attrs
                            .push((label.clone(), k.unwrap_or_else(|| Value::Str("nil".into()))));
                        out.push(g);
                    }
                }
                Stage::Select(fields) => {
                    for f in fields {
                        if !set.select.iter().any(|(k, _)| *k == f.0) {
                            set.select.push(f.clone());
                        }
                    }
                    out.push(set);
                }
            }
        }
        out
    }
}

impl Query {
    /// The trace's resulting spansets; empty = the trace does not match.
    pub fn eval(&self, spans: &[Span], t: &TraceCtx) -> Vec<ResultSet> {
        let tree = Tree::new(spans);
        let all: Vec<usize> = (0..spans.len()).collect();
        let first = self.root.eval(&all, spans, t, &tree);
        if first.is_empty() {
            return Vec::new();
        }
        let mut sets = vec![ResultSet {
            spans: first,
            ..Default::default()
        }];
        for st in &self.stages {
            sets = st.apply(sets, spans, t, &tree);
            if sets.is_empty() {
                break;
            }
        }
        sets
    }

    /// Store pre-filter (see [`Spanset::prefilter`]); stages only narrow the result.
    pub fn prefilter(&self) -> Expr {
        self.root.prefilter()
    }

    pub fn selective_after_fetch(&self) -> bool {
        !self.stages.is_empty() || self.root.selective_after_fetch()
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
    fn nesting_depth_is_bounded() {
        // Found by fuzzing: deep parentheses overflowed the stack, aborting
        // the process instead of returning an error.
        std::thread::Builder::new()
            .stack_size(2 << 20) // a tokio worker's default
            .spawn(|| {
                let d = MAX_NESTING_DEPTH;
                let ok = format!(
                    "{}{{{}.a = 1{}}}{}",
                    "(".repeat(d / 2),
                    "(".repeat(d / 2),
                    ")".repeat(d / 2),
                    ")".repeat(d / 2)
                );
                parse(&ok).unwrap();
                let n = 100_000;
                for q in [
                    format!("{{{}.a = 1{}}}", "(".repeat(d + 1), ")".repeat(d + 1)),
                    format!("{{{}.a = 1{}}}", "(".repeat(n), ")".repeat(n)),
                    format!("{}{{}}{}", "(".repeat(n), ")".repeat(n)),
                ] {
                    let e = parse(&q).unwrap_err();
                    assert!(e.msg.contains("nested too deeply"), "{e}");
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

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

    fn span(id: u8, parent: u8, svc: &str, name: &str, ms: u64) -> Span {
        use sightline_traces::span::Resource;
        use std::sync::Arc;
        Span {
            trace_id: [7; 16],
            span_id: [id; 8],
            parent_span_id: [parent; 8],
            name: name.into(),
            start_ns: 1_000,
            end_ns: 1_000 + ms * 1_000_000,
            attrs: vec![("http.method".into(), Value::Str(format!("M{id}")))],
            resource: Arc::new(Resource::new(vec![(
                "service.name".into(),
                Value::Str(svc.into()),
            )])),
            ..Default::default()
        }
    }

    /// gateway root → checkout → (payment charge, inventory reserve); gateway → payment refund.
    fn trace() -> Vec<Span> {
        vec![
            span(1, 0, "gateway", "GET /checkout", 100),
            span(2, 1, "checkout", "checkout", 80),
            span(3, 2, "payment", "charge", 50),
            span(4, 2, "inventory", "reserve", 20),
            span(5, 1, "payment", "refund", 10),
        ]
    }

    fn run(q: &str) -> Vec<ResultSet> {
        let spans = trace();
        let ctx = TraceCtx {
            root: spans.first(),
            duration_ns: 100_000_000,
        };
        parse(q)
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .eval(&spans, &ctx)
    }

    /// Span indexes of the single resulting spanset (empty when nothing matched).
    fn spans_of(q: &str) -> Vec<usize> {
        let r = run(q);
        assert!(r.len() <= 1, "{q}: {r:?}");
        r.into_iter().next().map(|s| s.spans).unwrap_or_default()
    }

    #[test]
    fn field_and_or_share_one_left_associative_level() {
        // Tempo: `{ a || b && c }` is `{ (a || b) && c }`, not `a || (b && c)`.
        assert_eq!(
            spans_of(
                r#"{ name = "charge" || name = "refund" && resource.service.name = "gateway" }"#
            ),
            Vec::<usize>::new()
        );
        assert_eq!(
            spans_of(
                r#"{ name = "charge" || (name = "refund" && resource.service.name = "gateway") }"#
            ),
            vec![2]
        );
        assert_eq!(
            spans_of(r#"{ name = "x" && name = "charge" || resource.service.name = "payment" }"#),
            vec![2, 4]
        );
    }

    #[test]
    fn structural_operators() {
        let checkout = r#"{resource.service.name="checkout"}"#;
        let payment = r#"{resource.service.name="payment"}"#;
        let root = r#"{name="GET /checkout"}"#;
        assert_eq!(spans_of(&format!("{checkout} >> {payment}")), vec![2]);
        assert_eq!(spans_of(&format!("{root} >> {payment}")), vec![2, 4]);
        assert_eq!(spans_of(&format!("{root} > {payment}")), vec![4]);
        assert_eq!(spans_of(&format!("{checkout} > {payment}")), vec![2]);
        assert_eq!(spans_of(&format!("{payment} > {{}}")), Vec::<usize>::new());
        assert_eq!(spans_of(&format!("{checkout} !>> {payment}")), vec![4]);
        assert_eq!(spans_of(&format!("{checkout} &>> {payment}")), vec![1, 2]);
        assert_eq!(spans_of(&format!("{root} &> {{}}")), vec![0, 1, 4]);
        assert_eq!(spans_of(&format!("{root} !> {{}}")), vec![0, 2, 3]);
        // Ancestors and parents of the right-hand side.
        assert_eq!(spans_of(r#"{name="charge"} << {}"#), vec![0, 1]);
        assert_eq!(spans_of(r#"{name="charge"} < {}"#), vec![1]);
        assert_eq!(spans_of(r#"{name="charge"} &< {}"#), vec![1, 2]);
        assert_eq!(spans_of(r#"{name="charge"} !< {}"#), vec![0, 2, 3, 4]);
        assert_eq!(spans_of(r#"{name="charge"} !<< {}"#), vec![2, 3, 4]);
        assert_eq!(spans_of(r#"{name="charge"} &<< {}"#), vec![0, 1, 2]);
        // Siblings: same parent, never the span itself.
        assert_eq!(spans_of(r#"{name="charge"} ~ {}"#), vec![3]);
        assert_eq!(
            spans_of(r#"{name="charge"} ~ {name="charge"}"#),
            Vec::<usize>::new()
        );
        assert_eq!(spans_of(r#"{name="charge"} !~ {}"#), vec![0, 1, 2, 4]);
        assert_eq!(
            spans_of(r#"{name="charge"} &~ {name="reserve"}"#),
            vec![2, 3]
        );
        assert_eq!(spans_of(r#"{name="refund"} ~ {}"#), vec![1]);
        // Chains are left-associative; structural binds tighter than && and ||.
        assert_eq!(
            spans_of(&format!("{root} > {checkout} > {payment}")),
            vec![2]
        );
        assert_eq!(
            spans_of(&format!(r#"{{name="x"}} || {checkout} >> {payment}"#)),
            vec![2]
        );
        // `&&` and `||` are one left-associative level: (x || charge) && reserve.
        assert_eq!(
            spans_of(r#"{name="x"} || {name="charge"} && {name="reserve"}"#),
            vec![2, 3]
        );
        assert_eq!(
            spans_of(r#"{name="charge"} || {name="refund"} && {name="x"}"#),
            Vec::<usize>::new()
        );
        assert_eq!(
            spans_of(&format!(r#"{{name="refund"}} && {checkout} >> {payment}"#)),
            vec![2, 4]
        );
        // A missing parent span breaks descent but not the child relation by ID.
        let mut spans = trace();
        spans.remove(1);
        let ctx = TraceCtx {
            root: spans.first(),
            duration_ns: 0,
        };
        let q = parse(&format!("{root} >> {payment}")).unwrap();
        assert_eq!(q.eval(&spans, &ctx)[0].spans, vec![3]);
        let q = parse(r#"{name="charge"} ~ {}"#).unwrap();
        assert_eq!(q.eval(&spans, &ctx)[0].spans, vec![2]);
    }

    fn attrs_of(r: &ResultSet) -> Vec<(String, Value)> {
        r.attrs.clone()
    }

    #[test]
    fn aggregates() {
        assert_eq!(run("{} | count() > 4").len(), 1);
        assert!(run("{} | count() > 5").is_empty());
        let r = run("{} | count() = 5");
        assert_eq!(attrs_of(&r[0]), vec![("count()".into(), Value::Int(5))]);
        // (100 + 80 + 50 + 20 + 10) / 5 = 52ms
        let r = run("{} | avg(duration) > 50ms");
        assert_eq!(r[0].spans.len(), 5);
        assert_eq!(
            attrs_of(&r[0]),
            vec![("avg(duration)".into(), Value::Str("52ms".into()))]
        );
        assert!(run("{} | avg(duration) > 52ms").is_empty());
        assert_eq!(run("{} | min(duration) = 10ms").len(), 1);
        assert_eq!(run("{} | max(duration) >= 100ms").len(), 1);
        assert!(run("{} | max(duration) > 100ms").is_empty());
        assert_eq!(run("{} | sum(duration) = 260ms").len(), 1);
        assert_eq!(run("{} | sum(duration) < 0.3s").len(), 1);
        // Aggregates over the spans the query selected.
        assert_eq!(
            run(r#"{ resource.service.name = "payment" } | count() = 2 | avg(duration) = 30ms"#)
                .len(),
            1
        );
        // Non-numeric values do not count toward numeric aggregates; a spanset
        // without any value has no aggregate, whatever the comparison.
        assert!(run("{} | avg(span.http.method) > 0").is_empty());
        assert!(run("{} | min(span.nope) != 1").is_empty());
        assert!(run("{} | max(span.nope) < 1").is_empty());
        assert!(run("{} | count() != 5").is_empty());
        assert_eq!(run("{} | count() <= 5.5").len(), 1);
    }

    #[test]
    fn aggregate_value_types() {
        let mut spans = trace();
        for (i, s) in spans.iter_mut().enumerate() {
            s.attrs.push(("n".into(), Value::Int(i as i64 + 1)));
            s.attrs.push(("x".into(), Value::Double(i as f64 + 0.5)));
        }
        spans[4].attrs.retain(|(k, _)| k != "n");
        let ctx = TraceCtx {
            root: spans.first(),
            duration_ns: 0,
        };
        let agg = |q: &str| {
            let r = parse(q).unwrap().eval(&spans, &ctx);
            assert_eq!(r.len(), 1, "{q}");
            r[0].attrs.last().unwrap().1.clone()
        };
        // The span without `n` is skipped: values 1..=4.
        assert_eq!(agg("{} | sum(span.n) = 10"), Value::Int(10));
        assert_eq!(agg("{} | max(span.n) = 4"), Value::Int(4));
        assert_eq!(agg("{} | min(.n) = 1"), Value::Int(1));
        assert_eq!(agg("{} | avg(span.n) = 2.5"), Value::Double(2.5));
        assert_eq!(agg("{} | max(span.x) > 4"), Value::Double(4.5));
        assert_eq!(agg("{} | sum(span.x) = 12.5"), Value::Double(12.5));
        assert_eq!(agg("{} | min(duration) < 1s"), Value::Str("10ms".into()));
    }

    #[test]
    fn by_select_and_filters() {
        let r = run("{} | by(resource.service.name)");
        type Group = (Vec<usize>, Vec<(String, Value)>);
        let groups: Vec<Group> = r
            .iter()
            .map(|s| (s.spans.clone(), s.attrs.clone()))
            .collect();
        let by = |v: &str| {
            vec![(
                "by(resource.service.name)".to_string(),
                Value::Str(v.into()),
            )]
        };
        assert_eq!(
            groups,
            vec![
                (vec![0], by("gateway")),
                (vec![1], by("checkout")),
                (vec![2, 4], by("payment")),
                (vec![3], by("inventory")),
            ]
        );
        let r = run("{} | by(resource.service.name) | count() > 1");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].spans, vec![2, 4]);
        assert_eq!(
            r[0].attrs,
            vec![
                (
                    "by(resource.service.name)".to_string(),
                    Value::Str("payment".into())
                ),
                ("count()".to_string(), Value::Int(2)),
            ]
        );
        // Spans without the attribute form their own group, with a "nil" value.
        let r = run("{} | by(span.nope)");
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].attrs,
            vec![("by(span.nope)".to_string(), Value::Str("nil".into()))]
        );
        let r = run("{ kind = unspecified } | by(name) | count() = 1");
        assert_eq!(r.len(), 5);

        let r =
            run(r#"{ name = "charge" } | select(span.http.method, resource.service.name, status)"#);
        assert_eq!(r[0].spans, vec![2]);
        let keys: Vec<&str> = r[0].select.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, vec!["http.method", "service.name", "status"]);
        let spans = trace();
        assert_eq!(
            field_value(&spans[2], &r[0].select[0].1),
            Some(Value::Str("M3".into()))
        );

        // Filter stages narrow each spanset; structural expressions work after a pipe too.
        assert_eq!(
            spans_of(r#"{} | { resource.service.name = "payment" } | { duration < 20ms }"#),
            vec![4]
        );
        assert_eq!(
            spans_of(
                r#"{ resource.service.name != "gateway" } | { resource.service.name = "checkout" } > {}"#
            ),
            vec![2, 3]
        );
        assert!(run(r#"{} | { name = "nope" }"#).is_empty());
        let r = run(r#"{} | by(resource.service.name) | { duration > 30ms }"#);
        let sets: Vec<Vec<usize>> = r.iter().map(|s| s.spans.clone()).collect();
        assert_eq!(sets, vec![vec![0], vec![1], vec![2]]);
        // Trace-level conditions still apply in the first stage.
        assert_eq!(
            run(r#"{ rootServiceName = "gateway" } | count() = 5"#).len(),
            1
        );
    }

    #[test]
    fn pipeline_and_structural_errors() {
        for (q, col, what) in [
            (r#"{ name = "x" } | coalesce()"#, 18, "coalesce"),
            ("{ } | rate()", 7, "metrics function rate()"),
            ("rate()", 1, "metrics function rate()"),
            ("{ } | count()", 14, "bare count()"),
            ("{ } | count() > 1 && { }", 19, "combining pipelines"),
            ("{ } | by(a)", 10, "unknown attribute"),
            ("{ } | foo()", 7, "unknown pipeline stage"),
            ("{ } = { }", 5, "not an operator between spansets"),
            ("({ } | count() > 1)", 6, "pipelines inside parentheses"),
            (r#"{ } | avg(duration) > "x""#, 23, "expecting a number"),
            ("{ } | select(rootName)", 14, "trace-level"),
            ("{ } | by(span.a, span.b)", 16, "one attribute"),
            ("{ } | avg() > 1", 11, "expecting an attribute"),
            ("{ } >> ", 8, "expecting {"),
            ("{ } | count() =~ 1", 15, "expecting a comparison"),
            ("{ } |", 6, "expecting a pipeline stage"),
        ] {
            let e = parse(q).unwrap_err();
            assert_eq!(e.col, col, "{q}: {e}");
            assert!(e.msg.contains(what), "{q}: {e}");
        }
        for q in [
            "{ } >> { }",
            "{ } > { }",
            "{ } ~ { }",
            "{ } << { }",
            "{ } < { }",
            "{ } !>> { }",
            "{ } !> { }",
            "{ } !~ { }",
            "{ } !<< { }",
            "{ } !< { }",
            "{ } &>> { }",
            "{ } &> { }",
            "{ } &~ { }",
            "{ } &<< { }",
            "{ } &< { }",
            "{.a.b>1}>>{.c!~\"x\"}",
            r#"{ name = "x" } | count() > 1"#,
            "{ } | select(span.a, .b, resource.c, name, duration)",
            "{ } | by(.x) | count() >= 2 | { } | sum(span.n) < -1.5 | min(.n) != 2 | max(duration) = 1h",
        ] {
            parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(52_000_000), "52ms");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(7), "7ns");
        assert_eq!(go_duration(1_250_000), "1.25ms");
    }
}
