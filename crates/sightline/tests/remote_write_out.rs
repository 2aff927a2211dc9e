//! Outbound remote write (`remote_write:`): samples Sightline stores are
//! forwarded with external labels and `write_relabel_configs` applied, to
//! the real Prometheus as receiver (1.0), and to a sink that fails first
//! (2.0): 5xx is retried until it succeeds, a 4xx drops only that batch, and
//! the `prometheus_remote_storage_*` counters say so; with `sigv4:` every
//! request carries an AWS Signature V4 the receiver can verify.

use crate::common;

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::{Server, eventually, free_port, http_get, remote_write, start_prometheus_with};
use sightline_model::{Labels, Sample};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Starts Sightline with `config` as its prometheus.yml, storing under `dir`.
fn start_with_config(dir: &std::path::Path, config: &str) -> Server {
    let cfg = dir.join("sightline.yml");
    std::fs::write(&cfg, config).unwrap();
    Server::start(
        &dir.join("data"),
        &[&format!("--config.file={}", cfg.display())],
    )
}

/// Writes `n` series `name{i="k"}` with one sample each at `t` into Sightline.
fn write_series(port: u16, name: &str, n: usize, t: i64) {
    let series: Vec<(Labels, Vec<Sample>)> = (0..n)
        .map(|k| {
            (
                Labels::from_pairs([("__name__", name.to_string()), ("i", k.to_string())]),
                vec![Sample { t, v: k as f64 }],
            )
        })
        .collect();
    let (code, body) =
        remote_write(port, &sightline_remote::encode_write_request_v1(&series)).unwrap();
    assert_eq!(code, 204, "{body}");
}

fn metric(port: u16, name: &str, labels: &str) -> Option<f64> {
    let (_, text) = http_get(port, "/metrics").ok()?;
    common::exposed_value(&text, name, labels)
}

#[test]
fn forwards_to_real_prometheus_with_external_labels_and_relabeling() {
    let dir = tempfile::tempdir().unwrap();
    let prom_port = free_port();
    let mut prom = start_prometheus_with(
        dir.path(),
        "global: {}\n",
        prom_port,
        &["--web.enable-remote-write-receiver"],
    );
    let srv = start_with_config(
        dir.path(),
        &format!(
            r#"global: {{external_labels: {{cluster: eu1}}}}
remote_write:
  - url: http://127.0.0.1:{prom_port}/api/v1/write
    name: prom
    queue_config: {{batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 500ms}}
    write_relabel_configs:
      - source_labels: [__name__]
        regex: private_.*
        action: drop
"#
        ),
    );
    // Prometheus may still be starting: the queue retries until it answers.
    let t = now_ms();
    write_series(srv.port, "forwarded_total", 20, t);
    write_series(srv.port, "private_total", 5, t);

    eventually("the forwarded series in Prometheus", || {
        let (code, body) = http_get(prom_port, "/api/v1/query?query=forwarded_total")
            .map_err(|e| e.to_string())?;
        let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let r = v["data"]["result"].as_array().cloned().unwrap_or_default();
        if code != 200 || r.len() != 20 {
            return Err(format!("{code} {body}"));
        }
        for s in &r {
            assert_eq!(s["metric"]["cluster"], "eu1", "{s}");
            let i: f64 = s["metric"]["i"].as_str().unwrap().parse().unwrap();
            assert_eq!(s["value"][1].as_str().unwrap().parse::<f64>().unwrap(), i);
        }
        Ok(())
    });
    let (_, body) = http_get(prom_port, "/api/v1/query?query=private_total").unwrap();
    assert!(
        body.contains("\"result\":[]"),
        "dropped by relabeling: {body}"
    );
    let labels = format!("remote_name=\"prom\",url=\"http://127.0.0.1:{prom_port}/api/v1/write\"");
    eventually("the queue's counters", || {
        let sent = metric(srv.port, "prometheus_remote_storage_samples_total", &labels);
        let dropped = metric(
            srv.port,
            "prometheus_remote_storage_samples_dropped_total",
            &labels,
        );
        let highest = metric(
            srv.port,
            "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
            &labels,
        );
        if sent == Some(20.0) && dropped == Some(5.0) && highest == Some(t as f64 / 1000.0) {
            Ok(())
        } else {
            Err(format!(
                "sent {sent:?} dropped {dropped:?} highest {highest:?}"
            ))
        }
    });
    let _ = prom.kill();
    let _ = prom.wait();
}

type Shared<T> = Arc<Mutex<Vec<T>>>;

impl Accepted {
    /// The request body, decompressed and decoded as `proto`.
    fn decode(&self, proto: sightline_remote::WriteProto) -> sightline_remote::DecodedWrite {
        let raw = sightline_remote::decompress_snappy(&self.body, 1 << 26).unwrap();
        sightline_remote::decode_proto(proto, &raw).unwrap()
    }
}

