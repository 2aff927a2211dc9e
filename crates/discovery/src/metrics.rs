//! Refresh failures of the polling providers, exported as Prometheus's
//! `prometheus_sd_refresh_failures_total{mechanism}` (the mixin's
//! `PrometheusSDRefreshFailure` alert reads it).

use std::sync::atomic::{AtomicU64, Ordering};

use sightline_model::exposition::Exposition;

/// The polling mechanisms, in the order of [`FAILURES`].
const MECHANISMS: [&str; 2] = ["dns", "http"];

static FAILURES: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

#[derive(Clone, Copy, Debug)]
pub enum Mechanism {
    Dns = 0,
    Http = 1,
}

pub fn count_refresh_failure(m: Mechanism) {
    FAILURES[m as usize].fetch_add(1, Ordering::Relaxed);
}

pub fn refresh_failures(m: Mechanism) -> u64 {
    FAILURES[m as usize].load(Ordering::Relaxed)
}

pub fn expose(e: &mut Exposition) {
    let points: Vec<(Vec<String>, f64)> = MECHANISMS
        .iter()
        .zip(&FAILURES)
        .map(|(m, c)| (vec![m.to_string()], c.load(Ordering::Relaxed) as f64))
        .collect();
    e.family_owned(
        "prometheus_sd_refresh_failures_total",
        "counter",
        "Number of refresh failures for the given SD mechanism.",
        &["mechanism"],
        &points,
    );
}
