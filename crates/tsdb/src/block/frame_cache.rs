//! Decompressed chunk frames shared by every open block, bounded in bytes.
//!
//! Block chunks live in 4 MiB zstd frames laid out by label similarity, so a
//! query for one service touches many frames and spends most of its time in
//! zstd. Keeping recently decompressed frames lets repeated dashboard queries
//! read decoded bytes directly — the role the OS page cache plays for
//! Prometheus's mmapped chunks. It caches storage, never query results.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Default budget: enough for a few hundred million samples of decoded frames.
pub const DEFAULT_BYTES: u64 = 256 << 20;

struct Entry {
    frame: Arc<Vec<u8>>,
    last_used: u64,
}

struct Inner {
    map: HashMap<(u64, u32), Entry>,
    bytes: u64,
    tick: u64,
}

pub struct FrameCache {
    inner: Mutex<Inner>,
    budget: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

static NEXT_BLOCK_ID: AtomicU64 = AtomicU64::new(1);

/// A process-unique key for one opened block's frames.
pub fn next_block_id() -> u64 {
    NEXT_BLOCK_ID.fetch_add(1, Ordering::Relaxed)
}

/// The process-wide cache (blocks of every `Db` share one budget).
pub fn global() -> &'static FrameCache {
    static CACHE: std::sync::OnceLock<FrameCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| FrameCache::new(DEFAULT_BYTES))
}

impl FrameCache {
    pub fn new(budget: u64) -> FrameCache {
        FrameCache {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                bytes: 0,
                tick: 0,
            }),
            budget: AtomicU64::new(budget),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Changes the budget; 0 disables caching (frames are decompressed per use).
    pub fn set_budget(&self, bytes: u64) {
        self.budget.store(bytes, Ordering::Relaxed);
        let mut g = self.inner.lock();
        Self::evict(&mut g, bytes);
    }

    pub fn get(&self, block: u64, frame: u32) -> Option<Arc<Vec<u8>>> {
        let mut g = self.inner.lock();
        g.tick += 1;
        let tick = g.tick;
        match g.map.get_mut(&(block, frame)) {
            Some(e) => {
                e.last_used = tick;
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(e.frame.clone())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    pub fn insert(&self, block: u64, frame: u32, data: Arc<Vec<u8>>) {
        let budget = self.budget.load(Ordering::Relaxed);
        let len = data.len() as u64;
        if len > budget / 4 {
            return;
        }
        let mut g = self.inner.lock();
        g.tick += 1;
        let tick = g.tick;
        if let Some(old) = g.map.insert(
            (block, frame),
            Entry {
                frame: data,
                last_used: tick,
            },
        ) {
            g.bytes -= old.frame.len() as u64;
        }
        g.bytes += len;
        Self::evict(&mut g, budget);
    }

    /// Drops a closed block's frames.
    pub fn forget_block(&self, block: u64) {
        let mut g = self.inner.lock();
        let mut freed = 0;
        g.map.retain(|(b, _), e| {
            if *b == block {
                freed += e.frame.len() as u64;
                false
            } else {
                true
            }
        });
        g.bytes -= freed;
    }

    /// Evicts least recently used frames until within `budget`. Linear in the
    /// number of cached frames (hundreds), and only after a decompression.
    fn evict(g: &mut Inner, budget: u64) {
        while g.bytes > budget {
            let Some((&key, _)) = g.map.iter().min_by_key(|(_, e)| e.last_used) else {
                break;
            };
            if let Some(e) = g.map.remove(&key) {
                g.bytes -= e.frame.len() as u64;
            }
        }
    }

    /// (bytes cached, hits, misses) for self-metrics.
    pub fn stats(&self) -> (u64, u64, u64) {
        (
            self.inner.lock().bytes,
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let c = FrameCache::new(40);
        for i in 0..3 {
            c.insert(1, i, Arc::new(vec![0; 10]));
        }
        assert!(c.get(1, 0).is_some());
        c.insert(1, 3, Arc::new(vec![0; 10]));
        c.insert(1, 4, Arc::new(vec![0; 10]));
        // Frame 1 was least recently used; 0 was touched after it.
        assert!(c.get(1, 1).is_none());
        assert!(c.get(1, 0).is_some());
        assert!(c.stats().0 <= 40);
        c.forget_block(1);
        assert_eq!(c.stats().0, 0);
        assert!(c.get(1, 0).is_none());
    }

    #[test]
    fn zero_budget_caches_nothing() {
        let c = FrameCache::new(0);
        c.insert(7, 0, Arc::new(vec![0; 10]));
        assert!(c.get(7, 0).is_none());
    }
}
