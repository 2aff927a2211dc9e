//! One scrape loop against a local exposition server: metric relabeling,
//! limits, honor_labels/honor_timestamps, staleness, report series, metadata.

use crate::common;

use std::sync::Arc;

use common::{ExpoServer, MemStore, install_crypto};
use sightline_config::ScrapeConfig;
use sightline_model::is_stale_nan;
use sightline_scrape::target::{discovered_labels, populate};
use sightline_scrape::{Health, LoopSettings, ScrapeLoop};

fn job(extra: &str) -> ScrapeConfig {
    let yaml = format!("scrape_configs:\n  - job_name: app\n{extra}");
    sightline_config::load_str(&yaml, "t.yml")
        .unwrap()
        .scrape_configs[0]
        .clone()
}

fn make_loop(sc: &ScrapeConfig, srv: &ExpoServer, store: &Arc<MemStore>) -> ScrapeLoop {
    make_loop_on(sc, srv, store.clone())
}

fn make_loop_on(
    sc: &ScrapeConfig,
    srv: &ExpoServer,
    store: Arc<dyn sightline_tsdb::Appendable>,
) -> ScrapeLoop {
    install_crypto();
    let t = [("__address__".to_string(), srv.addr.clone())].into();
    let d = discovered_labels(sc, &t, &Default::default());
    let target = populate(
        sc,
        d.clone(),
        sightline_scrape::relabel::process(&d, &sc.relabel_configs).unwrap(),
    )
    .unwrap();
    let settings = LoopSettings {
        honor_labels: sc.honor_labels,
        honor_timestamps: sc.honor_timestamps,
        track_timestamps_staleness: sc.track_timestamps_staleness,
        sample_limit: sc.sample_limit,
        label_limit: sc.label_limit,
        label_name_length_limit: sc.label_name_length_limit,
        label_value_length_limit: sc.label_value_length_limit,
        accept: "text/plain".into(),
        body_limit: 0,
        metric_relabel: Arc::new(sc.metric_relabel_configs.clone()),
    };
    ScrapeLoop::new(target, settings, reqwest::Client::new(), store)
}

const BODY: &str = "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\",job=\"exposed\"} 10 1000\nhttp_requests_total{code=\"500\",job=\"exposed\"} 2 1000\n# TYPE go_goroutines gauge\ngo_goroutines 7\n";

#[tokio::test]
async fn report_series_metadata_and_exported_labels() {
    let srv = ExpoServer::start(BODY).await;
    let store = MemStore::new();
    let mut lp = make_loop(&job(""), &srv, &store);
    lp.scrape_once().await;
    assert_eq!(
        lp.health.lock().health,
        Health::Up,
        "{}",
        lp.health.lock().last_error
    );
    let inst = srv.addr.as_str();
    assert_eq!(
        store.values("up", &[("job", "app"), ("instance", inst)]),
        [1.0]
    );
    assert_eq!(store.values("scrape_samples_scraped", &[]), [3.0]);
    assert_eq!(
        store.values("scrape_samples_post_metric_relabeling", &[]),
        [3.0]
    );
    assert_eq!(store.values("scrape_series_added", &[]), [3.0]);
    // honor_labels false: the exposed `job` becomes `exported_job`.
    assert_eq!(
        store.values(
            "http_requests_total",
            &[("code", "200"), ("job", "app"), ("exported_job", "exposed")]
        ),
        [10.0]
    );
    // honor_timestamps true: the exposed timestamp is kept.
    let ts: Vec<i64> = store
        .samples()
        .iter()
        .filter(|(l, _, _)| l.get("code") == Some("200"))
        .map(|(_, t, _)| *t)
        .collect();
    assert_eq!(ts, [1000]);
    assert_eq!(
        store.metadata("http_requests_total").unwrap().help,
        "Requests."
    );
    assert_eq!(lp.metadata.lock()["go_goroutines"].kind.as_str(), "gauge");
    // Second scrape: cached series, nothing added.
    lp.scrape_once().await;
    assert_eq!(store.values("scrape_series_added", &[]), [3.0, 0.0]);
}

#[tokio::test]
async fn honor_labels_and_ignored_timestamps() {
    let srv = ExpoServer::start(BODY).await;
    let store = MemStore::new();
    let mut lp = make_loop(
        &job("    honor_labels: true\n    honor_timestamps: false\n"),
        &srv,
        &store,
    );
    lp.scrape_once().await;
    let s = store.series();
    let req = s.iter().find(|l| l.get("code") == Some("200")).unwrap();
    assert_eq!(req.get("job"), Some("exposed"));
    assert_eq!(req.get("exported_job"), None);
    assert_eq!(req.get("instance"), Some(srv.addr.as_str()));
    let t = store
        .samples()
        .iter()
        .find(|(l, _, _)| l.get("code") == Some("200"))
        .unwrap()
        .1;
    assert!(
        t > 1_600_000_000_000,
        "scrape time, not the exposed 1000: {t}"
    );
}

