//! `msteams_configs` (Alertmanager ≥0.26): an Office 365 connector MessageCard.

use serde_json::{Value, json};

use super::{Notification, NotifyError, Renderer, post_json, secret_value};
use crate::config::MsTeamsConfig;

pub struct MsTeams {
    pub conf: MsTeamsConfig,
    pub client: reqwest::Client,
}

fn or<'a>(v: &'a Option<String>, d: &'a str) -> &'a str {
    v.as_deref().filter(|s| !s.is_empty()).unwrap_or(d)
}

pub fn body(c: &MsTeamsConfig, n: &Notification<'_>) -> Result<Value, NotifyError> {
    let data = n.data();
    let mut r = Renderer::new(n.templates, &data);
    let title = r.render(or(&c.title, r#"{{ template "msteams.default.title" . }}"#));
    let summary = r.render(or(
        &c.summary,
        r#"{{ template "msteams.default.summary" . }}"#,
    ));
    let text = r.render(or(&c.text, r#"{{ template "msteams.default.text" . }}"#));
    r.check()?;
    let color = if data.status == "firing" {
        "8C1A1A"
    } else {
        "2DC72D"
    };
    Ok(
        json!({"@context": "http://schema.org/extensions", "@type": "MessageCard", "title": title, "summary": summary, "text": text, "themeColor": color}),
    )
}

impl MsTeams {
    pub async fn notify(&self, n: &Notification<'_>) -> Result<(), NotifyError> {
        let url = secret_value(
            self.conf.webhook_url.as_ref(),
            self.conf.webhook_url_file.as_ref(),
            n.base_dir,
        )?;
        let body = body(&self.conf, n)?;
        post_json(&self.client, url.trim(), &body, &[429], &[])
            .await
            .map(|_| ())
    }
}
