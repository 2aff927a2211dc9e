//! Outbound remote write (`remote_write:` in prometheus.yml): one queue per
//! entry, each with a WAL watcher feeding sharded senders, as Prometheus's
//! remote storage does. Samples written before a queue starts are not sent
//! (Prometheus's watcher skips them too); while a remote is down the watcher
//! waits in the WAL, so nothing is dropped until the WAL itself is truncated.

mod metrics;
mod queue;
mod watcher;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use sightline_config::{Config, RemoteWriteConfig};
use sightline_model::exposition::Exposition;
use tokio::sync::{mpsc, watch};

pub use metrics::QueueMetrics;
pub use queue::MetadataSource;

/// A running queue and what identifies it across reloads.
struct Queue {
    key: String,
    remote_name: String,
    url: String,
    max_shards: usize,
    min_shards: usize,
    metrics: Arc<QueueMetrics>,
    stop_watcher: Arc<AtomicBool>,
    stop_senders: watch::Sender<bool>,
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.stop_watcher.store(true, Ordering::Relaxed);
        let _ = self.stop_senders.send(true);
    }
}

/// An entry's HTTP client, OAuth 2.0 token source and SigV4 signer.
type Client = (
    reqwest::Client,
    Option<Arc<sightline_discovery::oauth2::OAuth2Source>>,
    Option<sightline_discovery::sigv4::SigV4>,
);

