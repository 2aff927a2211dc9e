//! Binary operators: precedence table lookup, `bool`, `on`/`ignoring`,
//! `group_left`/`group_right`, `fill*` modifiers and operand type checks.

use super::ast::*;
use super::lexer::Tok;
use super::{ParseError, Parser, err, kw};

impl Parser {
    pub(super) fn binop(&self) -> Option<BinOp> {
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

    /// `bool`, `on(...)`/`ignoring(...)`, `group_left(...)`/`group_right(...)`, `fill*(...)`.
    pub(super) fn bin_modifiers(
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

pub(super) fn build_binary(
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
