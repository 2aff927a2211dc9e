//! The PromQL syntax tree. Positions are byte offsets into the query string.

use sightline_model::Matcher;

use super::functions::Function;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Scalar,
    Vector,
    Matrix,
    String,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }
    /// The name used in API results (`resultType`).
    pub fn api_name(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "vector",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Gtr,
    Lss,
    Gte,
    Lte,
    And,
    Or,
    Unless,
    TrimUpper,
    TrimLower,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Atan2 => "atan2",
            BinOp::Eql => "==",
            BinOp::Neq => "!=",
            BinOp::Gtr => ">",
            BinOp::Lss => "<",
            BinOp::Gte => ">=",
            BinOp::Lte => "<=",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Unless => "unless",
            BinOp::TrimUpper => "</",
            BinOp::TrimLower => ">/",
        }
    }
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Atan2 => 5,
            BinOp::TrimUpper | BinOp::TrimLower => 5,
            BinOp::Pow => 6,
        }
    }
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte
        )
    }
    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }
    /// Arithmetic changes what a series measures, so its name (and type/unit) go.
    pub fn changes_metric_schema(self) -> bool {
        matches!(
            self,
            BinOp::Add
                | BinOp::Sub
                | BinOp::Mul
                | BinOp::Div
                | BinOp::Pow
                | BinOp::Mod
                | BinOp::Atan2
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    CountValues,
    Quantile,
    Limitk,
    LimitRatio,
}

impl AggOp {
    pub fn from_name(s: &str) -> Option<AggOp> {
        Some(match s.to_ascii_lowercase().as_str() {
            "sum" => AggOp::Sum,
            "avg" => AggOp::Avg,
            "count" => AggOp::Count,
            "min" => AggOp::Min,
            "max" => AggOp::Max,
            "group" => AggOp::Group,
            "stddev" => AggOp::Stddev,
            "stdvar" => AggOp::Stdvar,
            "topk" => AggOp::Topk,
            "bottomk" => AggOp::Bottomk,
            "count_values" => AggOp::CountValues,
            "quantile" => AggOp::Quantile,
            "limitk" => AggOp::Limitk,
            "limit_ratio" => AggOp::LimitRatio,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AggOp::Sum => "sum",
            AggOp::Avg => "avg",
            AggOp::Count => "count",
            AggOp::Min => "min",
            AggOp::Max => "max",
            AggOp::Group => "group",
            AggOp::Stddev => "stddev",
            AggOp::Stdvar => "stdvar",
            AggOp::Topk => "topk",
            AggOp::Bottomk => "bottomk",
            AggOp::CountValues => "count_values",
            AggOp::Quantile => "quantile",
            AggOp::Limitk => "limitk",
            AggOp::LimitRatio => "limit_ratio",
        }
    }
    pub fn has_param(self) -> bool {
        matches!(
            self,
            AggOp::Topk
                | AggOp::Bottomk
                | AggOp::CountValues
                | AggOp::Quantile
                | AggOp::Limitk
                | AggOp::LimitRatio
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AtModifier {
    /// Milliseconds since the epoch.
    Time(i64),
    Start,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    pub card: Card,
    /// Label names of `on(...)` / `ignoring(...)`.
    pub labels: Vec<String>,
    pub on: bool,
    /// Labels of `group_left(...)` / `group_right(...)` copied from the "one" side.
    pub include: Vec<String>,
    pub fill_lhs: Option<f64>,
    pub fill_rhs: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct VectorSelector {
    pub name: Option<String>,
    pub matchers: Vec<Matcher>,
    pub offset: Option<Box<Expr>>,
    pub at: Option<AtModifier>,
    pub anchored: bool,
    pub smoothed: bool,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub enum Expr {
    /// A number; `dur_ms` is set when it was written as a duration (`5m`).
    Number {
        val: f64,
        dur_ms: Option<i64>,
        pos: Pos,
    },
    Str {
        val: String,
        pos: Pos,
    },
    Vector(Box<VectorSelector>),
    Matrix {
        vs: Box<VectorSelector>,
        range: Box<Expr>,
        pos: Pos,
    },
    Subquery {
        expr: Box<Expr>,
        range: Box<Expr>,
        step: Option<Box<Expr>>,
        offset: Option<Box<Expr>>,
        at: Option<AtModifier>,
        pos: Pos,
    },
    Paren {
        expr: Box<Expr>,
        pos: Pos,
    },
    Unary {
        neg: bool,
        expr: Box<Expr>,
        pos: Pos,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        matching: Option<VectorMatching>,
        return_bool: bool,
        pos: Pos,
    },
    Aggregate {
        op: AggOp,
        expr: Box<Expr>,
        param: Option<Box<Expr>>,
        grouping: Vec<String>,
        without: bool,
        /// `by ()` was written explicitly (kept for printing).
        by: bool,
        pos: Pos,
    },
    Call {
        func: &'static Function,
        args: Vec<Expr>,
        pos: Pos,
    },
    /// `step()`, `range()`, `min_of(a,b)`, `max_of(a,b)` inside duration expressions.
    DurationFn {
        name: &'static str,
        args: Vec<Expr>,
        pos: Pos,
    },
}

impl Expr {
    pub fn pos(&self) -> Pos {
        match self {
            Expr::Number { pos, .. }
            | Expr::Str { pos, .. }
            | Expr::Matrix { pos, .. }
            | Expr::Subquery { pos, .. }
            | Expr::Paren { pos, .. }
            | Expr::Unary { pos, .. }
            | Expr::Binary { pos, .. }
            | Expr::Aggregate { pos, .. }
            | Expr::Call { pos, .. }
            | Expr::DurationFn { pos, .. } => *pos,
            Expr::Vector(vs) => vs.pos,
        }
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number { .. } | Expr::DurationFn { .. } => ValueType::Scalar,
            Expr::Str { .. } => ValueType::String,
            Expr::Vector(_) => ValueType::Vector,
            Expr::Matrix { .. } | Expr::Subquery { .. } => ValueType::Matrix,
            Expr::Paren { expr, .. } | Expr::Unary { expr, .. } => expr.value_type(),
            Expr::Binary { lhs, rhs, .. } => {
                if lhs.value_type() == ValueType::Scalar && rhs.value_type() == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Aggregate { .. } => ValueType::Vector,
            Expr::Call { func, .. } => func.ret,
        }
    }

    /// Strips parentheses.
    pub fn unparen(&self) -> &Expr {
        match self {
            Expr::Paren { expr, .. } => expr.unparen(),
            e => e,
        }
    }

    /// Visits every node, parents before children.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Matrix { range, .. } => range.walk(f),
            Expr::Subquery { expr, .. } => expr.walk(f),
            Expr::Paren { expr, .. } | Expr::Unary { expr, .. } => expr.walk(f),
            Expr::Binary { lhs, rhs, .. } => {
                lhs.walk(f);
                rhs.walk(f);
            }
            Expr::Aggregate { expr, param, .. } => {
                if let Some(p) = param {
                    p.walk(f);
                }
                expr.walk(f);
            }
            Expr::Call { args, .. } | Expr::DurationFn { args, .. } => {
                for a in args {
                    a.walk(f);
                }
            }
            _ => {}
        }
    }
}
