//! The scrape manager with live discovery: the issue's Kubernetes seed job,
//! file_sd updates that keep unchanged loops, target_limit,
//! keep_dropped_targets, reloads, staleness when a target goes away.

use crate::common;

use std::time::Duration;

use common::{ExpoServer, MemStore, eventually, install_crypto};
use serde_json::json;
use sightline_discovery::testing::FakeApiServer;
use sightline_model::is_stale_nan;
use sightline_scrape::ScrapeManager;

fn manager(store: &std::sync::Arc<MemStore>) -> ScrapeManager {
    install_crypto();
    let m = ScrapeManager::new(store.clone());
    m.set_update_throttle(Duration::from_millis(20));
    m
}

fn pod(ns: &str, name: &str, ip: &str, annotations: serde_json::Value) -> serde_json::Value {
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "uid": name, "annotations": annotations, "labels": {"app": name}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIP": ip, "hostIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

const SEED_JOB: &str = r#"
scrape_configs:
  - job_name: 'kubernetes-pods'
    scrape_interval: 1h
    kubernetes_sd_configs:
      - role: pod
        api_server: URL
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: true
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
        action: replace
        target_label: __metrics_path__
        regex: (.+)
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
"#;

fn active(m: &ScrapeManager) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = m
        .targets()
        .iter()
        .map(|t| (t.target.labels.to_string(), t.target.url.clone()))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn seed_job_selects_exactly_the_annotated_pods() {
    let api = FakeApiServer::start().await;
    api.apply(pod(
        "shop",
        "web",
        "10.0.1.1",
        json!({"prometheus.io/scrape": "true", "prometheus.io/path": "/custom"}),
    ));
    api.apply(pod(
        "shop",
        "db",
        "10.0.1.2",
        json!({"prometheus.io/scrape": "false"}),
    ));
    api.apply(pod(
        "ops",
        "agent",
        "10.0.1.3",
        json!({"prometheus.io/scrape": "true"}),
    ));
    api.apply(pod("ops", "plain", "10.0.1.4", json!({})));
    let cfg = sightline_config::load_str(&SEED_JOB.replace("URL", &api.url), "p.yml").unwrap();
    let store = MemStore::new();
    let m = manager(&store);
    m.apply(&cfg);
    eventually("two targets", || m.targets().len() == 2).await;
    assert_eq!(
        active(&m),
        [
            (
                r#"{instance="10.0.1.1:8080", job="kubernetes-pods", namespace="shop", pod="web"}"#.to_string(),
                "http://10.0.1.1:8080/custom".to_string()
            ),
            (
                r#"{instance="10.0.1.3:8080", job="kubernetes-pods", namespace="ops", pod="agent"}"#.to_string(),
                "http://10.0.1.3:8080/metrics".to_string()
            ),
        ]
    );
    let mut dropped: Vec<String> = m
        .dropped()
        .iter()
        .map(|d| {
            d.discovered
                .get("__meta_kubernetes_pod_name")
                .unwrap()
                .to_string()
        })
        .collect();
    dropped.sort();
    assert_eq!(dropped, ["db", "plain"]);
    assert_eq!(
        m.dropped()[0].discovered.get("job"),
        Some("kubernetes-pods")
    );

    // Live: annotating a pod adds its target, deleting one removes it.
    api.apply(pod(
        "ops",
        "plain",
        "10.0.1.4",
        json!({"prometheus.io/scrape": "true"}),
    ));
    eventually("annotated pod added", || m.targets().len() == 3).await;
    api.delete("Pod", "shop", "web");
    eventually("deleted pod removed", || m.targets().len() == 2).await;
    let pods: Vec<String> = m
        .targets()
        .iter()
        .map(|t| t.target.labels.get("pod").unwrap().to_string())
        .collect();
    assert_eq!(pods, ["agent", "plain"]);
    m.stop().await;
}

fn file_job(dir: &std::path::Path, extra: &str) -> sightline_config::Config {
    let yaml = format!(
        "scrape_configs:\n  - job_name: files\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    file_sd_configs:\n      - files: ['{}/*.json']\n{extra}",
        dir.display()
    );
    sightline_config::load_str(&yaml, "p.yml").unwrap()
}

#[tokio::test]
async fn file_sd_updates_keep_unchanged_loops_and_stale_removed_targets() {
    let a = ExpoServer::start("a_metric 1\n").await;
    let b = ExpoServer::start("b_metric 1\n").await;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.json");
    std::fs::write(
        &f,
        json!([{"targets": [a.addr], "labels": {"team": "x"}}]).to_string(),
    )
    .unwrap();
    let store = MemStore::new();
    let m = manager(&store);
    m.apply(&file_job(dir.path(), ""));
    eventually("a scraped", || {
        !store.values("a_metric", &[("team", "x")]).is_empty()
    })
    .await;
    let first_scrape = m.targets()[0].health.last_scrape_ms;

    std::fs::write(
        &f,
        json!([{"targets": [a.addr], "labels": {"team": "x"}}, {"targets": [b.addr]}]).to_string(),
    )
    .unwrap();
    eventually("b added", || m.targets().len() == 2).await;
    // The loop of the unchanged target kept running (its history survives).
    let ta = m
        .targets()
        .into_iter()
        .find(|t| t.target.labels.get("instance") == Some(a.addr.as_str()))
        .unwrap();
    assert!(ta.health.last_scrape_ms >= first_scrape && ta.health.last_scrape_ms > 0);
    eventually("b scraped", || !store.values("b_metric", &[]).is_empty()).await;

    // Removing a target stops its loop with staleness markers.
    std::fs::write(&f, json!([{"targets": [b.addr]}]).to_string()).unwrap();
    eventually("a removed", || m.targets().len() == 1).await;
    eventually("a stale", || {
        store
            .values("a_metric", &[])
            .last()
            .is_some_and(|v| is_stale_nan(*v))
    })
    .await;
    eventually("up stale", || {
        store
            .values("up", &[("instance", &a.addr)])
            .last()
            .is_some_and(|v| is_stale_nan(*v))
    })
    .await;
    // gzip is offered by default.
    assert!(
        b.requests.lock()[0]
            .to_lowercase()
            .contains("accept-encoding: gzip")
    );
    m.stop().await;
}

#[tokio::test]
async fn target_limit_fails_every_target_of_the_pool() {
    let a = ExpoServer::start("a_metric 1\n").await;
    let b = ExpoServer::start("b_metric 1\n").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.json"),
        json!([{"targets": [a.addr, b.addr]}]).to_string(),
    )
    .unwrap();
    let store = MemStore::new();
    let m = manager(&store);
    m.apply(&file_job(dir.path(), "    target_limit: 1\n"));
    eventually("errors shown", || {
        let t = m.targets();
        t.len() == 2
            && t.iter().all(|t| {
                t.health.last_error == "target_limit exceeded (number of targets: 2, limit: 1)"
            })
    })
    .await;
    assert!(store.values("a_metric", &[]).is_empty());
    assert_eq!(a.hits() + b.hits(), 0);
    // Raising the limit on reload lets them scrape.
    m.apply(&file_job(dir.path(), "    target_limit: 2\n"));
    eventually("scraped after reload", || {
        !store.values("a_metric", &[]).is_empty()
    })
    .await;
    m.stop().await;
}

