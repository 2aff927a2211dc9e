//! The alert store (`provider/mem`): alerts by fingerprint, merged on
//! re-send when their activity ranges overlap.

use std::collections::HashMap;

use parking_lot::RwLock;

use crate::alert::Alert;
use crate::time::Ts;

#[derive(Default)]
pub struct AlertStore {
    map: RwLock<HashMap<u64, Alert>>,
}

impl AlertStore {
    /// Stores `a` (merging with an overlapping stored copy); returns the stored alert.
    pub fn put(&self, mut a: Alert, now: Ts) -> Alert {
        let fp = a.fingerprint();
        let mut map = self.map.write();
        let stored = match map.get(&fp) {
            Some(old) => {
                // A re-sent alert keeps the stored label and annotation sets
                // when they are unchanged: the history and the groups still
                // hold the old ones, and a fresh copy per re-send (Prometheus
                // re-sends every alert each evaluation) doubled their memory.
                if old.labels == a.labels {
                    a.labels = old.labels.clone();
                }
                if old.annotations == a.annotations {
                    a.annotations = old.annotations.clone();
                }
                if (a.ends_at > old.starts_at && a.ends_at < old.ends_at)
                    || (a.starts_at > old.starts_at && a.starts_at < old.ends_at)
                {
                    old.merge(&a, now)
                } else {
                    a
                }
            }
            None => a,
        };
        map.insert(fp, stored.clone());
        stored
    }

    pub fn get(&self, fp: u64) -> Option<Alert> {
        self.map.read().get(&fp).cloned()
    }

    pub fn list(&self) -> Vec<Alert> {
        self.map.read().values().cloned().collect()
    }

    /// The alerts resolved at `now`.
    pub fn resolved(&self, now: Ts) -> Vec<Alert> {
        self.map
            .read()
            .values()
            .filter(|a| a.resolved_at(now))
            .cloned()
            .collect()
    }

    /// The fingerprints of the stored alerts (in no particular order).
    pub fn fingerprints(&self) -> Vec<u64> {
        self.map.read().keys().copied().collect()
    }

    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.read().is_empty()
    }

    /// Removes alerts resolved before `now`; returns their fingerprints.
    pub fn gc(&self, now: Ts) -> Vec<u64> {
        let mut map = self.map.write();
        let gone: Vec<u64> = map
            .iter()
            .filter(|(_, a)| a.resolved_at(now))
            .map(|(fp, _)| *fp)
            .collect();
        for fp in &gone {
            map.remove(fp);
        }
        gone
    }
}
