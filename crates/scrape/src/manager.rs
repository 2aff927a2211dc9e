//! The scrape manager: one pool per job, one loop per target.
//!
//! Each pool runs its job's service discovery; every published set of target
//! groups is synced into loops: targets are relabeled and populated, loops
//! for unchanged targets keep running, new ones start and vanished ones stop
//! (writing staleness markers). Applying a new config keeps a pool's
//! discovery when its SD sections are unchanged and re-syncs the last known
//! groups under the new rules.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use sightline_config::{Config, ScrapeConfig};
use sightline_discovery::oauth2::OAuth2Source;
use sightline_discovery::{Discovery, DiscoveryOptions, TargetGroup};
use sightline_model::Labels;
use sightline_tsdb::Appendable;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::metrics::ScrapeMetrics;
use crate::scrape_loop::{LoopSettings, ScrapeLoop, TargetHealth, TargetMetadata};
use crate::target::{Target, discovered_labels, populate};

/// A running loop and what `/api/v1/targets` needs about it.
struct ActiveTarget {
    target: Target,
    health: Arc<Mutex<TargetHealth>>,
    metadata: Arc<Mutex<TargetMetadata>>,
    forced_error: Arc<Mutex<Option<String>>>,
    settings_key: String,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

/// A target dropped by relabeling or refused by validation.
#[derive(Clone, Debug)]
pub struct DroppedTarget {
    pub job: String,
    pub discovered: Labels,
    pub reason: String,
}

/// Snapshot of one target for the API.
#[derive(Clone, Debug)]
pub struct TargetInfo {
    pub job: String,
    pub target: Target,
    pub health: TargetHealth,
    /// The scrape pool's `scrape_interval`/`scrape_timeout` as configured.
    pub scrape_interval: String,
    pub scrape_timeout: String,
}

/// Metric metadata one target exposed.
#[derive(Clone, Debug)]
pub struct TargetMetadataInfo {
    pub job: String,
    pub target: Labels,
    pub metadata: TargetMetadata,
}

struct Pool {
    cfg: Arc<ScrapeConfig>,
    /// The SD sections, serialized: discovery restarts only when they change.
    sd_key: String,
    _discovery: Discovery,
    sync_task: JoinHandle<()>,
    client: reqwest::Client,
    /// Token source of an `oauth2:` block; tokens are added per scrape.
    oauth2: Option<Arc<OAuth2Source>>,
    settings: LoopSettings,
    settings_key: String,
    last_groups: Arc<Vec<TargetGroup>>,
    loops: HashMap<u64, ActiveTarget>,
    dropped: Vec<DroppedTarget>,
    dropped_total: usize,
}

#[derive(Clone)]
pub struct ScrapeManager {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Appendable>,
    pools: Mutex<HashMap<String, Pool>>,
    opts: Mutex<DiscoveryOptions>,
    metrics: Arc<ScrapeMetrics>,
}

fn settings(cfg: &ScrapeConfig) -> LoopSettings {
    LoopSettings {
        honor_labels: cfg.honor_labels,
        honor_timestamps: cfg.honor_timestamps,
        track_timestamps_staleness: cfg.track_timestamps_staleness,
        sample_limit: cfg.sample_limit,
        label_limit: cfg.label_limit,
        label_name_length_limit: cfg.label_name_length_limit,
        label_value_length_limit: cfg.label_value_length_limit,
        accept: accept_header(cfg),
        body_limit: cfg.body_size_limit.0,
        metric_relabel: Arc::new(cfg.metric_relabel_configs.clone()),
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

type ScrapeClient = (reqwest::Client, Option<Arc<OAuth2Source>>);

fn client_for(cfg: &ScrapeConfig) -> Result<ScrapeClient, String> {
    let oauth2 = OAuth2Source::from_config(&cfg.http_client_config())?;
    let mut b = sightline_discovery::http::client_builder(&cfg.http_client_config())?
        .user_agent(concat!("Sightline/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(90));
    if !cfg.enable_compression {
        b = b.no_gzip();
    }
    Ok((b.build().map_err(|e| e.to_string())?, oauth2))
}

fn sd_key(cfg: &ScrapeConfig) -> String {
    serde_json::json!([
        cfg.static_configs,
        cfg.file_sd_configs,
        cfg.kubernetes_sd_configs,
        cfg.http_sd_configs,
        cfg.dns_sd_configs
    ])
    .to_string()
}

impl ScrapeManager {
    pub fn new(store: Arc<dyn Appendable>) -> Self {
        ScrapeManager {
            inner: Arc::new(Inner {
                store,
                pools: Mutex::new(HashMap::new()),
                opts: Mutex::new(DiscoveryOptions::default()),
                metrics: Arc::new(ScrapeMetrics::default()),
            }),
        }
    }

    /// Where relative `file_sd` paths are resolved (the config file's directory).
    pub fn set_config_dir(&self, dir: impl Into<PathBuf>) {
        self.inner.opts.lock().base_dir = dir.into();
    }

    /// Name servers for `dns_sd_configs` instead of the system's (tests).
    pub fn set_dns_servers(&self, servers: Vec<std::net::SocketAddr>) {
        self.inner.opts.lock().dns_servers = servers;
    }

    /// Minimum time between two target syncs of one pool (default 5s, as Prometheus).
    pub fn set_update_throttle(&self, d: Duration) {
        self.inner.opts.lock().throttle = d;
    }

    /// Brings the pools in line with `cfg`.
    pub fn apply(&self, cfg: &Config) {
        let opts = self.inner.opts.lock().clone();
        let mut pools = self.inner.pools.lock();
        let mut seen: Vec<String> = Vec::new();
        for sc in cfg.all_scrape_configs() {
            let job = sc.job_name.clone();
            seen.push(job.clone());
            let (client, oauth2) = match client_for(sc) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(job = %job, error = %e, "cannot build HTTP client; job skipped");
                    if let Some(p) = pools.remove(&job) {
                        stop_pool(p);
                    }
                    continue;
                }
            };
            let st = settings(sc);
            let settings_key = format!("{st:?}{:?}", sc.http_client_config());
            let key = sd_key(sc);
            let reuse = pools.get(&job).is_some_and(|p| p.sd_key == key);
            if reuse {
                let p = pools.get_mut(&job).expect("checked");
                p.cfg = Arc::new(sc.clone());
                p.client = client;
                p.oauth2 = oauth2;
                p.settings = st;
                p.settings_key = settings_key;
                let groups = p.last_groups.clone();
                self.sync_pool(p, &job, &groups);
                continue;
            }
            let discovery = Discovery::start_sd(
                sightline_discovery::SdConfigs {
                    statics: &sc.static_configs,
                    files: &sc.file_sd_configs,
                    kubes: &sc.kubernetes_sd_configs,
                    https: &sc.http_sd_configs,
                    dnss: &sc.dns_sd_configs,
                },
                &opts,
            );
            let sync_task = tokio::spawn(sync_loop(
                Arc::downgrade(&self.inner),
                job.clone(),
                discovery.subscribe(),
            ));
            let old = pools.remove(&job);
            let pool = Pool {
                cfg: Arc::new(sc.clone()),
                sd_key: key,
                _discovery: discovery,
                sync_task,
                client,
                oauth2,
                settings: st,
                settings_key,
                last_groups: old
                    .as_ref()
                    .map(|o| o.last_groups.clone())
                    .unwrap_or_default(),
                // Loops carry over: the first sync from the new discovery diffs them.
                loops: HashMap::new(),
                dropped: Vec::new(),
                dropped_total: 0,
            };
            let mut pool = pool;
            if let Some(mut o) = old {
                o.sync_task.abort();
                pool.loops = std::mem::take(&mut o.loops);
                pool.dropped = std::mem::take(&mut o.dropped);
            }
            pools.insert(job, pool);
        }
        let gone: Vec<String> = pools
            .keys()
            .filter(|j| !seen.contains(j))
            .cloned()
            .collect();
        for j in gone {
            if let Some(p) = pools.remove(&j) {
                stop_pool(p);
            }
        }
    }

    /// Turns a pool's target groups into running loops.
    fn sync_pool(&self, pool: &mut Pool, job: &str, groups: &Arc<Vec<TargetGroup>>) {
        pool.last_groups = groups.clone();
        let sc = pool.cfg.clone();
        let mut wanted: HashMap<u64, Target> = HashMap::new();
        let mut dropped = Vec::new();
        let mut dropped_total = 0usize;
        let mut sync_failures = 0u64;
        let keep = sc.keep_dropped_targets as usize;
        let mut drop_target = |discovered: Labels, reason: String| {
            dropped_total += 1;
            if keep == 0 || dropped.len() < keep {
                dropped.push(DroppedTarget {
                    job: job.to_string(),
                    discovered,
                    reason,
                });
            }
        };
        for g in groups.iter() {
            for t in &g.targets {
                let discovered = discovered_labels(&sc, t, &g.labels);
                match crate::relabel::process(&discovered, &sc.relabel_configs) {
                    None => drop_target(discovered, "dropped by relabeling".into()),
                    Some(relabeled) => match populate(&sc, discovered.clone(), relabeled) {
                        Ok(t) => {
                            wanted.insert(t.key(), t);
                        }
                        Err(reason) => {
                            sync_failures += 1;
                            drop_target(discovered, reason)
                        }
                    },
                }
            }
        }
        self.inner.metrics.count_sync_failures(job, sync_failures);
        pool.dropped = dropped;
        pool.dropped_total = dropped_total;
        // Prometheus: beyond target_limit every target of the pool fails with this error.
        let forced = (sc.target_limit > 0 && wanted.len() as u64 > sc.target_limit).then(|| {
            format!(
                "target_limit exceeded (number of targets: {}, limit: {})",
                wanted.len(),
                sc.target_limit
            )
        });
        if forced.is_some() {
            ScrapeMetrics::inc(&self.inner.metrics.exceeded_target_limit, 1);
        }
        pool.loops.retain(|k, a| {
            let keep = wanted.get(k).is_some_and(|t| *t == a.target)
                && a.settings_key == pool.settings_key;
            if !keep {
                let _ = a.stop.send(true);
            }
            keep
        });
        for (k, target) in wanted {
            if pool.loops.contains_key(&k) {
                continue;
            }
            let lp = ScrapeLoop::new(
                target.clone(),
                pool.settings.clone(),
                pool.client.clone(),
                self.inner.store.clone(),
            )
            .with_oauth2(pool.oauth2.clone())
            .with_metrics(self.inner.metrics.clone());
            let (tx, rx) = watch::channel(false);
            let active = ActiveTarget {
                target,
                health: lp.health.clone(),
                metadata: lp.metadata.clone(),
                forced_error: lp.forced_error.clone(),
                settings_key: pool.settings_key.clone(),
                stop: tx,
                handle: tokio::spawn(lp.run(rx)),
            };
            pool.loops.insert(k, active);
        }
        for a in pool.loops.values() {
            *a.forced_error.lock() = forced.clone();
        }
    }

    pub fn targets(&self) -> Vec<TargetInfo> {
        let pools = self.inner.pools.lock();
        let mut v: Vec<TargetInfo> = pools
            .iter()
            .flat_map(|(job, p)| {
                p.loops.values().map(move |a| TargetInfo {
                    job: job.clone(),
                    target: a.target.clone(),
                    health: a.health.lock().clone(),
                    scrape_interval: p.cfg.scrape_interval.to_string(),
                    scrape_timeout: p.cfg.scrape_timeout.to_string(),
                })
            })
            .collect();
        v.sort_by(|a, b| (&a.job, &a.target.labels).cmp(&(&b.job, &b.target.labels)));
        v
    }

    pub fn dropped(&self) -> Vec<DroppedTarget> {
        let pools = self.inner.pools.lock();
        let mut jobs: Vec<&String> = pools.keys().collect();
        jobs.sort();
        jobs.into_iter()
            .flat_map(|j| pools[j].dropped.iter().cloned())
            .collect()
    }

    /// Dropped targets per pool, counting those beyond `keep_dropped_targets`.
    pub fn dropped_counts(&self) -> HashMap<String, usize> {
        self.inner
            .pools
            .lock()
            .iter()
            .map(|(j, p)| (j.clone(), p.dropped_total))
            .collect()
    }

    /// Job names of the configured pools, sorted.
    pub fn scrape_pools(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.pools.lock().keys().cloned().collect();
        v.sort();
        v
    }

    /// The metadata every active target last exposed.
    pub fn target_metadata(&self) -> Vec<TargetMetadataInfo> {
        let pools = self.inner.pools.lock();
        let mut v: Vec<TargetMetadataInfo> = pools
            .iter()
            .flat_map(|(job, p)| {
                p.loops.values().map(move |a| TargetMetadataInfo {
                    job: job.clone(),
                    target: a.target.labels.clone(),
                    metadata: a.metadata.lock().clone(),
                })
            })
            .collect();
        v.sort_by(|a, b| (&a.job, &a.target).cmp(&(&b.job, &b.target)));
        v
    }

    /// The scrape manager's metrics under Prometheus's names: limit hits and
    /// refused samples, and per job the targets discovered and scraped and the
    /// metadata entries held.
    pub fn expose_metrics(&self, e: &mut sightline_model::exposition::Exposition) {
        self.inner.metrics.expose(e);
        sightline_discovery::metrics::expose(e);
        let pools = self.inner.pools.lock();
        let mut jobs: Vec<&String> = pools.keys().collect();
        jobs.sort();
        let per_job = |f: &dyn Fn(&Pool) -> usize| -> Vec<(Vec<String>, f64)> {
            jobs.iter()
                .map(|j| (vec![(*j).clone()], f(&pools[*j]) as f64))
                .collect()
        };
        let targets = per_job(&|p| p.loops.len());
        let metadata = per_job(&|p| p.loops.values().map(|a| a.metadata.lock().len()).sum());
        let discovered: Vec<(Vec<String>, f64)> = jobs
            .iter()
            .map(|j| {
                let n: usize = pools[*j].last_groups.iter().map(|g| g.targets.len()).sum();
                (vec![(*j).clone(), "scrape".to_string()], n as f64)
            })
            .collect();
        e.family_owned(
            "prometheus_target_scrape_pool_targets",
            "gauge",
            "Current number of targets in this scrape pool.",
            &["scrape_job"],
            &targets,
        );
        e.family_owned(
            "prometheus_target_metadata_cache_entries",
            "gauge",
            "Total number of metric metadata entries in the cache",
            &["scrape_job"],
            &metadata,
        );
        e.family_owned(
            "prometheus_sd_discovered_targets",
            "gauge",
            "Current number of discovered targets.",
            &["config", "name"],
            &discovered,
        );
    }

    /// Stops every loop, letting each write its staleness markers.
    pub async fn stop(&self) {
        let pools: Vec<Pool> = self.inner.pools.lock().drain().map(|(_, p)| p).collect();
        let mut handles = Vec::new();
        for mut p in pools {
            p.sync_task.abort();
            for (_, a) in p.loops.drain() {
                let _ = a.stop.send(true);
                handles.push(a.handle);
            }
        }
        for h in handles {
            let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
        }
    }
}

fn stop_pool(mut p: Pool) {
    p.sync_task.abort();
    for (_, a) in p.loops.drain() {
        let _ = a.stop.send(true);
    }
}

/// Feeds a pool every update its discovery publishes.
async fn sync_loop(
    inner: Weak<Inner>,
    job: String,
    mut rx: watch::Receiver<Arc<Vec<TargetGroup>>>,
) {
    while rx.changed().await.is_ok() {
        let groups = rx.borrow_and_update().clone();
        let Some(inner) = inner.upgrade() else { return };
        let mgr = ScrapeManager { inner };
        let mut pools = mgr.inner.pools.lock();
        if let Some(p) = pools.get_mut(&job) {
            mgr.sync_pool(p, &job, &groups);
        }
    }
}
