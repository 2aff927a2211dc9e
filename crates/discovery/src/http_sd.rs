//! `http_sd_configs`: target groups fetched from an HTTP endpoint every
//! `refresh_interval`, as Prometheus's `discovery/http` does. The endpoint
//! answers `200` with `application/json`: an array of
//! `{"targets": [...], "labels": {...}}`. Each group gets `__meta_url`; a
//! failed refresh keeps the groups last sent.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use sightline_config::{GenericSdConfig, HttpClientConfig};

use crate::oauth2::OAuth2Source;
use crate::{ADDRESS_LABEL, LabelSet, TargetGroup, Updates};

const DEFAULT_REFRESH: Duration = Duration::from_secs(60);

pub struct HttpDiscovery {
    url: String,
    refresh: Duration,
    client: reqwest::Client,
    oauth2: Option<Arc<OAuth2Source>>,
    /// Groups sent by the last successful refresh (to clear removed ones).
    sent: usize,
}

#[derive(serde::Deserialize)]
struct Group {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: Option<LabelSet>,
}

impl HttpDiscovery {
    /// From a loosely parsed `http_sd_configs` entry (already validated:
    /// `url` present with an http(s) scheme).
    pub fn new(cfg: &GenericSdConfig) -> Result<HttpDiscovery, String> {
        let mut rest = cfg.0.clone();
        let url = match rest.remove("url") {
            Some(serde_json::Value::String(u)) => u,
            _ => return Err("http_sd_configs: URL is missing".into()),
        };
        let refresh = match rest.remove("refresh_interval") {
            Some(serde_json::Value::String(s)) => sightline_config::parse_duration(&s)
                .map_err(|e| format!("http_sd_configs refresh_interval: {e}"))?
                .as_std(),
            _ => DEFAULT_REFRESH,
        };
        let http: HttpClientConfig = serde_json::from_value(serde_json::Value::Object(rest))
            .map_err(|e| format!("http_sd_configs: {e}"))?;
        let client = crate::http::client_builder(&http)?
            .user_agent(concat!("Sightline/", env!("CARGO_PKG_VERSION")))
            .timeout(refresh.max(Duration::from_secs(1)))
            .build()
            .map_err(|e| format!("http_sd_configs: {e}"))?;
        Ok(HttpDiscovery {
            url,
            refresh: if refresh.is_zero() {
                DEFAULT_REFRESH
            } else {
                refresh
            },
            client,
            oauth2: OAuth2Source::from_config(&http)?,
            sent: 0,
        })
    }

    /// One refresh: the groups to send (current plus cleared leftovers).
    pub async fn refresh(&mut self) -> Result<Vec<TargetGroup>, String> {
        let mut req = self
            .client
            .get(&self.url)
            .header(ACCEPT, "application/json")
            .header(
                "X-Prometheus-Refresh-Interval-Seconds",
                format!("{}", self.refresh.as_secs_f64()),
            );
        if let Some(o) = &self.oauth2 {
            req = o.apply(req).await?;
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(format!("server returned HTTP status {}", resp.status()));
        }
        let ct = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if !is_json(&ct) {
            return Err(format!("unsupported content type {ct:?}"));
        }
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        let groups: Vec<Option<Group>> =
            serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let mut out: Vec<TargetGroup> = groups
            .into_iter()
            .enumerate()
            .map(|(i, g)| {
                let g = g.unwrap_or(Group {
                    targets: Vec::new(),
                    labels: None,
                });
                let mut labels = g.labels.unwrap_or_default();
                labels.insert("__meta_url".into(), self.url.clone());
                TargetGroup {
                    source: format!("{}:{i}", self.url),
                    targets: g
                        .targets
                        .into_iter()
                        .map(|t| LabelSet::from([(ADDRESS_LABEL.to_string(), t)]))
                        .collect(),
                    labels,
                }
            })
            .collect();
        let n = out.len();
        for i in n..self.sent {
            out.push(TargetGroup::cleared(format!("{}:{i}", self.url)));
        }
        self.sent = n;
        Ok(out)
    }

    pub async fn run(mut self, up: Updates) {
        loop {
            match self.refresh().await {
                Ok(groups) => {
                    if !up.send(groups) {
                        return;
                    }
                }
                Err(e) => {
                    crate::metrics::count_refresh_failure(crate::metrics::Mechanism::Http);
                    tracing::error!(url = %self.url, error = %e, "http_sd refresh failed; keeping the last targets")
                }
            }
            tokio::time::sleep(self.refresh).await;
        }
    }
}

/// Prometheus's check, `^application/json;?.*$`: any type starting so.
fn is_json(ct: &str) -> bool {
    ct.starts_with("application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(!is_json("application/x-json"));
        assert!(!is_json("text/plain"));
    }
}
