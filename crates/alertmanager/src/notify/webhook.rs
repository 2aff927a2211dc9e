//! `webhook_configs`: the version 4 JSON payload.

use serde_json::json;

use super::{Notification, NotifyError, post_json, secret_value};
use crate::config::WebhookConfig;

pub struct Webhook {
    pub conf: WebhookConfig,
    pub client: reqwest::Client,
}

/// The webhook body: `template.Data` plus version, group key and truncation count.
pub fn payload(n: &Notification<'_>, max_alerts: u64) -> serde_json::Value {
    let data = n.data();
    let keep = if max_alerts > 0 {
        (max_alerts as usize).min(data.alerts.len())
    } else {
        data.alerts.len()
    };
    let truncated = data.alerts.len() - keep;
    let alerts: Vec<serde_json::Value> = data.alerts[..keep]
        .iter()
        .map(|a| {
            json!({
                "status": a.status,
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": a.starts_at,
                "endsAt": a.ends_at,
                "generatorURL": a.generator_url,
                "fingerprint": crate::labels::fp_string(crate::labels::fingerprint(&a.labels)),
            })
        })
        .collect();
    // serde_json keeps insertion order (preserve_order is off, so keys are
    // sorted); consumers compare parsed JSON, not bytes.
    json!({
        "receiver": data.receiver,
        "status": data.status,
        "alerts": alerts,
        "groupLabels": data.group_labels,
        "commonLabels": data.common_labels,
        "commonAnnotations": data.common_annotations,
        "externalURL": data.external_url,
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": truncated,
    })
}

impl Webhook {
    pub async fn notify(&self, n: &Notification<'_>) -> Result<(), NotifyError> {
        let url = secret_value(
            self.conf.url.as_ref(),
            self.conf.url_file.as_ref(),
            n.base_dir,
        )?;
        let body = payload(n, self.conf.max_alerts);
        let fut = post_json(&self.client, url.trim(), &body, &[], &[]);
        match self.conf.timeout.filter(|t| !t.is_zero()) {
            Some(t) => tokio::time::timeout(t.as_std(), fut)
                .await
                .map_err(|_| NotifyError::retryable("webhook timeout"))?
                .map(|_| ()),
            None => fut.await.map(|_| ()),
        }
    }
}
