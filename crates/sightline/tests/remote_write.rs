//! Remote write through the real server: status codes, stored values, and
//! durability of every acknowledged write across `kill -9`.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::{Server, remote_write};
use sightline_model::{Labels, MatchOp, Matcher, Sample};
use sightline_tsdb::{Db, Options, Queryable, SelectHints};

/// Sightline without the embedded default's scrape of itself: these tests
/// write samples from 2023, which a sample scraped now would put out of the
/// head's appendable window (a race that hung the kill -9 test once).
fn start_without_self_scrape(data: &std::path::Path) -> Server {
    let cfg = data.with_extension("yml");
    std::fs::write(&cfg, "global: {}\n").unwrap();
    Server::start(data, &[&format!("--config.file={}", cfg.display())])
}
fn series(name: &str, i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", name.to_string()),
        ("job", "rw".to_string()),
        ("idx", i.to_string()),
    ])
}

fn read_all(dir: &std::path::Path, name: &str) -> Vec<(Labels, Vec<Sample>)> {
    let db = Db::open(dir, Options::default()).unwrap();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    q.select(
        &[Matcher::new(MatchOp::Equal, "__name__", name).unwrap()],
        &SelectHints::default(),
    )
    .unwrap()
    .into_iter()
    .map(|s| (s.labels, s.samples))
    .collect()
}

#[test]
fn stores_v1_and_v2_writes_and_answers_with_prometheus_status_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = start_without_self_scrape(&data);
    let t0 = 1_700_000_000_000i64;
    let batch: Vec<(Labels, Vec<Sample>)> = (0..50)
        .map(|i| {
            (
                series("rw_metric", i),
                (0..10)
                    .map(|k| Sample {
                        t: t0 + k * 15_000,
                        v: (i * 100 + k as usize) as f64,
                    })
                    .collect(),
            )
        })
        .collect();
    let (code, body) =
        remote_write(srv.port, &sightline_remote::encode_write_request_v1(&batch)).unwrap();
    assert_eq!(code, 204, "{body}");

    // Remote write 2.0 with its content type; a created timestamp becomes
    // the samples' start timestamp.
    let v2: Vec<(Labels, Vec<Sample>)> = vec![
        (series("rw2_metric", 1), vec![Sample { t: t0, v: 2.5 }]),
        (series("rw2_metric", 2), vec![Sample { t: t0, v: 3.5 }]),
    ];
    let mut req = sightline_remote::write_request_v2(&v2);
    req.timeseries[1].created_timestamp = t0 - 60_000;
    let v2_body = sightline_remote::compress_snappy(&prost::Message::encode_to_vec(&req));
    let (code, body) = common::http_request(
        srv.port,
        "POST",
        "/api/v1/write",
        &[
            (
                "Content-Type",
                "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            ),
            ("Content-Encoding", "snappy"),
        ],
        &v2_body,
    )
    .unwrap();
    assert_eq!(code, 204, "{body}");

    // Malformed: not snappy.
    let (code, body) = remote_write(srv.port, b"definitely not snappy").unwrap();
    assert_eq!(code, 400);
    assert!(body.contains("snappy"), "{body}");
    // Unknown protobuf message in the content type.
    let (code, _) = common::http_request(
        srv.port,
        "POST",
        "/api/v1/write",
        &[
            ("Content-Type", "application/x-protobuf;proto=foo.Bar"),
            ("Content-Encoding", "snappy"),
        ],
        &sightline_remote::encode_write_request_v1(&batch),
    )
    .unwrap();
    assert_eq!(code, 415);
    // Out of order for an existing series: refused with a reason, not retried (400).
    let old = vec![(
        series("rw_metric", 0),
        vec![
            Sample {
                t: t0 + 15_000,
                v: 1.0,
            },
            Sample {
                t: t0 + 10 * 15_000,
                v: 7.0,
            },
        ],
    )];
    let (code, body) =
        remote_write(srv.port, &sightline_remote::encode_write_request_v1(&old)).unwrap();
    assert_eq!(code, 400);
    assert!(
        body.contains("out of order") || body.contains("duplicate"),
        "{body}"
    );
    let metrics = common::http_get(srv.port, "/metrics").unwrap().1;
    assert!(
        metrics.contains("sightline_remote_write_samples_total 503"),
        "{metrics}"
    );

    assert!(srv.sigterm_and_wait().success());
    let got = read_all(&data, "rw_metric");
    assert_eq!(got.len(), 50);
    for (labels, samples) in &got {
        let i: usize = labels.get("idx").unwrap().parse().unwrap();
        let want_len = if i == 0 { 11 } else { 10 };
        assert_eq!(samples.len(), want_len, "{labels}");
        assert_eq!(
            samples[3],
            Sample {
                t: t0 + 45_000,
                v: (i * 100 + 3) as f64
            }
        );
    }
    let got = read_all(&data, "rw2_metric");
    assert_eq!(got[0].1, vec![Sample { t: t0, v: 2.5 }]);
    let db = Db::open(&data, Options::default()).unwrap();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let sts = Mutex::new(Vec::new());
    q.select_each_par_st(
        &[Matcher::new(MatchOp::Equal, "__name__", "rw2_metric").unwrap()],
        1,
        &|_, _, _, st| sts.lock().unwrap().push(st.map(|x| x.to_vec())),
    )
    .unwrap();
    assert_eq!(
        sts.into_inner().unwrap(),
        vec![None, Some(vec![t0 - 60_000])]
    );
}

