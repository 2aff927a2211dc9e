//! Alert state machine, ALERTS series, templates and sending, evaluated at
//! controlled timestamps over a real TSDB.

use crate::common;

use std::sync::Arc;

use common::{MIN, fixture};
use parking_lot::Mutex;
use sightline_model::is_stale_nan;
use sightline_rules::AlertState;
use sightline_rules::notifier::{AlertSink, Notifier, NotifyAlert};

const T0: i64 = 1_700_000_000_000;

const GAUGE_RULES: &str = r#"
groups:
  - name: g
    rules:
      - alert: TooMany
        expr: errors > 5
        for: 2m
        keep_firing_for: 0s
        labels: {severity: page}
        annotations:
          summary: "{{ $labels.job }} has {{ $value }} errors"
"#;

/// errors{job="a"} is 10 from T0 until `until`, then 0 (sampled every 15s).
fn write_errors(f: &common::Fixture, until: i64, end: i64) {
    f.write(
        &[("__name__", "errors"), ("job", "a")],
        (T0..=end).step_by(15_000),
        |t| if t < until { 10.0 } else { 0.0 },
    );
}

#[test]
fn pending_firing_inactive_and_alerts_series() {
    let f = fixture();
    write_errors(&f, T0 + 6 * MIN + 30_000, T0 + 30 * MIN);
    let mut g = f.group(GAUGE_RULES);
    let db: &dyn sightline_tsdb::Appendable = f.db.as_ref();
    let state = |g: &sightline_rules::Group| g.rules[0].alerts.state();

    g.eval(&f.ctx, db, T0 + MIN, 60_000);
    assert_eq!(state(&g), AlertState::Pending);
    let a = g.rules[0].alerts.active_alerts()[0].clone();
    assert_eq!(a.active_at, T0 + MIN);
    assert_eq!(a.labels.get("alertname"), Some("TooMany"));
    assert_eq!(a.labels.get("severity"), Some("page"));
    assert_eq!(a.labels.get("__name__"), None);
    assert_eq!(
        a.annotations,
        vec![("summary".to_string(), "a has 10 errors".to_string())]
    );

    g.eval(&f.ctx, db, T0 + 2 * MIN, 60_000);
    assert_eq!(state(&g), AlertState::Pending, "for not yet elapsed");
    g.eval(&f.ctx, db, T0 + 3 * MIN, 60_000);
    assert_eq!(state(&g), AlertState::Firing);
    let fired = g.rules[0].alerts.active_alerts()[0].fired_at;
    assert_eq!(fired, T0 + 3 * MIN);

    // The condition ends at T0+6m: the alert resolves at the next evaluation.
    for m in 4..=7 {
        g.eval(&f.ctx, db, T0 + m * MIN, 60_000);
    }
    assert_eq!(state(&g), AlertState::Inactive);
    let kept = g.rules[0].alerts.active.values().next().unwrap().clone();
    assert_eq!(kept.resolved_at, T0 + 7 * MIN);

    // ALERTS: pending at 1m,2m; firing 3m..6m; a stale marker at 7m.
    let alerts = f.read(r#"ALERTS{alertname="TooMany"}"#, T0, T0 + 30 * MIN);
    let by_state = |s: &str| {
        alerts
            .iter()
            .find(|(l, _)| l.get("alertstate") == Some(s))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let pending = by_state("pending");
    assert_eq!(pending[0], (T0 + MIN, 1.0));
    assert_eq!(pending[1], (T0 + 2 * MIN, 1.0));
    assert!(
        is_stale_nan(pending[2].1),
        "pending series ends with a stale marker"
    );
    let firing = by_state("firing");
    assert_eq!(firing.len(), 5);
    assert!(is_stale_nan(firing[4].1));
    assert_eq!(firing[4].0, T0 + 7 * MIN);
    let fs = f.read(
        r#"ALERTS_FOR_STATE{alertname="TooMany"}"#,
        T0,
        T0 + 30 * MIN,
    );
    assert_eq!(fs[0].1[0].1, ((T0 + MIN) / 1000) as f64);
    assert_eq!(fs[0].0.get("severity"), Some("page"));

    // Resolved alerts are forgotten after 15 minutes.
    for m in 8..=23 {
        g.eval(&f.ctx, db, T0 + m * MIN, 60_000);
    }
    assert!(g.rules[0].alerts.active.is_empty());
}

#[test]
fn keep_firing_for_holds_then_resolves() {
    let f = fixture();
    write_errors(&f, T0 + 3 * MIN + 30_000, T0 + 20 * MIN);
    let rules = GAUGE_RULES
        .replace("for: 2m", "for: 1m")
        .replace("keep_firing_for: 0s", "keep_firing_for: 3m");
    let mut g = f.group(&rules);
    let db: &dyn sightline_tsdb::Appendable = f.db.as_ref();
    for m in 1..=3 {
        g.eval(&f.ctx, db, T0 + m * MIN, 60_000);
    }
    assert_eq!(g.rules[0].alerts.state(), AlertState::Firing);
    // Gone from 4m on (the last 10 is at 3m30s, 0 afterwards): kept firing 3 more minutes.
    for m in 4..=6 {
        g.eval(&f.ctx, db, T0 + m * MIN, 60_000);
        assert_eq!(g.rules[0].alerts.state(), AlertState::Firing, "at {m}m");
        assert_eq!(
            g.rules[0]
                .alerts
                .active
                .values()
                .next()
                .unwrap()
                .keep_firing_since,
            T0 + 4 * MIN
        );
    }
    g.eval(&f.ctx, db, T0 + 7 * MIN, 60_000);
    assert_eq!(g.rules[0].alerts.state(), AlertState::Inactive);
}

#[test]
fn pending_alert_that_vanishes_is_dropped() {
    let f = fixture();
    write_errors(&f, T0 + MIN + 30_000, T0 + 10 * MIN);
    let mut g = f.group(GAUGE_RULES);
    let db: &dyn sightline_tsdb::Appendable = f.db.as_ref();
    g.eval(&f.ctx, db, T0 + MIN, 60_000);
    assert_eq!(g.rules[0].alerts.state(), AlertState::Pending);
    g.eval(&f.ctx, db, T0 + 2 * MIN, 60_000);
    assert!(g.rules[0].alerts.active.is_empty());
}

const HIGH_ERROR_RATE: &str = r#"
groups:
  - name: service-alerts
    rules:
      - alert: HighErrorRate
        expr: |
          sum(rate(http_requests_total{status=~"5.."}[5m])) by (service)
          / sum(rate(http_requests_total[5m])) by (service) > 0.05
        for: 5m
        labels: {severity: critical}
        annotations:
          summary: "Error rate above 5% on {{ $labels.service }}"
          dashboard: "https://grafana.internal/d/services?var-service={{ $labels.service }}"
          ratio: "{{ $value | humanizePercentage }} in {{ $externalLabels.dc }}"
"#;

struct Capture(Mutex<Vec<NotifyAlert>>);

impl AlertSink for Capture {
    fn send(&self, a: &[NotifyAlert]) {
        self.0.lock().extend_from_slice(a);
    }
}

#[test]
fn high_error_rate_example_templates_and_sending() {
    let f = fixture();
    let times = || (T0..=T0 + 30 * MIN).step_by(15_000);
    let per_s = |rate: f64| move |t: i64| ((t - T0) / 1000) as f64 * rate;
    let series = [
        ("checkout", "500", 1.0),
        ("checkout", "200", 9.0),
        ("cart", "500", 0.01),
        ("cart", "200", 10.0),
    ];
    for (svc, status, rate) in series {
        f.write(
            &[
                ("__name__", "http_requests_total"),
                ("service", svc),
                ("status", status),
            ],
            times(),
            per_s(rate),
        );
    }
    let mut g = f.group(HIGH_ERROR_RATE);
    let cap = Arc::new(Capture(Mutex::new(Vec::new())));
    let notifier = Notifier::new(vec![cap.clone()]);
    *notifier.external_url.write() = "http://prom.example:9090".into();
    *notifier.external_labels.write() = vec![("dc".into(), "eu".into())];
    let db: &dyn sightline_tsdb::Appendable = f.db.as_ref();
    for m in 6..=11 {
        let out = g.eval(&f.ctx, db, T0 + m * MIN, 60_000);
        notifier.send_outgoing(&out);
    }
    let alerts = g.rules[0].alerts.active_alerts();
    assert_eq!(alerts.len(), 1, "only checkout crosses 5%");
    let a = alerts[0];
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.labels.get("service"), Some("checkout"));
    let ann: std::collections::HashMap<_, _> = a.annotations.iter().cloned().collect();
    assert_eq!(ann["summary"], "Error rate above 5% on checkout");
    assert_eq!(
        ann["dashboard"],
        "https://grafana.internal/d/services?var-service=checkout"
    );
    assert_eq!(ann["ratio"], "10% in eu");

    // Sent once when it fired at 11m (pending alerts are not sent).
    let sent = cap.0.lock().clone();
    assert_eq!(sent.len(), 1);
    let s = &sent[0];
    assert_eq!(s.starts_at, T0 + 11 * MIN);
    assert_eq!(s.ends_at, T0 + 11 * MIN + 4 * 60_000);
    assert_eq!(s.labels.get("dc"), Some("eu"), "external labels added");
    assert!(
        s.generator_url
            .starts_with("http://prom.example:9090/graph?g0.expr=sum"),
        "{}",
        s.generator_url
    );
    assert!(s.generator_url.ends_with("&g0.tab=1"));

    // Re-sent only after the resend delay (1m): not at 11m30s, yes at 12m+.
    notifier.send_outgoing(&g.eval(&f.ctx, db, T0 + 11 * MIN + 30_000, 60_000));
    assert_eq!(cap.0.lock().len(), 1);
    notifier.send_outgoing(&g.eval(&f.ctx, db, T0 + 12 * MIN + 30_000, 60_000));
    assert_eq!(cap.0.lock().len(), 2);
}

#[test]
fn template_error_shows_in_annotation() {
    let f = fixture();
    write_errors(&f, T0 + 30 * MIN, T0 + 5 * MIN);
    let rules = GAUGE_RULES.replace("{{ $labels.job }} has", "{{ query `sum(` }} has");
    let mut g = f.group(&rules);
    g.eval(&f.ctx, f.db.as_ref(), T0 + MIN, 60_000);
    let a = g.rules[0].alerts.active_alerts()[0].clone();
    assert!(
        a.annotations[0]
            .1
            .starts_with("<error expanding template: error executing template __alert_TooMany:"),
        "{}",
        a.annotations[0].1
    );
}

#[test]
fn limit_exceeded_is_an_error() {
    let f = fixture();
    write_errors(&f, T0 + 30 * MIN, T0 + 5 * MIN);
    f.write(
        &[("__name__", "errors"), ("job", "b")],
        (T0..=T0 + 5 * MIN).step_by(15_000),
        |_| 9.0,
    );
    let rules = GAUGE_RULES.replace("  - name: g\n", "  - name: g\n    limit: 1\n");
    let mut g = f.group(&rules);
    g.eval(&f.ctx, f.db.as_ref(), T0 + MIN, 60_000);
    assert_eq!(g.rules[0].health, sightline_rules::Health::Err);
    assert_eq!(g.rules[0].last_error, "exceeded limit of 1 with 2 alerts");
    assert!(g.rules[0].alerts.active.is_empty());
}
