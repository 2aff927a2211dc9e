//! The notification pipeline for one flush (`notify.PipelineBuilder`):
//! inhibit → active/mute time intervals → silences → per integration,
//! concurrently: dedup against the notification log, send with retries,
//! log. Integrations never wait on each other, and groups never wait on
//! each other (each group runs its own task).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::alert::Alert;
use crate::core::{Runtime, Shared};
use crate::dispatch::{AggrGroup, flush_timeout};
use crate::history::Event;
use crate::labels::fp_string;
use crate::metrics::{FailureReason, IntegrationMetrics};
use crate::nflog::{key, needs_update};
use crate::notify::{Integration, Notification};
use crate::template::TmplAlert;
use crate::time::Ts;

/// Runs one flush of `group`; true when nothing failed.
pub async fn flush(
    shared: Arc<Shared>,
    rt: Arc<Runtime>,
    group: Arc<AggrGroup>,
    now: Ts,
    alerts: Vec<Alert>,
) -> bool {
    let route = &group.route;
    let receiver = route.opts.receiver.clone();
    let mut alerts = alerts;

    // Inhibition, evaluated now against currently firing source alerts.
    alerts.retain(|a| match rt.inhibitor.inhibited_by(&a.labels, now) {
        Some(by) => {
            shared.history.alert_state(
                now,
                a.fingerprint(),
                &a.labels,
                "suppressed",
                Some(format!("inhibited by {}", fp_string(by))),
            );
            false
        }
        None => true,
    });
    if alerts.is_empty() {
        return true;
    }
    if !route.active_time_intervals.is_empty()
        && !route
            .active_time_intervals
            .iter()
            .any(|n| rt.intervals.get(n).is_some_and(|ti| ti.contains(now)))
    {
        return true;
    }
    if route
        .mute_time_intervals
        .iter()
        .any(|n| rt.intervals.get(n).is_some_and(|ti| ti.contains(now)))
    {
        return true;
    }
    alerts.retain(|a| {
        let ids = shared.silences.silenced_by(&a.labels, now);
        if ids.is_empty() {
            return true;
        }
        shared.history.alert_state(
            now,
            a.fingerprint(),
            &a.labels,
            "suppressed",
            Some(format!("silenced by {}", ids.join(","))),
        );
        false
    });
    if alerts.is_empty() {
        return true;
    }
    for a in &alerts {
        let state = if a.resolved_at(now) {
            "resolved"
        } else {
            "firing"
        };
        shared
            .history
            .alert_state(now, a.fingerprint(), &a.labels, state, None);
    }

    let Some(integrations) = rt.receivers.get(&receiver).cloned() else {
        tracing::error!(receiver = %receiver, "receiver not found");
        return false;
    };
    let alerts = Arc::new(alerts);
    let mut tasks = tokio::task::JoinSet::new();
    for idx in 0..integrations.len() {
        let (shared, rt, group, alerts, integrations) = (
            shared.clone(),
            rt.clone(),
            group.clone(),
            alerts.clone(),
            integrations.clone(),
        );
        tasks.spawn(async move {
            notify_one(&shared, &rt, &group, now, &alerts, &integrations[idx]).await
        });
    }
    let mut ok = true;
    while let Some(r) = tasks.join_next().await {
        ok &= r.unwrap_or(false);
    }
    ok
}