/// A per-queue metric family: name, type, help, value of a queue.
type QueueFamily = (&'static str, &'static str, &'static str, fn(&Queue) -> f64);

/// Owns the queues of the current config's `remote_write` entries.
pub struct RemoteWriteManager {
    wal: PathBuf,
    /// Newest sample timestamp (ms) in local storage, for
    /// `prometheus_remote_storage_highest_timestamp_in_seconds`.
    highest_ts: Arc<dyn Fn() -> Option<i64> + Send + Sync>,
    /// Metric metadata to send (`metadata_config`).
    metadata: queue::MetadataSource,
    queues: Mutex<Vec<Queue>>,
    poll: Duration,
    reshard_every: Duration,
}

impl RemoteWriteManager {
    /// `storage` is the TSDB directory whose WAL the queues follow.
    pub fn new(
        storage: &std::path::Path,
        highest_ts: Box<dyn Fn() -> Option<i64> + Send + Sync>,
        metadata: queue::MetadataSource,
    ) -> Self {
        RemoteWriteManager {
            wal: sightline_tsdb::wal_tail::wal_dir(storage),
            highest_ts: Arc::from(highest_ts),
            metadata,
            queues: Mutex::new(Vec::new()),
            poll: Duration::from_millis(100),
            // Prometheus's shardUpdateDuration.
            reshard_every: Duration::from_secs(10),
        }
    }

    /// How often a caught-up watcher looks for new WAL bytes (default 100ms).
    pub fn set_poll_interval(&mut self, d: Duration) {
        self.poll = d;
    }

    /// How often each queue reconsiders its shard count (default 10s).
    pub fn set_reshard_interval(&mut self, d: Duration) {
        self.reshard_every = d;
    }

    /// Brings the queues in line with `cfg`: unchanged entries keep running,
    /// changed and new ones (re)start from now, removed ones stop. Must run
    /// inside a tokio runtime.
    pub fn apply(&self, cfg: &Config) -> Result<(), String> {
        let external: Vec<(String, String)> = cfg
            .global
            .external_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut guard = self.queues.lock();
        // Everything that can fail (HTTP clients, credentials) first: a bad
        // entry leaves the running queues untouched.
        let mut plan = Vec::new();
        for rw in &cfg.remote_write {
            let key = format!("{external:?}{rw:?}");
            let reuse = guard.iter().any(|q| q.key == key);
            let client = if reuse {
                None
            } else {
                Some(self.client_for(rw)?)
            };
            plan.push((rw, key, client));
        }
        let mut old = std::mem::take(&mut *guard);
        let mut new = Vec::new();
        for (rw, key, client) in plan {
            match client {
                None => {
                    let i = old
                        .iter()
                        .position(|q| q.key == key)
                        .expect("checked above");
                    new.push(old.remove(i));
                }
                Some(c) => new.push(self.start(rw, &external, key, c)),
            }
        }
        // Dropping the rest stops them.
        drop(old);
        *guard = new;
        Ok(())
    }

    /// The entry's HTTP client, OAuth 2.0 source and SigV4 signer.
    fn client_for(&self, rw: &RemoteWriteConfig) -> Result<Client, String> {
        let http = rw.http_client_config();
        let oauth2 = sightline_discovery::oauth2::OAuth2Source::from_config(&http)?;
        let sigv4 = sightline_discovery::sigv4::SigV4::from_config(rw.sigv4.as_ref())
            .map_err(|e| format!("remote_write {}: {e}", rw.url))?;
        let client = sightline_discovery::http::client_builder(&http)?
            .user_agent(concat!("Sightline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("remote_write {}: {e}", rw.url))?;
        Ok((client, oauth2, sigv4))
    }

    fn start(
        &self,
        rw: &RemoteWriteConfig,
        external: &[(String, String)],
        key: String,
        (client, oauth2, sigv4): Client,
    ) -> Queue {
        let q = &rw.queue_config;
        let settings = queue::SendSettings {
            url: rw.url.clone(),
            v2: rw.protobuf_message == "io.prometheus.write.v2.Request",
            timeout: rw.remote_timeout.as_std(),
            headers: rw
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            max_samples_per_send: q.max_samples_per_send.max(1) as usize,
            batch_send_deadline: q.batch_send_deadline.as_std(),
            min_backoff: q.min_backoff.as_std(),
            max_backoff: q.max_backoff.as_std(),
            retry_on_429: q.retry_on_rate_limit,
        };
        let metrics = Arc::new(QueueMetrics::default());
        let sender = Arc::new(queue::Sender {
            settings: Arc::new(settings),
            client,
            oauth2,
            sigv4,
            metrics: metrics.clone(),
        });
        let min_shards = q.min_shards.max(1) as usize;
        let max_shards = (q.max_shards.max(1) as usize).max(min_shards);
        // Room for `capacity` samples per shard in flight between watcher and senders.
        let room = (q.capacity.max(1) as usize * min_shards / 512).clamp(4, 1024);
        let (tx, rx) = mpsc::channel(room);
        let (stop_tx, stop_rx) = watch::channel(false);
        // 2.0 would carry metadata per series; Sightline sends it with 1.0 only.
        if rw.metadata_config.send && !sender.settings.v2 {
            tokio::spawn(queue::metadata_loop(
                sender.clone(),
                self.metadata.clone(),
                rw.metadata_config.send_interval.as_std(),
                rw.metadata_config.max_samples_per_send.max(1) as usize,
                stop_rx.clone(),
            ));
        }
        let sharding = queue::Sharding {
            min: min_shards,
            max: max_shards,
            every: self.reshard_every,
        };
        tokio::spawn(queue::run(
            sender,
            rx,
            sharding,
            self.highest_ts.clone(),
            stop_rx,
        ));
        let stop_watcher = Arc::new(AtomicBool::new(false));
        let ws = watcher::WatcherSettings {
            wal: self.wal.clone(),
            start_ms: now_ms(),
            external_labels: external.to_vec(),
            relabel: rw.write_relabel_configs.clone(),
            poll: self.poll,
            // 2.0 requests from Sightline carry samples only.
            send_exemplars: rw.send_exemplars
                && rw.protobuf_message != "io.prometheus.write.v2.Request",
        };
        let (m, stop) = (metrics.clone(), stop_watcher.clone());
        if let Err(e) = std::thread::Builder::new()
            .name("remote-write-wal".into())
            .spawn(move || watcher::run(ws, tx, m, stop))
        {
            tracing::error!(url = %rw.url, error = %e, "remote write: cannot start the WAL watcher thread");
        }
        let remote_name = if rw.name.is_empty() {
            short_hash(&key)
        } else {
            rw.name.clone()
        };
        tracing::info!(url = %rw.url, remote_name = %remote_name, "remote write queue started");
        Queue {
            key,
            remote_name,
            url: rw.url.clone(),
            max_shards,
            min_shards,
            metrics,
            stop_watcher,
            stop_senders: stop_tx,
        }
    }

    /// Stops every queue.
    pub fn stop(&self) {
        self.queues.lock().clear();
    }

    /// `prometheus_remote_storage_*` of every queue.
    pub fn expose_metrics(&self, e: &mut Exposition) {
        if let Some(t) = (self.highest_ts)() {
            e.gauge1(
                "prometheus_remote_storage_highest_timestamp_in_seconds",
                "Highest timestamp that has come into the remote storage via the Appender interface, in seconds since epoch.",
                t as f64 / 1000.0,
            );
        }
        let queues = self.queues.lock();
        let names = ["remote_name", "url"];
        let each = |f: fn(&Queue) -> f64| -> Vec<(Vec<String>, f64)> {
            queues
                .iter()
                .map(|q| (vec![q.remote_name.clone(), q.url.clone()], f(q)))
                .collect()
        };
        let families: [QueueFamily; 18] = [
            (
                "prometheus_remote_storage_samples_total",
                "counter",
                "Total number of samples sent to remote storage.",
                |q| QueueMetrics::get(&q.metrics.samples_sent) as f64,
            ),
            (
                "prometheus_remote_storage_samples_failed_total",
                "counter",
                "Total number of samples which failed on send to remote storage, non-recoverable errors.",
                |q| QueueMetrics::get(&q.metrics.samples_failed) as f64,
            ),
            (
                "prometheus_remote_storage_samples_retried_total",
                "counter",
                "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.",
                |q| QueueMetrics::get(&q.metrics.samples_retried) as f64,
            ),
            (
                "prometheus_remote_storage_samples_dropped_total",
                "counter",
                "Total number of samples which were dropped after being read from the WAL before being sent via remote write, either via relabelling, due to being too old or unintentionally because of an unknown reference ID.",
                |q| QueueMetrics::get(&q.metrics.samples_dropped) as f64,
            ),
            (
                "prometheus_remote_storage_samples_pending",
                "gauge",
                "The number of samples pending in the queues shards to be sent to the remote storage.",
                |q| q.metrics.pending() as f64,
            ),
            (
                "prometheus_remote_storage_bytes_total",
                "counter",
                "The total number of bytes of data (not metadata) sent by the queue after compression.",
                |q| QueueMetrics::get(&q.metrics.bytes_sent) as f64,
            ),
            (
                "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
                "gauge",
                "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch.",
                |q| q.metrics.highest_sent_ms.load(Ordering::Relaxed).max(0) as f64 / 1000.0,
            ),
            (
                "prometheus_remote_storage_metadata_total",
                "counter",
                "Total number of metadata entries sent to remote storage.",
                |q| QueueMetrics::get(&q.metrics.metadata_sent) as f64,
            ),
            (
                "prometheus_remote_storage_metadata_failed_total",
                "counter",
                "Total number of metadata entries which failed on send to remote storage, non-recoverable errors.",
                |q| QueueMetrics::get(&q.metrics.metadata_failed) as f64,
            ),
            (
                "prometheus_remote_storage_metadata_retried_total",
                "counter",
                "Total number of metadata entries which failed on send to remote storage but were retried because the send error was recoverable.",
                |q| QueueMetrics::get(&q.metrics.metadata_retried) as f64,
            ),
            (
                "prometheus_remote_storage_metadata_bytes_total",
                "counter",
                "The total number of bytes of metadata sent by the queue after compression.",
                |q| QueueMetrics::get(&q.metrics.metadata_bytes) as f64,
            ),
            (
                "prometheus_remote_storage_exemplars_total",
                "counter",
                "Total number of exemplars sent to remote storage.",
                |q| QueueMetrics::get(&q.metrics.exemplars_sent) as f64,
            ),
            (
                "prometheus_remote_storage_exemplars_failed_total",
                "counter",
                "Total number of exemplars which failed on send to remote storage, non-recoverable errors.",
                |q| QueueMetrics::get(&q.metrics.exemplars_failed) as f64,
            ),
            (
                "prometheus_remote_storage_exemplars_retried_total",
                "counter",
                "Total number of exemplars which failed on send to remote storage but were retried because the send error was recoverable.",
                |q| QueueMetrics::get(&q.metrics.exemplars_retried) as f64,
            ),
            (
                "prometheus_remote_storage_shards",
                "gauge",
                "The number of shards used for parallel sending to the remote storage.",
                |q| q.metrics.shards.load(Ordering::Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_shards_desired",
                "gauge",
                "The number of shards that the queues shard calculation wants to run based on the rate of samples in vs. samples out.",
                |q| q.metrics.shards_desired.load(Ordering::Relaxed) as f64,
            ),
            (
                "prometheus_remote_storage_shards_max",
                "gauge",
                "The maximum number of shards that the queue is allowed to run.",
                |q| q.max_shards as f64,
            ),
            (
                "prometheus_remote_storage_shards_min",
                "gauge",
                "The minimum number of shards that the queue is allowed to run.",
                |q| q.min_shards as f64,
            ),
        ];
        for (name, kind, help, f) in families {
            e.family_owned(name, kind, help, &names, &each(f));
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Prometheus names an unnamed queue by a hash of its config: six hex digits.
fn short_hash(s: &str) -> String {
    let h = sightline_model::hash_pairs(std::iter::once(("remote_write", s)));
    format!("{:06x}", h & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::Labels;
    use sightline_tsdb::{Appendable, Db, Options};
    use std::collections::HashMap as Map;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A receiver taking 40 ms per request: per series, the timestamps it got in order.
    async fn slow_sink() -> (u16, Arc<Mutex<Map<String, Vec<i64>>>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let got: Arc<Mutex<Map<String, Vec<i64>>>> = Default::default();
        let g = got.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let g = g.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = vec![0u8; 1 << 16];
                    loop {
                        let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        while buf.len() < p + 4 + len {
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let raw =
                            sightline_remote::decompress_snappy(&buf[p + 4..p + 4 + len], 1 << 28)
                                .unwrap();
                        buf.drain(..p + 4 + len);
                        tokio::time::sleep(Duration::from_millis(40)).await;
                        let w =
                            sightline_remote::decode_proto(sightline_remote::WriteProto::V1, &raw)
                                .unwrap();
                        {
                            let mut g = g.lock();
                            for series in w.series {
                                let e = g
                                    .entry(series.labels.get("i").unwrap().to_string())
                                    .or_default();
                                e.extend(series.samples.iter().map(|s| s.t));
                            }
                        }
                        if s.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        (port, got)
    }

    #[tokio::test]
    async fn a_bad_entry_on_reload_keeps_the_running_queues() {
        let dir = tempfile::tempdir().unwrap();
        let mgr = RemoteWriteManager::new(dir.path(), Box::new(|| None), Arc::new(Vec::new));
        let good = "remote_write:\n  - url: http://127.0.0.1:9/a\n";
        mgr.apply(&sightline_config::load_str(good, "p.yml").unwrap())
            .unwrap();
        let key = mgr.queues.lock()[0].key.clone();
        // A SigV4 block with keys but no region (and none in the environment
        // of this test) cannot be signed for.
        let bad = "remote_write:\n  - url: http://127.0.0.1:9/a\n  - url: http://127.0.0.1:9/b\n    sigv4: {access_key: A, secret_key: S}\n";
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            let err = mgr
                .apply(&sightline_config::load_str(bad, "p.yml").unwrap())
                .unwrap_err();
            assert!(err.contains("no region"), "{err}");
            let q = mgr.queues.lock();
            assert_eq!(q.len(), 1);
            assert_eq!(q[0].key, key);
        }
        mgr.stop();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reshards_up_when_one_shard_cannot_keep_up_and_keeps_series_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
        let (port, got) = slow_sink().await;
        let head_db = db.clone();
        let newest = move || Some(head_db.head().max_t.load(Ordering::Relaxed));
        let mut mgr = RemoteWriteManager::new(dir.path(), Box::new(newest), Arc::new(Vec::new));
        mgr.set_poll_interval(Duration::from_millis(10));
        mgr.set_reshard_interval(Duration::from_millis(400));
        let cfg = sightline_config::load_str(
            &format!(
                "remote_write:\n  - url: http://127.0.0.1:{port}/w\n    queue_config: {{max_samples_per_send: 100, batch_send_deadline: 50ms, max_shards: 8}}\n    metadata_config: {{send: false}}\n"
            ),
            "p.yml",
        )
        .unwrap();
        mgr.apply(&cfg).unwrap();
        // 200 series, a sample each every 5 ms for 1.5 s: 40k samples/s, where
        // one shard at 40 ms per 100 samples manages 2.5k/s (reading the WAL
        // is never what limits it).
        let series: Vec<Labels> = (0..200)
            .map(|i| Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())]))
            .collect();
        let t0 = now_ms() + 1;
        let rounds = 300i64;
        let writer = {
            let db = db.clone();
            std::thread::spawn(move || {
                for r in 0..rounds {
                    let mut app = db.appender();
                    for l in &series {
                        app.append(l, t0 + r * 5, r as f64).unwrap();
                    }
                    app.commit().unwrap();
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let metrics = mgr.queues.lock()[0].metrics.clone();
        // The most shards seen while the queue works through the backlog
        // (it scales back down once caught up).
        let mut most = 1;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            most = most.max(metrics.shards.load(Ordering::Relaxed));
            let n: usize = got.lock().values().map(Vec::len).sum();
            if n == 200 * rounds as usize {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{n} samples arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        writer.join().unwrap();
        assert!(most > 1, "never more than one shard");
        // Resharding flushes the old shards first: every series arrived in order.
        for (i, ts) in got.lock().iter() {
            assert!(
                ts.windows(2).all(|w| w[0] < w[1]),
                "series {i} out of order"
            );
            assert_eq!(ts.len(), rounds as usize);
        }
        mgr.stop();
    }
}
