//! OTLP receivers end to end against the real binary: spec responses for bad
//! input (zero/short IDs, malformed bodies, oversized and zip-bomb bodies, wrong
//! content types), gzip and JSON, gRPC codes, kill -9 durability of
//! acknowledged spans, OTLP metrics translation, and the Jaeger route shapes.

use crate::common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{Server, http_get, http_request};
use prost::Message;
use serde_json::Value as J;
use sightline_model::Matcher;
use sightline_otlp::proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use sightline_otlp::proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use sightline_otlp::proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use sightline_otlp::proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use sightline_otlp::proto::tonic::metrics::v1::{
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum, metric, number_data_point,
};
use sightline_otlp::proto::tonic::resource::v1::Resource;
use sightline_otlp::proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use sightline_tsdb::{Db, Options, Queryable, SelectHints};

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn span(trace: u8, id: u8, parent: u8, name: &str, kind: i32, error: bool) -> Span {
    let t = now_ns() - 1_000_000_000;
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        parent_span_id: if parent == 0 { vec![] } else { vec![parent; 8] },
        name: name.into(),
        kind,
        start_time_unix_nano: t,
        end_time_unix_nano: t + 5_000_000,
        attributes: vec![kv("http.route", "/x")],
        status: error.then(|| Status {
            code: 2,
            message: "boom".into(),
        }),
        ..Default::default()
    }
}

fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn post(port: u16, path: &str, ct: &str, enc: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut h = vec![("Content-Type", ct)];
    if let Some(e) = enc {
        h.push(("Content-Encoding", e));
    }
    http_request(port, "POST", path, &h, body).unwrap()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn get_json(port: u16, path: &str) -> (u16, J) {
    let (code, body) = http_get(port, path).unwrap();
    (
        code,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}")),
    )
}

fn trace_spans(port: u16, trace: u8) -> usize {
    let id = sightline_traces::span::hex(&[trace; 16]);
    let (code, v) = get_json(port, &format!("/jaeger/api/traces/{id}"));
    if code == 404 {
        return 0;
    }
    v["data"][0]["spans"].as_array().unwrap().len()
}