async fn notify_one(
    shared: &Shared,
    rt: &Runtime,
    group: &AggrGroup,
    now: Ts,
    alerts: &[Alert],
    integ: &Integration,
) -> bool {
    let receiver = &group.route.opts.receiver;
    let firing: BTreeSet<u64> = alerts
        .iter()
        .filter(|a| !a.resolved_at(now))
        .map(Alert::fingerprint)
        .collect();
    let resolved: BTreeSet<u64> = alerts
        .iter()
        .filter(|a| a.resolved_at(now))
        .map(Alert::fingerprint)
        .collect();
    let log_key = key(&group.key, receiver, integ.name, integ.idx);
    let entry = shared.nflog.get(&log_key);
    shared.metrics.nflog_query(entry.is_some());
    if !needs_update(
        entry.as_ref(),
        &firing,
        &resolved,
        integ.send_resolved,
        group.route.opts.repeat_interval,
        now,
    ) {
        return true;
    }
    // From here on this is upstream's RetryStage, which counts every
    // notification it is handed, including the all-resolved ones it only logs.
    let im = shared.metrics.integration(integ.name);
    im.notification();
    // Without send_resolved, resolved alerts are not sent; an all-resolved
    // notification is only logged.
    let sent: Vec<&Alert> = if integ.send_resolved {
        alerts.iter().collect()
    } else {
        alerts.iter().filter(|a| !a.resolved_at(now)).collect()
    };
    if sent.is_empty() {
        shared.nflog.log(
            log_key,
            firing,
            resolved,
            shared.clock.now(),
            shared.retention,
        );
        shared.persist_wake.notify_one();
        return true;
    }
    let tmpl_alerts: Vec<TmplAlert> = sent
        .iter()
        .map(|a| TmplAlert {
            status: if a.resolved_at(now) {
                "resolved"
            } else {
                "firing"
            },
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            generator_url: a.generator_url.clone(),
        })
        .collect();
    let n = Notification {
        receiver,
        group_key: &group.key,
        group_labels: &group.labels,
        alerts: &tmpl_alerts,
        templates: &rt.templates,
        base_dir: &rt.config.base_dir,
    };
    let deadline = tokio::time::Instant::now() + flush_timeout(group.route.opts.group_interval);
    let (result, attempts) = retry(integ, &n, deadline, im).await;
    let mut ev = Event::new(
        shared.clock.now(),
        "notification",
        if result.is_ok() { "sent" } else { "failed" },
    );
    ev.receiver = Some(receiver.clone());
    ev.integration = Some(format!("{}[{}]", integ.name, integ.idx));
    ev.group_key = Some(group.key.clone());
    ev.alerts = sent.iter().map(|a| fp_string(a.fingerprint())).collect();
    ev.status = Some(if tmpl_alerts.iter().any(|a| a.status == "firing") {
        "firing".into()
    } else {
        "resolved".into()
    });
    ev.attempts = Some(attempts);
    match result {
        Ok(()) => {
            shared.history.record(ev);
            shared.nflog.log(
                log_key,
                firing,
                resolved,
                shared.clock.now(),
                shared.retention,
            );
            shared.persist_wake.notify_one();
            true
        }
        Err((e, reason)) => {
            im.failed(reason);
            tracing::error!(receiver = %receiver, integration = integ.name, attempts, error = %e, "notify failed");
            ev.detail = Some(e);
            shared.history.record(ev);
            false
        }
    }
}

/// Exponential backoff (first try at once, then 0.5 s ×1.5 ±50 %, capped at
/// 60 s) until success, a permanent error, or the deadline. Each attempt
/// counts as a request (with its latency); a failure carries upstream's
/// reason: the last attempt's, or `contextDeadlineExceeded` when the
/// deadline came before any attempt had failed.
async fn retry(
    integ: &Integration,
    n: &Notification<'_>,
    deadline: tokio::time::Instant,
    im: &IntegrationMetrics,
) -> (Result<(), (String, FailureReason)>, u32) {
    let mut wait = Duration::from_millis(500);
    let mut attempts = 0;
    let mut last_reason: Option<FailureReason> = None;
    loop {
        attempts += 1;
        let started = std::time::Instant::now();
        let res = tokio::time::timeout_at(deadline, integ.notify(n)).await;
        im.request(started.elapsed(), matches!(res, Ok(Ok(()))));
        let err = match res {
            Ok(Ok(())) => return (Ok(()), attempts),
            Ok(Err(e)) if !e.retry => {
                return (
                    Err((
                        format!(
                            "{}: notify retry canceled due to unrecoverable error after {attempts} attempts: {}",
                            integ.name, e.message
                        ),
                        e.reason,
                    )),
                    attempts,
                );
            }
            Ok(Err(e)) => {
                last_reason = Some(e.reason);
                e.message
            }
            Err(_) => {
                return (
                    Err((
                        format!(
                            "{}: notify retry canceled after {attempts} attempts: context deadline exceeded",
                            integ.name
                        ),
                        last_reason.unwrap_or(FailureReason::ContextDeadlineExceeded),
                    )),
                    attempts,
                );
            }
        };
        let jitter = 0.5 + rand::random::<f64>();
        let pause = wait.mul_f64(jitter);
        wait = (wait.mul_f64(1.5)).min(Duration::from_secs(60));
        if tokio::time::Instant::now() + pause >= deadline {
            return (
                Err((
                    format!(
                        "{}: notify retry canceled after {attempts} attempts: {err}",
                        integ.name
                    ),
                    last_reason.unwrap_or(FailureReason::Other),
                )),
                attempts,
            );
        }
        tokio::time::sleep(pause).await;
    }
}
