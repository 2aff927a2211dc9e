//! `tls_config` per scrape job: CA file, `server_name`, `insecure_skip_verify`,
//! against a local HTTPS exposition with a self-signed certificate.

use crate::common;

use std::sync::Arc;

use common::{MemStore, eventually, install_crypto};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sightline_scrape::{Health, ScrapeManager};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `tls_metric 1` over HTTPS with a certificate for `localhost`.
async fn https_server(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> u16 {
    let certs = vec![CertificateDer::from(cert.cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "tls_metric 1\n";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn tls_config_ca_server_name_and_insecure() {
    install_crypto();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let port = https_server(&cert).await;
    let ca = ca.display();
    let job = |name: &str, addr: &str, tls: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    tls_config:\n{tls}    static_configs: [{{targets: ['{addr}']}}]\n"
        )
    };
    let yaml = format!(
        "scrape_configs:\n{}{}{}{}",
        job(
            "ca",
            &format!("localhost:{port}"),
            &format!("      ca_file: {ca}\n")
        ),
        // No CA: the self-signed certificate is not trusted by the system roots.
        job(
            "untrusted",
            &format!("localhost:{port}"),
            "      min_version: TLS12\n"
        ),
        job(
            "by_name",
            &format!("127.0.0.1:{port}"),
            &format!("      ca_file: {ca}\n      server_name: localhost\n")
        ),
        job(
            "insecure",
            &format!("127.0.0.1:{port}"),
            "      insecure_skip_verify: true\n"
        ),
    );
    let cfg = sightline_config::load_str(&yaml, "t.yml").unwrap();
    let store = MemStore::new();
    let m = ScrapeManager::new(store.clone());
    m.apply(&cfg);
    eventually("all scraped once", || {
        m.targets().len() == 4
            && m.targets()
                .iter()
                .all(|t| t.health.health != Health::Unknown)
    })
    .await;
    for t in m.targets() {
        let want = if t.job == "untrusted" {
            Health::Down
        } else {
            Health::Up
        };
        assert_eq!(t.health.health, want, "{}: {}", t.job, t.health.last_error);
    }
    let untrusted = m
        .targets()
        .into_iter()
        .find(|t| t.job == "untrusted")
        .unwrap();
    assert!(
        untrusted
            .health
            .last_error
            .to_lowercase()
            .contains("certificate"),
        "{}",
        untrusted.health.last_error
    );
    assert_eq!(
        store.values("tls_metric", &[("job", "insecure")]).first(),
        Some(&1.0)
    );
    m.stop().await;
}
