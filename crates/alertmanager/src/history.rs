//! Alert history: every alert state transition and every notification
//! attempt outcome, appended to `history.jsonl` in the data directory and
//! kept (most recent first) in memory for `GET /api/v2/history`.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::labels::LabelSet;
use crate::time::Ts;

/// Events kept in memory (and on disk after compaction).
const KEEP: usize = 100_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub time: Ts,
    /// `alert` (a state transition) or `notification`.
    pub kind: Cow<'static, str>,
    /// Alert: `firing`, `resolved`, `suppressed`. Notification: `sent`, `failed`, `skipped`.
    pub state: Cow<'static, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Shared with the stored alert (no copy per event).
    pub labels: Option<std::sync::Arc<LabelSet>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_key: Option<String>,
    /// Notification: the fingerprints of the alerts it carried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Why: the error, or the silences/inhibiting alert for `suppressed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Event {
    pub fn new(time: Ts, kind: &str, state: &str) -> Event {
        Event {
            time,
            kind: word(kind),
            state: word(state),
            fingerprint: None,
            labels: None,
            receiver: None,
            integration: None,
            group_key: None,
            alerts: Vec::new(),
            status: None,
            attempts: None,
            detail: None,
        }
    }
}

/// The fixed vocabulary of `kind` and `state`.
const WORDS: [&str; 8] = [
    "alert",
    "notification",
    "firing",
    "resolved",
    "suppressed",
    "sent",
    "failed",
    "skipped",
];

/// A word of [`WORDS`] by its index (one byte per kept alert event).
fn word_index(s: &str) -> Option<u8> {
    WORDS.iter().position(|w| *w == s).map(|i| i as u8)
}

/// `s` without an allocation when it is one of [`WORDS`].
fn word(s: &str) -> Cow<'static, str> {
    match word_index(s) {
        Some(i) => Cow::Borrowed(WORDS[i as usize]),
        None => Cow::Owned(s.to_string()),
    }
}

pub struct History {
    inner: Mutex<Inner>,
}

/// An event as kept in memory: alert transitions (most events) compactly,
/// anything else boxed.
enum Stored {
    Alert {
        time: Ts,
        /// Index into [`WORDS`].
        state: u8,
        fp: u64,
        labels: Option<std::sync::Arc<LabelSet>>,
        detail: Option<Box<str>>,
    },
    Other(Box<Event>),
}

impl Stored {
    fn new(e: Event) -> Stored {
        let fp = e
            .fingerprint
            .as_deref()
            .and_then(|f| u64::from_str_radix(f, 16).ok())
            .filter(|fp| e.fingerprint.as_deref() == Some(&crate::labels::fp_string(*fp)));
        match (fp, word_index(&e.state)) {
            (Some(fp), Some(state))
                if e.kind == "alert"
                    && e.receiver.is_none()
                    && e.integration.is_none()
                    && e.group_key.is_none()
                    && e.alerts.is_empty()
                    && e.status.is_none()
                    && e.attempts.is_none() =>
            {
                Stored::Alert {
                    time: e.time,
                    state,
                    fp,
                    labels: e.labels,
                    detail: e.detail.map(String::into_boxed_str),
                }
            }
            _ => Stored::Other(Box::new(e)),
        }
    }

    fn event(&self) -> Event {
        match self {
            Stored::Alert {
                time,
                state,
                fp,
                labels,
                detail,
            } => {
                let mut e = Event::new(*time, "alert", WORDS[*state as usize]);
                e.fingerprint = Some(crate::labels::fp_string(*fp));
                e.labels = labels.clone();
                e.detail = detail.as_deref().map(str::to_string);
                e
            }
            Stored::Other(e) => (**e).clone(),
        }
    }
}

struct Inner {
    events: VecDeque<Stored>,
    /// Last recorded state per alert (index into [`WORDS`]; `u8::MAX` for
    /// another word), so only transitions are recorded.
    last: HashMap<u64, u8>,
    file: Option<(PathBuf, std::fs::File, u64)>,
}

/// Query filter for [`History::query`].
#[derive(Default, Debug)]
pub struct Filter {
    pub fingerprint: Option<String>,
    pub receiver: Option<String>,
    pub kind: Option<String>,
    pub matchers: Vec<crate::matchers::Matcher>,
    pub since: Option<Ts>,
    pub until: Option<Ts>,
    pub limit: usize,
}

impl History {
    /// Opens (or creates) `dir/history.jsonl`; `None` keeps history in memory only.
    pub fn open(dir: Option<PathBuf>) -> History {
        let mut events = VecDeque::new();
        let mut last = HashMap::new();
        let mut file = None;
        if let Some(dir) = dir {
            let path = dir.join("history.jsonl");
            if let Ok(text) = std::fs::read_to_string(&path) {
                for line in text.lines() {
                    // A torn last line (crash mid-write) is skipped.
                    if let Ok(e) = serde_json::from_str::<Event>(line) {
                        events.push_back(e);
                    }
                }
                while events.len() > KEEP {
                    events.pop_front();
                }
            }
            for e in &events {
                if e.kind == "alert"
                    && let Some(fp) = e
                        .fingerprint
                        .as_deref()
                        .and_then(|f| u64::from_str_radix(f, 16).ok())
                {
                    last.insert(fp, word_index(&e.state).unwrap_or(u8::MAX));
                }
            }
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
            {
                Ok(f) => {
                    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                    file = Some((path, f, size));
                }
                Err(e) => {
                    tracing::error!(error = %e, path = %path.display(), "cannot open alert history file; history kept in memory only")
                }
            }
        }
        let events = events.into_iter().map(Stored::new).collect();
        History {
            inner: Mutex::new(Inner { events, last, file }),
        }
    }

