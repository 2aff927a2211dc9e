//! A summary metric as client_golang's default: φ-quantiles (0.5, 0.9, 0.99
//! and the objectives given) over the observations of the last 10 minutes,
//! plus the all-time sum and count. Kept as a bounded window of recent
//! observations; quantiles are computed when the metric is scraped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

const MAX_AGE: Duration = Duration::from_secs(600);
/// Observations kept at most; older ones leave first.
const MAX_KEPT: usize = 4096;

#[derive(Debug, Default)]
struct State {
    recent: VecDeque<(Instant, f64)>,
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
pub struct Summary {
    state: Mutex<State>,
}

impl Summary {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn observe(&self, v: f64) {
        let now = Instant::now();
        let mut s = self.state.lock();
        s.sum += v;
        s.count += 1;
        if s.recent.len() == MAX_KEPT {
            s.recent.pop_front();
        }
        s.recent.push_back((now, v));
    }

    /// The values at `quantiles` of the last 10 minutes (NaN when empty),
    /// the sum and the count.
    pub fn snapshot(&self, quantiles: &[f64]) -> (Vec<(f64, f64)>, f64, u64) {
        let now = Instant::now();
        let mut s = self.state.lock();
        while s
            .recent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > MAX_AGE)
        {
            s.recent.pop_front();
        }
        let mut v: Vec<f64> = s.recent.iter().map(|(_, x)| *x).collect();
        v.sort_by(f64::total_cmp);
        let q = quantiles
            .iter()
            .map(|&q| {
                let x = if v.is_empty() {
                    f64::NAN
                } else {
                    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
                };
                (q, x)
            })
            .collect();
        (q, s.sum, s.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_sum_and_count() {
        let s = Summary::new();
        let (q, sum, n) = s.snapshot(&[0.5]);
        assert!(q[0].1.is_nan());
        assert_eq!((sum, n), (0.0, 0));
        for i in 1..=100 {
            s.observe(i as f64);
        }
        let (q, sum, n) = s.snapshot(&[0.01, 0.5, 0.9, 0.99]);
        assert_eq!(q, vec![(0.01, 1.0), (0.5, 50.0), (0.9, 90.0), (0.99, 99.0)]);
        assert_eq!((sum, n), (5050.0, 100));
    }
}
