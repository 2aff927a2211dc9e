//! Tempo API shapes (as Grafana's Tempo data source reads them) and Jaeger SPM
//! routes, against the real binary with spans sent over OTLP/HTTP.

use crate::common;

use std::time::{Duration, Instant};

use common::{Server, http_get, http_request};
use prost::Message;
use serde_json::{Value as J, json};
use sightline_otlp::proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use sightline_otlp::proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use sightline_otlp::proto::tonic::resource::v1::Resource;
use sightline_otlp::proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, TracesData,
};

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Trace `t`: gateway server root (name `GET /checkout`) → payment server child taking `ms`, failing if `err`.
fn send(port: u16, t: u8, ms: u64, err: bool) {
    let base = now_ns() - 5_000_000_000;
    let rs = |svc: &str, span: Span| ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                kv("service.name", s(svc)),
                kv("deployment.environment", s("production")),
            ],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans: vec![span],
            ..Default::default()
        }],
        ..Default::default()
    };
    let root = Span {
        trace_id: [vec![0; 8], vec![t; 8]].concat(),
        span_id: vec![t, 1, 0, 0, 0, 0, 0, 1],
        name: "GET /checkout".into(),
        kind: 2,
        start_time_unix_nano: base,
        end_time_unix_nano: base + (ms + 10) * 1_000_000,
        attributes: vec![kv(
            "http.response.status_code",
            any_value::Value::IntValue(if err { 502 } else { 200 }),
        )],
        ..Default::default()
    };
    let child = Span {
        trace_id: root.trace_id.clone(),
        span_id: vec![t, 2, 0, 0, 0, 0, 0, 1],
        parent_span_id: root.span_id.clone(),
        name: "charge".into(),
        kind: 2,
        start_time_unix_nano: base + 5_000_000,
        end_time_unix_nano: base + (ms + 5) * 1_000_000,
        attributes: vec![kv(
            "card.type",
            s(if t.is_multiple_of(2) { "visa" } else { "amex" }),
        )],
        status: err.then(|| Status {
            code: 2,
            message: "declined".into(),
        }),
        ..Default::default()
    };
    let req = ExportTraceServiceRequest {
        resource_spans: vec![rs("gateway", root), rs("payment", child)],
    };
    let (code, body) = http_request(
        port,
        "POST",
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &req.encode_to_vec(),
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
}

fn get(port: u16, path: &str) -> (u16, String) {
    http_get(port, path).unwrap()
}

fn get_json(port: u16, path: &str) -> J {
    let (c, b) = get(port, path);
    assert_eq!(c, 200, "GET {path}: {b}");
    serde_json::from_str(&b).unwrap_or_else(|e| panic!("{path}: {e}: {b}"))
}

