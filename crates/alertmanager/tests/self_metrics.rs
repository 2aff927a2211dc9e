//! The Alertmanager's own metrics under upstream names: received and
//! invalid alerts, notifications and requests per integration (failures by
//! reason), alerts and silences by state, config reload state.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use serde_json::json;

/// The value of the sample written exactly as `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(series)?.strip_prefix(' ')?;
        Some(match v {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap(),
        })
    })
}

/// Text-format structure: one `# HELP`/`# TYPE` per family, every sample
/// under its own family's header (histograms: `_bucket`, `_sum`, `_count`).
#[track_caller]
fn assert_well_formed(text: &str) {
    let mut seen = std::collections::HashSet::new();
    let mut family: Option<(String, String)> = None;
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(seen.insert(name.to_string()), "{name} typed twice");
            family = Some((name.to_string(), kind.to_string()));
            continue;
        }
        if l.starts_with("# HELP ") {
            continue;
        }
        let (name, kind) = family.as_ref().expect("sample before any # TYPE");
        let sample_name = l.split(['{', ' ']).next().unwrap();
        let ok = match kind.as_str() {
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| sample_name == format!("{name}{s}")),
            _ => sample_name == name,
        };
        assert!(ok, "{l:?} under family {name} ({kind})");
        let v = l.rsplit(' ').next().unwrap();
        assert!(v == "+Inf" || v.parse::<f64>().is_ok(), "{l:?}");
    }
}

#[track_caller]
fn assert_sample(text: &str, series: &str, want: f64) {
    assert_eq!(sample(text, series), Some(want), "{series} in\n{text}");
}

/// Polls the exposition until `series` has `want` (bounded).
async fn wait_for(am: &sightline_alertmanager::Alertmanager, series: &str, want: f64) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = am.expose_metrics_text();
        if sample(&text, series) == Some(want) || tokio::time::Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An HTTP endpoint answering every request with 400; counts requests.
async fn rejecting_sink() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let h = h.clone();
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            (axum::http::StatusCode::BAD_REQUEST, "bad payload")
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, hits)
}

fn upstream_config_hash(text: &str) -> f64 {
    use md5::Digest;
    let sum = md5::Md5::digest(text.as_bytes());
    let mut b = [0u8; 8];
    b[..6].copy_from_slice(&sum[..6]);
    u64::from_le_bytes(b) as f64
}

