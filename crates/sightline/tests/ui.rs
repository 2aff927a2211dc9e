//! The web UI served by the real binary: the page and its assets over a real
//! socket, every API path the UI's JavaScript calls answered by the server,
//! and (when node is installed) the pages rendered against live data.

use crate::common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Server, http_request};
use serde_json::{Value as J, json};

/// A request returning status, lower-cased head and (unchunked) body.
fn fetch(port: u16, method: &str, path: &str, body: &[u8], ct: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !ct.is_empty() {
        req.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, head.to_ascii_lowercase(), rest.to_string())
}

fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or("")
        .trim()
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn kv(k: &str, v: J) -> J {
    json!({"key": k, "value": v})
}

/// `n` checkout traces (gateway → order → payment through CLIENT spans, every
/// 4th payment slow, every 5th failing) as OTLP/JSON; returns the trace IDs.
fn send_checkouts(port: u16, n: u64, seed: u64) -> Vec<String> {
    let ms = 1_000_000u64;
    let mut by_service: Vec<(&str, Vec<J>)> =
        vec![("gateway", vec![]), ("order", vec![]), ("payment", vec![])];
    let mut ids = Vec::new();
    for i in 0..n {
        let k = seed * 1000 + i;
        let tid = format!("{:016x}{:016x}", 0x5167_6874_6c69_6e65u64, k + 1);
        let sid = |x: u64| format!("{:014x}{x:02x}", k + 1);
        let base = now_ns() - 6_000 * ms;
        let pay = if i % 4 == 0 { 4_200 } else { 40 + (i % 7) * 20 };
        let err = i % 5 == 1;
        let status = if err {
            json!({"code": 2, "message": "card declined"})
        } else {
            json!({})
        };
        by_service[0].1.push(json!({
            "traceId": tid, "spanId": sid(1), "name": "POST /checkout", "kind": 2,
            "startTimeUnixNano": base.to_string(), "endTimeUnixNano": (base + (pay + 170) * ms).to_string(),
            "attributes": [kv("http.request.method", json!({"stringValue": "POST"}))], "status": status,
        }));
        // CLIENT spans calling the next service: the service graph's edges.
        by_service[0].1.push(json!({
            "traceId": tid, "spanId": sid(4), "parentSpanId": sid(1), "name": "POST /orders", "kind": 3,
            "startTimeUnixNano": (base + 15 * ms).to_string(), "endTimeUnixNano": (base + (pay + 145) * ms).to_string(),
        }));
        by_service[1].1.push(json!({
            "traceId": tid, "spanId": sid(2), "parentSpanId": sid(4), "name": "CreateOrder", "kind": 2,
            "startTimeUnixNano": (base + 20 * ms).to_string(), "endTimeUnixNano": (base + (pay + 140) * ms).to_string(),
        }));
        by_service[1].1.push(json!({
            "traceId": tid, "spanId": sid(5), "parentSpanId": sid(2), "name": "POST /charge", "kind": 3,
            "startTimeUnixNano": (base + 55 * ms).to_string(), "endTimeUnixNano": (base + (pay + 65) * ms).to_string(),
            "status": status,
        }));
        by_service[2].1.push(json!({
            "traceId": tid, "spanId": sid(3), "parentSpanId": sid(5), "name": "Charge", "kind": 2,
            "startTimeUnixNano": (base + 60 * ms).to_string(), "endTimeUnixNano": (base + (pay + 60) * ms).to_string(),
            "attributes": [kv("card.note", json!({"stringValue": "<img src=x onerror=alert(1)>"}))],
            "events": [{"timeUnixNano": (base + 70 * ms).to_string(), "name": "retry", "attributes": []}],
            "status": status,
        }));
        ids.push(tid);
    }
    let body = json!({"resourceSpans": by_service.into_iter().map(|(svc, spans)| json!({
        "resource": {"attributes": [kv("service.name", json!({"stringValue": svc}))]},
        "scopeSpans": [{"scope": {"name": "ui-test"}, "spans": spans}],
    })).collect::<Vec<_>>()});
    let (code, _, text) = fetch(
        port,
        "POST",
        "/v1/traces",
        body.to_string().as_bytes(),
        "application/json",
    );
    assert_eq!(code, 200, "{text}");
    ids
}

/// `ui/...` references in the page.
fn asset_refs(html: &str) -> Vec<String> {
    let mut out = BTreeSet::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let r = &part[..part.find('"').unwrap()];
            if r.starts_with("ui/") {
                out.insert(r.to_string());
            }
        }
    }
    out.into_iter().collect()
}

/// Every quoted server path in the UI's scripts (`"api/..."`, `"jaeger/api/..."`, `"tempo/api/..."`).
fn api_paths_in_js() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, src) in sightline_ui::scripts() {
        for q in ['"', '\'', '`'] {
            for (i, part) in src.split(q).enumerate() {
                if i % 2 == 1
                    && (part.starts_with("api/")
                        || part.starts_with("jaeger/api/")
                        || part.starts_with("tempo/api/"))
                {
                    out.insert(part.to_string());
                }
            }
        }
    }
    out
}

