//! The evaluator: dispatch over the AST, selectors, subqueries, limits and
//! the final shaping of results.

use std::collections::HashMap;
use std::time::Instant;

use sightline_model::{Labels, Matcher, Sample as RawSample, is_stale_nan};
use sightline_tsdb::{Queryable, SelectHints};

use super::types::*;
use super::{EngineOptions, ErrorKind, QueryError, Sample, Series, Value};
use crate::parser::{AtModifier, BinOp, Expr, Pos, VectorSelector, line_col};

pub type R<T> = Result<T, QueryError>;

/// Receives the series of a streamed node one at a time: labels (borrowed,
/// so consumers that only group need not copy them), the delayed name-drop
/// flag and the per-step values.
pub type Sink<'s> = dyn FnMut(&Labels, bool, Vec<f64>) -> R<()> + 's;

pub struct Evaluator<'a> {
    q: &'a dyn Queryable,
    pub opts: &'a EngineOptions,
    query: &'a str,
    pub qstart: i64,
    pub qend: i64,
    pub qstep: i64,
    deadline: Instant,
    samples: usize,
    peak: usize,
    loaded: u64,
    warnings: Vec<String>,
    infos: Vec<String>,
}

impl<'a> Evaluator<'a> {
    pub fn new(
        q: &'a dyn Queryable,
        opts: &'a EngineOptions,
        query: &'a str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Self {
        Evaluator {
            q,
            opts,
            query,
            qstart: start,
            qend: end,
            qstep: step,
            deadline: Instant::now() + opts.timeout,
            samples: 0,
            peak: 0,
            loaded: 0,
            warnings: Vec::new(),
            infos: Vec::new(),
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn queryable(&self) -> &'a dyn Queryable {
        self.q
    }

    pub fn take_annotations(&mut self) -> (Vec<String>, Vec<String>) {
        (
            std::mem::take(&mut self.warnings),
            std::mem::take(&mut self.infos),
        )
    }

    fn pos_str(&self, pos: Pos) -> String {
        let (l, c) = line_col(self.query, pos.start);
        format!("({l}:{c})")
    }

    pub fn warn(&mut self, msg: &str, pos: Pos) {
        let s = format!("PromQL warning: {msg} {}", self.pos_str(pos));
        if !self.warnings.contains(&s) {
            self.warnings.push(s);
        }
    }

    pub fn info(&mut self, msg: &str, pos: Pos) {
        let s = format!("PromQL info: {msg} {}", self.pos_str(pos));
        if !self.infos.contains(&s) {
            self.infos.push(s);
        }
    }

    pub fn check_deadline(&self) -> R<()> {
        if Instant::now() > self.deadline {
            return Err(QueryError {
                kind: ErrorKind::Timeout,
                msg: "query timed out in expression evaluation".into(),
                warnings: Vec::new(),
            });
        }
        Ok(())
    }

    /// Adds `n` samples to the in-memory count and enforces `max_samples`.
    /// Counts samples read from storage (for query stats).
    pub fn note_loaded(&mut self, n: usize) {
        self.loaded += n as u64;
    }

    pub fn stats(&self) -> super::QueryStats {
        super::QueryStats {
            total_queryable_samples: self.loaded,
            peak_samples: self.peak as u64,
        }
    }

    pub fn account(&mut self, n: usize) -> R<()> {
        self.samples += n;
        self.peak = self.peak.max(self.samples);
        if self.samples > self.opts.max_samples {
            return Err(QueryError::exec(
                "query processing would load too many samples into memory in query execution",
            ));
        }
        Ok(())
    }

    pub fn release(&mut self, n: usize) {
        self.samples = self.samples.saturating_sub(n);
    }

    /// Runs the whole query and shapes the result like Prometheus's API.
    pub fn run(&mut self, expr: &Expr) -> R<Value> {
        let grid = Grid::new(self.qstart, self.qend, self.qstep);
        let instant = self.qstep == 0;
        let v = self.eval(expr, &grid)?;
        Ok(match v {
            IVal::Scalar(vals) => {
                if instant {
                    Value::Scalar {
                        t: self.qstart,
                        v: vals[0],
                    }
                } else {
                    Value::Matrix(vec![Series {
                        labels: Labels::empty(),
                        points: (0..grid.n).map(|i| (grid.t(i), vals[i])).collect(),
                    }])
                }
            }
            IVal::Str(s) => Value::String {
                t: self.qstart,
                v: s,
            },
            IVal::Matrix(m) => Value::Matrix(
                m.into_iter()
                    .map(|(labels, s)| Series {
                        labels,
                        points: s.iter().map(|p| (p.t, p.v)).collect(),
                    })
                    .collect(),
            ),
            IVal::Vector(series) => {
                let series = finalize_names(series)?;
                if instant {
                    let mut out = Vec::with_capacity(series.len());
                    for s in series {
                        if present(s.vals[0]) {
                            out.push(Sample {
                                labels: s.labels,
                                t: self.qstart,
                                v: s.vals[0],
                            });
                        }
                    }
                    Value::Vector(out)
                } else {
                    let mut out: Vec<Series> = series
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .map(|s| Series {
                            labels: s.labels,
                            points: s
                                .vals
                                .iter()
                                .enumerate()
                                .filter(|(_, v)| present(**v))
                                .map(|(i, v)| (grid.t(i), *v))
                                .collect(),
                        })
                        .collect();
                    out.sort_by(|a, b| a.labels.cmp(&b.labels));
                    Value::Matrix(out)
                }
            }
        })
    }

    pub fn eval(&mut self, expr: &Expr, grid: &Grid) -> R<IVal> {
        self.check_deadline()?;
        match expr {
            Expr::Number { val, .. } => Ok(IVal::Scalar(vec![*val; grid.n])),
            Expr::Str { val, .. } => Ok(IVal::Str(val.clone())),
            Expr::Paren { expr, .. } => self.eval(expr, grid),
            Expr::Unary { neg, expr, .. } => {
                let v = self.eval(expr, grid)?;
                if !neg {
                    return Ok(v);
                }
                Ok(match v {
                    IVal::Scalar(mut s) => {
                        for x in &mut s {
                            *x = -*x;
                        }
                        IVal::Scalar(s)
                    }
                    IVal::Vector(mut vs) => {
                        for s in &mut vs {
                            s.drop_name = true;
                            for x in &mut s.vals {
                                if present(*x) {
                                    *x = -*x;
                                }
                            }
                        }
                        IVal::Vector(vs)
                    }
                    other => other,
                })
            }
            Expr::Vector(vs) => {
                let out = self.eval_vector_selector(vs, grid, false)?;
                Ok(IVal::Vector(out))
            }
            Expr::Matrix { .. } | Expr::Subquery { .. } => {
                // A range vector as a query result: materialised at the single evaluation time.
                let arg = self.range_arg(expr, grid)?;
                let t = arg.eff(grid.start);
                let mut out = Vec::new();
                for (labels, samples) in arg.series {
                    let lo = t - arg.range;
                    let w: Vec<RawSample> = samples
                        .into_iter()
                        .filter(|s| s.t > lo && s.t <= t)
                        .collect();
                    if !w.is_empty() {
                        out.push((labels, w));
                    }
                }
                Ok(IVal::Matrix(out))
            }
            Expr::Binary {
                op,
                lhs,
                rhs,
                matching,
                return_bool,
                pos,
            } => self.eval_binary(*op, lhs, rhs, matching.as_ref(), *return_bool, *pos, grid),
            Expr::Aggregate {
                op,
                expr,
                param,
                grouping,
                without,
                pos,
                ..
            } => self.eval_aggregate(*op, expr, param.as_deref(), grouping, *without, *pos, grid),
            Expr::Call { func, args, pos } => self.eval_call(func, args, *pos, grid),
            Expr::DurationFn { .. } => {
                let v = self.duration_secs(expr)?;
                Ok(IVal::Scalar(vec![v; grid.n]))
            }
        }
    }

    /// Evaluates a node that must produce an instant vector.
    pub fn eval_vector(&mut self, expr: &Expr, grid: &Grid) -> R<Vec<VSeries>> {
        match self.eval(expr, grid)? {
            IVal::Vector(v) => Ok(v),
            _ => Err(QueryError::exec("expected instant vector")),
        }
    }

    pub fn eval_scalar(&mut self, expr: &Expr, grid: &Grid) -> R<Vec<f64>> {
        match self.eval(expr, grid)? {
            IVal::Scalar(v) => Ok(v),
            _ => Err(QueryError::exec("expected scalar")),
        }
    }

    /// Evaluates a duration expression (offset, range, step) to seconds.
    pub fn duration_secs(&mut self, e: &Expr) -> R<f64> {
        Ok(match e {
            Expr::Number { val, .. } => *val,
            Expr::Paren { expr, .. } => self.duration_secs(expr)?,
            Expr::Unary { neg, expr, .. } => {
                let v = self.duration_secs(expr)?;
                if *neg { -v } else { v }
            }
            Expr::Binary { op, lhs, rhs, .. } => {
                let a = self.duration_secs(lhs)?;
                let b = self.duration_secs(rhs)?;
                match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => a / b,
                    BinOp::Mod => a % b,
                    BinOp::Pow => a.powf(b),
                    _ => return Err(QueryError::exec("invalid duration expression")),
                }
            }
            Expr::Call { func, .. } if func.name == "step" => self.qstep as f64 / 1000.0,
            Expr::Call { func, .. } if func.name == "range" => {
                (self.qend - self.qstart) as f64 / 1000.0
            }
            Expr::DurationFn { name, args, .. } => {
                let a = self.duration_secs(&args[0])?;
                let b = self.duration_secs(&args[1])?;
                // Go's math.Min/Max propagate NaN.
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else if *name == "min_of" {
                    a.min(b)
                } else {
                    a.max(b)
                }
            }
            _ => return Err(QueryError::exec("invalid duration expression")),
        })
    }

