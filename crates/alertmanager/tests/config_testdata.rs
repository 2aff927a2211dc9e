//! The upstream config testdata files load or fail as upstream's tests say.

use std::path::PathBuf;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/alertmanager")
}

#[test]
fn config_testdata_matches_expectations() {
    let exp: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shared().join("config-testdata-expectations.json")).unwrap(),
    )
    .unwrap();
    let files = exp["files"].as_object().unwrap();
    let (mut ok, mut failed, mut wrong) = (0, 0, Vec::new());
    for (name, e) in files {
        let path = shared().join("config-testdata").join(name);
        let res = sightline_alertmanager::config::load_file(&path);
        let want_ok = e["expect"] == "ok";
        match (&res, want_ok) {
            (Ok(_), true) => ok += 1,
            (Err(err), false) => {
                failed += 1;
                // The message should carry upstream's wording (Go type names aside).
                let want = e["error"]
                    .as_str()
                    .or(e["error_contains"].as_str())
                    .unwrap_or("");
                let key = want.lines().last().unwrap_or("").trim();
                let key = key.rsplit_once(" in type ").map(|(a, _)| a).unwrap_or(key);
                // Go's "field X not found in type T" is serde's "unknown field `X`".
                let key = match key.split_once(": field ") {
                    Some((_, f)) => {
                        format!("unknown field `{}`", f.split(' ').next().unwrap_or(""))
                    }
                    None => key.to_string(),
                };
                if !err.to_string().contains(&key) {
                    wrong.push(format!("{name}: got {err}, want {want}"));
                }
            }
            (Ok(_), false) => wrong.push(format!("{name}: loaded, want error {:?}", e["error"])),
            (Err(err), true) => wrong.push(format!("{name}: {err}")),
        }
    }
    println!(
        "config-testdata: {} files, {ok} load as expected, {failed} fail as expected, {} mismatches",
        files.len(),
        wrong.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(ok + failed, files.len());
}

#[test]
fn errors_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("am.yml");
    std::fs::write(&p, "route:\n  receiver: a\n  routes:\n    - receiver: b\n      group_wait: 10x\nreceivers:\n  - name: a\n").unwrap();
    let e = sightline_alertmanager::config::load_file(&p)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("{}:5: route.routes[0].group_wait", p.display())),
        "{e}"
    );
    std::fs::write(
        &p,
        "route:\n  receiver: a\n  routes:\n    - receiver: b\nreceivers:\n  - name: a\n",
    )
    .unwrap();
    let e = sightline_alertmanager::config::load_file(&p)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "{}:4: route.routes[0].receiver: undefined receiver \"b\" used in route",
            p.display()
        )
    );
    std::fs::write(&p, "route:\n  receiver: a\nreceivers:\n  - name: a\n    webhook_configs:\n      - url: http://x\n        sendresolved: true\n").unwrap();
    let e = sightline_alertmanager::config::load_file(&p)
        .unwrap_err()
        .to_string();
    assert!(e.contains(":7:") && e.contains("sendresolved"), "{e}");
}

#[test]
fn defaults_and_global_inheritance() {
    let cfg = sightline_alertmanager::config::load_str(
        "global:\n  slack_api_url: http://slack\n  smtp_smarthost: localhost:25\n  smtp_from: am@x\nroute:\n  receiver: a\nreceivers:\n  - name: a\n    slack_configs: [{channel: '#x'}]\n    webhook_configs: [{url: http://w}]\n    pagerduty_configs: [{service_key: k}]\n    email_configs: [{to: a@b}]\n",
        "t.yml",
    )
    .unwrap();
    let r = &cfg.receivers[0];
    assert!(
        !r.slack_configs[0].send_resolved
            && r.webhook_configs[0].send_resolved
            && r.pagerduty_configs[0].send_resolved
            && !r.email_configs[0].send_resolved
    );
    assert_eq!(
        r.slack_configs[0].api_url.as_ref().unwrap().expose(),
        "http://slack"
    );
    assert_eq!(
        r.email_configs[0].smarthost.as_deref(),
        Some("localhost:25")
    );
    assert_eq!(cfg.global.resolve_timeout.as_millis(), 300_000);
    // The re-serialised config hides secrets and parses back.
    let y = cfg.to_yaml();
    assert!(y.contains("<secret>") && !y.contains("http://slack"), "{y}");
    sightline_alertmanager::config::load_str(&y, "back.yml").unwrap();
}
