//! Byte-level encoding shared by the WAL and the segment columns: LEB128
//! varints, length-prefixed strings and attribute values. Every reader method
//! returns `None` on truncated or malformed input instead of panicking, since
//! it reads files that may be torn or damaged.

use std::sync::Arc;

use crate::span::{Attrs, Event, Link, Resource, Scope, Span, SpanKind, StatusCode, Value};

#[derive(Default)]
pub struct Enc {
    pub buf: Vec<u8>,
}

impl Enc {
    pub fn new() -> Enc {
        Enc { buf: Vec::new() }
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn uvar(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }
    pub fn ivar(&mut self, v: i64) {
        self.uvar(((v << 1) ^ (v >> 63)) as u64);
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.uvar(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Str(s) => {
                self.u8(0);
                self.str(s)
            }
            Value::Bool(b) => self.u8(if *b { 2 } else { 1 }),
            Value::Int(i) => {
                self.u8(3);
                self.ivar(*i)
            }
            Value::Double(d) => {
                self.u8(4);
                self.raw(&d.to_le_bytes())
            }
            Value::Bytes(b) => {
                self.u8(5);
                self.bytes(b)
            }
            Value::Array(a) => {
                self.u8(6);
                self.uvar(a.len() as u64);
                for x in a {
                    self.value(x);
                }
            }
            Value::Map(m) => {
                self.u8(7);
                self.attrs(m);
            }
        }
    }
    pub fn attrs(&mut self, a: &[(String, Value)]) {
        self.uvar(a.len() as u64);
        for (k, v) in a {
            self.str(k);
            self.value(v);
        }
    }
}

pub struct Dec<'a> {
    pub b: &'a [u8],
    pub pos: usize,
}

impl<'a> Dec<'a> {
    pub fn new(b: &'a [u8]) -> Dec<'a> {
        Dec { b, pos: 0 }
    }
    pub fn done(&self) -> bool {
        self.pos >= self.b.len()
    }
    pub fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }
    pub fn uvar(&mut self) -> Option<u64> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.u8()?;
            if shift >= 64 {
                return None;
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Some(v);
            }
            shift += 7;
        }
    }
    pub fn ivar(&mut self) -> Option<i64> {
        let u = self.uvar()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    pub fn raw(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    pub fn arr<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.raw(N)?.try_into().ok()
    }
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.uvar()? as usize;
        self.raw(n)
    }
    pub fn str(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
    pub fn value(&mut self) -> Option<Value> {
        Some(match self.u8()? {
            0 => Value::Str(self.str()?),
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => Value::Int(self.ivar()?),
            4 => Value::Double(f64::from_le_bytes(self.arr::<8>()?)),
            5 => Value::Bytes(self.bytes()?.to_vec()),
            6 => {
                let n = self.uvar()? as usize;
                let mut v = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    v.push(self.value()?);
                }
                Value::Array(v)
            }
            7 => Value::Map(self.attrs()?),
            _ => return None,
        })
    }
    /// Skips one encoded value without allocating.
    pub fn skip_value(&mut self) -> Option<()> {
        match self.u8()? {
            0 | 5 => {
                self.bytes()?;
            }
            1 | 2 => {}
            3 => {
                self.uvar()?;
            }
            4 => {
                self.raw(8)?;
            }
            6 => {
                let n = self.uvar()?;
                for _ in 0..n {
                    self.skip_value()?;
                }
            }
            7 => self.skip_attrs()?,
            _ => return None,
        }
        Some(())
    }
    /// Skips an attribute list written by [`Enc::attrs`] without allocating.
    pub fn skip_attrs(&mut self) -> Option<()> {
        let n = self.uvar()?;
        for _ in 0..n {
            self.bytes()?;
            self.skip_value()?;
        }
        Some(())
    }
    pub fn attrs(&mut self) -> Option<Attrs> {
        let n = self.uvar()? as usize;
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let k = self.str()?;
            v.push((k, self.value()?));
        }
        Some(v)
    }
}

pub fn enc_resource(e: &mut Enc, r: &Resource) {
    e.attrs(&r.attrs);
    e.uvar(r.dropped_attrs as u64);
}

pub fn dec_resource(d: &mut Dec) -> Option<Resource> {
    let mut r = Resource::new(d.attrs()?);
    r.dropped_attrs = d.uvar()? as u32;
    Some(r)
}

pub fn enc_scope(e: &mut Enc, s: &Scope) {
    e.str(&s.name);
    e.str(&s.version);
    e.attrs(&s.attrs);
}

pub fn dec_scope(d: &mut Dec) -> Option<Scope> {
    Some(Scope {
        name: d.str()?,
        version: d.str()?,
        attrs: d.attrs()?,
    })
}

/// The rarely-present parts of a span (state, flags, status message, events,
/// links, dropped counts), kept together so segments can store them in one
/// column that is almost always a run of zero bytes.
pub fn enc_extra(e: &mut Enc, s: &Span) {
    e.str(&s.trace_state);
    e.uvar(s.flags as u64);
    e.str(&s.status_message);
    e.uvar(s.dropped_attrs as u64);
    e.uvar(s.dropped_events as u64);
    e.uvar(s.dropped_links as u64);
    e.uvar(s.events.len() as u64);
    for ev in &s.events {
        e.uvar(ev.time_ns.saturating_sub(s.start_ns));
        e.str(&ev.name);
        e.attrs(&ev.attrs);
        e.uvar(ev.dropped_attrs as u64);
    }
    e.uvar(s.links.len() as u64);
    for l in &s.links {
        e.raw(&l.trace_id);
        e.raw(&l.span_id);
        e.str(&l.trace_state);
        e.attrs(&l.attrs);
        e.uvar(l.dropped_attrs as u64);
        e.uvar(l.flags as u64);
    }
}

