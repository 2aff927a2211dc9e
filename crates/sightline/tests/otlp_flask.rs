//! The real-client test: three Flask services (gateway → order → payment,
//! payment sleeping ~1 s) instrumented with the OpenTelemetry Python SDK
//! exactly as users do, exporting once through the gRPC exporter and once
//! through the HTTP exporter. Checked through the Jaeger API (complete traces,
//! payment dominating) and in the TSDB (span metrics with a trace_id exemplar,
//! service-graph edges). Needs the packages in scripts/requirements-test.txt.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, free_port, http_get};
use serde_json::Value as J;
use sightline_model::Matcher;
use sightline_tsdb::{Db, Options, Queryable, SelectHints};

struct Py(Child);

impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(
    service: &str,
    port: u16,
    downstream: Option<u16>,
    delay: f64,
    protocol: &str,
    endpoint: &str,
    log: &std::path::Path,
) -> Py {
    let mut c = Command::new("python3");
    c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/flask/app.py"))
        .args([
            "--service",
            service,
            "--port",
            &port.to_string(),
            "--protocol",
            protocol,
            "--endpoint",
            endpoint,
        ])
        .args(["--delay", &delay.to_string()])
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log.join(format!("{service}-{protocol}.log"))).unwrap());
    if let Some(d) = downstream {
        c.args(["--downstream", &format!("http://127.0.0.1:{d}/work")]);
    }
    Py(c.spawn()
        .expect("python3 must be installed (see scripts/requirements-test.txt)"))
}

