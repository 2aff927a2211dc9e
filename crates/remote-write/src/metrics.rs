//! Per-queue counters, exported as Prometheus's `prometheus_remote_storage_*`
//! (labels `remote_name`, `url`), which the upstream mixin's
//! `PrometheusRemoteStorageFailures` and `PrometheusRemoteWriteBehind` read.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub struct QueueMetrics {
    /// Samples read from the WAL and handed to the queue.
    pub samples_in: AtomicU64,
    pub samples_sent: AtomicU64,
    /// Samples of batches the remote refused for good (4xx other than 429).
    pub samples_failed: AtomicU64,
    /// Samples of attempts that will be retried (5xx, 429, network errors).
    pub samples_retried: AtomicU64,
    /// Samples dropped before sending: relabeled away or of unknown series.
    pub samples_dropped: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Newest sample timestamp (ms) of a batch the remote accepted.
    pub highest_sent_ms: AtomicI64,
    /// Metric metadata entries sent, refused, retried, and their bytes.
    pub metadata_sent: AtomicU64,
    pub metadata_failed: AtomicU64,
    pub metadata_retried: AtomicU64,
    pub metadata_bytes: AtomicU64,
    /// Exemplars sent, refused, retried (`send_exemplars`).
    pub exemplars_sent: AtomicU64,
    pub exemplars_failed: AtomicU64,
    pub exemplars_retried: AtomicU64,
    /// Nanoseconds spent in successful sends, summed over shards (the cost
    /// per sample that resharding divides by).
    pub send_nanos: AtomicU64,
    /// When the remote last accepted a batch (ms); no resharding while it is down.
    pub last_success_ms: AtomicI64,
    pub shards: AtomicUsize,
    pub shards_desired: AtomicUsize,
}

impl QueueMetrics {
    pub fn add(&self, c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// Samples read but not yet sent or given up.
    pub fn pending(&self) -> u64 {
        Self::get(&self.samples_in)
            .saturating_sub(Self::get(&self.samples_sent) + Self::get(&self.samples_failed))
    }
}
