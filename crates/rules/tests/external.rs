//! Sending to external Alertmanagers: `POST /api/v2/alerts` with the API v2
//! JSON body to the Alertmanagers each `alerting.alertmanagers` entry
//! discovers (static and file SD), after target relabeling, with the entry's
//! HTTP client settings (authorization, TLS) and `alert_relabel_configs`.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sightline_model::Labels;
use sightline_rules::notifier::{AlertSink, ExternalSink, NotifyAlert};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// One request a sink received.
#[derive(Debug)]
struct Req {
    line: String,
    head: String,
    body: String,
}

impl Req {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// Answers every request on a (keep-alive) connection with 200 and `reply`.
async fn serve_conn<S: AsyncRead + AsyncWrite + Unpin>(
    mut sock: S,
    tx: mpsc::UnboundedSender<Req>,
    reply: &'static str,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let pos = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..pos]).to_string();
        let req = Req {
            line: head.lines().next().unwrap_or("").to_string(),
            head: head.clone(),
            body: String::new(),
        };
        let len: usize = req
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < pos + 4 + len {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[pos + 4..pos + 4 + len]).to_string();
        buf.drain(..pos + 4 + len);
        let _ = tx.send(Req { body, ..req });
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if sock.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A plain HTTP sink: its address and the requests it receives.
async fn http_sink() -> (String, mpsc::UnboundedReceiver<Req>) {
    http_server("").await
}

/// A plain HTTP server answering every request with `reply`.
async fn http_server(reply: &'static str) -> (String, mpsc::UnboundedReceiver<Req>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve_conn(sock, tx.clone(), reply));
        }
    });
    (addr, rx)
}

/// An HTTPS sink with a self-signed certificate for `localhost`: its port.
async fn https_sink(
    cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
) -> (u16, mpsc::UnboundedReceiver<Req>) {
    let certs = vec![CertificateDer::from(cert.cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    serve_conn(tls, tx, "").await;
                }
            });
        }
    });
    (port, rx)
}

fn install_crypto() {
    // The binary pins rustls's provider at start; reqwest needs one to build a client.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn alert(name: &str, sev: &str) -> NotifyAlert {
    NotifyAlert {
        labels: Labels::from_pairs([("alertname", name), ("severity", sev)]),
        annotations: vec![("summary".into(), "Error rate above 5% on checkout".into())],
        starts_at: 1_700_000_000_000,
        ends_at: 1_700_000_240_000,
        generator_url: "http://prom/graph?g0.expr=x&g0.tab=1".into(),
    }
}

fn alerting(yaml: &str) -> sightline_config::AlertingConfig {
    sightline_config::load_str(yaml, "p.yml").unwrap().alerting
}

/// A sink with the given `alerting:` section applied and a short SD throttle.
fn sink_for(yaml: &str, dir: Option<&std::path::Path>) -> Arc<ExternalSink> {
    let sink = ExternalSink::start();
    sink.set_update_throttle(Duration::from_millis(50));
    if let Some(d) = dir {
        sink.set_config_dir(d);
    }
    sink.apply(&alerting(yaml)).unwrap();
    sink
}

/// Sends `a` until some sink reports a request (targets appear asynchronously).
async fn send_until(
    sink: &ExternalSink,
    a: &[NotifyAlert],
    rx: &mut mpsc::UnboundedReceiver<Req>,
) -> Req {
    for _ in 0..100 {
        sink.send(a);
        if let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            return r;
        }
    }
    panic!("no request received");
}

