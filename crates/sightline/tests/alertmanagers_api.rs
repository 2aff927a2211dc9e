//! External Alertmanagers of `alerting.alertmanagers` in the real binary:
//! discovered from a file relative to the config, target relabeling,
//! `GET /api/v1/alertmanagers`, alerts delivered to the kept one, and the
//! set replaced on `/-/reload` and SIGHUP.

use crate::common;

use std::io::Write;
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Server, http_get, http_request};
use serde_json::Value;

/// A blocking HTTP sink: the request line of every request it gets.
fn sink() -> (String, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                while let Some((head, _)) = common::read_http_request(&mut s, &mut buf) {
                    let _ = tx.send(head.lines().next().unwrap_or("").to_string());
                    if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn alertmanagers(port: u16) -> Value {
    let (code, body) = http_get(port, "/api/v1/alertmanagers").unwrap();
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn urls(v: &Value, key: &str) -> Vec<String> {
    v["data"][key]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|u| u["url"].as_str().unwrap().to_string())
        .collect()
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn discovered_relabeled_listed_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, kept_rx) = sink();
    let (other, other_rx) = sink();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Always\n        expr: vector(1)\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ams.yml"),
        format!(
            "- targets: ['{kept}']\n  labels: {{app: alertmanager}}\n- targets: ['{other}']\n  labels: {{app: other}}\n"
        ),
    )
    .unwrap();
    let cfg = dir.path().join("prometheus.yml");
    let with_alerting = "rule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - path_prefix: /am\n      file_sd_configs: [{files: [ams.yml]}]\n      relabel_configs:\n        - source_labels: [app]\n          regex: alertmanager\n          action: keep\n";
    std::fs::write(&cfg, with_alerting).unwrap();
    let srv = Server::start(
        &dir.path().join("data"),
        &[&format!("--config.file={}", cfg.display())],
    );

    let v = alertmanagers(srv.port);
    assert_eq!(v["status"], "success");
    eventually("the discovered alertmanagers", || {
        urls(&alertmanagers(srv.port), "activeAlertmanagers")
            == [format!("http://{kept}/am/api/v2/alerts")]
    });
    assert_eq!(
        urls(&alertmanagers(srv.port), "droppedAlertmanagers"),
        [format!("http://{other}/am/api/v2/alerts")]
    );
    let line = kept_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(line, "POST /am/api/v2/alerts HTTP/1.1");
    assert!(other_rx.try_recv().is_err());

    // Reload without alertmanagers: the listing empties.
    std::fs::write(&cfg, "rule_files: [rules.yml]\n").unwrap();
    let (code, body) = http_request(srv.port, "POST", "/-/reload", &[], b"").unwrap();
    assert_eq!(code, 200, "{body}");
    let v = alertmanagers(srv.port);
    assert!(urls(&v, "activeAlertmanagers").is_empty(), "{v}");
    assert!(urls(&v, "droppedAlertmanagers").is_empty(), "{v}");

    // SIGHUP brings them back.
    std::fs::write(&cfg, with_alerting).unwrap();
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGHUP) };
    eventually("alertmanagers after SIGHUP", || {
        urls(&alertmanagers(srv.port), "activeAlertmanagers")
            == [format!("http://{kept}/am/api/v2/alerts")]
    });
}
