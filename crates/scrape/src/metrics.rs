//! Scrape counters under Prometheus's names (`prometheus_target_*`), so the
//! upstream meta-monitoring alerts (sample limit hit, out-of-order and
//! duplicate timestamps, target limit hit, sync failures) work unchanged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use sightline_model::exposition::Exposition;
use sightline_model::summary::Summary;
use sightline_tsdb::RejectReason;

/// Counters shared by every scrape loop of a manager.
#[derive(Debug, Default)]
pub struct ScrapeMetrics {
    pub exceeded_sample_limit: AtomicU64,
    pub exceeded_body_size_limit: AtomicU64,
    pub exceeded_label_limits: AtomicU64,
    pub exceeded_target_limit: AtomicU64,
    pub sample_out_of_order: AtomicU64,
    pub sample_duplicate_timestamp: AtomicU64,
    pub sample_out_of_bounds: AtomicU64,
    /// Targets whose labels could not be populated, by job (`prometheus_target_sync_failed_total`).
    pub sync_failed: Mutex<BTreeMap<String, u64>>,
    /// Actual time between scrapes, by configured interval
    /// (`prometheus_target_interval_length_seconds{interval}`).
    pub interval_length: Mutex<BTreeMap<String, Arc<Summary>>>,
}

/// Which limit failed a scrape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitHit {
    Sample,
    Label,
}

impl ScrapeMetrics {
    pub fn inc(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a sample the storage refused, as Prometheus's scrape loop does.
    pub fn count_reject(&self, r: RejectReason) {
        let c = match r {
            RejectReason::OutOfOrder => &self.sample_out_of_order,
            RejectReason::DuplicateTimestamp => &self.sample_duplicate_timestamp,
            RejectReason::OutOfBounds => &self.sample_out_of_bounds,
            _ => return,
        };
        Self::inc(c, 1);
    }

    /// The interval-length summary of targets scraped every `interval`.
    pub fn interval_summary(&self, interval: std::time::Duration) -> Arc<Summary> {
        let key = sightline_config::Duration::from_millis(interval.as_millis() as u64).to_string();
        self.interval_length.lock().entry(key).or_default().clone()
    }

    /// Counts a pool sync's failed targets (0 still creates the job's series).
    pub fn count_sync_failures(&self, job: &str, n: u64) {
        *self.sync_failed.lock().entry(job.to_string()).or_default() += n;
    }

    pub fn expose(&self, e: &mut Exposition) {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        e.counter1(
            "prometheus_target_scrapes_exceeded_sample_limit_total",
            "Total number of scrapes that hit the sample limit and were rejected.",
            g(&self.exceeded_sample_limit),
        );
        e.counter1(
            "prometheus_target_scrapes_exceeded_body_size_limit_total",
            "Total number of scrapes that hit the body size limit",
            g(&self.exceeded_body_size_limit),
        );
        e.counter1(
            "prometheus_target_scrape_pool_exceeded_label_limits_total",
            "Total number of times scrape pools hit the label limits, during sync or apply config.",
            g(&self.exceeded_label_limits),
        );
        e.counter1(
            "prometheus_target_scrape_pool_exceeded_target_limit_total",
            "Total number of times scrape pools hit the target limit, during sync or apply config.",
            g(&self.exceeded_target_limit),
        );
        e.counter1(
            "prometheus_target_scrapes_sample_out_of_order_total",
            "Total number of samples rejected due to not being out of the expected order.",
            g(&self.sample_out_of_order),
        );
        e.counter1(
            "prometheus_target_scrapes_sample_duplicate_timestamp_total",
            "Total number of samples rejected due to duplicate timestamps but different values.",
            g(&self.sample_duplicate_timestamp),
        );
        e.counter1(
            "prometheus_target_scrapes_sample_out_of_bounds_total",
            "Total number of samples rejected due to timestamp falling outside of the time bounds.",
            g(&self.sample_out_of_bounds),
        );
        let failed: Vec<(Vec<String>, f64)> = self
            .sync_failed
            .lock()
            .iter()
            .map(|(j, n)| (vec![j.clone()], *n as f64))
            .collect();
        let intervals: Vec<sightline_model::exposition::SummaryPoint> = self
            .interval_length
            .lock()
            .iter()
            .map(|(k, sm)| {
                let (q, sum, n) = sm.snapshot(&[0.01, 0.05, 0.5, 0.9, 0.99]);
                (vec![k.clone()], q, sum, n)
            })
            .collect();
        e.summary(
            "prometheus_target_interval_length_seconds",
            "Actual intervals between scrapes.",
            &["interval"],
            &intervals,
        );
        e.family_owned(
            "prometheus_target_sync_failed_total",
            "counter",
            "Total number of target sync failures.",
            &["scrape_job"],
            &failed,
        );
    }
}