#[tokio::test]
async fn keep_dropped_targets_bounds_the_list() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.json"),
        json!([{"targets": ["h1:1", "h2:1", "h3:1", "keep:1"]}]).to_string(),
    )
    .unwrap();
    let store = MemStore::new();
    let m = manager(&store);
    let rules = "    keep_dropped_targets: 2\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: 'keep:.*'\n        action: keep\n";
    m.apply(&file_job(dir.path(), rules));
    eventually("synced", || m.targets().len() == 1).await;
    assert_eq!(m.dropped().len(), 2);
    assert_eq!(m.dropped_counts()["files"], 3);
    assert_eq!(m.dropped()[0].reason, "dropped by relabeling");
    m.stop().await;
}

#[tokio::test]
async fn reload_with_same_discovery_keeps_loops_and_relabels() {
    let a = ExpoServer::start("a_metric 1\n").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.json"),
        json!([{"targets": [a.addr]}]).to_string(),
    )
    .unwrap();
    let store = MemStore::new();
    let m = manager(&store);
    m.apply(&file_job(dir.path(), ""));
    eventually("scraped", || {
        m.targets()
            .first()
            .is_some_and(|t| t.health.last_scrape_ms > 0)
    })
    .await;
    // Same config: the loop survives (its health is not reset).
    m.apply(&file_job(dir.path(), ""));
    assert!(m.targets()[0].health.last_scrape_ms > 0);
    // New relabel rules apply to the known groups at once.
    m.apply(&file_job(
        dir.path(),
        "    relabel_configs:\n      - target_label: env\n        replacement: prod\n",
    ));
    assert_eq!(m.targets()[0].target.labels.get("env"), Some("prod"));
    // Removing the job stops it.
    m.apply(&sightline_config::load_str("scrape_configs: []\n", "p.yml").unwrap());
    assert!(m.targets().is_empty());
    assert!(m.scrape_pools().is_empty());
    m.stop().await;
}
