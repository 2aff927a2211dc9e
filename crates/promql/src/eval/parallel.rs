//! Parallel per-series evaluation. Selectors and range functions compute
//! every series independently, so their work is split over worker threads
//! (`Querier::select_each_par`). Each worker feeds its own consumer state
//! (collected series, or aggregation groups); states come back in worker
//! order, which is label order, so results do not depend on the split.

use std::sync::Mutex;
use std::time::Instant;

use sightline_model::{Labels, Matcher, Sample as RawSample, is_stale_nan};
use sightline_tsdb::Queryable;

use super::evaluator::{Evaluator, R, SelectorTimes, selector_values};
use super::range_fns::{
    Shape, check_range_modifiers, st_overlap_warning, uses_start_timestamps, window_values,
};
use super::types::*;
use super::{ErrorKind, QueryError};
use crate::parser::{Expr, ValueType, VectorSelector};

/// Receives computed series; one state per worker thread.
pub trait Consumer: Sync {
    type State: Send;
    fn state(&self) -> Self::State;
    fn consume(
        &self,
        st: &mut Self::State,
        labels: &Labels,
        drop_name: bool,
        vals: Vec<f64>,
    ) -> R<()>;
}

/// Keeps every series.
pub struct Collect;

impl Consumer for Collect {
    type State = Vec<VSeries>;
    fn state(&self) -> Vec<VSeries> {
        Vec::new()
    }
    fn consume(
        &self,
        st: &mut Vec<VSeries>,
        labels: &Labels,
        drop_name: bool,
        vals: Vec<f64>,
    ) -> R<()> {
        st.push(VSeries {
            labels: labels.clone(),
            drop_name,
            vals,
        });
        Ok(())
    }
}

/// Per-worker bookkeeping around the consumer state.
struct Worker<S> {
    st: S,
    err: Option<QueryError>,
    /// Points produced (for `--query.max-samples`).
    points: usize,
    /// Metric names `rate`/`increase` saw that do not look like counters.
    non_counter: Vec<String>,
    /// Metric names with a start timestamp overlapping the previous sample.
    st_overlap: Vec<String>,
    buf: Vec<RawSample>,
    st_buf: Vec<i64>,
    absent_seen: Vec<bool>,
    seen: usize,
    loaded: usize,
}

impl<S> Worker<S> {
    /// Counts the present points of `vals` toward `--query.max-samples`;
    /// false when there are none (the series contributes nothing).
    fn count_points(&mut self, vals: &[f64]) -> bool {
        let n = vals.iter().filter(|v| present(**v)).count();
        self.points += n;
        n > 0
    }
}

fn timeout() -> QueryError {
    QueryError {
        kind: ErrorKind::Timeout,
        msg: "query timed out in expression evaluation".into(),
        warnings: Vec::new(),
    }
}

