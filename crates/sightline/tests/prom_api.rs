//! The Prometheus HTTP API of the real binary: envelope, value rendering,
//! parameters (GET, POST form, RFC3339/unix times, duration/float steps,
//! repeated `match[]`), error types and status codes, status endpoints and
//! federation.

use crate::common;
use crate::promdata;

use common::{Server, http_get, http_request, remote_write};
use promdata::{base_time, dataset, form, secs, write_batches};
use serde_json::Value;

fn start_loaded(extra: &[&str]) -> (tempfile::TempDir, Server, i64) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        "global:\n  external_labels:\n    region: test\nscrape_configs: []\n",
    )
    .unwrap();
    let cfg_flag = format!("--config.file={}", cfg.display());
    let mut args = vec![cfg_flag.as_str()];
    args.extend_from_slice(extra);
    let srv = Server::start(&dir.path().join("data"), &args);
    let base = base_time();
    for body in write_batches(&dataset(base)) {
        let (code, text) = remote_write(srv.port, &body).unwrap();
        assert_eq!(code, 204, "remote write: {text}");
    }
    (dir, srv, base)
}

fn get_json(port: u16, path: &str) -> (u16, Value) {
    let (code, body) = http_get(port, path).unwrap();
    (
        code,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")),
    )
}

fn post_json(port: u16, path: &str, body: &str) -> (u16, Value) {
    let (code, text) = http_request(
        port,
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
    .unwrap();
    (
        code,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}")),
    )
}

