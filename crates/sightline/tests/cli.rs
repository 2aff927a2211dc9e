//! The command line: config checking, graceful shutdown, reload, web security.

use crate::common;

use std::process::Command;

use common::Server;

fn sightline(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn check_config_reports_file_line_field() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.yml");
    std::fs::write(&good, "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['x:1']\n").unwrap();
    let (ok, out, err) = sightline(&["check", "config", good.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("SUCCESS"));

    let bad = tmp.path().join("bad.yml");
    std::fs::write(&bad, "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    scrape_interval: 5x\n").unwrap();
    let (ok, _, err) = sightline(&["check", "config", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("bad.yml:5:"), "{err}");
    assert!(err.contains("scrape_interval"), "{err}");

    let unknown = tmp.path().join("unknown.yml");
    std::fs::write(&unknown, "global:\n  scrape_intervall: 15s\n").unwrap();
    let (ok, _, err) = sightline(&["check", "config", unknown.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("unknown.yml:2:") && err.contains("scrape_intervall"),
        "{err}"
    );
}

#[test]
fn embedded_default_scrapes_itself_and_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = Server::start(&data, &[]);
    assert_eq!(common::http_get(srv.port, "/-/healthy").unwrap().0, 200);
    let metrics = common::http_get(srv.port, "/metrics").unwrap().1;
    assert!(metrics.contains("prometheus_tsdb_head_series"), "{metrics}");
    assert!(
        metrics.contains("prometheus_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    let st = srv.sigterm_and_wait();
    assert!(st.success(), "exit status {st:?}");
}

#[test]
fn reload_keeps_old_config_on_error_and_reports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let data = tmp.path().join("data");
    let srv = Server::start(&data, &[&format!("--config.file={}", cfg.display())]);
    let (code, _) = common::http_request(srv.port, "POST", "/-/reload", &[], &[]).unwrap();
    assert_eq!(code, 200);
    std::fs::write(
        &cfg,
        "scrape_configs: [ {job_name: a, scrape_interval: nope} ]\n",
    )
    .unwrap();
    let (code, body) = common::http_request(srv.port, "POST", "/-/reload", &[], &[]).unwrap();
    assert_eq!(code, 500);
    assert!(body.contains("scrape_interval"), "{body}");
    let metrics = common::http_get(srv.port, "/metrics").unwrap().1;
    assert!(
        metrics.contains("prometheus_config_last_reload_successful 0"),
        "{metrics}"
    );
    // Still serving.
    assert_eq!(common::http_get(srv.port, "/-/ready").unwrap().0, 200);
}

#[test]
fn basic_auth_guards_everything_but_health() {
    let tmp = tempfile::tempdir().unwrap();
    let web = tmp.path().join("web.yml");
    // Cost 4 keeps the test fast; the server accepts any bcrypt cost.
    let hashed = bcrypt_hash("s3cret");
    std::fs::write(&web, format!("basic_auth_users:\n  alice: '{hashed}'\n")).unwrap();
    let data = tmp.path().join("data");
    let srv = Server::start(&data, &[&format!("--web.config.file={}", web.display())]);
    assert_eq!(common::http_get(srv.port, "/metrics").unwrap().0, 401);
    assert_eq!(common::http_get(srv.port, "/-/healthy").unwrap().0, 200);
    // alice:s3cret
    let (code, _) = common::http_request(
        srv.port,
        "GET",
        "/metrics",
        &[("Authorization", "Basic YWxpY2U6czNjcmV0")],
        &[],
    )
    .unwrap();
    assert_eq!(code, 200);
    let (code, _) = common::http_request(
        srv.port,
        "GET",
        "/metrics",
        &[("Authorization", "Basic YWxpY2U6d3Jvbmc=")],
        &[],
    )
    .unwrap();
    assert_eq!(code, 401);
}

fn bcrypt_hash(p: &str) -> String {
    bcrypt::hash(p, 4).unwrap()
}

#[tokio::test]
async fn tls_listener_serves_https() {
    let tmp = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = tmp.path().join("cert.pem");
    let key_path = tmp.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let web = tmp.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            cert_path.display(),
            key_path.display()
        ),
    )
    .unwrap();
    let data = tmp.path().join("data");
    let srv = Server::start_scheme(
        &data,
        &[&format!("--web.config.file={}", web.display())],
        "https",
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/-/healthy", srv.port);
    let mut last = None;
    for _ in 0..100 {
        match client.get(&url).send().await {
            Ok(r) => {
                last = Some(r.status().as_u16());
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    assert_eq!(last, Some(200));
    // Plain HTTP to the TLS port gets no HTTP answer.
    assert!(
        common::http_get(srv.port, "/-/healthy")
            .map(|(c, _)| c != 200)
            .unwrap_or(true)
    );
}
