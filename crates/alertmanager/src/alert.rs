//! Alerts as Alertmanager stores them (`types.Alert`): identity by label
//! fingerprint, soft "timeout" end times, and the merge rule for re-sent alerts.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::labels::{LabelSet, fingerprint, valid_label_name};
use crate::time::Ts;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Shared, immutable: copies of an alert (groups, inhibition caches,
    /// history) cost a reference count, not a label map.
    pub labels: Arc<LabelSet>,
    pub annotations: Arc<LabelSet>,
    pub starts_at: Ts,
    pub ends_at: Ts,
    pub generator_url: Arc<str>,
    pub updated_at: Ts,
    /// `ends_at` was not given by the client but derived from `resolve_timeout`.
    pub timeout: bool,
}

impl Alert {
    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }

    /// Resolved at `t`: an end time that is not after `t`.
    pub fn resolved_at(&self, t: Ts) -> bool {
        !self.ends_at.is_zero() && self.ends_at <= t
    }

    /// `types.Alert.Merge`: `self` is the stored alert, `o` the incoming one.
    pub fn merge(&self, o: &Alert, now: Ts) -> Alert {
        if o.updated_at < self.updated_at {
            return o.merge(self, now);
        }
        let mut res = o.clone();
        if self.starts_at < o.starts_at {
            res.starts_at = self.starts_at;
        }
        if o.resolved_at(now) {
            if self.resolved_at(now) && self.ends_at > o.ends_at {
                res.ends_at = self.ends_at;
            }
        } else if self.ends_at > o.ends_at && !self.timeout {
            res.ends_at = self.ends_at;
        }
        res
    }

    /// `types.Alert.Validate`.
    pub fn validate(&self) -> Result<(), String> {
        if self.starts_at.is_zero() {
            return Err("start time missing".into());
        }
        if !self.ends_at.is_zero() && self.ends_at < self.starts_at {
            return Err("start time must be before end time".into());
        }
        for n in self.labels.keys() {
            if !valid_label_name(n) {
                return Err(format!("invalid label set: invalid name {n:?}"));
            }
        }
        if self.labels.is_empty() {
            return Err("at least one label pair required".into());
        }
        for n in self.annotations.keys() {
            if !valid_label_name(n) {
                return Err(format!("invalid annotations: invalid name {n:?}"));
            }
        }
        Ok(())
    }
}

/// `POST /api/v2/alerts` body element.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: Option<LabelSet>,
    #[serde(default)]
    pub starts_at: Option<Ts>,
    #[serde(default)]
    pub ends_at: Option<Ts>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
}

impl PostableAlert {
    /// The stored form at receive time `now` (API v2 handler rules).
    pub fn into_alert(self, now: Ts, resolve_timeout: std::time::Duration) -> Alert {
        let starts = self.starts_at.filter(|t| !t.is_zero());
        let ends = self.ends_at.filter(|t| !t.is_zero());
        let mut labels = self.labels;
        labels.retain(|_, v| !v.is_empty());
        let mut annotations = self.annotations.unwrap_or_default();
        annotations.retain(|_, v| !v.is_empty());
        let starts_at = starts.or(ends).unwrap_or(now);
        let (ends_at, timeout) = match ends {
            Some(e) => (e, false),
            None => (now.add(resolve_timeout), true),
        };
        Alert {
            labels: Arc::new(labels),
            annotations: Arc::new(annotations),
            starts_at,
            ends_at,
            generator_url: crate::labels::intern::arc_str(
                self.generator_url.as_deref().unwrap_or(""),
            ),
            updated_at: now,
            timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ls;

    fn a(start: i64, end: i64, upd: i64, timeout: bool) -> Alert {
        Alert {
            labels: ls([("a", "1")]).into(),
            annotations: LabelSet::new().into(),
            starts_at: Ts::from_secs(start),
            ends_at: Ts::from_secs(end),
            generator_url: "".into(),
            updated_at: Ts::from_secs(upd),
            timeout,
        }
    }

    #[test]
    fn merge_rules() {
        let now = Ts::from_secs(100);
        // Earliest start wins; a soft timeout end does not override an explicit later one.
        let old = a(10, 400, 50, false);
        let new = a(20, 300, 90, true);
        let m = old.merge(&new, now);
        assert_eq!(
            (m.starts_at, m.ends_at),
            (Ts::from_secs(10), Ts::from_secs(400))
        );
        // A timed-out old end does not extend the new one.
        let m = a(10, 400, 50, true).merge(&new, now);
        assert_eq!(m.ends_at, Ts::from_secs(300));
        // The newer copy resolved: its end wins.
        let m = old.merge(&a(20, 90, 95, false), now);
        assert_eq!(m.ends_at, Ts::from_secs(90));
    }

    #[test]
    fn postable_defaults() {
        let p: PostableAlert =
            serde_json::from_str(r#"{"labels":{"alertname":"x","empty":""}}"#).unwrap();
        let al = p.into_alert(Ts::from_secs(100), std::time::Duration::from_secs(300));
        assert_eq!(*al.labels, ls([("alertname", "x")]));
        assert!(
            al.timeout && al.ends_at == Ts::from_secs(400) && al.starts_at == Ts::from_secs(100)
        );
        let p: PostableAlert =
            serde_json::from_str(r#"{"labels":{"alertname":"x"},"endsAt":"1970-01-01T00:00:50Z"}"#)
                .unwrap();
        let al = p.into_alert(Ts::from_secs(100), std::time::Duration::from_secs(300));
        assert_eq!(al.starts_at, Ts::from_secs(50));
        assert!(al.validate().is_ok());
        assert!(
            Alert {
                labels: LabelSet::new().into(),
                ..al
            }
            .validate()
            .is_err()
        );
    }
}