/// What the sink saw of one accepted request.
#[derive(Clone, Debug)]
struct Accepted {
    head: String,
    content_type: String,
    version: String,
    body: Vec<u8>,
}

/// An HTTP sink answering the statuses in `script` in turn, then 204; it
/// keeps the requests it accepted.
fn scripted_sink(script: Vec<u16>) -> (u16, Shared<Accepted>, Shared<u16>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let answered = Arc::new(Mutex::new(Vec::new()));
    let (acc, ans) = (accepted.clone(), answered.clone());
    let script = Arc::new(Mutex::new(script.into_iter()));
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let (acc, ans, script) = (acc.clone(), ans.clone(), script.clone());
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                while let Some((head, body)) = common::read_http_request(&mut s, &mut buf) {
                    let header = |name: &str| common::header_value(&head, name).unwrap_or_default();
                    let code = script.lock().unwrap().next().unwrap_or(204);
                    ans.lock().unwrap().push(code);
                    if code == 204 {
                        acc.lock().unwrap().push(Accepted {
                            head: head.clone(),
                            content_type: header("content-type"),
                            version: header("x-prometheus-remote-write-version"),
                            body,
                        });
                    }
                    let resp = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n\r\n");
                    if s.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, accepted, answered)
}

#[test]
fn retries_server_errors_drops_refused_batches_and_speaks_2_0() {
    let dir = tempfile::tempdir().unwrap();
    let (sink_port, accepted, answered) = scripted_sink(vec![503, 503, 400]);
    let srv = start_with_config(
        dir.path(),
        &format!(
            r#"remote_write:
  - url: http://127.0.0.1:{sink_port}/receive
    protobuf_message: io.prometheus.write.v2.Request
    queue_config: {{batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 200ms}}
"#
        ),
    );
    let t = now_ms();
    write_series(srv.port, "first_batch", 30, t);
    eventually("two 503s and a 400", || {
        let a = answered.lock().unwrap().clone();
        if a == [503, 503, 400] {
            Ok(())
        } else {
            Err(format!("{a:?}"))
        }
    });
    write_series(srv.port, "second_batch", 40, t + 1);
    eventually("the second batch accepted", || {
        let got: usize = accepted
            .lock()
            .unwrap()
            .iter()
            .map(|a| a.decode(sightline_remote::WriteProto::V2).sample_count())
            .sum();
        if got == 40 {
            Ok(())
        } else {
            Err(format!("{got} samples accepted"))
        }
    });
    let acc = accepted.lock().unwrap().clone();
    for a in &acc {
        assert_eq!(
            a.content_type,
            "application/x-protobuf;proto=io.prometheus.write.v2.Request"
        );
        assert_eq!(a.version, "2.0.0");
        let w = a.decode(sightline_remote::WriteProto::V2);
        for s in &w.series {
            assert_eq!(s.labels.metric_name(), Some("second_batch"), "{s:?}");
            assert_eq!(s.samples[0].t, t + 1);
        }
    }
    let labels = format!("url=\"http://127.0.0.1:{sink_port}/receive\"");
    eventually("the counters", || {
        let m = |n: &str| metric(srv.port, n, &labels);
        let got = (
            m("prometheus_remote_storage_samples_total"),
            m("prometheus_remote_storage_samples_retried_total"),
            m("prometheus_remote_storage_samples_failed_total"),
            m("prometheus_remote_storage_samples_pending"),
        );
        if got == (Some(40.0), Some(60.0), Some(30.0), Some(0.0)) {
            Ok(())
        } else {
            Err(format!("sent, retried, failed, pending = {got:?}"))
        }
    });
}

#[test]
fn sigv4_signs_every_request_verifiably() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let (sink_port, accepted, _) = scripted_sink(vec![]);
    let srv = start_with_config(
        dir.path(),
        &format!(
            r#"remote_write:
  - url: http://127.0.0.1:{sink_port}/workspaces/ws-1/api/v1/remote_write
    queue_config: {{batch_send_deadline: 200ms}}
    sigv4: {{region: eu-west-1, access_key: AKIDTEST, secret_key: secret/key}}
"#
        ),
    );
    write_series(srv.port, "signed_total", 3, now_ms());
    eventually("a signed request", || {
        if accepted.lock().unwrap().is_empty() {
            Err("nothing yet".into())
        } else {
            Ok(())
        }
    });
    let a = accepted.lock().unwrap()[0].clone();
    let header = |name: &str| {
        common::header_value(&a.head, name)
            .unwrap_or_else(|| panic!("no {name} header in {}", a.head))
    };
    let auth = header("authorization");
    let date = header("x-amz-date");
    let prefix = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/{}/eu-west-1/aps/aws4_request, SignedHeaders=host;x-amz-date, Signature=",
        &date[..8]
    );
    assert!(auth.starts_with(&prefix), "{auth}");
    // Verify as AWS would: recompute the signature from what arrived.
    let hash: String = sha2::Sha256::digest(&a.body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let expected =
        sightline_discovery::sigv4::authorization(&sightline_discovery::sigv4::Signing {
            method: "POST",
            path: "/workspaces/ws-1/api/v1/remote_write",
            query: &[],
            headers: &[
                ("host".into(), header("host")),
                ("x-amz-date".into(), date.clone()),
            ],
            payload_sha256: &hash,
            datetime: &date,
            region: "eu-west-1",
            service: "aps",
            credentials: &sightline_discovery::sigv4::Credentials {
                access_key: "AKIDTEST".into(),
                secret_key: "secret/key".into(),
                session_token: None,
            },
        });
    assert_eq!(auth, expected);
}

