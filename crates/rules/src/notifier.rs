//! Sending alerts: Prometheus's notifier. Alerts get the external labels
//! (alert labels win) and `alert_relabel_configs`, then go to the built-in
//! Alertmanager in-process and to every external Alertmanager over
//! `POST /api/v2/alerts` from a bounded queue. External Alertmanagers come
//! from each `alerting.alertmanagers` entry's service discovery and target
//! relabeling, as in Prometheus's `notifier` package.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use sightline_alertmanager::Alertmanager;
use sightline_alertmanager::alert::PostableAlert;
use sightline_alertmanager::labels::LabelSet;
use sightline_alertmanager::time::Ts;
use sightline_config::{AlertingConfig, AlertmanagerConfig, RelabelConfig};
use sightline_discovery::oauth2::OAuth2Source;
use sightline_discovery::{Discovery, DiscoveryOptions, TargetGroup};
use sightline_model::{Labels, LabelsBuilder};

use crate::alerting::Alert;
use crate::group::Outgoing;
use crate::template::table_link;

/// Prometheus's `--rules.alert.resend-delay` default.
pub const DEFAULT_RESEND_DELAY_MS: i64 = 60_000;
/// Alerts queued for external Alertmanagers (`--alertmanager.notification-queue-capacity`).
const QUEUE_CAPACITY: usize = 10_000;
/// Alerts per POST (Prometheus's `maxBatchSize`).
const MAX_BATCH: usize = 256;

/// One alert as sent to Alertmanagers. Times are Unix ms; 0 is unset.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyAlert {
    pub labels: Labels,
    pub annotations: Vec<(String, String)>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub generator_url: String,
}

impl NotifyAlert {
    /// The notifier's view of a rule alert (`sendAlerts` in `cmd/prometheus`):
    /// resolved alerts end at their resolution, others at `valid_until`.
    pub fn from_rule_alert(a: &Alert, expr: &str, external_url: &str) -> NotifyAlert {
        NotifyAlert {
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: a.fired_at,
            ends_at: if a.resolved_at != 0 {
                a.resolved_at
            } else {
                a.valid_until
            },
            generator_url: format!("{}{}", external_url.trim_end_matches('/'), table_link(expr)),
        }
    }

    fn to_postable(&self) -> PostableAlert {
        let mut labels = LabelSet::new();
        for l in self.labels.iter() {
            labels.insert(l.name.clone(), l.value.clone());
        }
        let mut ann = LabelSet::new();
        for (k, v) in &self.annotations {
            ann.insert(k.clone(), v.clone());
        }
        let ts = |ms: i64| (ms != 0).then(|| Ts::from_nanos(ms * 1_000_000));
        PostableAlert {
            labels,
            annotations: Some(ann),
            starts_at: ts(self.starts_at),
            ends_at: ts(self.ends_at),
            generator_url: Some(self.generator_url.clone()),
        }
    }

    /// The API v2 JSON body element.
    pub fn to_json(&self) -> serde_json::Value {
        let labels: serde_json::Map<String, serde_json::Value> = self
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone().into()))
            .collect();
        let ann: serde_json::Map<String, serde_json::Value> = self
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        let mut m = serde_json::Map::new();
        m.insert("labels".into(), labels.into());
        m.insert("annotations".into(), ann.into());
        if self.starts_at != 0 {
            m.insert("startsAt".into(), rfc3339(self.starts_at).into());
        }
        if self.ends_at != 0 {
            m.insert("endsAt".into(), rfc3339(self.ends_at).into());
        }
        m.insert("generatorURL".into(), self.generator_url.clone().into());
        serde_json::Value::Object(m)
    }
}

/// RFC 3339 UTC with milliseconds, as Go marshals a `time.Time` truncated to ms.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, mo, d) = crate::humanize::civil_from_days(days);
    let f = if frac == 0 {
        String::new()
    } else {
        format!(".{frac:03}").trim_end_matches('0').to_string()
    };
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}{f}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Where alerts go.
pub trait AlertSink: Send + Sync {
    fn send(&self, alerts: &[NotifyAlert]);

    /// What the sink reports for `prometheus_notifications_*`.
    fn stats(&self) -> SinkStats {
        SinkStats::default()
    }
}

