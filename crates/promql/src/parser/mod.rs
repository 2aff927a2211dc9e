//! Hand-written PromQL parser (Prometheus 3.x grammar, including duration
//! expressions, `@`, `anchored`/`smoothed`, `fill()` modifiers and quoted
//! UTF-8 names). Errors carry `line:col` positions like Prometheus's.

pub mod ast;
pub mod functions;
pub mod lexer;
mod printer;

use std::fmt;

use sightline_model::{MatchOp, Matcher};

pub use ast::*;
use lexer::{Tok, Token};
pub use lexer::{format_duration, parse_duration};
pub use printer::{format_float, quote};

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// Byte offset of the problem in the query.
    pub pos: usize,
    pub msg: String,
    /// `line:col` (1-based), filled in by [`parse`].
    pub position: String,
}

impl ParseError {
    pub fn new(pos: usize, msg: String) -> Self {
        ParseError {
            pos,
            msg,
            position: String::new(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: parse error: {}", self.position, self.msg)
    }
}

impl std::error::Error for ParseError {}

/// `line:col` of a byte offset, both 1-based, as Prometheus prints positions.
pub fn line_col(input: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(input.len());
    let before = &input.as_bytes()[..pos];
    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
    let col = match before.iter().rposition(|&c| c == b'\n') {
        Some(nl) => pos - nl,
        None => pos + 1,
    };
    (line, col)
}

/// Parses a PromQL expression.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let res = (|| {
        let toks = lexer::lex(input)?;
        let mut p = Parser {
            toks,
            i: 0,
            allow_empty_selector: false,
        };
        if p.peek() == &Tok::Eof {
            return Err(ParseError::new(0, "no expression found in input".into()));
        }
        let e = p.expr(0)?;
        if p.peek() != &Tok::Eof {
            return Err(p.unexpected());
        }
        Ok(e)
    })();
    res.map_err(|mut e| {
        let (l, c) = line_col(input, e.pos);
        e.position = format!("{l}:{c}");
        e
    })
}

/// Parses a standalone label matcher set like `{job="x"}` or `up{job="x"}`
/// (used for `match[]` API parameters).
pub fn parse_selector(input: &str) -> Result<Vec<Matcher>, ParseError> {
    match parse(input)? {
        Expr::Vector(vs) if vs.offset.is_none() && vs.at.is_none() => Ok(vs.matchers),
        e => Err(ParseError {
            pos: e.pos().start,
            msg: "expected vector selector".into(),
            position: "1:1".into(),
        }),
    }
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    /// Parsing the label-selector argument of `info()`, which may match everything.
    allow_empty_selector: bool,
}

fn kw(t: &Tok, word: &str) -> bool {
    matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(word))
}