    pub fn record(&self, e: Event) {
        let mut g = self.inner.lock();
        if let Some((path, f, size)) = &mut g.file
            && let Ok(mut line) = serde_json::to_vec(&e)
        {
            line.push(b'\n');
            if let Err(err) = f.write_all(&line) {
                tracing::warn!(error = %err, path = %path.display(), "writing alert history");
            }
            *size += line.len() as u64;
        }
        g.events.push_back(Stored::new(e));
        if g.events.len() > KEEP {
            g.events.pop_front();
        }
        // Compact the file when it holds much more than what is kept.
        let needs_compaction = g
            .file
            .as_ref()
            .is_some_and(|(_, _, size)| *size > 256 << 20);
        if needs_compaction {
            let Inner { events, file, .. } = &mut *g;
            if let Some((path, f, size)) = file {
                let tmp = path.with_extension("jsonl.tmp");
                let mut buf = Vec::new();
                for e in events.iter() {
                    if let Ok(l) = serde_json::to_vec(&e.event()) {
                        buf.extend_from_slice(&l);
                        buf.push(b'\n');
                    }
                }
                if std::fs::write(&tmp, &buf).is_ok()
                    && std::fs::rename(&tmp, &*path).is_ok()
                    && let Ok(nf) = std::fs::OpenOptions::new().append(true).open(&*path)
                {
                    *f = nf;
                    *size = buf.len() as u64;
                }
            }
        }
    }

    /// Records an alert state if it differs from the last one recorded.
    pub fn alert_state(
        &self,
        now: Ts,
        fp: u64,
        labels: &std::sync::Arc<LabelSet>,
        state: &str,
        detail: Option<String>,
    ) {
        {
            let mut g = self.inner.lock();
            let w = word_index(state).unwrap_or(u8::MAX);
            if w != u8::MAX && g.last.get(&fp) == Some(&w) {
                return;
            }
            g.last.insert(fp, w);
        }
        let mut e = Event::new(now, "alert", state);
        e.fingerprint = Some(crate::labels::fp_string(fp));
        e.labels = Some(labels.clone());
        e.detail = detail;
        self.record(e);
    }

    /// The last recorded state of an alert.
    pub fn last_state(&self, fp: u64) -> Option<String> {
        self.inner
            .lock()
            .last
            .get(&fp)
            .and_then(|w| WORDS.get(*w as usize))
            .map(|s| s.to_string())
    }

    /// Stops tracking an alert (deleted from the store).
    pub fn forget(&self, fp: u64) {
        self.inner.lock().last.remove(&fp);
    }

    /// Matching events, newest first.
    pub fn query(&self, f: &Filter) -> Vec<Event> {
        let g = self.inner.lock();
        let limit = if f.limit == 0 { 1000 } else { f.limit };
        g.events
            .iter()
            .rev()
            .map(Stored::event)
            .filter(|e| f.kind.as_ref().is_none_or(|k| &e.kind == k))
            .filter(|e| f.since.is_none_or(|t| e.time >= t) && f.until.is_none_or(|t| e.time <= t))
            .filter(|e| {
                f.receiver
                    .as_ref()
                    .is_none_or(|r| e.receiver.as_ref() == Some(r))
            })
            .filter(|e| {
                f.fingerprint
                    .as_ref()
                    .is_none_or(|fp| e.fingerprint.as_ref() == Some(fp) || e.alerts.contains(fp))
            })
            .filter(|e| {
                f.matchers.is_empty()
                    || e.labels
                        .as_ref()
                        .is_some_and(|l| f.matchers.iter().all(|m| m.matches_labels(l)))
            })
            .take(limit)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ls;

    #[test]
    fn transitions_persist_and_query() {
        let dir = tempfile::tempdir().unwrap();
        let l = std::sync::Arc::new(ls([("alertname", "A")]));
        {
            let h = History::open(Some(dir.path().to_path_buf()));
            h.alert_state(Ts::from_secs(1), 7, &l, "firing", None);
            h.alert_state(Ts::from_secs(2), 7, &l, "firing", None);
            h.alert_state(Ts::from_secs(3), 7, &l, "resolved", None);
            let mut n = Event::new(Ts::from_secs(4), "notification", "sent");
            n.receiver = Some("r".into());
            n.alerts = vec![crate::labels::fp_string(7)];
            h.record(n);
        }
        let h = History::open(Some(dir.path().to_path_buf()));
        let all = h.query(&Filter::default());
        assert_eq!(
            all.iter().map(|e| &*e.state).collect::<Vec<_>>(),
            ["sent", "resolved", "firing"]
        );
        assert_eq!(
            h.query(&Filter {
                fingerprint: Some(crate::labels::fp_string(7)),
                ..Default::default()
            })
            .len(),
            3
        );
        assert_eq!(
            h.query(&Filter {
                receiver: Some("r".into()),
                ..Default::default()
            })
            .len(),
            1
        );
        // The last state survives a restart: no duplicate transition.
        h.alert_state(Ts::from_secs(5), 7, &l, "resolved", None);
        assert_eq!(h.query(&Filter::default()).len(), 3);
    }
}
