//! The rule manager: loads rule files, runs one evaluation loop per group on
//! its time grid, applies reloads (unchanged groups keep running, changed
//! ones take over their predecessor's alert state, removed ones mark their
//! series stale) and restores `for` state once after start.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use sightline_promql::Engine;
use sightline_tsdb::{Appendable, Queryable};

use crate::eval::EvalContext;
use crate::file::{self, RuleFileError};
use crate::group::Group;
use crate::notifier::{DEFAULT_RESEND_DELAY_MS, Notifier};
use crate::restore::{RestoreOptions, restore_for_state};

/// Settings that a configuration reload may change.
#[derive(Clone)]
pub struct Settings {
    pub engine: Engine,
    pub default_interval_ms: i64,
    pub default_query_offset_ms: i64,
    pub external_labels: Vec<(String, String)>,
    pub external_url: String,
}

struct Running {
    group: Arc<Mutex<Group>>,
    stop: Arc<tokio::sync::Notify>,
}

struct Inner {
    queryable: Arc<dyn Queryable>,
    appendable: Arc<dyn Appendable>,
    notifier: Arc<Notifier>,
    restore: RestoreOptions,
    resend_delay_ms: i64,
    settings: RwLock<Option<Settings>>,
    groups: RwLock<Vec<Running>>,
    /// Set after the first load: groups of later reloads are not restored.
    loaded_once: Mutex<bool>,
}

