//! Recording rules write through the TSDB appender, with staleness markers
//! for series that disappear; group offsets and query offsets.

use crate::common;

use common::{MIN, fixture};
use sightline_model::is_stale_nan;

const T0: i64 = 1_700_000_000_000;

#[test]
fn records_series_and_marks_vanished_ones_stale() {
    let f = fixture();
    f.write(
        &[("__name__", "up"), ("job", "a"), ("instance", "x")],
        (T0..=T0 + 10 * MIN).step_by(15_000),
        |_| 1.0,
    );
    // job b stops reporting after 2 minutes (and is gone after the 5m lookback).
    f.write(
        &[("__name__", "up"), ("job", "b"), ("instance", "y")],
        (T0..=T0 + 2 * MIN).step_by(15_000),
        |_| 0.0,
    );
    let mut g = f.group(
        "groups:\n  - name: rec\n    labels: {team: infra}\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n        labels: {source: rule}\n",
    );
    for m in 1..=9 {
        g.eval(&f.ctx, f.db.as_ref(), T0 + m * MIN, 60_000);
    }
    let out = f.read(r#"job:up:sum"#, T0, T0 + 10 * MIN);
    assert_eq!(out.len(), 2);
    let a = &out[0];
    assert_eq!(a.0.get("job"), Some("a"));
    assert_eq!(a.0.get("team"), Some("infra"), "group labels apply");
    assert_eq!(a.0.get("source"), Some("rule"));
    assert_eq!(a.1.len(), 9);
    assert!(a.1.iter().all(|(_, v)| *v == 1.0));
    let b = &out[1];
    assert_eq!(b.0.get("job"), Some("b"));
    // Present while within the left-open 5m lookback (1m..6m), one stale marker at 7m, then nothing.
    let last = b.1.last().unwrap();
    assert!(is_stale_nan(last.1));
    assert_eq!(last.0, T0 + 7 * MIN);
    assert_eq!(b.1.len(), 7);
    assert_eq!(g.rules[0].health, sightline_rules::Health::Ok);
}

#[test]
fn duplicate_output_series_is_an_error() {
    let f = fixture();
    f.write(
        &[("__name__", "m"), ("a", "1")],
        (T0..=T0 + MIN).step_by(15_000),
        |_| 1.0,
    );
    f.write(
        &[("__name__", "m"), ("a", "2")],
        (T0..=T0 + MIN).step_by(15_000),
        |_| 1.0,
    );
    let mut g = f.group(
        "groups:\n  - name: rec\n    rules:\n      - record: r\n        expr: m\n        labels: {a: same}\n",
    );
    g.eval(&f.ctx, f.db.as_ref(), T0 + MIN, 60_000);
    assert_eq!(g.rules[0].health, sightline_rules::Health::Err);
    assert!(g.rules[0].last_error.contains("same labelset"));
}

#[test]
fn query_offset_shifts_query_and_sample_time() {
    let f = fixture();
    f.write(
        &[("__name__", "m")],
        (T0..=T0 + 2 * MIN).step_by(15_000),
        |t| ((t - T0) / 1000) as f64,
    );
    let mut g = f.group(
        "groups:\n  - name: rec\n    query_offset: 1m\n    rules:\n      - record: r\n        expr: m\n",
    );
    g.eval(&f.ctx, f.db.as_ref(), T0 + 2 * MIN, 60_000);
    let out = f.read("r", T0, T0 + 3 * MIN);
    assert_eq!(out[0].1, vec![(T0 + MIN, 60.0)]);
}

#[test]
fn eval_timestamps_sit_on_the_group_grid() {
    let f = fixture();
    let g = f.group("groups:\n  - name: rec\n    interval: 15s\n    rules:\n      - record: r\n        expr: vector(1)\n");
    let t1 = g.eval_timestamp(T0 + 123);
    let t2 = g.eval_timestamp(T0 + 15_000 + 123);
    assert_eq!(t2 - t1, 15_000);
    assert!(t1 <= T0 + 123 && T0 + 123 - t1 < 15_000);
    assert_eq!(g.eval_timestamp(t1), t1);
}
