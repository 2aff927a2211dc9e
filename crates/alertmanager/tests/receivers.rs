//! Integrations against local sinks: webhook payload, Slack attachment,
//! PagerDuty Events v1/v2, OpsGenie, MS Teams, email over SMTP; retries.

use crate::common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn alert(name: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut labels = json!({"alertname": name, "service": "api", "severity": "critical"});
    for (k, v) in extra.as_object().unwrap() {
        labels[k] = v.clone();
    }
    json!({"labels": labels, "annotations": {"summary": "it broke"}, "generatorURL": "http://prom/graph"})
}

#[tokio::test]
async fn webhook_payload_v4() {
    let sink = Sink::start(0).await;
    let cfg = format!(
        "route:\n  receiver: team.a\n  group_by: [alertname]\n  group_wait: 0s\nreceivers:\n  - name: team.a\n    webhook_configs: [{{url: '{}/hook', max_alerts: 1}}]\n",
        sink.url
    );
    let s = serve(&cfg, None).await;
    assert_eq!(
        post_alerts(
            &s.url,
            json!([
                alert("W", json!({"instance": "b"})),
                alert("W", json!({"instance": "a"}))
            ])
        )
        .await,
        200
    );
    let got = sink.wait(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let p = &got[0].body;
    assert_eq!(got[0].path, "/hook");
    assert_eq!(p["version"], "4");
    assert_eq!(p["receiver"], "team\\.a");
    assert_eq!(p["status"], "firing");
    assert_eq!(p["groupKey"], r#"{}:{alertname="W"}"#);
    assert_eq!(p["groupLabels"], json!({"alertname": "W"}));
    assert_eq!(
        p["commonLabels"],
        json!({"alertname": "W", "service": "api", "severity": "critical"})
    );
    assert_eq!(p["truncatedAlerts"], 1);
    assert_eq!(p["externalURL"], s.url);
    let a = &p["alerts"][0];
    assert_eq!(a["labels"]["instance"], "a", "sorted by instance");
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16);
    assert_eq!(a["generatorURL"], "http://prom/graph");
}

#[tokio::test]
async fn slack_default_message() {
    let sink = Sink::start(0).await;
    let cfg = format!(
        "global:\n  slack_api_url: '{}/slack'\nroute:\n  receiver: default-slack\n  group_by: [alertname, service]\n  group_wait: 0s\nreceivers:\n  - name: default-slack\n    slack_configs: [{{channel: '#ops-alerts', send_resolved: true}}]\n",
        sink.url
    );
    let s = serve(&cfg, None).await;
    post_alerts(
        &s.url,
        json!([alert("HighErrorRate", json!({"env": "prod"}))]),
    )
    .await;
    let got = sink.wait(1, Duration::from_secs(10)).await;
    let b = &got[0].body;
    assert_eq!(b["channel"], "#ops-alerts");
    assert_eq!(b["username"], "Alertmanager");
    let att = &b["attachments"][0];
    assert_eq!(att["title"], "[FIRING:1] HighErrorRate api (prod critical)");
    assert_eq!(
        att["title_link"],
        format!("{}/#/alerts?receiver=default-slack", s.url)
    );
    assert_eq!(att["color"], "danger");
    assert_eq!(
        att["fallback"],
        format!(
            "[FIRING:1] HighErrorRate api (prod critical) | {}/#/alerts?receiver=default-slack",
            s.url
        )
    );
    assert_eq!(att["mrkdwn_in"], json!(["fallback", "pretext", "text"]));
    assert_eq!(att["text"], "");
    assert!(att.get("pretext").is_none() && att.get("footer").is_none());
}

#[tokio::test]
async fn pagerduty_v1_and_v2() {
    let sink = Sink::start(0).await;
    let cfg = format!(
        "route:\n  receiver: pd\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\nreceivers:\n  - name: pd\n    pagerduty_configs:\n      - routing_key: rk\n        url: '{0}/v2'\n      - service_key: sk\n        url: '{0}/v1'\n",
        sink.url
    );
    let s = serve(&cfg, None).await;
    post_alerts(&s.url, json!([alert("PD", json!({}))])).await;
    let got = sink.wait(2, Duration::from_secs(10)).await;
    let v2 = &got.iter().find(|r| r.path == "/v2").unwrap().body;
    let v1 = &got.iter().find(|r| r.path == "/v1").unwrap().body;
    let gk = r#"{}:{alertname="PD"}"#;
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(gk.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v2["routing_key"], "rk");
    assert_eq!(v2["event_action"], "trigger");
    assert_eq!(v2["dedup_key"], hash);
    assert_eq!(v2["payload"]["summary"], "[FIRING:1] PD (api critical)");
    assert_eq!(v2["payload"]["severity"], "error");
    assert_eq!(v2["payload"]["source"], "Alertmanager");
    assert_eq!(v2["client"], "Alertmanager");
    assert_eq!(v2["payload"]["custom_details"]["num_firing"], "1");
    assert!(
        v2["payload"]["custom_details"]["firing"]
            .as_str()
            .unwrap()
            .starts_with("Labels:\n - alertname = PD\n")
    );
    assert_eq!(v1["service_key"], "sk");
    assert_eq!(v1["event_type"], "trigger");
    assert_eq!(v1["incident_key"], hash);
    assert_eq!(v1["description"], "[FIRING:1] PD (api critical)");
    assert_eq!(v1["details"]["num_resolved"], "0");
    // Resolving sends resolve events (send_resolved defaults to true).
    let mut resolved = alert("PD", json!({}));
    resolved["endsAt"] = json!("2000-01-01T00:00:00Z");
    resolved["startsAt"] = json!("1999-01-01T00:00:00Z");
    post_alerts(&s.url, json!([resolved])).await;
    let got = sink.wait(4, Duration::from_secs(10)).await;
    assert!(
        got.iter()
            .any(|r| r.path == "/v2" && r.body["event_action"] == "resolve"),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|r| r.path == "/v1" && r.body["event_type"] == "resolve")
    );
}