pub fn dec_extra(d: &mut Dec, s: &mut Span) -> Option<()> {
    s.trace_state = d.str()?;
    s.flags = d.uvar()? as u32;
    s.status_message = d.str()?;
    s.dropped_attrs = d.uvar()? as u32;
    s.dropped_events = d.uvar()? as u32;
    s.dropped_links = d.uvar()? as u32;
    let n = d.uvar()? as usize;
    s.events = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let time_ns = s.start_ns.saturating_add(d.uvar()?);
        s.events.push(Event {
            time_ns,
            name: d.str()?,
            attrs: d.attrs()?,
            dropped_attrs: d.uvar()? as u32,
        });
    }
    let n = d.uvar()? as usize;
    s.links = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        s.links.push(Link {
            trace_id: d.arr()?,
            span_id: d.arr()?,
            trace_state: d.str()?,
            attrs: d.attrs()?,
            dropped_attrs: d.uvar()? as u32,
            flags: d.uvar()? as u32,
        });
    }
    Some(())
}

/// Skips one span's extras written by [`enc_extra`] without allocating.
pub fn skip_extra(d: &mut Dec) -> Option<()> {
    d.bytes()?;
    d.uvar()?;
    d.bytes()?;
    d.uvar()?;
    d.uvar()?;
    d.uvar()?;
    let n = d.uvar()?;
    for _ in 0..n {
        d.uvar()?;
        d.bytes()?;
        d.skip_attrs()?;
        d.uvar()?;
    }
    let n = d.uvar()?;
    for _ in 0..n {
        d.raw(24)?;
        d.bytes()?;
        d.skip_attrs()?;
        d.uvar()?;
        d.uvar()?;
    }
    Some(())
}

/// Encodes a batch of spans for the WAL: a table of the distinct resources and
/// scopes (by pointer, as the receiver shares them) and then each span.
pub fn encode_batch(spans: &[Span]) -> Vec<u8> {
    let mut e = Enc::new();
    let mut resources: Vec<&Arc<Resource>> = Vec::new();
    let mut scopes: Vec<&Arc<Scope>> = Vec::new();
    let mut rix = Vec::with_capacity(spans.len());
    let mut six = Vec::with_capacity(spans.len());
    for s in spans {
        rix.push(index_of(&mut resources, &s.resource));
        six.push(index_of(&mut scopes, &s.scope));
    }
    e.uvar(resources.len() as u64);
    for r in &resources {
        enc_resource(&mut e, r);
    }
    e.uvar(scopes.len() as u64);
    for s in &scopes {
        enc_scope(&mut e, s);
    }
    e.uvar(spans.len() as u64);
    for (i, s) in spans.iter().enumerate() {
        e.uvar(rix[i] as u64);
        e.uvar(six[i] as u64);
        e.raw(&s.trace_id);
        e.raw(&s.span_id);
        e.raw(&s.parent_span_id);
        e.str(&s.name);
        e.u8(s.kind as u8 | (s.status_code as u8) << 4);
        e.uvar(s.start_ns);
        e.uvar(s.end_ns.saturating_sub(s.start_ns));
        e.attrs(&s.attrs);
        enc_extra(&mut e, s);
    }
    e.buf
}

fn index_of<'a, T>(list: &mut Vec<&'a Arc<T>>, x: &'a Arc<T>) -> usize {
    // Batches hold few resources, and the receiver shares one Arc per resource: a short linear scan.
    if let Some(i) = list.iter().rposition(|y| Arc::ptr_eq(y, x)) {
        return i;
    }
    list.push(x);
    list.len() - 1
}

pub fn decode_batch(b: &[u8]) -> Option<Vec<Span>> {
    let mut d = Dec::new(b);
    let nr = d.uvar()? as usize;
    let mut resources = Vec::with_capacity(nr.min(4096));
    for _ in 0..nr {
        resources.push(Arc::new(dec_resource(&mut d)?));
    }
    let ns = d.uvar()? as usize;
    let mut scopes = Vec::with_capacity(ns.min(4096));
    for _ in 0..ns {
        scopes.push(Arc::new(dec_scope(&mut d)?));
    }
    let n = d.uvar()? as usize;
    let mut spans = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let resource = resources.get(d.uvar()? as usize)?.clone();
        let scope = scopes.get(d.uvar()? as usize)?.clone();
        let trace_id = d.arr()?;
        let span_id = d.arr()?;
        let parent_span_id = d.arr()?;
        let name = d.str()?;
        let ks = d.u8()?;
        let start_ns = d.uvar()?;
        let end_ns = start_ns.saturating_add(d.uvar()?);
        let attrs = d.attrs()?;
        let mut s = Span {
            trace_id,
            span_id,
            parent_span_id,
            name,
            kind: SpanKind::from_i32((ks & 15) as i32),
            status_code: StatusCode::from_i32((ks >> 4) as i32),
            start_ns,
            end_ns,
            attrs,
            resource,
            scope,
            ..Default::default()
        };
        dec_extra(&mut d, &mut s)?;
        spans.push(s);
    }
    Some(spans)
}
