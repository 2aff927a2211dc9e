//! Service graph edges from spans, paired as the OpenTelemetry Collector's
//! servicegraph connector does: a CLIENT (or PRODUCER) span waits under
//! `(trace_id, span_id)`, a SERVER (or CONSUMER) span under
//! `(trace_id, parent_span_id)`; when both halves are present the edge
//! `client → server` is counted once. A CLIENT span with a database name
//! attribute completes at once with `server` = that name and
//! `connection_type="database"`. Unpaired halves expire after `ttl`.
//!
//! Written as `traces_service_graph_request_total`, `_failed_total`,
//! `_server_seconds_*`, `_client_seconds_*` with `client`, `server`,
//! `connection_type` (omitted when empty) and `failed`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sightline_model::Labels;
use sightline_tsdb::Appender;

use crate::histogram::{Hist, SERVICEGRAPH_BUCKETS_S};
use crate::span::{Span, SpanId, SpanKind, StatusCode, TraceId, Value, attr};

struct Half {
    service: String,
    seconds: f64,
    failed: bool,
}

struct Pending {
    client: Option<Half>,
    server: Option<Half>,
    connection_type: &'static str,
    since: Instant,
}

#[derive(Clone)]
struct EdgeStats {
    total: u64,
    failed: u64,
    server: Hist,
    client: Hist,
}

type EdgeKey = (String, String, &'static str, bool);

#[derive(Default)]
struct State {
    pending: HashMap<(TraceId, SpanId), Pending>,
    edges: HashMap<EdgeKey, EdgeStats>,
    expired: u64,
    dropped: u64,
}

pub struct ServiceGraph {
    state: Mutex<State>,
    /// How long a half edge waits for its other half. The connector defaults to 2 s, but SDK batch
    /// exporters flush every 5 s per process, so halves from two services routinely arrive further apart.
    pub ttl: Duration,
    pub max_pending: usize,
}

/// Attributes naming the database a CLIENT span talks to (old and new semantic conventions).
const DB_NAME_ATTRS: &[&str] = &["db.name", "db.namespace"];

impl ServiceGraph {
    pub fn new() -> ServiceGraph {
        ServiceGraph {
            state: Mutex::new(State::default()),
            ttl: Duration::from_secs(30),
            max_pending: 200_000,
        }
    }

    pub fn observe(&self, spans: &[Span]) {
        let mut st = self.state.lock();
        let now = Instant::now();
        for s in spans {
            let half = || Half {
                service: s.resource.service.clone(),
                seconds: s.duration_ns() as f64 / 1e9,
                failed: s.status_code == StatusCode::Error,
            };
            let (key, is_client, ctype) = match s.kind {
                SpanKind::Client | SpanKind::Producer => {
                    if s.kind == SpanKind::Client
                        && let Some(db) = DB_NAME_ATTRS.iter().find_map(|k| attr(&s.attrs, k))
                    {
                        let db = match db {
                            Value::Str(x) => x.clone(),
                            v => v.to_text(),
                        };
                        let h = half();
                        let server = Half {
                            service: db,
                            seconds: h.seconds,
                            failed: h.failed,
                        };
                        record(&mut st.edges, h, server, "database");
                        continue;
                    }
                    let ct = if s.kind == SpanKind::Producer {
                        "messaging_system"
                    } else {
                        ""
                    };
                    ((s.trace_id, s.span_id), true, ct)
                }
                SpanKind::Server | SpanKind::Consumer => {
                    if s.is_root() {
                        continue;
                    }
                    let ct = if s.kind == SpanKind::Consumer {
                        "messaging_system"
                    } else {
                        ""
                    };
                    ((s.trace_id, s.parent_span_id), false, ct)
                }
                _ => continue,
            };
            if !st.pending.contains_key(&key) && st.pending.len() >= self.max_pending {
                st.dropped += 1;
                continue;
            }
            let p = st.pending.entry(key).or_insert(Pending {
                client: None,
                server: None,
                connection_type: ctype,
                since: now,
            });
            if is_client {
                p.client = Some(half());
            } else {
                p.server = Some(half());
            }
            if p.client.is_some() && p.server.is_some() {
                let p = st.pending.remove(&key).unwrap();
                record(
                    &mut st.edges,
                    p.client.unwrap(),
                    p.server.unwrap(),
                    p.connection_type,
                );
            }
        }
    }

    /// Expires stale halves and appends every edge's cumulative series.
    pub fn flush(&self, app: &mut dyn Appender, t_ms: i64) {
        let mut st = self.state.lock();
        let ttl = self.ttl;
        let before = st.pending.len();
        st.pending.retain(|_, p| p.since.elapsed() < ttl);
        st.expired += (before - st.pending.len()) as u64;
        for ((client, server, ctype, failed), e) in &st.edges {
            let failed = if *failed { "true" } else { "false" };
            let labels = [
                ("client", client.as_str()),
                ("server", server.as_str()),
                ("connection_type", *ctype),
                ("failed", failed),
            ];
            for (name, v) in [
                ("traces_service_graph_request_total", e.total),
                ("traces_service_graph_request_failed_total", e.failed),
            ] {
                let mut pairs = labels.to_vec();
                pairs.push(("__name__", name));
                let _ = app.append(&Labels::from_pairs(pairs), t_ms, v as f64);
            }
            e.server.append(
                app,
                "traces_service_graph_request_server_seconds",
                &labels,
                SERVICEGRAPH_BUCKETS_S,
                t_ms,
                None,
            );
            e.client.append(
                app,
                "traces_service_graph_request_client_seconds",
                &labels,
                SERVICEGRAPH_BUCKETS_S,
                t_ms,
                None,
            );
        }
    }

    /// Half edges that expired unpaired, and ones dropped because the pairing store was full.
    pub fn unpaired(&self) -> (u64, u64) {
        let st = self.state.lock();
        (st.expired, st.dropped)
    }
}

impl Default for ServiceGraph {
    fn default() -> Self {
        Self::new()
    }
}

fn record(
    edges: &mut HashMap<EdgeKey, EdgeStats>,
    client: Half,
    server: Half,
    ctype: &'static str,
) {
    let failed = client.failed || server.failed;
    let e = edges
        .entry((client.service, server.service, ctype, failed))
        .or_insert_with(|| EdgeStats {
            total: 0,
            failed: 0,
            server: Hist::new(SERVICEGRAPH_BUCKETS_S),
            client: Hist::new(SERVICEGRAPH_BUCKETS_S),
        });
    e.total += 1;
    if failed {
        e.failed += 1;
    }
    e.server.observe(SERVICEGRAPH_BUCKETS_S, server.seconds);
    e.client.observe(SERVICEGRAPH_BUCKETS_S, client.seconds);
}
