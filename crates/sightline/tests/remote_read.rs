//! Remote read against the real Prometheus (Debian's package): samples
//! written into Sightline are answered by a Prometheus whose only data source
//! is `remote_read` pointed at Sightline's `/api/v1/read`.

use crate::common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Server;
use sightline_model::{Labels, Sample};

#[test]
fn real_prometheus_reads_sightline_through_remote_read() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = Server::start(&tmp.path().join("data"), &[]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // Two series, one sample every 15s over the last 10 minutes.
    let series: Vec<(Labels, Vec<Sample>)> = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(k, kind)| {
            (
                Labels::from_pairs([("__name__", "rr_metric"), ("kind", *kind)]),
                (0..40)
                    .map(|i| Sample {
                        t: now - 600_000 + i * 15_000,
                        v: (k as f64 + 1.0) * 100.0 + i as f64,
                    })
                    .collect(),
            )
        })
        .collect();
    let (code, body) = common::remote_write(
        srv.port,
        &sightline_remote::encode_write_request_v1(&series),
    )
    .unwrap();
    assert_eq!(code, 204, "{body}");

    // Bad input is refused with a reason, not a crash.
    let (code, body) = common::http_request(
        srv.port,
        "POST",
        "/api/v1/read",
        &[("Content-Encoding", "snappy")],
        b"not snappy",
    )
    .unwrap();
    assert_eq!(code, 400, "{body}");

    let prom_port = common::free_port();
    let mut child = common::start_prometheus(
        tmp.path(),
        &format!(
            "remote_read:\n  - url: http://127.0.0.1:{}/api/v1/read\n    read_recent: true\n",
            srv.port
        ),
        prom_port,
    );
    let t = (now - 600_000 + 39 * 15_000) as f64 / 1000.0;
    let query = format!("/api/v1/query?query=sum%20by%20(kind)%20(rr_metric)&time={t}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let v = loop {
        if let Ok((200, body)) = common::http_get(prom_port, &query) {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if v["data"]["result"].as_array().is_some_and(|r| r.len() == 2) {
                break v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not read the series; its log:\n{}",
            std::fs::read_to_string(tmp.path().join("prom.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let mut got: Vec<(String, String)> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"]["kind"].as_str().unwrap().to_string(),
                r["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("a".to_string(), "139".to_string()),
            ("b".to_string(), "239".to_string())
        ]
    );
    // A range query over the whole written span sees every sample.
    let range = format!(
        "/api/v1/query_range?query=rr_metric%7Bkind%3D%22a%22%7D&start={}&end={t}&step=15",
        (now - 600_000) as f64 / 1000.0
    );
    let (code, body) = common::http_get(prom_port, &range).unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let values = v["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 40, "{body}");
    assert_eq!(values[0][1], "100");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}
