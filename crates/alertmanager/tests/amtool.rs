//! The real amtool (Debian `prometheus-alertmanager` 0.25) against Sightline:
//! alert add/query, silence add/query/expire, config routes test.
//! Skipped (with a message) when amtool is not installed.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::*;

const AMTOOL: &str = "/usr/bin/amtool";

const CFG: &str = r#"
route:
  receiver: 'default-slack'
  group_by: ['alertname', 'service']
  routes:
    - match: {severity: critical}
      receiver: 'pagerduty-oncall'
    - match_re: {service: ^(payment|billing)$}
      receiver: 'payments-slack'
receivers:
  - name: 'default-slack'
  - name: 'pagerduty-oncall'
  - name: 'payments-slack'
inhibit_rules:
  - source_match: {severity: 'critical'}
    target_match: {severity: 'warning'}
    equal: ['alertname', 'service']
"#;

async fn amtool(url: &str, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(AMTOOL);
    cmd.arg(format!("--alertmanager.url={url}")).args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn have_amtool() -> bool {
    if std::path::Path::new(AMTOOL).exists() {
        return true;
    }
    eprintln!("amtool not installed; skipping");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_alerts_and_silences() {
    if !have_amtool() {
        return;
    }
    let s = serve(CFG, None).await;
    let (ok, out) = amtool(
        &s.url,
        &[
            "alert",
            "add",
            "alertname=DiskFull",
            "service=db",
            "severity=critical",
            "--annotation=summary=disk",
        ],
    )
    .await;
    assert!(ok, "{out}");
    let (ok, out) = amtool(
        &s.url,
        &[
            "alert",
            "add",
            "alertname=DiskFull",
            "service=db",
            "severity=warning",
        ],
    )
    .await;
    assert!(ok, "{out}");
    let (ok, out) = amtool(&s.url, &["alert", "query", "-o", "json"]).await;
    assert!(ok, "{out}");
    let alerts: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        alerts.as_array().unwrap().len(),
        1,
        "the warning is inhibited and hidden by default: {out}"
    );
    assert_eq!(alerts[0]["labels"]["severity"], "critical");
    assert_eq!(alerts[0]["receivers"][0]["name"], "pagerduty-oncall");
    let (ok, out) = amtool(
        &s.url,
        &["alert", "query", "-i", "-o", "json", "alertname=DiskFull"],
    )
    .await;
    assert!(ok, "{out}");
    let alerts: serde_json::Value = serde_json::from_str(&out).unwrap();
    let warning = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["severity"] == "warning")
        .expect("inhibited shown with -i");
    assert_eq!(warning["status"]["state"], "suppressed");
    assert_eq!(
        warning["status"]["inhibitedBy"].as_array().unwrap().len(),
        1
    );

    // Silences.
    let (ok, id) = amtool(
        &s.url,
        &[
            "silence",
            "add",
            "alertname=DiskFull",
            "service=~db|cache",
            "-c",
            "maintenance",
            "-a",
            "ops",
            "-d",
            "1h",
        ],
    )
    .await;
    assert!(ok, "{id}");
    let id = id.trim().to_string();
    assert_eq!(id.len(), 36, "{id}");
    let (ok, out) = amtool(&s.url, &["silence", "query", "-o", "json"]).await;
    assert!(ok, "{out}");
    let sils: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sils[0]["id"], id.as_str());
    assert_eq!(sils[0]["createdBy"], "ops");
    assert_eq!(sils[0]["status"]["state"], "active");
    let (ok, out) = amtool(&s.url, &["silence", "query", "-q", "service=~db|cache"]).await;
    assert!(ok && out.trim() == id, "{out}");
    let (ok, out) = amtool(&s.url, &["alert", "query", "-o", "json"]).await;
    assert!(ok, "{out}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        0,
        "silenced alerts hidden: {out}"
    );
    let (ok, out) = amtool(&s.url, &["alert", "query", "-s", "-o", "json"]).await;
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["status"]["silencedBy"][0], id.as_str());
    let (ok, out) = amtool(&s.url, &["silence", "expire", &id]).await;
    assert!(ok, "{out}");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (ok, out) = amtool(&s.url, &["silence", "query", "-q"]).await;
    assert!(
        ok && out.trim().is_empty(),
        "expired silences are not listed: {out}"
    );
    let (ok, out) = amtool(&s.url, &["silence", "query", "--expired", "-q"]).await;
    assert!(ok && out.trim() == id, "{out}");
    let (ok, out) = amtool(
        &s.url,
        &["silence", "expire", "00000000-0000-4000-8000-000000000000"],
    )
    .await;
    assert!(!ok, "unknown silence: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_config_routes_test() {
    if !have_amtool() {
        return;
    }
    let s = serve(CFG, None).await;
    // Through the server (config.original of /api/v2/status) ...
    let (ok, out) = amtool(
        &s.url,
        &[
            "config",
            "routes",
            "test",
            "service=payment",
            "severity=critical",
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "pagerduty-oncall");
    let (ok, out) = amtool(
        &s.url,
        &[
            "config",
            "routes",
            "test",
            "--verify.receivers=payments-slack",
            "service=billing",
        ],
    )
    .await;
    assert!(ok, "{out}");
    let (ok, _) = amtool(
        &s.url,
        &[
            "config",
            "routes",
            "test",
            "--verify.receivers=default-slack",
            "service=billing",
        ],
    )
    .await;
    assert!(!ok);
    // ... and from the file, as `sightline alertmanager routes test` does.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("am.yml");
    std::fs::write(&f, CFG).unwrap();
    let (ok, out) = amtool(
        &s.url,
        &[
            "config",
            "routes",
            "test",
            &format!("--config.file={}", f.display()),
            "service=other",
        ],
    )
    .await;
    assert!(ok && out.lines().next() == Some("default-slack"), "{out}");
    let (ok, out) = amtool(&s.url, &["config", "show"]).await;
    assert!(ok && out.contains("pagerduty-oncall"), "{out}");
}
