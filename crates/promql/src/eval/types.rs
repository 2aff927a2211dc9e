//! Internal value representation of the evaluator.

use sightline_model::{Labels, Sample as RawSample};

/// Marks "no value at this step". A NaN payload no arithmetic produces from our
/// inputs (we never compute on absent slots), distinct from the stale marker.
pub const ABSENT_BITS: u64 = 0x7ff4_ad5e_17ab_5e17;

#[inline]
pub fn absent() -> f64 {
    f64::from_bits(ABSENT_BITS)
}

#[inline]
pub fn present(v: f64) -> bool {
    v.to_bits() != ABSENT_BITS
}

/// The evaluation steps: `start + i*step` for `i < n`.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    pub start: i64,
    pub step: i64,
    pub n: usize,
}

impl Grid {
    pub fn new(start: i64, end: i64, step: i64) -> Grid {
        let n = if step <= 0 || end <= start {
            1
        } else {
            ((end - start) / step) as usize + 1
        };
        Grid {
            start,
            step: step.max(1),
            n,
        }
    }
    #[inline]
    pub fn t(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
    pub fn end(&self) -> i64 {
        self.t(self.n - 1)
    }
}

/// One series of an instant-vector node: a value slot per step.
#[derive(Debug, Clone)]
pub struct VSeries {
    pub labels: Labels,
    /// Prometheus's delayed `__name__` removal: the name is dropped at the end.
    pub drop_name: bool,
    pub vals: Vec<f64>,
}

impl VSeries {
    pub fn is_empty(&self) -> bool {
        !self.vals.iter().any(|v| present(*v))
    }
}

/// A range-vector argument: raw samples per series plus the window shape.
pub struct RangeArg {
    pub series: Vec<(Labels, Vec<RawSample>)>,
    pub range: i64,
    pub offset: i64,
    pub at: Option<i64>,
    pub anchored: bool,
    pub smoothed: bool,
}

impl RangeArg {
    /// The evaluation time of the window for grid step `t`.
    #[inline]
    pub fn eff(&self, t: i64) -> i64 {
        self.at.unwrap_or(t) - self.offset
    }
}

pub enum IVal {
    Scalar(Vec<f64>),
    Str(String),
    Vector(Vec<VSeries>),
    /// Range vector materialised for a single evaluation time (instant query result).
    Matrix(Vec<(Labels, Vec<RawSample>)>),
}

/// Prometheus's float rendering for the HTTP API (`strconv.FormatFloat(v, 'f', -1, 64)`
/// except Inf/NaN spelled `+Inf`, `-Inf`, `NaN`).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust's Display is the shortest round-trip representation without exponent,
        // like Go's 'f' with precision -1.
        format!("{v}")
    }
}

pub fn drop_metric_labels(l: &Labels) -> Labels {
    if l.get("__name__").is_none() && l.get("__type__").is_none() && l.get("__unit__").is_none() {
        return l.clone();
    }
    let mut b = l.to_builder();
    b.del("__name__");
    b.del("__type__");
    b.del("__unit__");
    b.build()
}
