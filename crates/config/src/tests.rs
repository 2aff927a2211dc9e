//! Unit tests for loading whole configs.

use super::*;

fn load(yaml: &str) -> Result<Config, ConfigError> {
    load_str(yaml, "prometheus.yml")
}

fn err(yaml: &str) -> String {
    load(yaml)
        .expect_err("config should be rejected")
        .to_string()
}

#[test]
fn empty_config_has_prometheus_defaults() {
    for yaml in ["", "# just a comment\n", "global:\n"] {
        let c = load(yaml).unwrap();
        assert_eq!(c.global.scrape_interval.to_string(), "1m");
        assert_eq!(c.global.scrape_timeout.to_string(), "10s");
        assert_eq!(c.global.evaluation_interval.to_string(), "1m");
        assert_eq!(c.runtime.gogc, 75);
        assert_eq!(
            c.otlp.translation_strategy,
            "UnderscoreEscapingWithSuffixes"
        );
        assert_eq!(c.storage.exemplars.max_exemplars, 100_000);
        assert!(c.sightline.ui.enabled);
        assert_eq!(c.sightline.traces.retention.to_string(), "1w");
    }
}

#[test]
fn job_defaults_inherit_from_global() {
    let c = load(
        "global:\n  scrape_interval: 15s\n  sample_limit: 7\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['h:1']\n  - job_name: b\n    scrape_interval: 5s\n",
    )
    .unwrap();
    let a = &c.scrape_configs[0];
    assert_eq!(a.scrape_interval.to_string(), "15s");
    assert_eq!(a.scrape_timeout.to_string(), "10s");
    assert_eq!(a.metrics_path, "/metrics");
    assert_eq!(a.scheme, "http");
    assert!(!a.honor_labels);
    assert!(a.honor_timestamps);
    assert!(a.enable_compression);
    assert!(a.follow_redirects && a.enable_http2);
    assert_eq!(a.sample_limit, 7);
    assert_eq!(a.scrape_protocols, ScrapeProtocol::defaults());
    assert_eq!(a.static_configs[0].targets, ["h:1"]);
    // The timeout never exceeds the job's own interval.
    assert_eq!(c.scrape_configs[1].scrape_timeout.to_string(), "5s");
}

#[test]
fn timeout_greater_than_interval_is_an_error() {
    let e =
        err("scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 6s\n");
    assert_eq!(
        e,
        r#"prometheus.yml:4: scrape_configs[0].scrape_timeout: scrape timeout greater than scrape interval for scrape config with job name "a""#
    );
    let e = err("global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n");
    assert!(
        e.contains("global scrape timeout greater than scrape interval"),
        "{e}"
    );
}

#[test]
fn bad_duration_names_field_and_line() {
    let e = err(
        "global:\n  evaluation_interval: 1m\nscrape_configs:\n  - job_name: a\n    scrape_interval: 5x\n",
    );
    assert_eq!(
        e,
        r#"prometheus.yml:5: scrape_configs[0].scrape_interval: unknown unit "x" in duration "5x""#
    );
}

#[test]
fn unknown_key_shows_line() {
    let e = err("global:\n  scrape_interval: 15s\n  nonexistent_field: test\n");
    assert!(e.starts_with("prometheus.yml:3: global"), "{e}");
    assert!(e.contains("nonexistent_field"), "{e}");
}

#[test]
fn duplicate_job_is_an_error() {
    let e = err("scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: a\n");
    assert_eq!(
        e,
        r#"prometheus.yml:4: scrape_configs[2].job_name: found multiple scrape configs with job name "a""#
    );
}

#[test]
fn relabel_errors_are_located() {
    let e = err(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [x]\n        action: hashmod\n        target_label: y\n",
    );
    assert_eq!(
        e,
        "prometheus.yml:4: scrape_configs[0].relabel_configs[0]: relabel configuration for hashmod requires non-zero modulus"
    );
    let e = err("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      -\n");
    assert!(e.contains("empty or null target relabeling rule"), "{e}");
}

#[test]
fn secrets_render_as_placeholder() {
    let c = load(
        "scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n      password: hunter2\n  - job_name: b\n    bearer_token: tok3n\n    kubernetes_sd_configs:\n      - role: pod\n        api_server: https://k\n        authorization:\n          credentials: kcred\n    consul_sd_configs:\n      - server: x\n        token: consultok\nremote_write:\n  - url: http://rw\n    oauth2:\n      client_id: id\n      client_secret: oauthsecret\n      token_url: http://t\n",
    )
    .unwrap();
    // Legacy bearer_token was normalized into `authorization`.
    let b = &c.scrape_configs[1];
    assert_eq!(b.authorization.as_ref().unwrap().auth_type, "Bearer");
    assert_eq!(
        b.authorization.as_ref().unwrap().credentials.expose(),
        "tok3n"
    );
    let yaml = c.to_yaml();
    for secret in ["hunter2", "tok3n", "kcred", "consultok", "oauthsecret"] {
        assert!(!yaml.contains(secret), "{secret} leaked:\n{yaml}");
    }
    assert_eq!(yaml.matches("<secret>").count(), 5, "{yaml}");
    let json = serde_json::to_string(&c).unwrap();
    assert!(!json.contains("hunter2"));
}