/// Writers keep sending while the server is killed with SIGKILL; every batch
/// that was answered 204 must be readable after a restart.
#[test]
fn every_acknowledged_sample_survives_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = start_without_self_scrape(&data);
    let port = srv.port;
    let acked: Arc<Mutex<Vec<(usize, i64)>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = 1_700_000_000_000i64;
    let mut writers = Vec::new();
    for w in 0..4usize {
        let acked = acked.clone();
        let stop = stop.clone();
        writers.push(std::thread::spawn(move || {
            let mut k = 0i64;
            while !stop.load(Ordering::Relaxed) && k < 100_000 {
                let t = t0 + k * 1000;
                let batch: Vec<(Labels, Vec<Sample>)> = (0..200)
                    .map(|i| {
                        (
                            series("crash_metric", w * 1000 + i),
                            vec![Sample { t, v: k as f64 }],
                        )
                    })
                    .collect();
                match remote_write(port, &sightline_remote::encode_write_request_v1(&batch)) {
                    Ok((204, _)) => acked.lock().unwrap().push((w, t)),
                    _ => break,
                }
                k += 1;
            }
        }));
    }
    // Let a few hundred batches through, then kill mid-stream.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while acked.lock().unwrap().len() < 400 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} batches acknowledged; log:\n{}",
            acked.lock().unwrap().len(),
            srv.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    srv.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let got = read_all(&data, "crash_metric");
    let mut stored: std::collections::HashMap<Labels, std::collections::HashMap<i64, f64>> =
        Default::default();
    for (l, s) in got {
        stored.insert(l, s.into_iter().map(|x| (x.t, x.v)).collect());
    }
    let mut checked = 0;
    for (w, t) in &acked {
        for i in 0..200 {
            let l = series("crash_metric", w * 1000 + i);
            let v = stored.get(&l).and_then(|m| m.get(t)).copied();
            assert_eq!(
                v,
                Some(((t - t0) / 1000) as f64),
                "acknowledged sample missing: {l} @ {t}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 400 * 200);
    eprintln!(
        "kill -9: {} acknowledged batches, {checked} samples verified",
        acked.len()
    );

    // The server starts again on the same directory and keeps accepting writes.
    let srv = start_without_self_scrape(&data);
    let next = vec![(
        series("crash_metric", 0),
        vec![Sample {
            t: t0 + 10_000_000,
            v: 1.0,
        }],
    )];
    assert_eq!(
        remote_write(srv.port, &sightline_remote::encode_write_request_v1(&next))
            .unwrap()
            .0,
        204
    );
}
