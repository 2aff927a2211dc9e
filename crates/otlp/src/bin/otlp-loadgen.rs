//! Load generator for the trace pipeline benchmarks (docs/benchmarks.md).
//!
//! Sends realistic traces over OTLP/gRPC — 10 spans per trace across a pool of
//! services, ~10 span attributes (HTTP/DB semantic conventions plus a
//! high-cardinality customer ID) and 7 resource attributes — then optionally
//! measures query latency (trace by ID and search by service + duration)
//! through the Jaeger API.
//!
//! ```text
//! otlp-loadgen --grpc http://127.0.0.1:4317 --spans 10000000 --batch 1000 --concurrency 8 \
//!              [--http 127.0.0.1:9090 --queries 500]
//! ```

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sightline_otlp::proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use sightline_otlp::proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use sightline_otlp::proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value,
};
use sightline_otlp::proto::tonic::resource::v1::Resource;
use sightline_otlp::proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

struct Args {
    grpc: String,
    spans: u64,
    batch: usize,
    concurrency: usize,
    services: usize,
    http: Option<String>,
    queries: usize,
}

fn args() -> Args {
    let mut a = Args {
        grpc: "http://127.0.0.1:4317".into(),
        spans: 1_000_000,
        batch: 1000,
        concurrency: 8,
        services: 10,
        http: None,
        queries: 0,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--grpc" => a.grpc = val,
            "--spans" => a.spans = val.parse().expect("--spans N"),
            "--batch" => a.batch = val.parse().expect("--batch N"),
            "--concurrency" => a.concurrency = val.parse().expect("--concurrency N"),
            "--services" => a.services = val.parse().expect("--services N"),
            "--http" => a.http = Some(val),
            "--queries" => a.queries = val.parse().expect("--queries N"),
            other => {
                eprintln!("unknown flag {other}; see the doc comment in otlp-loadgen.rs");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    a
}

fn s(k: &str, v: impl Into<String>) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn n(k: &str, v: i64) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

/// xorshift64*: cheap, deterministic per worker.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
}

const ROUTES: &[&str] = &[
    "/api/cart",
    "/api/checkout",
    "/api/orders/{id}",
    "/api/payment",
    "/api/users/{id}",
    "/health",
];

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// One request of `batch` spans: whole traces of 10 spans, grouped by service.
fn build(
    rng: &mut Rng,
    batch: usize,
    services: usize,
) -> (ExportTraceServiceRequest, Vec<[u8; 16]>) {
    let mut per_service: Vec<Vec<Span>> = vec![Vec::new(); services];
    let mut ids = Vec::new();
    let now = now_ns();
    let traces = batch.div_ceil(10);
    for _ in 0..traces {
        let mut tid = [0u8; 16];
        tid[..8].copy_from_slice(&rng.next().to_le_bytes());
        tid[8..].copy_from_slice(&rng.next().to_le_bytes());
        ids.push(tid);
        let start = now - 2_000_000_000 - rng.next() % 1_000_000_000;
        let mut parents: Vec<[u8; 8]> = Vec::new();
        let first_svc = (rng.next() % services as u64) as usize;
        for i in 0..10u64 {
            let sid = rng.next().to_le_bytes();
            let parent = if i == 0 {
                None
            } else {
                Some(parents[(rng.next() % parents.len() as u64) as usize])
            };
            let svc = if i == 0 {
                first_svc
            } else {
                (first_svc + 1 + (rng.next() % (services as u64 - 1).max(1)) as usize) % services
            };
            let route = ROUTES[(rng.next() % ROUTES.len() as u64) as usize];
            let client = i % 2 == 1;
            let off = i * 3_000_000 + rng.next() % 1_000_000;
            // Log-normal-ish durations: mostly a few ms, a tail to seconds.
            let dur = 500_000
                + (rng.next() % 20_000_000) * if rng.next().is_multiple_of(50) { 60 } else { 1 };
            let status = rng.next() % 100;
            let mut attrs = vec![
                s(
                    "http.request.method",
                    if status.is_multiple_of(3) {
                        "POST"
                    } else {
                        "GET"
                    },
                ),
                s("http.route", route),
                n(
                    "http.response.status_code",
                    if status < 3 { 500 } else { 200 },
                ),
                s("server.address", format!("svc-{svc}.internal")),
                n("server.port", 8080),
                s("url.scheme", "http"),
                s("user_agent.original", "python-requests/2.32.3"),
                n("http.request.body.size", (rng.next() % 4096) as i64),
                s("customer.id", format!("c-{}", rng.next() % 100_000)),
                n("thread.id", (rng.next() % 32) as i64),
            ];
            if client && i % 5 == 3 {
                attrs.push(s("db.system", "postgresql"));
            }
            per_service[svc].push(Span {
                trace_id: tid.to_vec(),
                span_id: sid.to_vec(),
                parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
                name: if client {
                    format!("GET {route}")
                } else {
                    format!(
                        "{} {route}",
                        if status.is_multiple_of(3) {
                            "POST"
                        } else {
                            "GET"
                        }
                    )
                },
                kind: if client { 3 } else { 2 },
                start_time_unix_nano: start + off,
                end_time_unix_nano: start + off + dur,
                attributes: attrs,
                status: (status < 3).then(|| Status {
                    code: 2,
                    message: "internal error".into(),
                }),
                flags: 0x101,
                ..Default::default()
            });
            parents.push(sid);
        }
    }
    let resource_spans = per_service
        .into_iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .map(|(i, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", format!("service-{i}")),
                    s("service.version", "1.4.2"),
                    s("deployment.environment", "production"),
                    s("host.name", format!("node-{}", i % 3)),
                    s("k8s.pod.name", format!("service-{i}-7d9f8c-x2k4q")),
                    s("telemetry.sdk.language", "python"),
                    s("telemetry.sdk.version", "1.45.1"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "opentelemetry.instrumentation.flask".into(),
                    version: "0.66b1".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    (ExportTraceServiceRequest { resource_spans }, ids)
}

fn http_get(addr: &str, path: &str) -> (u16, usize) {
    let mut c = std::net::TcpStream::connect(addr).expect("connect to --http");
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).unwrap();
    let code = String::from_utf8_lossy(&buf[..12.min(buf.len())])
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, buf.len())
}

fn percentiles(mut v: Vec<Duration>) -> String {
    if v.is_empty() {
        return "no samples".into();
    }
    v.sort();
    let p = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)].as_secs_f64() * 1000.0;
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={})",
        p(0.5),
        p(0.9),
        p(0.99),
        p(1.0),
        v.len()
    )
}

