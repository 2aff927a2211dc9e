//! Real targets: the `sightline run` binary scrapes Debian's
//! `prometheus-node-exporter` and a Python `prometheus_client` process (one
//! via static_configs, one via file_sd relative to the config file); the
//! series stored must be exactly those the targets expose (checked against a
//! direct fetch + parse of the same endpoints), and the targets APIs must
//! describe them.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, free_port, http_get};
use serde_json::Value;
use sightline_model::{Labels, Matcher};
use sightline_scrape::parser::{self, Entry};
use sightline_tsdb::{Db, Options, Queryable, SelectHints};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What Sightline offers by default (Prometheus 3's scrape_protocols order).
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.1";

/// Fetches and parses an endpoint as Sightline would: name+labels → value.
fn exposed(port: u16) -> BTreeMap<Labels, f64> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (ct, raw) = rt.block_on(async {
        let resp = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .header("Accept", ACCEPT)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (ct, resp.bytes().await.unwrap().to_vec())
    });
    let format = parser::format_from_content_type(&ct);
    let mut out = BTreeMap::new();
    let mut sink = |e: Entry<'_>| -> Result<(), parser::SinkError> {
        if let Entry::Sample(s) | Entry::Created(s) = e {
            let mut pairs: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            pairs.push(("__name__".into(), s.name.to_string()));
            out.insert(Labels::from_pairs(pairs), s.value);
        }
        Ok(())
    };
    parser::parse(format, &raw, 0, &mut sink).unwrap();
    out
}

const REPORT: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Stored series of a job (report series excluded), without job/instance, with their last value.
fn stored(db: &Db, job: &str) -> BTreeMap<Labels, f64> {
    let q = db.querier(0, i64::MAX).unwrap();
    let series = q
        .select(&[Matcher::equal("job", job)], &SelectHints::default())
        .unwrap();
    let mut out = BTreeMap::new();
    for s in series {
        if REPORT.contains(&s.labels.metric_name().unwrap_or("")) {
            continue;
        }
        let mut b = s.labels.to_builder();
        b.del("job");
        b.del("instance");
        let last = s
            .samples
            .iter()
            .rev()
            .find(|x| !sightline_model::is_stale_nan(x.v))
            .map(|x| x.v)
            .unwrap_or(f64::NAN);
        out.insert(b.build(), last);
    }
    out
}

