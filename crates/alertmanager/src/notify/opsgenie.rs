//! `opsgenie_configs`: create on firing, close on all-resolved (alias = SHA-256 of the group key).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Notification, NotifyError, Renderer, post_json, secret_value, truncate_runes};
use crate::config::OpsGenieConfig;

pub struct OpsGenie {
    pub conf: OpsGenieConfig,
    pub client: reqwest::Client,
}

fn or<'a>(v: &'a Option<String>, d: &'a str) -> &'a str {
    v.as_deref().filter(|s| !s.is_empty()).unwrap_or(d)
}

fn split(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// The request: (path relative to the API URL, body).
pub fn request(c: &OpsGenieConfig, n: &Notification<'_>) -> Result<(String, Value), NotifyError> {
    let data = n.data();
    let mut r = Renderer::new(n.templates, &data);
    let alias = n.key_hash();
    let source = r.render(or(
        &c.source,
        r#"{{ template "opsgenie.default.source" . }}"#,
    ));
    if n.all_resolved() {
        r.check()?;
        return Ok((
            format!("v2/alerts/{alias}/close?identifierType=alias"),
            json!({ "source": source }),
        ));
    }
    let mut details: BTreeMap<String, String> = data
        .common_labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in &c.details {
        details.insert(k.clone(), r.render(v));
    }
    let (message, _) = truncate_runes(
        &r.render(or(
            &c.message,
            r#"{{ template "opsgenie.default.message" . }}"#,
        )),
        130,
    );
    let mut m = Map::new();
    m.insert("alias".into(), json!(alias));
    m.insert("message".into(), json!(message));
    let description = r.render(or(
        &c.description,
        r#"{{ template "opsgenie.default.description" . }}"#,
    ));
    if !description.is_empty() {
        m.insert("description".into(), json!(description));
    }
    m.insert("details".into(), json!(details));
    m.insert("source".into(), json!(source));
    let mut responders = Vec::new();
    for resp in &c.responders {
        let ty = r.render(&resp.type_);
        if ty == "teams" {
            for name in split(&r.render(&resp.name)) {
                responders.push(json!({"type": "team", "name": name}));
            }
            continue;
        }
        let mut o = Map::new();
        for (k, v) in [
            ("id", &resp.id),
            ("name", &resp.name),
            ("username", &resp.username),
        ] {
            let s = r.render(v);
            if !s.is_empty() {
                o.insert(k.into(), json!(s));
            }
        }
        o.insert("type".into(), json!(ty));
        responders.push(Value::Object(o));
    }
    if !responders.is_empty() {
        m.insert("responders".into(), Value::Array(responders));
    }
    let tags = split(&r.render(or(&c.tags, "")));
    if !tags.is_empty() {
        m.insert("tags".into(), json!(tags));
    }
    for (k, v) in [
        ("note", &c.note),
        ("priority", &c.priority),
        ("entity", &c.entity),
    ] {
        let s = r.render(or(v, ""));
        if !s.is_empty() {
            m.insert(k.into(), json!(s));
        }
    }
    let actions = split(&r.render(or(&c.actions, "")));
    if !actions.is_empty() {
        m.insert("actions".into(), json!(actions));
    }
    r.check()?;
    Ok(("v2/alerts".into(), Value::Object(m)))
}

impl OpsGenie {
    pub async fn notify(&self, n: &Notification<'_>) -> Result<(), NotifyError> {
        let (path, body) = request(&self.conf, n)?;
        let key = secret_value(
            self.conf.api_key.as_ref(),
            self.conf.api_key_file.as_ref(),
            n.base_dir,
        )?;
        let base = self
            .conf
            .api_url
            .clone()
            .unwrap_or_else(|| "https://api.opsgenie.com/".into());
        let base = if base.ends_with('/') {
            base
        } else {
            format!("{base}/")
        };
        let auth = [("Authorization", format!("GenieKey {}", key.trim()))];
        post_json(&self.client, &format!("{base}{path}"), &body, &[429], &auth).await?;
        if self.conf.update_alerts && !n.all_resolved() {
            let alias = n.key_hash();
            let data = n.data();
            let mut r = Renderer::new(n.templates, &data);
            let message = body["message"].clone();
            let description = r.render(or(
                &self.conf.description,
                r#"{{ template "opsgenie.default.description" . }}"#,
            ));
            r.check()?;
            let req = self.client.put(format!(
                "{base}v2/alerts/{alias}/message?identifierType=alias"
            ));
            super::send(
                req,
                serde_json::to_vec(&json!({ "message": message })).unwrap_or_default(),
                &[429],
                &auth,
            )
            .await?;
            let req = self.client.put(format!(
                "{base}v2/alerts/{alias}/description?identifierType=alias"
            ));
            super::send(
                req,
                serde_json::to_vec(&json!({ "description": description })).unwrap_or_default(),
                &[429],
                &auth,
            )
            .await?;
        }
        Ok(())
    }
}
