//! One scrape job's discovery: starts its providers, keeps the latest group
//! per (provider, source), and publishes the merged set at most once per
//! `throttle` (Prometheus's discovery manager sends every 5s), so a burst of
//! Kubernetes events becomes one target sync.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sightline_config::{FileSdConfig, GenericSdConfig, KubernetesSdConfig, StaticConfig};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::TargetGroup;

/// The sending half a provider gets; tags its groups with the provider's index.
#[derive(Clone, Debug)]
pub struct Updates {
    provider: usize,
    tx: mpsc::UnboundedSender<(usize, Vec<TargetGroup>)>,
}

impl Updates {
    /// A channel for driving a provider on its own (tests, tools).
    pub fn channel() -> (Updates, mpsc::UnboundedReceiver<(usize, Vec<TargetGroup>)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Updates { provider: 0, tx }, rx)
    }

    /// Sends groups; false once nobody listens (the provider should stop).
    pub fn send(&self, groups: Vec<TargetGroup>) -> bool {
        self.tx.send((self.provider, groups)).is_ok()
    }
}

#[derive(Clone, Debug)]
pub struct DiscoveryOptions {
    /// Minimum time between two published updates.
    pub throttle: Duration,
    /// Directory relative `file_sd` paths are resolved against (the config file's).
    pub base_dir: PathBuf,
    /// Name servers for `dns_sd_configs`; empty means the system's (`/etc/resolv.conf`).
    pub dns_servers: Vec<std::net::SocketAddr>,
}

/// The discovery sections of one scrape job or Alertmanager entry.
#[derive(Default, Clone, Copy)]
pub struct SdConfigs<'a> {
    pub statics: &'a [StaticConfig],
    pub files: &'a [FileSdConfig],
    pub kubes: &'a [KubernetesSdConfig],
    pub https: &'a [GenericSdConfig],
    pub dnss: &'a [GenericSdConfig],
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        DiscoveryOptions {
            throttle: Duration::from_secs(5),
            base_dir: PathBuf::from("."),
            dns_servers: Vec::new(),
        }
    }
}

