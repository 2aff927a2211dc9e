//! The built-in Alertmanager through the binary: config check, routing
//! test command, API v2 on the main port, reload, state across restart.

use crate::common;

use std::process::Command;

use common::*;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sightline"))
}

const CFG: &str = "route:\n  receiver: a\n  group_wait: 1h\n  routes:\n    - matchers: ['severity=\"critical\"']\n      receiver: b\nreceivers: [{name: a}, {name: b}]\n";

#[test]
fn check_and_routes_test_commands() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("am.yml");
    std::fs::write(&good, CFG).unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "route:\n  receiver: nope\nreceivers: [{name: a}]\n").unwrap();
    let out = bin()
        .args(["check", "alertmanager-config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = bin()
        .args(["check", "alertmanager-config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yml:2: route.receiver: undefined receiver \"nope\" used in route"),
        "{err}"
    );
    let out = bin()
        .args(["alertmanager", "routes", "test", "--config.file"])
        .arg(&good)
        .arg("severity=critical")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "b");
    let out = bin()
        .args([
            "alertmanager",
            "routes",
            "test",
            "--verify.receivers=b",
            "--config.file",
        ])
        .arg(&good)
        .arg("severity=info")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn api_reload_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("am.yml");
    std::fs::write(&cfg, CFG).unwrap();
    let data = dir.path().join("data");
    let flag = format!("--alertmanager.config.file={}", cfg.display());
    let s = Server::start(&data, &[&flag]);
    let (code, _) = http_request(
        s.port,
        "POST",
        "/api/v2/alerts",
        &[("Content-Type", "application/json")],
        br#"[{"labels":{"alertname":"E2E","severity":"critical"}}]"#,
    )
    .unwrap();
    assert_eq!(code, 200);
    let (_, body) = http_get(s.port, "/api/v2/alerts").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["receivers"][0]["name"], "b", "{body}");
    let sil = br#"{"matchers":[{"name":"alertname","value":"E2E","isRegex":false}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"t","comment":"c"}"#;
    let (code, body) = http_request(
        s.port,
        "POST",
        "/api/v2/silences",
        &[("Content-Type", "application/json")],
        sil,
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["silenceID"]
        .as_str()
        .unwrap()
        .to_string();

    // An invalid config is refused and the running one kept.
    std::fs::write(&cfg, "route: {receiver: missing}\nreceivers: [{name: a}]\n").unwrap();
    let (code, _) = http_request(s.port, "POST", "/-/reload", &[], b"").unwrap();
    assert_eq!(code, 500);
    std::fs::write(
        &cfg,
        CFG.replace("receiver: b", "receiver: c")
            .replace("{name: b}", "{name: c}"),
    )
    .unwrap();
    let (code, _) = http_request(s.port, "POST", "/-/reload", &[], b"").unwrap();
    assert_eq!(code, 200);
    let (_, body) = http_get(s.port, "/api/v2/receivers").unwrap();
    assert!(body.contains("\"c\"") && !body.contains("\"b\""), "{body}");

    // kill -9: the silence was written before it was acknowledged.
    s.kill9();
    let s = Server::start(&data, &[&flag]);
    let (code, body) = http_get(s.port, &format!("/api/v2/silence/{id}")).unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"active\""));
    let (_, body) = http_get(s.port, "/api/v2/history?kind=alert").unwrap();
    assert!(body.contains("E2E"), "{body}");
}

#[test]
fn runs_without_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);
    let (code, body) = http_get(s.port, "/api/v2/status").unwrap();
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["versionInfo"]["version"], "0.25.0");
    assert!(
        v["config"]["original"]
            .as_str()
            .unwrap()
            .contains("receiver: default")
    );
}
