//! Silences (`silence/silence.go`): validation, in-place update vs.
//! replace, expiry, matching and retention. The store is a map behind a lock;
//! persistence snapshots it (see `persist`).

use std::collections::HashMap;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::labels::{LabelSet, valid_label_name};
use crate::matchers::{MatchType, Matcher};
use crate::time::Ts;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "crate::config::default_true")]
    pub is_equal: bool,
}

impl SilenceMatcher {
    pub fn to_matcher(&self) -> Result<Matcher, String> {
        Matcher::new(
            MatchType::from_flags(self.is_regex, self.is_equal),
            &self.name,
            &self.value,
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<SilenceMatcher>,
    pub starts_at: Ts,
    pub ends_at: Ts,
    pub updated_at: Ts,
    pub created_by: String,
    pub comment: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Active,
    Pending,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Active => "active",
            SilenceState::Pending => "pending",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn state(&self, now: Ts) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now > self.ends_at {
            SilenceState::Expired
        } else {
            SilenceState::Active
        }
    }

    fn compiled(&self) -> Vec<Matcher> {
        self.matchers
            .iter()
            .filter_map(|m| m.to_matcher().ok())
            .collect()
    }

    pub fn matches(&self, labels: &LabelSet) -> bool {
        let ms = self.compiled();
        !ms.is_empty() && ms.iter().all(|m| m.matches_labels(labels))
    }

    fn validate(&self) -> Result<(), String> {
        if self.matchers.is_empty() {
            return Err("at least one matcher required".into());
        }
        let mut all_match_empty = true;
        for (i, m) in self.matchers.iter().enumerate() {
            if !valid_label_name(&m.name) {
                return Err(format!(
                    "invalid label matcher {i}: invalid label name {:?}",
                    m.name
                ));
            }
            let cm = m
                .to_matcher()
                .map_err(|e| format!("invalid label matcher {i}: {e}"))?;
            all_match_empty &= cm.matches("");
        }
        if all_match_empty {
            return Err("at least one matcher must not match the empty string".into());
        }
        if self.starts_at.is_zero() {
            return Err("invalid zero start timestamp".into());
        }
        if self.ends_at.is_zero() {
            return Err("invalid zero end timestamp".into());
        }
        if self.ends_at < self.starts_at {
            return Err("end time must not be before start time".into());
        }
        Ok(())
    }
}

#[derive(Debug, PartialEq)]
pub enum SetError {
    NotFound,
    Invalid(String),
}

/// A stored silence with its matchers compiled once.
struct Entry {
    sil: Silence,
    matchers: Vec<Matcher>,
}

impl Entry {
    fn new(sil: Silence) -> Entry {
        let matchers = sil.compiled();
        Entry { sil, matchers }
    }
}

/// All silences, including expired ones still within retention.
#[derive(Default)]
pub struct Silences {
    map: RwLock<HashMap<String, Entry>>,
}

/// A random version-4 UUID, as Alertmanager uses for silence IDs.
pub fn new_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl Silences {
    pub fn from_list(list: Vec<Silence>) -> Silences {
        Silences {
            map: RwLock::new(
                list.into_iter()
                    .map(|s| (s.id.clone(), Entry::new(s)))
                    .collect(),
            ),
        }
    }

    pub fn list(&self) -> Vec<Silence> {
        self.map.read().values().map(|e| e.sil.clone()).collect()
    }

    pub fn get(&self, id: &str) -> Option<Silence> {
        self.map.read().get(id).map(|e| e.sil.clone())
    }

    /// Creates or updates a silence; returns its (possibly new) id.
    pub fn set(&self, mut sil: Silence, now: Ts) -> Result<String, SetError> {
        let mut map = self.map.write();
        let prev = if sil.id.is_empty() {
            None
        } else {
            Some(
                map.get(&sil.id)
                    .map(|e| e.sil.clone())
                    .ok_or(SetError::NotFound)?,
            )
        };
        sil.updated_at = now;
        if let Some(prev) = &prev
            && can_update(prev, &sil, now)
        {
            sil.validate().map_err(SetError::Invalid)?;
            map.insert(sil.id.clone(), Entry::new(sil.clone()));
            return Ok(sil.id);
        }
        sil.id = new_uuid();
        if sil.starts_at < now {
            sil.starts_at = now;
        }
        sil.validate().map_err(SetError::Invalid)?;
        // Replacing: the old one is expired (unless it already is).
        if let Some(prev) = prev
            && let Some(old) = map.get_mut(&prev.id)
        {
            expire_in_place(&mut old.sil, now);
        }
        map.insert(sil.id.clone(), Entry::new(sil.clone()));
        Ok(sil.id)
    }

    /// Expires a silence now; already expired ones are left alone.
    pub fn expire(&self, id: &str, now: Ts) -> Result<(), SetError> {
        let mut map = self.map.write();
        let e = map.get_mut(id).ok_or(SetError::NotFound)?;
        expire_in_place(&mut e.sil, now);
        Ok(())
    }

    /// IDs of the active silences matching `labels`.
    pub fn silenced_by(&self, labels: &LabelSet, now: Ts) -> Vec<String> {
        let map = self.map.read();
        let mut ids: Vec<String> = map
            .values()
            .filter(|e| {
                e.sil.state(now) == SilenceState::Active
                    && !e.matchers.is_empty()
                    && e.matchers.iter().all(|m| m.matches_labels(labels))
            })
            .map(|e| e.sil.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Drops silences expired for longer than `retention`; returns how many.
    pub fn gc(&self, now: Ts, retention: std::time::Duration) -> usize {
        let mut map = self.map.write();
        let before = map.len();
        map.retain(|_, e| e.sil.ends_at.add(retention) > now);
        before - map.len()
    }
}

fn expire_in_place(s: &mut Silence, now: Ts) {
    match s.state(now) {
        SilenceState::Expired => return,
        SilenceState::Active => s.ends_at = now,
        SilenceState::Pending => {
            s.starts_at = now;
            s.ends_at = now;
        }
    }
    s.updated_at = now;
}

fn can_update(a: &Silence, b: &Silence, now: Ts) -> bool {
    if a.matchers != b.matchers {
        return false;
    }
    match a.state(now) {
        SilenceState::Active => b.starts_at == a.starts_at && b.ends_at >= now,
        SilenceState::Pending => b.starts_at >= now,
        SilenceState::Expired => false,
    }
}

/// `GET /api/v2/silences` order: active by end, pending by start, expired by end descending.
pub fn sort_for_api(list: &mut [Silence], now: Ts) {
    list.sort_by(|a, b| {
        let (sa, sb) = (a.state(now), b.state(now));
        sa.cmp(&sb).then_with(|| match sa {
            SilenceState::Active => a.ends_at.cmp(&b.ends_at),
            SilenceState::Pending => a.starts_at.cmp(&b.starts_at),
            SilenceState::Expired => b.ends_at.cmp(&a.ends_at),
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ls;

    fn sil(id: &str, start: i64, end: i64) -> Silence {
        Silence {
            id: id.into(),
            matchers: vec![SilenceMatcher {
                name: "alertname".into(),
                value: "A".into(),
                is_regex: false,
                is_equal: true,
            }],
            starts_at: Ts::from_secs(start),
            ends_at: Ts::from_secs(end),
            updated_at: Ts::ZERO,
            created_by: "me".into(),
            comment: "c".into(),
        }
    }

    #[test]
    fn create_update_replace_expire() {
        let s = Silences::default();
        let now = Ts::from_secs(100);
        let id = s.set(sil("", 50, 200), now).unwrap();
        let got = s.get(&id).unwrap();
        assert_eq!(got.starts_at, now, "past start is clamped to now");
        assert_eq!(
            s.silenced_by(&ls([("alertname", "A")]), now),
            vec![id.clone()]
        );
        // Extending an active silence keeps its id.
        let mut upd = got.clone();
        upd.ends_at = Ts::from_secs(300);
        assert_eq!(s.set(upd, Ts::from_secs(110)).unwrap(), id);
        // Changing matchers replaces it and expires the old one.
        let mut repl = s.get(&id).unwrap();
        repl.matchers[0].value = "B".into();
        let id2 = s.set(repl, Ts::from_secs(120)).unwrap();
        assert_ne!(id2, id);
        assert_eq!(
            s.get(&id).unwrap().state(Ts::from_secs(121)),
            SilenceState::Expired
        );
        assert_eq!(s.set(sil("nope", 0, 1), now), Err(SetError::NotFound));
        s.expire(&id2, Ts::from_secs(130)).unwrap();
        assert!(
            s.silenced_by(&ls([("alertname", "B")]), Ts::from_secs(131))
                .is_empty()
        );
        assert_eq!(
            s.gc(Ts::from_secs(1000), std::time::Duration::from_secs(100)),
            2
        );
    }

    #[test]
    fn validation() {
        let s = Silences::default();
        let mut bad = sil("", 100, 200);
        bad.matchers[0] = SilenceMatcher {
            name: "a".into(),
            value: ".*".into(),
            is_regex: true,
            is_equal: true,
        };
        assert!(
            matches!(s.set(bad, Ts::from_secs(100)), Err(SetError::Invalid(e)) if e.contains("empty string"))
        );
        let mut neg = sil("", 100, 200);
        neg.matchers[0].is_equal = false;
        assert!(
            s.set(neg.clone(), Ts::from_secs(100)).is_err(),
            "a lone negative matcher matches everything"
        );
        neg.matchers.push(SilenceMatcher {
            name: "team".into(),
            value: "x".into(),
            is_regex: false,
            is_equal: true,
        });
        let id = s.set(neg, Ts::from_secs(100)).unwrap();
        assert!(
            s.silenced_by(&ls([("alertname", "Z"), ("team", "x")]), Ts::from_secs(150))
                .contains(&id)
        );
        assert!(
            s.silenced_by(&ls([("alertname", "A"), ("team", "x")]), Ts::from_secs(150))
                .is_empty()
        );
    }
}
