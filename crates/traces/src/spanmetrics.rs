//! RED metrics from spans, computed at ingest and written into the TSDB, named
//! as the OpenTelemetry Collector's spanmetrics connector + Prometheus
//! normalisation does (what Jaeger's Monitor tab queries):
//! `traces_span_metrics_calls_total` and
//! `traces_span_metrics_duration_milliseconds_{bucket,sum,count}` with
//! `service_name`, `span_name`, `span_kind`, `status_code`. The duration
//! histogram carries the newest span's `trace_id`/`span_id` as an exemplar.
//!
//! The same counts are also written in Tempo's metrics-generator naming
//! (`traces_spanmetrics_calls_total`, `traces_spanmetrics_latency_*` in
//! seconds with a `service` label), which Grafana's Tempo service-graph view queries.
//!
//! Counters are cumulative in memory and written on every flush (like a
//! scrape); after a restart they start from zero, which `rate()` treats as a
//! counter reset.

use std::collections::HashMap;

use parking_lot::Mutex;
use sightline_tsdb::Appendable;

use crate::histogram::{Hist, SPANMETRICS_BUCKETS_MS, Sampled, TEMPO_BUCKETS_S};
use crate::servicegraph::ServiceGraph;
use crate::span::{Span, SpanKind, StatusCode, hex};

struct Series {
    calls: u64,
    hist: Hist,
    /// Tempo metrics-generator profile (seconds), what Grafana's Tempo service graph APM table reads.
    tempo: Hist,
    exemplar: Option<Sampled>,
}

/// kind (6) × status (3) slots per (service, span name).
const SLOTS: usize = 18;

#[derive(Default)]
struct State {
    /// service → span name → slot; borrowed-`&str` lookups keep the ingest path allocation-free.
    series: HashMap<String, HashMap<String, Vec<Option<Series>>>>,
    n_series: usize,
    dropped: u64,
}

pub struct SpanMetrics {
    state: Mutex<State>,
    /// Distinct (service, span name, kind, status) combinations kept; more are dropped and counted.
    pub max_series: usize,
    pub graph: ServiceGraph,
}

impl Default for SpanMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl SpanMetrics {
    pub fn new() -> SpanMetrics {
        SpanMetrics {
            state: Mutex::new(State::default()),
            max_series: 20_000,
            graph: ServiceGraph::new(),
        }
    }

    /// Accounts spans just stored. Spans of resources without `service.name` are skipped (as upstream).
    pub fn observe(&self, spans: &[Span]) {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        for s in spans {
            if s.resource.service.is_empty() {
                continue;
            }
            let slot = s.kind as usize * 3 + s.status_code as usize;
            let names = match st.series.get_mut(s.resource.service.as_str()) {
                Some(n) => n,
                None => st.series.entry(s.resource.service.clone()).or_default(),
            };
            let slots = match names.get_mut(s.name.as_str()) {
                Some(v) => v,
                None => names
                    .entry(s.name.clone())
                    .or_insert_with(|| (0..SLOTS).map(|_| None).collect()),
            };
            if slots[slot].is_none() {
                if st.n_series >= self.max_series {
                    st.dropped += 1;
                    continue;
                }
                st.n_series += 1;
                slots[slot] = Some(Series {
                    calls: 0,
                    hist: Hist::new(SPANMETRICS_BUCKETS_MS),
                    tempo: Hist::new(TEMPO_BUCKETS_S),
                    exemplar: None,
                });
            }
            let series = slots[slot].as_mut().unwrap();
            let ms = s.duration_ns() as f64 / 1e6;
            series.calls += 1;
            series.hist.observe(SPANMETRICS_BUCKETS_MS, ms);
            series.tempo.observe(TEMPO_BUCKETS_S, ms / 1000.0);
            series.exemplar = Some(Sampled {
                trace_id: hex(&s.trace_id),
                span_id: hex(&s.span_id),
                value: ms,
                t_ms: (s.end_ns / 1_000_000) as i64,
            });
        }
        drop(guard);
        self.graph.observe(spans);
    }

    /// Writes every series' current value at `t_ms` (and the service graph's) in one commit.
    pub fn flush(&self, db: &dyn Appendable, t_ms: i64) -> sightline_tsdb::Result<()> {
        let mut app = db.appender();
        {
            let mut st = self.state.lock();
            for (svc, names) in st.series.iter_mut() {
                for (name, slots) in names.iter_mut() {
                    for (i, s) in slots.iter_mut().enumerate() {
                        let Some(s) = s else { continue };
                        let kind = SpanKind::from_i32((i / 3) as i32).otel_name();
                        let status = StatusCode::from_i32((i % 3) as i32).otel_name();
                        let labels = [
                            ("service_name", svc.as_str()),
                            ("span_name", name.as_str()),
                            ("span_kind", kind),
                            ("status_code", status),
                        ];
                        let mut pairs: Vec<(&str, &str)> = labels.to_vec();
                        pairs.push(("__name__", "traces_span_metrics_calls_total"));
                        let _ = app.append(
                            &sightline_model::Labels::from_pairs(pairs),
                            t_ms,
                            s.calls as f64,
                        );
                        s.hist.append(
                            app.as_mut(),
                            "traces_span_metrics_duration_milliseconds",
                            &labels,
                            SPANMETRICS_BUCKETS_MS,
                            t_ms,
                            s.exemplar.as_ref(),
                        );
                        let tempo = [
                            ("service", svc.as_str()),
                            ("span_name", name.as_str()),
                            ("span_kind", kind),
                            ("status_code", status),
                        ];
                        let mut pairs: Vec<(&str, &str)> = tempo.to_vec();
                        pairs.push(("__name__", "traces_spanmetrics_calls_total"));
                        let _ = app.append(
                            &sightline_model::Labels::from_pairs(pairs),
                            t_ms,
                            s.calls as f64,
                        );
                        s.tempo.append(
                            app.as_mut(),
                            "traces_spanmetrics_latency",
                            &tempo,
                            TEMPO_BUCKETS_S,
                            t_ms,
                            None,
                        );
                        // Exemplars describe the last interval only (as the connector clears them per flush).
                        s.exemplar = None;
                    }
                }
            }
        }
        self.graph.flush(app.as_mut(), t_ms);
        app.commit()?;
        Ok(())
    }

    pub fn dropped_series(&self) -> u64 {
        self.state.lock().dropped
    }
}