fn search_ids(port: u16, q: &str) -> Vec<String> {
    let enc: String = form_urlencoded_byte_serialize(q);
    let v = get_json(port, &format!("/tempo/api/search?q={enc}&limit=20"));
    let mut ids: Vec<String> = v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceID"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn form_urlencoded_byte_serialize(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn tempo_routes_and_traceql() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(
        &dir.path().join("data"),
        &["--traces.span-metrics.flush-interval=300ms"],
    );
    for t in 1..=6u8 {
        send(srv.otlp_http_port, t, t as u64 * 100, t == 6);
    }
    let p = srv.port;
    assert_eq!(get(p, "/tempo/api/echo"), (200, "echo".into()));
    let b = get_json(p, "/tempo/api/status/buildinfo");
    assert!(b["version"].as_str().unwrap().split('.').count() == 3);

    // Trace by ID: v2 protobuf (TraceByIDResponse), v1 protobuf (Trace), JSON, short IDs, 404.
    let (code, body) = raw_get(
        p,
        "/tempo/api/v2/traces/0303030303030303",
        "application/protobuf",
    );
    assert_eq!(code, 200);
    #[derive(Clone, PartialEq, prost::Message)]
    struct ById {
        #[prost(message, optional, tag = "1")]
        trace: Option<TracesData>,
    }
    let r = ById::decode(&body[..]).unwrap();
    let n: usize = r
        .trace
        .unwrap()
        .resource_spans
        .iter()
        .flat_map(|x| &x.scope_spans)
        .map(|x| x.spans.len())
        .sum();
    assert_eq!(n, 2);
    let (code, body) = raw_get(
        p,
        "/tempo/api/traces/3030303030303030303",
        "application/protobuf",
    );
    assert_eq!(code, 404, "{}", String::from_utf8_lossy(&body));
    let (code, body) = raw_get(
        p,
        "/tempo/api/traces/303030303030303",
        "application/protobuf",
    );
    assert_eq!(code, 200);
    assert_eq!(
        TracesData::decode(&body[..]).unwrap().resource_spans.len(),
        2
    );
    let v = get_json(p, "/tempo/api/v2/traces/0000000000000000303030303030303");
    assert_eq!(v["trace"]["resourceSpans"].as_array().unwrap().len(), 2);
    assert_eq!(get(p, "/tempo/api/v2/traces/abcdef").0, 404);
    assert_eq!(get(p, "/tempo/api/v2/traces/xyz").0, 400);

    // Search shapes.
    let v = get_json(
        p,
        &format!(
            "/tempo/api/search?q={}&limit=2&spss=1",
            form_urlencoded_byte_serialize("{resource.service.name=\"payment\"}")
        ),
    );
    let traces = v["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 2);
    let t = &traces[0];
    assert_eq!(t["rootServiceName"], "gateway");
    assert_eq!(t["rootTraceName"], "GET /checkout");
    assert!(t["startTimeUnixNano"].is_string());
    assert!(t["durationMs"].is_u64());
    assert!(
        !t["traceID"].as_str().unwrap().starts_with('0'),
        "leading zeros trimmed"
    );
    let set = &t["spanSets"][0];
    assert_eq!(set["matched"], 1);
    assert_eq!(set["spans"][0]["name"], "charge");
    assert!(set["spans"][0]["durationNanos"].is_string());
    assert_eq!(set["spans"][0]["spanID"].as_str().unwrap().len(), 16);
    assert!(
        set["spans"][0]["attributes"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "service.name", "value": {"stringValue": "payment"}}))
    );
    assert_eq!(t["spanSet"], *set);

    // TraceQL semantics.
    let id = |t: u8| format!("{t:x}").repeat(1) + &format!("{t:02x}").repeat(7);
    assert_eq!(
        search_ids(
            p,
            "{ resource.service.name = \"payment\" && status = error }"
        ),
        vec![id(6)]
    );
    assert_eq!(
        search_ids(
            p,
            "{ duration > 350ms && kind = server && name = \"charge\" }"
        ),
        vec![id(4), id(5), id(6)]
    );
    assert_eq!(
        search_ids(p, "{ span.card.type = \"amex\" }"),
        vec![id(1), id(3), id(5)]
    );
    assert_eq!(
        search_ids(
            p,
            "{ .card.type =~ \"vi.*\" && .deployment.environment = \"production\" }"
        ),
        vec![id(2), id(4), id(6)]
    );
    assert_eq!(
        search_ids(p, "{ span.http.response.status_code >= 500 }"),
        vec![id(6)]
    );
    assert_eq!(
        search_ids(p, "{ traceDuration > 500ms }"),
        vec![id(5), id(6)]
    );
    assert_eq!(
        search_ids(
            p,
            "{ rootServiceName = \"gateway\" && name = \"charge\" && duration < 150ms }"
        ),
        vec![id(1)]
    );
    assert_eq!(
        search_ids(
            p,
            "{ name = \"charge\" && duration < 250ms } || { status = error }"
        ),
        vec![id(1), id(2), id(6)]
    );
    assert_eq!(
        search_ids(
            p,
            "{ resource.service.name = \"gateway\" } && { status = error }"
        ),
        vec![id(6)]
    );
    assert_eq!(
        search_ids(p, "{ name != \"charge\" && .card.type = \"visa\" }"),
        Vec::<String>::new()
    );
    assert_eq!(search_ids(p, "{}").len(), 6);
    let (code, body) = get(p, "/tempo/api/search?q=%7B%20name%20%3D%20%7D");
    assert_eq!(code, 400);
    assert!(body.contains("parse error at line 1, col 10"), "{body}");
    // Legacy tag search.
    let v = get_json(
        p,
        "/tempo/api/search?tags=service.name%3Dpayment%20card.type%3Damex&minDuration=200ms",
    );
    assert_eq!(v["traces"].as_array().unwrap().len(), 2);

    // Tags.
    let v = get_json(p, "/tempo/api/v2/search/tags");
    let scope = |n: &str| {
        v["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .unwrap()["tags"]
            .clone()
    };
    assert!(
        scope("resource")
            .as_array()
            .unwrap()
            .contains(&json!("service.name"))
    );
    assert!(
        scope("span")
            .as_array()
            .unwrap()
            .contains(&json!("card.type"))
    );
    assert!(
        scope("intrinsic")
            .as_array()
            .unwrap()
            .contains(&json!("status"))
    );
    let v = get_json(p, "/tempo/api/search/tags");
    assert!(
        v["tagNames"]
            .as_array()
            .unwrap()
            .contains(&json!("card.type"))
    );
    let v = get_json(p, "/tempo/api/v2/search/tag/resource.service.name/values");
    assert_eq!(
        v["tagValues"],
        json!([{"type": "string", "value": "gateway"}, {"type": "string", "value": "payment"}])
    );
    // Double-encoded tag and a TraceQL filter narrowing the values.
    let v = get_json(
        p,
        "/tempo/api/v2/search/tag/span.card.type/values?q=%7Bstatus%3Derror%7D",
    );
    assert_eq!(v["tagValues"], json!([{"type": "string", "value": "visa"}]));
    let v = get_json(
        p,
        "/tempo/api/v2/search/tag/span%252Ehttp.response.status_code/values",
    );
    assert_eq!(
        v["tagValues"],
        json!([{"type": "int", "value": "200"}, {"type": "int", "value": "502"}])
    );
    let v = get_json(p, "/tempo/api/v2/search/tag/status/values");
    assert!(
        v["tagValues"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "keyword", "value": "error"}))
    );
    let v = get_json(p, "/tempo/api/search/tag/name/values");
    assert_eq!(v["tagValues"], json!(["GET /checkout", "charge"]));

    // Jaeger SPM from the span metrics in the TSDB.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = get_json(
            p,
            "/jaeger/api/metrics/calls?service=payment&service=gateway&lookback=60000&step=10000&ratePer=60000",
        );
        assert_eq!(v["name"], "service_call_rate");
        assert_eq!(v["type"], "GAUGE");
        let m = v["metrics"].as_array().unwrap();
        if m.len() == 2
            && m.iter()
                .all(|x| !x["metricPoints"].as_array().unwrap().is_empty())
        {
            let pay = m
                .iter()
                .find(|x| x["labels"][0]["value"] == "payment")
                .unwrap();
            let last = pay["metricPoints"].as_array().unwrap().last().unwrap();
            assert_eq!(
                last["gaugeValue"]["doubleValue"], 0.1,
                "6 calls in 60 s: {v}"
            );
            assert!(last["timestamp"].as_str().unwrap().ends_with('Z'));
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let v = get_json(
        p,
        "/jaeger/api/metrics/errors?service=payment&lookback=60000&step=10000&ratePer=60000&groupByOperation=true",
    );
    assert_eq!(v["name"], "service_operation_error_rate");
    let m = &v["metrics"][0];
    assert_eq!(
        m["labels"],
        json!([{"name": "service_name", "value": "payment"}, {"name": "operation", "value": "charge"}])
    );
    let last = m["metricPoints"].as_array().unwrap().last().unwrap()["gaugeValue"]["doubleValue"]
        .as_f64()
        .unwrap();
    assert!((last - 1.0 / 6.0).abs() < 0.001, "{last}");
    let v = get_json(
        p,
        "/jaeger/api/metrics/latencies?service=payment&quantile=0.5&lookback=60000&step=10000&ratePer=60000",
    );
    assert_eq!(v["name"], "service_latencies");
    let last = v["metrics"][0]["metricPoints"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["gaugeValue"]["doubleValue"]
        .as_f64()
        .unwrap();
    assert!(
        last > 200.0 && last <= 400.0,
        "median of 100..600 ms: {last}"
    );
    assert_eq!(
        get(p, "/jaeger/api/metrics/latencies?service=payment").0,
        400
    );
    assert_eq!(get(p, "/jaeger/api/metrics/calls").0, 400);
}

/// GET returning the raw body bytes (protobuf responses are not text).
fn raw_get(port: u16, path: &str, accept: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, buf[split + 4..].to_vec())
}

