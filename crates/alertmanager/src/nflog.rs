//! The notification log (`nflog`): what was last sent per (group key,
//! receiver, integration, index). It is the only memory deduplication has,
//! and it is persisted so that a restart does not re-page.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::time::Ts;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    pub timestamp: Ts,
    pub expires_at: Ts,
}

#[derive(Default)]
pub struct NotificationLog {
    map: RwLock<HashMap<String, Entry>>,
    dirty: AtomicBool,
}

pub fn key(group_key: &str, receiver: &str, integration: &str, idx: usize) -> String {
    format!("{group_key}\u{0}{receiver}\u{0}{integration}\u{0}{idx}")
}

impl NotificationLog {
    pub fn from_entries(entries: Vec<(String, Entry)>) -> NotificationLog {
        NotificationLog {
            map: RwLock::new(entries.into_iter().collect()),
            dirty: AtomicBool::new(false),
        }
    }

    pub fn get(&self, key: &str) -> Option<Entry> {
        self.map.read().get(key).cloned()
    }

    pub fn log(
        &self,
        key: String,
        firing: BTreeSet<u64>,
        resolved: BTreeSet<u64>,
        now: Ts,
        retention: std::time::Duration,
    ) {
        self.map.write().insert(
            key,
            Entry {
                firing,
                resolved,
                timestamp: now,
                expires_at: now.add(retention),
            },
        );
        self.dirty.store(true, Ordering::Release);
    }

    pub fn entries(&self) -> Vec<(String, Entry)> {
        self.map
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Whether anything changed since the last call (for snapshots).
    pub fn take_dirty(&self) -> bool {
        self.dirty.swap(false, Ordering::AcqRel)
    }

    pub fn gc(&self, now: Ts) {
        let mut m = self.map.write();
        let before = m.len();
        m.retain(|_, e| e.expires_at > now);
        if m.len() != before {
            self.dirty.store(true, Ordering::Release);
        }
    }
}

/// `DedupStage.needsUpdate`: whether a notification is due given the last entry.
pub fn needs_update(
    entry: Option<&Entry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat: std::time::Duration,
    now: Ts,
) -> bool {
    let Some(e) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&e.firing) {
        return true;
    }
    // All resolved: notify (regardless of send_resolved) so the log forgets
    // the firing alerts; but not if the receiver never heard of them.
    if firing.is_empty() {
        return !e.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&e.resolved) {
        return true;
    }
    e.timestamp < now.sub(repeat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u64]) -> BTreeSet<u64> {
        v.iter().copied().collect()
    }

    #[test]
    fn dedup_rules() {
        let now = Ts::from_secs(10_000);
        let rep = std::time::Duration::from_secs(3600);
        assert!(needs_update(None, &set(&[1]), &set(&[]), true, rep, now));
        assert!(!needs_update(None, &set(&[]), &set(&[1]), true, rep, now));
        let e = Entry {
            firing: set(&[1, 2]),
            resolved: set(&[]),
            timestamp: Ts::from_secs(9_000),
            expires_at: Ts::ZERO,
        };
        assert!(!needs_update(
            Some(&e),
            &set(&[1]),
            &set(&[]),
            true,
            rep,
            now
        ));
        assert!(needs_update(
            Some(&e),
            &set(&[1, 3]),
            &set(&[]),
            false,
            rep,
            now
        ));
        assert!(needs_update(
            Some(&e),
            &set(&[1]),
            &set(&[2]),
            true,
            rep,
            now
        ));
        assert!(!needs_update(
            Some(&e),
            &set(&[1]),
            &set(&[2]),
            false,
            rep,
            now
        ));
        assert!(needs_update(
            Some(&e),
            &set(&[]),
            &set(&[1, 2]),
            false,
            rep,
            now
        ));
        // Repeat strictly after the interval.
        assert!(!needs_update(
            Some(&e),
            &set(&[1]),
            &set(&[]),
            false,
            rep,
            Ts::from_secs(12_600)
        ));
        assert!(needs_update(
            Some(&e),
            &set(&[1]),
            &set(&[]),
            false,
            rep,
            Ts::from_secs(12_601)
        ));
        let empty = Entry {
            firing: set(&[]),
            ..e
        };
        assert!(!needs_update(
            Some(&empty),
            &set(&[]),
            &set(&[1]),
            true,
            rep,
            now
        ));
    }
}
