//! Service discovery: turns `static_configs`, `file_sd_configs`,
//! `kubernetes_sd_configs`, `http_sd_configs` and `dns_sd_configs` into target groups, the way Prometheus's
//! `discovery` package does.
//!
//! Every provider runs as a task that sends `Vec<TargetGroup>` updates; a
//! group replaces the earlier group with the same `source`, and a group with
//! no targets clears it. [`Discovery`] merges the providers of one scrape job
//! and publishes the full, throttled set on a `watch` channel.

pub mod dns_sd;
pub mod file;
pub mod http;
pub mod http_sd;
pub mod kubernetes;
mod merge;
pub mod metrics;
pub mod oauth2;
pub mod sigv4;
pub mod testing;
pub mod tls;

use std::collections::BTreeMap;

pub use merge::{Discovery, DiscoveryOptions, SdConfigs, Updates};

/// Labels of one target or group, before relabeling (Prometheus `model.LabelSet`).
pub type LabelSet = BTreeMap<String, String>;

/// The label holding a target's `host:port`.
pub const ADDRESS_LABEL: &str = "__address__";

/// A set of targets sharing labels, identified by `source` within its provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroup {
    pub source: String,
    pub targets: Vec<LabelSet>,
    pub labels: LabelSet,
}

impl TargetGroup {
    /// An empty group: tells the receiver that `source` has no targets any more.
    pub fn cleared(source: impl Into<String>) -> Self {
        TargetGroup {
            source: source.into(),
            targets: Vec::new(),
            labels: LabelSet::new(),
        }
    }
}

/// The groups of `static_configs`: one per entry, sourced by index like Prometheus.
pub fn static_groups(configs: &[sightline_config::StaticConfig]) -> Vec<TargetGroup> {
    configs
        .iter()
        .enumerate()
        .map(|(i, c)| TargetGroup {
            source: i.to_string(),
            targets: c
                .targets
                .iter()
                .map(|t| LabelSet::from([(ADDRESS_LABEL.to_string(), t.clone())]))
                .collect(),
            labels: c.labels.clone(),
        })
        .collect()
}

/// Prometheus's `strutil.SanitizeLabelName`: every character outside
/// `[a-zA-Z0-9_]` becomes `_`.
pub fn sanitize_label_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_groups_are_indexed() {
        let cfg = sightline_config::load_str(
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['h1:1', 'h2:2']\n        labels: {env: prod}\n      - targets: ['h3:3']\n",
            "t.yml",
        )
        .unwrap();
        let g = static_groups(&cfg.scrape_configs[0].static_configs);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].source, "0");
        assert_eq!(g[0].targets[1]["__address__"], "h2:2");
        assert_eq!(g[0].labels["env"], "prod");
        assert_eq!(g[1].source, "1");
        assert!(g[1].labels.is_empty());
    }

    #[test]
    fn sanitizes_like_prometheus() {
        assert_eq!(
            sanitize_label_name("prometheus.io/scrape"),
            "prometheus_io_scrape"
        );
        assert_eq!(
            sanitize_label_name("app.kubernetes.io/name-x"),
            "app_kubernetes_io_name_x"
        );
    }
}
