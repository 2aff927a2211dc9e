//! Vector selectors and their postfix modifiers: ranges, subqueries,
//! `offset`, `@`, `anchored`/`smoothed`, and duration expressions.

use sightline_model::{MatchOp, Matcher};

use super::ast::*;
use super::lexer::Tok;
use super::{ParseError, Parser, err, kw};

impl Parser {
    /// `name{...}`, `name` or `{...}`.
    pub(super) fn selector(
        &mut self,
        name: Option<String>,
        start: usize,
    ) -> Result<Expr, ParseError> {
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

    pub(super) fn postfix(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
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

    pub(super) fn range_or_subquery(&mut self, e: Expr) -> Result<Expr, ParseError> {
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
    pub(super) fn duration_expr(&mut self, ctx: &str) -> Result<Expr, ParseError> {
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
    pub(super) fn offset_operand(&mut self) -> Result<Expr, ParseError> {
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

    pub(super) fn at_operand(&mut self) -> Result<AtModifier, ParseError> {
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
