//! A restart neither re-pages nor forgets a silence; history survives too.

use crate::common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_state_without_repaging() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(0).await;
    let cfg = format!(
        "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 0s\nreceivers:\n  - name: r\n    webhook_configs: [{{url: '{}/hook'}}]\n",
        sink.url
    );
    let alert = json!([{"labels": {"alertname": "Persist", "instance": "a"}, "annotations": {"summary": "x"}}]);
    let sil_id;
    {
        let s = serve(&cfg, Some(dir.path().to_path_buf())).await;
        post_alerts(&s.url, alert.clone()).await;
        assert_eq!(sink.wait(1, Duration::from_secs(10)).await.len(), 1);
        let body = json!({"matchers": [{"name": "alertname", "value": "Other", "isRegex": false, "isEqual": true}], "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z", "createdBy": "t", "comment": "c"});
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v2/silences", s.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        sil_id = v["silenceID"].as_str().unwrap().to_string();
        // The silence is on disk as soon as it is acknowledged, the
        // notification log right after the send: a crash now loses nothing.
        assert!(
            std::fs::read_to_string(dir.path().join("silences.json"))
                .unwrap()
                .contains(&sil_id)
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !dir.path().join("nflog.json").exists() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            std::fs::read_to_string(dir.path().join("nflog.json"))
                .unwrap()
                .contains("Persist")
        );
    }
    let s = serve(&cfg, Some(dir.path().to_path_buf())).await;
    // Alerts come back (and their groups flush at once: old startsAt) ...
    let alerts = get_json(&format!("{}/api/v2/alerts", s.url)).await;
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts}");
    // ... but the notification log suppresses a second page, also when
    // Prometheus re-sends the alert.
    post_alerts(&s.url, alert).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.snapshot().len(), 1, "re-paged after restart");
    let sil = get_json(&format!("{}/api/v2/silence/{sil_id}", s.url)).await;
    assert_eq!(sil["status"]["state"], "active");
    let hist = get_json(&format!(
        "{}/api/v2/history?fingerprint={}",
        s.url,
        alerts[0]["fingerprint"].as_str().unwrap()
    ))
    .await;
    let states: Vec<&str> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["sent", "firing"], "{hist}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_rebuilds_groups_without_duplicates() {
    let sink = Sink::start(0).await;
    let cfg = |gi: &str| {
        format!(
            "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: {gi}\nreceivers:\n  - name: r\n    webhook_configs: [{{url: '{}/hook'}}]\n",
            sink.url
        )
    };
    let s = serve(&cfg("5m"), None).await;
    post_alerts(&s.url, json!([{"labels": {"alertname": "Reload"}}])).await;
    assert_eq!(sink.wait(1, Duration::from_secs(10)).await.len(), 1);
    s.am.apply_config(sightline_alertmanager::config::load_str(&cfg("1m"), "t").unwrap())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.snapshot().len(), 1);
}
