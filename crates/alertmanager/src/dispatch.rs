//! The dispatcher (`dispatch/dispatch.go`): one aggregation group per
//! (route, group labels), each with a single timer. A group flushes first
//! after `group_wait` (at once if its alert is older than that), then on
//! every `group_interval` tick; what a flush sends is up to the pipeline.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::alert::Alert;
use crate::labels::{LabelSet, alert_order, fingerprint, labelset_before, labelset_string};
use crate::route::Route;
use crate::time::{SharedClock, Ts};

/// Notifies one flush; returns whether every integration succeeded.
pub type FlushFn = Arc<dyn Fn(Arc<AggrGroup>, Ts, Vec<Alert>) -> BoxFuture + Send + Sync>;

pub type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>;

pub struct AggrGroup {
    pub labels: LabelSet,
    pub route: Arc<Route>,
    /// `<route key>:<group labels>`, as in webhook `groupKey`.
    pub key: String,
    state: Mutex<GroupState>,
    wake: tokio::sync::Notify,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

struct GroupState {
    alerts: HashMap<u64, Alert>,
    has_flushed: bool,
    next: Instant,
}

impl AggrGroup {
    /// Current alerts, sorted as Alertmanager sorts them.
    pub fn alerts(&self) -> Vec<Alert> {
        let mut v: Vec<Alert> = self.state.lock().alerts.values().cloned().collect();
        v.sort_by(|a, b| alert_order(&a.labels, &b.labels));
        v
    }

    pub fn is_empty(&self) -> bool {
        self.state.lock().alerts.is_empty()
    }

    fn insert(&self, a: Alert, now: Ts) {
        let mut st = self.state.lock();
        // Alerts older than group_wait flush the (never flushed) group at once.
        let overdue = a.starts_at.add(self.route.opts.group_wait) < now;
        st.alerts.insert(a.fingerprint(), a);
        if !st.has_flushed && overdue {
            st.next = Instant::now();
            drop(st);
            self.wake.notify_one();
        }
    }

    fn stop(&self) {
        if let Some(t) = self.task.lock().take() {
            t.abort();
        }
    }

    async fn run(self: Arc<Self>, clock: SharedClock, flush: FlushFn) {
        loop {
            let next = self.state.lock().next;
            // A due flush (group_wait 0, an overdue alert) goes out at once:
            // tokio's timer rounds deadlines up to the next millisecond and
            // fires on the driver's next turn, ~1 ms on the
            // POST → notification path.
            if next > Instant::now() {
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = self.wake.notified() => continue,
                }
            }
            let now = clock.now();
            let snapshot: Vec<Alert> = {
                let mut st = self.state.lock();
                // Re-arm first: ticks stay periodic however long sending takes.
                st.next = Instant::now() + self.route.opts.group_interval;
                st.has_flushed = true;
                st.alerts.values().cloned().collect()
            };
            let mut alerts = Vec::with_capacity(snapshot.len());
            let mut resolved = Vec::new();
            for mut a in snapshot {
                if a.resolved_at(now) {
                    resolved.push(a.clone());
                } else {
                    // Firing alerts are reported without an end time.
                    a.ends_at = Ts::ZERO;
                }
                alerts.push(a);
            }
            alerts.sort_by(|a, b| alert_order(&a.labels, &b.labels));
            if flush(self.clone(), now, alerts).await {
                // Resolved alerts that were just notified leave the group,
                // unless they changed during the flush.
                let mut st = self.state.lock();
                for r in resolved {
                    let fp = r.fingerprint();
                    if st
                        .alerts
                        .get(&fp)
                        .is_some_and(|cur| cur.updated_at == r.updated_at)
                    {
                        st.alerts.remove(&fp);
                    }
                }
            }
        }
    }
}

/// Groups by (route id, group labels fingerprint).
pub struct Dispatcher {
    route: Arc<Route>,
    groups: Mutex<HashMap<(usize, u64), Arc<AggrGroup>>>,
    clock: SharedClock,
    flush: FlushFn,
}