#[test]
fn sends_metric_metadata_every_send_interval() {
    use prost::Message;
    use sightline_remote::prompb;
    let dir = tempfile::tempdir().unwrap();
    let (sink_port, accepted, _) = scripted_sink(vec![]);
    let srv = start_with_config(
        dir.path(),
        &format!(
            r#"remote_write:
  - url: http://127.0.0.1:{sink_port}/receive
    metadata_config: {{send_interval: 300ms}}
"#
        ),
    );
    // Metadata arrives with a remote-write request into Sightline.
    let req = prompb::WriteRequest {
        timeseries: Vec::new(),
        metadata: vec![prompb::MetricMetadata {
            r#type: prompb::metric_metadata::MetricType::Counter as i32,
            metric_family_name: "orders_total".into(),
            help: "Orders placed.".into(),
            unit: String::new(),
        }],
    };
    let body = sightline_remote::compress_snappy(&req.encode_to_vec());
    let (code, text) = remote_write(srv.port, &body).unwrap();
    assert_eq!(code, 204, "{text}");
    eventually("the metadata forwarded", || {
        let found = accepted.lock().unwrap().iter().any(|a| {
            let w = a.decode(sightline_remote::WriteProto::V1);
            w.metadata.iter().any(|(family, m)| {
                family == "orders_total"
                    && m.help == "Orders placed."
                    && m.kind == sightline_model::MetricType::Counter
            })
        });
        if found { Ok(()) } else { Err("not yet".into()) }
    });
    let labels = format!("url=\"http://127.0.0.1:{sink_port}/receive\"");
    eventually("the metadata counter", || {
        match metric(
            srv.port,
            "prometheus_remote_storage_metadata_total",
            &labels,
        ) {
            Some(v) if v >= 1.0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}

#[test]
fn forwards_exemplars_with_send_exemplars() {
    use prost::Message;
    use sightline_remote::prompb;
    let dir = tempfile::tempdir().unwrap();
    let (sink_port, accepted, _) = scripted_sink(vec![]);
    let srv = start_with_config(
        dir.path(),
        &format!(
            r#"remote_write:
  - url: http://127.0.0.1:{sink_port}/receive
    send_exemplars: true
    queue_config: {{batch_send_deadline: 200ms}}
"#
        ),
    );
    let t = now_ms();
    let label = |n: &str, v: &str| prompb::Label {
        name: n.into(),
        value: v.into(),
    };
    let req = prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: vec![
                label("__name__", "checkout_latency_seconds_bucket"),
                label("le", "5"),
            ],
            samples: vec![prompb::Sample {
                value: 12.0,
                timestamp: t,
            }],
            exemplars: vec![prompb::Exemplar {
                labels: vec![label("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")],
                value: 4.2,
                timestamp: t,
            }],
            ..Default::default()
        }],
        metadata: Vec::new(),
    };
    let (code, text) = remote_write(
        srv.port,
        &sightline_remote::compress_snappy(&req.encode_to_vec()),
    )
    .unwrap();
    assert_eq!(code, 204, "{text}");
    eventually("the exemplar forwarded", || {
        for a in accepted.lock().unwrap().iter() {
            let w = a.decode(sightline_remote::WriteProto::V1);
            for s in &w.series {
                if let Some(e) = s.exemplars.first() {
                    assert_eq!(
                        s.labels.metric_name(),
                        Some("checkout_latency_seconds_bucket")
                    );
                    assert_eq!(
                        e.labels.get("trace_id"),
                        Some("4bf92f3577b34da6a3ce929d0e0e4736")
                    );
                    assert_eq!((e.v, e.t), (4.2, t));
                    return Ok(());
                }
            }
        }
        Err("no exemplar yet".into())
    });
    let labels = format!("url=\"http://127.0.0.1:{sink_port}/receive\"");
    eventually("the exemplar counter", || {
        match metric(
            srv.port,
            "prometheus_remote_storage_exemplars_total",
            &labels,
        ) {
            Some(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}
