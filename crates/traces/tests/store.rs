//! TraceDb end to end at the library level: WAL replay, segments, search,
//! compaction, retention, torn WAL tails.

use std::sync::Arc;
use std::time::Duration;

use sightline_traces::*;

fn res(service: &str) -> Arc<Resource> {
    Arc::new(Resource::new(vec![
        ("service.name".into(), Value::Str(service.into())),
        (
            "deployment.environment".into(),
            Value::Str("production".into()),
        ),
    ]))
}

/// A three-span trace: gateway (server) → client span → order (server, `ms` long).
fn trace(n: u8, base_ns: u64, ms: u64) -> Vec<Span> {
    let tid = [n; 16];
    let scope = Arc::new(Scope {
        name: "test".into(),
        ..Default::default()
    });
    let mk = |id: u8, parent: u8, svc: &str, name: &str, kind: SpanKind, off: u64, dur: u64| Span {
        trace_id: tid,
        span_id: [id, n, 0, 0, 0, 0, 0, 1],
        parent_span_id: if parent == 0 {
            [0; 8]
        } else {
            [parent, n, 0, 0, 0, 0, 0, 1]
        },
        name: name.into(),
        kind,
        start_ns: base_ns + off,
        end_ns: base_ns + off + dur,
        attrs: vec![
            ("http.method".into(), Value::Str("GET".into())),
            ("http.status_code".into(), Value::Int(200)),
        ],
        resource: res(svc),
        scope: scope.clone(),
        ..Default::default()
    };
    vec![
        mk(
            1,
            0,
            "gateway",
            "GET /checkout",
            SpanKind::Server,
            0,
            (ms + 2) * 1_000_000,
        ),
        mk(
            2,
            1,
            "gateway",
            "GET",
            SpanKind::Client,
            500_000,
            (ms + 1) * 1_000_000,
        ),
        mk(
            3,
            2,
            "order",
            "GET /order",
            SpanKind::Server,
            1_000_000,
            ms * 1_000_000,
        ),
    ]
}

fn q(filter: Expr) -> SearchQuery {
    SearchQuery {
        start_ns: 0,
        end_ns: u64::MAX,
        filter,
        min_duration_ns: None,
        max_duration_ns: None,
        limit: 100,
    }
}

fn svc(s: &str) -> Expr {
    Expr::Cmp(Field::Service, Op::Eq, Lit::Str(s.into()))
}

fn check_queries(db: &TraceDb) {
    let t = db.trace(&[3; 16], None).unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(t[2].parent_span_id, t[1].span_id);
    assert_eq!(t[0].attrs, trace(3, 0, 0)[0].attrs);
    assert_eq!(t[0].resource.service, "gateway");
    assert!(db.trace(&[99; 16], None).unwrap().is_empty());
    // service + duration
    let mut sq = q(svc("order"));
    sq.min_duration_ns = Some(15_000_000);
    let hits: Vec<_> = db
        .search(&sq)
        .unwrap()
        .into_iter()
        .map(|h| h.trace_id[0])
        .collect();
    assert_eq!(hits, vec![20, 19, 18, 17, 16, 15], "newest first");
    // attribute filter (typed and Jaeger text form)
    let a = Expr::Cmp(
        Field::SpanAttr("http.status_code".into()),
        Op::Eq,
        Lit::Int(200),
    );
    assert_eq!(db.search(&q(a)).unwrap().len(), 20);
    let tag = Expr::Cmp(
        Field::Tag("http.status_code".into()),
        Op::Eq,
        Lit::Str("200".into()),
    );
    assert_eq!(
        db.search(&q(Expr::and(vec![svc("order"), tag])))
            .unwrap()
            .len(),
        20
    );
    let env = Expr::Cmp(
        Field::ResourceAttr("deployment.environment".into()),
        Op::Eq,
        Lit::Str("staging".into()),
    );
    assert!(db.search(&q(env)).unwrap().is_empty());
    // kind + limit
    let mut sq = q(Expr::Cmp(Field::Kind, Op::Eq, Lit::Kind(SpanKind::Client)));
    sq.limit = 3;
    assert_eq!(db.search(&sq).unwrap().len(), 3);
    let ops = db.operations().unwrap();
    assert!(ops.contains(&("order".into(), "GET /order".into(), SpanKind::Server)));
    assert_eq!(ops.len(), 3);
}

fn fill(db: &TraceDb) {
    for n in 1..=20u8 {
        db.write(trace(n, n as u64 * 1_000_000_000, n as u64))
            .unwrap();
    }
}

#[test]
fn head_segment_and_replay_answer_the_same() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = TraceDb::open(dir.path(), TraceOptions::default()).unwrap();
        fill(&db);
        check_queries(&db);
        // Dropped without close: as after kill -9, the WAL holds everything.
    }
    let db = TraceDb::open(dir.path(), TraceOptions::default()).unwrap();
    assert_eq!(db.head_spans(), 60);
    check_queries(&db);
    db.cut_head().unwrap();
    db.flush_frozen().unwrap();
    assert_eq!(db.head_spans(), 0);
    assert_eq!(db.segment_count(), 1);
    check_queries(&db);
    drop(db);
    let db = TraceDb::open(dir.path(), TraceOptions::default()).unwrap();
    assert_eq!(db.head_spans(), 0, "WAL of a written segment is gone");
    check_queries(&db);
}

