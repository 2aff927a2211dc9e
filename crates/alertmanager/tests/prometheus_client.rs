//! Debian's Prometheus (2.x) with `alerting.alertmanagers` pointed at
//! Sightline: its alerts arrive through `POST /api/v2/alerts` and are
//! notified. Skipped when Prometheus is not installed.

use crate::common;

use std::time::Duration;

use common::*;

const PROMETHEUS: &str = "/usr/bin/prometheus";

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sends_alerts_to_sightline() {
    if !std::path::Path::new(PROMETHEUS).exists() {
        eprintln!("prometheus not installed; skipping");
        return;
    }
    let sink = Sink::start(0).await;
    let cfg = format!(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\nreceivers:\n  - name: hook\n    webhook_configs: [{{url: '{}/hook'}}]\n",
        sink.url
    );
    let s = serve(&cfg, None).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: AlwaysFiring\n        expr: vector(1)\n        labels: {severity: critical}\n        annotations: {summary: 'value {{ $value }}'}\n").unwrap();
    let am_host = s.url.trim_start_matches("http://");
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!("global: {{evaluation_interval: 1s}}\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - api_version: v2\n      static_configs: [{{targets: ['{am_host}']}}]\n"),
    )
    .unwrap();
    let child = std::process::Command::new(PROMETHEUS)
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg("--web.listen-address=127.0.0.1:0")
        // Alerts fired before the Alertmanager is discovered are dropped; resend soon.
        .arg("--rules.alert.resend-delay=1s")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Kill(child);
    let got = sink.wait(1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "no notification from a Prometheus alert");
    let a = &got[0].body["alerts"][0];
    assert_eq!(a["labels"]["alertname"], "AlwaysFiring");
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["annotations"]["summary"], "value 1");
    assert!(
        a["generatorURL"]
            .as_str()
            .unwrap()
            .contains("/graph?g0.expr="),
        "{a}"
    );
    // Prometheus sets an explicit endsAt in the future: the alert is active, not timed out.
    let alerts = get_json(&format!("{}/api/v2/alerts", s.url)).await;
    assert_eq!(alerts[0]["status"]["state"], "active");
}
