//! A rule group: its rules evaluated in order at one timestamp, results
//! stored in one transaction, staleness markers for series that vanished,
//! and the evaluation-time grid (`EvalTimestamp`) of Prometheus's `rules/group.go`.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use sightline_model::{Labels, stale_nan};
use sightline_tsdb::Appendable;

use crate::alerting::{Alert, AlertingState};
use crate::eval::EvalContext;
use crate::file::{GroupSpec, RuleKind, RuleSpec};
use crate::recording;

/// Health of a rule after its last evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Ok,
    Err,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// One rule with its evaluation status.
#[derive(Debug, Clone)]
pub struct Rule {
    pub spec: RuleSpec,
    pub health: Health,
    pub last_error: String,
    /// Unix ms of the last evaluation (0: never).
    pub last_eval: i64,
    pub eval_seconds: f64,
    /// Alert state (alerting rules only).
    pub alerts: AlertingState,
    /// Series written at the previous evaluation, to mark the vanished ones stale.
    prev_series: HashSet<Labels>,
}

impl Rule {
    fn new(spec: RuleSpec) -> Rule {
        Rule {
            spec,
            health: Health::Unknown,
            last_error: String::new(),
            last_eval: 0,
            eval_seconds: 0.0,
            alerts: AlertingState::default(),
            prev_series: HashSet::new(),
        }
    }
}

/// Identifies a rule across reloads: its name and labels.
type RuleKey = (String, Vec<(String, String)>);

/// Alerts a group hands to the notifier after an evaluation.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub expr: String,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub file: String,
    pub interval_ms: i64,
    pub query_offset_ms: i64,
    pub limit: usize,
    pub rules: Vec<Rule>,
    pub last_eval: i64,
    pub eval_seconds: f64,
    /// Restore `for` state from `ALERTS_FOR_STATE` after the second evaluation.
    pub should_restore: bool,
    /// Counters behind Prometheus's `prometheus_rule_*` metrics of this group.
    pub counters: GroupCounters,
}

/// Cumulative per-group counts, kept across reloads that change the group.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupCounters {
    /// Rule evaluations (one per rule per iteration).
    pub evaluations: u64,
    pub evaluation_failures: u64,
    /// Scheduled iterations, run or missed.
    pub iterations: u64,
    pub iterations_missed: u64,
}

impl Group {
    pub fn new(spec: GroupSpec, default_interval_ms: i64, default_offset_ms: i64) -> Group {
        Group {
            interval_ms: spec.interval_ms.unwrap_or(default_interval_ms).max(1),
            query_offset_ms: spec.query_offset_ms.unwrap_or(default_offset_ms),
            limit: spec.limit,
            rules: spec.rules.into_iter().map(Rule::new).collect(),
            name: spec.name,
            file: spec.file,
            last_eval: 0,
            eval_seconds: 0.0,
            should_restore: false,
            counters: GroupCounters::default(),
        }
    }

    /// Whether two groups are the same definition (a reload keeps such a group running).
    pub fn same_definition(&self, o: &Group) -> bool {
        self.name == o.name
            && self.file == o.file
            && self.interval_ms == o.interval_ms
            && self.query_offset_ms == o.query_offset_ms
            && self.limit == o.limit
            && self.rules.len() == o.rules.len()
            && self.rules.iter().zip(&o.rules).all(|(a, b)| {
                a.spec.name == b.spec.name
                    && a.spec.expr_text == b.spec.expr_text
                    && a.spec.labels == b.spec.labels
                    && format!("{:?}", a.spec.kind) == format!("{:?}", b.spec.kind)
            })
    }

