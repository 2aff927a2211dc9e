//! Expressions: precedence climbing over binary operators, unary minus,
//! literals, parentheses, function calls and aggregations.

use super::ast::*;
use super::binary::build_binary;
use super::functions;
use super::lexer::{Tok, Token};
use super::{MAX_NESTING_DEPTH, MAX_TREE_DEPTH, ParseError, Parser, err, kw, too_deep};

impl Parser {
    /// Precedence climbing over binary operators; `^` is right-associative.
    pub(super) fn expr(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        if self.depth >= MAX_NESTING_DEPTH {
            return err(
                self.start(),
                format!("expression nested too deeply (more than {MAX_NESTING_DEPTH} levels)"),
            );
        }
        self.depth += 1;
        let res = self.expr_at_depth(min_prec);
        self.depth -= 1;
        res
    }

    fn expr_at_depth(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        // Chains are built in this loop, not by recursion: their depth is
        // bounded here, before a tree too deep to walk (or drop) exists.
        let mut lhs_depth = super::tree_depth(&lhs);
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
            lhs_depth = 1 + lhs_depth.max(super::tree_depth(&rhs));
            if lhs_depth > MAX_TREE_DEPTH {
                return err(op_pos, too_deep());
            }
            lhs = build_binary(op, op_pos, lhs, rhs, matching, return_bool)?;
        }
        Ok(lhs)
    }

    pub(super) fn unary(&mut self) -> Result<Expr, ParseError> {
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

    pub(super) fn primary(&mut self) -> Result<Expr, ParseError> {
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

    pub(super) fn call_args(&mut self) -> Result<Vec<Expr>, ParseError> {
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
    pub(super) fn info_args(&mut self) -> Result<Vec<Expr>, ParseError> {
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

    pub(super) fn call(
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

    pub(super) fn label_list(&mut self, ctx: &str) -> Result<Vec<String>, ParseError> {
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

    pub(super) fn text_of(&self, t: &Token) -> String {
        match &t.tok {
            Tok::Number(v) if v.is_nan() => "nan".into(),
            _ => "inf".into(),
        }
    }

    pub(super) fn aggregate(&mut self, op: AggOp, start: usize) -> Result<Expr, ParseError> {
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
}