#[test]
fn compaction_merges_small_segments() {
    let dir = tempfile::tempdir().unwrap();
    let db = TraceDb::open(dir.path(), TraceOptions::default()).unwrap();
    for n in 1..=20u8 {
        db.write(trace(n, n as u64 * 1_000_000_000, n as u64))
            .unwrap();
        if n % 5 == 0 {
            db.cut_head().unwrap();
            db.flush_frozen().unwrap();
        }
    }
    assert_eq!(db.segment_count(), 4);
    db.compact().unwrap();
    assert_eq!(db.segment_count(), 1);
    check_queries(&db);
}

#[test]
fn retention_by_time_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let opts = TraceOptions {
        retention: Duration::from_secs(3600),
        ..Default::default()
    };
    let db = TraceDb::open(dir.path(), opts).unwrap();
    let now = now_ns();
    db.write(trace(1, now - 7200 * 1_000_000_000, 5)).unwrap();
    db.cut_head().unwrap();
    db.flush_frozen().unwrap();
    db.write(trace(2, now, 5)).unwrap();
    db.cut_head().unwrap();
    db.flush_frozen().unwrap();
    db.apply_retention(now).unwrap();
    assert_eq!(db.segment_count(), 1);
    assert!(db.trace(&[1; 16], None).unwrap().is_empty());
    assert_eq!(db.trace(&[2; 16], None).unwrap().len(), 3);

    let dir = tempfile::tempdir().unwrap();
    let opts = TraceOptions {
        retention: Duration::ZERO,
        retention_bytes: 1,
        ..Default::default()
    };
    let db = TraceDb::open(dir.path(), opts).unwrap();
    db.write(trace(1, now, 5)).unwrap();
    db.cut_head().unwrap();
    db.flush_frozen().unwrap();
    db.apply_retention(now).unwrap();
    assert_eq!(db.segment_count(), 0);
}

#[test]
fn torn_wal_tail_is_cut_and_earlier_records_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = TraceDb::open(dir.path(), TraceOptions::default()).unwrap();
        db.write(trace(1, 1_000, 5)).unwrap();
        db.write(trace(2, 2_000, 5)).unwrap();
    }
    let wal = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let len = std::fs::metadata(&wal).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len - 7).unwrap();
    let db = TraceDb::open(dir.path(), TraceOptions::default()).unwrap();
    assert_eq!(db.trace(&[1; 16], None).unwrap().len(), 3);
    assert!(db.trace(&[2; 16], None).unwrap().is_empty());
    db.write(trace(3, 3_000, 5)).unwrap();
    drop(db);
    let db = TraceDb::open(dir.path(), TraceOptions::default()).unwrap();
    assert_eq!(db.trace(&[3; 16], None).unwrap().len(), 3);
}

#[test]
fn corrupt_segment_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = TraceDb::open(dir.path(), TraceOptions::default()).unwrap();
        fill(&db);
        db.cut_head().unwrap();
        db.flush_frozen().unwrap();
    }
    let seg = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut b = std::fs::read(&seg).unwrap();
    let n = b.len();
    b[n - 30] ^= 0xff;
    std::fs::write(&seg, b).unwrap();
    let db = TraceDb::open(dir.path(), TraceOptions::default()).unwrap();
    assert_eq!(db.segment_count(), 0);
    assert!(seg.with_extension("corrupt").exists());
}