/// The running providers of one job. Dropping it stops them.
pub struct Discovery {
    rx: watch::Receiver<Arc<Vec<TargetGroup>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Discovery {
    pub fn start(
        statics: &[StaticConfig],
        files: &[FileSdConfig],
        kubes: &[KubernetesSdConfig],
        opts: &DiscoveryOptions,
    ) -> Discovery {
        Self::start_with_http(statics, files, kubes, &[], opts)
    }

    /// [`Discovery::start`] plus `http_sd_configs` entries.
    pub fn start_with_http(
        statics: &[StaticConfig],
        files: &[FileSdConfig],
        kubes: &[KubernetesSdConfig],
        https: &[GenericSdConfig],
        opts: &DiscoveryOptions,
    ) -> Discovery {
        Self::start_sd(
            SdConfigs {
                statics,
                files,
                kubes,
                https,
                dnss: &[],
            },
            opts,
        )
    }

    /// Starts a provider for every section of `sd`.
    pub fn start_sd(sd: SdConfigs<'_>, opts: &DiscoveryOptions) -> Discovery {
        let SdConfigs {
            statics,
            files,
            kubes,
            https,
            dnss,
        } = sd;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        let mut provider = 0usize;
        // Static groups are known now: they go in as provider 0's first update.
        let _ = tx.send((provider, crate::static_groups(statics)));
        for f in files {
            provider += 1;
            let up = Updates {
                provider,
                tx: tx.clone(),
            };
            let sd = crate::file::FileDiscovery::new(f, &opts.base_dir);
            tasks.push(tokio::spawn(sd.run(up)));
        }
        for k in kubes {
            provider += 1;
            let up = Updates {
                provider,
                tx: tx.clone(),
            };
            match crate::kubernetes::KubernetesDiscovery::new(k) {
                Ok(sd) => tasks.push(tokio::spawn(sd.run(up))),
                Err(e) => {
                    tracing::error!(error = %e, role = %k.role, "cannot start Kubernetes discovery")
                }
            }
        }
        for h in https {
            provider += 1;
            let up = Updates {
                provider,
                tx: tx.clone(),
            };
            match crate::http_sd::HttpDiscovery::new(h) {
                Ok(sd) => tasks.push(tokio::spawn(sd.run(up))),
                Err(e) => tracing::error!(error = %e, "cannot start HTTP discovery"),
            }
        }
        for d in dnss {
            provider += 1;
            let up = Updates {
                provider,
                tx: tx.clone(),
            };
            match crate::dns_sd::DnsDiscovery::new(d, &opts.dns_servers) {
                Ok(sd) => tasks.push(tokio::spawn(sd.run(up))),
                Err(e) => tracing::error!(error = %e, "cannot start DNS discovery"),
            }
        }
        drop(tx);
        let (out_tx, out_rx) = watch::channel(Arc::new(Vec::new()));
        tasks.push(tokio::spawn(merge_loop(rx, out_tx, opts.throttle)));
        Discovery { rx: out_rx, tasks }
    }

    /// The merged groups; changes whenever a throttled update is published.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Vec<TargetGroup>>> {
        self.rx.clone()
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn merge_loop(
    mut rx: mpsc::UnboundedReceiver<(usize, Vec<TargetGroup>)>,
    out: watch::Sender<Arc<Vec<TargetGroup>>>,
    throttle: Duration,
) {
    let mut groups: BTreeMap<(usize, String), TargetGroup> = BTreeMap::new();
    let mut dirty = false;
    let mut last_sent: Option<Instant> = None;
    loop {
        let deadline = match (dirty, last_sent) {
            (false, _) => None,
            (true, None) => Some(Instant::now()),
            (true, Some(t)) => Some(t + throttle),
        };
        let msg = match deadline {
            Some(d) if d <= Instant::now() => None,
            Some(d) => tokio::select! {
                m = rx.recv() => Some(m),
                _ = tokio::time::sleep_until(d) => None,
            },
            None => Some(rx.recv().await),
        };
        match msg {
            Some(Some((p, update))) => {
                for g in update {
                    if g.targets.is_empty() {
                        dirty |= groups.remove(&(p, g.source.clone())).is_some();
                    } else if groups.get(&(p, g.source.clone())) != Some(&g) {
                        groups.insert((p, g.source.clone()), g);
                        dirty = true;
                    }
                }
            }
            // All providers ended: publish what is pending, then keep the last state.
            Some(None) => {
                if dirty {
                    let _ = out.send(Arc::new(groups.values().cloned().collect()));
                }
                return;
            }
            None => {
                dirty = false;
                last_sent = Some(Instant::now());
                if out
                    .send(Arc::new(groups.values().cloned().collect()))
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn merges_replaces_and_clears_by_source() {
        let (tx, rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = watch::channel(Arc::new(Vec::new()));
        tokio::spawn(merge_loop(rx, out_tx, Duration::from_millis(20)));
        let g = |s: &str, a: &str| TargetGroup {
            source: s.into(),
            targets: vec![crate::LabelSet::from([(
                "__address__".to_string(),
                a.to_string(),
            )])],
            labels: Default::default(),
        };
        tx.send((1, vec![g("a", "x:1"), g("b", "y:1")])).unwrap();
        out_rx.changed().await.unwrap();
        assert_eq!(out_rx.borrow().len(), 2);
        // Same source from another provider is a different group.
        tx.send((2, vec![g("a", "z:1")])).unwrap();
        tx.send((1, vec![TargetGroup::cleared("b"), g("a", "x:2")]))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        let now = out_rx.borrow_and_update().clone();
        let addrs: Vec<&str> = now
            .iter()
            .map(|g| g.targets[0]["__address__"].as_str())
            .collect();
        assert_eq!(addrs, ["x:2", "z:1"]);
    }
}
