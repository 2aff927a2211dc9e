//! Sending alerts: Prometheus's notifier. Alerts get the external labels
//! (alert labels win) and `alert_relabel_configs`, then go to the built-in
//! Alertmanager in-process and to every external Alertmanager over
//! `POST /api/v2/alerts` from a bounded queue.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use sightline_alertmanager::Alertmanager;
use sightline_alertmanager::alert::PostableAlert;
use sightline_alertmanager::labels::LabelSet;
use sightline_alertmanager::time::Ts;
use sightline_config::{AlertingConfig, RelabelConfig};
use sightline_model::Labels;

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
}

/// One external Alertmanager.
#[derive(Debug, Clone)]
pub struct ExternalTarget {
    pub url: String,
    pub timeout: std::time::Duration,
    pub basic_auth: Option<(String, String)>,
    pub relabel: Vec<RelabelConfig>,
}

/// The external Alertmanagers of an `alerting:` section (static targets).
pub fn external_targets(cfg: &AlertingConfig) -> Vec<ExternalTarget> {
    let mut out = Vec::new();
    for am in &cfg.alertmanagers {
        let prefix = am.path_prefix.trim_end_matches('/');
        let auth = am
            .basic_auth
            .as_ref()
            .map(|b| (b.username.clone(), b.password.expose().to_string()));
        for sc in &am.static_configs {
            for t in &sc.targets {
                out.push(ExternalTarget {
                    url: format!("{}://{t}{prefix}/api/v2/alerts", am.scheme),
                    timeout: am.timeout.as_std(),
                    basic_auth: auth.clone(),
                    relabel: am.alert_relabel_configs.clone(),
                });
            }
        }
    }
    out
}

/// Posts queued alerts to external Alertmanagers in batches; a full queue
/// drops the oldest alerts, as Prometheus does.
pub struct ExternalSink {
    queue: Arc<Mutex<VecDeque<NotifyAlert>>>,
    wake: Arc<tokio::sync::Notify>,
    targets: Arc<RwLock<Vec<ExternalTarget>>>,
}

impl ExternalSink {
    /// Starts the sender task on the current tokio runtime.
    pub fn start(targets: Vec<ExternalTarget>) -> Arc<ExternalSink> {
        let s = Arc::new(ExternalSink {
            queue: Arc::new(Mutex::new(VecDeque::new())),
            wake: Arc::new(tokio::sync::Notify::new()),
            targets: Arc::new(RwLock::new(targets)),
        });
        let (queue, wake, targets) = (s.queue.clone(), s.wake.clone(), s.targets.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                wake.notified().await;
                loop {
                    let batch: Vec<NotifyAlert> = {
                        let mut q = queue.lock();
                        let n = q.len().min(MAX_BATCH);
                        q.drain(..n).collect()
                    };
                    if batch.is_empty() {
                        break;
                    }
                    let ts = targets.read().clone();
                    let sends = ts.iter().map(|t| post(&client, t, &batch));
                    futures_join(sends).await;
                }
            }
        });
        s
    }

    pub fn set_targets(&self, t: Vec<ExternalTarget>) {
        *self.targets.write() = t;
    }
}

async fn futures_join(
    futs: impl Iterator<Item = impl std::future::Future<Output = ()> + Send + 'static>,
) {
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    for h in handles {
        let _ = h.await;
    }
}

fn post(
    client: &reqwest::Client,
    t: &ExternalTarget,
    batch: &[NotifyAlert],
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let alerts: Vec<serde_json::Value> = batch
        .iter()
        .filter_map(|a| {
            let labels = sightline_scrape::relabel::process(&a.labels, &t.relabel)?;
            (!labels.is_empty()).then(|| {
                NotifyAlert {
                    labels,
                    ..a.clone()
                }
                .to_json()
            })
        })
        .collect();
    let mut req = client
        .post(&t.url)
        .timeout(t.timeout)
        .header("content-type", "application/json")
        .header("user-agent", "Sightline");
    if let Some((u, p)) = &t.basic_auth {
        req = req.basic_auth(u, Some(p));
    }
    let body = serde_json::to_vec(&alerts).unwrap_or_default();
    let url = t.url.clone();
    async move {
        if alerts.is_empty() {
            return;
        }
        match req.body(body).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                tracing::warn!(alertmanager = %url, status = %r.status(), "sending alerts failed")
            }
            Err(e) => tracing::warn!(alertmanager = %url, error = %e, "sending alerts failed"),
        }
    }
}

impl AlertSink for ExternalSink {
    fn send(&self, alerts: &[NotifyAlert]) {
        let mut q = self.queue.lock();
        q.extend(alerts.iter().cloned());
        let over = q.len().saturating_sub(QUEUE_CAPACITY);
        if over > 0 {
            q.drain(..over);
            tracing::warn!(
                dropped = over,
                "alert notification queue full, dropping alerts"
            );
        }
        drop(q);
        self.wake.notify_one();
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