/// A per-group metric family: name, type, help, value of a group.
type GroupFamily = (&'static str, &'static str, &'static str, fn(&Group) -> f64);

/// Cheap to clone; all clones drive the same rules.
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Manager {
    pub fn new(
        queryable: Arc<dyn Queryable>,
        appendable: Arc<dyn Appendable>,
        notifier: Arc<Notifier>,
    ) -> Manager {
        Manager {
            inner: Arc::new(Inner {
                queryable,
                appendable,
                notifier,
                restore: RestoreOptions::default(),
                resend_delay_ms: DEFAULT_RESEND_DELAY_MS,
                settings: RwLock::new(None),
                groups: RwLock::new(Vec::new()),
                loaded_once: Mutex::new(false),
            }),
        }
    }

    pub fn notifier(&self) -> &Arc<Notifier> {
        &self.inner.notifier
    }

    fn context(&self, s: &Settings) -> EvalContext {
        EvalContext::new(
            s.engine.clone(),
            self.inner.queryable.clone(),
            s.external_labels.clone(),
            s.external_url.clone(),
        )
    }

    /// Loads `files` and replaces the running groups (Prometheus's `Update`).
    /// On a load error nothing changes. Must be called inside a tokio runtime.
    pub fn update(&self, files: &[std::path::PathBuf], s: Settings) -> Result<(), RuleFileError> {
        let specs = file::load_files(files)?;
        *self.inner.notifier.external_url.write() = s.external_url.clone();
        *self.inner.notifier.external_labels.write() = s.external_labels.clone();
        let mut first = self.inner.loaded_once.lock();
        let restore = !*first;
        *first = true;
        drop(first);
        let mut old = std::mem::take(&mut *self.inner.groups.write());
        let mut new = Vec::new();
        for spec in specs {
            let mut g = Group::new(spec, s.default_interval_ms, s.default_query_offset_ms);
            let pos = old.iter().position(|r| {
                let o = r.group.lock();
                o.name == g.name && o.file == g.file
            });
            if let Some(i) = pos {
                let same = old[i].group.lock().same_definition(&g);
                if same {
                    // Unchanged groups keep running undisturbed.
                    new.push(old.remove(i));
                    continue;
                }
                let prev = old.remove(i);
                prev.stop.notify_one();
                g.copy_state(&prev.group.lock());
            }
            g.should_restore = restore;
            if !restore {
                g.set_restored();
            }
            new.push(self.spawn(g));
        }
        // Groups that disappeared: stop them and end their series.
        let now = now_ms();
        for r in old {
            r.stop.notify_one();
            r.group
                .lock()
                .mark_all_stale(self.inner.appendable.as_ref(), now);
        }
        *self.inner.settings.write() = Some(s);
        *self.inner.groups.write() = new;
        Ok(())
    }

    fn spawn(&self, g: Group) -> Running {
        let group = Arc::new(Mutex::new(g));
        let stop = Arc::new(tokio::sync::Notify::new());
        let (m, gr, st) = (self.clone(), group.clone(), stop.clone());
        tokio::spawn(async move { m.run_group(gr, st).await });
        Running { group, stop }
    }

    async fn sleep_until_ms(stop: &tokio::sync::Notify, t: i64) -> bool {
        let wait = (t - now_ms()).max(0) as u64;
        tokio::select! {
            _ = stop.notified() => false,
            _ = tokio::time::sleep(Duration::from_millis(wait)) => true,
        }
    }

    /// The evaluation loop of one group: first evaluation on the next grid
    /// point, then every interval; missed iterations are skipped, not caught up.
    async fn run_group(self, group: Arc<Mutex<Group>>, stop: Arc<tokio::sync::Notify>) {
        let interval = group.lock().interval_ms;
        let mut ts = group.lock().eval_timestamp(now_ms()) + interval;
        let mut evals = 0u64;
        loop {
            if !Self::sleep_until_ms(&stop, ts).await {
                return;
            }
            let (m, g) = (self.clone(), group.clone());
            let t = ts;
            let done = tokio::task::spawn_blocking(move || {
                m.eval_group_at(&g, t);
            })
            .await;
            if done.is_err() {
                tracing::error!("rule group evaluation panicked");
            }
            evals += 1;
            let now = now_ms();
            let missed = ((now - ts) / interval - 1).max(0);
            if missed > 0 {
                let mut g = group.lock();
                tracing::warn!(group = %g.name, missed, "rule group evaluation missed iterations");
                g.counters.iterations += missed as u64;
                g.counters.iterations_missed += missed as u64;
            }
            ts += (missed + 1) * interval;
            // Restore after the second evaluation, once recording rules had a chance to run.
            if evals == 2 && group.lock().should_restore {
                let (m, g) = (self.clone(), group.clone());
                let _ = tokio::task::spawn_blocking(move || m.restore_group(&g, now_ms())).await;
            }
        }
    }

    /// Evaluates one group at `ts` and sends its alerts (also the test hook).
    pub fn eval_group_at(&self, group: &Mutex<Group>, ts: i64) {
        let Some(s) = self.inner.settings.read().clone() else {
            return;
        };
        let ctx = self.context(&s);
        let out = group.lock().eval(
            &ctx,
            self.inner.appendable.as_ref(),
            ts,
            self.inner.resend_delay_ms,
        );
        self.inner.notifier.send_outgoing(&out);
    }

    fn restore_group(&self, group: &Mutex<Group>, ts: i64) {
        let mut g = group.lock();
        restore_for_state(
            &mut g,
            self.inner.queryable.as_ref(),
            ts,
            self.inner.restore,
        );
        g.should_restore = false;
    }

    /// Snapshot of the groups for the API, in file then load order.
    pub fn groups(&self) -> Vec<Group> {
        self.inner
            .groups
            .read()
            .iter()
            .map(|r| r.group.lock().clone())
            .collect()
    }

    /// The groups' metrics under Prometheus's names (`prometheus_rule_*`,
    /// labeled `rule_group="<file>;<group>"`).
    pub fn expose_metrics(&self, e: &mut sightline_model::exposition::Exposition) {
        let groups = self.groups();
        let each = |f: fn(&Group) -> f64| -> Vec<(Vec<String>, f64)> {
            groups
                .iter()
                .map(|g| (vec![format!("{};{}", g.file, g.name)], f(g)))
                .collect()
        };
        let families: [GroupFamily; 8] = [
            (
                "prometheus_rule_evaluations_total",
                "counter",
                "The total number of rule evaluations.",
                |g| g.counters.evaluations as f64,
            ),
            (
                "prometheus_rule_evaluation_failures_total",
                "counter",
                "The total number of rule evaluation failures.",
                |g| g.counters.evaluation_failures as f64,
            ),
            (
                "prometheus_rule_group_iterations_total",
                "counter",
                "The total number of scheduled rule group evaluations, whether executed or missed.",
                |g| g.counters.iterations as f64,
            ),
            (
                "prometheus_rule_group_iterations_missed_total",
                "counter",
                "The total number of rule group evaluations missed due to slow rule group evaluation.",
                |g| g.counters.iterations_missed as f64,
            ),
            (
                "prometheus_rule_group_rules",
                "gauge",
                "The number of rules.",
                |g| g.rules.len() as f64,
            ),
            (
                "prometheus_rule_group_interval_seconds",
                "gauge",
                "The interval of a rule group.",
                |g| g.interval_ms as f64 / 1000.0,
            ),
            (
                "prometheus_rule_group_last_duration_seconds",
                "gauge",
                "The duration of the last rule group evaluation.",
                |g| g.eval_seconds,
            ),
            (
                "prometheus_rule_group_last_evaluation_timestamp_seconds",
                "gauge",
                "The timestamp of the last rule group evaluation in seconds.",
                |g| g.last_eval as f64 / 1000.0,
            ),
        ];
        for (name, kind, help, f) in families {
            e.family_owned(name, kind, help, &["rule_group"], &each(f));
        }
        self.inner.notifier.expose_metrics(e);
    }

    /// Stops every evaluation loop.
    pub fn stop(&self) {
        for r in self.inner.groups.read().iter() {
            r.stop.notify_one();
        }
    }
}