fn err<T>(pos: usize, msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError::new(pos, msg.into()))
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].tok
    }
    fn start(&self) -> usize {
        self.toks[self.i.min(self.toks.len() - 1)].start
    }
    fn prev_end(&self) -> usize {
        if self.i == 0 {
            0
        } else {
            self.toks[(self.i - 1).min(self.toks.len() - 1)].end
        }
    }
    fn next(&mut self) -> Token {
        let t = self.toks[self.i.min(self.toks.len() - 1)].clone();
        self.i += 1;
        t
    }
    fn unexpected(&self) -> ParseError {
        ParseError::new(
            self.start(),
            format!("unexpected {}", self.peek().describe()),
        )
    }
    /// Prometheus's wording for input that ends inside an open construct.
    fn unclosed(&self, ctx: &str) -> Option<ParseError> {
        if *self.peek() != Tok::Eof {
            return None;
        }
        let msg = if ctx.contains("label matching") {
            "unexpected end of input inside braces"
        } else if ctx.contains("range") || ctx.contains("subquery") || ctx.contains("step") {
            "unclosed left bracket"
        } else if ctx.contains("function call") || ctx.contains("paren") || ctx.contains("grouping")
        {
            "unclosed left parenthesis"
        } else {
            return None;
        };
        Some(ParseError::new(self.start(), msg.into()))
    }

    fn unexpected_in(&self, ctx: &str) -> ParseError {
        if let Some(e) = self.unclosed(ctx) {
            return e;
        }
        ParseError::new(
            self.start(),
            format!("unexpected {} in {ctx}", self.peek().describe()),
        )
    }
    fn expect(&mut self, t: Tok, ctx: &str) -> Result<Token, ParseError> {
        if *self.peek() == t {
            Ok(self.next())
        } else if let Some(e) = self.unclosed(ctx) {
            Err(e)
        } else {
            Err(ParseError::new(
                self.start(),
                format!(
                    "unexpected {} in {ctx}, expected {}",
                    self.peek().describe(),
                    t.describe()
                ),
            ))
        }
    }

    fn binop(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::Add => BinOp::Add,
            Tok::Sub => BinOp::Sub,
            Tok::Mul => BinOp::Mul,
            Tok::Div => BinOp::Div,
            Tok::Mod => BinOp::Mod,
            Tok::Pow => BinOp::Pow,
            Tok::Eql => BinOp::Eql,
            Tok::Neq => BinOp::Neq,
            Tok::Gtr => BinOp::Gtr,
            Tok::Lss => BinOp::Lss,
            Tok::Gte => BinOp::Gte,
            Tok::Lte => BinOp::Lte,
            Tok::TrimUpper => BinOp::TrimUpper,
            Tok::TrimLower => BinOp::TrimLower,
            t if kw(t, "and") => BinOp::And,
            t if kw(t, "or") => BinOp::Or,
            t if kw(t, "unless") => BinOp::Unless,
            t if kw(t, "atan2") => BinOp::Atan2,
            _ => return None,
        })
    }

    /// Precedence climbing over binary operators; `^` is right-associative.
    fn expr(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        while let Some(op) = self.binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_pos = self.start();
            self.next();
            let (matching, return_bool) = self.bin_modifiers(op, op_pos)?;
            let next_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let rhs = self.expr(next_min)?;
            lhs = build_binary(op, op_pos, lhs, rhs, matching, return_bool)?;
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if matches!(self.peek(), Tok::Add | Tok::Sub) {
            let neg = *self.peek() == Tok::Sub;
            let start = self.start();
            self.next();
            // Unary minus binds tighter than `*` but looser than `^`.
            let e = self.expr(BinOp::Pow.precedence())?;
            let t = e.value_type();
            if t != ValueType::Scalar && t != ValueType::Vector {
                return err(
                    start,
                    format!(
                        "unary expression only allowed on expressions of type scalar or instant vector, got {:?}",
                        t.name()
                    ),
                );
            }
            let pos = Pos {
                start,
                end: e.pos().end,
            };
            if let Expr::Number { val, dur_ms, .. } = e {
                if neg {
                    return Ok(Expr::Number {
                        val: -val,
                        dur_ms: dur_ms.map(|d| -d),
                        pos,
                    });
                }
                return Ok(Expr::Number { val, dur_ms, pos });
            }
            if !neg {
                return Ok(e);
            }
            return Ok(Expr::Unary {
                neg,
                expr: Box::new(e),
                pos,
            });
        }
        let p = self.primary()?;
        self.postfix(p)
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let t = self.next();
        let pos = Pos {
            start: t.start,
            end: t.end,
        };
        match t.tok {
            Tok::Number(v) => Ok(Expr::Number {
                val: v,
                dur_ms: None,
                pos,
            }),
            Tok::Duration(ms) => Ok(Expr::Number {
                val: ms as f64 / 1000.0,
                dur_ms: Some(ms),
                pos,
            }),
            Tok::Str(s) => Ok(Expr::Str { val: s, pos }),
            Tok::LParen => {
                let e = self.expr(0)?;
                let close = self.expect(Tok::RParen, "paren expression")?;
                Ok(Expr::Paren {
                    expr: Box::new(e),
                    pos: Pos {
                        start: t.start,
                        end: close.end,
                    },
                })
            }
            Tok::LBrace => {
                self.i -= 1;
                self.selector(None, t.start)
            }
            Tok::Ident(name) => {
                let lower = name.to_ascii_lowercase();
                if let Some(op) = AggOp::from_name(&name)
                    && (*self.peek() == Tok::LParen
                        || kw(self.peek(), "by")
                        || kw(self.peek(), "without"))
                {
                    return self.aggregate(op, t.start);
                }
                if *self.peek() == Tok::LParen {
                    if lower == "min_of" || lower == "max_of" {
                        let args = self.call_args()?;
                        let name: &'static str = if lower == "min_of" {
                            "min_of"
                        } else {
                            "max_of"
                        };
                        if args.len() != 2 {
                            return err(
                                t.start,
                                format!(
                                    "expected 2 arguments in call to {name}, got {}",
                                    args.len()
                                ),
                            );
                        }
                        return Ok(Expr::DurationFn {
                            name,
                            args,
                            pos: Pos {
                                start: t.start,
                                end: self.prev_end(),
                            },
                        });
                    }
                    let fname = if matches!(lower.as_str(), "step" | "range" | "start" | "end") {
                        lower.as_str()
                    } else {
                        name.as_str()
                    };
                    let Some(func) = functions::lookup(fname) else {
                        return err(t.start, format!("unknown function with name {name:?}"));
                    };
                    return self.call(func, t.start);
                }
                self.selector(Some(name), t.start)
            }
            _ => {
                self.i -= 1;
                Err(self.unexpected())
            }
        }
    }

    fn call_args(&mut self) -> Result<Vec<Expr>, ParseError> {
        self.expect(Tok::LParen, "function call")?;
        let mut args = Vec::new();
        if *self.peek() == Tok::RParen {
            self.next();
            return Ok(args);
        }
        loop {
            args.push(self.expr(0)?);
            match self.peek() {
                Tok::Comma => {
                    self.next();
                    if *self.peek() == Tok::RParen {
                        self.next();
                        return Ok(args);
                    }
                }
                Tok::RParen => {
                    self.next();
                    return Ok(args);
                }
                _ => return Err(self.unexpected_in("function call argument list")),
            }
        }
    }

    /// `info(v, {selector})`: the selector may match everything (`{data=~".*"}`).
    fn info_args(&mut self) -> Result<Vec<Expr>, ParseError> {
        self.expect(Tok::LParen, "function call")?;
        let mut args = vec![self.expr(0)?];
        if *self.peek() == Tok::Comma {
            self.next();
            if *self.peek() != Tok::RParen {
                self.allow_empty_selector = true;
                let e = self.expr(0);
                self.allow_empty_selector = false;
                args.push(e?);
                if *self.peek() == Tok::Comma {
                    self.next();
                }
            }
        }
        if *self.peek() != Tok::RParen {
            return Err(self.unexpected_in("function call argument list"));
        }
        self.next();
        Ok(args)
    }

    fn call(
        &mut self,
        func: &'static functions::Function,
        start: usize,
    ) -> Result<Expr, ParseError> {
        let mut args = if func.name == "info" {
            self.info_args()?
        } else {
            self.call_args()?
        };
        let pos = Pos {
            start,
            end: self.prev_end(),
        };
        let n = args.len();
        let want = func.args.len();
        if func.variadic == 0 && n != want {
            return err(
                start,
                format!(
                    "expected {want} argument(s) in call to {:?}, got {n}",
                    func.name
                ),
            );
        }
        if func.variadic != 0 {
            let min = want - 1;
            if n < min {
                return err(
                    start,
                    format!(
                        "expected at least {min} argument(s) in call to {:?}, got {n}",
                        func.name
                    ),
                );
            }
            if func.variadic > 0 && n > min + func.variadic as usize {
                let max = min + func.variadic as usize;
                return err(
                    start,
                    format!(
                        "expected at most {max} argument(s) in call to {:?}, got {n}",
                        func.name
                    ),
                );
            }
        }
        for (i, a) in args.iter_mut().enumerate() {
            let want_t = if i >= want {
                func.args[want - 1]
            } else {
                func.args[i]
            };
            // Superfluous parentheses around arguments do not matter.
            let got = a.value_type();
            if got != want_t {
                return err(
                    a.pos().start,
                    format!(
                        "expected type {} in call to function {:?}, got {}",
                        want_t.name(),
                        func.name,
                        got.name()
                    ),
                );
            }
        }
        if func.name == "info" && n == 2 && !matches!(args[1].unparen(), Expr::Vector(_)) {
            return err(
                args[1].pos().start,
                "expected label selectors as the second argument to \"info\" function",
            );
        }
        Ok(Expr::Call { func, args, pos })
    }

    fn label_list(&mut self, ctx: &str) -> Result<Vec<String>, ParseError> {
        self.expect(Tok::LParen, ctx)?;
        let mut out = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::RParen => {
                    self.next();
                    return Ok(out);
                }
                Tok::Ident(s) => {
                    self.next();
                    out.push(s);
                }
                Tok::Str(s) => {
                    self.next();
                    out.push(s);
                }
                Tok::Number(v) if v.is_nan() || v.is_infinite() => {
                    // `inf`/`nan` lexed as numbers are valid label names.
                    let t = self.next();
                    out.push(self.text_of(&t));
                }
                _ => return Err(self.unexpected_in("grouping opts, expected label")),
            }
            match self.peek() {
                Tok::Comma => {
                    self.next();
                }
                Tok::RParen => {}
                _ => return Err(self.unexpected_in("grouping opts, expected \",\" or \")\"")),
            }
        }
    }

    fn text_of(&self, t: &Token) -> String {
        match &t.tok {
            Tok::Number(v) if v.is_nan() => "nan".into(),
            _ => "inf".into(),
        }
    }

    fn aggregate(&mut self, op: AggOp, start: usize) -> Result<Expr, ParseError> {
        let mut grouping = Vec::new();
        let mut without = false;
        let mut by = false;
        let mut have_mod = false;
        if kw(self.peek(), "by") || kw(self.peek(), "without") {
            without = kw(self.peek(), "without");
            by = !without;
            self.next();
            grouping = self.label_list("grouping opts")?;
            have_mod = true;
        }
        let mut args = self.call_args()?;
        if !have_mod && (kw(self.peek(), "by") || kw(self.peek(), "without")) {
            without = kw(self.peek(), "without");
            by = !without;
            self.next();
            grouping = self.label_list("grouping opts")?;
        }
        let pos = Pos {
            start,
            end: self.prev_end(),
        };
        let want = if op.has_param() { 2 } else { 1 };
        if args.len() != want {
            return err(
                start,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {want}, got {}",
                    args.len()
                ),
            );
        }
        let expr = args.pop().unwrap();
        let param = args.pop();
        if expr.value_type() != ValueType::Vector {
            return err(
                expr.pos().start,
                format!(
                    "expected type instant vector in aggregation expression, got {}",
                    expr.value_type().name()
                ),
            );
        }
        if let Some(p) = &param {
            let want_t = if op == AggOp::CountValues {
                ValueType::String
            } else {
                ValueType::Scalar
            };
            if p.value_type() != want_t {
                return err(
                    p.pos().start,
                    format!(
                        "expected type {} in aggregation parameter, got {}",
                        want_t.name(),
                        p.value_type().name()
                    ),
                );
            }
        }
        Ok(Expr::Aggregate {
            op,
            expr: Box::new(expr),
            param: param.map(Box::new),
            grouping,
            without,
            by,
            pos,
        })
    }

    /// `name{...}`, `name` or `{...}`.
    fn selector(&mut self, name: Option<String>, start: usize) -> Result<Expr, ParseError> {
        let mut matchers = Vec::new();
        let mut metric = name.clone();
        if let Some(n) = &name {
            matchers.push(Matcher::equal("__name__", n.clone()));
        }
        if *self.peek() == Tok::LBrace {
            self.next();
            loop {
                let t = self.next();
                let lname = match t.tok {
                    Tok::RBrace => break,
                    Tok::Ident(s) => s,
                    Tok::Str(s) => {
                        if matches!(self.peek(), Tok::Comma | Tok::RBrace) {
                            // A bare quoted string is the (UTF-8) metric name.
                            if let Some(prev) = &metric {
                                return err(
                                    t.start,
                                    format!("metric name must not be set twice: {prev:?} or {s:?}"),
                                );
                            }
                            metric = Some(s.clone());
                            matchers.push(Matcher::equal("__name__", s));
                            if *self.peek() == Tok::Comma {
                                self.next();
                            }
                            continue;
                        }
                        s
                    }
                    Tok::Number(v) if v.is_nan() || v.is_infinite() => self.text_of(&t),
                    _ => {
                        self.i -= 1;
                        return Err(self.unexpected_in("label matching"));
                    }
                };
                let op = match self.next().tok {
                    Tok::Assign => MatchOp::Equal,
                    Tok::Neq => MatchOp::NotEqual,
                    Tok::EqlRegex => MatchOp::Regex,
                    Tok::NeqRegex => MatchOp::NotRegex,
                    _ => {
                        self.i -= 1;
                        return Err(
                            self.unexpected_in("label matching, expected label matching operator")
                        );
                    }
                };
                let vt = self.next();
                let Tok::Str(val) = vt.tok else {
                    self.i -= 1;
                    return Err(self.unexpected_in("label matching, expected string"));
                };
                if lname == "__name__"
                    && op == MatchOp::Equal
                    && let Some(prev) = &name
                {
                    return err(
                        t.start,
                        format!("metric name must not be set twice: {prev:?} or {val:?}"),
                    );
                }
                let m = Matcher::new(op, lname, val).map_err(|e| ParseError::new(vt.start, e.0))?;
                matchers.push(m);
                match self.peek() {
                    Tok::Comma => {
                        self.next();
                    }
                    Tok::RBrace => {}
                    _ => return Err(self.unexpected_in("label matching, expected \",\" or \"}\"")),
                }
            }
        }
        let pos = Pos {
            start,
            end: self.prev_end(),
        };
        if !self.allow_empty_selector && !matchers.iter().any(|m| !m.matches_empty()) {
            return err(
                start,
                "vector selector must contain at least one non-empty matcher",
            );
        }
        Ok(Expr::Vector(Box::new(VectorSelector {
            name: metric,
            matchers,
            offset: None,
            at: None,
            anchored: false,
            smoothed: false,
            pos,
        })))
    }

    fn postfix(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
        loop {
            match self.peek() {
                Tok::LBracket => e = self.range_or_subquery(e)?,
                t if kw(t, "offset") => {
                    let start = self.start();
                    self.next();
                    let off = self.offset_operand()?;
                    e = apply_offset(e, off, start, self.prev_end())?;
                }
                Tok::At => {
                    let start = self.start();
                    self.next();
                    let at = self.at_operand()?;
                    e = apply_at(e, at, start, self.prev_end())?;
                }
                t if kw(t, "anchored") || kw(t, "smoothed") => {
                    let anchored = kw(t, "anchored");
                    let start = self.start();
                    self.next();
                    let end = self.prev_end();
                    let vs = match &mut e {
                        Expr::Matrix { vs, pos, .. } => {
                            pos.end = end;
                            vs
                        }
                        Expr::Vector(vs) if !anchored => {
                            vs.pos.end = end;
                            vs
                        }
                        _ => {
                            let which = if anchored { "anchored" } else { "smoothed" };
                            return err(
                                start,
                                format!(
                                    "{which} modifier must be preceded by a range vector selector"
                                ),
                            );
                        }
                    };
                    if vs.anchored || vs.smoothed {
                        return err(
                            start,
                            "anchored and smoothed modifiers may only be set once",
                        );
                    }
                    if anchored {
                        vs.anchored = true
                    } else {
                        vs.smoothed = true
                    }
                }
                _ => return Ok(e),
            }
        }
    }

    fn range_or_subquery(&mut self, e: Expr) -> Result<Expr, ParseError> {
        let lb = self.next();
        let range = self.duration_expr("range")?;
        if *self.peek() == Tok::Colon {
            self.next();
            let step = if *self.peek() == Tok::RBracket {
                None
            } else {
                Some(Box::new(self.duration_expr("step")?))
            };
            self.expect(Tok::RBracket, "subquery selector")?;
            let t = e.value_type();
            if t != ValueType::Vector {
                return err(
                    lb.start,
                    format!(
                        "subquery is only allowed on instant vector, got {} instead",
                        t.name()
                    ),
                );
            }
            let pos = Pos {
                start: e.pos().start,
                end: self.prev_end(),
            };
            return Ok(Expr::Subquery {
                expr: Box::new(e),
                range: Box::new(range),
                step,
                offset: None,
                at: None,
                pos,
            });
        }
        self.expect(Tok::RBracket, "range selector")?;
        match e {
            Expr::Vector(vs) => {
                if vs.offset.is_some() {
                    return err(lb.start, "no offset modifiers allowed before range");
                }
                if vs.at.is_some() {
                    return err(lb.start, "no @ modifiers allowed before range");
                }
                if vs.smoothed {
                    return err(lb.start, "smoothed modifier must come after the range");
                }
                let pos = Pos {
                    start: vs.pos.start,
                    end: self.prev_end(),
                };
                Ok(Expr::Matrix {
                    vs,
                    range: Box::new(range),
                    pos,
                })
            }
            _ => err(lb.start, "ranges only allowed for vector selectors"),
        }
    }

    /// A duration expression inside `[...]`: literals, numbers (seconds),
    /// arithmetic, `step()`, `range()`, `min_of`, `max_of`.
    fn duration_expr(&mut self, ctx: &str) -> Result<Expr, ParseError> {
        let start = self.start();
        if matches!(self.peek(), Tok::RBracket | Tok::Colon) {
            return Err(self.unexpected_in(&format!("{ctx}, expected duration")));
        }
        let e = self.expr(0)?;
        check_duration_expr(&e).map_err(|m| ParseError::new(start, m))?;
        Ok(e)
    }

    /// The operand of `offset`: an optionally signed duration, number,
    /// parenthesised duration expression or duration function.
    fn offset_operand(&mut self) -> Result<Expr, ParseError> {
        let start = self.start();
        let neg = match self.peek() {
            Tok::Sub => {
                self.next();
                Some(true)
            }
            Tok::Add => {
                self.next();
                Some(false)
            }
            _ => None,
        };
        let e = match self.peek() {
            Tok::Number(_) | Tok::Duration(_) | Tok::LParen => self.primary()?,
            Tok::Ident(s)
                if matches!(
                    s.to_ascii_lowercase().as_str(),
                    "step" | "range" | "min_of" | "max_of"
                ) =>
            {
                self.primary()?
            }
            _ => return Err(self.unexpected_in("offset, expected duration")),
        };
        check_duration_expr(&e).map_err(|m| ParseError::new(start, m))?;
        let pos = Pos {
            start,
            end: e.pos().end,
        };
        Ok(match (neg, e) {
            (Some(true), Expr::Number { val, dur_ms, .. }) => Expr::Number {
                val: -val,
                dur_ms: dur_ms.map(|d| -d),
                pos,
            },
            (Some(true), e) => Expr::Unary {
                neg: true,
                expr: Box::new(e),
                pos,
            },
            (_, e) => e,
        })
    }

    fn at_operand(&mut self) -> Result<AtModifier, ParseError> {
        let start = self.start();
        if kw(self.peek(), "start") || kw(self.peek(), "end") {
            let is_start = kw(self.peek(), "start");
            self.next();
            self.expect(Tok::LParen, "@ modifier")?;
            self.expect(Tok::RParen, "@ modifier")?;
            return Ok(if is_start {
                AtModifier::Start
            } else {
                AtModifier::End
            });
        }
        let neg = if *self.peek() == Tok::Sub {
            self.next();
            true
        } else {
            if *self.peek() == Tok::Add {
                self.next();
            }
            false
        };
        let v = match self.next().tok {
            Tok::Number(v) => v,
            Tok::Duration(ms) => ms as f64 / 1000.0,
            _ => {
                self.i -= 1;
                return Err(self.unexpected_in("@ modifier, expected timestamp"));
            }
        };
        let v = if neg { -v } else { v };
        if !v.is_finite() || v * 1000.0 > i64::MAX as f64 || v * 1000.0 < i64::MIN as f64 {
            return err(
                start,
                format!("timestamp out of bounds for @ modifier: {v}"),
            );
        }
        Ok(AtModifier::Time((v * 1000.0).round() as i64))
    }

    /// `bool`, `on(...)`/`ignoring(...)`, `group_left(...)`/`group_right(...)`, `fill*(...)`.
    fn bin_modifiers(
        &mut self,
        op: BinOp,
        op_pos: usize,
    ) -> Result<(Option<VectorMatching>, bool), ParseError> {
        let mut return_bool = false;
        if kw(self.peek(), "bool") {
            if !op.is_comparison() {
                return err(
                    self.start(),
                    "bool modifier can only be used on comparison operators",
                );
            }
            self.next();
            return_bool = true;
        }
        let mut m = VectorMatching {
            card: if op.is_set() {
                Card::ManyToMany
            } else {
                Card::OneToOne
            },
            labels: Vec::new(),
            on: false,
            include: Vec::new(),
            fill_lhs: None,
            fill_rhs: None,
        };
        let mut explicit = false;
        if kw(self.peek(), "on") || kw(self.peek(), "ignoring") {
            m.on = kw(self.peek(), "on");
            self.next();
            m.labels = self.label_list("grouping opts")?;
            explicit = true;
            if kw(self.peek(), "group_left") || kw(self.peek(), "group_right") {
                let left = kw(self.peek(), "group_left");
                let gpos = self.start();
                self.next();
                if op.is_set() {
                    return err(
                        gpos,
                        format!("no grouping allowed for {:?} operation", op.as_str()),
                    );
                }
                m.card = if left {
                    Card::ManyToOne
                } else {
                    Card::OneToMany
                };
                if *self.peek() == Tok::LParen {
                    m.include = self.label_list("grouping opts")?;
                }
                for l in &m.include {
                    if m.on && m.labels.contains(l) {
                        return err(
                            gpos,
                            format!("label {l:?} must not occur in ON and GROUP clause at once"),
                        );
                    }
                }
            }
        }
        loop {
            // Without a parenthesis `fill` is just a metric name.
            if *self.peek_at(1) != Tok::LParen {
                break;
            }
            let (l, r) = if kw(self.peek(), "fill") {
                (true, true)
            } else if kw(self.peek(), "fill_left") {
                (true, false)
            } else if kw(self.peek(), "fill_right") {
                (false, true)
            } else {
                break;
            };
            self.next();
            self.expect(Tok::LParen, "fill modifier")?;
            let neg = match self.peek() {
                Tok::Sub => {
                    self.next();
                    true
                }
                Tok::Add => {
                    self.next();
                    false
                }
                _ => false,
            };
            let v = match self.next().tok {
                Tok::Number(v) => v,
                _ => {
                    self.i -= 1;
                    return Err(self.unexpected_in("fill modifier, expected number"));
                }
            };
            self.expect(Tok::RParen, "fill modifier")?;
            let v = if neg { -v } else { v };
            if l {
                m.fill_lhs = Some(v);
            }
            if r {
                m.fill_rhs = Some(v);
            }
            explicit = true;
        }
        let _ = op_pos;
        let _ = explicit;
        Ok((Some(m), return_bool))
    }
}

