//! The Alertmanager's own metrics under upstream Alertmanager's names,
//! labels and semantics, so the alertmanager-mixin alerts and the Grafana
//! dashboards written for Alertmanager work against Sightline's `/metrics`.
//!
//! Counters are atomics bumped where upstream bumps them (the alerts API,
//! `RetryStage`, the notification log query, the config coordinator); the
//! gauges (alerts and silences by state, aggregation groups) are computed
//! when the exposition is written, as upstream's `GaugeFunc`s are.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sightline_model::exposition::format_sample_value;

/// Why a notification failed: upstream's `notify.Reason` (label `reason` of
/// `alertmanager_notifications_failed_total`, Alertmanager ≥0.26).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FailureReason {
    #[default]
    Other,
    ClientError,
    ServerError,
    ContextCanceled,
    ContextDeadlineExceeded,
}

impl FailureReason {
    pub const ALL: [FailureReason; 5] = [
        FailureReason::Other,
        FailureReason::ClientError,
        FailureReason::ServerError,
        FailureReason::ContextCanceled,
        FailureReason::ContextDeadlineExceeded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Other => "other",
            FailureReason::ClientError => "clientError",
            FailureReason::ServerError => "serverError",
            FailureReason::ContextCanceled => "contextCanceled",
            FailureReason::ContextDeadlineExceeded => "contextDeadlineExceeded",
        }
    }

    /// `notify.GetFailureReasonFromStatusCode`.
    pub fn from_status(code: u16) -> FailureReason {
        match code / 100 {
            4 => FailureReason::ClientError,
            5 => FailureReason::ServerError,
            _ => FailureReason::Other,
        }
    }
}

/// The integration names upstream pre-initialises its per-integration
/// series with (`notify.Metrics.InitializeFor`), in its order; Sightline's
/// own integrations are among them.
pub const INTEGRATIONS: [&str; 18] = [
    "email",
    "pagerduty",
    "wechat",
    "pushover",
    "slack",
    "opsgenie",
    "webhook",
    "victorops",
    "sns",
    "telegram",
    "discord",
    "webex",
    "msteams",
    "msteamsv2",
    "incidentio",
    "jira",
    "rocketchat",
    "mattermost",
];

/// `alertmanager_notification_latency_seconds` buckets (upstream's).
pub const LATENCY_BUCKETS: [f64; 5] = [1.0, 5.0, 10.0, 15.0, 20.0];

/// Per-integration counters and latency histogram.
#[derive(Default)]
pub struct IntegrationMetrics {
    notifications: AtomicU64,
    failed: [AtomicU64; 5],
    requests: AtomicU64,
    requests_failed: AtomicU64,
    /// Non-cumulative counts per bucket; the last one is `+Inf`.
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_ns: AtomicU64,
}

impl IntegrationMetrics {
    /// A notification reached the retry stage (`alertmanager_notifications_total`).
    pub fn notification(&self) {
        self.notifications.fetch_add(1, Ordering::Relaxed);
    }

    /// The notification finally failed (`alertmanager_notifications_failed_total`).
    pub fn failed(&self, reason: FailureReason) {
        let i = FailureReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.failed[i].fetch_add(1, Ordering::Relaxed);
    }

    /// One attempt (request) took `took` and succeeded or not.
    pub fn request(&self, took: Duration, ok: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.requests_failed.fetch_add(1, Ordering::Relaxed);
        }
        let secs = took.as_secs_f64();
        let b = LATENCY_BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency_buckets[b].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ns.fetch_add(
            took.as_nanos().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
    }
}

/// Counters and last-reload state of one Alertmanager (kept across reloads).
pub struct AmMetrics {
    integrations: [IntegrationMetrics; INTEGRATIONS.len()],
    /// Integrations outside [`INTEGRATIONS`] (none today) count here, unexposed.
    unknown: IntegrationMetrics,
    received_firing: AtomicU64,
    received_resolved: AtomicU64,
    invalid: AtomicU64,
    nflog_queries: AtomicU64,
    nflog_query_errors: AtomicU64,
    reload_ok: AtomicBool,
    /// f64 bits.
    reload_success_ts: AtomicU64,
    /// f64 bits.
    config_hash: AtomicU64,
}

impl Default for AmMetrics {
    fn default() -> Self {
        AmMetrics {
            integrations: Default::default(),
            unknown: IntegrationMetrics::default(),
            received_firing: AtomicU64::new(0),
            received_resolved: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            nflog_queries: AtomicU64::new(0),
            nflog_query_errors: AtomicU64::new(0),
            reload_ok: AtomicBool::new(false),
            reload_success_ts: AtomicU64::new(0f64.to_bits()),
            config_hash: AtomicU64::new(0f64.to_bits()),
        }
    }
}

impl AmMetrics {
    pub fn integration(&self, name: &str) -> &IntegrationMetrics {
        match INTEGRATIONS.iter().position(|n| *n == name) {
            Some(i) => &self.integrations[i],
            None => &self.unknown,
        }
    }