#[test]
fn to_yaml_round_trips() {
    let c = load(
        "global:\n  scrape_interval: 15s\n  external_labels:\n    dc: eu\nscrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: '(.+):\\d+'\n        target_label: host\n    static_configs:\n      - targets: ['h:1']\n",
    )
    .unwrap();
    let again = load(&c.to_yaml()).unwrap();
    assert_eq!(again, c);
}

#[test]
fn sightline_section() {
    let c = load("sightline:\n  traces:\n    retention: 3d\n    max_bytes: 1GB\n  ui:\n    enabled: false\n  otlp:\n    grpc_listen_address: ':4317'\n").unwrap();
    assert_eq!(c.sightline.traces.retention.to_string(), "3d");
    assert_eq!(c.sightline.traces.max_bytes.bytes(), 1 << 30);
    assert!(!c.sightline.ui.enabled);
    assert_eq!(c.sightline.otlp.grpc_listen_address, ":4317");
    let e = err("sightline:\n  ui:\n    colour: blue\n");
    assert!(e.contains("sightline.ui") && e.contains("colour"), "{e}");
}

#[test]
fn embedded_default_scrapes_itself() {
    let c = Config::embedded_default("localhost:9090");
    assert_eq!(c.global.scrape_interval.to_string(), "15s");
    assert_eq!(c.scrape_configs.len(), 1);
    let job = &c.scrape_configs[0];
    assert_eq!(job.job_name, "sightline");
    assert_eq!(job.static_configs[0].targets, ["localhost:9090"]);
    assert_eq!(job.scrape_interval.to_string(), "15s");
    assert_eq!(job.scrape_timeout.to_string(), "10s");
    // It is a valid config in its own right.
    load(&c.to_yaml()).unwrap();
}

#[test]
fn alertmanager_api_v1_is_rejected() {
    let e = err("alerting:\n  alertmanagers:\n    - api_version: v1\n");
    assert!(
        e.contains("expected Alertmanager api version to be one of [v2] but got v1"),
        "{e}"
    );
    let c = load(
        "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['am:9093']\n",
    )
    .unwrap();
    assert_eq!(c.alerting.alertmanagers[0].api_version, "v2");
    assert_eq!(c.alerting.alertmanagers[0].timeout.to_string(), "10s");
}

#[test]
fn rule_files_resolve_relative_to_config_dir() {
    let dir = std::env::temp_dir().join(format!("sightline-config-rules-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    for f in ["rules/a.yml", "rules/b.yml", "rules/c.txt"] {
        std::fs::write(dir.join(f), "groups: []\n").unwrap();
    }
    let c = load("rule_files:\n  - rules/*.yml\n  - rules/a.yml\n").unwrap();
    let files = c.resolve_rule_files(&dir).unwrap();
    assert_eq!(
        files,
        vec![dir.join("rules/a.yml"), dir.join("rules/b.yml")]
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(err("rule_files:\n  - 'my/*/rule'\n").contains("invalid rule file path"));
}

#[test]
fn web_config() {
    let ok = load_web_config_str(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS12\nhttp_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  alice: $2y$10$abcdefghijklmnopqrstuv\n",
        "web.yml",
    )
    .unwrap();
    assert!(ok.tls_enabled());
    assert!(!ok.http_server_config.http2);
    assert_eq!(ok.basic_auth_users.len(), 1);

    let e = load_web_config_str("tls_server_config:\n  cert_file: server.crt\n", "web.yml")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "web.yml:2: tls_server_config.key_file: missing one of key or key_file"
    );
    let e = load_web_config_str(
        "tls_server_config:\n  client_auth_type: Sometimes\n  cert_file: a\n  key_file: b\n",
        "web.yml",
    )
    .unwrap_err();
    assert!(e.to_string().contains("Invalid ClientAuth"), "{e}");
    let e = load_web_config_str("basic_auth_users:\n  bob: plaintext\n", "web.yml").unwrap_err();
    assert!(e.to_string().contains("bcrypt"), "{e}");
    assert!(load_web_config_str("unknown: 1\n", "web.yml").is_err());
    assert!(!load_web_config_str("", "web.yml").unwrap().tls_enabled());
}

#[test]
fn external_labels_expand_env() {
    let c = load(
        "global:\n  external_labels:\n    a: 'x$$y'\n    b: 'pre-${SIGHTLINE_SURELY_UNSET_VAR}'\n",
    )
    .unwrap();
    assert_eq!(c.global.external_labels["a"], "x$y");
    assert_eq!(c.global.external_labels["b"], "pre-");
}