#[tokio::test]
async fn metric_relabel_configs_drop_and_rewrite() {
    let srv = ExpoServer::start(BODY).await;
    let store = MemStore::new();
    let sc = job(
        "    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: go_.*\n        action: drop\n      - source_labels: [code]\n        regex: '(\\d)..'\n        target_label: class\n        replacement: '${1}xx'\n      - regex: code\n        action: labeldrop\n",
    );
    let mut lp = make_loop(&sc, &srv, &store);
    lp.scrape_once().await;
    lp.scrape_once().await;
    let names: Vec<String> = store
        .series()
        .iter()
        .map(|l| {
            format!(
                "{}/{}",
                l.metric_name().unwrap(),
                l.get("class").unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        names,
        ["http_requests_total/2xx", "http_requests_total/5xx"]
    );
    assert!(store.series().iter().all(|l| l.get("code").is_none()));
    assert_eq!(store.values("scrape_samples_scraped", &[]), [3.0, 3.0]);
    assert_eq!(
        store.values("scrape_samples_post_metric_relabeling", &[]),
        [2.0, 2.0]
    );
    // The dropped series was never stored, in either scrape (cached decision).
    assert!(store.values("go_goroutines", &[]).is_empty());
}

#[tokio::test]
async fn sample_limit_counts_after_relabeling_and_fails_the_whole_scrape() {
    let srv = ExpoServer::start(BODY).await;
    let store = MemStore::new();
    // Three samples exposed, one dropped by relabeling: a limit of 2 holds.
    let drop_go = "    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: go_.*\n        action: drop\n";
    // BODY's counters carry their own timestamps: tracked for staleness only
    // with track_timestamps_staleness.
    let mut lp = make_loop(
        &job(&format!(
            "    sample_limit: 2\n    track_timestamps_staleness: true\n{drop_go}"
        )),
        &srv,
        &store,
    );
    lp.scrape_once().await;
    assert_eq!(lp.health.lock().health, Health::Up);
    // Now three survive relabeling: over the limit, nothing of the scrape is kept.
    srv.set_body(&format!("{BODY}http_requests_total{{code=\"404\"}} 1\n"));
    lp.scrape_once().await;
    let h = lp.health.lock().clone();
    assert_eq!(h.health, Health::Down);
    assert_eq!(h.last_error, "sample limit exceeded");
    assert_eq!(store.values("up", &[]), [1.0, 0.0]);
    assert!(
        store
            .values("http_requests_total", &[("code", "404")])
            .is_empty()
    );
    // The series of the good scrape end with staleness markers.
    let last = *store
        .values("http_requests_total", &[("code", "200")])
        .last()
        .unwrap();
    assert!(is_stale_nan(last));
}

#[tokio::test]
async fn label_limits() {
    let srv = ExpoServer::start("m{a=\"1\",b=\"2\"} 1\n").await;
    let store = MemStore::new();
    // __name__, a, b, instance, job = 5 labels.
    let mut lp = make_loop(&job("    label_limit: 4\n"), &srv, &store);
    lp.scrape_once().await;
    assert_eq!(
        lp.health.lock().last_error,
        "label_limit exceeded (metric: m, number of labels: 5, limit: 4)"
    );
    let mut lp = make_loop(&job("    label_limit: 5\n"), &srv, &store);
    lp.scrape_once().await;
    assert_eq!(lp.health.lock().health, Health::Up);

    srv.set_body("m{a_long_label_name=\"1\"} 1\n");
    let mut lp = make_loop(&job("    label_name_length_limit: 10\n"), &srv, &store);
    lp.scrape_once().await;
    assert!(lp.health.lock().last_error.starts_with("label_name_length_limit exceeded (metric: m, label name: a_long_label_name, length: 17, limit: 10)"));

    srv.set_body("m{a=\"0123456789abc\"} 1\n");
    let mut lp = make_loop(&job("    label_value_length_limit: 10\n"), &srv, &store);
    lp.scrape_once().await;
    assert!(lp.health.lock().last_error.starts_with(
        "label_value_length_limit exceeded (metric: m, label name: a, value: \"0123456789abc\""
    ));
}

#[tokio::test]
async fn vanished_series_get_staleness_markers() {
    let srv = ExpoServer::start("a 1\nb 2\n").await;
    let store = MemStore::new();
    let mut lp = make_loop(&job(""), &srv, &store);
    lp.scrape_once().await;
    srv.set_body("a 3\n");
    lp.scrape_once().await;
    let b = store.values("b", &[]);
    assert_eq!(b.len(), 2);
    assert!(is_stale_nan(b[1]));
    assert_eq!(store.values("a", &[]), [1.0, 3.0]);
    // A parse error ends everything the target exposed.
    srv.set_body("a 1\n{{{\n");
    lp.scrape_once().await;
    assert!(is_stale_nan(*store.values("a", &[]).last().unwrap()));
    assert_eq!(lp.health.lock().health, Health::Down);
}

/// Series exposed with their own timestamps get no staleness marker when they
/// vanish (Prometheus's default), unless `track_timestamps_staleness` is set;
/// series without timestamps always do.
#[tokio::test]
async fn explicit_timestamps_and_track_timestamps_staleness() {
    for (extra, tracked) in [
        ("", false),
        ("    track_timestamps_staleness: true\n", true),
    ] {
        let srv = ExpoServer::start("a 1 1000\nb 2 1000\nc 3\n").await;
        let store = MemStore::new();
        let mut lp = make_loop(&job(extra), &srv, &store);
        lp.scrape_once().await;
        srv.set_body("a 4 2000\n");
        lp.scrape_once().await;
        let b = store.values("b", &[]);
        assert_eq!(
            b.len() == 2 && is_stale_nan(b[1]),
            tracked,
            "{extra:?}: b = {b:?}"
        );
        let c = store.values("c", &[]);
        assert!(c.len() == 2 && is_stale_nan(c[1]), "{extra:?}: c = {c:?}");
        // Ending the target (a failed scrape) follows the same rule.
        srv.set_body("{{{\n");
        lp.scrape_once().await;
        let a = store.values("a", &[]);
        assert_eq!(
            is_stale_nan(*a.last().unwrap()),
            tracked,
            "{extra:?}: a = {a:?}"
        );
    }
}

/// Into the real TSDB (whose appender keeps series handles in the scrape cache):
/// series reordered, added in between, exposed twice, vanished and back.
#[tokio::test]
async fn changing_expositions_into_the_tsdb() {
    use sightline_model::Matcher;
    use sightline_tsdb::{Queryable, SelectHints};
    let dir = tempfile::tempdir().unwrap();
    let db = sightline_tsdb::Db::open(dir.path(), sightline_tsdb::Options::default()).unwrap();
    let srv = ExpoServer::start("a 1\nb 2\nc 3\n").await;
    let mut lp = make_loop_on(&job(""), &srv, db.clone());
    let bodies = [
        "a 4\nb 5\nc 6\n",
        "c 7\nx 8\na 9\n",
        "a 10\nc 11\nx 12\nb 13\n",
        "a 14\nc 15\nx 16\nb 17\n",
        "a 18\nc 19\nx 20\nb 21\na 18\n",
    ];
    lp.scrape_once().await;
    for body in bodies {
        // Distinct scrape timestamps.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        srv.set_body(body);
        lp.scrape_once().await;
        assert_eq!(lp.health.lock().health, Health::Up);
    }
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let values = |name: &str| -> Vec<f64> {
        q.select(&[Matcher::equal("__name__", name)], &SelectHints::default())
            .unwrap()
            .into_iter()
            .flat_map(|s| s.samples.into_iter().map(|x| x.v))
            .collect()
    };
    assert_eq!(values("a"), [1.0, 4.0, 9.0, 10.0, 14.0, 18.0]);
    assert_eq!(values("c"), [3.0, 6.0, 7.0, 11.0, 15.0, 19.0]);
    assert_eq!(values("x"), [8.0, 12.0, 16.0, 20.0]);
    let b = values("b");
    assert_eq!(b.len(), 6);
    assert_eq!(b[..2], [2.0, 5.0]);
    assert!(is_stale_nan(b[2]));
    assert_eq!(b[3..], [13.0, 17.0, 21.0]);
    assert_eq!(
        values("scrape_series_added"),
        [3.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    );
    assert_eq!(values("up"), [1.0; 6]);
}

#[tokio::test]
async fn accept_and_compression_headers() {
    let srv = ExpoServer::start("a 1\n").await;
    let store = MemStore::new();
    let mut lp = make_loop(&job(""), &srv, &store);
    lp.scrape_once().await;
    let req = srv.requests.lock()[0].to_lowercase();
    assert!(req.contains("accept: text/plain"), "{req}");
    assert!(
        req.contains("x-prometheus-scrape-timeout-seconds: 10"),
        "{req}"
    );
}