/// Sends one trace `t` of `(span id, parent id, service, name, start offset ms, duration ms)`;
/// every `charge` span carries `http.method = POST`.
fn send_tree(port: u16, t: u8, spans: &[(u8, u8, &str, &str, u64, u64)]) {
    let base = now_ns() - 10_000_000_000;
    let id = |x: u8| {
        if x == 0 {
            Vec::new()
        } else {
            vec![t, x, 0, 0, 0, 0, 0, 1]
        }
    };
    let resource_spans = spans
        .iter()
        .map(|(sid, parent, svc, name, off, ms)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s(svc))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: [vec![0; 8], vec![t; 8]].concat(),
                    span_id: id(*sid),
                    parent_span_id: id(*parent),
                    name: name.to_string(),
                    kind: 2,
                    start_time_unix_nano: base + off * 1_000_000,
                    end_time_unix_nano: base + (off + ms) * 1_000_000,
                    attributes: if *name == "charge" {
                        vec![kv("http.method", s("POST"))]
                    } else {
                        Vec::new()
                    },
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    let req = ExportTraceServiceRequest { resource_spans };
    let (code, body) = http_request(
        port,
        "POST",
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &req.encode_to_vec(),
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
}

fn search_json(port: u16, q: &str) -> J {
    get_json(
        port,
        &format!(
            "/tempo/api/search?q={}&limit=20&spss=10",
            form_urlencoded_byte_serialize(q)
        ),
    )
}

/// The trace with this ID in a search response.
fn trace_in<'a>(v: &'a J, id: &str) -> &'a J {
    v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["traceID"] == id)
        .unwrap_or_else(|| panic!("trace {id} not in {v}"))
}

