//! Integrations: turning one notification (a group's alerts) into a
//! request to Slack, PagerDuty, a webhook, an SMTP server, ...
//!
//! Each integration reports whether a failure is worth retrying; the
//! pipeline retries with exponential backoff until the flush deadline.

mod email;
mod msteams;
mod opsgenie;
mod pagerduty;
mod slack;
mod webhook;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{HttpClientConfig, ReceiverConfig, Secret};
use crate::labels::LabelSet;
use crate::metrics::FailureReason;
use crate::template::{Data, Templates, TmplAlert};

/// A failed attempt.
#[derive(Debug, Clone)]
pub struct NotifyError {
    pub retry: bool,
    pub message: String,
    /// The `reason` label of `alertmanager_notifications_failed_total`.
    pub reason: FailureReason,
}

impl NotifyError {
    pub fn permanent(m: impl Into<String>) -> NotifyError {
        NotifyError {
            retry: false,
            message: m.into(),
            reason: FailureReason::Other,
        }
    }
    pub fn retryable(m: impl Into<String>) -> NotifyError {
        NotifyError {
            retry: true,
            message: m.into(),
            reason: FailureReason::Other,
        }
    }
    /// The failure reason of an HTTP response status (`clientError`, `serverError`).
    pub fn with_status(mut self, status: u16) -> NotifyError {
        self.reason = FailureReason::from_status(status);
        self
    }
}

/// Everything an integration needs to render and send one notification.
pub struct Notification<'a> {
    pub receiver: &'a str,
    pub group_key: &'a str,
    pub group_labels: &'a LabelSet,
    pub alerts: &'a [TmplAlert],
    pub templates: &'a Templates,
    pub base_dir: &'a Path,
}

impl Notification<'_> {
    pub fn data(&self) -> Data {
        self.templates
            .data(self.receiver, self.group_labels, self.alerts)
    }

    /// SHA-256 hex of the group key (PagerDuty dedup key, OpsGenie alias).
    pub fn key_hash(&self) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(self.group_key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn all_resolved(&self) -> bool {
        self.alerts.iter().all(|a| a.status == "resolved")
    }
}

/// Renders templated fields, remembering the first error (`tmplText` in Go).
pub struct Renderer<'a> {
    t: &'a Templates,
    data: gotmpl::Value,
    pub err: Option<String>,
}

impl<'a> Renderer<'a> {
    pub fn new(t: &'a Templates, d: &Data) -> Renderer<'a> {
        Renderer {
            t,
            data: d.to_value(),
            err: None,
        }
    }

    pub fn render(&mut self, text: &str) -> String {
        match self.t.render(text, &self.data) {
            Ok(s) => s,
            Err(e) => {
                self.err.get_or_insert(e);
                String::new()
            }
        }
    }

    /// Like [`Renderer::render`] with HTML auto-escaping.
    pub fn render_html(&mut self, text: &str) -> String {
        match self.t.render_html(text, &self.data) {
            Ok(s) => s,
            Err(e) => {
                self.err.get_or_insert(e);
                String::new()
            }
        }
    }

    /// Fails the attempt (permanently) if any field failed to render.
    pub fn check(&self) -> Result<(), NotifyError> {
        match &self.err {
            Some(e) => Err(NotifyError::permanent(format!("template error: {e}"))),
            None => Ok(()),
        }
    }
}

pub(crate) enum Kind {
    Webhook(webhook::Webhook),
    Slack(slack::Slack),
    Pagerduty(pagerduty::Pagerduty),
    Email(email::Email),
    OpsGenie(opsgenie::OpsGenie),
    MsTeams(msteams::MsTeams),
}

/// One configured integration of a receiver.
pub struct Integration {
    /// `webhook`, `slack`, ... (part of the notification log key).
    pub name: &'static str,
    pub idx: usize,
    pub send_resolved: bool,
    kind: Kind,
}

impl Integration {
    pub async fn notify(&self, n: &Notification<'_>) -> Result<(), NotifyError> {
        match &self.kind {
            Kind::Webhook(w) => w.notify(n).await,
            Kind::Slack(s) => s.notify(n).await,
            Kind::Pagerduty(p) => p.notify(n).await,
            Kind::Email(e) => e.notify(n).await,
            Kind::OpsGenie(o) => o.notify(n).await,
            Kind::MsTeams(m) => m.notify(n).await,
        }
    }
}

/// The integrations Sightline delivers to, in Alertmanager's order.
pub fn build_integrations(r: &ReceiverConfig) -> Result<Vec<Integration>, String> {
    let mut out = Vec::new();
    let mut push = |name: &'static str, idx: usize, send_resolved: bool, kind: Kind| {
        out.push(Integration {
            name,
            idx,
            send_resolved,
            kind,
        })
    };
    for (i, c) in r.email_configs.iter().enumerate() {
        push(
            "email",
            i,
            c.send_resolved,
            Kind::Email(email::Email { conf: c.clone() }),
        );
    }
    for (i, c) in r.pagerduty_configs.iter().enumerate() {
        push(
            "pagerduty",
            i,
            c.send_resolved,
            Kind::Pagerduty(pagerduty::Pagerduty {
                conf: c.clone(),
                client: client(c.http_config.as_ref())?,
            }),
        );
    }
    for (i, c) in r.slack_configs.iter().enumerate() {
        push(
            "slack",
            i,
            c.send_resolved,
            Kind::Slack(slack::Slack {
                conf: c.clone(),
                client: client(c.http_config.as_ref())?,
            }),
        );
    }
    for (i, c) in r.webhook_configs.iter().enumerate() {
        push(
            "webhook",
            i,
            c.send_resolved,
            Kind::Webhook(webhook::Webhook {
                conf: c.clone(),
                client: client(c.http_config.as_ref())?,
            }),
        );
    }
    for (i, c) in r.opsgenie_configs.iter().enumerate() {
        push(
            "opsgenie",
            i,
            c.send_resolved,
            Kind::OpsGenie(opsgenie::OpsGenie {
                conf: c.clone(),
                client: client(c.http_config.as_ref())?,
            }),
        );
    }
    for (i, c) in r.msteams_configs.iter().enumerate() {
        push(
            "msteams",
            i,
            c.send_resolved,
            Kind::MsTeams(msteams::MsTeams {
                conf: c.clone(),
                client: client(c.http_config.as_ref())?,
            }),
        );
    }
    Ok(out)
}