    /// Takes over alert state and staleness tracking from the group this one
    /// replaces (`CopyState`): rules are matched by name and labels, in order.
    pub fn copy_state(&mut self, old: &Group) {
        self.last_eval = old.last_eval;
        self.eval_seconds = old.eval_seconds;
        self.counters = old.counters;
        let mut by_key: HashMap<RuleKey, Vec<usize>> = HashMap::new();
        for (i, r) in old.rules.iter().enumerate() {
            by_key
                .entry((r.spec.name.clone(), r.spec.labels.clone()))
                .or_default()
                .push(i);
        }
        for r in &mut self.rules {
            let Some(idx) = by_key.get_mut(&(r.spec.name.clone(), r.spec.labels.clone())) else {
                continue;
            };
            if idx.is_empty() {
                continue;
            }
            let o = &old.rules[idx.remove(0)];
            r.prev_series = o.prev_series.clone();
            r.health = o.health;
            r.last_error = o.last_error.clone();
            r.last_eval = o.last_eval;
            r.eval_seconds = o.eval_seconds;
            if r.spec.is_alerting() && o.spec.is_alerting() {
                r.alerts = o.alerts.clone();
            }
        }
    }

    /// The group's hash, which spreads groups over their interval.
    fn hash(&self) -> u64 {
        Labels::from_pairs([("name", self.name.as_str()), ("file", self.file.as_str())])
            .stable_hash()
    }

    /// The evaluation time at or before `now_ms` on this group's grid
    /// (`EvalTimestamp`): multiples of the interval shifted by a per-group offset.
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        let iv = self.interval_ms;
        let offset = (self.hash() % iv as u64) as i64;
        let adj = now_ms - offset;
        let base = adj - adj.rem_euclid(iv);
        base + offset
    }

    /// Evaluates every rule at `ts`, stores the results and staleness markers,
    /// and returns the alerts to send (resend delay `resend_delay_ms`).
    pub fn eval(
        &mut self,
        ctx: &EvalContext,
        storage: &dyn Appendable,
        ts: i64,
        resend_delay_ms: i64,
    ) -> Vec<Outgoing> {
        let started = Instant::now();
        let sample_ts = ts - self.query_offset_ms;
        let mut app = storage.appender();
        let mut outgoing = Vec::new();
        self.counters.iterations += 1;
        for r in &mut self.rules {
            self.counters.evaluations += 1;
            let rule_started = Instant::now();
            r.last_eval = ts;
            let res = match r.spec.kind {
                RuleKind::Recording => recording::eval(&r.spec, ctx, sample_ts, self.limit),
                RuleKind::Alerting { .. } => {
                    r.alerts
                        .eval(&r.spec, ctx, ts, self.query_offset_ms, self.limit)
                }
            };
            if r.spec.is_alerting() {
                let alerts = r
                    .alerts
                    .alerts_to_send(ts, resend_delay_ms, self.interval_ms);
                if !alerts.is_empty() {
                    outgoing.push(Outgoing {
                        expr: r.spec.expr.to_string(),
                        alerts,
                    });
                }
            }
            r.eval_seconds = rule_started.elapsed().as_secs_f64();
            let samples = match res {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(group = %self.name, rule = %r.spec.name, error = %e, "rule evaluation failed");
                    r.health = Health::Err;
                    r.last_error = e;
                    self.counters.evaluation_failures += 1;
                    continue;
                }
            };
            r.health = Health::Ok;
            r.last_error.clear();
            let mut now_series = HashSet::with_capacity(samples.len());
            for (l, v) in samples {
                if let Err(e) = app.append(&l, sample_ts, v) {
                    tracing::debug!(series = %l, reason = ?e, "rule sample refused");
                }
                now_series.insert(l);
            }
            for gone in r.prev_series.difference(&now_series) {
                let _ = app.append(gone, sample_ts, stale_nan());
            }
            r.prev_series = now_series;
        }
        if let Err(e) = app.commit() {
            tracing::error!(group = %self.name, error = %e, "storing rule results failed");
        }
        self.last_eval = ts;
        self.eval_seconds = started.elapsed().as_secs_f64();
        outgoing
    }

    /// Marks every series this group wrote stale (the group was removed).
    pub fn mark_all_stale(&mut self, storage: &dyn Appendable, ts: i64) {
        let mut app = storage.appender();
        let t = ts - self.query_offset_ms;
        for r in &mut self.rules {
            for l in r.prev_series.drain() {
                let _ = app.append(&l, t, stale_nan());
            }
        }
        let _ = app.commit();
    }

    pub fn set_restored(&mut self) {
        for r in &mut self.rules {
            r.alerts.restored = true;
        }
    }
}
