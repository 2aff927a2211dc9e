//! `oauth2:` client credentials on a scrape job: the token is fetched from a
//! local token endpoint (credentials in a basic-auth header, scopes and
//! endpoint params in the form), sent as a bearer token, and reused while
//! valid; a target behind a refusing token endpoint goes down with the error.

use crate::common;

use std::sync::Arc;

use common::{MemStore, eventually};
use parking_lot::Mutex;
use sightline_scrape::{Health, ScrapeManager};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A one-request-per-connection HTTP server answering through `handler`
/// (request head + body → status, body); every request is recorded.
async fn server(
    handler: impl Fn(&str, &str) -> (u16, String) + Send + Sync + 'static,
) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler = Arc::new(handler);
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let handler = handler.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut req = Vec::new();
                let head_end = loop {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                    if let Some(p) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&req[..head_end]).to_string();
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                while req.len() < head_end + len {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let body = String::from_utf8_lossy(&req[head_end..]).to_string();
                log.lock().push(format!("{head}{body}"));
                let (status, out) = handler(&head, &body);
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{out}",
                    out.len()
                );
                let _ = tcp.write_all(resp.as_bytes()).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    (port, seen)
}

#[tokio::test]
async fn oauth2_client_credentials_token_is_fetched_sent_and_reused() {
    // Basic auth of url-escaped "my id" : "s3cr&t".
    let want_basic = "authorization: Basic bXkraWQ6czNjciUyNnQ=";
    let (token_port, token_log) = server(move |head, _| {
        if head.lines().any(|l| l == want_basic) {
            (
                200,
                r#"{"access_token":"tok-1","token_type":"bearer","expires_in":3600}"#.into(),
            )
        } else {
            (401, r#"{"error":"invalid_client"}"#.into())
        }
    })
    .await;
    let (refusing_port, _) = server(|_, _| (500, "no".into())).await;
    let (target_port, target_log) = server(|head, _| {
        if head.lines().any(|l| l == "authorization: Bearer tok-1") {
            (200, "secured_metric 1\n".into())
        } else {
            (401, "unauthorized".into())
        }
    })
    .await;
    let job = |name: &str, token_port: u16| {
        format!(
            "  - job_name: {name}\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    oauth2:\n      client_id: my id\n      client_secret: s3cr&t\n      token_url: http://127.0.0.1:{token_port}/token\n      scopes: [read, metrics]\n      endpoint_params: {{audience: sightline}}\n    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
        )
    };
    let yaml = format!(
        "scrape_configs:\n{}{}",
        job("ok", token_port),
        job("refused", refusing_port)
    );
    let cfg = sightline_config::load_str(&yaml, "t.yml").unwrap();
    let store = MemStore::new();
    let m = ScrapeManager::new(store.clone());
    m.apply(&cfg);
    eventually("the secured target scraped three times", || {
        target_log
            .lock()
            .iter()
            .filter(|r| r.contains("Bearer tok-1"))
            .count()
            >= 3
    })
    .await;
    let targets = m.targets();
    let ok = targets.iter().find(|t| t.job == "ok").unwrap();
    assert_eq!(ok.health.health, Health::Up, "{}", ok.health.last_error);
    assert_eq!(store.values("secured_metric", &[])[0], 1.0);
    // One token for many scrapes while it is valid.
    let tokens = token_log.lock().clone();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let req = &tokens[0];
    assert!(req.starts_with("POST /token "), "{req}");
    assert!(
        req.to_ascii_lowercase()
            .contains("content-type: application/x-www-form-urlencoded"),
        "{req}"
    );
    let form = req.rsplit("\r\n\r\n").next().unwrap();
    let mut pairs: Vec<String> = form.split('&').map(String::from).collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            "audience=sightline",
            "grant_type=client_credentials",
            "scope=read+metrics"
        ],
        "{form}"
    );
    eventually("the job with a failing token endpoint is down", || {
        m.targets()
            .iter()
            .any(|t| t.job == "refused" && t.health.health == Health::Down)
    })
    .await;
    let refused = m
        .targets()
        .into_iter()
        .find(|t| t.job == "refused")
        .unwrap();
    assert!(
        refused.health.last_error.contains("oauth2"),
        "{}",
        refused.health.last_error
    );
}