/// An HTTP client for an integration's `http_config`.
fn client(h: Option<&HttpClientConfig>) -> Result<reqwest::Client, String> {
    let default = HttpClientConfig::default();
    let h = h.unwrap_or(&default);
    let mut b = reqwest::Client::builder()
        .user_agent(concat!(
            "Alertmanager/0.25.0 Sightline/",
            env!("CARGO_PKG_VERSION")
        ))
        .redirect(if h.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        })
        .pool_idle_timeout(Duration::from_secs(90));
    if !h.proxy_url.is_empty() {
        b = b.proxy(reqwest::Proxy::all(&h.proxy_url).map_err(|e| format!("proxy_url: {e}"))?);
    }
    let mut headers = reqwest::header::HeaderMap::new();
    let read = |v: &Secret, file: &str| -> Result<String, String> {
        if file.is_empty() {
            Ok(v.expose().to_string())
        } else {
            std::fs::read_to_string(file)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("{file}: {e}"))
        }
    };
    if let Some(ba) = &h.basic_auth {
        use base64::Engine;
        let pass = read(&ba.password, &ba.password_file)?;
        let v =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", ba.username, pass));
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Basic {v}")
                .parse()
                .map_err(|e| format!("basic_auth: {e}"))?,
        );
    }
    if let Some(a) = &h.authorization {
        let cred = read(&a.credentials, &a.credentials_file)?;
        let kind = if a.auth_type.is_empty() {
            "Bearer"
        } else {
            a.auth_type.as_str()
        };
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("{kind} {cred}")
                .parse()
                .map_err(|e| format!("authorization: {e}"))?,
        );
    } else if !h.bearer_token.is_empty() || !h.bearer_token_file.is_empty() {
        let cred = read(&h.bearer_token, &h.bearer_token_file)?;
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {cred}")
                .parse()
                .map_err(|e| format!("bearer_token: {e}"))?,
        );
    }
    b.default_headers(headers)
        .build()
        .map_err(|e| e.to_string())
}

/// A secret given inline or in a file (relative to the config's directory).
pub fn secret_value(
    inline: Option<&Secret>,
    file: Option<&String>,
    base_dir: &Path,
) -> Result<String, NotifyError> {
    if let Some(f) = file.filter(|f| !f.is_empty()) {
        let p: PathBuf = if Path::new(f).is_absolute() {
            PathBuf::from(f)
        } else {
            base_dir.join(f)
        };
        return std::fs::read_to_string(&p)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| NotifyError::permanent(format!("reading {}: {e}", p.display())));
    }
    Ok(inline.map(|s| s.expose().to_string()).unwrap_or_default())
}

/// POSTs JSON and classifies the response: 2xx ok, 5xx (and `extra_retry`
/// codes) retryable, anything else permanent.
pub async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    extra_retry: &[u16],
    headers: &[(&str, String)],
) -> Result<String, NotifyError> {
    let mut bytes = serde_json::to_vec(body).map_err(|e| NotifyError::permanent(e.to_string()))?;
    bytes.push(b'\n');
    send(client.post(url), bytes, extra_retry, headers).await
}

pub async fn send(
    mut req: reqwest::RequestBuilder,
    body: Vec<u8>,
    extra_retry: &[u16],
    headers: &[(&str, String)],
) -> Result<String, NotifyError> {
    req = req.header(reqwest::header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req
        .body(body)
        .send()
        .await
        .map_err(|e| NotifyError::retryable(format!("request failed: {e}")))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    if (200..300).contains(&status) {
        return Ok(text);
    }
    let msg = format!(
        "unexpected status code {status}: {}",
        text.chars().take(512).collect::<String>()
    );
    if status >= 500 || extra_retry.contains(&status) {
        Err(NotifyError::retryable(msg).with_status(status))
    } else {
        Err(NotifyError::permanent(msg).with_status(status))
    }
}

/// Truncates to `n` runes, marking the cut with `…` (`notify.TruncateInRunes`).
pub fn truncate_runes(s: &str, n: usize) -> (String, bool) {
    if s.chars().count() <= n {
        return (s.to_string(), false);
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    (out, true)
}

pub type SharedIntegrations = Arc<Vec<Integration>>;
