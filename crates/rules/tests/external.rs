//! Sending to an external Alertmanager: `POST /api/v2/alerts` with the
//! API v2 JSON body, per-Alertmanager `alert_relabel_configs` applied.

use std::time::Duration;

use sightline_model::Labels;
use sightline_rules::notifier::{AlertSink, ExternalSink, ExternalTarget, NotifyAlert};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A one-request HTTP sink: returns the request line and body.
async fn receive_one(listener: tokio::net::TcpListener) -> (String, String) {
    let (mut sock, _) = listener.accept().await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len {
                sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await
                    .unwrap();
                return (head.lines().next().unwrap().to_string(), body.to_string());
            }
        }
        if n == 0 {
            panic!("connection closed early");
        }
    }
}

#[tokio::test]
async fn posts_api_v2_alerts_with_relabeling() {
    // The binary pins rustls's provider at start; reqwest needs one to build a client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = tokio::spawn(receive_one(listener));
    let drop_debug: sightline_config::RelabelConfig =
        serde_saphyr::from_str("source_labels: [severity]\nregex: debug\naction: drop\n").unwrap();
    let sink = ExternalSink::start(vec![ExternalTarget {
        url: format!("http://{addr}/prefix/api/v2/alerts"),
        timeout: Duration::from_secs(5),
        basic_auth: None,
        relabel: vec![drop_debug],
    }]);
    let a = |sev: &str| NotifyAlert {
        labels: Labels::from_pairs([("alertname", "HighErrorRate"), ("severity", sev)]),
        annotations: vec![("summary".into(), "Error rate above 5% on checkout".into())],
        starts_at: 1_700_000_000_000,
        ends_at: 1_700_000_240_000,
        generator_url: "http://prom/graph?g0.expr=x&g0.tab=1".into(),
    };
    sink.send(&[a("critical"), a("debug")]);
    let (line, body) = tokio::time::timeout(Duration::from_secs(10), got)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line, "POST /prefix/api/v2/alerts HTTP/1.1");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 1, "{body}");
    assert_eq!(arr[0]["labels"]["severity"], "critical");
    assert_eq!(arr[0]["startsAt"], "2023-11-14T22:13:20Z");
    assert_eq!(arr[0]["endsAt"], "2023-11-14T22:17:20Z");
    assert_eq!(
        arr[0]["annotations"]["summary"],
        "Error rate above 5% on checkout"
    );
    assert_eq!(
        arr[0]["generatorURL"],
        "http://prom/graph?g0.expr=x&g0.tab=1"
    );
}

#[test]
fn targets_from_alerting_config() {
    let cfg = sightline_config::load_str(
        "alerting:\n  alertmanagers:\n    - path_prefix: /am\n      static_configs:\n        - targets: ['a:9093', 'b:9093']\n",
        "p.yml",
    )
    .unwrap();
    let t = sightline_rules::notifier::external_targets(&cfg.alerting);
    let urls: Vec<&str> = t.iter().map(|t| t.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "http://a:9093/am/api/v2/alerts",
            "http://b:9093/am/api/v2/alerts"
        ]
    );
}