#[test]
fn query_api_shapes_and_errors() {
    let (_dir, srv, base) = start_loaded(&["--query.max-samples=50000"]);
    let port = srv.port;
    let t = base + 30 * 60_000;

    // Instant vector.
    let q = form(&[
        ("query", "sum by (service) (rate(http_requests_total[5m]))"),
        ("time", &secs(t)),
    ]);
    let (code, v) = get_json(port, &format!("/api/v1/query?{q}"));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    let res = v["data"]["result"].as_array().unwrap();
    assert_eq!(res.len(), 4);
    for s in res {
        assert!(s["metric"]["service"].is_string());
        assert!(s["metric"].get("__name__").is_none());
        let point = s["value"].as_array().unwrap();
        assert_eq!(point[0].as_f64().unwrap(), t as f64 / 1000.0);
        let val: f64 = point[1].as_str().unwrap().parse().unwrap();
        assert!(val > 0.0, "{s}");
    }

    // Scalar, string and special float rendering.
    let (_, v) = get_json(
        port,
        &format!(
            "/api/v1/query?{}",
            form(&[("query", "1/0"), ("time", "1.5")])
        ),
    );
    assert_eq!(v["data"]["resultType"], "scalar");
    assert_eq!(v["data"]["result"], serde_json::json!([1.5, "+Inf"]));
    let (_, v) = get_json(
        port,
        &format!(
            "/api/v1/query?{}",
            form(&[("query", "-0/0"), ("time", "2")])
        ),
    );
    assert_eq!(v["data"]["result"][1], "NaN");
    let (_, v) = get_json(
        port,
        &format!(
            "/api/v1/query?{}",
            form(&[("query", "\"hello\""), ("time", "3")])
        ),
    );
    assert_eq!(
        v["data"],
        serde_json::json!({"resultType": "string", "result": [3, "hello"]})
    );

    // Range vector of an instant query: raw samples.
    let q = form(&[
        (
            "query",
            "process_resident_memory_bytes{pod=\"payment-0\"}[1m]",
        ),
        ("time", &secs(t)),
    ]);
    let (_, v) = get_json(port, &format!("/api/v1/query?{q}"));
    assert_eq!(v["data"]["resultType"], "matrix");
    assert_eq!(
        v["data"]["result"][0]["values"].as_array().unwrap().len(),
        4
    );

    // RFC3339 time gives the same answer as unix seconds.
    let q1 = form(&[
        ("query", "count(http_requests_total)"),
        ("time", "2030-01-01T00:00:00Z"),
    ]);
    let q2 = form(&[
        ("query", "count(http_requests_total)"),
        ("time", "1893456000"),
    ]);
    assert_eq!(
        get_json(port, &format!("/api/v1/query?{q1}")).1,
        get_json(port, &format!("/api/v1/query?{q2}")).1
    );

    // Range query via GET with a duration step and via POST with a float step.
    let range = |step: &str| {
        form(&[
            ("query", "sum(rate(http_requests_total[5m]))"),
            ("start", &secs(base + 10 * 60_000)),
            ("end", &secs(base + 20 * 60_000)),
            ("step", step),
        ])
    };
    let (code, g) = get_json(port, &format!("/api/v1/query_range?{}", range("1m")));
    assert_eq!(code, 200);
    let (code, p) = post_json(port, "/api/v1/query_range", &range("60"));
    assert_eq!(code, 200);
    assert_eq!(g, p);
    assert_eq!(g["data"]["resultType"], "matrix");
    assert_eq!(
        g["data"]["result"][0]["values"].as_array().unwrap().len(),
        11
    );
    assert_eq!(g["data"]["result"][0]["metric"], serde_json::json!({}));

    // Errors: parse error with position (400), execution error (422), limits.
    let (code, v) = get_json(
        port,
        &format!("/api/v1/query?{}", form(&[("query", "sum(rate(x[5m])))")])),
    );
    assert_eq!(code, 400);
    assert_eq!(v["errorType"], "bad_data");
    assert_eq!(
        v["error"],
        "invalid parameter \"query\": 1:17: parse error: unexpected \")\""
    );
    let (code, v) = get_json(
        port,
        &format!(
            "/api/v1/query?{}",
            form(&[
                (
                    "query",
                    "http_requests_total + on(service) http_requests_total"
                ),
                ("time", &secs(t))
            ])
        ),
    );
    assert_eq!(code, 422, "{v}");
    assert_eq!(v["errorType"], "execution");
    let (code, v) = get_json(
        port,
        &format!(
            "/api/v1/query?{}",
            form(&[("query", "up"), ("time", "soon")])
        ),
    );
    assert_eq!(code, 400);
    assert_eq!(
        v["error"],
        "invalid parameter \"time\": cannot parse \"soon\" to a valid timestamp"
    );
    let (code, v) = get_json(
        port,
        &format!(
            "/api/v1/query_range?{}",
            form(&[
                ("query", "up"),
                ("start", "0"),
                ("end", "100000"),
                ("step", "1")
            ])
        ),
    );
    assert_eq!(code, 400);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("exceeded maximum resolution of 11,000 points")
    );
    let (code, v) = get_json(
        port,
        &format!(
            "/api/v1/query_range?{}",
            form(&[
                ("query", "up"),
                ("start", "10"),
                ("end", "0"),
                ("step", "1")
            ])
        ),
    );
    assert_eq!(code, 400, "{v}");
    let (code, v) = get_json(
        port,
        &format!(
            "/api/v1/query_range?{}",
            form(&[
                ("query", "up"),
                ("start", "0"),
                ("end", "10"),
                ("step", "0")
            ])
        ),
    );
    assert_eq!(code, 400, "{v}");
    let (code, v) = get_json(
        port,
        &format!(
            "/api/v1/query?{}",
            form(&[
                ("query", "http_request_duration_seconds_bucket[1h]"),
                ("time", &secs(t))
            ])
        ),
    );
    assert_eq!(code, 422, "{v}");
    assert_eq!(
        v["error"],
        "query processing would load too many samples into memory in query execution"
    );

    // Query statistics on request.
    let q = form(&[
        ("query", "sum(rate(http_requests_total[5m]))"),
        ("time", &secs(t)),
        ("stats", "all"),
    ]);
    let (_, v) = get_json(port, &format!("/api/v1/query?{q}"));
    // 144 series with 20 samples each in the 5m window.
    assert_eq!(
        v["data"]["stats"]["samples"]["totalQueryableSamples"],
        144 * 20,
        "{v}"
    );
    assert!(
        v["data"]["stats"]["timings"]["evalTotalTime"]
            .as_f64()
            .unwrap()
            >= 0.0
    );

    // Annotations ride along in the envelope.
    let (code, v) = get_json(
        port,
        &format!(
            "/api/v1/query?{}",
            form(&[
                ("query", "rate(process_resident_memory_bytes[5m])"),
                ("time", &secs(t))
            ])
        ),
    );
    assert_eq!(code, 200);
    assert!(
        v["infos"][0]
            .as_str()
            .unwrap()
            .contains("might not be a counter"),
        "{v}"
    );
}