/// A sink's share of the notifier's metrics.
#[derive(Debug, Clone, Default)]
pub struct SinkStats {
    pub queue_length: usize,
    pub queue_capacity: usize,
    /// Alerts dropped: queue overflow, or a batch no Alertmanager accepted.
    pub dropped: u64,
    pub alertmanagers_discovered: usize,
    /// Per Alertmanager URL: alerts sent, alerts in failed requests.
    pub per_alertmanager: BTreeMap<String, SendCounts>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SendCounts {
    pub sent: u64,
    pub errors: u64,
}

/// The built-in Alertmanager, fed in-process exactly as its `POST /api/v2/alerts` is.
pub struct BuiltinSink(pub Alertmanager);

impl AlertSink for BuiltinSink {
    fn send(&self, alerts: &[NotifyAlert]) {
        let errs = self
            .0
            .post_alerts(alerts.iter().map(NotifyAlert::to_postable).collect());
        for e in errs {
            tracing::warn!(error = %e, "built-in alertmanager refused an alert");
        }
    }

    /// The built-in Alertmanager always receives the alerts, so it counts as
    /// connected (`PrometheusNotConnectedToAlertmanagers` stays quiet).
    fn stats(&self) -> SinkStats {
        SinkStats {
            alertmanagers_discovered: 1,
            ..SinkStats::default()
        }
    }
}

/// The label holding an Alertmanager's push path (Prometheus's `pathLabel`).
pub const ALERTS_PATH_LABEL: &str = "__alerts_path__";

/// `path.Join("/", prefix, "/api/<version>/alerts")`: Prometheus's `postPath`.
pub fn post_path(prefix: &str, api_version: &str) -> String {
    let joined = format!("/{prefix}/api/{api_version}/alerts");
    let mut parts: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The URL of an Alertmanager's labels (`alertmanagerLabels.url()`): the
/// address is used as is, without a default port.
pub fn alertmanager_url(labels: &Labels) -> String {
    let path = labels.get(ALERTS_PATH_LABEL).unwrap_or("");
    let host = labels.get("__address__").unwrap_or("");
    let sep = if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
        "/"
    } else {
        ""
    };
    format!(
        "{}://{host}{sep}{path}",
        labels.get("__scheme__").unwrap_or("")
    )
}

/// Active and dropped Alertmanagers of one target group
/// (Prometheus's `AlertmanagerFromGroup`): target labels, then `__scheme__`
/// and `__alerts_path__` from the config, then the group's labels the target
/// lacks; `relabel_configs` decide. An address with a `/` fails the group.
pub fn alertmanagers_from_group(
    group: &TargetGroup,
    cfg: &AlertmanagerConfig,
) -> Result<(Vec<Labels>, Vec<Labels>), String> {
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    for t in &group.targets {
        let mut b = LabelsBuilder::new();
        for (k, v) in t {
            b.set(k.clone(), v.clone());
        }
        b.set("__scheme__".to_string(), cfg.scheme.clone());
        b.set(
            ALERTS_PATH_LABEL.to_string(),
            post_path(&cfg.path_prefix, &cfg.api_version),
        );
        for (k, v) in &group.labels {
            if !t.contains_key(k) {
                b.set(k.clone(), v.clone());
            }
        }
        let pre = b.build();
        match sightline_scrape::relabel::process(&pre, &cfg.relabel_configs) {
            None => dropped.push(pre),
            Some(l) => {
                let addr = l.get("__address__").unwrap_or("");
                if addr.contains('/') {
                    return Err(format!("{addr:?} is not a valid hostname"));
                }
                active.push(l);
            }
        }
    }
    Ok((active, dropped))
}

/// One `alerting.alertmanagers` entry: its discovery, HTTP client and the
/// Alertmanagers discovered so far.
pub struct AlertmanagerSet {
    cfg: AlertmanagerConfig,
    client: reqwest::Client,
    oauth2: Option<Arc<OAuth2Source>>,
    sigv4: Option<sightline_discovery::sigv4::SigV4>,
    /// Deduplicated push URLs.
    active: RwLock<Vec<String>>,
    dropped: RwLock<Vec<String>>,
    /// Shared with the set that replaces this one on a reload of the same entry.
    discovery: Arc<Discovery>,
    sync_task: tokio::task::JoinHandle<()>,
}

impl Drop for AlertmanagerSet {
    fn drop(&mut self) {
        self.sync_task.abort();
    }
}

type Client = (
    reqwest::Client,
    Option<Arc<OAuth2Source>>,
    Option<sightline_discovery::sigv4::SigV4>,
);

/// The entry's HTTP client; files (CA, credentials) are read now.
fn client_for(cfg: &AlertmanagerConfig) -> Result<Client, String> {
    let http = cfg.http_client_config();
    let oauth2 = OAuth2Source::from_config(&http)?;
    let sigv4 = sightline_discovery::sigv4::SigV4::from_config(cfg.sigv4.as_ref())?;
    let client = sightline_discovery::http::client_builder(&http)?
        .user_agent(concat!("Sightline/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    Ok((client, oauth2, sigv4))
}

impl AlertmanagerSet {
    /// Builds the client and starts discovery (inside a tokio runtime).
    pub fn start(
        cfg: &AlertmanagerConfig,
        opts: &DiscoveryOptions,
    ) -> Result<Arc<AlertmanagerSet>, String> {
        let client = client_for(cfg)?;
        for (name, _) in cfg
            .generic_sd_configs()
            .into_iter()
            .filter(|(n, _)| !matches!(*n, "http_sd_configs" | "dns_sd_configs"))
        {
            tracing::warn!(
                mechanism = name,
                "service discovery mechanism not implemented; it finds no Alertmanagers"
            );
        }
        let discovery = Arc::new(Discovery::start_sd(
            sightline_discovery::SdConfigs {
                statics: &cfg.static_configs,
                files: &cfg.file_sd_configs,
                kubes: &cfg.kubernetes_sd_configs,
                https: &cfg.http_sd_configs,
                dnss: &cfg.dns_sd_configs,
            },
            opts,
        ));
        Ok(Self::with_discovery(cfg, client, discovery))
    }

    /// A set for the same entry with a freshly built client (a reload reads
    /// certificate and credential files again, as Prometheus does) that keeps
    /// the running discovery and its Alertmanagers.
    pub fn renew(&self) -> Result<Arc<AlertmanagerSet>, String> {
        let client = client_for(&self.cfg)?;
        Ok(Self::with_discovery(
            &self.cfg,
            client,
            self.discovery.clone(),
        ))
    }

    fn with_discovery(
        cfg: &AlertmanagerConfig,
        (client, oauth2, sigv4): Client,
        discovery: Arc<Discovery>,
    ) -> Arc<AlertmanagerSet> {
        let mut rx = discovery.subscribe();
        let groups = rx.borrow_and_update().clone();
        let set = Arc::new_cyclic(|weak: &std::sync::Weak<AlertmanagerSet>| {
            let weak = weak.clone();
            AlertmanagerSet {
                cfg: cfg.clone(),
                client,
                oauth2,
                sigv4,
                active: RwLock::new(Vec::new()),
                dropped: RwLock::new(Vec::new()),
                discovery,
                sync_task: tokio::spawn(async move {
                    while rx.changed().await.is_ok() {
                        let groups = rx.borrow_and_update().clone();
                        let Some(set) = weak.upgrade() else { return };
                        set.sync(&groups);
                    }
                }),
            }
        });
        // The groups known now apply at once: no gap without Alertmanagers.
        set.sync(&groups);
        set
    }

    /// Replaces the Alertmanagers with those of `groups` (Prometheus's
    /// `alertmanagerSet.sync`): a failing group is skipped, URLs are deduplicated.
    pub fn sync(&self, groups: &[TargetGroup]) {
        let mut active: Vec<String> = Vec::new();
        let mut dropped = Vec::new();
        for g in groups {
            match alertmanagers_from_group(g, &self.cfg) {
                Ok((a, d)) => {
                    for l in a {
                        let u = alertmanager_url(&l);
                        if !active.contains(&u) {
                            active.push(u);
                        }
                    }
                    dropped.extend(d.iter().map(alertmanager_url));
                }
                Err(e) => {
                    tracing::error!(error = %e, "creating discovered Alertmanagers failed")
                }
            }
        }
        *self.active.write() = active;
        *self.dropped.write() = dropped;
    }

    /// Push URLs of the active Alertmanagers.
    pub fn active(&self) -> Vec<String> {
        self.active.read().clone()
    }

    /// URLs (before relabeling) of the Alertmanagers `relabel_configs` dropped.
    pub fn dropped(&self) -> Vec<String> {
        self.dropped.read().clone()
    }
}

/// Posts queued alerts to external Alertmanagers in batches; a full queue
/// drops the oldest alerts, as Prometheus does.
pub struct ExternalSink {
    sets: Arc<RwLock<Vec<Arc<AlertmanagerSet>>>>,
    opts: Mutex<DiscoveryOptions>,
    /// One queue and send loop per Alertmanager (Prometheus 3.x), keyed by
    /// the set it belongs to and its URL: a slow or dead Alertmanager delays
    /// only its own alerts.
    queues: Mutex<HashMap<(usize, String), Arc<AmQueue>>>,
    counts: Arc<Mutex<BTreeMap<String, SendCounts>>>,
    dropped: Arc<AtomicU64>,
}

/// The alerts waiting for one Alertmanager, and its send loop.
struct AmQueue {
    alerts: Mutex<VecDeque<NotifyAlert>>,
    wake: tokio::sync::Notify,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl AmQueue {
    /// Ends the send loop (the Alertmanager is gone); queued alerts are dropped.
    fn stop(&self) {
        if let Some(t) = self.task.lock().take() {
            t.abort();
        }
    }
}

impl Drop for ExternalSink {
    fn drop(&mut self) {
        for q in self.queues.lock().values() {
            q.stop();
        }
    }
}

impl ExternalSink {
    /// A sink with no Alertmanagers; queues start on the current tokio
    /// runtime as Alertmanagers are discovered.
    pub fn start() -> Arc<ExternalSink> {
        Arc::new(ExternalSink {
            sets: Arc::new(RwLock::new(Vec::new())),
            opts: Mutex::new(DiscoveryOptions::default()),
            queues: Mutex::new(HashMap::new()),
            counts: Arc::new(Mutex::new(BTreeMap::new())),
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The queue of `url` in `set`, started on first use.
    fn queue_for(&self, set: &Arc<AlertmanagerSet>, url: &str) -> Arc<AmQueue> {
        let key = (Arc::as_ptr(set) as usize, url.to_string());
        let mut queues = self.queues.lock();
        if let Some(q) = queues.get(&key) {
            return q.clone();
        }
        let q = Arc::new(AmQueue {
            alerts: Mutex::new(VecDeque::new()),
            wake: tokio::sync::Notify::new(),
            task: Mutex::new(None),
        });
        let q2 = q.clone();
        let (set, url2) = (set.clone(), url.to_string());
        let (counts, dropped) = (self.counts.clone(), self.dropped.clone());
        let task = tokio::spawn(async move {
            let q = q2;
            loop {
                let batch: Vec<NotifyAlert> = {
                    let mut a = q.alerts.lock();
                    let n = a.len().min(MAX_BATCH);
                    a.drain(..n).collect()
                };
                if batch.is_empty() {
                    let notified = q.wake.notified();
                    tokio::pin!(notified);
                    // Register before re-checking, so a wake between the two is not lost.
                    notified.as_mut().enable();
                    if !q.alerts.lock().is_empty() {
                        continue;
                    }
                    notified.await;
                    continue;
                }
                let n = batch.len() as u64;
                let body = bytes_of(&batch.iter().map(NotifyAlert::to_json).collect::<Vec<_>>());
                let ok = post_one(&set, &url2, body).await;
                let mut c = counts.lock();
                let e = c.entry(url2.clone()).or_default();
                // Prometheus counts every alert sent, and those of failed
                // requests as errors; a batch the Alertmanager did not take is dropped.
                e.sent += n;
                if !ok {
                    e.errors += n;
                    dropped.fetch_add(n, Ordering::Relaxed);
                }
            }
        });
        *q.task.lock() = Some(task);
        queues.insert(key, q.clone());
        q
    }

    /// Where relative `file_sd` paths are resolved (the config file's directory).
    pub fn set_config_dir(&self, dir: impl Into<std::path::PathBuf>) {
        self.opts.lock().base_dir = dir.into();
    }

    /// Minimum time between two target updates of one set (default 5s).
    pub fn set_update_throttle(&self, d: std::time::Duration) {
        self.opts.lock().throttle = d;
    }

    /// Builds the Alertmanager sets of an `alerting:` section without
    /// installing them; an entry whose HTTP client cannot be built fails all.
    /// Entries equal to a running one keep its discovery and Alertmanagers
    /// (with a rebuilt HTTP client).
    pub fn prepare(&self, cfg: &AlertingConfig) -> Result<Vec<Arc<AlertmanagerSet>>, String> {
        let opts = self.opts.lock().clone();
        let running = self.sets.read().clone();
        let mut out = Vec::new();
        for (i, am) in cfg.alertmanagers.iter().enumerate() {
            let set = match running.iter().find(|s| s.cfg == *am) {
                Some(s) => s.renew(),
                None => AlertmanagerSet::start(am, &opts),
            };
            out.push(set.map_err(|e| format!("alertmanager config {i}: {e}"))?);
        }
        Ok(out)
    }

    /// Replaces the running sets (config reload).
    pub fn install(&self, sets: Vec<Arc<AlertmanagerSet>>) {
        *self.sets.write() = sets;
    }

    /// [`Self::prepare`] then [`Self::install`].
    pub fn apply(&self, cfg: &AlertingConfig) -> Result<(), String> {
        let sets = self.prepare(cfg)?;
        self.install(sets);
        Ok(())
    }

    /// Active Alertmanager URLs, then dropped ones, over all sets in config
    /// order (`/api/v1/alertmanagers`).
    pub fn alertmanagers(&self) -> (Vec<String>, Vec<String>) {
        let sets = self.sets.read().clone();
        let mut active = Vec::new();
        let mut dropped = Vec::new();
        for s in sets {
            active.extend(s.active());
            dropped.extend(s.dropped());
        }
        (active, dropped)
    }
}

/// One POST of a batch to one Alertmanager; true on a 2xx answer.
async fn post_one(set: &AlertmanagerSet, url: &str, body: Vec<u8>) -> bool {
    let req = set
        .client
        .post(url)
        .timeout(set.cfg.timeout.as_std())
        .header("content-type", "application/json")
        .body(body);
    let req = match &set.oauth2 {
        Some(o) => match o.apply(req).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(alertmanager = %url, error = %e, "sending alerts failed");
                return false;
            }
        },
        None => req,
    };
    let mut req = match req.build() {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(alertmanager = %url, error = %e, "sending alerts failed");
            return false;
        }
    };
    if let Some(s) = &set.sigv4 {
        s.sign(&mut req, std::time::SystemTime::now());
    }
    match set.client.execute(req).await {
        Ok(r) if r.status().is_success() => true,
        Ok(r) => {
            tracing::warn!(alertmanager = %url, status = %r.status(), "sending alerts failed");
            false
        }
        Err(e) => {
            tracing::warn!(alertmanager = %url, error = %e, "sending alerts failed");
            false
        }
    }
}

fn bytes_of(alerts: &[serde_json::Value]) -> Vec<u8> {
    serde_json::to_vec(alerts).unwrap_or_default()
}

impl AlertSink for ExternalSink {
    fn send(&self, alerts: &[NotifyAlert]) {
        let sets = self.sets.read().clone();
        let mut live = std::collections::HashSet::new();
        for set in &sets {
            let urls = set.active();
            if urls.is_empty() {
                continue;
            }
            // The set's alert_relabel_configs apply before queueing.
            let relabeled: Vec<NotifyAlert> = alerts
                .iter()
                .filter_map(|a| {
                    let labels = sightline_scrape::relabel::process(
                        &a.labels,
                        &set.cfg.alert_relabel_configs,
                    )?;
                    (!labels.is_empty()).then(|| NotifyAlert {
                        labels,
                        ..a.clone()
                    })
                })
                .collect();
            for url in urls {
                live.insert((Arc::as_ptr(set) as usize, url.clone()));
                if relabeled.is_empty() {
                    continue;
                }
                let q = self.queue_for(set, &url);
                let mut a = q.alerts.lock();
                a.extend(relabeled.iter().cloned());
                let over = a.len().saturating_sub(QUEUE_CAPACITY);
                if over > 0 {
                    a.drain(..over);
                    self.dropped.fetch_add(over as u64, Ordering::Relaxed);
                    tracing::warn!(alertmanager = %url, dropped = over, "alert notification queue full, dropping alerts");
                }
                drop(a);
                q.wake.notify_one();
            }
        }
        // Alertmanagers no longer discovered (or of replaced sets) stop.
        self.queues.lock().retain(|k, q| {
            let keep = live.contains(k);
            if !keep {
                q.stop();
            }
            keep
        });
    }

    fn stats(&self) -> SinkStats {
        let sets = self.sets.read().clone();
        let queues = self.queues.lock();
        SinkStats {
            queue_length: queues.values().map(|q| q.alerts.lock().len()).sum(),
            queue_capacity: QUEUE_CAPACITY * queues.len().max(1),
            dropped: self.dropped.load(Ordering::Relaxed),
            alertmanagers_discovered: sets.iter().map(|s| s.active().len()).sum(),
            per_alertmanager: self.counts.lock().clone(),
        }
    }
}

/// Applies external labels and relabeling, then fans out to every sink.
pub struct Notifier {
    pub external_labels: RwLock<Vec<(String, String)>>,
    pub relabel: RwLock<Vec<RelabelConfig>>,
    pub external_url: RwLock<String>,
    pub sinks: RwLock<Vec<Arc<dyn AlertSink>>>,
}

impl Notifier {
    pub fn new(sinks: Vec<Arc<dyn AlertSink>>) -> Notifier {
        Notifier {
            external_labels: RwLock::new(Vec::new()),
            relabel: RwLock::new(Vec::new()),
            external_url: RwLock::new(String::new()),
            sinks: RwLock::new(sinks),
        }
    }

    /// Sends the alerts a group evaluation produced.
    pub fn send_outgoing(&self, out: &[Outgoing]) {
        let url = self.external_url.read().clone();
        let alerts: Vec<NotifyAlert> = out
            .iter()
            .flat_map(|o| {
                o.alerts
                    .iter()
                    .map(|a| NotifyAlert::from_rule_alert(a, &o.expr, &url))
                    .collect::<Vec<_>>()
            })
            .collect();
        self.send(alerts);
    }

    /// `prometheus_notifications_*` over every sink.
    pub fn expose_metrics(&self, e: &mut sightline_model::exposition::Exposition) {
        let mut total = SinkStats::default();
        for s in self.sinks.read().iter() {
            let st = s.stats();
            total.queue_length += st.queue_length;
            total.queue_capacity += st.queue_capacity;
            total.dropped += st.dropped;
            total.alertmanagers_discovered += st.alertmanagers_discovered;
            total.per_alertmanager.extend(st.per_alertmanager);
        }
        e.gauge1(
            "prometheus_notifications_queue_length",
            "The number of alert notifications in the queue.",
            total.queue_length as f64,
        );
        e.gauge1(
            "prometheus_notifications_queue_capacity",
            "The capacity of the alert notifications queue.",
            total.queue_capacity as f64,
        );
        e.counter1(
            "prometheus_notifications_dropped_total",
            "Total number of alerts dropped due to errors when sending to Alertmanager.",
            total.dropped as f64,
        );
        e.gauge1(
            "prometheus_notifications_alertmanagers_discovered",
            "The number of alertmanagers discovered and active.",
            total.alertmanagers_discovered as f64,
        );
        let per = |f: fn(&SendCounts) -> u64| -> Vec<(Vec<String>, f64)> {
            total
                .per_alertmanager
                .iter()
                .map(|(u, c)| (vec![u.clone()], f(c) as f64))
                .collect()
        };
        e.family_owned(
            "prometheus_notifications_sent_total",
            "counter",
            "Total number of alerts sent.",
            &["alertmanager"],
            &per(|c| c.sent),
        );
        e.family_owned(
            "prometheus_notifications_errors_total",
            "counter",
            "Total number of sent alerts affected by errors.",
            &["alertmanager"],
            &per(|c| c.errors),
        );
    }

    pub fn send(&self, alerts: Vec<NotifyAlert>) {
        if alerts.is_empty() {
            return;
        }
        let ext = self.external_labels.read().clone();
        let relabel = self.relabel.read().clone();
        let alerts: Vec<NotifyAlert> = alerts
            .into_iter()
            .filter_map(|mut a| {
                if !ext.is_empty() {
                    let mut b = a.labels.to_builder();
                    for (k, v) in &ext {
                        if a.labels.get(k).is_none() {
                            b.set(k.clone(), v.clone());
                        }
                    }
                    a.labels = b.build();
                }
                a.labels = sightline_scrape::relabel::process(&a.labels, &relabel)?;
                (!a.labels.is_empty()).then_some(a)
            })
            .collect();
        if alerts.is_empty() {
            return;
        }
        for s in self.sinks.read().iter() {
            s.send(&alerts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_435_065_584_128), "2015-06-23T13:19:44.128Z");
    }

    #[test]
    fn post_path_is_cleaned() {
        assert_eq!(post_path("", "v2"), "/api/v2/alerts");
        assert_eq!(post_path("/", "v2"), "/api/v2/alerts");
        assert_eq!(post_path("am/", "v2"), "/am/api/v2/alerts");
        assert_eq!(post_path("//a/./b/../c", "v2"), "/a/c/api/v2/alerts");
    }

    fn group(targets: &[&[(&str, &str)]], labels: &[(&str, &str)]) -> TargetGroup {
        let ls = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<sightline_discovery::LabelSet>()
        };
        TargetGroup {
            source: "0".into(),
            targets: targets.iter().map(|t| ls(t)).collect(),
            labels: ls(labels),
        }
    }

    fn am_config(yaml: &str) -> AlertmanagerConfig {
        sightline_config::load_str(&format!("alerting:\n  alertmanagers:\n{yaml}"), "p.yml")
            .unwrap()
            .alerting
            .alertmanagers
            .remove(0)
    }

    #[test]
    fn alertmanager_labels_as_prometheus() {
        // Config scheme/path override the target's; group labels fill in only.
        let cfg = am_config(
            "    - scheme: https\n      path_prefix: /p\n      relabel_configs:\n        - source_labels: [zone]\n          regex: b\n          action: drop\n",
        );
        let g = group(
            &[
                &[("__address__", "a:1"), ("__scheme__", "ftp"), ("zone", "a")],
                &[("__address__", "b")],
            ],
            &[("zone", "b")],
        );
        let (active, dropped) = alertmanagers_from_group(&g, &cfg).unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(alertmanager_url(&active[0]), "https://a:1/p/api/v2/alerts");
        assert_eq!(active[0].get("zone"), Some("a"));
        assert_eq!(alertmanager_url(&dropped[0]), "https://b/p/api/v2/alerts");
    }

    #[test]
    fn address_with_slash_after_relabeling_fails_the_group() {
        let cfg = am_config(
            "    - relabel_configs:\n        - target_label: __address__\n          replacement: host/path\n",
        );
        let g = group(&[&[("__address__", "a:1")]], &[]);
        let e = alertmanagers_from_group(&g, &cfg).unwrap_err();
        assert_eq!(e, "\"host/path\" is not a valid hostname");
    }

    #[test]
    fn relative_alerts_path_gets_a_slash() {
        let l = Labels::from_pairs([
            ("__scheme__", "http"),
            ("__address__", "h:1"),
            (ALERTS_PATH_LABEL, "x"),
        ]);
        assert_eq!(alertmanager_url(&l), "http://h:1/x");
    }

    struct Capture(Mutex<Vec<NotifyAlert>>);
    impl AlertSink for Capture {
        fn send(&self, a: &[NotifyAlert]) {
            self.0.lock().extend_from_slice(a);
        }
    }

    #[test]
    fn external_labels_do_not_override_and_relabel_drops() {
        let cap = Arc::new(Capture(Mutex::new(Vec::new())));
        let n = Notifier::new(vec![cap.clone()]);
        *n.external_labels.write() =
            vec![("dc".into(), "eu".into()), ("env".into(), "prod".into())];
        let rc: RelabelConfig =
            serde_saphyr::from_str("source_labels: [severity]\nregex: debug\naction: drop\n")
                .unwrap();
        *n.relabel.write() = vec![rc];
        let a = |sev: &str| NotifyAlert {
            labels: Labels::from_pairs([("alertname", "X"), ("env", "dev"), ("severity", sev)]),
            annotations: vec![],
            starts_at: 1,
            ends_at: 2,
            generator_url: String::new(),
        };
        n.send(vec![a("critical"), a("debug")]);
        let got = cap.0.lock().clone();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels.get("env"), Some("dev"));
        assert_eq!(got[0].labels.get("dc"), Some("eu"));
    }
}