#[test]
fn http_partial_success_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(&dir.path().join("data"), &[]);
    let hp = srv.otlp_http_port;

    // Mixed batch: the zero trace ID and the short span ID are rejected, the rest stored.
    let mut bad_zero = span(1, 3, 0, "zero", 2, false);
    bad_zero.trace_id = vec![0; 16];
    let mut bad_short = span(1, 4, 0, "short", 2, false);
    bad_short.span_id = vec![1, 2, 3];
    let mut zero_span = span(1, 5, 0, "zero span id", 2, false);
    zero_span.span_id = vec![0; 8];
    let req = request(
        "svc-a",
        vec![
            span(1, 1, 0, "root", 2, false),
            bad_zero,
            bad_short,
            zero_span,
            span(1, 2, 1, "child", 3, true),
        ],
    );
    let (code, body) = post(
        hp,
        "/v1/traces",
        "application/json",
        None,
        &serde_json::to_vec(&req).unwrap(),
    );
    assert_eq!(code, 200, "{body}");
    let v: J = serde_json::from_str(&body).unwrap();
    assert_eq!(v["partialSuccess"]["rejectedSpans"], 3, "{body}");
    assert!(
        v["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("trace_id"),
        "{body}"
    );
    assert_eq!(trace_spans(srv.port, 1), 2);

    // Protobuf, gzip, on the main port too.
    let req = request("svc-b", vec![span(2, 1, 0, "root", 2, false)]);
    let (code, body) = post(
        srv.port,
        "/v1/traces",
        "application/x-protobuf",
        Some("gzip"),
        &gzip(&req.encode_to_vec()),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(trace_spans(srv.port, 2), 1);

    // Nothing usable: 400 with a Status body, not retried.
    let mut only_bad = span(3, 1, 0, "x", 2, false);
    only_bad.trace_id = vec![];
    let (code, body) = post(
        hp,
        "/v1/traces",
        "application/json",
        None,
        &serde_json::to_vec(&request("c", vec![only_bad])).unwrap(),
    );
    assert_eq!(code, 400, "{body}");
    let v: J = serde_json::from_str(&body).unwrap();
    assert_eq!(v["code"], 3);
    let (code, _) = post(
        hp,
        "/v1/traces",
        "application/x-protobuf",
        None,
        b"\xff\xff\xff garbage",
    );
    assert_eq!(code, 400);
    let (code, _) = post(
        hp,
        "/v1/traces",
        "application/json",
        None,
        b"{\"resourceSpans\": [",
    );
    assert_eq!(code, 400);
    let (code, _) = post(hp, "/v1/traces", "text/plain", None, b"hello");
    assert_eq!(code, 415);
    let (code, _) = post(
        hp,
        "/v1/traces",
        "application/x-protobuf",
        Some("gzip"),
        b"not gzip",
    );
    assert_eq!(code, 400);

    // Oversized: a body over the limit, and a small gzip bomb inflating past it.
    let big = vec![0u8; 33 << 20];
    let (code, _) = post(hp, "/v1/traces", "application/x-protobuf", None, &big);
    assert_eq!(code, 413);
    let (code, _) = post(
        hp,
        "/v1/traces",
        "application/x-protobuf",
        Some("gzip"),
        &gzip(&big),
    );
    assert_eq!(code, 413);

    // Everything accepted before is still there; the rejections lost nothing else.
    assert_eq!(trace_spans(srv.port, 1), 2);
    assert_eq!(trace_spans(srv.port, 2), 1);
}

#[test]
fn grpc_codes_and_kill9_durability() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let srv = Server::start(&data, &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let gp = srv.otlp_grpc_port;
    rt.block_on(async {
        let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{gp}"))
            .await
            .unwrap();
        for t in 10..30u8 {
            let r: ExportTraceServiceResponse = c
                .export(request(
                    "durable",
                    vec![
                        span(t, 1, 0, "root", 2, false),
                        span(t, 2, 1, "child", 3, false),
                    ],
                ))
                .await
                .unwrap()
                .into_inner();
            assert!(r.partial_success.is_none());
        }
        let mut bad = span(40, 1, 0, "x", 2, false);
        bad.span_id = vec![];
        let e = c.export(request("durable", vec![bad])).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
    });
    // Every acknowledged span survives kill -9 (WAL replay at start).
    srv.kill9();
    let srv = Server::start(&data, &[]);
    for t in 10..30u8 {
        assert_eq!(trace_spans(srv.port, t), 2, "trace {t} after kill -9");
    }
}

fn gauge_point(v: f64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: now_ns(),
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

#[test]
fn otlp_metrics_translation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let srv = Server::start(&data, &[]);
    let metric = |name: &str, unit: &str, data: metric::Data| Metric {
        name: name.into(),
        unit: unit.into(),
        description: "d".into(),
        data: Some(data),
        ..Default::default()
    };
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "checkout"),
                    kv("service.namespace", "shop"),
                    kv("service.instance.id", "pod-1"),
                    kv("k8s.cluster.name", "prod"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    metric(
                        "http.server.requests",
                        "{request}",
                        metric::Data::Sum(Sum {
                            data_points: vec![gauge_point(7.0, vec![kv("http.method", "GET")])],
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        }),
                    ),
                    metric(
                        "process.memory.usage",
                        "By",
                        metric::Data::Gauge(Gauge {
                            data_points: vec![gauge_point(1024.0, vec![])],
                        }),
                    ),
                    metric(
                        "cpu.utilization",
                        "1",
                        metric::Data::Gauge(Gauge {
                            data_points: vec![gauge_point(0.5, vec![])],
                        }),
                    ),
                    metric(
                        "http.server.duration",
                        "ms",
                        metric::Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                time_unix_nano: now_ns(),
                                count: 3,
                                sum: Some(30.0),
                                bucket_counts: vec![1, 2, 0],
                                explicit_bounds: vec![5.0, 50.0],
                                ..Default::default()
                            }],
                            aggregation_temporality: 2,
                        }),
                    ),
                    metric(
                        "delta.counter",
                        "",
                        metric::Data::Sum(Sum {
                            data_points: vec![gauge_point(1.0, vec![])],
                            aggregation_temporality: 1,
                            is_monotonic: true,
                        }),
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let (code, body) = post(
        srv.port,
        "/api/v1/otlp/v1/metrics",
        "application/x-protobuf",
        None,
        &req.encode_to_vec(),
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = post(
        srv.otlp_http_port,
        "/v1/metrics",
        "application/json",
        None,
        &serde_json::to_vec(&req).unwrap(),
    );
    assert_eq!(code, 200, "{body}");
    let v: J = serde_json::from_str(&body).unwrap();
    assert_eq!(v["partialSuccess"]["rejectedDataPoints"], 1, "{body}");
    assert!(
        v["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("delta"),
        "{body}"
    );

    assert!(srv.sigterm_and_wait().success());
    let db = Db::open(&data, Options::default()).unwrap();
    let q = db.querier(0, i64::MAX).unwrap();
    let one = |name: &str| {
        let s = q
            .select(&[Matcher::equal("__name__", name)], &SelectHints::default())
            .unwrap();
        assert_eq!(
            s.len(),
            1,
            "{name}: {:?}",
            s.iter().map(|x| x.labels.to_string()).collect::<Vec<_>>()
        );
        (s[0].labels.clone(), s[0].samples.last().unwrap().v)
    };
    let (l, v) = one("http_server_requests_total");
    assert_eq!(v, 7.0);
    assert_eq!(l.get("job"), Some("shop/checkout"));
    assert_eq!(l.get("instance"), Some("pod-1"));
    assert_eq!(l.get("http_method"), Some("GET"));
    assert_eq!(one("process_memory_usage_bytes").1, 1024.0);
    assert_eq!(one("cpu_utilization_ratio").1, 0.5);
    assert_eq!(one("http_server_duration_milliseconds_count").1, 3.0);
    let b = q
        .select(
            &[
                Matcher::equal("__name__", "http_server_duration_milliseconds_bucket"),
                Matcher::equal("le", "50"),
            ],
            &SelectHints::default(),
        )
        .unwrap();
    assert_eq!(b[0].samples.last().unwrap().v, 3.0);
    let (l, v) = one("target_info");
    assert_eq!(v, 1.0);
    assert_eq!(l.get("k8s_cluster_name"), Some("prod"));
    assert!(
        q.select(
            &[Matcher::equal("__name__", "delta_counter_total")],
            &SelectHints::default()
        )
        .unwrap()
        .is_empty()
    );
}

#[test]
fn jaeger_route_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(
        &dir.path().join("data"),
        &["--traces.span-metrics.flush-interval=300ms"],
    );
    let req = request(
        "shop",
        vec![
            span(7, 1, 0, "GET /cart", 2, true),
            span(7, 2, 1, "SELECT", 3, false),
        ],
    );
    let (code, _) = post(
        srv.otlp_http_port,
        "/v1/traces",
        "application/x-protobuf",
        None,
        &req.encode_to_vec(),
    );
    assert_eq!(code, 200);
    let envelope = |v: &J| {
        for k in ["data", "total", "limit", "offset", "errors"] {
            assert!(v.get(k).is_some(), "envelope key {k} missing in {v}");
        }
    };
    let (c, v) = get_json(srv.port, "/jaeger/api/services");
    assert_eq!(
        (
            c,
            v["data"].clone(),
            v["total"].clone(),
            v["errors"].clone()
        ),
        (200, serde_json::json!(["shop"]), 1.into(), J::Null)
    );
    let (c, v) = get_json(srv.port, "/jaeger/api/services/shop/operations");
    assert_eq!(
        (c, v["data"].clone()),
        (200, serde_json::json!(["GET /cart", "SELECT"]))
    );
    let (c, v) = get_json(
        srv.port,
        "/jaeger/api/operations?service=shop&spanKind=server",
    );
    assert_eq!(
        (c, v["data"].clone()),
        (
            200,
            serde_json::json!([{"name": "GET /cart", "spanKind": "server"}])
        )
    );
    let (c, v) = get_json(srv.port, "/jaeger/api/operations");
    assert_eq!(c, 400);
    assert_eq!(v["errors"][0]["msg"], "parameter 'service' is required");

    let tid = "07070707070707070707070707070707";
    let (c, v) = get_json(srv.port, &format!("/jaeger/api/traces/{tid}"));
    assert_eq!(c, 200);
    envelope(&v);
    let t = &v["data"][0];
    assert_eq!(t["traceID"], tid);
    let root = t["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["operationName"] == "GET /cart")
        .unwrap();
    assert_eq!(root["references"], serde_json::json!([]));
    assert_eq!(root["spanID"], "0101010101010101");
    assert!(
        root["startTime"].as_u64().unwrap() > 1_700_000_000_000_000,
        "µs"
    );
    assert_eq!(root["duration"], 5000);
    assert_eq!(root["warnings"], J::Null);
    let tags = root["tags"].as_array().unwrap();
    assert!(tags.contains(&serde_json::json!({"key": "error", "type": "bool", "value": true})));
    assert!(
        tags.contains(
            &serde_json::json!({"key": "span.kind", "type": "string", "value": "server"})
        )
    );
    assert!(tags.contains(
        &serde_json::json!({"key": "otel.status_code", "type": "string", "value": "ERROR"})
    ));
    assert_eq!(
        t["processes"][root["processID"].as_str().unwrap()]["serviceName"],
        "shop"
    );
    let child = t["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["operationName"] == "SELECT")
        .unwrap();
    assert_eq!(
        child["references"],
        serde_json::json!([{"refType": "CHILD_OF", "traceID": tid, "spanID": "0101010101010101"}])
    );

    let (c, v) = get_json(
        srv.port,
        "/jaeger/api/traces/00000000000000000000000000000abc",
    );
    assert_eq!(c, 404);
    assert_eq!(v["errors"][0]["code"], 404);
    assert_eq!(v["data"], J::Null);

    // Search: tags JSON, tag=k:v, durations, repeated traceID.
    let (c, v) = get_json(
        srv.port,
        "/jaeger/api/traces?service=shop&tags=%7B%22error%22%3A%22true%22%7D&limit=5",
    );
    assert_eq!((c, v["data"].as_array().unwrap().len()), (200, 1));
    let (_, v) = get_json(
        srv.port,
        "/jaeger/api/traces?service=shop&tag=http.route:/x&minDuration=1ms&maxDuration=1s",
    );
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let (_, v) = get_json(srv.port, "/jaeger/api/traces?service=shop&minDuration=6ms");
    assert_eq!(v["data"], serde_json::json!([]));
    let (c, _) = get_json(
        srv.port,
        "/jaeger/api/traces?service=shop&minDuration=2s&maxDuration=1s",
    );
    assert_eq!(c, 400);
    let (_, v) = get_json(
        srv.port,
        &format!("/jaeger/api/traces?traceID={tid}&traceID=0abc"),
    );
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["errors"][0]["traceID"], "0abc");

    // api_v3.
    let (_, v) = get_json(srv.port, "/jaeger/api/v3/services");
    assert_eq!(v, serde_json::json!({"services": ["shop"]}));
    let (_, v) = get_json(
        srv.port,
        "/jaeger/api/v3/operations?service=shop&span_kind=client",
    );
    assert_eq!(
        v,
        serde_json::json!({"operations": [{"name": "SELECT", "spanKind": "client"}]})
    );
    let (c, v) = get_json(srv.port, &format!("/jaeger/api/v3/traces/{tid}"));
    assert_eq!(c, 200);
    let s = &v["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"];
    let root = s
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "GET /cart")
        .unwrap();
    assert_eq!(root["traceId"], tid);
    assert_eq!(root["kind"], 2);
    assert_eq!(root["status"]["code"], 2);
    assert!(root["startTimeUnixNano"].is_string());
    let (c, v) = get_json(
        srv.port,
        "/jaeger/api/v3/traces?query.service_name=shop&query.start_time_min=2020-01-01T00:00:00Z&query.start_time_max=2100-01-01T00:00:00.5Z",
    );
    assert_eq!(c, 200);
    assert_eq!(v["result"]["resourceSpans"].as_array().unwrap().len(), 1);
    let (c, v) = get_json(
        srv.port,
        "/jaeger/api/v3/traces?query.serviceName=nope&query.startTimeMin=2020-01-01T00:00:00Z&query.startTimeMax=2100-01-01T00:00:00Z",
    );
    assert_eq!(
        (c, v),
        (200, serde_json::json!({"result": {"resourceSpans": []}}))
    );
    let (c, v) = get_json(srv.port, "/jaeger/api/v3/traces?query.serviceName=shop");
    assert_eq!(c, 400);
    assert_eq!(v["error"]["httpCode"], 400);

    // Dependencies come from service-graph metrics: a client span with db.name pairs at once.
    let mut db_span = span(8, 1, 0, "SELECT", 3, false);
    db_span.attributes.push(kv("db.name", "postgres"));
    let (code, _) = post(
        srv.otlp_http_port,
        "/v1/traces",
        "application/x-protobuf",
        None,
        &request("shop", vec![db_span]).encode_to_vec(),
    );
    assert_eq!(code, 200);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (c, v) = get_json(srv.port, "/jaeger/api/dependencies?lookback=3600000");
        envelope(&v);
        assert_eq!(c, 200);
        if v["data"] == serde_json::json!([{"parent": "shop", "child": "postgres", "callCount": 1}])
        {
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(500));
    }
}