#[test]
fn metadata_status_and_federation() {
    let (_dir, srv, base) = start_loaded(&[]);
    let port = srv.port;

    // Series with repeated match[].
    let q = form(&[
        ("match[]", "process_resident_memory_bytes{service=\"cart\"}"),
        (
            "match[]",
            "http_requests_total{pod=\"cart-0\",route=\"/health\",method=\"GET\"}",
        ),
    ]);
    let (code, v) = get_json(port, &format!("/api/v1/series?{q}"));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 2 + 3);
    let (code, v) = get_json(port, "/api/v1/series");
    assert_eq!(code, 400);
    assert_eq!(v["error"], "no match[] parameter provided");

    let (_, v) = get_json(port, "/api/v1/labels");
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for n in [
        "__name__", "le", "method", "pod", "route", "service", "status",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }
    let (_, v) = get_json(
        port,
        &format!(
            "/api/v1/labels?{}",
            form(&[("match[]", "process_resident_memory_bytes")])
        ),
    );
    assert_eq!(v["data"], serde_json::json!(["__name__", "pod", "service"]));
    let (_, v) = get_json(port, "/api/v1/label/service/values");
    assert_eq!(
        v["data"],
        serde_json::json!(["api-gateway", "api-orders", "cart", "payment"])
    );
    let (_, v) = get_json(
        port,
        &format!(
            "/api/v1/label/status/values?{}",
            form(&[("match[]", "http_requests_total{service=\"cart\"}")])
        ),
    );
    assert_eq!(v["data"], serde_json::json!(["200", "500", "503"]));

    let (_, v) = get_json(
        port,
        &format!(
            "/api/v1/format_query?{}",
            form(&[("query", "sum(rate(foo[5m]))by(job)")])
        ),
    );
    assert_eq!(v["data"], "sum by (job) (rate(foo[5m]))");
    let (_, v) = get_json(
        port,
        &format!("/api/v1/parse_query?{}", form(&[("query", "up == 1")])),
    );
    assert_eq!(v["data"]["type"], "binaryExpr");
    assert_eq!(v["data"]["lhs"]["type"], "vectorSelector");

    let (_, v) = get_json(
        port,
        &format!(
            "/api/v1/query_exemplars?{}",
            form(&[
                ("query", "http_requests_total"),
                ("start", &secs(base)),
                ("end", &secs(base + 3_600_000))
            ])
        ),
    );
    assert_eq!(v["data"], serde_json::json!([]));

    let (_, v) = get_json(port, "/api/v1/status/buildinfo");
    assert!(v["data"]["version"].is_string());
    let (_, v) = get_json(port, "/api/v1/status/config");
    assert!(
        v["data"]["yaml"].as_str().unwrap().contains("region: test"),
        "{v}"
    );
    let (_, v) = get_json(port, "/api/v1/status/flags");
    assert_eq!(v["data"]["query.lookback-delta"], "5m");
    let (_, v) = get_json(port, "/api/v1/status/runtimeinfo");
    assert_eq!(v["data"]["reloadConfigSuccess"], true);
    let (_, v) = get_json(port, "/api/v1/status/tsdb");
    assert!(v["data"]["headStats"]["numSeries"].as_u64().unwrap() > 800);
    assert_eq!(
        v["data"]["seriesCountByMetricName"][0]["name"],
        "http_request_duration_seconds_bucket"
    );

    let (code, v) = post_json(
        port,
        "/api/v1/admin/tsdb/delete_series",
        &form(&[("match[]", "up")]),
    );
    assert_eq!(code, 503);
    assert_eq!(v["errorType"], "unavailable");

    // Federation: newest sample per series in text format, with external labels.
    // The data ends an hour ago, outside the lookback, so push a fresh sample first.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let fresh = sightline_remote::encode_write_request_v1(&[(
        sightline_model::Labels::from_pairs([("__name__", "fed_metric"), ("job", "x")]),
        vec![sightline_model::Sample { t: now, v: 42.5 }],
    )]);
    assert_eq!(remote_write(port, &fresh).unwrap().0, 204);
    let (code, text) = http_get(
        port,
        &format!("/federate?{}", form(&[("match[]", "{job=\"x\"}")])),
    )
    .unwrap();
    assert_eq!(code, 200);
    assert_eq!(
        text,
        format!("# TYPE fed_metric untyped\nfed_metric{{job=\"x\",region=\"test\"}} 42.5 {now}\n")
    );
}

#[test]
fn admin_delete_series_and_clean_tombstones() {
    let (_dir, srv, base) = start_loaded(&["--web.enable-admin-api"]);
    let port = srv.port;
    let count = |port| {
        let q = form(&[
            ("query", "count(process_resident_memory_bytes)"),
            ("time", &secs(base + 30 * 60_000)),
        ]);
        let (_, v) = get_json(port, &format!("/api/v1/query?{q}"));
        v["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(count(port), "8");
    let (code, _) = http_request(
        port,
        "POST",
        &format!(
            "/api/v1/admin/tsdb/delete_series?{}",
            form(&[("match[]", "process_resident_memory_bytes{pod=\"cart-0\"}")])
        ),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(code, 204);
    assert_eq!(count(port), "7");
    let (_, v) = get_json(
        port,
        &format!(
            "/api/v1/series?{}",
            form(&[("match[]", "process_resident_memory_bytes{service=\"cart\"}")])
        ),
    );
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    let (code, v) = post_json(port, "/api/v1/admin/tsdb/delete_series", "");
    assert_eq!(code, 400, "{v}");
    let (code, _) = http_request(
        port,
        "POST",
        "/api/v1/admin/tsdb/clean_tombstones",
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(code, 204);
    assert_eq!(count(port), "7");
}
