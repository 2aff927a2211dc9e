//! Inhibition (`inhibit/inhibit.go`): a target alert is muted while a firing
//! source alert agrees with it on the `equal` labels (missing = ""). Each
//! rule keeps a cache of the alerts matching its source side, fed by the
//! alert store, so checks do not scan every alert.

use std::collections::HashMap;

use parking_lot::RwLock;

use crate::alert::Alert;
use crate::config::InhibitRuleConfig;
use crate::labels::LabelSet;
use crate::matchers::{MatchType, Matcher, Matchers, parse_matchers};
use crate::time::Ts;

pub struct Rule {
    source: Matchers,
    target: Matchers,
    equal: Vec<String>,
    /// Source-side alerts by their `equal` label values, then fingerprint:
    /// a lookup only visits sources that can inhibit the target.
    cache: RwLock<HashMap<Vec<String>, HashMap<u64, Alert>>>,
}

fn side(
    m: &std::collections::BTreeMap<String, String>,
    re: &std::collections::BTreeMap<String, Option<String>>,
    ms: &[String],
) -> Matchers {
    let mut out = Vec::new();
    for (k, v) in m {
        out.push(Matcher::new(MatchType::Equal, k, v).expect("equality matchers build"));
    }
    for (k, v) in re {
        if let Ok(m) = Matcher::new(MatchType::Regexp, k, v.as_deref().unwrap_or("")) {
            out.push(m);
        }
    }
    for s in ms {
        out.extend(parse_matchers(s).unwrap_or_default());
    }
    Matchers(out)
}

impl Rule {
    fn equal_key(&self, labels: &LabelSet) -> Vec<String> {
        self.equal
            .iter()
            .map(|n| labels.get(n).unwrap_or_default().to_string())
            .collect()
    }
}

pub struct Inhibitor {
    rules: Vec<Rule>,
}

impl Inhibitor {
    pub fn new(cfg: &[InhibitRuleConfig]) -> Inhibitor {
        let rules = cfg
            .iter()
            .map(|c| Rule {
                source: side(&c.source_match, &c.source_match_re, &c.source_matchers),
                target: side(&c.target_match, &c.target_match_re, &c.target_matchers),
                equal: c.equal.clone(),
                cache: RwLock::new(HashMap::new()),
            })
            .collect();
        Inhibitor { rules }
    }

    /// Feeds a stored alert into the source caches.
    pub fn observe(&self, a: &Alert) {
        for r in &self.rules {
            if r.source.matches(&a.labels) {
                r.cache
                    .write()
                    .entry(r.equal_key(&a.labels))
                    .or_default()
                    .insert(a.fingerprint(), a.clone());
            }
        }
    }

    /// Forgets alerts deleted from the store.
    pub fn forget(&self, fp: u64) {
        for r in &self.rules {
            let mut c = r.cache.write();
            c.retain(|_, m| {
                m.remove(&fp);
                !m.is_empty()
            });
        }
    }

    /// The fingerprint of an alert inhibiting `labels` at `now`, if any.
    pub fn inhibited_by(&self, labels: &LabelSet, now: Ts) -> Option<u64> {
        let mut fp = None;
        for r in &self.rules {
            if !r.target.matches(labels) {
                continue;
            }
            let fp = *fp.get_or_insert_with(|| crate::labels::fingerprint(labels));
            // An alert matching both sides cannot be inhibited by alerts that
            // also match both sides (no self-inhibition).
            let two_sided = r.source.matches(labels);
            let cache = r.cache.read();
            // Missing `equal` labels are "" on both sides, so they are equal.
            let Some(candidates) = cache.get(&r.equal_key(labels)) else {
                continue;
            };
            for (sfp, s) in candidates.iter() {
                if s.resolved_at(now) || (two_sided && r.target.matches(&s.labels)) {
                    continue;
                }
                if *sfp == fp && two_sided {
                    continue;
                }
                return Some(*sfp);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ls;

    fn alert(l: LabelSet, end: i64) -> Alert {
        Alert {
            labels: l.into(),
            annotations: LabelSet::new().into(),
            starts_at: Ts::from_secs(0),
            ends_at: Ts::from_secs(end),
            generator_url: "".into(),
            updated_at: Ts::from_secs(0),
            timeout: false,
        }
    }

    fn inhibitor(yaml: &str) -> Inhibitor {
        let cfg = crate::config::load_str(
            &format!("route: {{receiver: a}}\nreceivers: [{{name: a}}]\ninhibit_rules:\n{yaml}"),
            "t",
        )
        .unwrap();
        Inhibitor::new(&cfg.inhibit_rules)
    }

    #[test]
    fn equal_labels_and_missing_labels() {
        let ih = inhibitor(
            "  - source_match: {severity: critical}\n    target_matchers: ['severity=\"warning\"']\n    equal: [alertname, service]\n",
        );
        let crit = alert(
            ls([
                ("alertname", "A"),
                ("service", "x"),
                ("severity", "critical"),
            ]),
            100,
        );
        ih.observe(&crit);
        let now = Ts::from_secs(50);
        assert_eq!(
            ih.inhibited_by(
                &ls([
                    ("alertname", "A"),
                    ("service", "x"),
                    ("severity", "warning")
                ]),
                now
            ),
            Some(crit.fingerprint())
        );
        assert_eq!(
            ih.inhibited_by(
                &ls([
                    ("alertname", "A"),
                    ("service", "y"),
                    ("severity", "warning")
                ]),
                now
            ),
            None
        );
        // Resolved sources no longer inhibit.
        assert_eq!(
            ih.inhibited_by(
                &ls([
                    ("alertname", "A"),
                    ("service", "x"),
                    ("severity", "warning")
                ]),
                Ts::from_secs(100)
            ),
            None
        );
        // Missing equal labels on both sides count as equal.
        let c2 = alert(ls([("severity", "critical")]), 100);
        ih.observe(&c2);
        assert_eq!(
            ih.inhibited_by(&ls([("severity", "warning")]), now),
            Some(c2.fingerprint())
        );
    }

    #[test]
    fn no_self_inhibition() {
        let ih =
            inhibitor("  - source_matchers: ['team=\"a\"']\n    target_matchers: ['team=\"a\"']\n");
        let a1 = alert(ls([("alertname", "1"), ("team", "a")]), 100);
        ih.observe(&a1);
        assert_eq!(ih.inhibited_by(&a1.labels, Ts::from_secs(1)), None);
        assert_eq!(
            ih.inhibited_by(&ls([("alertname", "2"), ("team", "a")]), Ts::from_secs(1)),
            None
        );
    }
}
