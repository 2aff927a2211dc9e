//! `pagerduty_configs`: Events API v2 (`routing_key`) or v1 (`service_key`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Notification, NotifyError, Renderer, post_json, secret_value, truncate_runes};
use crate::config::PagerdutyConfig;

pub const V1_URL: &str = "https://events.pagerduty.com/generic/2010-04-15/create_event.json";

pub struct Pagerduty {
    pub conf: PagerdutyConfig,
    pub client: reqwest::Client,
}

fn or<'a>(v: &'a Option<String>, d: &'a str) -> &'a str {
    v.as_deref().filter(|s| !s.is_empty()).unwrap_or(d)
}

/// The default `details`, overlaid with the configured ones.
fn details(c: &PagerdutyConfig, r: &mut Renderer<'_>) -> BTreeMap<String, String> {
    let mut d: BTreeMap<String, String> = [
        (
            "firing",
            r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
        ),
        (
            "resolved",
            r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
        ),
        ("num_firing", "{{ .Alerts.Firing | len }}"),
        ("num_resolved", "{{ .Alerts.Resolved | len }}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in &c.details {
        d.insert(
            k.clone(),
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string()),
        );
    }
    d.into_iter().map(|(k, v)| (k, r.render(&v))).collect()
}

pub fn body(
    c: &PagerdutyConfig,
    n: &Notification<'_>,
    base_dir: &std::path::Path,
) -> Result<(Value, bool), NotifyError> {
    let data = n.data();
    let mut r = Renderer::new(n.templates, &data);
    let resolve = n.all_resolved();
    let v2 = c.routing_key.as_ref().is_some_and(|k| !k.is_empty())
        || c.routing_key_file.as_ref().is_some_and(|f| !f.is_empty());
    let client = r.render(or(
        &c.client,
        r#"{{ template "pagerduty.default.client" . }}"#,
    ));
    let client_url = r.render(or(
        &c.client_url,
        r#"{{ template "pagerduty.default.clientURL" . }}"#,
    ));
    let (description, _) = truncate_runes(
        &r.render(or(
            &c.description,
            r#"{{ template "pagerduty.default.description" .}}"#,
        )),
        1024,
    );
    let details = details(c, &mut r);
    let mut m = Map::new();
    if v2 {
        let key = r.render(&secret_value(
            c.routing_key.as_ref(),
            c.routing_key_file.as_ref(),
            base_dir,
        )?);
        m.insert("routing_key".into(), json!(key));
        m.insert("dedup_key".into(), json!(n.key_hash()));
        m.insert(
            "event_action".into(),
            json!(if resolve { "resolve" } else { "trigger" }),
        );
        let mut p = Map::new();
        p.insert("summary".into(), json!(description));
        let source = r.render(or(&c.source, ""));
        p.insert(
            "source".into(),
            json!(if source.is_empty() {
                client.clone()
            } else {
                source
            }),
        );
        let severity = r.render(or(&c.severity, "error"));
        p.insert("severity".into(), json!(severity));
        for (k, v) in [
            ("class", &c.class),
            ("component", &c.component),
            ("group", &c.group),
        ] {
            let s = r.render(or(v, ""));
            if !s.is_empty() {
                p.insert(k.into(), json!(s));
            }
        }
        p.insert("custom_details".into(), json!(details));
        m.insert("payload".into(), Value::Object(p));
        if !client.is_empty() {
            m.insert("client".into(), json!(client));
        }
        if !client_url.is_empty() {
            m.insert("client_url".into(), json!(client_url));
        }
        let images: Vec<Value> = c.images.iter().map(|i| json!({"src": r.render(&i.src), "alt": r.render(&i.alt), "href": r.render(&i.href)})).collect();
        let links: Vec<Value> = c
            .links
            .iter()
            .map(|l| json!({"href": r.render(&l.href), "text": r.render(&l.text)}))
            .collect();
        if !images.is_empty() {
            m.insert("images".into(), Value::Array(images));
        }
        if !links.is_empty() {
            m.insert("links".into(), Value::Array(links));
        }
    } else {
        let key = r.render(&secret_value(
            c.service_key.as_ref(),
            c.service_key_file.as_ref(),
            base_dir,
        )?);
        m.insert("service_key".into(), json!(key));
        m.insert("incident_key".into(), json!(n.key_hash()));
        m.insert(
            "event_type".into(),
            json!(if resolve { "resolve" } else { "trigger" }),
        );
        m.insert("description".into(), json!(description));
        if !resolve {
            m.insert("client".into(), json!(client));
            m.insert("client_url".into(), json!(client_url));
        }
        m.insert("details".into(), json!(details));
    }
    r.check()?;
    Ok((Value::Object(m), v2))
}

impl Pagerduty {
    pub async fn notify(&self, n: &Notification<'_>) -> Result<(), NotifyError> {
        let (body, v2) = body(&self.conf, n, n.base_dir)?;
        let url = match (&self.conf.url, v2) {
            (Some(u), _) => u.clone(),
            (None, true) => "https://events.pagerduty.com/v2/enqueue".to_string(),
            (None, false) => V1_URL.to_string(),
        };
        // v1 retries 403 (rate limiting), v2 retries 429.
        let extra: &[u16] = if v2 { &[429] } else { &[403] };
        post_json(&self.client, &url, &body, extra, &[])
            .await
            .map(|_| ())
    }
}