#[test]
fn bytes_per_span_is_small() {
    // Realistic-ish spans: 10 attributes with repeating values, shared resources.
    let dir = tempfile::tempdir().unwrap();
    let db = TraceDb::open(dir.path(), TraceOptions::default()).unwrap();
    let resources: Vec<_> = ["gateway", "order", "payment"]
        .iter()
        .map(|s| res(s))
        .collect();
    let scope = Arc::new(Scope {
        name: "io.opentelemetry.http".into(),
        ..Default::default()
    });
    let mut spans = Vec::new();
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for t in 0..5000u64 {
        let tid: [u8; 16] = [rnd().to_le_bytes(), rnd().to_le_bytes()]
            .concat()
            .try_into()
            .unwrap();
        let base = 1_767_225_600_000_000_000 + t * 20_000_000;
        let mut parent = [0u8; 8];
        for i in 0..6u64 {
            let sid = rnd().to_le_bytes();
            let r = &resources[(i % 3) as usize];
            spans.push(Span {
                trace_id: tid,
                span_id: sid,
                parent_span_id: parent,
                name: format!("GET /api/v1/item/{}", i),
                kind: if i % 2 == 0 {
                    SpanKind::Server
                } else {
                    SpanKind::Client
                },
                start_ns: base + i * 1_000_000 + rnd() % 100_000,
                end_ns: base + i * 1_000_000 + 5_000_000 + rnd() % 10_000_000,
                attrs: vec![
                    ("http.method".into(), Value::Str("GET".into())),
                    (
                        "http.route".into(),
                        Value::Str(format!("/api/v1/item/{}", i)),
                    ),
                    ("http.status_code".into(), Value::Int(200)),
                    (
                        "net.peer.port".into(),
                        Value::Int(40000 + (rnd() % 20000) as i64),
                    ),
                    (
                        "http.user_agent".into(),
                        Value::Str("python-requests/2.32".into()),
                    ),
                    ("net.host.name".into(), Value::Str(r.service.clone())),
                    ("http.scheme".into(), Value::Str("http".into())),
                    ("http.flavor".into(), Value::Str("1.1".into())),
                    ("thread.id".into(), Value::Int((rnd() % 16) as i64)),
                    (
                        "customer.tier".into(),
                        Value::Str(["gold", "silver", "bronze"][(rnd() % 3) as usize].into()),
                    ),
                ],
                resource: r.clone(),
                scope: scope.clone(),
                ..Default::default()
            });
            parent = sid;
        }
    }
    let n = spans.len() as u64;
    db.write(spans).unwrap();
    db.cut_head().unwrap();
    db.flush_frozen().unwrap();
    let per_span = db.disk_bytes() as f64 / n as f64;
    println!("bytes per span: {per_span:.1}");
    assert!(per_span < 60.0, "{per_span} bytes per span");
}

/// Trace by ID decodes only the trace's rows of its row group: every trace of a
/// segment holding several row groups (attributes of every type, events, links,
/// a parent that sorts after its child) reads back exactly as written.
#[test]
fn trace_by_id_within_large_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let db = TraceDb::open(dir.path(), TraceOptions::default()).unwrap();
    let scope = Arc::new(Scope {
        name: "lib".into(),
        ..Default::default()
    });
    let mut all: Vec<Vec<Span>> = Vec::new();
    for t in 0..3000u32 {
        let mut tid = [0u8; 16];
        tid[..4].copy_from_slice(&t.wrapping_mul(2_654_435_761).to_be_bytes());
        tid[12..].copy_from_slice(&t.to_be_bytes());
        let base = 1_000_000_000 + t as u64 * 1000;
        let n = 1 + (t % 7) as u64;
        let spans: Vec<Span> = (0..n)
            .map(|i| {
                let mut attrs = vec![
                    ("k.str".into(), Value::Str(format!("v{t}-{i}"))),
                    ("k.int".into(), Value::Int(-(t as i64))),
                ];
                if i % 2 == 0 {
                    attrs.push(("k.f".into(), Value::Double(1.5)));
                    attrs.push(("k.b".into(), Value::Bool(true)));
                    attrs.push(("k.bytes".into(), Value::Bytes(vec![1, 2, 3])));
                    attrs.push((
                        "k.arr".into(),
                        Value::Array(vec![Value::Int(1), Value::Str("x".into())]),
                    ));
                    attrs.push((
                        "k.map".into(),
                        Value::Map(vec![("in".into(), Value::Str("y".into()))]),
                    ));
                }
                Span {
                    trace_id: tid,
                    span_id: [i as u8 + 1, 0, 0, 0, 0, 0, 0, 9],
                    // Span 1's parent is the last span, which starts later.
                    parent_span_id: match i {
                        0 => [0; 8],
                        1 => [n as u8, 0, 0, 0, 0, 0, 0, 9],
                        _ => [1, 0, 0, 0, 0, 0, 0, 9],
                    },
                    name: format!("op{}", i % 3),
                    kind: SpanKind::Server,
                    start_ns: base + i * 10,
                    end_ns: base + i * 10 + 5 + t as u64,
                    attrs,
                    resource: res(&format!("svc{}", t % 4)),
                    scope: scope.clone(),
                    status_message: if i == 0 { "boom".into() } else { String::new() },
                    events: if i == 1 {
                        vec![Event {
                            time_ns: base + 12,
                            name: "ev".into(),
                            attrs: vec![("e".into(), Value::Int(3))],
                            dropped_attrs: 1,
                        }]
                    } else {
                        Vec::new()
                    },
                    links: if i == 2 {
                        vec![Link {
                            trace_id: [7; 16],
                            span_id: [8; 8],
                            trace_state: "a=b".into(),
                            attrs: vec![("l".into(), Value::Bool(false))],
                            dropped_attrs: 0,
                            flags: 1,
                        }]
                    } else {
                        Vec::new()
                    },
                    ..Default::default()
                }
            })
            .collect();
        db.write(spans.clone()).unwrap();
        all.push(spans);
    }
    db.cut_head().unwrap();
    db.flush_frozen().unwrap();
    assert_eq!(db.head_spans(), 0);
    for spans in &all {
        let got = db.trace(&spans[0].trace_id, None).unwrap();
        assert_eq!(&got, spans);
    }
    assert!(db.trace(&[0xee; 16], None).unwrap().is_empty());
}
