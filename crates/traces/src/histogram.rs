//! A cumulative explicit-bucket histogram and its Prometheus exposition into
//! an [`Appender`] (`_bucket{le}`, `_sum`, `_count`), shared by span metrics
//! and the service graph.

use sightline_model::{Exemplar, Labels};
use sightline_tsdb::Appender;

/// OTel spanmetrics connector default buckets, milliseconds.
pub const SPANMETRICS_BUCKETS_MS: &[f64] = &[
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
    10000.0, 15000.0,
];
/// OTel servicegraph connector default buckets, seconds.
pub const SERVICEGRAPH_BUCKETS_S: &[f64] = &[
    0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.4, 2.0, 5.0, 10.0, 15.0,
];

/// Tempo metrics-generator default buckets, seconds: 0.002 × 2^n, 14 buckets.
pub const TEMPO_BUCKETS_S: &[f64] = &[
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
    16.384,
];

#[derive(Clone, Debug, Default)]
pub struct Hist {
    /// Non-cumulative counts per bucket; the last is `+Inf`.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

/// The most recent observation, written as an exemplar on its bucket.
#[derive(Clone, Debug)]
pub struct Sampled {
    pub trace_id: String,
    pub span_id: String,
    pub value: f64,
    pub t_ms: i64,
}

impl Hist {
    pub fn new(bounds: &[f64]) -> Hist {
        Hist {
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, bounds: &[f64], v: f64) {
        let i = bounds.partition_point(|b| *b < v);
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }

    /// Appends the cumulative series; `labels` are the base pairs without `__name__`/`le`.
    pub fn append(
        &self,
        app: &mut dyn Appender,
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        t_ms: i64,
        exemplar: Option<&Sampled>,
    ) {
        let with = |n: String, extra: Option<(&str, String)>| {
            let mut pairs: Vec<(String, String)> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            pairs.push(("__name__".into(), n));
            if let Some((k, v)) = extra {
                pairs.push((k.into(), v));
            }
            Labels::from_pairs(pairs)
        };
        let ex_bucket = exemplar.map(|e| bounds.partition_point(|b| *b < e.value));
        let mut cum = 0u64;
        for i in 0..=bounds.len() {
            cum += self.counts[i];
            let le = if i == bounds.len() {
                "+Inf".to_string()
            } else {
                format_le(bounds[i])
            };
            let l = with(format!("{name}_bucket"), Some(("le", le)));
            if let Ok(r) = app.append(&l, t_ms, cum as f64)
                && ex_bucket == Some(i)
                && let Some(e) = exemplar
            {
                let ex = Exemplar {
                    labels: Labels::from_pairs([
                        ("trace_id", e.trace_id.as_str()),
                        ("span_id", e.span_id.as_str()),
                    ]),
                    t: e.t_ms,
                    v: e.value,
                };
                let _ = app.append_exemplar(r, &ex);
            }
        }
        let _ = app.append(&with(format!("{name}_sum"), None), t_ms, self.sum);
        let _ = app.append(
            &with(format!("{name}_count"), None),
            t_ms,
            self.count as f64,
        );
    }
}

/// Prometheus formats `le` like Go's `strconv.FormatFloat(v, 'f', -1, 64)`: `2`, `0.002`, `15000`.
pub fn format_le(v: f64) -> String {
    format!("{v}")
}
