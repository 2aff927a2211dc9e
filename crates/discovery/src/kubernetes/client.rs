//! A minimal Kubernetes API client: paginated list and streaming watch over
//! reqwest, for the five resource kinds discovery needs.
//!
//! Why not the `kube` crate: discovery needs list+watch of five kinds and a
//! handful of fields from each. `kube` + `k8s-openapi` add several minutes of
//! build on this shared 2-core machine and their generic watcher code is
//! monomorphised into every crate that touches it, slowing incremental
//! builds; the protocol itself (list, then `?watch=1` from the returned
//! `resourceVersion`, relist on 410 Gone) is small enough to own.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use serde::Deserialize;

use super::objects::{Kind, Object};

#[derive(Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    /// Service-account tokens rotate: re-read the file on every request.
    token_file: Option<PathBuf>,
}

/// One watched collection: a kind, optionally in one namespace, with selectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub kind: Kind,
    /// Empty: all namespaces (or a cluster-scoped kind).
    pub namespace: String,
    pub label_selector: String,
    pub field_selector: String,
}

impl Resource {
    fn path(&self) -> String {
        let (group, plural) = self.kind.path();
        if self.kind.namespaced() && !self.namespace.is_empty() {
            format!("{group}/namespaces/{}/{plural}", self.namespace)
        } else {
            format!("{group}/{plural}")
        }
    }
}

/// How a watch ended.
#[derive(Debug)]
pub enum WatchEnd {
    /// The server closed the stream (its timeout): watch again from the last version.
    Closed,
    /// 410 Gone: the version is too old; list again.
    Gone,
    Failed(String),
}

#[derive(Deserialize)]
struct ListMeta {
    #[serde(default, rename = "resourceVersion")]
    resource_version: String,
    #[serde(default, rename = "continue")]
    cont: String,
}

#[derive(Deserialize)]
struct List {
    #[serde(default)]
    metadata: Option<ListMeta>,
    #[serde(default)]
    items: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: serde_json::Value,
}

pub enum Change {
    Applied(Object),
    Deleted(Object),
}

fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiClient({})", self.base)
    }
}

impl ApiClient {
    pub fn new(base: &str, http: reqwest::Client, token_file: Option<PathBuf>) -> Self {
        ApiClient {
            base: base.trim_end_matches('/').to_string(),
            http,
            token_file,
        }
    }

    fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, String> {
        let mut req = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(f) = &self.token_file {
            let t = std::fs::read_to_string(f)
                .map_err(|e| format!("reading token {}: {e}", f.display()))?;
            req = req.header(AUTHORIZATION, format!("Bearer {}", t.trim()));
        }
        Ok(req)
    }

    fn query(&self, r: &Resource, extra: &[(&str, String)]) -> String {
        let mut q: Vec<String> = Vec::new();
        if !r.label_selector.is_empty() {
            q.push(format!("labelSelector={}", enc(&r.label_selector)));
        }
        if !r.field_selector.is_empty() {
            q.push(format!("fieldSelector={}", enc(&r.field_selector)));
        }
        for (k, v) in extra {
            q.push(format!("{k}={}", enc(v)));
        }
        format!("{}{}?{}", self.base, r.path(), q.join("&"))
    }