async fn wait_active(sink: &ExternalSink, want: usize) {
    for _ in 0..100 {
        if sink.alertmanagers().0.len() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("active alertmanagers: {:?}", sink.alertmanagers());
}

#[tokio::test]
async fn posts_api_v2_alerts_with_relabeling() {
    install_crypto();
    let (addr, mut rx) = http_sink().await;
    let sink = sink_for(
        &format!(
            "alerting:\n  alertmanagers:\n    - path_prefix: /prefix\n      static_configs: [{{targets: ['{addr}']}}]\n      alert_relabel_configs:\n        - source_labels: [severity]\n          regex: debug\n          action: drop\n"
        ),
        None,
    );
    let r = send_until(
        &sink,
        &[
            alert("HighErrorRate", "critical"),
            alert("HighErrorRate", "debug"),
        ],
        &mut rx,
    )
    .await;
    assert_eq!(r.line, "POST /prefix/api/v2/alerts HTTP/1.1");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 1, "{}", r.body);
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

#[tokio::test]
async fn file_sd_with_target_relabeling_and_file_changes() {
    install_crypto();
    let (a, mut rx_a) = http_sink().await;
    let (b, mut rx_b) = http_sink().await;
    let dir = tempfile::tempdir().unwrap();
    let write_targets = |kept: &str, other: &str| {
        let tmp = dir.path().join("ams.json.tmp");
        std::fs::write(
            &tmp,
            format!(
                r#"[{{"targets": ["{kept}"], "labels": {{"role": "primary"}}}},
                    {{"targets": ["{other}"], "labels": {{"role": "standby"}}}}]"#
            ),
        )
        .unwrap();
        std::fs::rename(&tmp, dir.path().join("ams.json")).unwrap();
    };
    write_targets(&a, &b);
    // Relative file path: resolved against the config directory.
    let yaml = "alerting:\n  alertmanagers:\n    - path_prefix: /ignored\n      file_sd_configs: [{files: ['ams.json'], refresh_interval: 1s}]\n      relabel_configs:\n        - source_labels: [role]\n          regex: primary\n          action: keep\n        - target_label: __alerts_path__\n          replacement: /custom/api/v2/alerts\n";
    let sink = sink_for(yaml, Some(dir.path()));
    let r = send_until(&sink, &[alert("A", "critical")], &mut rx_a).await;
    assert_eq!(r.line, "POST /custom/api/v2/alerts HTTP/1.1");
    let (active, dropped) = sink.alertmanagers();
    assert_eq!(active, [format!("http://{a}/custom/api/v2/alerts")]);
    // Dropped Alertmanagers are listed with their labels before relabeling.
    assert_eq!(dropped, [format!("http://{b}/ignored/api/v2/alerts")]);
    assert!(rx_b.try_recv().is_err(), "dropped alertmanager got alerts");

    // The standby becomes primary: delivery moves to b.
    write_targets(&b, &a);
    for _ in 0..200 {
        if sink.alertmanagers().0 == [format!("http://{b}/custom/api/v2/alerts")] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sink.alertmanagers().0,
        [format!("http://{b}/custom/api/v2/alerts")]
    );
    while rx_a.try_recv().is_ok() {}
    let r = send_until(&sink, &[alert("B", "critical")], &mut rx_b).await;
    assert_eq!(r.line, "POST /custom/api/v2/alerts HTTP/1.1");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        rx_a.try_recv().is_err(),
        "old alertmanager still gets alerts"
    );

    // A reload without alertmanagers stops sending.
    sink.apply(&alerting("alerting: {}\n")).unwrap();
    assert_eq!(sink.alertmanagers(), (vec![], vec![]));
}

#[tokio::test]
async fn scheme_and_address_from_relabeling_without_default_port() {
    install_crypto();
    let sink = sink_for(
        "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['am.example']}]\n      relabel_configs:\n        - target_label: __scheme__\n          replacement: https\n    - api_version: v2\n      path_prefix: /a/../b/\n      static_configs: [{targets: ['x:1', 'x:1']}]\n",
        None,
    );
    wait_active(&sink, 2).await;
    let (active, dropped) = sink.alertmanagers();
    // No port is added; the path is cleaned like Go's path.Join; duplicates collapse.
    assert_eq!(
        active,
        [
            "https://am.example/api/v2/alerts",
            "http://x:1/b/api/v2/alerts"
        ]
    );
    assert!(dropped.is_empty());
}

