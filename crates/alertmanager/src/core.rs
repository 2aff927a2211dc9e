//! The Alertmanager instance: state that survives reloads (alerts,
//! silences, notification log, history) and the config-derived runtime
//! (routing tree, receivers, inhibitor, templates, dispatcher) that a
//! reload replaces.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::RwLock;

use crate::alert::{Alert, PostableAlert};
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::history::History;
use crate::inhibit::Inhibitor;
use crate::metrics::{AmMetrics, Snapshot, config_hash_value};
use crate::nflog::NotificationLog;
use crate::notify::{Integration, build_integrations};
use crate::persist;
use crate::route::Route;
use crate::silence::Silences;
use crate::store::AlertStore;
use crate::template::Templates;
use crate::time::{Clock, SharedClock, Ts};
use crate::timeinterval::TimeInterval;

/// Start-up settings.
#[derive(Clone)]
pub struct Options {
    /// `<storage.path>/alertmanager`; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Used in templates and links (`--web.external-url`).
    pub external_url: String,
    pub clock: Clock,
    /// How long expired silences and notification log entries are kept.
    pub retention: Duration,
    /// How often resolved alerts are removed from the store.
    pub gc_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            data_dir: None,
            external_url: "http://localhost:9090".into(),
            clock: Clock::System,
            retention: Duration::from_secs(120 * 3600),
            gc_interval: Duration::from_secs(30 * 60),
        }
    }
}

/// State shared by every config generation.
pub struct Shared {
    pub clock: SharedClock,
    pub alerts: AlertStore,
    pub silences: Silences,
    pub nflog: NotificationLog,
    pub history: History,
    pub retention: Duration,
    pub persist_wake: tokio::sync::Notify,
    pub data_dir: Option<PathBuf>,
    pub started: Ts,
    /// The Alertmanager's own metrics (upstream names), kept across reloads.
    pub metrics: AmMetrics,
    alerts_dirty: AtomicBool,
    silences_dirty: AtomicBool,
}

/// What one loaded config runs.
pub struct Runtime {
    pub config: Config,
    pub config_yaml: String,
    pub route: Arc<Route>,
    pub inhibitor: Inhibitor,
    pub receivers: HashMap<String, Arc<Vec<Integration>>>,
    pub templates: Templates,
    pub intervals: HashMap<String, TimeInterval>,
    pub dispatcher: Arc<Dispatcher>,
}