    /// A range or step: must be positive.
    pub fn positive_duration_ms(&mut self, e: &Expr) -> R<i64> {
        let ms = self.duration_ms(e)?;
        if ms <= 0 {
            return Err(QueryError::exec(format!(
                "duration must be greater than 0: {e}"
            )));
        }
        Ok(ms)
    }

    pub fn duration_ms(&mut self, e: &Expr) -> R<i64> {
        let s = self.duration_secs(e)?;
        if !s.is_finite() {
            return Err(QueryError::exec("duration out of range"));
        }
        Ok((s * 1000.0).round() as i64)
    }

    fn offset_ms(&mut self, off: &Option<Box<Expr>>) -> R<i64> {
        match off {
            Some(e) => self.duration_ms(e),
            None => Ok(0),
        }
    }

    pub fn resolve_at(&self, at: &Option<AtModifier>) -> Option<i64> {
        at.map(|a| match a {
            AtModifier::Time(t) => t,
            AtModifier::Start => self.qstart,
            AtModifier::End => self.qend,
        })
    }

    /// Fetches series from storage over `[mint, maxt]`.
    pub fn select(
        &mut self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> R<Vec<(Labels, Vec<RawSample>)>> {
        let querier = self.q.querier(mint, maxt).map_err(|e| QueryError {
            kind: ErrorKind::Internal,
            msg: e.to_string(),
            warnings: Vec::new(),
        })?;
        let data = querier
            .select(matchers, &SelectHints::default())
            .map_err(|e| QueryError {
                kind: ErrorKind::Internal,
                msg: e.to_string(),
                warnings: Vec::new(),
            })?;
        let mut out = Vec::with_capacity(data.len());
        let mut n = 0;
        for s in data {
            n += s.samples.len();
            out.push((s.labels, s.samples));
        }
        self.note_loaded(n);
        self.account(n)?;
        self.release(n);
        Ok(out)
    }

    /// Streams matching series from storage one at a time (see `Querier::select_each`).
    pub fn select_stream(
        &mut self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        f: &mut dyn FnMut(&Labels, &[RawSample]) -> R<()>,
    ) -> R<()> {
        let q: &dyn Queryable = self.q;
        let querier = q.querier(mint, maxt).map_err(|e| QueryError {
            kind: ErrorKind::Internal,
            msg: e.to_string(),
            warnings: Vec::new(),
        })?;
        let deadline = self.deadline;
        let mut err: Option<QueryError> = None;
        let mut buf: Vec<RawSample> = Vec::new();
        let mut count = 0usize;
        let mut loaded = 0usize;
        querier
            .select_each(matchers, &mut |labels, it| {
                if err.is_some() {
                    return;
                }
                count += 1;
                if count.is_multiple_of(256) && Instant::now() > deadline {
                    err = Some(QueryError {
                        kind: ErrorKind::Timeout,
                        msg: "query timed out in expression evaluation".into(),
                        warnings: Vec::new(),
                    });
                    return;
                }
                buf.clear();
                buf.extend(it);
                loaded += buf.len();
                if let Err(e) = f(labels, &buf) {
                    err = Some(e);
                }
            })
            .map_err(|e| QueryError {
                kind: ErrorKind::Internal,
                msg: e.to_string(),
                warnings: Vec::new(),
            })?;
        self.note_loaded(loaded);
        match err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Instant-vector selector: the last sample in the lookback window at
    /// every step, unless it is a staleness marker. With `want_ts` the value is
    /// the sample's timestamp in seconds (for `timestamp()`).
    pub fn eval_vector_selector(
        &mut self,
        vs: &VectorSelector,
        grid: &Grid,
        want_ts: bool,
    ) -> R<Vec<VSeries>> {
        let parts = self.selector_par(vs, grid, want_ts, &super::parallel::Collect)?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Materialises a matrix selector or subquery argument for a grid.
    pub fn range_arg(&mut self, expr: &Expr, grid: &Grid) -> R<RangeArg> {
        match expr.unparen() {
            Expr::Matrix { vs, range, .. } => {
                let range = self.positive_duration_ms(range)?;
                let offset = self.offset_ms(&vs.offset)?;
                let at = self.resolve_at(&vs.at);
                let eff = |t: i64| at.unwrap_or(t) - offset;
                let lookback = self.opts.lookback_delta_ms;
                let extra = if vs.anchored || vs.smoothed {
                    lookback
                } else {
                    0
                };
                let mint = eff(grid.start) - range - extra + 1;
                let maxt = eff(grid.end()) + if vs.smoothed { lookback } else { 0 };
                let mut data = self.select(&vs.matchers, mint, maxt)?;
                let mut total = 0;
                for (_, s) in &mut data {
                    // Staleness markers are not part of range vectors.
                    s.retain(|p| !is_stale_nan(p.v));
                    total += s.len();
                }
                data.retain(|(_, s)| !s.is_empty());
                self.account(total)?;
                Ok(RangeArg {
                    series: data,
                    range,
                    offset,
                    at,
                    anchored: vs.anchored,
                    smoothed: vs.smoothed,
                })
            }
            Expr::Subquery {
                expr: inner,
                range,
                step,
                offset,
                at,
                ..
            } => {
                let range = self.duration_ms(range)?;
                let offset = match offset {
                    Some(o) => self.duration_ms(o)?,
                    None => 0,
                };
                let at = self.resolve_at(at);
                let step = match step {
                    Some(s) => self.positive_duration_ms(s)?,
                    None => self.opts.default_subquery_step_ms,
                };
                if step <= 0 {
                    return Err(QueryError::exec("zero or negative subquery step"));
                }
                let eff = |t: i64| at.unwrap_or(t) - offset;
                let first = eff(grid.start) - range;
                let mut start = step * (first / step);
                if start <= first {
                    start += step;
                }
                let end = eff(grid.end());
                let mut series = Vec::new();
                if start <= end {
                    let inner_grid = Grid {
                        start,
                        step,
                        n: ((end - start) / step) as usize + 1,
                    };
                    let v = self.eval(inner, &inner_grid)?;
                    let vs = match v {
                        IVal::Vector(vs) => finalize_names(vs)?,
                        IVal::Scalar(vals) => vec![VSeries {
                            labels: Labels::empty(),
                            drop_name: false,
                            vals,
                        }],
                        _ => return Err(QueryError::exec("subquery over a non-vector expression")),
                    };
                    for s in vs {
                        let samples: Vec<RawSample> = s
                            .vals
                            .iter()
                            .enumerate()
                            .filter(|(_, v)| present(**v))
                            .map(|(i, v)| RawSample {
                                t: inner_grid.t(i),
                                v: *v,
                            })
                            .collect();
                        if !samples.is_empty() {
                            series.push((s.labels, samples));
                        }
                    }
                }
                Ok(RangeArg {
                    series,
                    range,
                    offset,
                    at,
                    anchored: false,
                    smoothed: false,
                })
            }
            _ => Err(QueryError::exec("expected range vector")),
        }
    }
}

/// Where an instant selector looks for each step: `@` and offset applied.
#[derive(Clone, Copy)]
pub struct SelectorTimes {
    pub at: Option<i64>,
    pub offset: i64,
    pub lookback: i64,
    pub smoothed: bool,
    pub want_ts: bool,
}

impl SelectorTimes {
    #[inline]
    pub fn eff(&self, t: i64) -> i64 {
        self.at.unwrap_or(t) - self.offset
    }
}

/// Per-step values of an instant selector over one series' samples: the
/// newest sample in `(eff - lookback, eff]` unless it is a staleness marker.
pub fn selector_values(samples: &[RawSample], grid: &Grid, st: &SelectorTimes) -> Vec<f64> {
    let mut vals = vec![absent(); grid.n];
    if st.smoothed {
        smooth_series(samples, grid, |t| st.eff(t), st.lookback, &mut vals);
        return vals;
    }
    let mut j = 0usize; // samples[..j] have t <= current eff
    let mut last_eff = i64::MIN;
    let mut last_val = absent();
    for (i, slot) in vals.iter_mut().enumerate() {
        let e = st.eff(grid.t(i));
        if e == last_eff {
            *slot = last_val;
            continue;
        }
        if e < last_eff {
            j = 0;
        }
        while j < samples.len() && samples[j].t <= e {
            j += 1;
        }
        let v = if j == 0 {
            absent()
        } else {
            let s = samples[j - 1];
            if s.t <= e - st.lookback || is_stale_nan(s.v) {
                absent()
            } else if st.want_ts {
                s.t as f64 / 1000.0
            } else {
                s.v
            }
        };
        last_eff = e;
        last_val = v;
        *slot = v;
    }
    vals
}

/// Prometheus's `smoothed` instant selector: the value interpolated between
/// the samples around each step (carrying the last value forward at the end).
fn smooth_series(
    samples: &[RawSample],
    grid: &Grid,
    eff: impl Fn(i64) -> i64,
    lookback: i64,
    vals: &mut [f64],
) {
    let clean: Vec<RawSample> = samples
        .iter()
        .copied()
        .filter(|s| !is_stale_nan(s.v))
        .collect();
    for (i, slot) in vals.iter_mut().enumerate() {
        let ts = eff(grid.t(i));
        let w: Vec<&RawSample> = clean
            .iter()
            .filter(|s| s.t > ts - lookback && s.t <= ts + lookback)
            .collect();
        if w.is_empty() {
            continue;
        }
        let k = w.partition_point(|s| s.t < ts);
        if k < w.len() && w[k].t == ts {
            *slot = w[k].v;
        } else if k > 0 && k < w.len() {
            let (p, n) = (w[k - 1], w[k]);
            *slot = p.v + (n.v - p.v) * (ts - p.t) as f64 / (n.t - p.t) as f64;
        } else if k > 0 {
            *slot = w[k - 1].v;
        }
    }
}

/// Applies delayed `__name__` removal and merges series whose label sets
/// became equal; two of them with a value at the same step is an error.
pub fn finalize_names(series: Vec<VSeries>) -> R<Vec<VSeries>> {
    let mut out: Vec<VSeries> = Vec::with_capacity(series.len());
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(series.len());
    for mut s in series {
        if s.drop_name {
            s.labels = drop_metric_labels(&s.labels);
            s.drop_name = false;
        }
        match index.get(&s.labels) {
            Some(&i) => merge_into(&mut out[i], s)?,
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// Merges `src` into `dst` (same labels); overlapping steps are an error.
pub fn merge_into(dst: &mut VSeries, src: VSeries) -> R<()> {
    for (d, s) in dst.vals.iter_mut().zip(src.vals) {
        if present(s) {
            if present(*d) {
                return Err(QueryError::exec(
                    "vector cannot contain metrics with the same labelset",
                ));
            }
            *d = s;
        }
    }
    dst.drop_name |= src.drop_name;
    Ok(())
}

/// Merges series with identical labels (and identical name-drop flags).
pub fn merge_same_labels(series: Vec<VSeries>) -> R<Vec<VSeries>> {
    let mut out: Vec<VSeries> = Vec::with_capacity(series.len());
    let mut index: HashMap<(Labels, bool), usize> = HashMap::with_capacity(series.len());
    for s in series {
        let key = (s.labels.clone(), s.drop_name);
        match index.get(&key) {
            Some(&i) => merge_into(&mut out[i], s)?,
            None => {
                index.insert(key, out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}
