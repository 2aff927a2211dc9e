//! A fake Kubernetes API server for tests (no cluster runs here): it speaks
//! the list+watch protocol over plain HTTP/1.1 with JSON shaped like the
//! real API — `…List` objects with `metadata.resourceVersion`, `?watch=1`
//! streams of `{"type":"ADDED|MODIFIED|DELETED","object":…}` lines from a
//! given resourceVersion, 410 Gone for versions older than the last
//! compaction, namespaced paths and equality `labelSelector`s.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Default)]
struct State {
    /// plural → (namespace, name) → object.
    objects: BTreeMap<String, BTreeMap<(String, String), Value>>,
    /// (resourceVersion, plural, event type, object).
    log: Vec<(u64, String, String, Value)>,
    rv: u64,
    /// Watches from versions below this get 410 Gone.
    compacted: u64,
    /// Every request path+query, for assertions.
    requests: Vec<String>,
    /// Answer every request with this status while set.
    fail_with: Option<u16>,
}

#[derive(Clone)]
pub struct FakeApiServer {
    state: Arc<Mutex<State>>,
    /// Bumped on every change (wakes watches) and on `drop_watches` (ends them).
    changed: watch::Sender<(u64, u64)>,
    pub url: String,
}

fn plural_of(kind: &str) -> &'static str {
    match kind {
        "Pod" => "pods",
        "Service" => "services",
        "Endpoints" => "endpoints",
        "EndpointSlice" => "endpointslices",
        "Node" => "nodes",
        other => panic!("unknown kind {other}"),
    }
}

impl FakeApiServer {
    pub async fn start() -> FakeApiServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (changed, _) = watch::channel((0, 0));
        let s = FakeApiServer {
            state: Arc::new(Mutex::new(State {
                rv: 100,
                ..Default::default()
            })),
            changed,
            url,
        };
        let srv = s.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let srv = srv.clone();
                tokio::spawn(async move { srv.serve(conn).await });
            }
        });
        s
    }

    /// Creates or replaces an object (kind taken from its `kind` field); returns its resourceVersion.
    pub fn apply(&self, mut obj: Value) -> u64 {
        let plural = plural_of(obj["kind"].as_str().expect("object kind")).to_string();
        let mut st = self.state.lock().unwrap();
        st.rv += 1;
        let rv = st.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let key = (
            obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            obj["metadata"]["name"].as_str().unwrap().to_string(),
        );
        let existed = st
            .objects
            .entry(plural.clone())
            .or_default()
            .insert(key, obj.clone())
            .is_some();
        let ty = if existed { "MODIFIED" } else { "ADDED" };
        st.log.push((rv, plural, ty.to_string(), obj));
        drop(st);
        self.changed.send_modify(|c| c.0 += 1);
        rv
    }

    pub fn delete(&self, kind: &str, namespace: &str, name: &str) {
        let plural = plural_of(kind).to_string();
        let mut st = self.state.lock().unwrap();
        let Some(mut obj) = st
            .objects
            .entry(plural.clone())
            .or_default()
            .remove(&(namespace.to_string(), name.to_string()))
        else {
            return;
        };
        st.rv += 1;
        let rv = st.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        st.log.push((rv, plural, "DELETED".to_string(), obj));
        drop(st);
        self.changed.send_modify(|c| c.0 += 1);
    }

    /// Ends every open watch stream (as an API server restart or load balancer would).
    pub fn drop_watches(&self) {
        self.changed.send_modify(|c| c.1 += 1);
    }

    /// Forgets history: watches from older versions now get 410 Gone.
    pub fn compact(&self) {
        let mut st = self.state.lock().unwrap();
        st.compacted = st.rv + 1;
        st.log.clear();
    }

    /// While `Some(status)`, every request fails with it.
    pub fn fail_with(&self, status: Option<u16>) {
        self.state.lock().unwrap().fail_with = status;
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    async fn serve(&self, mut conn: TcpStream) {
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let params: BTreeMap<String, String> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), decode(v)))
            .collect();
        let fail = {
            let mut st = self.state.lock().unwrap();
            st.requests.push(target.clone());
            st.fail_with
        };
        if let Some(code) = fail {
            let _ = write_response(
                &mut conn,
                code,
                &json!({"kind": "Status", "code": code}).to_string(),
            )
            .await;
            return;
        }
        let Some((plural, namespace)) = parse_path(path) else {
            let _ = write_response(&mut conn, 404, "{}").await;
            return;
        };
        let selector = params.get("labelSelector").cloned().unwrap_or_default();
        let matches = |o: &Value| {
            let ns_ok = namespace.is_empty()
                || o["metadata"]["namespace"].as_str() == Some(namespace.as_str());
            ns_ok && label_selector_matches(&selector, &o["metadata"]["labels"])
        };
        if params.get("watch").map(String::as_str) != Some("1") {
            let (items, rv) = {
                let st = self.state.lock().unwrap();
                let items: Vec<Value> = st
                    .objects
                    .get(&plural)
                    .map(|m| m.values().filter(|o| matches(o)).cloned().collect())
                    .unwrap_or_default();
                (items, st.rv)
            };
            let body = json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": rv.to_string()}, "items": items});
            let _ = write_response(&mut conn, 200, &body.to_string()).await;
            return;
        }
        let from: u64 = params
            .get("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if from < self.state.lock().unwrap().compacted {
            let _ = write_response(
                &mut conn,
                410,
                &json!({"kind": "Status", "code": 410, "reason": "Expired"}).to_string(),
            )
            .await;
            return;
        }
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
        if conn.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let mut rx = self.changed.subscribe();
        let drops_at_start = rx.borrow().1;
        let mut sent_up_to = from;
        let timeout: u64 = params
            .get("timeoutSeconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        loop {
            let events: Vec<(u64, String)> = {
                let st = self.state.lock().unwrap();
                st.log
                    .iter()
                    .filter(|(rv, p, _, o)| *rv > sent_up_to && *p == plural && matches(o))
                    .map(|(rv, _, ty, o)| (*rv, json!({"type": ty, "object": o}).to_string()))
                    .collect()
            };
            for (rv, line) in events {
                if conn
                    .write_all(format!("{line}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                sent_up_to = rv;
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() || rx.borrow().1 != drops_at_start { return },
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    }
}

async fn write_response(conn: &mut TcpStream, code: u16, body: &str) -> std::io::Result<()> {
    let resp = format!(
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(resp.as_bytes()).await
}

/// `/api/v1/pods`, `/api/v1/namespaces/ns/pods`, `/apis/discovery.k8s.io/v1/…` → (plural, namespace).
fn parse_path(path: &str) -> Option<(String, String)> {
    let rest = path
        .strip_prefix("/api/v1/")
        .or_else(|| path.strip_prefix("/apis/discovery.k8s.io/v1/"))?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [plural] => Some((plural.to_string(), String::new())),
        ["namespaces", ns, plural] => Some((plural.to_string(), ns.to_string())),
        _ => None,
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// Equality-based selectors only: `a=b,c!=d`.
fn label_selector_matches(sel: &str, labels: &Value) -> bool {
    sel.split(',').filter(|t| !t.is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            labels[k].as_str() != Some(v)
        } else if let Some((k, v)) = term.split_once('=') {
            labels[k.trim_end_matches('=')].as_str() == Some(v)
        } else {
            labels.get(term).is_some()
        }
    })
}
