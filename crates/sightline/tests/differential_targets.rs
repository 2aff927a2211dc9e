//! Differential: the same file_sd targets and relabel rules loaded into
//! Debian's `prometheus` (2.42) and into `sightline run` must give identical
//! target label sets in `/api/v1/targets` (active: labels, discovered labels,
//! scrape URL; dropped: discovered labels).

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, free_port};
use serde_json::Value;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const TARGETS: &str = r#"[
  {"targets": ["10.0.0.1:9100", "10.0.0.2:9100"], "labels": {"env": "prod", "team": "Payments", "meta_rack": "r1", "a": "1", "b": "2"}},
  {"targets": ["10.0.0.3:9100"], "labels": {"env": "dev", "team": "payments", "a": "1"}},
  {"targets": ["10.0.0.4:8080"], "labels": {"env": "prod", "job": "custom", "__metrics_path__": "/probe", "a": "x", "b": "x"}},
  {"targets": ["10.0.0.5:8080"], "labels": {"env": "prod", "job": "custom", "__metrics_path__": "/probe", "a": "x", "b": "y"}},
  {"targets": ["host.example:443"], "labels": {"__scheme__": "https", "team": "infra", "module": "http_2xx", "b": "2"}}
]"#;

/// Rules touching every action Prometheus 2.42 shares with Sightline.
const RULES: &str = r#"
    relabel_configs:
      - source_labels: [env]
        regex: dev
        action: drop
      - source_labels: [a]
        target_label: b
        action: dropequal
      - source_labels: [__address__]
        regex: '([^:]+):(\d+)'
        target_label: host
        replacement: '${1}'
      - source_labels: [__address__]
        modulus: 4
        target_label: __tmp_shard
        action: hashmod
      - source_labels: [__tmp_shard]
        target_label: shard
      - regex: 'meta_(.+)'
        replacement: 'm_$1'
        action: labelmap
      - regex: 'meta_.*'
        action: labeldrop
      - source_labels: [team]
        target_label: team_upper
        action: uppercase
      - source_labels: [team]
        target_label: team
        action: lowercase
      - source_labels: [module]
        target_label: __param_module
      - source_labels: [host, env]
        separator: '@'
        target_label: where
      - regex: 'a|b'
        action: labeldrop
  - job_name: second
    scrape_interval: 30s
    file_sd_configs:
      - files: ['FILE']
    params:
      module: [default]
    relabel_configs:
      - source_labels: [team]
        regex: '(?i)payments'
        action: keep
      - target_label: instance
        source_labels: [__address__]
        regex: '(.*):9100'
        replacement: 'node-$1'
"#;

fn config(file: &Path) -> String {
    let f = file.display().to_string();
    let head = format!(
        "global:\n  scrape_interval: 1h\n  scrape_timeout: 10s\nscrape_configs:\n  - job_name: diff\n    scrape_interval: 1m\n    file_sd_configs:\n      - files: ['{f}']\n"
    );
    format!("{head}{}", RULES.replace("FILE", &f))
}

/// A real HTTP client: Prometheus answers with chunked bodies.
fn targets(port: u16) -> Option<Value> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/targets"))
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        serde_json::from_slice(&resp.bytes().await.ok()?).ok()
    })
}

/// Comparable views: active (pool, labels, discovered, url) and dropped discovered sets.
fn summarize(v: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let active = v["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            // discoveredLabels left out: Prometheus 2.42 shows them partly
            // relabeled for active targets (docs/compatibility.md).
            format!("{} {} {}", t["scrapePool"], t["labels"], t["scrapeUrl"])
        })
        .collect();
    let dropped = v["data"]["droppedTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["discoveredLabels"].to_string())
        .collect();
    (active, dropped)
}

fn wait_targets(port: u16, active: usize, dropped: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = targets(port) {
            let a = v["data"]["activeTargets"].as_array().map_or(0, Vec::len);
            let d = v["data"]["droppedTargets"].as_array().map_or(0, Vec::len);
            if a == active && d == dropped {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out: {a} active, {d} dropped: {v}"
            );
        }
        assert!(Instant::now() < deadline, "no /api/v1/targets on {port}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn target_labels_match_prometheus() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("targets.json");
    std::fs::write(&file, TARGETS).unwrap();
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(&cfg, config(&file)).unwrap();

    let prom_port = free_port();
    let _prom = Proc(
        Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg(format!(
                "--storage.tsdb.path={}",
                tmp.path().join("prom").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus installed"),
    );
    let srv = Server::start(
        &tmp.path().join("sl"),
        &[&format!("--config.file={}", cfg.display())],
    );

    // diff: 6 targets, dev (1) and a==b (1, and "" == "" counts too) dropped → 4 active, 2 dropped.
    // second: keeps the 3 payments targets → 3 active, 3 dropped.
    let prom = wait_targets(prom_port, 7, 5);
    let ours = wait_targets(srv.port, 7, 5);
    let (pa, pd) = summarize(&prom);
    let (sa, sd) = summarize(&ours);
    let only_prom: Vec<_> = pa.difference(&sa).collect();
    let only_ours: Vec<_> = sa.difference(&pa).collect();
    assert!(
        only_prom.is_empty() && only_ours.is_empty(),
        "active differ:\nprometheus only: {only_prom:#?}\nsightline only: {only_ours:#?}"
    );
    let only_prom: Vec<_> = pd.difference(&sd).collect();
    let only_ours: Vec<_> = sd.difference(&pd).collect();
    assert!(
        only_prom.is_empty() && only_ours.is_empty(),
        "dropped differ:\nprometheus only: {only_prom:#?}\nsightline only: {only_ours:#?}"
    );
    // The comparison is not vacuous: the rules did rewrite labels.
    assert!(
        sa.iter()
            .any(|t| t.contains("\"m_rack\":\"r1\"") && t.contains("\"team_upper\":\"PAYMENTS\"")),
        "{sa:#?}"
    );
    assert!(sa.iter().any(|t| t.contains("module=http_2xx")), "{sa:#?}");
    // Our active targets' discovered labels are the pre-relabeling set.
    let d = &ours["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["labels"]["instance"] == "node-10.0.0.1")
        .unwrap()["discoveredLabels"];
    assert_eq!(d["team"], "Payments");
    assert!(d.get("instance").is_none());
}