    /// Lists every object (following `continue` tokens); returns them and the
    /// list's resourceVersion to watch from.
    pub async fn list(&self, r: &Resource) -> Result<(Vec<Object>, String), String> {
        let mut items = Vec::new();
        let mut cont = String::new();
        loop {
            let mut extra = vec![("limit", "500".to_string())];
            if !cont.is_empty() {
                extra.push(("continue", cont.clone()));
            }
            let url = self.query(r, &extra);
            let resp = self
                .get(&url)?
                .timeout(Duration::from_secs(60))
                .send()
                .await
                .map_err(|e| format!("list {url}: {e}"))?;
            if !resp.status().is_success() {
                return Err(format!("list {url}: HTTP {}", resp.status()));
            }
            let body = resp.bytes().await.map_err(|e| format!("list {url}: {e}"))?;
            let list: List =
                serde_json::from_slice(&body).map_err(|e| format!("list {url}: {e}"))?;
            for v in list.items {
                match r.kind.decode(v) {
                    Ok(o) => items.push(o),
                    Err(e) => tracing::warn!(error = %e, "skipping undecodable Kubernetes object"),
                }
            }
            let meta = list.metadata.unwrap_or(ListMeta {
                resource_version: String::new(),
                cont: String::new(),
            });
            if meta.cont.is_empty() {
                return Ok((items, meta.resource_version));
            }
            cont = meta.cont;
        }
    }

    /// Streams changes after `version` into `on_change` until the stream ends.
    /// `version` tracks the newest resourceVersion seen (bookmarks included).
    /// `connected` is called once the server accepted the watch.
    pub async fn watch(
        &self,
        r: &Resource,
        version: &mut String,
        timeout_secs: u64,
        mut connected: impl FnMut(),
        mut on_change: impl FnMut(Change) -> bool,
    ) -> WatchEnd {
        let url = self.query(
            r,
            &[
                ("watch", "1".into()),
                ("resourceVersion", version.clone()),
                ("allowWatchBookmarks", "true".into()),
                ("timeoutSeconds", timeout_secs.to_string()),
            ],
        );
        let req = match self.get(&url) {
            Ok(r) => r,
            Err(e) => return WatchEnd::Failed(e),
        };
        // No overall timeout: the server ends the stream after timeoutSeconds;
        // the margin catches a silently dead connection.
        let mut resp = match req
            .timeout(Duration::from_secs(timeout_secs + 30))
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return WatchEnd::Failed(format!("watch {url}: {e}")),
        };
        if resp.status() == reqwest::StatusCode::GONE {
            return WatchEnd::Gone;
        }
        if !resp.status().is_success() {
            return WatchEnd::Failed(format!("watch {url}: HTTP {}", resp.status()));
        }
        connected();
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => return WatchEnd::Closed,
                // A timeout is how an idle watch usually ends: watch again.
                Err(e) if e.is_timeout() => return WatchEnd::Closed,
                Err(e) => return WatchEnd::Failed(format!("watch {url}: {e}")),
            };
            buf.extend_from_slice(&chunk);
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let line = &line[..line.len() - 1];
                if line.iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                let ev: WatchEvent = match serde_json::from_slice(line) {
                    Ok(ev) => ev,
                    Err(e) => return WatchEnd::Failed(format!("watch {url}: bad event: {e}")),
                };
                if ev.kind != "ERROR"
                    && let Some(rv) = ev
                        .object
                        .pointer("/metadata/resourceVersion")
                        .and_then(|v| v.as_str())
                {
                    *version = rv.to_string();
                }
                let change = match ev.kind.as_str() {
                    "ADDED" | "MODIFIED" => r.kind.decode(ev.object).map(Change::Applied),
                    "DELETED" => r.kind.decode(ev.object).map(Change::Deleted),
                    "BOOKMARK" => continue,
                    "ERROR" => {
                        let code = ev.object.get("code").and_then(|c| c.as_i64()).unwrap_or(0);
                        if code == 410 {
                            return WatchEnd::Gone;
                        }
                        let msg = ev
                            .object
                            .get("message")
                            .and_then(|m| m.as_str())
                            .unwrap_or("")
                            .to_string();
                        return WatchEnd::Failed(format!("watch {url}: error event {code}: {msg}"));
                    }
                    other => {
                        tracing::debug!(event = other, "ignoring unknown watch event");
                        continue;
                    }
                };
                match change {
                    Ok(c) => {
                        if !on_change(c) {
                            return WatchEnd::Closed;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "skipping undecodable Kubernetes object"),
                }
            }
        }
    }
}