fn span_names(set: &J) -> Vec<String> {
    let mut v: Vec<String> = set["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn traceql_pipelines_and_structural_operators() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(&dir.path().join("data"), &[]);
    let o = srv.otlp_http_port;
    // A: gateway → checkout → (payment charge, inventory reserve).
    send_tree(
        o,
        0x11,
        &[
            (1, 0, "gateway", "GET /checkout", 0, 300),
            (2, 1, "checkout", "place order", 10, 200),
            (3, 2, "payment", "charge", 20, 150),
            (4, 2, "inventory", "reserve", 180, 20),
        ],
    );
    // B: gateway → (payment charge, checkout place order): payment is not under checkout.
    send_tree(
        o,
        0x12,
        &[
            (1, 0, "gateway", "GET /checkout", 0, 100),
            (2, 1, "payment", "charge", 10, 50),
            (3, 1, "checkout", "place order", 60, 30),
        ],
    );
    // C: gateway → checkout → payment charge → payment fraud check, all slow.
    send_tree(
        o,
        0x13,
        &[
            (1, 0, "gateway", "GET /checkout", 0, 2000),
            (2, 1, "checkout", "place order", 10, 1500),
            (3, 2, "payment", "charge", 20, 1200),
            (4, 3, "payment", "fraud check", 30, 1000),
        ],
    );
    let (a, b, c) = ("1111111111111111", "1212121212121212", "1313131313131313");
    let p = srv.port;
    let ids = |q: &str| search_ids(p, q);

    // Structural: the payment spans under checkout.
    let q = r#"{resource.service.name="checkout"} >> {resource.service.name="payment"}"#;
    assert_eq!(ids(q), vec![a, c]);
    let v = search_json(p, q);
    let set = &trace_in(&v, a)["spanSets"][0];
    assert_eq!(span_names(set), vec!["charge"]);
    assert_eq!(set["matched"], 1);
    let set = &trace_in(&v, c)["spanSets"][0];
    assert_eq!(span_names(set), vec!["charge", "fraud check"]);
    assert_eq!(set["matched"], 2);
    // Child only, sibling, negated and union forms.
    let v = search_json(
        p,
        r#"{resource.service.name="checkout"} > {resource.service.name="payment"}"#,
    );
    assert_eq!(span_names(&trace_in(&v, c)["spanSets"][0]), vec!["charge"]);
    assert_eq!(
        ids(r#"{resource.service.name="payment"} ~ {resource.service.name="checkout"}"#),
        vec![b]
    );
    assert_eq!(
        ids(r#"{resource.service.name="checkout"} !>> {resource.service.name="payment"}"#),
        vec![b]
    );
    let v = search_json(
        p,
        r#"{resource.service.name="checkout"} &>> {resource.service.name="payment"}"#,
    );
    assert_eq!(
        span_names(&trace_in(&v, a)["spanSets"][0]),
        vec!["charge", "place order"]
    );

    // Aggregates.
    assert_eq!(ids("{} | count() > 3"), vec![a, c]);
    assert_eq!(ids("{} | count() = 3"), vec![b]);
    let q = r#"{resource.service.name="payment"} | avg(duration) > 500ms"#;
    assert_eq!(ids(q), vec![c]);
    let v = search_json(p, q);
    assert_eq!(
        trace_in(&v, c)["spanSets"][0]["attributes"],
        json!([{"key": "avg(duration)", "value": {"stringValue": "1.1s"}}])
    );
    assert_eq!(ids("{} | max(duration) >= 2s"), vec![c]);
    assert_eq!(ids("{} | min(duration) < 25ms"), vec![a]);
    assert_eq!(ids("{} | sum(duration) < 200ms"), vec![b]);

    // by(): one spanset per service, with the value; chained with count().
    let v = search_json(p, "{} | by(resource.service.name)");
    let sets = trace_in(&v, a)["spanSets"].as_array().unwrap();
    assert_eq!(sets.len(), 4);
    let mut by: Vec<String> = sets
        .iter()
        .map(|s| {
            assert_eq!(s["attributes"][0]["key"], "by(resource.service.name)");
            s["attributes"][0]["value"]["stringValue"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    by.sort();
    assert_eq!(by, vec!["checkout", "gateway", "inventory", "payment"]);
    let q = "{} | by(resource.service.name) | count() > 1";
    assert_eq!(ids(q), vec![c]);
    let v = search_json(p, q);
    let sets = trace_in(&v, c)["spanSets"].as_array().unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!(
        sets[0]["attributes"],
        json!([
            {"key": "by(resource.service.name)", "value": {"stringValue": "payment"}},
            {"key": "count()", "value": {"intValue": "2"}},
        ])
    );
    assert_eq!(span_names(&sets[0]), vec!["charge", "fraud check"]);
    assert_eq!(trace_in(&v, c)["spanSet"], sets[0]);

    // select(): the attribute comes back with the spans.
    let v = search_json(
        p,
        r#"{ name = "charge" } | select(span.http.method, status, name, duration)"#,
    );
    let sp = &trace_in(&v, b)["spanSets"][0]["spans"][0];
    let attrs = sp["attributes"].as_array().unwrap();
    assert!(
        attrs.contains(&json!({"key": "http.method", "value": {"stringValue": "POST"}})),
        "{sp}"
    );
    assert!(
        attrs.contains(&json!({"key": "status", "value": {"stringValue": "unset"}})),
        "{sp}"
    );
    // name and duration are the span's own fields, not attributes (as Tempo returns them).
    assert!(
        !attrs
            .iter()
            .any(|a| a["key"] == "name" || a["key"] == "duration"),
        "{sp}"
    );
    assert_eq!(sp["name"], "charge");
    // Without select(), the attribute is not returned.
    let v = search_json(p, r#"{ name = "charge" }"#);
    let sp = &trace_in(&v, b)["spanSets"][0]["spans"][0];
    assert!(
        !sp["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["key"] == "http.method"),
        "{sp}"
    );
    // A filter stage after a pipe.
    assert_eq!(
        ids(r#"{ } | { resource.service.name = "inventory" }"#),
        vec![a]
    );

    // Still unsupported: 400 with a position naming the construct.
    let (code, body) = get(
        p,
        &format!(
            "/tempo/api/search?q={}",
            form_urlencoded_byte_serialize("{ } | rate()")
        ),
    );
    assert_eq!(code, 400);
    assert!(body.contains("col 7") && body.contains("rate()"), "{body}");
}
