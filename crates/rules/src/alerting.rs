//! Alerting rules: the pending → firing → inactive state machine of
//! Prometheus's `rules/alerting.go`, with `for`, `keep_firing_for`, the
//! `ALERTS`/`ALERTS_FOR_STATE` series and which alerts need (re)sending.

use std::collections::HashMap;

use sightline_model::Labels;

use crate::eval::EvalContext;
use crate::file::{RuleKind, RuleSpec};

/// Resolved alerts are kept (and re-sent) this long, so Alertmanager sees the
/// resolution even across its own restarts or missed sends.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule. Times are Unix milliseconds; 0 means unset.
#[derive(Debug, Clone)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Vec<(String, String)>,
    pub state: AlertState,
    pub value: f64,
    pub active_at: i64,
    pub fired_at: i64,
    pub resolved_at: i64,
    pub last_sent_at: i64,
    pub valid_until: i64,
    pub keep_firing_since: i64,
}

impl Alert {
    /// Prometheus's `needsSending`: firing or resolved alerts, when resolved
    /// since the last send or the resend delay has passed.
    fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        if self.resolved_at > self.last_sent_at {
            return true;
        }
        self.last_sent_at + resend_delay_ms < ts
    }
}

/// The mutable state of one alerting rule.
#[derive(Debug, Clone, Default)]
pub struct AlertingState {
    /// Alerts by label hash.
    pub active: HashMap<u64, Alert>,
    /// False until `for` state is restored after a restart: until then no
    /// `ALERTS` series are written (they would claim a fresh `activeAt`).
    pub restored: bool,
}

fn hold_ms(spec: &RuleSpec) -> (i64, i64) {
    match spec.kind {
        RuleKind::Alerting {
            for_ms,
            keep_firing_for_ms,
            ..
        } => (for_ms, keep_firing_for_ms),
        RuleKind::Recording => (0, 0),
    }
}

/// The alert's `ALERTS` sample labels (`alertstate` is `pending` or `firing`).
fn alerts_series(a: &Alert, name: &str) -> Labels {
    let mut b = a.labels.to_builder();
    b.set("__name__", name);
    if name == "ALERTS" {
        b.set("alertstate", a.state.as_str());
    }
    b.build()
}

impl AlertingState {
    /// Evaluates the rule at `ts` (query time `ts - query_offset_ms`) and
    /// returns the `ALERTS` and `ALERTS_FOR_STATE` samples to store.
    pub fn eval(
        &mut self,
        spec: &RuleSpec,
        ctx: &EvalContext,
        ts: i64,
        query_offset_ms: i64,
        limit: usize,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let (hold, keep_firing_for) = hold_ms(spec);
        let qt = ts - query_offset_ms;
        let vector = ctx.query(&spec.expr_text, &spec.expr, qt)?;
        let annotations = match &spec.kind {
            RuleKind::Alerting { annotations, .. } => annotations.as_slice(),
            RuleKind::Recording => &[],
        };
        let tmpl_name = format!("__alert_{}", spec.name);
        let mut result: HashMap<u64, Alert> = HashMap::with_capacity(vector.len());
        for (metric, value) in vector {
            let tmpl_labels: Vec<(String, String)> = metric
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            let expand = |text: &str| {
                ctx.expander
                    .expand(&tmpl_name, text, &tmpl_labels, value, qt)
            };
            let mut b = metric.to_builder();
            b.del("__name__");
            for (k, v) in &spec.labels {
                let v = expand(v);
                if v.is_empty() {
                    b.del(k);
                } else {
                    b.set(k.clone(), v);
                }
            }
            b.set("alertname", spec.name.clone());
            let labels = b.build();
            let annotations: Vec<(String, String)> = annotations
                .iter()
                .map(|(k, v)| (k.clone(), expand(v)))
                .collect();
            let h = labels.stable_hash();
            if result.contains_key(&h) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            result.insert(
                h,
                Alert {
                    labels,
                    annotations,
                    state: AlertState::Pending,
                    value,
                    active_at: ts,
                    fired_at: 0,
                    resolved_at: 0,
                    last_sent_at: 0,
                    valid_until: 0,
                    keep_firing_since: 0,
                },
            );
        }
        let present: Vec<u64> = result.keys().copied().collect();
        for (h, new) in result {
            match self.active.get_mut(&h) {
                // A still-active alert keeps its state and activeAt; value and text refresh.
                Some(a) if a.state != AlertState::Inactive => {
                    a.value = new.value;
                    a.annotations = new.annotations;
                    a.labels = new.labels;
                }
                _ => {
                    self.active.insert(h, new);
                }
            }
        }
        let mut out = Vec::new();
        let mut active_count = 0usize;
        let mut drop = Vec::new();
        for (h, a) in self.active.iter_mut() {
            if !present.contains(h) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep_firing_for > 0 {
                    if a.keep_firing_since == 0 {
                        a.keep_firing_since = ts;
                    }
                    keep_firing = ts - a.keep_firing_since < keep_firing_for;
                }
                // Pending alerts vanish at once; resolved ones after the retention.
                if a.state == AlertState::Pending
                    || (a.resolved_at != 0 && ts - a.resolved_at > RESOLVED_RETENTION_MS)
                {
                    drop.push(*h);
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = ts;
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = 0;
            }
            active_count += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= hold {
                a.state = AlertState::Firing;
                a.fired_at = ts;
            }
            if self.restored {
                out.push((alerts_series(a, "ALERTS"), 1.0));
                out.push((
                    alerts_series(a, "ALERTS_FOR_STATE"),
                    (a.active_at / 1000) as f64,
                ));
            }
        }
        for h in drop {
            self.active.remove(&h);
        }
        if limit > 0 && active_count > limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {active_count} alerts"
            ));
        }
        Ok(out)
    }

    /// The alerts to send now (`sendAlerts`), marking them sent; `valid_until`
    /// is `ts + 4 × max(resend delay, interval)` so two missed sends are tolerated.
    pub fn alerts_to_send(
        &mut self,
        ts: i64,
        resend_delay_ms: i64,
        interval_ms: i64,
    ) -> Vec<Alert> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if a.needs_sending(ts, resend_delay_ms) {
                a.last_sent_at = ts;
                a.valid_until = ts + 4 * resend_delay_ms.max(interval_ms);
                out.push(a.clone());
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// The overall rule state: the most severe of its alerts.
    pub fn state(&self) -> AlertState {
        let mut s = AlertState::Inactive;
        for a in self.active.values() {
            match a.state {
                AlertState::Firing => return AlertState::Firing,
                AlertState::Pending => s = AlertState::Pending,
                AlertState::Inactive => {}
            }
        }
        s
    }

    /// Active (pending or firing) alerts sorted by labels.
    pub fn active_alerts(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self
            .active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }
}
