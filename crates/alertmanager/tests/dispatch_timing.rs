//! Group timing on tokio's paused clock: first flush after group_wait (or at
//! once for old alerts), then on group_interval ticks.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sightline_alertmanager::alert::Alert;
use sightline_alertmanager::dispatch::{Dispatcher, FlushFn};
use sightline_alertmanager::labels::{LabelSet, ls};
use sightline_alertmanager::route::Route;
use sightline_alertmanager::time::{Clock, Ts};

type Log = Arc<Mutex<Vec<(Duration, String, Vec<String>)>>>;

fn setup(yaml: &str) -> (Arc<Dispatcher>, Log, Arc<Clock>, tokio::time::Instant) {
    let cfg = sightline_alertmanager::config::load_str(yaml, "t.yml").unwrap();
    let route = Arc::new(Route::new(cfg.root_route()));
    let clock = Arc::new(Clock::tokio_at(Ts::from_secs(1_800_000_000)));
    let log: Log = Arc::default();
    let start = tokio::time::Instant::now();
    let flush: FlushFn = {
        let log = log.clone();
        Arc::new(move |g, _now, alerts| {
            let names = alerts
                .iter()
                .map(|a: &Alert| a.labels["instance"].to_string())
                .collect();
            log.lock().push((start.elapsed(), g.key.clone(), names));
            Box::pin(async { true })
        })
    };
    (
        Dispatcher::new(route, clock.clone(), flush),
        log,
        clock,
        start,
    )
}

fn alert(clock: &Clock, instance: &str, age: Duration) -> Alert {
    let now = clock.now();
    let labels: LabelSet = ls([("alertname", "A"), ("instance", instance)]);
    Alert {
        labels: labels.into(),
        annotations: LabelSet::new().into(),
        starts_at: now.sub(age),
        ends_at: now.add(Duration::from_secs(3600)),
        generator_url: "".into(),
        updated_at: now,
        timeout: false,
    }
}

const CFG: &str = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 5m\nreceivers: [{name: r}]\n";

#[tokio::test(start_paused = true)]
async fn group_wait_then_group_interval_ticks() {
    let (d, log, clock, _) = setup(CFG);
    d.process(&alert(&clock, "a", Duration::ZERO));
    tokio::time::sleep(Duration::from_secs(5)).await;
    d.process(&alert(&clock, "b", Duration::ZERO));
    tokio::time::sleep(Duration::from_secs(26)).await;
    {
        let l = log.lock();
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(l[0].0, Duration::from_secs(30));
        assert_eq!(l[0].1, r#"{}:{alertname="A"}"#);
        assert_eq!(l[0].2, ["a", "b"]);
    }
    // A new alert after the first flush waits for the next tick.
    d.process(&alert(&clock, "c", Duration::ZERO));
    tokio::time::sleep(Duration::from_secs(299)).await;
    assert_eq!(log.lock().len(), 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let l = log.lock();
    assert_eq!(l.len(), 2);
    assert_eq!(l[1].0, Duration::from_secs(330));
    assert_eq!(l[1].2, ["a", "b", "c"]);
}

#[tokio::test(start_paused = true)]
async fn old_alerts_flush_at_once() {
    let (d, log, clock, _) = setup(CFG);
    d.process(&alert(&clock, "a", Duration::from_secs(600)));
    tokio::time::sleep(Duration::from_millis(1)).await;
    let l = log.lock();
    assert_eq!(l.len(), 1);
    assert!(l[0].0 < Duration::from_millis(1), "{:?}", l[0].0);
}

#[tokio::test(start_paused = true)]
async fn routes_get_separate_groups() {
    let cfg = "route:\n  receiver: r\n  group_by: [instance]\n  group_wait: 0s\n  routes:\n    - matchers: ['instance=~\"a|b\"']\n      receiver: r\n      continue: true\n    - matchers: ['instance=\"a\"']\n      receiver: r\nreceivers: [{name: r}]\n";
    let (d, log, clock, _) = setup(cfg);
    d.process(&alert(&clock, "a", Duration::ZERO));
    d.process(&alert(&clock, "b", Duration::ZERO));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut keys: Vec<String> = log.lock().iter().map(|e| e.1.clone()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            r#"{}/{instance="a"}:{instance="a"}"#,
            r#"{}/{instance=~"a|b"}:{instance="a"}"#,
            r#"{}/{instance=~"a|b"}:{instance="b"}"#
        ]
    );
    assert_eq!(d.group_count(), 3);
}
