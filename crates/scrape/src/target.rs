//! Turning discovered target groups into scrape targets: Prometheus's
//! `PopulateLabels` (defaults for `__address__`-derived labels, `job`,
//! `instance`, `__param_*`), minus relabeling, which runs in between.

use std::collections::BTreeMap;
use std::time::Duration;

use sightline_config::ScrapeConfig;
use sightline_model::{Labels, LabelsBuilder};

/// A target ready to scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Labels attached to every scraped series (`job`, `instance`, …).
    pub labels: Labels,
    /// Labels as discovered, before relabeling (shown by `/api/v1/targets`).
    pub discovered: Labels,
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
}

impl Target {
    /// Stable identity for diffing target sets on reload.
    pub fn key(&self) -> u64 {
        self.discovered.stable_hash() ^ self.labels.stable_hash().rotate_left(1)
    }
}

/// The labels a target starts with before relabeling (Prometheus's
/// `PopulateDiscoveredLabels`): the target's labels, the group's where the
/// target has none, then the scrape config's defaults for whatever is still
/// unset (so a discovered `job` or `__metrics_path__` wins).
pub fn discovered_labels(
    cfg: &ScrapeConfig,
    target: &BTreeMap<String, String>,
    group: &BTreeMap<String, String>,
) -> Labels {
    let mut b = LabelsBuilder::new();
    for (k, v) in group {
        b.set(k.clone(), v.clone());
    }
    for (k, v) in target {
        b.set(k.clone(), v.clone());
    }
    let mut default = |name: String, value: String| {
        if b.get(&name).is_none_or(str::is_empty) {
            b.set(name, value);
        }
    };
    default("job".into(), cfg.job_name.clone());
    default(
        "__scrape_interval__".into(),
        cfg.scrape_interval.to_string(),
    );
    default("__scrape_timeout__".into(), cfg.scrape_timeout.to_string());
    default("__metrics_path__".into(), cfg.metrics_path.clone());
    default("__scheme__".into(), cfg.scheme.clone());
    for (k, v) in &cfg.params {
        if let Some(first) = v.first() {
            default(format!("__param_{k}"), first.clone());
        }
    }
    b.build()
}

/// Finishes a (relabeled) label set into a target, or says why it is dropped.
pub fn populate(
    cfg: &ScrapeConfig,
    discovered: Labels,
    relabeled: Labels,
) -> Result<Target, String> {
    let address = relabeled
        .get("__address__")
        .ok_or("no address")?
        .to_string();
    if relabeled.get("__scrape_interval__") == Some("0s") {
        return Err("scrape interval cannot be 0".into());
    }
    let scheme = relabeled.get("__scheme__").unwrap_or("http").to_string();
    let path = relabeled
        .get("__metrics_path__")
        .unwrap_or("/metrics")
        .to_string();
    let interval = parse_dur(
        relabeled.get("__scrape_interval__"),
        cfg.scrape_interval.as_std(),
    )?;
    let timeout = parse_dur(
        relabeled.get("__scrape_timeout__"),
        cfg.scrape_timeout.as_std(),
    )?;
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({:?} > {:?})",
            relabeled.get("__scrape_timeout__").unwrap_or(""),
            relabeled.get("__scrape_interval__").unwrap_or("")
        ));
    }
    if address.contains('/') {
        return Err(format!("{address:?} is not a valid hostname"));
    }
    let mut query: Vec<(String, String)> = Vec::new();
    for (k, vals) in &cfg.params {
        // A relabeled `__param_x` replaces the first value of `x`.
        match relabeled.get(&format!("__param_{k}")) {
            Some(v) => {
                query.push((k.clone(), v.to_string()));
                query.extend(vals.iter().skip(1).map(|x| (k.clone(), x.clone())));
            }
            None => query.extend(vals.iter().map(|x| (k.clone(), x.clone()))),
        }
    }
    for l in &relabeled {
        if let Some(k) = l.name.strip_prefix("__param_")
            && !cfg.params.contains_key(k)
        {
            query.push((k.to_string(), l.value.clone()));
        }
    }
    let mut url = format!("{scheme}://{address}{path}");
    if !query.is_empty() {
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        url.push(if path.contains('?') { '&' } else { '?' });
        url.push_str(&q.join("&"));
    }
    let mut b = LabelsBuilder::new();
    for l in &relabeled {
        if !l.name.starts_with("__") {
            b.set(l.name.clone(), l.value.clone());
        }
    }
    if b.get("instance").is_none() {
        b.set("instance", address.clone());
    }
    Ok(Target {
        labels: b.build(),
        discovered,
        url,
        interval,
        timeout,
    })
}

fn parse_dur(v: Option<&str>, default: Duration) -> Result<Duration, String> {
    match v {
        None => Ok(default),
        Some(s) => sightline_config::parse_duration(s)
            .map(|d| d.as_std())
            .map_err(|e| format!("invalid scrape interval/timeout {s:?}: {e}")),
    }
}

fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_instance() {
        let mut cfg = ScrapeConfig::new("node");
        cfg.params.insert("module".into(), vec!["a b".into()]);
        cfg.scrape_interval = sightline_config::parse_duration("15s").unwrap();
        cfg.scrape_timeout = sightline_config::parse_duration("10s").unwrap();
        let t = [("__address__".to_string(), "host:9100".to_string())].into();
        let d = discovered_labels(&cfg, &t, &[("env".to_string(), "prod".to_string())].into());
        let t = populate(&cfg, d.clone(), d).unwrap();
        assert_eq!(t.url, "http://host:9100/metrics?module=a%20b");
        assert_eq!(
            t.labels,
            Labels::from_pairs([("env", "prod"), ("instance", "host:9100"), ("job", "node")])
        );
    }

    #[test]
    fn discovered_labels_win_over_defaults_and_targets_over_groups() {
        let cfg = ScrapeConfig::new("node");
        let t = [
            ("__address__".to_string(), "h:1".to_string()),
            ("env".to_string(), "t".to_string()),
        ]
        .into();
        let g = [
            ("env".to_string(), "g".to_string()),
            ("job".to_string(), "mine".to_string()),
        ]
        .into();
        let d = discovered_labels(&cfg, &t, &g);
        assert_eq!(d.get("env"), Some("t"));
        assert_eq!(d.get("job"), Some("mine"));
        assert_eq!(d.get("__metrics_path__"), Some("/metrics"));
    }
}
