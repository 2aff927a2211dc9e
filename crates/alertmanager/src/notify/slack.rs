//! `slack_configs`: one attachment, Alertmanager's default texts.

use serde_json::{Map, Value, json};

use super::{Notification, NotifyError, Renderer, post_json, secret_value, truncate_runes};
use crate::config::SlackConfig;

pub struct Slack {
    pub conf: SlackConfig,
    pub client: reqwest::Client,
}

fn or<'a>(v: &'a Option<String>, d: &'a str) -> &'a str {
    v.as_deref().unwrap_or(d)
}

/// Sets `k` unless the rendered value is empty (Go's `omitempty`).
fn put(m: &mut Map<String, Value>, k: &str, v: String) {
    if !v.is_empty() {
        m.insert(k.into(), Value::String(v));
    }
}

pub fn body(c: &SlackConfig, n: &Notification<'_>) -> Result<Value, NotifyError> {
    let data = n.data();
    let mut r = Renderer::new(n.templates, &data);
    let (title, _) = truncate_runes(
        &r.render(or(&c.title, r#"{{ template "slack.default.title" . }}"#)),
        1024,
    );
    let mut att = Map::new();
    put(&mut att, "title", title);
    put(
        &mut att,
        "title_link",
        r.render(or(
            &c.title_link,
            r#"{{ template "slack.default.titlelink" . }}"#,
        )),
    );
    put(
        &mut att,
        "pretext",
        r.render(or(
            &c.pretext,
            r#"{{ template "slack.default.pretext" . }}"#,
        )),
    );
    att.insert(
        "text".into(),
        Value::String(r.render(or(&c.text, r#"{{ template "slack.default.text" . }}"#))),
    );
    att.insert(
        "fallback".into(),
        Value::String(r.render(or(
            &c.fallback,
            r#"{{ template "slack.default.fallback" . }}"#,
        ))),
    );
    put(
        &mut att,
        "callback_id",
        r.render(or(
            &c.callback_id,
            r#"{{ template "slack.default.callbackid" . }}"#,
        )),
    );
    if !c.fields.is_empty() {
        let fields: Vec<Value> = c.fields.iter().map(|f| json!({"title": r.render(&f.title), "value": r.render(&f.value), "short": f.short.unwrap_or(c.short_fields)})).collect();
        att.insert("fields".into(), Value::Array(fields));
    }
    if !c.actions.is_empty() {
        let actions: Vec<Value> = c
            .actions
            .iter()
            .map(|a| {
                let mut m = Map::new();
                m.insert("type".into(), Value::String(r.render(&a.type_)));
                m.insert("text".into(), Value::String(r.render(&a.text)));
                put(&mut m, "url", r.render(&a.url));
                put(&mut m, "style", r.render(&a.style));
                put(&mut m, "name", r.render(&a.name));
                put(&mut m, "value", r.render(&a.value));
                Value::Object(m)
            })
            .collect();
        att.insert("actions".into(), Value::Array(actions));
    }
    put(&mut att, "image_url", r.render(or(&c.image_url, "")));
    put(&mut att, "thumb_url", r.render(or(&c.thumb_url, "")));
    put(
        &mut att,
        "footer",
        r.render(or(&c.footer, r#"{{ template "slack.default.footer" . }}"#)),
    );
    put(
        &mut att,
        "color",
        r.render(or(
            &c.color,
            r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#,
        )),
    );
    let mrkdwn = c
        .mrkdwn_in
        .clone()
        .unwrap_or_else(|| vec!["fallback".into(), "pretext".into(), "text".into()]);
    att.insert("mrkdwn_in".into(), json!(mrkdwn));
    let mut req = Map::new();
    put(&mut req, "channel", r.render(or(&c.channel, "")));
    put(
        &mut req,
        "username",
        r.render(or(
            &c.username,
            r#"{{ template "slack.default.username" . }}"#,
        )),
    );
    put(
        &mut req,
        "icon_emoji",
        r.render(or(
            &c.icon_emoji,
            r#"{{ template "slack.default.iconemoji" . }}"#,
        )),
    );
    put(
        &mut req,
        "icon_url",
        r.render(or(
            &c.icon_url,
            r#"{{ template "slack.default.iconurl" . }}"#,
        )),
    );
    if c.link_names {
        req.insert("link_names".into(), Value::Bool(true));
    }
    req.insert("attachments".into(), Value::Array(vec![Value::Object(att)]));
    r.check()?;
    Ok(Value::Object(req))
}

impl Slack {
    pub async fn notify(&self, n: &Notification<'_>) -> Result<(), NotifyError> {
        let body = body(&self.conf, n)?;
        let token = secret_value(
            self.conf.app_token.as_ref(),
            self.conf.app_token_file.as_ref(),
            n.base_dir,
        )?;
        let url = if token.is_empty() {
            secret_value(
                self.conf.api_url.as_ref(),
                self.conf.api_url_file.as_ref(),
                n.base_dir,
            )?
        } else {
            self.conf
                .app_url
                .clone()
                .or_else(|| self.conf.api_url.as_ref().map(|u| u.expose().to_string()))
                .unwrap_or_else(|| crate::config::SLACK_POST_MESSAGE.to_string())
        };
        let headers: Vec<(&str, String)> = if token.is_empty() {
            vec![]
        } else {
            vec![("Authorization", format!("Bearer {token}"))]
        };
        post_json(&self.client, url.trim(), &body, &[429], &headers)
            .await
            .map(|_| ())
    }
}
