//! Query evaluation. A query is evaluated over a grid of steps (an instant
//! query is a grid of one step). Every node produces, per output series, one
//! value slot per step, so labels, signatures and groupings are computed once
//! per series instead of once per step, and each selector is fetched from
//! storage once for the whole range.

mod aggregate;
mod binary;
mod evaluator;
mod functions;
mod histogram;
mod info;
mod parallel;
mod range_fns;
mod types;

use std::fmt;
use std::time::Duration;

use sightline_model::Labels;
use sightline_tsdb::Queryable;

use crate::parser::{self, Expr, ValueType};
pub use types::format_value;

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub lookback_delta_ms: i64,
    pub max_samples: usize,
    pub timeout: Duration,
    /// Step of subqueries written without one (`x[5m:]`): the global evaluation interval.
    pub default_subquery_step_ms: i64,
    /// Worker threads a query may use to compute series in parallel.
    pub parallelism: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60_000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step_ms: 60_000,
            parallelism: std::thread::available_parallelism()
                .map(|n| n.get().min(8))
                .unwrap_or(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The query does not parse or is not valid for the request (HTTP 400 `bad_data`).
    BadData,
    /// Evaluation failed (HTTP 422 `execution`).
    Execution,
    /// The query ran longer than the timeout (HTTP 503 `timeout`).
    Timeout,
    /// Storage failed (HTTP 500 `internal`).
    Internal,
}

#[derive(Debug, Clone)]
pub struct QueryError {
    pub kind: ErrorKind,
    pub msg: String,
    pub warnings: Vec<String>,
}

impl QueryError {
    pub fn exec(msg: impl Into<String>) -> Self {
        QueryError {
            kind: ErrorKind::Execution,
            msg: msg.into(),
            warnings: Vec::new(),
        }
    }
    pub fn bad_data(msg: impl Into<String>) -> Self {
        QueryError {
            kind: ErrorKind::BadData,
            msg: msg.into(),
            warnings: Vec::new(),
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for QueryError {}

impl From<parser::ParseError> for QueryError {
    fn from(e: parser::ParseError) -> Self {
        QueryError::bad_data(e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// A query result, as the HTTP API renders it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar {
        t: i64,
        v: f64,
    },
    String {
        t: i64,
        v: String,
    },
    /// Instant vector, in evaluation order (which `sort()` etc. define).
    Vector(Vec<Sample>),
    /// Range-query result (sorted by labels) or a range vector of an instant query.
    Matrix(Vec<Series>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

#[derive(Debug, Clone)]
pub struct QueryResult {
    pub value: Value,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    pub stats: QueryStats,
}

/// Sample counts of one query (the API's `stats=all`).
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryStats {
    /// Samples read from storage.
    pub total_queryable_samples: u64,
    /// Most samples held at once (as counted for `max_samples`).
    pub peak_samples: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    /// Evaluates `query` at `t` (ms).
    pub fn instant_query(
        &self,
        q: &dyn Queryable,
        query: &str,
        t: i64,
    ) -> Result<QueryResult, QueryError> {
        let expr = parser::parse(query)?;
        self.exec(q, query, &expr, t, t, 0)
    }

    /// Evaluates `query` from `start` to `end` (ms, inclusive) every `step` ms.
    pub fn range_query(
        &self,
        q: &dyn Queryable,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, QueryError> {
        let expr = parser::parse(query)?;
        let t = expr.value_type();
        if t != ValueType::Scalar && t != ValueType::Vector {
            return Err(QueryError::bad_data(format!(
                "invalid expression type {:?} for range query, must be Scalar or instant Vector",
                t.name()
            )));
        }
        if step <= 0 {
            return Err(QueryError::bad_data(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if end < start {
            return Err(QueryError::bad_data(
                "end timestamp must not be before start time",
            ));
        }
        self.exec(q, query, &expr, start, end, step)
    }

    /// Evaluates an already parsed expression; `query` is its text, used for
    /// annotation positions.
    pub fn exec(
        &self,
        q: &dyn Queryable,
        query: &str,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, QueryError> {
        let mut ev = evaluator::Evaluator::new(q, &self.opts, query, start, end, step);
        let value = ev.run(expr);
        let (warnings, infos) = ev.take_annotations();
        let stats = ev.stats();
        match value {
            Ok(value) => Ok(QueryResult {
                value,
                warnings,
                infos,
                stats,
            }),
            Err(mut e) => {
                e.warnings = warnings;
                Err(e)
            }
        }
    }
}
