/// Tunables of one database. Defaults match Prometheus.
#[derive(Debug, Clone)]
pub struct Options {
    /// Range of blocks cut from the head (2h).
    pub block_range_ms: i64,
    /// Blocks whose newest sample is older than this behind the newest data are deleted (15d).
    pub retention_ms: i64,
    /// Oldest blocks are deleted while blocks + WAL exceed this many bytes (0 = no limit).
    pub retention_bytes: u64,
    /// How far behind a series' newest sample an out-of-order sample may land (0 = refuse).
    pub out_of_order_window_ms: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            block_range_ms: 2 * 3600 * 1000,
            retention_ms: 15 * 24 * 3600 * 1000,
            retention_bytes: 0,
            out_of_order_window_ms: 0,
        }
    }
}

impl Options {
    /// Largest compacted block: 10% of retention, at most 31 days, as Prometheus.
    pub fn max_block_range_ms(&self) -> i64 {
        (self.retention_ms / 10)
            .min(31 * 24 * 3600 * 1000)
            .max(self.block_range_ms)
    }

    /// Compaction ranges: the block range times 3, 9, 27, … up to the maximum.
    pub fn compaction_ranges(&self) -> Vec<i64> {
        let mut out = Vec::new();
        let mut r = self.block_range_ms * 3;
        while r <= self.max_block_range_ms() {
            out.push(r);
            r *= 3;
        }
        out
    }
}
