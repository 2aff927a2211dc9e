//! Restoring `for` state after a restart from the `ALERTS_FOR_STATE` series
//! (Prometheus's `RestoreForState`): an alert that was pending or firing
//! before the restart keeps its `activeAt`, shifted by the downtime when
//! needed, so it neither waits its `for` again nor fires earlier than it would
//! have, and always gets at least the grace period to be re-confirmed.

use std::collections::HashMap;

use sightline_model::{Labels, MatchOp, Matcher, is_stale_nan};
use sightline_tsdb::{Queryable, SelectHints};

use crate::file::RuleKind;
use crate::group::Group;

#[derive(Debug, Clone, Copy)]
pub struct RestoreOptions {
    /// Alerts not seen in `ALERTS_FOR_STATE` within this window are not restored.
    pub outage_tolerance_ms: i64,
    /// Minimum time an alert waits after a restart before it may fire.
    pub for_grace_period_ms: i64,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            outage_tolerance_ms: 3_600_000,
            for_grace_period_ms: 600_000,
        }
    }
}

/// Restores the group's alerting rules at `ts` (ms) and marks them restored.
pub fn restore_for_state(g: &mut Group, q: &dyn Queryable, ts: i64, o: RestoreOptions) {
    let querier = match q.querier(ts - o.outage_tolerance_ms, ts) {
        Ok(q) => q,
        Err(e) => {
            tracing::error!(group = %g.name, error = %e, "cannot restore alert state");
            g.set_restored();
            return;
        }
    };
    for r in &mut g.rules {
        let RuleKind::Alerting { for_ms: hold, .. } = r.spec.kind else {
            continue;
        };
        // Short `for` durations simply wait again: restoring could only delay them.
        if hold < o.for_grace_period_ms || r.alerts.active.is_empty() {
            r.alerts.restored = true;
            continue;
        }
        let matchers = [
            Matcher::new(MatchOp::Equal, "__name__", "ALERTS_FOR_STATE"),
            Matcher::new(MatchOp::Equal, "alertname", r.spec.name.clone()),
        ];
        let matchers: Vec<Matcher> = matchers.into_iter().filter_map(Result::ok).collect();
        let series = match querier.select(&matchers, &SelectHints::default()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(rule = %r.spec.name, error = %e, "querying ALERTS_FOR_STATE failed");
                r.alerts.restored = true;
                continue;
            }
        };
        let mut last_by_labels: HashMap<Labels, (i64, f64)> = HashMap::new();
        for s in series {
            let Some(last) = s.samples.last() else {
                continue;
            };
            let mut b = s.labels.to_builder();
            b.del("__name__");
            last_by_labels.insert(b.build(), (last.t, last.v));
        }
        for a in r.alerts.active.values_mut() {
            let Some(&(t, v)) = last_by_labels.get(&a.labels) else {
                continue;
            };
            // A stale marker means the alert had ended before the restart.
            if is_stale_nan(v) {
                continue;
            }
            let down_at = (t / 1000) * 1000;
            let mut active_at = (v as i64) * 1000;
            let remaining = hold - (down_at - active_at);
            if remaining <= 0 {
                // It had already waited its full `for`: keep the original activeAt.
            } else if remaining < o.for_grace_period_ms {
                // It would have fired within the grace period: fire at its end.
                active_at = ts + o.for_grace_period_ms - hold;
            } else {
                // Wait the rest of `for`, counting from now.
                active_at += ts - down_at;
            }
            a.active_at = active_at;
        }
        r.alerts.restored = true;
    }
}