/// A group as the API shows it.
pub struct GroupView {
    pub labels: LabelSet,
    pub receiver: String,
    pub alerts: Vec<Alert>,
}

impl Dispatcher {
    pub fn new(route: Arc<Route>, clock: SharedClock, flush: FlushFn) -> Arc<Dispatcher> {
        Arc::new(Dispatcher {
            route,
            groups: Mutex::new(HashMap::new()),
            clock,
            flush,
        })
    }

    /// Routes an alert (new, updated or resolved) into its groups.
    pub fn process(&self, a: &Alert) {
        let now = self.clock.now();
        for r in self.route.match_labels(&a.labels) {
            let gl = r.group_labels(&a.labels);
            let id = (r.id, fingerprint(&gl));
            let mut groups = self.groups.lock();
            if let Some(g) = groups.get(&id) {
                g.insert(a.clone(), now);
                continue;
            }
            let route = Arc::new(r.clone_shallow());
            let key = format!("{}:{}", route.key, labelset_string(&gl));
            let g = Arc::new(AggrGroup {
                labels: gl,
                key,
                state: Mutex::new(GroupState {
                    alerts: HashMap::new(),
                    has_flushed: false,
                    next: Instant::now() + route.opts.group_wait,
                }),
                route,
                wake: tokio::sync::Notify::new(),
                task: Mutex::new(None),
            });
            g.insert(a.clone(), now);
            let handle = tokio::spawn(g.clone().run(self.clock.clone(), self.flush.clone()));
            *g.task.lock() = Some(handle);
            groups.insert(id, g);
        }
    }

    /// Drops groups left empty (Alertmanager does this every 30s).
    pub fn maintenance(&self) {
        self.groups.lock().retain(|_, g| {
            let keep = !g.is_empty();
            if !keep {
                g.stop();
            }
            keep
        });
    }

    pub fn stop(&self) {
        for (_, g) in self.groups.lock().drain() {
            g.stop();
        }
    }

    pub fn group_count(&self) -> usize {
        self.groups.lock().len()
    }

    /// Non-empty groups whose route passes `route_filter`, alerts filtered by
    /// `alert_filter`, sorted by labels then receiver.
    pub fn groups(
        &self,
        route_filter: impl Fn(&Route) -> bool,
        alert_filter: impl Fn(&Alert) -> bool,
    ) -> Vec<GroupView> {
        let groups: Vec<Arc<AggrGroup>> = self.groups.lock().values().cloned().collect();
        let mut out: Vec<GroupView> = groups
            .into_iter()
            .filter(|g| route_filter(&g.route))
            .filter_map(|g| {
                let alerts: Vec<Alert> =
                    g.alerts().into_iter().filter(|a| alert_filter(a)).collect();
                (!alerts.is_empty()).then(|| GroupView {
                    labels: g.labels.clone(),
                    receiver: g.route.opts.receiver.clone(),
                    alerts,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            if a.labels == b.labels {
                a.receiver.cmp(&b.receiver)
            } else if labelset_before(&a.labels, &b.labels) {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        });
        out
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Route {
    /// The route without its children (groups only need their own node).
    pub fn clone_shallow(&self) -> Route {
        Route {
            routes: Vec::new(),
            ..self.clone_node()
        }
    }

    fn clone_node(&self) -> Route {
        Route {
            id: self.id,
            matchers: self.matchers.clone(),
            continue_: self.continue_,
            opts: self.opts.clone(),
            mute_time_intervals: self.mute_time_intervals.clone(),
            active_time_intervals: self.active_time_intervals.clone(),
            routes: Vec::new(),
            key: self.key.clone(),
        }
    }
}

/// `max(d, 10s)`: how long one flush may take.
pub fn flush_timeout(group_interval: Duration) -> Duration {
    group_interval.max(Duration::from_secs(10))
}