#[tokio::main]
async fn main() {
    let a = Arc::new(args());
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let sample_ids = Arc::new(parking_lot::Mutex::new(Vec::<[u8; 16]>::new()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..a.concurrency {
        let (a, sent, failed, sample_ids) =
            (a.clone(), sent.clone(), failed.clone(), sample_ids.clone());
        workers.push(tokio::spawn(async move {
            let mut client = TraceServiceClient::connect(a.grpc.clone())
                .await
                .expect("connect to --grpc")
                .max_encoding_message_size(64 << 20);
            let mut rng = Rng(0x9E3779B97F4A7C15
                ^ (w as u64 + 1).wrapping_mul(0xD1B54A32D192ED03)
                ^ now_ns());
            // Build requests ahead in small pools so generation does not dominate the measurement.
            loop {
                if sent.fetch_add(a.batch as u64, Ordering::Relaxed) >= a.spans {
                    sent.fetch_sub(a.batch as u64, Ordering::Relaxed);
                    return;
                }
                let (req, ids) = build(&mut rng, a.batch, a.services.max(2));
                if rng.next().is_multiple_of(20) {
                    sample_ids.lock().extend(ids.into_iter().take(2));
                }
                if let Err(e) = client.export(req).await {
                    failed.fetch_add(a.batch as u64, Ordering::Relaxed);
                    if e.code() == tonic::Code::Unavailable
                        || e.code() == tonic::Code::ResourceExhausted
                    {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    } else {
                        eprintln!("export failed: {e}");
                    }
                }
            }
        }));
    }
    let reporter = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let now = sent.load(Ordering::Relaxed);
                eprintln!(
                    "{} spans sent ({:.0} spans/s over the last 5 s)",
                    now,
                    (now - last) as f64 / 5.0
                );
                last = now;
            }
        })
    };
    for w in workers {
        w.await.unwrap();
    }
    reporter.abort();
    let el = started.elapsed().as_secs_f64();
    let total = sent.load(Ordering::Relaxed);
    let bad = failed.load(Ordering::Relaxed);
    println!(
        "ingest: {} spans acknowledged in {:.1} s = {:.0} spans/s ({} spans refused/failed), batch {}, concurrency {}",
        total - bad,
        el,
        (total - bad) as f64 / el,
        bad,
        a.batch,
        a.concurrency
    );

    if let Some(http) = a.http.clone()
        && a.queries > 0
    {
        let ids = sample_ids.lock().clone();
        let q = a.queries;
        let services = a.services.max(2);
        let res = tokio::task::spawn_blocking(move || {
            let mut rng = Rng(42);
            let mut by_id = Vec::new();
            let mut search = Vec::new();
            for i in 0..q {
                if !ids.is_empty() {
                    let id = ids[(rng.next() % ids.len() as u64) as usize];
                    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
                    let t = Instant::now();
                    let (code, _) = http_get(&http, &format!("/jaeger/api/traces/{hex}"));
                    by_id.push(t.elapsed());
                    if code != 200 {
                        eprintln!("trace {hex}: HTTP {code}");
                    }
                }
                let t = Instant::now();
                let (code, _) = http_get(
                    &http,
                    &format!(
                        "/jaeger/api/traces?service=service-{}&minDuration=100ms&limit=20",
                        i % services
                    ),
                );
                search.push(t.elapsed());
                if code != 200 {
                    eprintln!("search: HTTP {code}");
                }
            }
            (by_id, search)
        })
        .await
        .unwrap();
        println!("trace by ID: {}", percentiles(res.0));
        println!("search by service + minDuration: {}", percentiles(res.1));
    }
}