fn check_duration_expr(e: &Expr) -> Result<(), String> {
    match e {
        Expr::Number { .. } => Ok(()),
        Expr::Paren { expr, .. } | Expr::Unary { expr, .. } => check_duration_expr(expr),
        Expr::Binary {
            op: BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow,
            lhs,
            rhs,
            ..
        } =>
        {
            check_duration_expr(lhs)?;
            check_duration_expr(rhs)
        }
        Expr::Call { func, .. } if matches!(func.name, "step" | "range") => Ok(()),
        Expr::DurationFn { args, .. } => args.iter().try_for_each(check_duration_expr),
        _ => Err("invalid duration expression: only numbers, durations, arithmetic, step(), range(), min_of() and max_of() are allowed".into()),
    }
}

fn build_binary(
    op: BinOp,
    op_pos: usize,
    lhs: Expr,
    rhs: Expr,
    matching: Option<VectorMatching>,
    return_bool: bool,
) -> Result<Expr, ParseError> {
    let lt = lhs.value_type();
    let rt = rhs.value_type();
    for t in [lt, rt] {
        if t != ValueType::Scalar && t != ValueType::Vector {
            return err(
                op_pos,
                "binary expression must contain only scalar and instant vector types",
            );
        }
    }
    let both_vec = lt == ValueType::Vector && rt == ValueType::Vector;
    let m = matching.unwrap();
    let explicit = m.on
        || !m.labels.is_empty()
        || m.card == Card::ManyToOne
        || m.card == Card::OneToMany
        || m.fill_lhs.is_some()
        || m.fill_rhs.is_some();
    if explicit && !both_vec {
        return err(
            op_pos,
            "vector matching only allowed between instant vectors",
        );
    }
    if op.is_set() && (lt == ValueType::Scalar || rt == ValueType::Scalar) {
        return err(
            op_pos,
            format!(
                "set operator {:?} not allowed in binary scalar expression",
                op.as_str()
            ),
        );
    }
    if op.is_comparison() && lt == ValueType::Scalar && rt == ValueType::Scalar && !return_bool {
        return err(op_pos, "comparisons between scalars must use BOOL modifier");
    }
    let pos = Pos {
        start: lhs.pos().start,
        end: rhs.pos().end,
    };
    Ok(Expr::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
        matching: if both_vec { Some(m) } else { None },
        return_bool,
        pos,
    })
}