    /// One posted alert, before validation (as upstream's API counts it).
    pub fn received(&self, firing: bool) {
        if firing {
            self.received_firing.fetch_add(1, Ordering::Relaxed);
        } else {
            self.received_resolved.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn invalid(&self) {
        self.invalid.fetch_add(1, Ordering::Relaxed);
    }

    /// A notification log lookup; a miss counts as a query error upstream.
    pub fn nflog_query(&self, found: bool) {
        self.nflog_queries.fetch_add(1, Ordering::Relaxed);
        if !found {
            self.nflog_query_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn reload_succeeded(&self, unix_secs: f64, hash: f64) {
        self.reload_success_ts
            .store(unix_secs.to_bits(), Ordering::Relaxed);
        self.config_hash.store(hash.to_bits(), Ordering::Relaxed);
        self.reload_ok.store(true, Ordering::Release);
    }

    pub fn reload_failed(&self) {
        self.reload_ok.store(false, Ordering::Release);
    }
}

/// `md5HashAsMetricValue`: the first 6 bytes of the MD5 of the config text,
/// little-endian (48 bits fit a float64 mantissa exactly).
pub fn config_hash_value(md5: &[u8; 16]) -> f64 {
    let mut b = [0u8; 8];
    b[..6].copy_from_slice(&md5[..6]);
    u64::from_le_bytes(b) as f64
}

pub fn md5(text: &str) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(text.as_bytes()).into()
}

/// Gauges computed at exposition time.
pub struct Snapshot {
    /// Non-resolved alerts: active, suppressed, unprocessed.
    pub alerts: [usize; 3],
    /// Silences: active, pending, expired.
    pub silences: [usize; 3],
    pub aggregation_groups: usize,
}

impl AmMetrics {
    /// The whole exposition text (0.0.4) of the Alertmanager's metrics.
    pub fn render(&self, snap: &Snapshot) -> String {
        let mut e = sightline_model::exposition::Exposition::new();
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        e.gauge(
            "alertmanager_alerts",
            "How many alerts by state.",
            &[
                (&[("state", "active")], snap.alerts[0] as f64),
                (&[("state", "suppressed")], snap.alerts[1] as f64),
                (&[("state", "unprocessed")], snap.alerts[2] as f64),
            ],
        );
        e.counter(
            "alertmanager_alerts_invalid_total",
            "The total number of received alerts that were invalid.",
            &[(&[("version", "v2")], ld(&self.invalid))],
        );
        e.counter(
            "alertmanager_alerts_received_total",
            "The total number of received alerts.",
            &[
                (
                    &[("status", "firing"), ("version", "v2")],
                    ld(&self.received_firing),
                ),
                (
                    &[("status", "resolved"), ("version", "v2")],
                    ld(&self.received_resolved),
                ),
            ],
        );
        e.gauge1(
            "alertmanager_config_hash",
            "Hash of the currently loaded alertmanager configuration. Note that this is not a cryptographically strong hash.",
            f64::from_bits(self.config_hash.load(Ordering::Relaxed)),
        );
        e.gauge1(
            "alertmanager_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
            f64::from_bits(self.reload_success_ts.load(Ordering::Relaxed)),
        );
        e.gauge1(
            "alertmanager_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
            if self.reload_ok.load(Ordering::Acquire) {
                1.0
            } else {
                0.0
            },
        );
        e.gauge1(
            "alertmanager_dispatcher_aggregation_groups",
            "Number of active aggregation groups",
            snap.aggregation_groups as f64,
        );
        e.counter1(
            "alertmanager_nflog_queries_total",
            "Number of notification log queries were received.",
            ld(&self.nflog_queries),
        );
        e.counter1(
            "alertmanager_nflog_query_errors_total",
            "Number notification log received queries that failed.",
            ld(&self.nflog_query_errors),
        );
        let per = |f: &dyn Fn(&IntegrationMetrics) -> f64| -> Vec<(Vec<String>, f64)> {
            INTEGRATIONS
                .iter()
                .zip(&self.integrations)
                .map(|(n, m)| (vec![n.to_string()], f(m)))
                .collect()
        };
        e.family_owned(
            "alertmanager_notification_requests_failed_total",
            "counter",
            "The total number of failed notification requests.",
            &["integration"],
            &per(&|m| ld(&m.requests_failed)),
        );
        e.family_owned(
            "alertmanager_notification_requests_total",
            "counter",
            "The total number of attempted notification requests.",
            &["integration"],
            &per(&|m| ld(&m.requests)),
        );
        let failed: Vec<(Vec<String>, f64)> = INTEGRATIONS
            .iter()
            .zip(&self.integrations)
            .flat_map(|(n, m)| {
                FailureReason::ALL
                    .iter()
                    .zip(&m.failed)
                    .map(|(r, c)| (vec![n.to_string(), r.as_str().to_string()], ld(c)))
            })
            .collect();
        e.family_owned(
            "alertmanager_notifications_failed_total",
            "counter",
            "The total number of failed notifications.",
            &["integration", "reason"],
            &failed,
        );
        e.family_owned(
            "alertmanager_notifications_total",
            "counter",
            "The total number of attempted notifications.",
            &["integration"],
            &per(&|m| ld(&m.notifications)),
        );
        e.gauge(
            "alertmanager_silences",
            "How many silences by state.",
            &[
                (&[("state", "active")], snap.silences[0] as f64),
                (&[("state", "pending")], snap.silences[1] as f64),
                (&[("state", "expired")], snap.silences[2] as f64),
            ],
        );
        let mut out = e.into_string();
        self.write_latency(&mut out);
        out
    }

    /// `alertmanager_notification_latency_seconds`: the exposition writer has
    /// no histogram family, so its `_bucket`/`_sum`/`_count` lines are
    /// written here under one `# TYPE ... histogram` header.
    fn write_latency(&self, out: &mut String) {
        const NAME: &str = "alertmanager_notification_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {NAME} The latency of notifications in seconds."
        );
        let _ = writeln!(out, "# TYPE {NAME} histogram");
        for (n, m) in INTEGRATIONS.iter().zip(&self.integrations) {
            // `_count` is the +Inf bucket's value, so the two always agree.
            let mut cum = 0u64;
            for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
                cum += m.latency_buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "{NAME}_bucket{{integration=\"{n}\",le=\"{}\"}} {cum}",
                    format_sample_value(*le)
                );
            }
            cum += m.latency_buckets[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
            let sum = m.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "{NAME}_bucket{{integration=\"{n}\",le=\"+Inf\"}} {cum}"
            );
            let _ = writeln!(
                out,
                "{NAME}_sum{{integration=\"{n}\"}} {}",
                format_sample_value(sum)
            );
            let _ = writeln!(out, "{NAME}_count{{integration=\"{n}\"}} {cum}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_with_sum_and_count() {
        let m = AmMetrics::default();
        let w = m.integration("webhook");
        w.request(Duration::from_millis(300), true);
        w.request(Duration::from_secs(7), false);
        w.request(Duration::from_secs(30), false);
        let text = m.render(&Snapshot {
            alerts: [0; 3],
            silences: [0; 3],
            aggregation_groups: 0,
        });
        for line in [
            "# TYPE alertmanager_notification_latency_seconds histogram",
            "alertmanager_notification_latency_seconds_bucket{integration=\"webhook\",le=\"1\"} 1",
            "alertmanager_notification_latency_seconds_bucket{integration=\"webhook\",le=\"5\"} 1",
            "alertmanager_notification_latency_seconds_bucket{integration=\"webhook\",le=\"10\"} 2",
            "alertmanager_notification_latency_seconds_bucket{integration=\"webhook\",le=\"20\"} 2",
            "alertmanager_notification_latency_seconds_bucket{integration=\"webhook\",le=\"+Inf\"} 3",
            "alertmanager_notification_latency_seconds_sum{integration=\"webhook\"} 37.3",
            "alertmanager_notification_latency_seconds_count{integration=\"webhook\"} 3",
            "alertmanager_notification_latency_seconds_count{integration=\"email\"} 0",
            "alertmanager_notification_requests_total{integration=\"webhook\"} 3",
            "alertmanager_notification_requests_failed_total{integration=\"webhook\"} 2",
            "alertmanager_notifications_failed_total{integration=\"mattermost\",reason=\"contextDeadlineExceeded\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // One header per family.
        assert_eq!(
            text.matches("# TYPE alertmanager_notification_latency_seconds ")
                .count(),
            1
        );
    }

    #[test]
    fn config_hash_matches_upstream() {
        // md5("") = d41d8cd98f00b204e9800998ecf8427e; first 6 bytes LE.
        let v = config_hash_value(&md5(""));
        assert_eq!(
            v,
            u64::from_le_bytes([0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0, 0]) as f64
        );
    }

    #[test]
    fn failure_reason_from_status() {
        assert_eq!(FailureReason::from_status(404), FailureReason::ClientError);
        assert_eq!(FailureReason::from_status(429), FailureReason::ClientError);
        assert_eq!(FailureReason::from_status(503), FailureReason::ServerError);
        assert_eq!(FailureReason::from_status(302), FailureReason::Other);
        let names: Vec<&str> = FailureReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "other",
                "clientError",
                "serverError",
                "contextCanceled",
                "contextDeadlineExceeded"
            ]
        );
    }

    #[test]
    fn sightline_integrations_are_preinitialised() {
        for n in [
            "email",
            "pagerduty",
            "slack",
            "webhook",
            "opsgenie",
            "msteams",
        ] {
            assert!(INTEGRATIONS.contains(&n), "{n}");
        }
    }
}
