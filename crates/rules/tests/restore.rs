//! `for` state survives a restart: restored from ALERTS_FOR_STATE, an alert
//! that had waited its `for` fires at once, one that had not keeps waiting
//! only the remainder.

use crate::common;

use common::{MIN, fixture};
use sightline_rules::AlertState;
use sightline_rules::restore::{RestoreOptions, restore_for_state};

const T0: i64 = 1_700_000_000_000;

const RULES: &str = r#"
groups:
  - name: g
    rules:
      - alert: Long
        expr: errors > 5
        for: 20m
"#;

#[test]
fn firing_alert_fires_again_at_once_after_restart() {
    let f = fixture();
    f.write(
        &[("__name__", "errors"), ("job", "a")],
        (T0..=T0 + 60 * MIN).step_by(15_000),
        |_| 10.0,
    );
    // First life: active from 1m, firing from 21m, down after 25m.
    let mut g = f.group(RULES);
    for m in 1..=25 {
        g.eval(&f.ctx, f.db.as_ref(), T0 + m * MIN, 60_000);
    }
    assert_eq!(g.rules[0].alerts.state(), AlertState::Firing);

    // Restart at 30m: a fresh group, not restored, evaluates twice then restores.
    let mut specs = sightline_rules::parse_str(RULES, "test.yml").unwrap();
    let mut g2 = sightline_rules::Group::new(specs.remove(0), 60_000, 0);
    g2.should_restore = true;
    g2.eval(&f.ctx, f.db.as_ref(), T0 + 30 * MIN, 60_000);
    g2.eval(&f.ctx, f.db.as_ref(), T0 + 31 * MIN, 60_000);
    assert_eq!(g2.rules[0].alerts.state(), AlertState::Pending);
    // No ALERTS written before the restore (they would claim a new activeAt).
    let early = f.read(
        r#"ALERTS_FOR_STATE{alertname="Long"}"#,
        T0 + 30 * MIN,
        T0 + 31 * MIN,
    );
    assert!(early.is_empty());
    restore_for_state(
        &mut g2,
        f.db.as_ref(),
        T0 + 31 * MIN,
        RestoreOptions::default(),
    );
    let a = g2.rules[0].alerts.active.values().next().unwrap();
    assert_eq!(a.active_at, T0 + MIN, "original activeAt kept");
    g2.eval(&f.ctx, f.db.as_ref(), T0 + 32 * MIN, 60_000);
    assert_eq!(g2.rules[0].alerts.state(), AlertState::Firing, "no re-wait");
}

#[test]
fn pending_alert_waits_only_the_remainder() {
    let f = fixture();
    f.write(
        &[("__name__", "errors"), ("job", "a")],
        (T0..=T0 + 60 * MIN).step_by(15_000),
        |_| 10.0,
    );
    // Pending from 1m; down after 6m (5m of its 20m spent).
    let mut g = f.group(RULES);
    for m in 1..=6 {
        g.eval(&f.ctx, f.db.as_ref(), T0 + m * MIN, 60_000);
    }
    let mut specs = sightline_rules::parse_str(RULES, "test.yml").unwrap();
    let mut g2 = sightline_rules::Group::new(specs.remove(0), 60_000, 0);
    g2.eval(&f.ctx, f.db.as_ref(), T0 + 10 * MIN, 60_000);
    g2.eval(&f.ctx, f.db.as_ref(), T0 + 11 * MIN, 60_000);
    restore_for_state(
        &mut g2,
        f.db.as_ref(),
        T0 + 11 * MIN,
        RestoreOptions::default(),
    );
    // 15m remain, counted from the restart: activeAt moves by the 5m downtime.
    let a = g2.rules[0].alerts.active.values().next().unwrap();
    assert_eq!(a.active_at, T0 + MIN + 5 * MIN);
    g2.eval(&f.ctx, f.db.as_ref(), T0 + 25 * MIN, 60_000);
    assert_eq!(g2.rules[0].alerts.state(), AlertState::Pending);
    g2.eval(&f.ctx, f.db.as_ref(), T0 + 26 * MIN, 60_000);
    assert_eq!(g2.rules[0].alerts.state(), AlertState::Firing);
}

#[test]
fn alert_due_within_grace_period_fires_at_its_end() {
    let f = fixture();
    f.write(
        &[("__name__", "errors"), ("job", "a")],
        (T0..=T0 + 60 * MIN).step_by(15_000),
        |_| 10.0,
    );
    // Pending from 1m, down after 18m: 3m remained (< 10m grace).
    let mut g = f.group(RULES);
    for m in 1..=18 {
        g.eval(&f.ctx, f.db.as_ref(), T0 + m * MIN, 60_000);
    }
    let mut specs = sightline_rules::parse_str(RULES, "test.yml").unwrap();
    let mut g2 = sightline_rules::Group::new(specs.remove(0), 60_000, 0);
    g2.eval(&f.ctx, f.db.as_ref(), T0 + 20 * MIN, 60_000);
    restore_for_state(
        &mut g2,
        f.db.as_ref(),
        T0 + 20 * MIN,
        RestoreOptions::default(),
    );
    let a = g2.rules[0].alerts.active.values().next().unwrap();
    assert_eq!(a.active_at, T0 + 20 * MIN + 10 * MIN - 20 * MIN);
    g2.eval(&f.ctx, f.db.as_ref(), T0 + 29 * MIN, 60_000);
    assert_eq!(g2.rules[0].alerts.state(), AlertState::Pending);
    g2.eval(&f.ctx, f.db.as_ref(), T0 + 30 * MIN, 60_000);
    assert_eq!(g2.rules[0].alerts.state(), AlertState::Firing);
}
