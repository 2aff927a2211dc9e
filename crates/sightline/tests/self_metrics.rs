//! `/metrics` carries Prometheus's own metric names with their meaning, so the
//! upstream prometheus-mixin alerts work against Sightline: rule failures,
//! scrape limits, target limits, failed sends to an Alertmanager, SD counts,
//! the binary's process metrics and the built-in Alertmanager's; one of the mixin's expressions is then
//! evaluated over Sightline's scrape of itself.

use crate::common;

use common::{Server, eventually, free_port, http_get, http_request};

#[test]
fn prometheus_named_self_metrics_follow_what_happens() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global: {scrape_interval: 1s}\n").unwrap();
    let srv = Server::start(
        &dir.path().join("data"),
        &[&format!("--config.file={}", cfg.display())],
    );
    let me = format!("127.0.0.1:{}", srv.port);
    // Nothing listens here: every send to this Alertmanager fails.
    let dead_am = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        dir.path().join("rules.yml"),
        // The failing rule makes two series with the same (empty) label set.
        r#"groups:
  - name: failing
    interval: 1s
    rules:
      - record: duplicate
        expr: label_replace(vector(1) or label_replace(vector(2), "x", "y", "", ""), "x", "", "", "")
      - alert: Always
        expr: vector(1)
"#,
    )
    .unwrap();
    std::fs::write(
        &cfg,
        format!(
            r#"global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - timeout: 1s
      static_configs: [{{targets: ['{dead_am}']}}]
scrape_configs:
  - job_name: self
    static_configs: [{{targets: ['{me}']}}]
  - job_name: limited
    sample_limit: 1
    static_configs: [{{targets: ['{me}']}}]
  - job_name: too_many
    target_limit: 1
    static_configs: [{{targets: ['127.0.0.1:1', '127.0.0.1:2']}}]
"#
        ),
    )
    .unwrap();
    let (code, body) = http_request(srv.port, "POST", "/-/reload", &[], b"").unwrap();
    assert_eq!(code, 200, "{body}");

    let am_url = format!("alertmanager=\"http://{dead_am}/api/v2/alerts\"");
    eventually("the self metrics", || {
        let (code, text) = http_get(srv.port, "/metrics").map_err(|e| e.to_string())?;
        if code != 200 {
            return Err(format!("/metrics answered {code}"));
        }
        let positive = |name: &str, labels: &str| -> Result<(), String> {
            match common::exposed_value(&text, name, labels) {
                Some(v) if v > 0.0 => Ok(()),
                other => Err(format!("{name}{{{labels}}} is {other:?}")),
            }
        };
        let equals = |name: &str, labels: &str, want: f64| -> Result<(), String> {
            match common::exposed_value(&text, name, labels) {
                Some(v) if v == want => Ok(()),
                other => Err(format!("{name}{{{labels}}} is {other:?}, want {want}")),
            }
        };
        positive("prometheus_rule_evaluation_failures_total", ";failing\"")?;
        positive("prometheus_rule_evaluations_total", ";failing\"")?;
        positive("prometheus_rule_group_iterations_total", ";failing\"")?;
        equals("prometheus_rule_group_rules", ";failing\"", 2.0)?;
        equals("prometheus_rule_group_interval_seconds", ";failing\"", 1.0)?;
        positive("prometheus_target_scrapes_exceeded_sample_limit_total", "")?;
        positive(
            "prometheus_target_scrape_pool_exceeded_target_limit_total",
            "",
        )?;
        equals(
            "prometheus_sd_discovered_targets",
            "config=\"too_many\",name=\"scrape\"",
            2.0,
        )?;
        equals(
            "prometheus_target_scrape_pool_targets",
            "scrape_job=\"too_many\"",
            2.0,
        )?;
        positive(
            "prometheus_target_metadata_cache_entries",
            "scrape_job=\"self\"",
        )?;
        // The built-in Alertmanager and the dead one.
        equals("prometheus_notifications_alertmanagers_discovered", "", 2.0)?;
        positive("prometheus_notifications_sent_total", &am_url)?;
        positive("prometheus_notifications_errors_total", &am_url)?;
        positive("prometheus_notifications_dropped_total", "")?;
        equals("prometheus_notifications_queue_capacity", "", 10000.0)?;
        positive("prometheus_tsdb_head_series", "")?;
        positive(
            "prometheus_tsdb_head_samples_appended_total",
            "type=\"float\"",
        )?;
        equals("prometheus_config_last_reload_successful", "", 1.0)?;
        equals("prometheus_engine_queries_concurrent_max", "", 20.0)?;
        // Sightline scrapes itself every second.
        positive(
            "prometheus_target_interval_length_seconds_count",
            "interval=\"1s\"",
        )?;
        match common::exposed_value(
            &text,
            "prometheus_target_interval_length_seconds",
            "interval=\"1s\",quantile=\"0.5\"",
        ) {
            Some(v) if (0.5..2.0).contains(&v) => {}
            other => return Err(format!("median scrape interval {other:?}")),
        }
        positive("process_resident_memory_bytes", "")?;
        positive("process_start_time_seconds", "")?;
        positive(
            "prometheus_http_requests_total",
            "code=\"200\",handler=\"/metrics\"",
        )?;
        // The built-in Alertmanager's own metrics (alertmanager-mixin names).
        positive(
            "alertmanager_alerts_received_total",
            "status=\"firing\",version=\"v2\"",
        )?;
        equals("alertmanager_config_last_reload_successful", "", 1.0)?;
        Ok(())
    });

    // promtool's linter reads the whole exposition as Prometheus would:
    // every family parses, has help text and a type matching its samples.
    let (_, text) = http_get(srv.port, "/metrics").unwrap();
    let mut lint = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed");
    std::io::Write::write_all(lint.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let out = lint.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The mixin's PromQL over Sightline's scrape of itself.
    let q = "increase(prometheus_rule_evaluation_failures_total{job=\"self\"}[1m]) > 0";
    eventually(
        "PrometheusRuleFailures' expression to return a series",
        || {
            let path = format!(
                "/api/v1/query?query={}",
                q.replace(' ', "%20")
                    .replace('{', "%7B")
                    .replace('}', "%7D")
                    .replace('"', "%22")
                    .replace('>', "%3E")
                    .replace('[', "%5B")
                    .replace(']', "%5D")
            );
            let (code, body) = http_get(srv.port, &path).map_err(|e| e.to_string())?;
            let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            let n = v["data"]["result"].as_array().map_or(0, |r| r.len());
            if code == 200 && n == 1 {
                Ok(())
            } else {
                Err(format!("{code} {body}"))
            }
        },
    );
    // Those queries went through the engine's timing summary.
    let (_, text) = http_get(srv.port, "/metrics").unwrap();
    let evals = common::exposed_value(
        &text,
        "prometheus_engine_query_duration_seconds_count",
        "slice=\"inner_eval\"",
    );
    assert!(evals.is_some_and(|n| n >= 1.0), "{evals:?}");
}