#[tokio::test]
async fn authorization_and_tls_config() {
    install_crypto();
    let (plain, mut rx_plain) = http_sink().await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (port, mut rx_tls) = https_sink(&cert).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let yaml = format!(
        "alerting:\n  alertmanagers:\n    - authorization: {{credentials: xyz}}\n      http_headers: {{X-Scope-OrgID: {{values: [tenant-1]}}}}\n      static_configs: [{{targets: ['{plain}']}}]\n    - scheme: https\n      tls_config: {{ca_file: {}}}\n      basic_auth: {{username: u, password: p}}\n      static_configs: [{{targets: ['localhost:{port}']}}]\n",
        ca.display()
    );
    let sink = sink_for(&yaml, None);
    wait_active(&sink, 2).await;
    let r = send_until(&sink, &[alert("A", "critical")], &mut rx_plain).await;
    assert_eq!(r.header("authorization").as_deref(), Some("Bearer xyz"));
    assert_eq!(r.header("x-scope-orgid").as_deref(), Some("tenant-1"));
    let r = tokio::time::timeout(Duration::from_secs(10), rx_tls.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.line, "POST /api/v2/alerts HTTP/1.1");
    assert_eq!(r.header("authorization").as_deref(), Some("Basic dTpw"));
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v[0]["labels"]["alertname"], "A");
}

#[tokio::test]
async fn oauth2_token_and_proxy_url() {
    install_crypto();
    let (token, mut rx_token) =
        http_server(r#"{"access_token":"tok-1","token_type":"Bearer","expires_in":3600}"#).await;
    let (am, mut rx_am) = http_sink().await;
    let (proxy, mut rx_proxy) = http_sink().await;
    let yaml = format!(
        "alerting:\n  alertmanagers:\n    - oauth2: {{client_id: id, client_secret: s, token_url: 'http://{token}/token', scopes: [alerts]}}\n      static_configs: [{{targets: ['{am}']}}]\n    - proxy_url: 'http://{proxy}'\n      static_configs: [{{targets: ['am.example:9093']}}]\n"
    );
    let sink = sink_for(&yaml, None);
    wait_active(&sink, 2).await;
    let r = send_until(&sink, &[alert("A", "critical")], &mut rx_am).await;
    assert_eq!(r.header("authorization").as_deref(), Some("Bearer tok-1"));
    let t = rx_token.recv().await.unwrap();
    assert_eq!(t.line, "POST /token HTTP/1.1");
    assert!(t.body.contains("scope=alerts"), "{}", t.body);
    // Through the proxy: the request line carries the absolute URL.
    let r = tokio::time::timeout(Duration::from_secs(10), rx_proxy.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.line, "POST http://am.example:9093/api/v2/alerts HTTP/1.1");
}

#[test]
fn bad_http_client_settings_fail_the_apply() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        install_crypto();
        let sink = ExternalSink::start();
        let e = sink
            .apply(&alerting(
                "alerting:\n  alertmanagers:\n    - tls_config: {ca_file: /nonexistent/ca.pem}\n      static_configs: [{targets: ['a:9093']}]\n",
            ))
            .unwrap_err();
        assert!(e.contains("alertmanager config 0"), "{e}");
    });
}

#[tokio::test]
async fn reload_of_the_same_entry_keeps_targets_and_rereads_files() {
    install_crypto();
    let (am, mut rx) = http_sink().await;
    let dir = tempfile::tempdir().unwrap();
    let cred = dir.path().join("cred");
    std::fs::write(&cred, "one\n").unwrap();
    let cfg = alerting(&format!(
        "alerting:\n  alertmanagers:\n    - authorization: {{credentials_file: {}}}\n      static_configs: [{{targets: ['{am}']}}]\n",
        cred.display()
    ));
    let sink = ExternalSink::start();
    sink.apply(&cfg).unwrap();
    let r = send_until(&sink, &[alert("A", "critical")], &mut rx).await;
    assert_eq!(r.header("authorization").as_deref(), Some("Bearer one"));
    std::fs::write(&cred, "two\n").unwrap();
    sink.apply(&cfg).unwrap();
    // Kept at once, without waiting for discovery.
    assert_eq!(
        sink.alertmanagers().0,
        [format!("http://{am}/api/v2/alerts")]
    );
    while rx.try_recv().is_ok() {}
    sink.send(&[alert("B", "critical")]);
    let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.header("authorization").as_deref(), Some("Bearer two"));
}

