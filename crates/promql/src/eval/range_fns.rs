//! Functions over range vectors (`rate`, `*_over_time`, `deriv`, ...). Each
//! series' samples are fetched once; a window slides over them per step.

use sightline_model::{Labels, Sample, is_stale_nan};

use super::QueryError;
use super::aggregate::{kahan_inc, quantile};
use super::evaluator::{Evaluator, R, Sink};
use super::types::*;
use crate::parser::Expr;

/// What a range function needs to know about its window.
pub struct Win<'a> {
    pub s: &'a [Sample],
    /// Window end (evaluation time minus offset) and start (end minus range).
    pub end: i64,
    pub start: i64,
    pub range: i64,
    pub anchored: bool,
    pub smoothed: bool,
    /// Step time (for predict_linear).
    pub t: i64,
    /// Start timestamps of `s` (0 = none), for series stored with them.
    pub st: Option<&'a [i64]>,
}

/// Functions that read start timestamps (Prometheus with its "use start
/// timestamps" option on): counter resets and the zero point of a counter.
pub fn uses_start_timestamps(name: &str) -> bool {
    matches!(name, "rate" | "increase" | "irate" | "resets")
}

pub fn st_overlap_warning(metric: &str) -> String {
    format!(
        "sample has start time that overlaps with previous sample timestamp for metric {metric:?}"
    )
}

/// Whether the start timestamps of two consecutive samples say the counter
/// was reset in between (Prometheus's `isStartTimestampReset`).
#[inline]
pub fn st_reset(prev_st: i64, prev_t: i64, cur_st: i64, cur_t: i64) -> bool {
    // Not set, invalid (ST > T), or OTel's unknown start (ST == T).
    if cur_st == 0 || cur_st >= cur_t || cur_st < prev_t {
        return false;
    }
    if cur_st > prev_t {
        return true;
    }
    // The ST points at the previous sample: a delta, unless the previous
    // sample was a cumulative one with an unknown (or invalid) start.
    if prev_st > prev_t {
        return false;
    }
    prev_st != 0 && prev_st != prev_t
}

/// A start timestamp that overlaps the previous sample (neither a delta's
/// `ST = previous T` nor a cumulative series' repeated ST).
#[inline]
pub fn st_overlaps(prev_st: i64, prev_t: i64, cur_st: i64) -> bool {
    cur_st != 0 && cur_st < prev_t && cur_st != prev_st
}

/// Counter reset between samples `i - 1` and `i`, by value or start timestamp.
#[inline]
fn is_reset(s: &[Sample], st: Option<&[i64]>, i: usize) -> bool {
    s[i].v < s[i - 1].v || st.is_some_and(|st| st_reset(st[i - 1], s[i - 1].t, st[i], s[i].t))
}

fn extrapolated_rate(w: &Win, is_counter: bool, is_rate: bool, overlap: &mut bool) -> Option<f64> {
    if w.anchored || w.smoothed {
        return extended_rate(w, is_counter, is_rate);
    }
    let s = w.s;
    if s.is_empty() {
        return None;
    }
    let mut result = s[s.len() - 1].v - s[0].v;
    let st = if is_counter { w.st } else { None };
    if is_counter {
        for i in 1..s.len() {
            if let Some(sts) = st
                && st_overlaps(sts[i - 1], s[i - 1].t, sts[i])
            {
                *overlap = true;
            }
            if is_reset(s, st, i) {
                result += s[i - 1].v;
            }
        }
    }
    extrapolate(s, st, result, w.start, w.end, w.range, is_counter, is_rate)
}