fn wait_listening(port: u16, py: &mut Py, log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(st)) = py.0.try_wait() {
            let logs: Vec<String> = std::fs::read_dir(log)
                .unwrap()
                .filter_map(|e| e.ok())
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect();
            panic!(
                "flask service exited ({st}); pip install -r scripts/requirements-test.txt?\n{}",
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("flask service on port {port} did not start");
}

fn get_json(port: u16, path: &str) -> J {
    let (code, body) = http_get(port, path).unwrap();
    assert_eq!(code, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Runs the three services with one exporter protocol and sends `n` requests through them.
fn run_chain(srv: &Server, protocol: &str, n: usize, logdir: &std::path::Path) {
    let endpoint = match protocol {
        "grpc" => format!("http://127.0.0.1:{}", srv.otlp_grpc_port),
        _ => format!("http://127.0.0.1:{}/v1/traces", srv.otlp_http_port),
    };
    let (pg, po, pp) = (free_port(), free_port(), free_port());
    let mut payment = spawn("payment", pp, None, 1.0, protocol, &endpoint, logdir);
    let mut order = spawn("order", po, Some(pp), 0.0, protocol, &endpoint, logdir);
    let mut gateway = spawn("gateway", pg, Some(po), 0.0, protocol, &endpoint, logdir);
    wait_listening(pp, &mut payment, logdir);
    wait_listening(po, &mut order, logdir);
    wait_listening(pg, &mut gateway, logdir);
    for _ in 0..n {
        let (code, body) = http_get(pg, "/work").unwrap();
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("gateway <- order <- payment"), "{body}");
    }
    // SIGTERM makes each service flush its batch processor before exiting.
    for p in [&mut gateway, &mut order, &mut payment] {
        unsafe { libc::kill(p.0.id() as i32, libc::SIGTERM) };
    }
    for p in [&mut gateway, &mut order, &mut payment] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while p.0.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Checks one Jaeger UI trace: 5 spans, one root, every parent present, payment dominant.
fn check_trace(t: &J) {
    let spans = t["spans"].as_array().unwrap();
    let procs = &t["processes"];
    let service = |s: &J| {
        procs[s["processID"].as_str().unwrap()]["serviceName"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        spans.len(),
        5,
        "gateway/order/payment server spans + 2 client spans: {t}"
    );
    let ids: HashSet<&str> = spans
        .iter()
        .map(|s| s["spanID"].as_str().unwrap())
        .collect();
    let mut roots = 0;
    for s in spans {
        let refs = s["references"].as_array().unwrap();
        match refs.iter().find(|r| r["refType"] == "CHILD_OF") {
            Some(r) => assert!(
                ids.contains(r["spanID"].as_str().unwrap()),
                "dangling parent in {t}"
            ),
            None => roots += 1,
        }
        assert_eq!(r_trace(s), t["traceID"].as_str().unwrap());
    }
    assert_eq!(roots, 1, "{t}");
    let services: HashSet<String> = spans.iter().map(service).collect();
    assert_eq!(
        services,
        HashSet::from(["gateway".into(), "order".into(), "payment".into()])
    );
    let root = spans
        .iter()
        .find(|s| s["references"].as_array().unwrap().is_empty())
        .unwrap();
    assert_eq!(service(root), "gateway");
    let root_us = root["duration"].as_u64().unwrap();
    let payment = spans
        .iter()
        .find(|s| service(s) == "payment")
        .unwrap_or_else(|| panic!("no payment span in {t}"));
    let pay_us = payment["duration"].as_u64().unwrap();
    assert!(pay_us >= 1_000_000, "payment sleeps 1 s: {pay_us} µs");
    assert!(
        pay_us * 10 >= root_us * 8,
        "payment ({pay_us} µs) should dominate the trace ({root_us} µs)"
    );
    // Every other service's self time is small next to payment's.
    let tags: HashMap<&str, &J> = payment["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| (kv["key"].as_str().unwrap(), &kv["value"]))
        .collect();
    assert_eq!(tags["span.kind"], "server");
    let env = procs[payment["processID"].as_str().unwrap()]["tags"]
        .as_array()
        .unwrap();
    assert!(
        env.iter()
            .any(|kv| kv["key"] == "deployment.environment" && kv["value"] == "production"),
        "{env:?}"
    );
}

fn r_trace(s: &J) -> &str {
    s["traceID"].as_str().unwrap()
}

#[test]
fn flask_chain_through_grpc_and_http_exporters() {
    let dir = tempfile::tempdir().unwrap();
    let logdir = dir.path().join("py");
    std::fs::create_dir_all(&logdir).unwrap();
    let data = dir.path().join("data");
    let srv = Server::start(&data, &["--traces.span-metrics.flush-interval=500ms"]);
    let per_protocol = 3;
    run_chain(&srv, "grpc", per_protocol, &logdir);
    run_chain(&srv, "http", per_protocol, &logdir);

    // Traces: poll until all spans have arrived.
    let deadline = Instant::now() + Duration::from_secs(30);
    let traces = loop {
        let v = get_json(
            srv.port,
            "/jaeger/api/traces?service=gateway&operation=GET%20%2Fwork&limit=50",
        );
        let data = v["data"].as_array().unwrap().clone();
        let complete = data
            .iter()
            .filter(|t| t["spans"].as_array().unwrap().len() == 5)
            .count();
        if complete == 2 * per_protocol || Instant::now() > deadline {
            break data;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(traces.len(), 2 * per_protocol, "{}", srv.log_text());
    for t in &traces {
        check_trace(t);
        // The same trace by ID.
        let id = t["traceID"].as_str().unwrap();
        let one = get_json(srv.port, &format!("/jaeger/api/traces/{id}"));
        assert_eq!(one["data"][0]["spans"].as_array().unwrap().len(), 5);
    }
    let services = get_json(srv.port, "/jaeger/api/services");
    for s in ["gateway", "order", "payment"] {
        assert!(
            services["data"].as_array().unwrap().iter().any(|x| x == s),
            "{services}"
        );
    }

    // The same traces through Tempo's TraceQL search (what Grafana's Tempo data source sends).
    let q = "%7Bresource.service.name%3D%22payment%22%20%26%26%20kind%3Dserver%20%26%26%20duration%20%3E%20900ms%7D";
    let v = get_json(
        srv.port,
        &format!("/tempo/api/search?q={q}&limit=20&spss=3"),
    );
    let found = v["traces"].as_array().unwrap();
    assert_eq!(found.len(), 2 * per_protocol, "{v}");
    for t in found {
        assert_eq!(t["rootServiceName"], "gateway");
        assert_eq!(t["rootTraceName"], "GET /work");
        assert!(t["durationMs"].as_u64().unwrap() >= 1000);
        assert_eq!(t["spanSets"][0]["matched"], 1);
    }

    // Service graph via Jaeger's dependencies route (read back from the TSDB).
    let deadline = Instant::now() + Duration::from_secs(20);
    let deps = loop {
        let d = get_json(srv.port, "/jaeger/api/dependencies?lookback=3600000");
        let calls = |p: &str, c: &str| {
            d["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["parent"] == p && e["child"] == c)
                .map(|e| e["callCount"].as_u64().unwrap())
        };
        if (calls("gateway", "order"), calls("order", "payment")) == (Some(6), Some(6))
            || Instant::now() > deadline
        {
            break d;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let edges: Vec<(String, String, u64)> = deps["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["parent"].as_str().unwrap().into(),
                e["child"].as_str().unwrap().into(),
                e["callCount"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        edges.contains(&("gateway".into(), "order".into(), 6)),
        "{edges:?}"
    );
    assert!(
        edges.contains(&("order".into(), "payment".into(), 6)),
        "{edges:?}"
    );

    // The TSDB itself, after a clean shutdown (which flushes span metrics one last time).
    assert!(srv.sigterm_and_wait().success());
    let db = Db::open(&data, Options::default()).unwrap();
    let q = db.querier(0, i64::MAX).unwrap();
    let sel = |ms: &[Matcher]| q.select(ms, &SelectHints::default()).unwrap();
    let calls = sel(&[
        Matcher::equal("__name__", "traces_span_metrics_calls_total"),
        Matcher::equal("service_name", "payment"),
        Matcher::equal("span_kind", "SPAN_KIND_SERVER"),
    ]);
    assert_eq!(calls.len(), 1, "one payment server series");
    assert_eq!(calls[0].labels.get("span_name"), Some("GET /work"));
    assert_eq!(
        calls[0].labels.get("status_code"),
        Some("STATUS_CODE_UNSET")
    );
    assert_eq!(calls[0].samples.last().unwrap().v, 6.0);
    let bucket = |le: &str| {
        sel(&[
            Matcher::equal(
                "__name__",
                "traces_span_metrics_duration_milliseconds_bucket",
            ),
            Matcher::equal("service_name", "payment"),
            Matcher::equal("le", le),
        ])[0]
            .samples
            .last()
            .unwrap()
            .v
    };
    assert_eq!(bucket("800"), 0.0, "payment takes > 1 s");
    assert_eq!(bucket("2000"), 6.0);
    assert_eq!(bucket("+Inf"), 6.0);
    let ex = q
        .exemplars(&[
            Matcher::equal(
                "__name__",
                "traces_span_metrics_duration_milliseconds_bucket",
            ),
            Matcher::equal("service_name", "payment"),
        ])
        .unwrap();
    let trace_ids: HashSet<&str> = traces
        .iter()
        .map(|t| t["traceID"].as_str().unwrap())
        .collect();
    let ex_ids: Vec<String> = ex
        .iter()
        .flat_map(|(_, e)| {
            e.iter()
                .filter_map(|x| x.labels.get("trace_id").map(str::to_string))
        })
        .collect();
    assert!(!ex_ids.is_empty(), "duration histogram carries exemplars");
    assert!(
        ex_ids.iter().all(|id| trace_ids.contains(id.as_str())),
        "exemplar trace ids {ex_ids:?} are real traces"
    );
    let tempo_calls = sel(&[
        Matcher::equal("__name__", "traces_spanmetrics_calls_total"),
        Matcher::equal("service", "payment"),
        Matcher::equal("span_kind", "SPAN_KIND_SERVER"),
    ]);
    assert_eq!(
        tempo_calls[0].samples.last().unwrap().v,
        6.0,
        "Tempo-profile span metrics"
    );
    for (c, s) in [("gateway", "order"), ("order", "payment")] {
        let e = sel(&[
            Matcher::equal("__name__", "traces_service_graph_request_total"),
            Matcher::equal("client", c),
            Matcher::equal("server", s),
        ]);
        assert_eq!(e.len(), 1, "{c}->{s}");
        assert_eq!(e[0].samples.last().unwrap().v, 6.0);
        let h = sel(&[
            Matcher::equal(
                "__name__",
                "traces_service_graph_request_server_seconds_count",
            ),
            Matcher::equal("client", c),
            Matcher::equal("server", s),
        ]);
        assert_eq!(h[0].samples.last().unwrap().v, 6.0);
    }
}