fn pod(ns: &str, name: &str, app: &str, ports: &[(&str, u16)]) -> serde_json::Value {
    let ports: Vec<serde_json::Value> = ports
        .iter()
        .map(|(n, p)| serde_json::json!({"name": n, "containerPort": p, "protocol": "TCP"}))
        .collect();
    serde_json::json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": {"app": app}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "i", "ports": ports}]},
        "status": {
            "phase": "Running", "podIP": "127.0.0.1", "hostIP": "10.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "c", "containerID": format!("containerd://{name}")}]
        }
    })
}

/// The usual Kubernetes setup: pods of the `monitoring` namespace, kept by
/// their `app` label and container port.
#[tokio::test]
async fn kubernetes_pods_kept_by_label_and_port() {
    install_crypto();
    let (am, mut rx) = http_sink().await;
    let port: u16 = am.rsplit(':').next().unwrap().parse().unwrap();
    let api = sightline_discovery::testing::FakeApiServer::start().await;
    api.apply(pod(
        "monitoring",
        "alertmanager-0",
        "alertmanager",
        &[("web", port), ("cluster", 9094)],
    ));
    api.apply(pod("monitoring", "grafana-0", "grafana", &[("web", port)]));
    api.apply(pod(
        "other",
        "alertmanager-x",
        "alertmanager",
        &[("web", port)],
    ));
    let yaml = format!(
        "alerting:\n  alertmanagers:\n    - kubernetes_sd_configs: [{{role: pod, api_server: '{}', namespaces: {{names: [monitoring]}}}}]\n      relabel_configs:\n        - source_labels: [__meta_kubernetes_pod_label_app]\n          regex: alertmanager\n          action: keep\n        - source_labels: [__meta_kubernetes_pod_container_port_number]\n          regex: \"{port}\"\n          action: keep\n      scheme: http\n      path_prefix: /\n      timeout: 10s\n      api_version: v2\n",
        api.url
    );
    let sink = sink_for(&yaml, None);
    wait_active(&sink, 1).await;
    let (active, mut dropped) = sink.alertmanagers();
    assert_eq!(active, [format!("http://127.0.0.1:{port}/api/v2/alerts")]);
    dropped.sort();
    assert_eq!(
        dropped,
        [
            format!("http://127.0.0.1:{port}/api/v2/alerts"),
            "http://127.0.0.1:9094/api/v2/alerts".to_string()
        ]
    );
    let r = send_until(&sink, &[alert("A", "critical")], &mut rx).await;
    assert_eq!(r.line, "POST /api/v2/alerts HTTP/1.1");
}

/// A server that accepts connections and reads requests but never answers.
async fn hanging_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = sock.read(&mut chunk).await {
                    if n == 0 {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_hanging_alertmanager_does_not_delay_the_others() {
    install_crypto();
    let hang = hanging_server().await;
    let (addr, mut rx) = http_sink().await;
    let sink = sink_for(
        &format!(
            "alerting:\n  alertmanagers:\n    - timeout: 60s\n      static_configs: [{{targets: ['{hang}', '{addr}']}}]\n"
        ),
        None,
    );
    wait_active(&sink, 2).await;
    // Each Alertmanager has its own queue and send loop (Prometheus 3.x): the
    // healthy one gets every batch at once while the other one's first
    // request is still waiting for its 60s timeout.
    for name in ["First", "Second", "Third"] {
        sink.send(&[alert(name, "critical")]);
        let r = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("batch {name} held up by the hanging Alertmanager"))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v[0]["labels"]["alertname"], name, "{}", r.body);
    }
    // The counts follow the answer, which the sink sends after recording.
    let url = format!("http://{addr}/api/v2/alerts");
    let mut st = sink.stats();
    for _ in 0..100 {
        if st.per_alertmanager.get(&url).is_some_and(|c| c.sent == 3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        st = sink.stats();
    }
    assert_eq!(st.alertmanagers_discovered, 2);
    let healthy = &st.per_alertmanager[&url];
    assert_eq!((healthy.sent, healthy.errors), (3, 0));
    // The hanging one's queue holds what it has not sent yet.
    assert_eq!(st.queue_length, 2, "{st:?}");
}