#[tokio::test]
async fn opsgenie_and_msteams() {
    let sink = Sink::start(0).await;
    let cfg = format!(
        "route:\n  receiver: r\n  group_wait: 0s\nreceivers:\n  - name: r\n    opsgenie_configs: [{{api_key: k, api_url: '{0}/og/', tags: 'a, b', responders: [{{name: 'x,y', type: teams}}]}}]\n    msteams_configs: [{{webhook_url: '{0}/teams'}}]\n",
        sink.url
    );
    let s = serve(&cfg, None).await;
    post_alerts(&s.url, json!([alert("OG", json!({}))])).await;
    let got = sink.wait(2, Duration::from_secs(10)).await;
    let og = got
        .iter()
        .find(|r| r.path == "/og/v2/alerts")
        .expect("opsgenie create");
    assert_eq!(og.header("authorization"), Some("GenieKey k"));
    assert_eq!(og.body["message"], "[FIRING:1]  (OG api critical)");
    assert_eq!(og.body["tags"], json!(["a", "b"]));
    assert_eq!(
        og.body["responders"],
        json!([{"type": "team", "name": "x"}, {"type": "team", "name": "y"}])
    );
    assert_eq!(og.body["details"]["service"], "api");
    let teams = got.iter().find(|r| r.path == "/teams").expect("teams card");
    assert_eq!(teams.body["@type"], "MessageCard");
    assert_eq!(teams.body["themeColor"], "8C1A1A");
    assert!(
        teams.body["text"]
            .as_str()
            .unwrap()
            .contains("Alerts Firing")
    );
}

#[tokio::test]
async fn retries_do_not_block_other_receivers() {
    let failing = Sink::start(2).await;
    let ok = Sink::start(0).await;
    let cfg = format!(
        "route:\n  receiver: a\n  group_wait: 0s\n  group_interval: 30s\nreceivers:\n  - name: a\n    webhook_configs: [{{url: '{}/flaky'}}, {{url: '{}/fine'}}]\n",
        failing.url, ok.url
    );
    let s = serve(&cfg, None).await;
    post_alerts(&s.url, json!([alert("R", json!({}))])).await;
    // The healthy integration delivers while the other is still backing
    // off (its success needs two retries, at least ~0.6 s).
    let fine = ok.wait(1, Duration::from_secs(10)).await;
    assert_eq!(fine.len(), 1);
    assert!(
        failing.snapshot().is_empty(),
        "the healthy webhook waited for the failing one"
    );
    let flaky = failing.wait(1, Duration::from_secs(15)).await;
    assert_eq!(flaky.len(), 1, "delivered after two 500s");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let hist = get_json(&format!("{}/api/v2/history?kind=notification", s.url)).await;
    let flaky_ev = hist
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["integration"] == "webhook[0]")
        .unwrap();
    assert_eq!(flaky_ev["state"], "sent");
    assert_eq!(flaky_ev["attempts"], 3);
}