/// Prometheus's extrapolation of a rate/increase/delta `result` over the
/// window `(start, end]` of samples `s`; with start timestamps, a counter
/// whose first sample started inside the window is taken from zero at its
/// start instead of extrapolated to the left (one sample is then enough).
#[allow(clippy::too_many_arguments)]
#[inline]
fn extrapolate(
    s: &[Sample],
    st: Option<&[i64]>,
    mut result: f64,
    start: i64,
    end: i64,
    range: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let first = s[0];
    let last = s[s.len() - 1];
    let mut to_start = (first.t - start) as f64 / 1000.0;
    let mut to_end = (end - last.t) as f64 / 1000.0;
    let mut sampled = (last.t - first.t) as f64 / 1000.0;
    let avg = if s.len() > 1 {
        sampled / (s.len() - 1) as f64
    } else {
        0.0
    };
    let threshold = avg * 1.1;
    let st0 = st.map_or(0, |x| x[0]);
    if is_counter && st0 != 0 && st0 > start && st0 < first.t {
        to_start = 0.0;
        sampled = (last.t - st0) as f64 / 1000.0;
        result += first.v;
    } else if s.len() < 2 {
        return None;
    } else {
        if to_start >= threshold {
            to_start = avg / 2.0;
        }
        if is_counter && result > 0.0 && first.v >= 0.0 {
            let to_zero = sampled * (first.v / result);
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = if sampled != 0.0 {
        (sampled + to_start + to_end) / sampled
    } else {
        1.0
    };
    if is_rate {
        factor /= range as f64 / 1000.0;
    }
    Some(result * factor)
}

fn interpolate(p1: Sample, p2: Sample, t: i64, is_counter: bool) -> f64 {
    let mut y1 = p1.v;
    let y2 = p2.v;
    if is_counter && y2 < y1 {
        y1 = 0.0;
    }
    y1 + (y2 - y1) * (t - p1.t) as f64 / (p2.t - p1.t) as f64
}

/// `anchored`/`smoothed` rate, increase and delta: the window's boundary
/// values are the last sample before it (anchored) or interpolated (smoothed).
fn extended_rate(w: &Win, is_counter: bool, is_rate: bool) -> Option<f64> {
    let f = w.s;
    if f.is_empty() {
        return None;
    }
    let mut last = f.len() - 1;
    let first = (f[..last].partition_point(|p| p.t <= w.start)).saturating_sub(1);
    if w.smoothed {
        last = f[..last].partition_point(|p| p.t < w.end);
    }
    if f[last].t <= w.start || (w.smoothed && f[0].t > w.end) {
        return None;
    }
    let left = if w.smoothed && f[first].t < w.start && first + 1 < f.len() {
        interpolate(f[first], f[first + 1], w.start, is_counter)
    } else {
        f[first].v
    };
    let right = if w.smoothed && last > 0 && f[last].t > w.end {
        interpolate(f[last - 1], f[last], w.end, is_counter)
    } else {
        f[last].v
    };
    let mut result = right - left;
    if is_counter {
        let mut a = first;
        let mut b = last as isize;
        if f[a].t <= w.start {
            a += 1;
        }
        if f[last].t >= w.end {
            b -= 1;
        }
        let mut correction = 0.0;
        let mut prev = left;
        if (a as isize) <= b {
            for p in &f[a..=b as usize] {
                if p.v < prev {
                    correction += prev;
                }
                prev = p.v;
            }
        }
        if right < prev {
            correction += prev;
        }
        result += correction;
    }
    if is_rate {
        result /= w.range as f64 / 1000.0;
    }
    Some(result)
}

fn instant_value(w: &Win, is_rate: bool) -> Option<f64> {
    let s = w.s;
    if s.len() < 2 {
        return None;
    }
    let (a, b) = (s[s.len() - 2], s[s.len() - 1]);
    let dt = b.t - a.t;
    if dt == 0 {
        return None;
    }
    let mut r = b.v;
    // A counter reset (by value or start timestamp) leaves the last value
    // as the increase.
    if !is_rate || !is_reset(s, w.st, s.len() - 1) {
        r = b.v - a.v;
    }
    if is_rate {
        r /= dt as f64 / 1000.0;
    }
    Some(r)
}

/// Least-squares fit with Kahan sums; slope and intercept at `t0`.
fn linear_regression(s: &[Sample], t0: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init = s[0].v;
    let mut const_y = true;
    for (i, p) in s.iter().enumerate() {
        if const_y && i > 0 && p.v != init {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - t0) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(p.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * p.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

fn avg_over_time(s: &[Sample]) -> f64 {
    let (mut sum, mut count) = (s[0].v, 1.0);
    let (mut mean, mut c) = (0.0, 0.0);
    let mut incremental = false;
    for (i, p) in s[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (ns, nc) = kahan_inc(p.v, sum, c);
            if !ns.is_infinite() {
                sum = ns;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(p.v / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

fn variance(s: &[Sample]) -> f64 {
    let (mut count, mut mean, mut cmean, mut aux, mut caux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in s {
        count += 1.0;
        let delta = p.v - (mean + cmean);
        (mean, cmean) = kahan_inc(delta / count, mean, cmean);
        (aux, caux) = kahan_inc(delta * (p.v - (mean + cmean)), aux, caux);
    }
    (aux + caux) / count
}

fn first_index_anchored(w: &Win) -> Option<usize> {
    if !w.anchored {
        return Some(0);
    }
    let f = w.s;
    if f.is_empty() || f[f.len() - 1].t <= w.start {
        return None;
    }
    Some(
        f[..f.len() - 1]
            .partition_point(|p| p.t <= w.start)
            .saturating_sub(1),
    )
}

fn double_exp_smoothing(s: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let mut s0 = 0.0;
    let mut s1 = s[0].v;
    let mut b = s[1].v - s[0].v;
    for i in 1..s.len() {
        let x = sf * s[i].v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

/// Evaluates one range function over a window; `args` are the scalar
/// arguments at this step (in call order, without the range vector).
fn call(name: &str, w: &Win, args: &[f64], overlap: &mut bool) -> R<Option<f64>> {
    let s = w.s;
    Ok(match name {
        "rate" => extrapolated_rate(w, true, true, overlap),
        "increase" => extrapolated_rate(w, true, false, overlap),
        "delta" => extrapolated_rate(w, false, false, overlap),
        "irate" => instant_value(w, true),
        "idelta" => instant_value(w, false),
        "changes" | "resets" => {
            let Some(first) = first_index_anchored(w) else {
                return Ok(None);
            };
            if s.is_empty() {
                return Ok(None);
            }
            let mut n = 0.0;
            for i in first + 1..s.len() {
                let (a, b) = (s[i - 1].v, s[i].v);
                let changed = if name == "changes" {
                    b != a && !(b.is_nan() && a.is_nan())
                } else {
                    is_reset(s, w.st, i)
                };
                if changed {
                    n += 1.0;
                }
            }
            Some(n)
        }
        "deriv" => {
            if s.len() < 2 {
                return Ok(None);
            }
            Some(linear_regression(s, s[0].t).0)
        }
        "predict_linear" => {
            if s.len() < 2 {
                return Ok(None);
            }
            let (slope, intercept) = linear_regression(s, w.t);
            Some(slope * args[0] + intercept)
        }
        "avg_over_time" => Some(avg_over_time(s)),
        "sum_over_time" => {
            let (mut sum, mut c) = (0.0, 0.0);
            for p in s {
                (sum, c) = kahan_inc(p.v, sum, c);
            }
            Some(if sum.is_infinite() { sum } else { sum + c })
        }
        "count_over_time" => Some(s.len() as f64),
        "present_over_time" | "absent_over_time" => Some(1.0),
        "last_over_time" => s.last().map(|p| p.v),
        "first_over_time" => s.first().map(|p| p.v),
        "ts_of_last_over_time" => s.last().map(|p| p.t as f64 / 1000.0),
        "ts_of_first_over_time" => s.first().map(|p| p.t as f64 / 1000.0),
        "max_over_time" | "min_over_time" | "ts_of_max_over_time" | "ts_of_min_over_time" => {
            let is_max = name.contains("max");
            let ts_variant = name.starts_with("ts_of");
            let mut best = s[0].v;
            let mut best_t = s[0].t;
            for p in s {
                let better = if ts_variant {
                    if is_max {
                        p.v >= best || best.is_nan()
                    } else {
                        p.v <= best || best.is_nan()
                    }
                } else if is_max {
                    p.v > best || best.is_nan()
                } else {
                    p.v < best || best.is_nan()
                };
                if better {
                    best = p.v;
                    best_t = p.t;
                }
            }
            Some(if ts_variant {
                best_t as f64 / 1000.0
            } else {
                best
            })
        }
        "stddev_over_time" => Some(variance(s).sqrt()),
        "stdvar_over_time" => Some(variance(s)),
        "quantile_over_time" => {
            let mut v: Vec<f64> = s.iter().map(|p| p.v).collect();
            Some(quantile(args[0], &mut v))
        }
        "mad_over_time" => {
            if s.iter().any(|p| p.v.is_nan()) {
                return Ok(Some(f64::NAN));
            }
            let mut v: Vec<f64> = s.iter().map(|p| p.v).collect();
            let median = quantile(0.5, &mut v);
            let mut d: Vec<f64> = s.iter().map(|p| (p.v - median).abs()).collect();
            Some(quantile(0.5, &mut d))
        }
        "double_exponential_smoothing" => {
            let (sf, tf) = (args[0], args[1]);
            if sf <= 0.0 || sf >= 1.0 || sf.is_nan() {
                return Err(QueryError::exec(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                )));
            }
            if tf <= 0.0 || tf >= 1.0 || tf.is_nan() {
                return Err(QueryError::exec(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                )));
            }
            double_exp_smoothing(s, sf, tf)
        }
        "integral" => {
            if s.len() < 2 {
                return Ok(None);
            }
            let mut area = 0.0;
            for p in s.windows(2) {
                area += (p[0].v + p[1].v) / 2.0 * (p[1].t - p[0].t) as f64 / 1000.0;
            }
            Some(area)
        }
        _ => {
            return Err(QueryError::exec(format!(
                "function {name:?} is not implemented"
            )));
        }
    })
}

pub const ANCHORED_SAFE: &[&str] = &["changes", "delta", "increase", "rate", "resets"];
pub const SMOOTHED_SAFE: &[&str] = &["delta", "increase", "rate"];

/// The `anchored`/`smoothed` modifiers are allowed only on some functions.
pub fn check_range_modifiers(name: &str, anchored: bool, smoothed: bool) -> R<()> {
    if anchored && !ANCHORED_SAFE.contains(&name) {
        return Err(QueryError::exec(format!(
            "anchored modifier can only be used with: {} - not with {name}",
            ANCHORED_SAFE.join(", ")
        )));
    }
    if smoothed && !SMOOTHED_SAFE.contains(&name) {
        return Err(QueryError::exec(format!(
            "smoothed modifier can only be used with: {} - not with {name}",
            SMOOTHED_SAFE.join(", ")
        )));
    }
    Ok(())
}

impl Evaluator<'_> {
    /// `quantile_over_time` warns once about a quantile outside [0, 1].
    pub fn quantile_param_warning(&mut self, name: &str, args: &[Expr], scalars: &[Vec<f64>]) {
        if name != "quantile_over_time" {
            return;
        }
        let ppos = args[0].pos();
        if let Some(q) = scalars[0]
            .iter()
            .find(|q| q.is_nan() || !(0.0..=1.0).contains(*q))
        {
            self.warn(
                &format!(
                    "quantile value should be between 0 and 1, got {}",
                    crate::parser::format_float(*q)
                ),
                ppos,
            );
        }
    }

    /// Evaluates `name(args...)` where `args[m]` is the range vector.
    pub fn eval_range_fn(&mut self, name: &str, args: &[Expr], m: usize, grid: &Grid) -> R<IVal> {
        if name != "absent_over_time" && matches!(args[m].unparen(), Expr::Matrix { .. }) {
            let parts = self.range_fn_par(name, args, m, grid, &super::parallel::Collect)?;
            return Ok(IVal::Vector(parts.into_iter().flatten().collect()));
        }
        let mut out = Vec::new();
        let mut absent_seen = vec![false; grid.n];
        self.stream_range_fn(
            name,
            args,
            m,
            grid,
            &mut absent_seen,
            &mut |labels, drop_name, vals| {
                out.push(VSeries {
                    labels: labels.clone(),
                    drop_name,
                    vals,
                });
                Ok(())
            },
        )?;
        if name == "absent_over_time" {
            let vals: Vec<f64> = absent_seen
                .iter()
                .map(|s| if *s { absent() } else { 1.0 })
                .collect();
            let s = VSeries {
                labels: absent_labels(&args[m]),
                drop_name: false,
                vals,
            };
            return Ok(IVal::Vector(if s.is_empty() { vec![] } else { vec![s] }));
        }
        Ok(IVal::Vector(out))
    }

    /// Like [`Self::eval_range_fn`] but hands each output series to `sink` as
    /// soon as it is computed; a matrix selector is read one series at a time,
    /// so neither the raw samples nor all outputs are held at once.
    pub fn stream_range_fn(
        &mut self,
        name: &str,
        args: &[Expr],
        m: usize,
        grid: &Grid,
        absent_seen: &mut [bool],
        sink: &mut Sink<'_>,
    ) -> R<()> {
        let mut scalars: Vec<Vec<f64>> = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i != m {
                scalars.push(self.eval_scalar(a, grid)?);
            }
        }
        if let Expr::Matrix { vs, .. } = args[m].unparen() {
            check_range_modifiers(name, vs.anchored, vs.smoothed)?;
        }
        self.quantile_param_warning(name, args, &scalars);
        let lookback = self.opts.lookback_delta_ms;
        let mut non_counter: Vec<String> = Vec::new();
        let mut total = 0usize;
        let is_counter_fn = name == "rate" || name == "increase";
        {
            let mut per_series = |labels: &Labels, samples: &[Sample], shape: &Shape| -> R<()> {
                // Subqueries (and `absent_over_time`) carry no start timestamps.
                let vals = window_values(
                    name,
                    samples,
                    None,
                    shape,
                    grid,
                    lookback,
                    &scalars,
                    absent_seen,
                    &mut false,
                )?;
                let c = vals.iter().filter(|v| present(**v)).count();
                if c == 0 {
                    return Ok(());
                }
                total += c;
                if is_counter_fn
                    && let Some(mn) = labels.get("__name__")
                    && !["_total", "_sum", "_count", "_bucket"]
                        .iter()
                        .any(|suf| mn.ends_with(suf))
                    && !non_counter.iter().any(|x| x == mn)
                {
                    non_counter.push(mn.to_string());
                }
                sink(
                    labels,
                    !(name == "last_over_time" || name == "first_over_time"),
                    vals,
                )
            };
            match args[m].unparen() {
                Expr::Matrix { vs, range, .. } => {
                    let range = self.positive_duration_ms(range)?;
                    let offset = match &vs.offset {
                        Some(o) => self.duration_ms(o)?,
                        None => 0,
                    };
                    let at = self.resolve_at(&vs.at);
                    let shape = Shape {
                        range,
                        offset,
                        at,
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
                    let mut buf: Vec<Sample> = Vec::new();
                    self.select_stream(&vs.matchers, mint, maxt, &mut |labels, samples| {
                        // Staleness markers are not part of range vectors.
                        buf.clear();
                        buf.extend(samples.iter().copied().filter(|p| !is_stale_nan(p.v)));
                        if buf.is_empty() {
                            return Ok(());
                        }
                        per_series(labels, &buf, &shape)
                    })?;
                }
                _ => {
                    let arg = self.range_arg(&args[m], grid)?;
                    let shape = Shape {
                        range: arg.range,
                        offset: arg.offset,
                        at: arg.at,
                        anchored: arg.anchored,
                        smoothed: arg.smoothed,
                    };
                    for (labels, samples) in &arg.series {
                        self.check_deadline()?;
                        per_series(labels, samples, &shape)?;
                    }
                }
            }
        }
        for mn in non_counter {
            self.info(
                &format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {mn:?}"),
                args[m].pos(),
            );
        }
        self.account(total)
    }
}

/// The window of a range argument: `(eff(t) - range, eff(t)]`.
pub struct Shape {
    pub range: i64,
    pub offset: i64,
    pub at: Option<i64>,
    pub anchored: bool,
    pub smoothed: bool,
}

impl Shape {
    #[inline]
    pub fn eff(&self, t: i64) -> i64 {
        self.at.unwrap_or(t) - self.offset
    }
}

/// Per-step values of a range function over one series' samples; `sts`
/// are their start timestamps, if stored. `overlap` is set when a window of
/// `rate`/`increase` meets a start timestamp overlapping its previous sample.
#[allow(clippy::too_many_arguments)]
pub fn window_values(
    name: &str,
    samples: &[Sample],
    sts: Option<&[i64]>,
    shape: &Shape,
    grid: &Grid,
    lookback: i64,
    scalars: &[Vec<f64>],
    absent_seen: &mut [bool],
    overlap: &mut bool,
) -> R<Vec<f64>> {
    let n = grid.n;
    let mut vals = vec![absent(); n];
    let mut step_args = vec![0.0; scalars.len()];
    let sts = sts.filter(|x| x.len() == samples.len() && x.iter().any(|&v| v != 0));
    // Counter resets are rare: their positions are found once, so rate and
    // increase visit only the window's ends and the resets inside it.
    let fast_counter = (name == "rate" || name == "increase") && !shape.anchored && !shape.smoothed;
    let mut resets: Vec<u32> = Vec::new();
    // Start-timestamp overlaps as a prefix count (series with STs only).
    let mut overlaps: Vec<u32> = Vec::new();
    if fast_counter {
        match sts {
            None => {
                for (k, w) in samples.windows(2).enumerate() {
                    if w[1].v < w[0].v {
                        resets.push(k as u32 + 1);
                    }
                }
            }
            Some(st) => {
                overlaps.reserve(samples.len());
                overlaps.push(0);
                let mut ov = 0;
                for i in 1..samples.len() {
                    if is_reset(samples, sts, i) {
                        resets.push(i as u32);
                    }
                    if st_overlaps(st[i - 1], samples[i - 1].t, st[i]) {
                        ov += 1;
                    }
                    overlaps.push(ov);
                }
            }
        }
    }
    // First reset index that may lie inside the current window.
    let mut reset_pos = 0usize;
    let mut rate_memo: Option<RateTiming> = None;
    let (mut lo, mut hi) = (0usize, 0usize);
    let mut prev_eff = i64::MIN;
    let mut prev_val = None;
    let mut prev_nonempty = false;
    for i in 0..n {
        let t = grid.t(i);
        let end = shape.eff(t);
        if end == prev_eff && scalars.is_empty() && name != "predict_linear" {
            if let Some(v) = prev_val {
                vals[i] = v;
            }
            absent_seen[i] |= prev_nonempty;
            continue;
        }
        if end < prev_eff {
            lo = 0;
            hi = 0;
            reset_pos = 0;
        }
        prev_eff = end;
        let start = end - shape.range;
        let wlo = if shape.anchored || shape.smoothed {
            start - lookback
        } else {
            start
        };
        let whi = if shape.smoothed { end + lookback } else { end };
        while hi < samples.len() && samples[hi].t <= whi {
            hi += 1;
        }
        while lo < hi && samples[lo].t <= wlo {
            lo += 1;
        }
        prev_val = None;
        prev_nonempty = lo < hi;
        if lo == hi {
            continue;
        }
        absent_seen[i] = true;
        let v = if fast_counter {
            if !overlaps.is_empty() && overlaps[hi - 1] != overlaps[lo] {
                *overlap = true;
            }
            while reset_pos < resets.len() && (resets[reset_pos] as usize) <= lo {
                reset_pos += 1;
            }
            let inside = resets[reset_pos..]
                .iter()
                .take_while(|&&k| (k as usize) < hi)
                .map(|&k| k as usize);
            counter_rate(
                samples,
                sts,
                lo,
                hi,
                inside,
                start,
                end,
                shape.range,
                name == "rate",
                &mut rate_memo,
            )
        } else {
            for (k, s) in scalars.iter().enumerate() {
                step_args[k] = s[i];
            }
            let w = Win {
                s: &samples[lo..hi],
                end,
                start,
                range: shape.range,
                anchored: shape.anchored,
                smoothed: shape.smoothed,
                t,
                st: sts.map(|x| &x[lo..hi]),
            };
            call(name, &w, &step_args, overlap)?
        };
        prev_val = v;
        if let Some(v) = v {
            vals[i] = v;
        }
    }
    Ok(vals)
}

/// The part of `rate`/`increase` extrapolation that depends only on where
/// the window's samples fall in time. Regular scrapes put samples at the same
/// offsets in consecutive windows, so it is computed once per pattern.
#[derive(Clone, Copy)]
struct RateTiming {
    key: (i64, i64, i64, usize),
    sampled: f64,
    to_start: f64,
    to_end: f64,
    /// The factor when the zero point does not shorten the start extrapolation.
    factor: f64,
    /// `first > result * zero_bound` proves the zero point lies beyond
    /// `to_start` (with a factor-2 margin over rounding), skipping a division.
    zero_bound: f64,
}

impl RateTiming {
    fn new(key: (i64, i64, i64, usize), range: i64, is_rate: bool) -> RateTiming {
        let (to_start_ms, sampled_ms, to_end_ms, n) = key;
        let mut to_start = to_start_ms as f64 / 1000.0;
        let mut to_end = to_end_ms as f64 / 1000.0;
        let sampled = sampled_ms as f64 / 1000.0;
        let avg = sampled / (n - 1) as f64;
        let threshold = avg * 1.1;
        if to_start >= threshold {
            to_start = avg / 2.0;
        }
        if to_end >= threshold {
            to_end = avg / 2.0;
        }
        RateTiming {
            key,
            sampled,
            to_start,
            to_end,
            factor: rate_factor(sampled, to_start, to_end, range, is_rate),
            zero_bound: 2.0 * to_start / sampled,
        }
    }
}

#[inline]
fn rate_factor(sampled: f64, to_start: f64, to_end: f64, range: i64, is_rate: bool) -> f64 {
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range as f64 / 1000.0;
    }
    factor
}

/// `rate`/`increase` over `samples[lo..hi]` given the indices of the counter
/// resets inside it: the same arithmetic, in the same order, as
/// [`extrapolated_rate`], with the timing part cached in `memo`.
#[allow(clippy::too_many_arguments)]
fn counter_rate(
    samples: &[Sample],
    sts: Option<&[i64]>,
    lo: usize,
    hi: usize,
    resets: impl Iterator<Item = usize>,
    start: i64,
    end: i64,
    range: i64,
    is_rate: bool,
    memo: &mut Option<RateTiming>,
) -> Option<f64> {
    if sts.is_none() && hi - lo < 2 {
        return None;
    }
    let first = samples[lo];
    let last = samples[hi - 1];
    let mut result = last.v - first.v;
    for k in resets {
        result += samples[k - 1].v;
    }
    if let Some(st) = sts {
        return extrapolate(
            &samples[lo..hi],
            Some(&st[lo..hi]),
            result,
            start,
            end,
            range,
            true,
            is_rate,
        );
    }
    let key = (first.t - start, last.t - first.t, end - last.t, hi - lo);
    let tm = match memo {
        Some(m) if m.key == key => *m,
        _ => *memo.insert(RateTiming::new(key, range, is_rate)),
    };
    let bound = result * tm.zero_bound;
    if result > 0.0 && first.v >= 0.0 && (bound.is_nan() || first.v <= bound) {
        let to_zero = tm.sampled * (first.v / result);
        if to_zero < tm.to_start {
            return Some(result * rate_factor(tm.sampled, to_zero, tm.to_end, range, is_rate));
        }
    }
    Some(result * tm.factor)
}

/// Labels `absent()` reports: the equality matchers of the selector (a label
/// matched twice is left out).
pub fn absent_labels(e: &Expr) -> Labels {
    let ms = match e.unparen() {
        Expr::Vector(vs) => &vs.matchers,
        Expr::Matrix { vs, .. } => &vs.matchers,
        _ => return Labels::empty(),
    };
    let mut b = sightline_model::LabelsBuilder::new();
    let mut seen = std::collections::HashSet::new();
    for m in ms {
        if m.name == "__name__" {
            continue;
        }
        if m.op == sightline_model::MatchOp::Equal && !seen.contains(&m.name) {
            b.set(m.name.clone(), m.value.clone());
            seen.insert(m.name.clone());
        } else {
            b.del(&m.name);
        }
    }
    b.build()
}

#[cfg(test)]
mod fast_counter_tests {
    use super::*;

    /// A counter with jittered scrapes, resets (to zero and to small values),
    /// a start near zero, a gap and an infinite value.
    fn series(seed: u64) -> Vec<Sample> {
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out = Vec::new();
        let (mut t, mut v) = (1_000_000i64, (seed % 3) as f64);
        for i in 0..600 {
            t += 15_000 + (next() % 3) as i64 * 1000 - 1000;
            if i == 300 {
                t += 600_000;
            }
            let r = next() % 100;
            v = if r == 0 {
                0.0
            } else if r == 1 {
                v / 3.0
            } else {
                v + (next() % 50) as f64 * 0.25
            };
            out.push(Sample {
                t,
                v: if i == 450 { f64::INFINITY } else { v },
            });
        }
        out
    }

    /// The reset-list and timing-memo path gives bit-identical results to
    /// the per-window Prometheus arithmetic.
    #[test]
    fn fast_counter_path_matches_per_window_arithmetic() {
        for seed in 1..40u64 {
            let s = series(seed * 7919);
            for (name, range, step) in [
                ("rate", 300_000, 60_000),
                ("increase", 300_000, 15_000),
                ("rate", 60_000, 10_000),
                ("increase", 3_600_000, 60_000),
            ] {
                let shape = Shape {
                    range,
                    offset: 0,
                    at: None,
                    anchored: false,
                    smoothed: false,
                };
                let grid = Grid::new(1_000_000, s.last().unwrap().t + 60_000, step);
                let mut seen = vec![false; grid.n];
                let mut ov = false;
                let fast = window_values(
                    name,
                    &s,
                    None,
                    &shape,
                    &grid,
                    300_000,
                    &[],
                    &mut seen,
                    &mut ov,
                )
                .unwrap();
                for (i, got) in fast.iter().enumerate() {
                    let end = grid.t(i);
                    let start = end - range;
                    let w: Vec<Sample> = s
                        .iter()
                        .copied()
                        .filter(|x| x.t > start && x.t <= end)
                        .collect();
                    let want = if w.is_empty() {
                        None
                    } else {
                        call(
                            name,
                            &Win {
                                s: &w,
                                end,
                                start,
                                range,
                                anchored: false,
                                smoothed: false,
                                t: end,
                                st: None,
                            },
                            &[],
                            &mut ov,
                        )
                        .unwrap()
                    };
                    let want_bits = want.unwrap_or_else(absent).to_bits();
                    assert_eq!(
                        got.to_bits(),
                        want_bits,
                        "{name}[{range}] seed {seed} step {i}: {got} vs {want:?}"
                    );
                }
            }
        }
    }
}
