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

/// The labels a target starts with before relabeling: the group's labels, the
/// address, and the scrape config's defaults as `__`-prefixed labels.
pub fn discovered_labels(cfg: &ScrapeConfig, address: &str, group: &BTreeMap<String, String>) -> Labels {
    let mut b = LabelsBuilder::new();
    for (k, v) in group {
        b.set(k.clone(), v.clone());
    }
    b.set("__address__", address);
    b.set("job", cfg.job_name.clone());
    b.set("__scheme__", cfg.scheme.clone());
    b.set("__metrics_path__", cfg.metrics_path.clone());
    b.set("__scrape_interval__", cfg.scrape_interval.to_string());
    b.set("__scrape_timeout__", cfg.scrape_timeout.to_string());
    for (k, v) in &cfg.params {
        if let Some(first) = v.first() {
            b.set(format!("__param_{k}"), first.clone());
        }
    }
    b.build()
}

/// Finishes a (relabeled) label set into a target, or says why it is dropped.
pub fn populate(cfg: &ScrapeConfig, discovered: Labels, relabeled: Labels) -> Result<Target, String> {
    let address = relabeled.get("__address__").ok_or("no address")?.to_string();
    let scheme = relabeled.get("__scheme__").unwrap_or("http").to_string();
    let path = relabeled.get("__metrics_path__").unwrap_or("/metrics").to_string();
    let interval = parse_dur(relabeled.get("__scrape_interval__"), cfg.scrape_interval.as_std())?;
    let timeout = parse_dur(relabeled.get("__scrape_timeout__"), cfg.scrape_timeout.as_std())?;
    if timeout > interval {
        return Err(format!("scrape timeout {timeout:?} greater than scrape interval {interval:?}"));
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
        let q: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
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
    Ok(Target { labels: b.build(), discovered, url, interval, timeout })
}

fn parse_dur(v: Option<&str>, default: Duration) -> Result<Duration, String> {
    match v {
        None => Ok(default),
        Some(s) => sightline_config::parse_duration(s).map(|d| d.as_std()).map_err(|e| format!("invalid scrape interval/timeout {s:?}: {e}")),
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
        let d = discovered_labels(&cfg, "host:9100", &[("env".to_string(), "prod".to_string())].into());
        let t = populate(&cfg, d.clone(), d).unwrap();
        assert_eq!(t.url, "http://host:9100/metrics?module=a%20b");
        assert_eq!(t.labels, Labels::from_pairs([("env", "prod"), ("instance", "host:9100"), ("job", "node")]));
    }
}