#[derive(Clone)]
pub struct Alertmanager {
    pub shared: Arc<Shared>,
    runtime: Arc<RwLock<Arc<Runtime>>>,
    external_url: String,
    tasks: Arc<parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Alertmanager {
    /// Loads persisted state, applies `config` and starts the background tasks.
    /// Must be called inside a tokio runtime.
    pub fn start(config: Config, opts: Options) -> Result<Alertmanager, String> {
        // HTTP clients use rustls; pin its crypto provider (no-op if already set).
        let _ = rustls::crypto::ring::default_provider().install_default();
        if let Some(d) = &opts.data_dir {
            std::fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
        }
        let clock = Arc::new(opts.clock.clone());
        let now = clock.now();
        let dir = opts.data_dir.clone();
        let silences: Vec<crate::silence::Silence> = dir
            .as_deref()
            .map(|d| persist::read(d, persist::SILENCES))
            .unwrap_or_default();
        let nflog: Vec<(String, crate::nflog::Entry)> = dir
            .as_deref()
            .map(|d| persist::read(d, persist::NFLOG))
            .unwrap_or_default();
        let alerts: Vec<Alert> = dir
            .as_deref()
            .map(|d| persist::read(d, persist::ALERTS))
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            clock: clock.clone(),
            alerts: AlertStore::default(),
            silences: Silences::from_list(silences),
            nflog: NotificationLog::from_entries(nflog),
            history: History::open(dir.clone()),
            retention: opts.retention,
            persist_wake: tokio::sync::Notify::new(),
            data_dir: dir,
            started: now,
            metrics: AmMetrics::default(),
            alerts_dirty: AtomicBool::new(false),
            silences_dirty: AtomicBool::new(false),
        });
        shared.silences.gc(now, opts.retention);
        shared.nflog.gc(now);
        for a in alerts {
            shared.alerts.put(a, now);
        }
        let rt = Self::build_runtime(&shared, config, &opts.external_url)?;
        record_reload_success(&shared, &rt);
        let runtime = Arc::new(RwLock::new(rt));
        let am = Alertmanager {
            shared,
            runtime,
            external_url: opts.external_url.clone(),
            tasks: Arc::default(),
        };
        am.redispatch_all();
        am.spawn_background(opts.gc_interval);
        Ok(am)
    }

    fn build_runtime(
        shared: &Arc<Shared>,
        config: Config,
        external_url: &str,
    ) -> Result<Arc<Runtime>, String> {
        let route = Arc::new(Route::new(config.root_route()));
        let inhibitor = Inhibitor::new(&config.inhibit_rules);
        for a in shared.alerts.list() {
            inhibitor.observe(&a);
        }
        let mut receivers = HashMap::new();
        for r in &config.receivers {
            receivers.insert(r.name.clone(), Arc::new(build_integrations(r)?));
        }
        let templates = Templates::new(&config.templates, &config.base_dir, external_url)?;
        let mut intervals = HashMap::new();
        for ti in config.all_time_intervals() {
            intervals.insert(ti.name.clone(), TimeInterval::parse(ti)?);
        }
        let config_yaml = config.to_yaml();
        let slot: Slot = Arc::default();
        let flush: crate::dispatch::FlushFn = {
            let shared = shared.clone();
            let slot = slot.clone();
            Arc::new(move |group, now, alerts| {
                let shared = shared.clone();
                let rt = slot.read().as_ref().and_then(|w| w.upgrade());
                Box::pin(async move {
                    match rt {
                        Some(rt) => crate::pipeline::flush(shared, rt, group, now, alerts).await,
                        None => false,
                    }
                })
            })
        };
        let dispatcher = Dispatcher::new(route.clone(), shared.clock.clone(), flush);
        let rt = Arc::new(Runtime {
            config,
            config_yaml,
            route,
            inhibitor,
            receivers,
            templates,
            intervals,
            dispatcher,
        });
        fill(&slot, &rt);
        Ok(rt)
    }

    fn install(&self, rt: Arc<Runtime>) {
        let old = std::mem::replace(&mut *self.runtime.write(), rt);
        old.dispatcher.stop();
    }

    /// Replaces the configuration (a reload): groups are rebuilt from the
    /// alert store; the notification log prevents duplicate notifications.
    /// Records the outcome in `alertmanager_config_last_reload_*` and
    /// `alertmanager_config_hash`, as upstream's config coordinator does.
    pub fn apply_config(&self, config: Config) -> Result<(), String> {
        let rt = match Self::build_runtime(&self.shared, config, &self.external_url) {
            Ok(rt) => rt,
            Err(e) => {
                self.record_reload_failure();
                return Err(e);
            }
        };
        record_reload_success(&self.shared, &rt);
        self.install(rt);
        self.redispatch_all();
        Ok(())
    }

    fn redispatch_all(&self) {
        let rt = self.runtime();
        let mut alerts = self.shared.alerts.list();
        alerts.sort_by_key(|a| a.updated_at);
        for a in alerts {
            rt.dispatcher.process(&a);
        }
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.read().clone()
    }

    pub fn config(&self) -> Config {
        self.runtime().config.clone()
    }

    pub fn now(&self) -> Ts {
        self.shared.clock.now()
    }

    /// Ingests alerts as `POST /api/v2/alerts` does. Returns the validation
    /// errors of the alerts that were skipped (the valid ones are stored).
    ///
    /// Both the HTTP API and the in-process path Prometheus' rules use come
    /// through here, so this is where `alertmanager_alerts_received_total`
    /// (every alert, firing or resolved by its end time) and
    /// `alertmanager_alerts_invalid_total` are counted, as upstream's API does.
    pub fn post_alerts(&self, alerts: Vec<PostableAlert>) -> Vec<String> {
        let now = self.now();
        let rt = self.runtime();
        let resolve_timeout = rt.config.global.resolve_timeout.as_std();
        let mut errors = Vec::new();
        let alerts: Vec<Alert> = alerts
            .into_iter()
            .map(|p| {
                let a = p.into_alert(now, resolve_timeout);
                self.shared.metrics.received(!a.resolved_at(now));
                a
            })
            .collect();
        for a in alerts {
            if let Err(e) = a.validate() {
                self.shared.metrics.invalid();
                errors.push(e);
                continue;
            }
            let stored = self.shared.alerts.put(a, now);
            rt.inhibitor.observe(&stored);
            let state = if stored.resolved_at(now) {
                "resolved"
            } else {
                "firing"
            };
            self.shared
                .history
                .alert_state(now, stored.fingerprint(), &stored.labels, state, None);
            rt.dispatcher.process(&stored);
        }
        self.shared.alerts_dirty.store(true, Ordering::Release);
        errors
    }

    /// Records a failed configuration reload that never reached
    /// [`Alertmanager::apply_config`] (the file could not be read or parsed):
    /// `alertmanager_config_last_reload_successful` drops to 0.
    pub fn record_reload_failure(&self) {
        self.shared.metrics.reload_failed();
    }

    /// The Alertmanager's own metrics in the text exposition format (0.0.4),
    /// under upstream Alertmanager's names, labels and help texts, for the
    /// `/metrics` handler to append to its body:
    ///
    /// - `alertmanager_alerts{state="active"|"suppressed"|"unprocessed"}`:
    ///   non-resolved alerts in the store; the state is computed as the API
    ///   computes it (silenced or inhibited now), so `unprocessed` is 0.
    /// - `alertmanager_alerts_received_total{status,version="v2"}`,
    ///   `alertmanager_alerts_invalid_total{version="v2"}`
    /// - `alertmanager_notifications_total{integration}`,
    ///   `alertmanager_notifications_failed_total{integration,reason}`,
    ///   `alertmanager_notification_requests_total{integration}`,
    ///   `alertmanager_notification_requests_failed_total{integration}`,
    ///   `alertmanager_notification_latency_seconds` (histogram, buckets
    ///   1, 5, 10, 15, 20 s), every upstream integration pre-initialised.
    /// - `alertmanager_silences{state="active"|"pending"|"expired"}`
    /// - `alertmanager_config_hash` (upstream's value: the first 48 bits of
    ///   the MD5 of the config file's text), `alertmanager_config_last_reload_successful`,
    ///   `alertmanager_config_last_reload_success_timestamp_seconds`
    /// - `alertmanager_dispatcher_aggregation_groups`
    /// - `alertmanager_nflog_queries_total`, `alertmanager_nflog_query_errors_total`
    ///
    /// A `String` rather than writing into a `sightline_model::exposition::Exposition`:
    /// that writer has no histogram family, and the latency histogram's
    /// `_bucket`/`_sum`/`_count` lines must sit under one header.
    pub fn expose_metrics_text(&self) -> String {
        let now = self.now();
        let rt = self.runtime();
        let mut alerts = [0usize; 3];
        for a in self.shared.alerts.list() {
            if a.resolved_at(now) {
                continue;
            }
            let suppressed = rt.inhibitor.inhibited_by(&a.labels, now).is_some()
                || !self.shared.silences.silenced_by(&a.labels, now).is_empty();
            alerts[usize::from(suppressed)] += 1;
        }
        let mut silences = [0usize; 3];
        for s in self.shared.silences.list() {
            silences[match s.state(now) {
                crate::silence::SilenceState::Active => 0,
                crate::silence::SilenceState::Pending => 1,
                crate::silence::SilenceState::Expired => 2,
            }] += 1;
        }
        self.shared.metrics.render(&Snapshot {
            alerts,
            silences,
            aggregation_groups: rt.dispatcher.group_count(),
        })
    }

    /// Marks silences changed and writes them out before returning, so an
    /// acknowledged silence survives a crash.
    pub fn silences_changed(&self) {
        self.shared.silences_dirty.store(true, Ordering::Release);
        if let Err(e) = self.write_snapshots(false) {
            tracing::error!(error = %e, "writing silences snapshot");
        }
    }

    /// Writes the snapshots that changed (`all`: every one).
    pub fn write_snapshots(&self, all: bool) -> std::io::Result<()> {
        let Some(dir) = &self.shared.data_dir else {
            return Ok(());
        };
        if self.shared.silences_dirty.swap(false, Ordering::AcqRel) || all {
            persist::write_atomic(dir, persist::SILENCES, &self.shared.silences.list())?;
        }
        if self.shared.nflog.take_dirty() || all {
            persist::write_atomic(dir, persist::NFLOG, &self.shared.nflog.entries())?;
        }
        Ok(())
    }

    fn write_alerts(&self) -> std::io::Result<()> {
        let Some(dir) = &self.shared.data_dir else {
            return Ok(());
        };
        if self.shared.alerts_dirty.swap(false, Ordering::AcqRel) {
            persist::write_atomic(dir, persist::ALERTS, &self.shared.alerts.list())?;
        }
        Ok(())
    }

    fn spawn_background(&self, gc_interval: Duration) {
        // Snapshots: the notification log as soon as it changes, alerts every 5 s.
        let am = self.clone();
        let persister = tokio::spawn(async move {
            let mut last_alerts = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = am.shared.persist_wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                let a = am.clone();
                let write_alerts = last_alerts.elapsed() >= Duration::from_secs(5);
                if write_alerts {
                    last_alerts = tokio::time::Instant::now();
                }
                let _ = tokio::task::spawn_blocking(move || {
                    if let Err(e) = a.write_snapshots(false) {
                        tracing::error!(error = %e, "writing alertmanager snapshots");
                    }
                    if write_alerts && let Err(e) = a.write_alerts() {
                        tracing::error!(error = %e, "writing alert snapshot");
                    }
                })
                .await;
            }
        });
        // Maintenance: empty groups every 30 s; timeout resolutions for the
        // history every 5 s; resolved alerts and old silences every gc_interval.
        let am = self.clone();
        let maint = tokio::spawn(async move {
            let mut tick = 0u64;
            let mut last_gc = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                tick += 1;
                let now = am.now();
                // Only the resolved alerts are copied out, not all of them every 5 s.
                for a in am.shared.alerts.resolved(now) {
                    if am.shared.history.last_state(a.fingerprint()).as_deref() != Some("resolved")
                    {
                        am.shared.history.alert_state(
                            a.ends_at,
                            a.fingerprint(),
                            &a.labels,
                            "resolved",
                            None,
                        );
                    }
                }
                if tick.is_multiple_of(6) {
                    am.runtime().dispatcher.maintenance();
                }
                if last_gc.elapsed() >= gc_interval {
                    last_gc = tokio::time::Instant::now();
                    let rt = am.runtime();
                    for fp in am.shared.alerts.gc(now) {
                        rt.inhibitor.forget(fp);
                        am.shared.history.forget(fp);
                    }
                    am.shared.alerts_dirty.store(true, Ordering::Release);
                    if am.shared.silences.gc(now, am.shared.retention) > 0 {
                        am.shared.silences_dirty.store(true, Ordering::Release);
                    }
                    am.shared.nflog.gc(now);
                }
            }
        });
        self.tasks.lock().extend([persister, maint]);
    }

    /// Stops background work and writes every snapshot (clean shutdown).
    pub fn shutdown(&self) {
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
        self.runtime().dispatcher.stop();
        self.shared.alerts_dirty.store(true, Ordering::Release);
        if let Err(e) = self.write_snapshots(true).and_then(|_| self.write_alerts()) {
            tracing::error!(error = %e, "writing alertmanager snapshots at shutdown");
        }
    }
}

/// A reload (or the start) that installed `rt`: upstream sets the success
/// gauge, its timestamp and the config hash.
fn record_reload_success(shared: &Shared, rt: &Runtime) {
    let md5 = rt
        .config
        .source_md5
        .unwrap_or_else(|| crate::metrics::md5(&rt.config_yaml));
    let now = shared.clock.now().nanos() as f64 / 1e9;
    shared
        .metrics
        .reload_succeeded(now, config_hash_value(&md5));
}

/// Where a dispatcher's flush closure finds the runtime it belongs to
/// (filled once the runtime is in its `Arc`).
type Slot = Arc<RwLock<Option<std::sync::Weak<Runtime>>>>;

fn fill(slot: &Slot, rt: &Arc<Runtime>) {
    *slot.write() = Some(Arc::downgrade(rt));
}