async fn post_silence(url: &str, body: serde_json::Value) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{url}/api/v2/silences"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    v["silenceID"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn self_metrics_count_alerts_notifications_silences_and_reloads() {
    // `ok` fails its first request with 500 and then accepts; `bad` rejects
    // every request with 400 (a permanent, client error).
    let ok = Sink::start(1).await;
    let (bad_url, bad_hits) = rejecting_sink().await;
    let cfg = format!(
        "route:\n  receiver: ok\n  group_by: [alertname]\n  group_wait: 0s\n  routes:\n    - matchers: ['team=\"bad\"']\n      receiver: bad\nreceivers:\n  - name: ok\n    webhook_configs: [{{url: '{}/hook'}}]\n  - name: bad\n    webhook_configs: [{{url: '{bad_url}/hook'}}]\n",
        ok.url
    );
    let s = serve(&cfg, None).await;

    // Before anything happens: every upstream integration is there with 0,
    // and the start counts as a successful load of this config.
    let text = s.am.expose_metrics_text();
    for integ in [
        "webhook",
        "slack",
        "pagerduty",
        "email",
        "opsgenie",
        "msteams",
    ] {
        assert_sample(
            &text,
            &format!("alertmanager_notifications_total{{integration=\"{integ}\"}}"),
            0.0,
        );
        for reason in [
            "other",
            "clientError",
            "serverError",
            "contextCanceled",
            "contextDeadlineExceeded",
        ] {
            assert_sample(
                &text,
                &format!(
                    "alertmanager_notifications_failed_total{{integration=\"{integ}\",reason=\"{reason}\"}}"
                ),
                0.0,
            );
        }
    }
    assert_sample(&text, "alertmanager_config_last_reload_successful", 1.0);
    assert_sample(
        &text,
        "alertmanager_config_hash",
        upstream_config_hash(&cfg),
    );
    let loaded_at = sample(
        &text,
        "alertmanager_config_last_reload_success_timestamp_seconds",
    )
    .unwrap();
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((wall - loaded_at).abs() < 60.0, "{loaded_at} vs {wall}");

    // Two firing alerts and one resolved one over HTTP; one invalid alert
    // (ends before it starts, counted as received and resolved first); one
    // resolved alert through the in-process path Prometheus' rules use.
    assert_eq!(
        post_alerts(
            &s.url,
            json!([
                {"labels": {"alertname": "A1", "team": "ok"}},
                {"labels": {"alertname": "A2", "team": "bad"}},
                {"labels": {"alertname": "R", "team": "ok"},
                 "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2020-01-01T01:00:00Z"},
            ])
        )
        .await,
        200
    );
    assert_eq!(
        post_alerts(
            &s.url,
            json!([{"labels": {"alertname": "X"},
                    "startsAt": "2020-01-02T00:00:00Z", "endsAt": "2020-01-01T00:00:00Z"}])
        )
        .await,
        400
    );
    let in_process: Vec<sightline_alertmanager::alert::PostableAlert> =
        serde_json::from_value(json!([{"labels": {"alertname": "R2"},
            "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2020-01-01T01:00:00Z"}]))
        .unwrap();
    assert!(s.am.post_alerts(in_process).is_empty());

    // `ok` gets its notification on the second request.
    assert_eq!(ok.wait(1, Duration::from_secs(10)).await.len(), 1);
    let text = wait_for(
        &s.am,
        "alertmanager_notifications_failed_total{integration=\"webhook\",reason=\"clientError\"}",
        1.0,
    )
    .await;
    let text = if sample(
        &text,
        "alertmanager_notification_requests_total{integration=\"webhook\"}",
    ) == Some(3.0)
    {
        text
    } else {
        wait_for(
            &s.am,
            "alertmanager_notification_requests_total{integration=\"webhook\"}",
            3.0,
        )
        .await
    };
    assert_eq!(bad_hits.load(Ordering::SeqCst), 1, "400 is not retried");
    assert_well_formed(&text);

    assert_sample(
        &text,
        "alertmanager_alerts_received_total{status=\"firing\",version=\"v2\"}",
        2.0,
    );
    assert_sample(
        &text,
        "alertmanager_alerts_received_total{status=\"resolved\",version=\"v2\"}",
        3.0,
    );
    assert_sample(
        &text,
        "alertmanager_alerts_invalid_total{version=\"v2\"}",
        1.0,
    );
    // One notification per receiver's webhook; the bad one failed for good.
    assert_sample(
        &text,
        "alertmanager_notifications_total{integration=\"webhook\"}",
        2.0,
    );
    for (reason, want) in [
        ("clientError", 1.0),
        ("serverError", 0.0),
        ("other", 0.0),
        ("contextDeadlineExceeded", 0.0),
    ] {
        assert_sample(
            &text,
            &format!(
                "alertmanager_notifications_failed_total{{integration=\"webhook\",reason=\"{reason}\"}}"
            ),
            want,
        );
    }
    // Requests: ok's 500 and 200, bad's 400.
    assert_sample(
        &text,
        "alertmanager_notification_requests_total{integration=\"webhook\"}",
        3.0,
    );
    assert_sample(
        &text,
        "alertmanager_notification_requests_failed_total{integration=\"webhook\"}",
        2.0,
    );
    assert_sample(
        &text,
        "alertmanager_notification_latency_seconds_count{integration=\"webhook\"}",
        3.0,
    );
    assert_sample(
        &text,
        "alertmanager_notification_latency_seconds_bucket{integration=\"webhook\",le=\"+Inf\"}",
        3.0,
    );
    assert!(
        text.contains("# TYPE alertmanager_notification_latency_seconds histogram\n"),
        "{text}"
    );
    assert_sample(
        &text,
        "alertmanager_notifications_total{integration=\"slack\"}",
        0.0,
    );
    assert!(sample(&text, "alertmanager_nflog_queries_total").unwrap() >= 2.0);
    // Firing alerts by state; resolved ones are not counted.
    assert_sample(&text, "alertmanager_alerts{state=\"active\"}", 2.0);
    assert_sample(&text, "alertmanager_alerts{state=\"suppressed\"}", 0.0);
    assert_sample(&text, "alertmanager_alerts{state=\"unprocessed\"}", 0.0);
    // A1, A2, R and R2 each have their group.
    assert_sample(&text, "alertmanager_dispatcher_aggregation_groups", 4.0);
    assert_sample(&text, "alertmanager_silences{state=\"active\"}", 0.0);

    // Silences: one active (silencing A1), one pending, one expired.
    let silence = |starts: &str, ends: &str, name: &str| {
        json!({"matchers": [{"name": "alertname", "value": name, "isRegex": false, "isEqual": true}],
               "startsAt": starts, "endsAt": ends, "createdBy": "t", "comment": "c"})
    };
    post_silence(
        &s.url,
        silence("2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z", "A1"),
    )
    .await;
    post_silence(
        &s.url,
        silence("2098-01-01T00:00:00Z", "2099-01-01T00:00:00Z", "A2"),
    )
    .await;
    let gone = post_silence(
        &s.url,
        silence("2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z", "Z"),
    )
    .await;
    let resp = reqwest::Client::new()
        .delete(format!("{}/api/v2/silence/{gone}", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = s.am.expose_metrics_text();
    assert_sample(&text, "alertmanager_silences{state=\"active\"}", 1.0);
    assert_sample(&text, "alertmanager_silences{state=\"pending\"}", 1.0);
    assert_sample(&text, "alertmanager_silences{state=\"expired\"}", 1.0);
    assert_sample(&text, "alertmanager_alerts{state=\"active\"}", 1.0);
    assert_sample(&text, "alertmanager_alerts{state=\"suppressed\"}", 1.0);

    // Reloads: a failure before apply_config (unparsable file), then a
    // successful one with another config.
    s.am.record_reload_failure();
    let text = s.am.expose_metrics_text();
    assert_sample(&text, "alertmanager_config_last_reload_successful", 0.0);
    assert_sample(
        &text,
        "alertmanager_config_hash",
        upstream_config_hash(&cfg),
    );
    let cfg2 = format!("{cfg}# changed\n");
    s.am.apply_config(sightline_alertmanager::config::load_str(&cfg2, "t.yml").unwrap())
        .unwrap();
    let text = s.am.expose_metrics_text();
    assert_sample(&text, "alertmanager_config_last_reload_successful", 1.0);
    assert_sample(
        &text,
        "alertmanager_config_hash",
        upstream_config_hash(&cfg2),
    );
    assert_ne!(upstream_config_hash(&cfg), upstream_config_hash(&cfg2));
    // Counters survive the reload.
    assert_sample(
        &text,
        "alertmanager_notifications_total{integration=\"webhook\"}",
        2.0,
    );
}