#[test]
fn ui_is_served_and_every_api_it_calls_exists() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(
        &dir.path().join("data"),
        &["--traces.span-metrics.flush-interval=1s"],
    );

    // The page and its assets.
    let (code, head, html) = fetch(srv.port, "GET", "/", b"", "");
    assert_eq!(code, 200);
    assert_eq!(header(&head, "content-type"), "text/html; charset=utf-8");
    assert!(html.contains("<script src=\"ui/app.js?v="), "{html}");
    assert!(
        html.contains("<link rel=\"stylesheet\" href=\"ui/app.css?v="),
        "{html}"
    );
    let refs = asset_refs(&html);
    assert!(refs.len() >= 6, "{refs:?}");
    for r in &refs {
        let (code, head, body) = fetch(srv.port, "GET", &format!("/{r}"), b"", "");
        assert_eq!(code, 200, "{r}");
        let path = r.split('?').next().unwrap();
        let want = if path.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else if path.ends_with(".css") {
            "text/css; charset=utf-8"
        } else if path.ends_with(".svg") {
            "image/svg+xml"
        } else {
            panic!("unexpected asset {r}")
        };
        assert_eq!(header(&head, "content-type"), want, "{r}");
        assert_eq!(
            header(&head, "cache-control"),
            "public, max-age=31536000, immutable",
            "{r}"
        );
        assert!(!body.is_empty(), "{r}");
        // What is served is what is embedded.
        let a = sightline_ui::asset(path.trim_start_matches("ui/")).unwrap();
        assert_eq!(body.len(), a.body.len(), "{r}");
    }
    let (code, _, _) = fetch(srv.port, "GET", "/ui/missing.js", b"", "");
    assert_eq!(code, 404);
    let (code, _, _) = fetch(srv.port, "GET", "/ui/app.js.map", b"", "");
    assert_eq!(code, 404);

    // Before any data: every page shows its empty state without an error.
    let node = node_available();
    if node {
        run_dom_smoke(&srv, &["-"]);
    }

    // Data for the APIs: traces (hence services and span metrics) and a silence.
    let mut trace_ids = Vec::new();
    for round in 0..4 {
        trace_ids.extend(send_checkouts(srv.port, 12, round));
        std::thread::sleep(Duration::from_millis(1300));
    }
    // The same JSON the UI's silence form posts.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let silence = json!({
        "matchers": [{"name": "service", "value": "payment", "isRegex": false, "isEqual": true}],
        "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "ui test", "comment": "maintenance",
    });
    let (code, _, body) = fetch(
        srv.port,
        "POST",
        "/api/v2/silences",
        silence.to_string().as_bytes(),
        "application/json",
    );
    assert_eq!(code, 200, "{body}");
    let silence_id = serde_json::from_str::<J>(&body).unwrap()["silenceID"]
        .as_str()
        .unwrap()
        .to_string();

    // Every API path in the scripts answers 200 with JSON (a renamed or removed
    // endpoint fails here: 404, or 410 from the Alertmanager v1 catch-all).
    let paths = api_paths_in_js();
    assert!(paths.len() >= 10, "{paths:?}");
    for p in &paths {
        let filled = p
            .replace("{name}", "service_name")
            .replace("{service}", "payment")
            .replace(
                "{id}",
                if p.starts_with("jaeger/") {
                    &trace_ids[0]
                } else {
                    &silence_id
                },
            );
        assert!(
            !filled.contains('{'),
            "no test value for a placeholder in {p}"
        );
        let query = match p.as_str() {
            "api/v1/query" => format!("?query=up&time={now}"),
            "api/v1/query_range" => {
                format!("?query=up&start={}&end={now}&step=15", now - 600)
            }
            "api/v1/query_exemplars" => format!(
                "?query=traces_span_metrics_duration_milliseconds_bucket&start={}&end={now}",
                now - 600
            ),
            _ => String::new(),
        };
        let (code, body) =
            http_request(srv.port, "GET", &format!("/{filled}{query}"), &[], &[]).unwrap();
        assert_eq!(code, 200, "GET /{filled}{query}: {body}");
        let v: J = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{p}: {e}: {body}"));
        if let Some(st) = v.get("status").and_then(|s| s.as_str()) {
            assert_eq!(st, "success", "{p}: {body}");
        }
    }
    for want in [
        "api/v1/query_range",
        "api/v1/rules",
        "api/v2/silences",
        "api/v2/silence/{id}",
        "jaeger/api/traces",
        "jaeger/api/traces/{id}",
    ] {
        assert!(paths.contains(want), "the UI no longer calls {want}");
    }
    // The UI expires silences with DELETE on the silence path.
    let (code, body) = http_request(
        srv.port,
        "DELETE",
        &format!("/api/v2/silence/{silence_id}"),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");

    // The pages themselves, against this data, when node is available.
    if node {
        run_dom_smoke(&srv, &["payment", "order"]);
    } else {
        eprintln!("node not installed; skipped rendering the pages");
    }
}

fn node_available() -> bool {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Renders the pages with `crates/ui/tests/dom_smoke.js` against the server.
fn run_dom_smoke(srv: &Server, args: &[&str]) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/tests/dom_smoke.js");
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(srv.url("/"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "dom_smoke.js {args:?}:\n{text}");
    eprintln!("{text}");
}