fn get_json(port: u16, path: &str) -> Value {
    let (code, body) = http_get(port, path).unwrap();
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn write_config(dir: &Path, node: u16, py: u16) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("targets")).unwrap();
    std::fs::write(
        dir.join("targets/python.json"),
        format!(r#"[{{"targets": ["127.0.0.1:{py}"], "labels": {{"lang": "python"}}}}]"#),
    )
    .unwrap();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{node}']\n  - job_name: python\n    file_sd_configs:\n      - files: ['targets/*.json']\n"
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn scrapes_node_exporter_and_python_client_exactly() {
    let python_ok = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        python_ok,
        "pip install -r scripts/requirements-test.txt (prometheus-client) first"
    );
    let tmp = tempfile::tempdir().unwrap();
    let node_port = free_port();
    let py_port = free_port();
    let _node = Proc(
        Command::new("/usr/bin/prometheus-node-exporter")
            .args([format!("--web.listen-address=127.0.0.1:{node_port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-node-exporter installed"),
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scrape/py_exporter.py");
    let _py = Proc(
        Command::new("python3")
            .arg(&script)
            .arg(py_port.to_string())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("exporters", 30, || {
        http_get(node_port, "/metrics").is_ok_and(|(c, _)| c == 200)
            && http_get(py_port, "/metrics").is_ok_and(|(c, _)| c == 200)
    });

    let cfg = write_config(tmp.path(), node_port, py_port);
    let data = tmp.path().join("data");
    let srv = Server::start(&data, &[&format!("--config.file={}", cfg.display())]);

    // Both targets up, with at least two scrapes each.
    wait_for("targets up", 30, || {
        let v = get_json(srv.port, "/api/v1/targets?state=active");
        let t = v["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        t.len() == 2 && t.iter().all(|t| t["health"] == "up")
    });
    std::thread::sleep(Duration::from_millis(2500));

    let v = get_json(srv.port, "/api/v1/targets");
    assert_eq!(v["status"], "success");
    let active = v["data"]["activeTargets"].as_array().unwrap();
    let py = active.iter().find(|t| t["scrapePool"] == "python").unwrap();
    assert_eq!(
        py["labels"],
        serde_json::json!({"instance": format!("127.0.0.1:{py_port}"), "job": "python", "lang": "python"})
    );
    assert_eq!(
        py["scrapeUrl"],
        format!("http://127.0.0.1:{py_port}/metrics")
    );
    assert_eq!(
        py["discoveredLabels"]["__meta_filepath"],
        tmp.path().join("targets/python.json").display().to_string()
    );
    assert_eq!(py["scrapeInterval"], "1s");
    assert_eq!(py["scrapeTimeout"], "1s");
    assert_eq!(py["lastError"], "");
    assert!(py["lastScrape"].as_str().unwrap().starts_with("20"));
    assert!(py["lastScrapeDuration"].as_f64().unwrap() > 0.0);
    assert_eq!(v["data"]["droppedTargets"], serde_json::json!([]));
    assert_eq!(
        get_json(srv.port, "/api/v1/targets?state=dropped")["data"]["activeTargets"],
        serde_json::json!([])
    );
    assert_eq!(
        get_json(srv.port, "/api/v1/scrape_pools")["data"]["scrapePools"],
        serde_json::json!(["node", "python"])
    );
    let md = get_json(
        srv.port,
        "/api/v1/targets/metadata?match_target=%7Bjob%3D%22python%22%7D&metric=app_requests",
    );
    assert_eq!(md["data"][0]["type"], "counter");
    assert_eq!(md["data"][0]["help"], "Requests handled.");
    assert_eq!(md["data"][0]["target"]["job"], "python");
    let md = get_json(srv.port, "/api/v1/metadata?metric=app_temperature_celsius");
    assert_eq!(md["data"]["app_temperature_celsius"][0]["unit"], "celsius");
    assert_eq!(md["data"]["app_temperature_celsius"][0]["type"], "gauge");

    // What the targets expose now, parsed the way Sightline parses it.
    let node_exposed = exposed(node_port);
    let py_exposed = exposed(py_port);
    assert!(srv.sigterm_and_wait().success());

    let db = Db::open(&data, Options::default()).unwrap();
    let node_stored = stored(&db, "node");
    let py_stored = stored(&db, "python");
    let _ = db.close();

    // Python: same series, and the fixed values match exactly.
    let py_exposed_keys: BTreeSet<Labels> = py_exposed
        .keys()
        .map(|l| with(l, "lang", "python"))
        .collect();
    let py_stored_keys: BTreeSet<Labels> = py_stored.keys().cloned().collect();
    assert_eq!(py_stored_keys, py_exposed_keys);
    for (l, v) in &py_exposed {
        let name = l.metric_name().unwrap();
        if name.starts_with("app_") {
            assert_eq!(py_stored[&with(l, "lang", "python")], *v, "{l}");
        }
    }
    assert!(py_stored.keys().any(
        |l| l.metric_name() == Some("app_latency_seconds_bucket") && l.get("le") == Some("0.5")
    ));

    // Node exporter: every series it exposes is stored, and nothing else.
    let node_exposed_keys: BTreeSet<Labels> = node_exposed.keys().cloned().collect();
    let node_stored_keys: BTreeSet<Labels> = node_stored.keys().cloned().collect();
    let missing: Vec<_> = node_exposed_keys.difference(&node_stored_keys).collect();
    let extra: Vec<_> = node_stored_keys.difference(&node_exposed_keys).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}\nextra {extra:?}"
    );
    assert!(
        node_exposed.len() > 100,
        "node exporter exposed only {}",
        node_exposed.len()
    );
}

fn with(l: &Labels, k: &str, v: &str) -> Labels {
    let mut b = l.to_builder();
    b.set(k, v);
    b.build()
}