fn apply_offset(e: Expr, off: Expr, start: usize, end: usize) -> Result<Expr, ParseError> {
    match e {
        Expr::Vector(mut vs) => {
            if vs.offset.is_some() {
                return err(start, "offset may not be set multiple times");
            }
            vs.offset = Some(Box::new(off));
            vs.pos.end = end;
            Ok(Expr::Vector(vs))
        }
        Expr::Matrix {
            mut vs,
            range,
            mut pos,
        } => {
            if vs.offset.is_some() {
                return err(start, "offset may not be set multiple times");
            }
            vs.offset = Some(Box::new(off));
            pos.end = end;
            Ok(Expr::Matrix { vs, range, pos })
        }
        Expr::Subquery {
            expr,
            range,
            step,
            offset,
            at,
            mut pos,
        } => {
            if offset.is_some() {
                return err(start, "offset may not be set multiple times");
            }
            pos.end = end;
            Ok(Expr::Subquery {
                expr,
                range,
                step,
                offset: Some(Box::new(off)),
                at,
                pos,
            })
        }
        _ => err(
            start,
            "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        ),
    }
}

fn apply_at(e: Expr, at: AtModifier, start: usize, end: usize) -> Result<Expr, ParseError> {
    match e {
        Expr::Vector(mut vs) => {
            if vs.at.is_some() {
                return err(start, "@ <timestamp> may not be set multiple times");
            }
            vs.at = Some(at);
            vs.pos.end = end;
            Ok(Expr::Vector(vs))
        }
        Expr::Matrix {
            mut vs,
            range,
            mut pos,
        } => {
            if vs.at.is_some() {
                return err(start, "@ <timestamp> may not be set multiple times");
            }
            vs.at = Some(at);
            pos.end = end;
            Ok(Expr::Matrix { vs, range, pos })
        }
        Expr::Subquery {
            expr,
            range,
            step,
            offset,
            at: old,
            mut pos,
        } => {
            if old.is_some() {
                return err(start, "@ <timestamp> may not be set multiple times");
            }
            pos.end = end;
            Ok(Expr::Subquery {
                expr,
                range,
                step,
                offset,
                at: Some(at),
                pos,
            })
        }
        _ => err(
            start,
            "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_in_errors() {
        let e = parse("sum(rate(foo[5m])))").unwrap_err();
        assert_eq!(e.to_string(), "1:19: parse error: unexpected \")\"");
        let e = parse("foo{").unwrap_err();
        assert_eq!(
            e.to_string(),
            "1:5: parse error: unexpected end of input inside braces"
        );
        let e = parse("sum(rate(foo[5m])").unwrap_err();
        assert_eq!(
            e.to_string(),
            "1:18: parse error: unclosed left parenthesis"
        );
        let e = parse("foo[5m").unwrap_err();
        assert_eq!(e.to_string(), "1:7: parse error: unclosed left bracket");
        let e = parse("1 +").unwrap_err();
        assert_eq!(e.to_string(), "1:4: parse error: unexpected end of input");
        let e = parse("foo\n  + bar{a=\"b\" c}").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("2:15: parse error: unexpected identifier \"c\""),
            "{e}"
        );
        let e = parse("rate(foo)").unwrap_err();
        assert_eq!(
            e.to_string(),
            "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"
        );
    }

    #[test]
    fn precedence() {
        let e = parse("-2 ^ 2").unwrap();
        assert_eq!(e.to_string(), "-2 ^ 2");
        let e = parse("a + b * c ^ d ^ e").unwrap();
        assert_eq!(e.to_string(), "a + b * c ^ d ^ e");
        let e = parse("metric offset -2 ^ 2").unwrap();
        assert!(matches!(e, Expr::Binary { op: BinOp::Pow, .. }));
    }

    #[test]
    fn round_trip() {
        for q in [
            "sum by (job) (rate(http_requests_total{status=~\"5..\"}[5m]))",
            "foo[5m:1m] @ 100.000 offset 1m",
            "a > bool on (x) group_left (y) b",
            "topk(3, foo)",
            "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
            "foo offset -5m",
            "rate(foo[1m] anchored)",
        ] {
            let e = parse(q).unwrap();
            let s = e.to_string();
            let e2 = parse(&s).unwrap();
            assert_eq!(s, e2.to_string(), "{q}");
        }
    }
}
