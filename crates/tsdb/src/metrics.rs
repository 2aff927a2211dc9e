//! Counters the database keeps about itself; the binary renders them on `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::storage::RejectReason;

#[derive(Default)]
pub struct DbMetrics {
    pub samples_appended: AtomicU64,
    pub exemplars_appended: AtomicU64,
    pub out_of_order: AtomicU64,
    pub out_of_bounds: AtomicU64,
    pub duplicate: AtomicU64,
    pub invalid_labels: AtomicU64,
    pub invalid_exemplars: AtomicU64,
    pub series_created: AtomicU64,
    pub series_removed: AtomicU64,
    pub wal_corruptions: AtomicU64,
    pub blocks_cut: AtomicU64,
    pub compactions: AtomicU64,
    pub compaction_failures: AtomicU64,
    pub retention_deletions: AtomicU64,
    pub corrupt_blocks: AtomicU64,
    pub checkpoints: AtomicU64,
}

impl DbMetrics {
    pub fn count_reject(&self, r: RejectReason, n: u64) {
        let c = match r {
            RejectReason::OutOfOrder => &self.out_of_order,
            RejectReason::OutOfBounds => &self.out_of_bounds,
            RejectReason::DuplicateTimestamp => &self.duplicate,
            RejectReason::InvalidLabels => &self.invalid_labels,
            RejectReason::InvalidExemplar => &self.invalid_exemplars,
        };
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}