#[tokio::test]
async fn email_over_smtp() {
    let smtp = SmtpSink::start(true).await;
    let cfg = format!(
        "global:\n  smtp_smarthost: '{}'\n  smtp_from: 'am@example.org'\n  smtp_require_tls: false\n  smtp_auth_username: user\n  smtp_auth_password: pass\nroute:\n  receiver: mail\n  group_wait: 0s\nreceivers:\n  - name: mail\n    email_configs: [{{to: 'ops@example.org, dev@example.org'}}]\n",
        smtp.addr.replace("127.0.0.1", "localhost")
    );
    let s = serve(&cfg, None).await;
    post_alerts(&s.url, json!([alert("Mail", json!({}))])).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while smtp.mails.lock().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mails = smtp.mails.lock().clone();
    assert_eq!(mails.len(), 1);
    let (cmds, data) = &mails[0];
    assert!(
        cmds.iter().any(|c| c == "MAIL FROM:<am@example.org>"),
        "{cmds:?}"
    );
    assert!(
        cmds.iter().any(|c| c == "RCPT TO:<ops@example.org>")
            && cmds.iter().any(|c| c == "RCPT TO:<dev@example.org>")
    );
    use base64::Engine;
    let plain = base64::engine::general_purpose::STANDARD.encode("\0user\0pass");
    assert!(
        cmds.iter().any(|c| *c == format!("AUTH PLAIN {plain}")),
        "{cmds:?}"
    );
    assert!(
        data.contains("Subject: [FIRING:1]  (Mail api critical)"),
        "{data}"
    );
    assert!(data.contains("To: ops@example.org, dev@example.org"));
    assert!(data.contains("Content-Type: text/html; charset=UTF-8"));
}

#[tokio::test]
async fn silences_mute_intervals_and_send_resolved_false() {
    let sink = Sink::start(0).await;
    // `never` lies in the past: an active interval that never matches mutes its route.
    let cfg = format!(
        "time_intervals:\n  - name: never\n    time_intervals: [{{years: ['2001']}}]\nroute:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  routes:\n    - matchers: ['team=\"night\"']\n      receiver: hook\n      active_time_intervals: [never]\nreceivers:\n  - name: hook\n    webhook_configs: [{{url: '{}/hook', send_resolved: false}}]\n",
        sink.url
    );
    let s = serve(&cfg, None).await;
    let body = json!({"matchers": [{"name": "alertname", "value": "Silenced", "isRegex": false, "isEqual": true}], "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z", "createdBy": "t", "comment": "c"});
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v2/silences", s.url))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    post_alerts(
        &s.url,
        json!([
            alert("Silenced", json!({})),
            alert("Night", json!({"team": "night"})),
            alert("Loud", json!({}))
        ]),
    )
    .await;
    sink.wait(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got: Vec<_> = sink
        .snapshot()
        .iter()
        .map(|r| {
            r.body["groupLabels"]["alertname"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(got, ["Loud"], "silenced and muted alerts are not sent");
    // Resolving with send_resolved: false sends nothing more.
    let mut resolved = alert("Loud", json!({}));
    resolved["startsAt"] = json!("2000-01-01T00:00:00Z");
    resolved["endsAt"] = json!("2000-01-01T00:00:01Z");
    post_alerts(&s.url, json!([resolved])).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(sink.snapshot().len(), 1);
    let hist = get_json(&format!(
        "{}/api/v2/history?kind=alert&filter=alertname%3D%22Silenced%22",
        s.url
    ))
    .await;
    assert_eq!(hist[0]["state"], "suppressed", "{hist}");
    assert!(
        hist[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("silenced by ")
    );
}