impl Evaluator<'_> {
    /// Runs `work` for every series matching `matchers` in `[mint, maxt]`,
    /// spread over the engine's worker threads; returns the consumer states
    /// in label order, the names `rate`/`increase` found not to look like
    /// counters and those with overlapping start timestamps. With `want_st`
    /// `work` gets the series' start timestamps (if it has any).
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn select_par<C: Consumer>(
        &mut self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        n: usize,
        c: &C,
        want_st: bool,
        work: &(
             dyn Fn(&mut Worker<C::State>, &Labels, &[RawSample], Option<&[i64]>) -> R<()> + Sync
         ),
    ) -> R<(Vec<C::State>, Vec<String>, Vec<String>)> {
        let threads = self.opts.parallelism.max(1);
        let workers: Vec<Mutex<Worker<C::State>>> = (0..threads)
            .map(|_| {
                Mutex::new(Worker {
                    st: c.state(),
                    err: None,
                    points: 0,
                    non_counter: Vec::new(),
                    st_overlap: Vec::new(),
                    buf: Vec::new(),
                    st_buf: Vec::new(),
                    absent_seen: vec![false; n],
                    seen: 0,
                    loaded: 0,
                })
            })
            .collect();
        let deadline = self.deadline();
        let max_samples = self.opts.max_samples;
        let q: &dyn Queryable = self.queryable();
        let querier = q.querier(mint, maxt).map_err(|e| QueryError {
            kind: ErrorKind::Internal,
            msg: e.to_string(),
            warnings: Vec::new(),
        })?;
        let each = |w: usize, labels: &Labels, samples: &[RawSample], sts: Option<&[i64]>| {
            let mut g = workers[w].lock().unwrap_or_else(|p| p.into_inner());
            if g.err.is_some() {
                return;
            }
            g.seen += 1;
            g.loaded += samples.len();
            if g.seen.is_multiple_of(64) && Instant::now() > deadline {
                g.err = Some(timeout());
                return;
            }
            if let Err(e) = work(&mut g, labels, samples, sts) {
                g.err = Some(e);
            } else if g.points > max_samples {
                g.err = Some(QueryError::exec(
                    "query processing would load too many samples into memory in query execution",
                ));
            }
        };
        let res = if want_st {
            querier.select_each_par_st(matchers, threads, &each)
        } else {
            querier.select_each_par(matchers, threads, &|w, l, s| each(w, l, s, None))
        };
        res.map_err(|e| QueryError {
            kind: ErrorKind::Internal,
            msg: e.to_string(),
            warnings: Vec::new(),
        })?;
        let mut states = Vec::with_capacity(threads);
        let mut names: Vec<String> = Vec::new();
        let mut overlap: Vec<String> = Vec::new();
        let mut points = 0;
        let mut loaded = 0;
        for w in workers {
            let w = w.into_inner().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = w.err {
                return Err(e);
            }
            points += w.points;
            loaded += w.loaded;
            for nm in w.non_counter {
                if !names.contains(&nm) {
                    names.push(nm);
                }
            }
            for nm in w.st_overlap {
                if !overlap.contains(&nm) {
                    overlap.push(nm);
                }
            }
            states.push(w.st);
        }
        self.note_loaded(loaded);
        self.account(points)?;
        Ok((states, names, overlap))
    }

    /// An instant-vector selector, series computed in parallel.
    pub fn selector_par<C: Consumer>(
        &mut self,
        vs: &VectorSelector,
        grid: &Grid,
        want_ts: bool,
        c: &C,
    ) -> R<Vec<C::State>> {
        let offset = match &vs.offset {
            Some(o) => self.duration_ms(o)?,
            None => 0,
        };
        let st = SelectorTimes {
            at: self.resolve_at(&vs.at),
            offset,
            lookback: self.opts.lookback_delta_ms,
            smoothed: vs.smoothed,
            want_ts,
        };
        let (lo, hi) = (st.eff(grid.start), st.eff(grid.end()));
        let maxt = if vs.smoothed { hi + st.lookback } else { hi };
        let (states, _, _) = self.select_par(
            &vs.matchers,
            lo - st.lookback + 1,
            maxt,
            grid.n,
            c,
            false,
            &|w, labels, samples, _| {
                let vals = selector_values(samples, grid, &st);
                if !w.count_points(&vals) {
                    return Ok(());
                }
                c.consume(&mut w.st, labels, false, vals)
            },
        )?;
        Ok(states)
    }

    /// A range function over a matrix selector, series computed in parallel.
    pub fn range_fn_par<C: Consumer>(
        &mut self,
        name: &str,
        args: &[Expr],
        m: usize,
        grid: &Grid,
        c: &C,
    ) -> R<Vec<C::State>> {
        let Expr::Matrix { vs, range, .. } = args[m].unparen() else {
            return Err(QueryError::exec("expected a range vector selector"));
        };
        check_range_modifiers(name, vs.anchored, vs.smoothed)?;
        let mut scalars: Vec<Vec<f64>> = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i != m {
                scalars.push(self.eval_scalar(a, grid)?);
            }
        }
        self.quantile_param_warning(name, args, &scalars);
        let range = self.positive_duration_ms(range)?;
        let offset = match &vs.offset {
            Some(o) => self.duration_ms(o)?,
            None => 0,
        };
        let lookback = self.opts.lookback_delta_ms;
        let shape = Shape {
            range,
            offset,
            at: self.resolve_at(&vs.at),
            anchored: vs.anchored,
            smoothed: vs.smoothed,
        };
        let extra = if vs.anchored || vs.smoothed {
            lookback
        } else {
            0
        };
        let mint = shape.eff(grid.start) - range - extra + 1;
        let maxt = shape.eff(grid.end()) + if vs.smoothed { lookback } else { 0 };
        let drop_name = !(name == "last_over_time" || name == "first_over_time");
        let is_counter_fn = name == "rate" || name == "increase";
        let (states, non_counter, st_overlap) = self.select_par(
            &vs.matchers,
            mint,
            maxt,
            grid.n,
            c,
            uses_start_timestamps(name),
            &|w, labels, samples, sts| {
                // Staleness markers are not part of range vectors; most series
                // have none and are used in place.
                let mut buf = std::mem::take(&mut w.buf);
                let mut st_buf = std::mem::take(&mut w.st_buf);
                let (samples, sts) = if samples.iter().any(|p| is_stale_nan(p.v)) {
                    buf.clear();
                    st_buf.clear();
                    match sts {
                        Some(sts) => {
                            for (p, &x) in samples.iter().zip(sts) {
                                if !is_stale_nan(p.v) {
                                    buf.push(*p);
                                    st_buf.push(x);
                                }
                            }
                            (&buf[..], Some(&st_buf[..]))
                        }
                        None => {
                            buf.extend(samples.iter().copied().filter(|p| !is_stale_nan(p.v)));
                            (&buf[..], None)
                        }
                    }
                } else {
                    (samples, sts)
                };
                let mut overlap = false;
                let res = if samples.is_empty() {
                    Ok(())
                } else {
                    window_values(
                        name,
                        samples,
                        sts,
                        &shape,
                        grid,
                        lookback,
                        &scalars,
                        &mut w.absent_seen,
                        &mut overlap,
                    )
                    .and_then(|vals| {
                        if !w.count_points(&vals) {
                            return Ok(());
                        }
                        if is_counter_fn
                            && let Some(mn) = labels.get("__name__")
                            && !["_total", "_sum", "_count", "_bucket"]
                                .iter()
                                .any(|suf| mn.ends_with(suf))
                            && !w.non_counter.iter().any(|x| x == mn)
                        {
                            w.non_counter.push(mn.to_string());
                        }
                        c.consume(&mut w.st, labels, drop_name, vals)
                    })
                };
                if overlap {
                    let mn = labels.get("__name__").unwrap_or("");
                    if !w.st_overlap.iter().any(|x| x == mn) {
                        w.st_overlap.push(mn.to_string());
                    }
                }
                w.buf = buf;
                w.st_buf = st_buf;
                res
            },
        )?;
        for mn in non_counter {
            self.info(
                &format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {mn:?}"),
                args[m].pos(),
            );
        }
        for mn in st_overlap {
            self.warn(&st_overlap_warning(&mn), args[m].pos());
        }
        Ok(states)
    }

    /// `start_timestamp(selector)`: the start timestamp (seconds; 0 when it
    /// has none) of the sample an instant selector picks at each step.
    pub fn start_timestamp_par<C: Consumer>(
        &mut self,
        vs: &VectorSelector,
        grid: &Grid,
        c: &C,
    ) -> R<Vec<C::State>> {
        let offset = match &vs.offset {
            Some(o) => self.duration_ms(o)?,
            None => 0,
        };
        let st = SelectorTimes {
            at: self.resolve_at(&vs.at),
            offset,
            lookback: self.opts.lookback_delta_ms,
            smoothed: false,
            want_ts: false,
        };
        let (lo, hi) = (st.eff(grid.start), st.eff(grid.end()));
        let (states, _, _) = self.select_par(
            &vs.matchers,
            lo - st.lookback + 1,
            hi,
            grid.n,
            c,
            true,
            &|w, labels, samples, sts| {
                // The selected sample's ST in place of its value (staleness
                // markers stay, so that they still end the series).
                let as_st: Vec<RawSample> = samples
                    .iter()
                    .enumerate()
                    .map(|(i, p)| RawSample {
                        t: p.t,
                        v: if is_stale_nan(p.v) {
                            p.v
                        } else {
                            sts.map_or(0, |s| s[i]) as f64 / 1000.0
                        },
                    })
                    .collect();
                let vals = selector_values(&as_st, grid, &st);
                if !w.count_points(&vals) {
                    return Ok(());
                }
                c.consume(&mut w.st, labels, true, vals)
            },
        )?;
        Ok(states)
    }

    /// Series of an instant-vector expression for a consumer: selectors and
    /// range functions over selectors in parallel, anything else evaluated
    /// first and handed over in order.
    pub fn stream_vector_par<C: Consumer>(
        &mut self,
        expr: &Expr,
        grid: &Grid,
        c: &C,
    ) -> R<Vec<C::State>> {
        match expr.unparen() {
            Expr::Vector(vs) => self.selector_par(vs, grid, false, c),
            Expr::Call { func, args, .. } if func.name != "absent_over_time" => {
                match args
                    .iter()
                    .position(|a| a.value_type() == ValueType::Matrix)
                {
                    Some(m) if matches!(args[m].unparen(), Expr::Matrix { .. }) => {
                        self.range_fn_par(func.name, args, m, grid, c)
                    }
                    _ => self.consume_all(expr, grid, c),
                }
            }
            _ => self.consume_all(expr, grid, c),
        }
    }

    fn consume_all<C: Consumer>(&mut self, expr: &Expr, grid: &Grid, c: &C) -> R<Vec<C::State>> {
        let mut st = c.state();
        for s in self.eval_vector(expr, grid)? {
            c.consume(&mut st, &s.labels, s.drop_name, s.vals)?;
        }
        Ok(vec![st])
    }
}
