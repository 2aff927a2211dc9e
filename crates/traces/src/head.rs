//! The in-memory head: spans acknowledged (in the WAL) but not yet cut into a
//! segment. Indexed by trace ID for trace-by-ID; searched by a linear scan
//! (it is bounded by `head_max_spans`).

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use crate::span::{Span, SpanKind, TraceId};

pub struct Head {
    pub spans: Vec<Span>,
    pub by_trace: HashMap<TraceId, Vec<u32>>,
    /// service → span name → bitmask of kinds; looked up by `&str`, so the hot path does not allocate.
    pub ops: HashMap<String, HashMap<String, u8>>,
    pub min_start: u64,
    pub max_end: u64,
    pub created: Instant,
    /// WAL generations whose records live in this head; removed once it is a segment.
    pub wal_gens: Vec<u64>,
}

impl Head {
    pub fn new(wal_gen: u64) -> Head {
        Head {
            spans: Vec::new(),
            by_trace: HashMap::new(),
            ops: HashMap::new(),
            min_start: u64::MAX,
            max_end: 0,
            created: Instant::now(),
            wal_gens: vec![wal_gen],
        }
    }

    pub fn add(&mut self, spans: Vec<Span>) {
        for s in spans {
            self.min_start = self.min_start.min(s.start_ns);
            self.max_end = self.max_end.max(s.end_ns);
            let bit = 1u8 << (s.kind as u8);
            match self.ops.get_mut(s.resource.service.as_str()) {
                Some(names) => match names.get_mut(s.name.as_str()) {
                    Some(k) => *k |= bit,
                    None => {
                        names.insert(s.name.clone(), bit);
                    }
                },
                None => {
                    self.ops.insert(
                        s.resource.service.clone(),
                        HashMap::from([(s.name.clone(), bit)]),
                    );
                }
            }
            self.by_trace
                .entry(s.trace_id)
                .or_default()
                .push(self.spans.len() as u32);
            self.spans.push(s);
        }
    }

    pub fn operations(&self, out: &mut BTreeSet<(String, String, SpanKind)>) {
        for (svc, names) in &self.ops {
            for (name, bits) in names {
                for k in 0..6u8 {
                    if bits & (1 << k) != 0 {
                        out.insert((svc.clone(), name.clone(), SpanKind::from_i32(k as i32)));
                    }
                }
            }
        }
    }

    pub fn trace(&self, id: &TraceId) -> impl Iterator<Item = &Span> {
        self.by_trace
            .get(id)
            .into_iter()
            .flatten()
            .map(|i| &self.spans[*i as usize])
    }
}
