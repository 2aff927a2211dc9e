//! Classic (bucket-series) histogram functions: `histogram_quantile` and
//! `histogram_fraction` with Prometheus's coalescing, precision and
//! monotonicity fix-ups.

use std::collections::HashMap;

use sightline_model::Labels;

use super::evaluator::{Evaluator, R};
use super::types::*;
use crate::parser::{Expr, Pos, format_float};

#[derive(Clone, Copy)]
pub struct Bucket {
    pub upper: f64,
    pub count: f64,
}

fn sort_and_coalesce(b: &mut Vec<Bucket>) {
    b.sort_by(|x, y| {
        x.upper
            .partial_cmp(&y.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut out: Vec<Bucket> = Vec::with_capacity(b.len());
    for x in b.iter() {
        match out.last_mut() {
            Some(l) if l.upper == x.upper => l.count += x.count,
            _ => out.push(*x),
        }
    }
    *b = out;
}

fn correct_precision(b: &mut [Bucket], tolerance: f64) {
    let mut prev = b[0].count;
    for x in b.iter_mut().skip(1) {
        let delta = (x.count - prev).abs();
        if delta == 0.0 {
            continue;
        }
        if delta / x.count <= tolerance {
            x.count = prev;
        } else {
            prev = x.count;
        }
    }
}

fn ensure_monotonic(b: &mut [Bucket]) -> bool {
    let mut forced = false;
    let mut max = b[0].count;
    for x in b.iter_mut().skip(1) {
        if x.count > max {
            max = x.count;
        } else if x.count < max {
            x.count = max;
            forced = true;
        }
    }
    forced
}

/// Returns the quantile and whether monotonicity had to be forced.
pub fn bucket_quantile(q: f64, b: &mut Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    sort_and_coalesce(b);
    if b.last().map(|x| x.upper) != Some(f64::INFINITY) {
        return (f64::NAN, false);
    }
    correct_precision(b, 1e-12);
    let forced = ensure_monotonic(b);
    if b.len() < 2 {
        return (f64::NAN, false);
    }
    let obs = b[b.len() - 1].count;
    if obs == 0.0 {
        return (f64::NAN, false);
    }
    let mut rank = q * obs;
    let idx = b[..b.len() - 1].partition_point(|x| x.count < rank);
    if idx == b.len() - 1 {
        return (b[b.len() - 2].upper, forced);
    }
    if idx == 0 && b[0].upper <= 0.0 {
        return (b[0].upper, forced);
    }
    let mut start = 0.0;
    let end = b[idx].upper;
    let mut count = b[idx].count;
    if idx > 0 {
        start = b[idx - 1].upper;
        count -= b[idx - 1].count;
        rank -= b[idx - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

pub fn bucket_fraction(lower: f64, upper: f64, b: &mut Vec<Bucket>) -> f64 {
    sort_and_coalesce(b);
    if b.last().map(|x| x.upper) != Some(f64::INFINITY) {
        return f64::NAN;
    }
    let count = b[b.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for (i, x) in b.iter().enumerate() {
        let lb = if i > 0 {
            b[i - 1].upper
        } else if x.upper > 0.0 {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let ub = x.upper;
        // No interpolation inside a bucket of infinite width: its observations
        // are all taken to lie below any value inside it.
        let interp = |v: f64| {
            if lb.is_infinite() {
                x.count
            } else {
                rank + (x.count - rank) * (v - lb) / (ub - lb)
            }
        };
        if !lower_set && lb >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lb >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lb < lower && ub > lower {
            lower_rank = interp(lower);
            lower_set = true;
        }
        if !upper_set && lb < upper && ub > upper {
            upper_rank = interp(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = x.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

impl Evaluator<'_> {
    /// `histogram_quantile(q, v)` (`fraction` = None) or
    /// `histogram_fraction(lo, hi, v)` over classic `le` buckets.
    pub fn eval_classic_histogram(
        &mut self,
        q: Option<(&Expr, Vec<f64>)>,
        fraction: Option<(Vec<f64>, Vec<f64>)>,
        vec_arg: &Expr,
        grid: &Grid,
    ) -> R<IVal> {
        let n = grid.n;
        if let Some((qe, qs)) = &q {
            for v in qs {
                if v.is_nan() || *v < 0.0 || *v > 1.0 {
                    self.warn(
                        &format!(
                            "quantile value should be between 0 and 1, got {}",
                            format_float(*v)
                        ),
                        qe.pos(),
                    );
                    break;
                }
            }
        }
        let input = self.eval_vector(vec_arg, grid)?;
        // Group bucket series by their labels without `le`.
        let mut groups: Vec<(Labels, bool, Vec<(f64, usize)>)> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let vpos: Pos = vec_arg.pos();
        for (si, s) in input.iter().enumerate() {
            let le = s.labels.get("le").unwrap_or("");
            let upper = match parse_le(le) {
                Some(u) => u,
                None => {
                    let name = s.labels.get("__name__").unwrap_or("");
                    self.warn(
                        &format!("bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {name:?}"),
                        vpos,
                    );
                    continue;
                }
            };
            let mut b = s.labels.to_builder();
            b.del("le");
            let key = b.build();
            let gi = *index.entry(key.clone()).or_insert_with(|| {
                groups.push((key, false, Vec::new()));
                groups.len() - 1
            });
            groups[gi].1 |= s.drop_name;
            groups[gi].2.push((upper, si));
        }
        let mut out = Vec::with_capacity(groups.len());
        let mut forced_names: Vec<String> = Vec::new();
        let mut buckets: Vec<Bucket> = Vec::new();
        for (labels, _, members) in groups {
            let mut vals = vec![absent(); n];
            for (i, slot) in vals.iter_mut().enumerate() {
                buckets.clear();
                for (upper, si) in &members {
                    let v = input[*si].vals[i];
                    if present(v) {
                        buckets.push(Bucket {
                            upper: *upper,
                            count: v,
                        });
                    }
                }
                if buckets.is_empty() {
                    continue;
                }
                *slot = match (&q, &fraction) {
                    (Some((_, qs)), _) => {
                        let (v, forced) = bucket_quantile(qs[i], &mut buckets);
                        if forced {
                            let name = labels.get("__name__").unwrap_or("").to_string();
                            if !forced_names.contains(&name) {
                                forced_names.push(name);
                            }
                        }
                        v
                    }
                    (None, Some((lo, hi))) => bucket_fraction(lo[i], hi[i], &mut buckets),
                    _ => absent(),
                };
            }
            let s = VSeries {
                labels,
                drop_name: true,
                vals,
            };
            if !s.is_empty() {
                out.push(s);
            }
        }
        for name in forced_names {
            self.info(
                &format!("input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {name:?}"),
                vpos,
            );
        }
        Ok(IVal::Vector(out))
    }
}

fn parse_le(s: &str) -> Option<f64> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "+inf" | "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => t.parse::<f64>().ok(),
    }
}
