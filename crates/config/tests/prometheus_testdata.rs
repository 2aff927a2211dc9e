//! Loads Prometheus's own config fixtures (`config/testdata` upstream):
//! every `*.good.yml` must load, every `*.bad.yml` must be rejected with an
//! error that mentions the same problem as Prometheus's.
//!
//! The fixtures live outside the repository (`shared/conformance` next to
//! the repo root) and are never copied in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sightline_config::{load_file, load_str};

fn testdata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/prometheus/config/testdata")
}

/// What each bad fixture's error must mention (any one of the
/// alternatives). Mostly Prometheus's `expectedErrors` text from
/// `config/config_test.go`; where we word a problem differently (YAML-level
/// errors come from a different parser) the alternative says what we say.
fn expected_errors() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("jobname.bad.yml", &["job_name is empty"][..]),
        (
            "jobname_dup.bad.yml",
            &[r#"found multiple scrape configs with job name "prometheus""#],
        ),
        (
            "scrape_interval.bad.yml",
            &["scrape timeout greater than scrape interval"],
        ),
        // Prometheus: `"\xff" is not a valid label name`; our YAML parser
        // refuses the non-UTF-8 `!!binary` key itself.
        ("labelname.bad.yml", &["not a valid label name", "UTF-8"]),
        ("labelvalue.bad.yml", &["not a valid label value", "UTF-8"]),
        ("regex.bad.yml", &["error parsing regexp"]),
        (
            "modulus_missing.bad.yml",
            &["relabel configuration for hashmod requires non-zero modulus"],
        ),
        (
            "labelkeep.bad.yml",
            &["labelkeep action requires only 'regex', and no other fields"],
        ),
        (
            "labelkeep2.bad.yml",
            &["labelkeep action requires only 'regex', and no other fields"],
        ),
        (
            "labelkeep3.bad.yml",
            &["labelkeep action requires only 'regex', and no other fields"],
        ),
        (
            "labelkeep4.bad.yml",
            &["labelkeep action requires only 'regex', and no other fields"],
        ),
        (
            "labelkeep5.bad.yml",
            &["labelkeep action requires only 'regex', and no other fields"],
        ),
        (
            "labeldrop.bad.yml",
            &["labeldrop action requires only 'regex', and no other fields"],
        ),
        (
            "labeldrop2.bad.yml",
            &["labeldrop action requires only 'regex', and no other fields"],
        ),
        (
            "labeldrop3.bad.yml",
            &["labeldrop action requires only 'regex', and no other fields"],
        ),
        (
            "labeldrop4.bad.yml",
            &["labeldrop action requires only 'regex', and no other fields"],
        ),
        (
            "labeldrop5.bad.yml",
            &["labeldrop action requires only 'regex', and no other fields"],
        ),
        (
            "dropequal.bad.yml",
            &["relabel configuration for dropequal action requires 'target_label' value"],
        ),
        (
            "dropequal1.bad.yml",
            &[
                "dropequal action requires only 'source_labels' and `target_label`, and no other fields",
            ],
        ),
        (
            "keepequal.bad.yml",
            &["relabel configuration for keepequal action requires 'target_label' value"],
        ),
        (
            "keepequal1.bad.yml",
            &[
                "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
            ],
        ),
        (
            "labelmap.bad.yml",
            &["!!binary value contains invalid base64 data", "base64"],
        ),
        (
            "lowercase.bad.yml",
            &["relabel configuration for lowercase action requires 'target_label' value"],
        ),
        (
            "lowercase3.bad.yml",
            &["'replacement' can not be set for lowercase action"],
        ),
        (
            "uppercase.bad.yml",
            &["relabel configuration for uppercase action requires 'target_label' value"],
        ),
        (
            "uppercase3.bad.yml",
            &["'replacement' can not be set for uppercase action"],
        ),
        ("rules.bad.yml", &["invalid rule file path"]),
        // Prometheus: "field consult_sd_configs not found in type ...".
        ("unknown_attr.bad.yml", &["consult_sd_configs"]),
        (
            "bearertoken.bad.yml",
            &["at most one of bearer_token & bearer_token_file must be configured"],
        ),
        (
            "bearertoken_basicauth.bad.yml",
            &[
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            ],
        ),
        (
            "kubernetes_http_config_without_api_server.bad.yml",
            &[
                "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
            ],
        ),
        (
            "kubernetes_kubeconfig_with_own_namespace.bad.yml",
            &["cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously"],
        ),
        (
            "kubernetes_api_server_with_own_namespace.bad.yml",
            &["cannot use 'api_server' and 'namespaces.own_namespace' simultaneously"],
        ),
        (
            "kubernetes_kubeconfig_with_apiserver.bad.yml",
            &["cannot use 'kubeconfig_file' and 'api_server' simultaneously"],
        ),
        (
            "kubernetes_kubeconfig_with_http_config.bad.yml",
            &["cannot use a custom HTTP client configuration together with 'kubeconfig_file'"],
        ),
        (
            "kubernetes_bearertoken.bad.yml",
            &["at most one of bearer_token & bearer_token_file must be configured"],
        ),
        ("kubernetes_role.bad.yml", &["role"]),
        (
            "kubernetes_selectors_endpoints.bad.yml",
            &["endpoints role supports only pod, service, endpoints selectors"],
        ),
        (
            "kubernetes_selectors_ingress.bad.yml",
            &["ingress role supports only ingress selectors"],
        ),
        (
            "kubernetes_selectors_node.bad.yml",
            &["node role supports only node selectors"],
        ),
        // Newer Prometheus also allows node selectors for the pod role
        // (kubernetes_selectors_pod.good.yml relies on it), which changes
        // the wording of the older expectation.
        (
            "kubernetes_selectors_pod.bad.yml",
            &[
                "pod role supports only pod selectors",
                "pod role supports only pod, node selectors",
            ],
        ),
        (
            "kubernetes_selectors_service.bad.yml",
            &["service role supports only service selectors"],
        ),
        // Prometheus: "field foo not found in type kubernetes.plain".
        ("kubernetes_namespace_discovery.bad.yml", &["foo"]),
        (
            "kubernetes_selectors_duplicated_role.bad.yml",
            &["duplicated selector role: pod"],
        ),
        (
            "kubernetes_selectors_incorrect_selector.bad.yml",
            &[
                "invalid selector: 'metadata.status-Running'; can't understand 'metadata.status-Running'",
            ],
        ),
        (
            "kubernetes_bearertoken_basicauth.bad.yml",
            &[
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            ],
        ),
        (
            "kubernetes_authorization_basicauth.bad.yml",
            &["at most one of basic_auth, oauth2 & authorization must be configured"],
        ),
        (
            "marathon_no_servers.bad.yml",
            &["marathon_sd: must contain at least one Marathon server"],
        ),
        (
            "marathon_authtoken_authtokenfile.bad.yml",
            &["marathon_sd: at most one of auth_token & auth_token_file must be configured"],
        ),
        (
            "marathon_authtoken_basicauth.bad.yml",
            &[
                "marathon_sd: at most one of basic_auth, auth_token & auth_token_file must be configured",
            ],
        ),
        (
            "marathon_authtoken_bearertoken.bad.yml",
            &[
                "marathon_sd: at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured",
            ],
        ),
        (
            "marathon_authtoken_authorization.bad.yml",
            &[
                "marathon_sd: at most one of auth_token, auth_token_file & authorization must be configured",
            ],
        ),
        ("openstack_role.bad.yml", &["unknown OpenStack SD role"]),
        (
            "openstack_availability.bad.yml",
            &["unknown availability invalid, must be one of admin, internal or public"],
        ),
        (
            "url_in_targetgroup.bad.yml",
            &["\"http://bad\" is not a valid hostname"],
        ),
        (
            "target_label_missing.bad.yml",
            &["relabel configuration for replace action requires 'target_label' value"],
        ),
        (
            "target_label_hashmod_missing.bad.yml",
            &["relabel configuration for hashmod action requires 'target_label' value"],
        ),
        // Prometheus: "field nonexistent_field not found in type config.plain".
        ("unknown_global_attr.bad.yml", &["nonexistent_field"]),
        (
            "remote_read_url_missing.bad.yml",
            &["url for remote_read is empty"],
        ),
        (
            "remote_write_header.bad.yml",
            &["x-prometheus-remote-write-version is a reserved header. It must not be changed"],
        ),
        (
            "remote_read_header.bad.yml",
            &["x-prometheus-remote-write-version is a reserved header. It must not be changed"],
        ),
        (
            "remote_write_authorization_header.bad.yml",
            &[
                "authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter",
            ],
        ),
        (
            "remote_write_wrong_msg.bad.yml",
            &[
                "invalid protobuf_message value: unknown type for remote write protobuf message io.prometheus.writet.v2.Request, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request",
            ],
        ),
        (
            "remote_write_url_missing.bad.yml",
            &["url for remote_write is empty"],
        ),
        (
            "remote_write_dup.bad.yml",
            &[r#"found multiple remote write configs with job name "queue1""#],
        ),
        (
            "remote_read_dup.bad.yml",
            &[r#"found multiple remote read configs with job name "queue1""#],
        ),
        (
            "ec2_filters_empty_values.bad.yml",
            &["EC2 SD configuration filter values cannot be empty"],
        ),
        (
            "ec2_token_file.bad.yml",
            &["at most one of bearer_token & bearer_token_file must be configured"],
        ),
        (
            "lightsail_token_file.bad.yml",
            &["at most one of bearer_token & bearer_token_file must be configured"],
        ),
        // Prometheus: "field scrape_configs already set in type config.plain".
        (
            "section_key_dup.bad.yml",
            &["scrape_configs already set", "duplicate"],
        ),
        (
            "azure_client_id_missing.bad.yml",
            &["azure SD configuration requires a client_id"],
        ),
        (
            "azure_client_secret_missing.bad.yml",
            &["azure SD configuration requires a client_secret"],
        ),
        (
            "azure_subscription_id_missing.bad.yml",
            &["azure SD configuration requires a subscription_id"],
        ),
        (
            "azure_tenant_id_missing.bad.yml",
            &["azure SD configuration requires a tenant_id"],
        ),
        (
            "azure_authentication_method.bad.yml",
            &[
                "unknown authentication_type \"invalid\". Supported types are \"OAuth\", \"ManagedIdentity\" or \"SDK\"",
            ],
        ),
        (
            "azure_bearertoken_basicauth.bad.yml",
            &[
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            ],
        ),
        (
            "empty_scrape_config.bad.yml",
            &["empty or null scrape config section"],
        ),
        (
            "empty_rw_config.bad.yml",
            &["empty or null remote write config section"],
        ),
        (
            "empty_rr_config.bad.yml",
            &["empty or null remote read config section"],
        ),
        (
            "empty_target_relabel_config.bad.yml",
            &["empty or null target relabeling rule"],
        ),
        (
            "empty_metric_relabel_config.bad.yml",
            &["empty or null metric relabeling rule"],
        ),
        (
            "empty_alert_relabel_config.bad.yml",
            &["empty or null alert relabeling rule"],
        ),
        (
            "empty_alertmanager_relabel_config.bad.yml",
            &["empty or null Alertmanager target relabeling rule"],
        ),
        (
            "empty_rw_relabel_config.bad.yml",
            &["empty or null relabeling rule in remote write config"],
        ),
        (
            "empty_static_config.bad.yml",
            &["empty or null section in static_configs"],
        ),
        ("puppetdb_no_query.bad.yml", &["query missing"]),
        ("puppetdb_no_url.bad.yml", &["URL is missing"]),
        ("puppetdb_bad_url.bad.yml", &["host is missing in URL"]),
        (
            "puppetdb_no_scheme.bad.yml",
            &["URL scheme must be 'http' or 'https'"],
        ),
        (
            "puppetdb_token_file.bad.yml",
            &["at most one of bearer_token & bearer_token_file must be configured"],
        ),
        ("hetzner_role.bad.yml", &["unknown role"]),
        ("eureka_no_server.bad.yml", &["empty or null eureka server"]),
        (
            "eureka_invalid_server.bad.yml",
            &["invalid eureka server URL"],
        ),
        ("scaleway_role.bad.yml", &[r#"unknown role "invalid""#]),
        (
            "scaleway_no_secret.bad.yml",
            &["one of secret_key & secret_key_file must be configured"],
        ),
        (
            "scaleway_two_secrets.bad.yml",
            &["at most one of secret_key & secret_key_file must be configured"],
        ),
        (
            "scrape_body_size_limit.bad.yml",
            &["units: unknown unit  in 100"],
        ),
        (
            "http_url_no_scheme.bad.yml",
            &["URL scheme must be 'http' or 'https'"],
        ),
        ("http_url_no_host.bad.yml", &["host is missing in URL"]),
        (
            "http_token_file.bad.yml",
            &["at most one of bearer_token & bearer_token_file must be configured"],
        ),
        (
            "http_url_bad_scheme.bad.yml",
            &["URL scheme must be 'http' or 'https'"],
        ),
        (
            "empty_scrape_config_action.bad.yml",
            &["relabel action cannot be empty"],
        ),
        (
            "tracing_missing_endpoint.bad.yml",
            &["tracing endpoint must be set"],
        ),
        (
            "tracing_invalid_header.bad.yml",
            &["x-prometheus-remote-write-version is a reserved header. It must not be changed"],
        ),
        (
            "tracing_invalid_authorization_header.bad.yml",
            &["authorization header configuration is not yet supported"],
        ),
        (
            "tracing_invalid_compression.bad.yml",
            &["invalid compression type foo provided, valid options: gzip"],
        ),
        (
            "uyuni_no_server.bad.yml",
            &["Uyuni SD configuration requires server host"],
        ),
        (
            "uyuni_token_file.bad.yml",
            &["at most one of bearer_token & bearer_token_file must be configured"],
        ),
        (
            "ionos_datacenter.bad.yml",
            &["datacenter id can't be empty"],
        ),
        (
            "ovhcloud_no_secret.bad.yml",
            &["application secret can not be empty"],
        ),
        (
            "ovhcloud_bad_service.bad.yml",
            &["unknown service: fakeservice"],
        ),
        (
            "scrape_config_files_glob.bad.yml",
            &[r#"invalid scrape config file path "scrape_configs/*/*""#],
        ),
        (
            "scrape_config_files_scrape_protocols.bad.yml",
            &[
                r#"scrape_protocols: unknown scrape protocol prometheusproto, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0] for scrape config with job name "node""#,
            ],
        ),
        (
            "scrape_config_files_scrape_protocols2.bad.yml",
            &[
                r#"duplicated protocol in scrape_protocols, got [OpenMetricsText1.0.0 PrometheusProto OpenMetricsText1.0.0] for scrape config with job name "node""#,
            ],
        ),
        (
            "scrape_config_files_fallback_scrape_protocol1.bad.yml",
            &[
                r#"invalid fallback_scrape_protocol for scrape config with job name "node": unknown scrape protocol prometheusproto, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]"#,
            ],
        ),
        // Prometheus: "unmarshal errors" (a list where a string belongs).
        (
            "scrape_config_files_fallback_scrape_protocol2.bad.yml",
            &["fallback_scrape_protocol"],
        ),
        (
            "scrape_config_utf8_conflicting.bad.yml",
            &["utf8 metric names requested but validation scheme is not set to UTF8"],
        ),
        ("stackit_endpoint.bad.yml", &["invalid endpoint"]),
        // From TestGetScrapeConfigs (errors Prometheus reports when reading
        // scrape_config_files).
        (
            "scrape_config_files_double_import.bad.yml",
            &[r#"found multiple scrape configs with job name "prometheus""#],
        ),
        (
            "scrape_config_files_duplicate.bad.yml",
            &[r#"found multiple scrape configs with job name "prometheus""#],
        ),
        (
            "scrape_config_files_global.bad.yml",
            &[
                r#"scrape timeout greater than scrape interval for scrape config with job name "prometheus""#,
            ],
        ),
        (
            "scrape_config_files_global_duplicate.bad.yml",
            &[r#"found multiple scrape configs with job name "prometheus""#],
        ),
        (
            "scrape_config_files.bad.yml",
            &["scrape timeout greater than scrape interval"],
        ),
        // From TestOTLPSanitizeResourceAttributes.
        (
            "otlp_sanitize_promote_resource_attributes.bad.yml",
            &[r#"duplicated promoted OTel resource attribute "k8s.job.name""#],
        ),
        (
            "otlp_sanitize_ignore_resource_attributes.bad.yml",
            &[r#"duplicated ignored OTel resource attribute "k8s.job.name""#],
        ),
        (
            "otlp_promote_all_resource_attributes.bad.yml",
            &[
                "'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously",
            ],
        ),
        (
            "otlp_ignore_resource_attributes_without_promote_all.bad.yml",
            &[
                "'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true",
            ],
        ),
        (
            "otlp_allow_utf8.bad.yml",
            &[r#"unsupported OTLP translation strategy "Invalid""#],
        ),
        // Fixtures newer than the upstream test's expectedErrors list: the
        // problem each one exercises, in our words.
        (
            "metric_name_validation_scheme.bad.yml",
            &["unrecognized ValidationScheme"],
        ),
        (
            "oci_authentication_method.bad.yml",
            &["unknown authentication method"],
        ),
        ("outscale_no_region.bad.yml", &["requires a region"]),
        (
            "outscale_no_secret.bad.yml",
            &["one of secret_key & secret_key_file must be configured"],
        ),
        (
            "outscale_two_secrets.bad.yml",
            &["at most one of secret_key & secret_key_file must be configured"],
        ),
        (
            "remote_write_queue_capacity_zero.bad.yml",
            &["capacity must be greater than 0"],
        ),
        (
            "remote_write_queue_max_backoff_less_than_min.bad.yml",
            &["max_backoff"],
        ),
        (
            "remote_write_queue_max_samples_per_send_zero.bad.yml",
            &["max_samples_per_send must be greater than 0"],
        ),
        (
            "remote_write_queue_max_shards_zero.bad.yml",
            &["max_shards must be greater than 0"],
        ),
        (
            "remote_write_queue_min_shards_greater_than_max.bad.yml",
            &["min_shards (100) must not be greater than max_shards (10)"],
        ),
        (
            "remote_write_queue_min_shards_zero.bad.yml",
            &["min_shards must be greater than 0"],
        ),
        (
            "tsdb_chunk_encoding_floats.bad.yml",
            &[r#"unknown float chunk encoding "xor3""#],
        ),
        (
            "tsdb_chunk_encoding_floats_wrong_case.bad.yml",
            &[r#"unknown float chunk encoding "XOR""#],
        ),
        (
            "tsdb_chunk_encoding_floats_wrong_case_xor2.bad.yml",
            &[r#"unknown float chunk encoding "XOR2""#],
        ),
        (
            "tsdb_retention_percentage.bad.yml",
            &["retention percentage must be between 0 and 100"],
        ),
        (
            "tsdb_retention_percentage_negative.bad.yml",
            &["retention percentage must be between 0 and 100"],
        ),
        ("tsdb_retention_size.bad.yml", &["must not be negative"]),
        (
            "tsdb_retention_time.bad.yml",
            &["not a valid duration string"],
        ),
        // A target group file, not a config (TestBadStaticConfigsYML): as a
        // config its keys are unknown.
        ("static_config.bad.yml", &["targets"]),
    ])
}

/// Fixtures without a `.good`/`.bad` suffix that upstream tests load
/// outside agent mode, with whether they must load.
const OTHER_FIXTURES: &[(&str, bool)] = &[
    ("agent_mode.good.yml", true),
    ("agent_mode.with_alert_manager.yml", true),
    ("agent_mode.with_alert_relabels.yml", true),
    ("agent_mode.with_remote_reads.yml", true),
    ("agent_mode.with_rule_files.yml", true),
    ("agent_mode.without_remote_writes.yml", true),
    ("otlp_empty.yml", true),
    ("scrape_config_default_validation_mode.yml", true),
    ("scrape_config_global_validation_mode.yml", true),
    ("scrape_config_local_global_validation_mode.yml", true),
    ("scrape_config_local_infer_escaping.yml", true),
    ("scrape_config_local_validation_mode.yml", true),
    // Alertmanager API v1 was removed in Prometheus 3.
    ("config_with_deprecated_am_api_config.yml", false),
    ("otlp_allow_utf8.incompatible.yml", false),
    ("otlp_no_translation.incompatible.yml", false),
];

/// Known deviations, each with its reason. Keep this empty if at all possible.
const ALLOWLIST: &[(&str, &str)] = &[];

#[test]
fn prometheus_config_testdata() {
    let dir = testdata_dir();
    if !dir.is_dir() {
        // The fixtures are checked out beside the repository in CI and dev
        // setups; say so loudly rather than silently passing.
        println!(
            "config testdata: 0 good loaded, 0 bad rejected, all skipped (no fixtures at {})",
            dir.display()
        );
        return;
    }
    let expected = expected_errors();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("read testdata dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    files.sort();

    let (mut good, mut bad, mut skipped) = (0, 0, Vec::new());
    let mut problems = Vec::new();
    for name in &files {
        let must_load = if name.ends_with(".good.yml") {
            Some(true)
        } else if name.ends_with(".bad.yml") {
            Some(false)
        } else {
            OTHER_FIXTURES
                .iter()
                .find(|(f, _)| f == name)
                .map(|(_, ok)| *ok)
        };
        let Some(must_load) = must_load else {
            skipped.push(name.clone());
            continue;
        };
        let allowed = ALLOWLIST.iter().any(|(f, _)| f == name);
        let result = load_file(&dir.join(name));
        match (must_load, result) {
            (true, Ok(cfg)) => {
                // Shown configs must never reveal secrets and must load again.
                let yaml = cfg.to_yaml();
                if yaml.contains("mysecret") {
                    problems.push(format!("{name}: to_yaml leaks a secret"));
                } else if let Err(e) = load_str(&yaml, name) {
                    problems.push(format!("{name}: to_yaml output does not load: {e}\n{yaml}"));
                } else {
                    good += 1;
                }
            }
            (true, Err(e)) if !allowed => problems.push(format!("{name}: should load, got: {e}")),
            (false, Ok(_)) if !allowed => {
                problems.push(format!("{name}: should be rejected but loaded"))
            }
            (false, Err(e)) => {
                let msg = e.to_string();
                // `SHOW_CONFIG_ERRORS=1 cargo test ... -- --nocapture` to review wording.
                if std::env::var_os("SHOW_CONFIG_ERRORS").is_some() {
                    println!("{msg}");
                }
                match expected.get(name.as_str()) {
                    Some(wants) if wants.iter().any(|w| msg.contains(w)) => bad += 1,
                    Some(wants) if !allowed => problems.push(format!(
                        "{name}: error should mention {wants:?}, got: {msg}"
                    )),
                    None if OTHER_FIXTURES.iter().any(|(f, _)| f == name) => bad += 1,
                    None if !allowed => {
                        problems.push(format!("{name}: no expected error listed; got: {msg}"))
                    }
                    _ => skipped.push(format!("{name} (allowlisted)")),
                }
            }
            _ => skipped.push(format!("{name} (allowlisted)")),
        }
    }
    let skipped_note = if skipped.is_empty() {
        String::new()
    } else {
        format!(
            " (not a prometheus.yml or allowlisted: {})",
            skipped.join(", ")
        )
    };
    println!(
        "config testdata: {good} good loaded, {bad} bad rejected, {} skipped{skipped_note}",
        skipped.len()
    );
    assert!(
        problems.is_empty(),
        "{} unexpected results:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn conf_good_matches_upstream_expectations() {
    let dir = testdata_dir();
    if !dir.is_dir() {
        return;
    }
    let c = load_file(&dir.join("conf.good.yml")).expect("conf.good.yml loads");
    assert_eq!(c.global.scrape_interval.to_string(), "15s");
    assert_eq!(c.global.evaluation_interval.to_string(), "30s");
    assert_eq!(c.global.body_size_limit.bytes(), 15 << 20);
    assert_eq!(c.runtime.gogc, 42);
    assert_eq!(c.rule_files, ["first.rules", "my/*.rules"]);
    let prom = &c.scrape_configs[0];
    assert_eq!(prom.job_name, "prometheus");
    assert!(prom.honor_labels);
    assert_eq!(prom.scrape_timeout.to_string(), "10s");
    assert_eq!(prom.sample_limit, 1500);
    assert_eq!(prom.file_sd_configs[1].refresh_interval.to_string(), "5m");
    assert_eq!(prom.relabel_configs[0].replacement, "foo-${1}");
    assert_eq!(prom.relabel_configs[3].regex.as_str(), "");
    assert_eq!(prom.authorization.as_ref().unwrap().auth_type, "Bearer");
    let x = &c.scrape_configs[1];
    assert_eq!(x.scrape_timeout.to_string(), "5s");
    assert_eq!(
        x.basic_auth.as_ref().unwrap().password.expose(),
        "multiline\nmysecret\ntest"
    );
    assert_eq!(x.metrics_path, "/my_path");
    assert_eq!(x.scheme, "https");
    assert_eq!(c.remote_write[0].remote_timeout.to_string(), "30s");
    assert!(!c.remote_write[0].enable_http2);
    assert_eq!(
        c.remote_write[1].protobuf_message,
        "io.prometheus.write.v2.Request"
    );
    assert!(c.remote_read[0].read_recent);
    assert!(!c.remote_read[0].enable_http2);
    assert_eq!(c.remote_read[1].remote_timeout.to_string(), "1m");
    assert_eq!(c.alerting.alertmanagers[0].scheme, "https");
    assert_eq!(c.storage.tsdb.out_of_order_time_window.to_string(), "30m");
    assert_eq!(c.tracing.client_type, "grpc");
    let badfed = c
        .all_scrape_configs()
        .find(|s| s.job_name == "badfederation")
        .unwrap();
    assert!(!badfed.honor_timestamps);
    // Jobs from unimplemented discovery mechanisms are kept and listed.
    let ec2 = c
        .scrape_configs
        .iter()
        .find(|s| s.job_name == "service-ec2")
        .unwrap();
    assert_eq!(ec2.generic_sd_configs()[0].0, "ec2_sd_configs");
}

#[test]
fn scrape_config_files_are_loaded() {
    let dir = testdata_dir();
    if !dir.is_dir() {
        return;
    }
    let c = load_file(&dir.join("scrape_config_files_combined.good.yml")).unwrap();
    let names: Vec<&str> = c
        .all_scrape_configs()
        .map(|s| s.job_name.as_str())
        .collect();
    assert_eq!(names, ["node", "prometheus", "alertmanager"]);
}
