//! The scrape manager: one pool per job, one loop per target. Applying a new
//! config keeps loops whose target and settings are unchanged running,
//! starts new ones and stops (with staleness markers) the ones that went away.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sightline_config::{Config, ScrapeConfig};
use sightline_tsdb::Appendable;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::scrape_loop::{LoopSettings, ScrapeLoop, TargetHealth};
use crate::target::{Target, discovered_labels, populate};

/// A running loop and what `/api/v1/targets` needs about it.
pub struct ActiveTarget {
    pub job: String,
    pub target: Target,
    pub health: Arc<Mutex<TargetHealth>>,
    settings_key: String,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

/// A target dropped by relabeling or refused by validation.
#[derive(Clone, Debug)]
pub struct DroppedTarget {
    pub job: String,
    pub discovered: sightline_model::Labels,
    pub reason: String,
}

#[derive(Clone)]
pub struct ScrapeManager {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Appendable>,
    active: Mutex<HashMap<(String, u64), ActiveTarget>>,
    dropped: Mutex<Vec<DroppedTarget>>,
}

/// Snapshot of one target for the API.
#[derive(Clone, Debug)]
pub struct TargetInfo {
    pub job: String,
    pub target: Target,
    pub health: TargetHealth,
}

fn settings(cfg: &ScrapeConfig) -> LoopSettings {
    LoopSettings {
        honor_labels: cfg.honor_labels,
        honor_timestamps: cfg.honor_timestamps,
        sample_limit: cfg.sample_limit,
        label_limit: cfg.label_limit,
        accept: accept_header(cfg),
        body_limit: cfg.body_size_limit.0,
    }
}

/// The `Accept` header Prometheus sends for the configured protocols, with
/// decreasing q-values in the configured order.
fn accept_header(cfg: &ScrapeConfig) -> String {
    let mut parts = Vec::new();
    let mut q = 0.5f64;
    let mut first = true;
    for p in &cfg.scrape_protocols {
        let Some(h) = p.header_value() else { continue };
        if first {
            parts.push(h.to_string());
            first = false;
        } else {
            parts.push(format!("{h};q={q}"));
            q = (q - 0.1).max(0.1);
        }
    }
    parts.push("*/*;q=0.1".to_string());
    parts.join(",")
}

fn client_for(cfg: &ScrapeConfig) -> Result<reqwest::Client, String> {
    let http = cfg.http_client_config();
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("Sightline/", env!("CARGO_PKG_VERSION")))
        .redirect(if http.follow_redirects { reqwest::redirect::Policy::limited(10) } else { reqwest::redirect::Policy::none() })
        .pool_idle_timeout(Duration::from_secs(90));
    if !cfg.enable_compression {
        b = b.no_gzip();
    }
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(ba) = &http.basic_auth {
        let pass = if ba.password_file.is_empty() {
            ba.password.expose().to_string()
        } else {
            std::fs::read_to_string(&ba.password_file).map_err(|e| format!("password_file: {e}"))?.trim().to_string()
        };
        use base64::Engine;
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", ba.username, pass));
        headers.insert(reqwest::header::AUTHORIZATION, format!("Basic {v}").parse().map_err(|e| format!("basic_auth: {e}"))?);
    }
    if let Some(a) = &http.authorization {
        let cred = if a.credentials_file.is_empty() {
            a.credentials.expose().to_string()
        } else {
            std::fs::read_to_string(&a.credentials_file).map_err(|e| format!("credentials_file: {e}"))?.trim().to_string()
        };
        let kind = if a.auth_type.is_empty() { "Bearer" } else { a.auth_type.as_str() };
        headers.insert(reqwest::header::AUTHORIZATION, format!("{kind} {cred}").parse().map_err(|e| format!("authorization: {e}"))?);
    }
    b = b.default_headers(headers);
    b.build().map_err(|e| e.to_string())
}

impl ScrapeManager {
    pub fn new(store: Arc<dyn Appendable>) -> Self {
        ScrapeManager {
            inner: Arc::new(Inner { store, active: Mutex::new(HashMap::new()), dropped: Mutex::new(Vec::new()) }),
        }
    }

    /// Brings the running loops in line with `cfg`'s static targets.
    pub fn apply(&self, cfg: &Config) {
        let mut wanted: HashMap<(String, u64), (Target, LoopSettings, String, reqwest::Client)> = HashMap::new();
        let mut dropped = Vec::new();
        for sc in cfg.all_scrape_configs() {
            let client = match client_for(sc) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(job = %sc.job_name, error = %e, "cannot build HTTP client; job skipped");
                    continue;
                }
            };
            let st = settings(sc);
            let key_settings = format!("{st:?}{:?}", sc.http_client_config());
            for group in &sc.static_configs {
                for addr in &group.targets {
                    let discovered = discovered_labels(sc, addr, &group.labels);
                    match crate::relabel::process(&discovered, &sc.relabel_configs) {
                        None => dropped.push(DroppedTarget { job: sc.job_name.clone(), discovered, reason: "dropped by relabeling".into() }),
                        Some(relabeled) => match populate(sc, discovered.clone(), relabeled) {
                            Ok(t) => {
                                wanted.insert((sc.job_name.clone(), t.key()), (t, st.clone(), key_settings.clone(), client.clone()));
                            }
                            Err(reason) => dropped.push(DroppedTarget { job: sc.job_name.clone(), discovered, reason }),
                        },
                    }
                }
            }
        }
        let mut active = self.inner.active.lock();
        active.retain(|k, a| {
            let keep = wanted.get(k).is_some_and(|(t, _, sk, _)| *t == a.target && *sk == a.settings_key);
            if !keep {
                let _ = a.stop.send(true);
            }
            keep
        });
        for (k, (target, st, sk, client)) in wanted {
            if active.contains_key(&k) {
                continue;
            }
            let lp = ScrapeLoop::new(target.clone(), st, client, self.inner.store.clone());
            let health = lp.health.clone();
            let (tx, rx) = watch::channel(false);
            let handle = tokio::spawn(lp.run(rx));
            active.insert(k.clone(), ActiveTarget { job: k.0.clone(), target, health, settings_key: sk, stop: tx, handle });
        }
        *self.inner.dropped.lock() = dropped;
    }

    pub fn targets(&self) -> Vec<TargetInfo> {
        let mut v: Vec<TargetInfo> = self
            .inner
            .active
            .lock()
            .values()
            .map(|a| TargetInfo { job: a.job.clone(), target: a.target.clone(), health: a.health.lock().clone() })
            .collect();
        v.sort_by(|a, b| (&a.job, &a.target.labels).cmp(&(&b.job, &b.target.labels)));
        v
    }

    pub fn dropped(&self) -> Vec<DroppedTarget> {
        self.inner.dropped.lock().clone()
    }

    /// Stops every loop, letting each write its staleness markers.
    pub async fn stop(&self) {
        let loops: Vec<ActiveTarget> = self.inner.active.lock().drain().map(|(_, a)| a).collect();
        for a in &loops {
            let _ = a.stop.send(true);
        }
        for a in loops {
            let _ = tokio::time::timeout(Duration::from_secs(5), a.handle).await;
        }
    }
}
