//! The real Prometheus (Debian's package) scrapes a fixed exporter and
//! remote-writes to Sightline; what Sightline stores must be what Prometheus
//! scraped, sample for sample.

use crate::common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::Server;
use sightline_model::{MatchOp, Matcher};
use sightline_tsdb::{Db, Options, Queryable, SelectHints};

const EXPOSITION: &str = "# TYPE sender_test_metric gauge\nsender_test_metric{kind=\"a\"} 42\nsender_test_metric{kind=\"b\"} -1.5e-3\n# TYPE sender_test_total counter\nsender_test_total 1234567\n";

fn serve_fixed_exposition() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{EXPOSITION}",
                EXPOSITION.len()
            );
            let _ = c.write_all(resp.as_bytes());
        }
    });
    port
}

#[test]
fn real_prometheus_remote_writes_into_sightline() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = Server::start(&data, &[]);
    let exporter = serve_fixed_exposition();
    let prom_port = common::free_port();
    let mut child = common::start_prometheus(
        tmp.path(),
        &format!(
            "global:\n  scrape_interval: 1s\n  external_labels: {{replica: r1}}\nscrape_configs:\n  - job_name: fixed\n    static_configs:\n      - targets: ['127.0.0.1:{exporter}']\nremote_write:\n  - url: http://127.0.0.1:{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 500ms\n      min_backoff: 50ms\n",
            srv.port
        ),
        prom_port,
    );
    // Wait until Sightline has received a handful of scrapes' worth of samples.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let m = common::http_get(srv.port, "/metrics")
            .map(|r| r.1)
            .unwrap_or_default();
        let n: f64 = m
            .lines()
            .find_map(|l| l.strip_prefix("sightline_remote_write_samples_total "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if n >= 60.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus sent only {n} samples; its log:\n{}",
            std::fs::read_to_string(tmp.path().join("prom.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    assert!(srv.sigterm_and_wait().success());

    let db = Db::open(&data, Options::default()).unwrap();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let sel = |name: &str| {
        q.select(
            &[Matcher::new(MatchOp::Equal, "__name__", name).unwrap()],
            &SelectHints::default(),
        )
        .unwrap()
    };
    let metric = sel("sender_test_metric");
    assert_eq!(
        metric.len(),
        2,
        "{:?}",
        metric
            .iter()
            .map(|s| s.labels.to_string())
            .collect::<Vec<_>>()
    );
    let instance = format!("127.0.0.1:{exporter}");
    for s in &metric {
        assert_eq!(s.labels.get("job"), Some("fixed"));
        assert_eq!(s.labels.get("instance"), Some(instance.as_str()));
        assert_eq!(
            s.labels.get("replica"),
            Some("r1"),
            "external labels are sent too"
        );
        let want = if s.labels.get("kind") == Some("a") {
            42.0
        } else {
            -1.5e-3
        };
        assert!(
            s.samples.len() >= 5,
            "{} has {} samples",
            s.labels,
            s.samples.len()
        );
        for x in &s.samples {
            if !sightline_model::is_stale_nan(x.v) {
                assert_eq!(x.v, want, "{}", s.labels);
            }
        }
        // One sample per second-ish scrape, strictly increasing timestamps.
        assert!(s.samples.windows(2).all(|w| w[1].t > w[0].t));
    }
    let total = sel("sender_test_total");
    assert!(
        total[0]
            .samples
            .iter()
            .all(|x| x.v == 1234567.0 || sightline_model::is_stale_nan(x.v))
    );
    let up = sel("up");
    assert!(
        up.iter()
            .any(|s| s.labels.get("job") == Some("fixed") && s.samples.iter().any(|x| x.v == 1.0))
    );
    // The scrape-time series Prometheus adds arrive too.
    assert!(!sel("scrape_duration_seconds").is_empty());
}
