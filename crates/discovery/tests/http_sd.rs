//! `http_sd_configs` against a local endpoint: groups with `__meta_url`,
//! removed groups cleared, failed refreshes (bad status, wrong content type)
//! keeping the last targets, and Prometheus's request headers.

use std::sync::Arc;
use std::time::Duration;

use sightline_discovery::{Discovery, DiscoveryOptions, TargetGroup};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

/// Serves whatever `(status, content type, body)` is current; records request heads.
async fn endpoint(state: Arc<Mutex<(u16, String, String)>>, heads: Arc<Mutex<Vec<String>>>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let (state, heads) = (state.clone(), heads.clone());
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut req = Vec::new();
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                heads
                    .lock()
                    .await
                    .push(String::from_utf8_lossy(&req).to_string());
                let (status, ct, body) = state.lock().await.clone();
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(resp.as_bytes()).await;
            });
        }
    });
    port
}

fn summary(groups: &[TargetGroup]) -> Vec<String> {
    let mut out: Vec<String> = groups
        .iter()
        .flat_map(|g| {
            g.targets.iter().map(move |t| {
                format!(
                    "{} env={} url={}",
                    t["__address__"],
                    g.labels.get("env").map_or("", String::as_str),
                    g.labels.get("__meta_url").map_or("", String::as_str)
                )
            })
        })
        .collect();
    out.sort();
    out
}

async fn wait_for(rx: &mut tokio::sync::watch::Receiver<Arc<Vec<TargetGroup>>>, want: &[String]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let have = summary(&rx.borrow());
        if have == want {
            return;
        }
        assert!(
            tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_ok(),
            "have {have:?}, want {want:?}"
        );
    }
}

#[tokio::test]
async fn http_sd_groups_updates_and_failures() {
    let state = Arc::new(Mutex::new((
        200,
        "application/json".to_string(),
        r#"[{"targets":["a:1","b:2"],"labels":{"env":"prod"}},{"targets":["c:3"]}]"#.to_string(),
    )));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let port = endpoint(state.clone(), heads.clone()).await;
    let url = format!("http://127.0.0.1:{port}/sd");
    let cfg = sightline_config::load_str(
        &format!(
            "scrape_configs:\n  - job_name: h\n    http_sd_configs: [{{url: '{url}', refresh_interval: 200ms}}]\n"
        ),
        "t.yml",
    )
    .unwrap();
    let sc = &cfg.scrape_configs[0];
    let opts = DiscoveryOptions {
        throttle: Duration::from_millis(10),
        ..DiscoveryOptions::default()
    };
    let d = Discovery::start_with_http(&[], &[], &[], &sc.http_sd_configs, &opts);
    let mut rx = d.subscribe();
    let t = |a: &str, env: &str| format!("{a} env={env} url={url}");
    wait_for(&mut rx, &[t("a:1", "prod"), t("b:2", "prod"), t("c:3", "")]).await;
    {
        let h = heads.lock().await;
        let first = h[0].to_ascii_lowercase();
        assert!(first.starts_with("get /sd "), "{first}");
        assert!(first.contains("accept: application/json"), "{first}");
        assert!(
            first.contains("x-prometheus-refresh-interval-seconds: 0.2"),
            "{first}"
        );
    }
    // The second group disappears: it is cleared.
    state.lock().await.2 = r#"[{"targets":["a:1"],"labels":{"env":"dev"}}]"#.into();
    wait_for(&mut rx, &[t("a:1", "dev")]).await;
    // Failures keep the last targets.
    let seen = heads.lock().await.len();
    *state.lock().await = (500, "application/json".into(), "[]".into());
    tokio::time::sleep(Duration::from_millis(700)).await;
    *state.lock().await = (200, "text/plain".into(), "[]".into());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(heads.lock().await.len() >= seen + 2, "refreshes continued");
    assert_eq!(summary(&rx.borrow()), [t("a:1", "dev")]);
    // Recovery.
    *state.lock().await = (
        200,
        "application/json; charset=utf-8".into(),
        r#"[{"targets":["d:4"]}]"#.into(),
    );
    wait_for(&mut rx, &[t("d:4", "")]).await;
}
