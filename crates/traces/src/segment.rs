//! Immutable columnar segment files: the trace store's on-disk format.
//!
//! Why our own format instead of Parquet: parquet+arrow add about two minutes
//! to every clean build on the 2-core CI machine (see the research note), and
//! the layout we need is small. Spans are sorted by trace ID, so a trace is one
//! contiguous run; trace IDs (16 raw bytes) are stored once per trace in the
//! footer's trace table, which doubles as the segment's ID index (binary
//! search). Spans are cut into row groups of whole traces; each row group
//! stores each column as its own zstd frame, so a search reads only the
//! columns it filters on and trace-by-ID decodes one row group. Parent span
//! IDs become "index of the parent within its trace" (one byte instead of
//! eight), start times are deltas from the trace start, names, attribute keys,
//! resources and scopes are dictionary-coded per segment.
//!
//! File: `row-group column frames… | footer (zstd) | footer_len u64 | crc32 u32 | magic`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codec::{
    Dec, Enc, dec_extra, dec_resource, dec_scope, enc_extra, enc_resource, enc_scope, skip_extra,
};
use crate::query::{SearchQuery, SpanView};
use crate::span::{Resource, Scope, Span, SpanId, SpanKind, StatusCode, TraceId, Value};

const MAGIC: &[u8; 8] = b"SLTSEG01";
/// Spans per row group (whole traces, so slightly more): large enough for zstd to find repetition.
pub const ROW_GROUP_SPANS: usize = 8192;
const ZSTD_LEVEL: i32 = 3;

const C_SPANID: usize = 0;
const C_PARENT: usize = 1;
const C_START: usize = 2;
const C_DUR: usize = 3;
const C_NAME: usize = 4;
const C_RES: usize = 5;
const C_SCOPE: usize = 6;
const C_KS: usize = 7;
const C_ATTRS: usize = 8;
const C_EXTRA: usize = 9;
const NCOLS: usize = 10;

#[derive(Clone, Debug, Default)]
pub struct RowGroupMeta {
    pub first_trace: u32,
    pub n_traces: u32,
    pub n_spans: u32,
    pub min_start: u64,
    pub max_start: u64,
    /// Resource-table indexes present, to skip row groups of other services.
    pub resources: Vec<u32>,
    cols: [(u64, u32); NCOLS],
}

pub struct Segment {
    pub path: PathBuf,
    file: File,
    pub bytes: u64,
    pub n_spans: u64,
    pub min_start: u64,
    pub max_end: u64,
    strings: Vec<String>,
    pub resources: Vec<Arc<Resource>>,
    scopes: Vec<Arc<Scope>>,
    trace_ids: Vec<TraceId>,
    trace_start: Vec<u64>,
    trace_spans: Vec<u32>,
    pub row_groups: Vec<RowGroupMeta>,
    /// Distinct (resource, span name, kind) triples, for service/operation listings.
    ops: Vec<(u32, u32, u8)>,
}

fn zstd_err(e: io::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("corrupt segment: {what}"),
    )
}

struct Dict<K> {
    ids: HashMap<K, u32>,
    list: Vec<K>,
}

impl<K: std::hash::Hash + Eq + Clone> Dict<K> {
    fn new() -> Self {
        Dict {
            ids: HashMap::new(),
            list: Vec::new(),
        }
    }
    fn id(&mut self, k: &K) -> u32 {
        if let Some(i) = self.ids.get(k) {
            return *i;
        }
        let i = self.list.len() as u32;
        self.ids.insert(k.clone(), i);
        self.list.push(k.clone());
        i
    }
}

/// Writes `spans` as a segment at `path` (via a temporary file and rename, fsynced).
pub fn write(path: &Path, spans: &[Span]) -> io::Result<u64> {
    // Sort references, not the spans: the caller keeps serving its copy (no deep clone).
    let mut spans: Vec<&Span> = spans.iter().collect();
    spans.sort_unstable_by(|a, b| {
        (a.trace_id, a.start_ns, a.span_id).cmp(&(b.trace_id, b.start_ns, b.span_id))
    });
    let mut strings: Dict<String> = Dict::new();
    let mut resources: Dict<Vec<u8>> = Dict::new();
    let mut scopes: Dict<Vec<u8>> = Dict::new();
    // Resources/scopes are shared Arcs: encode each distinct pointer once.
    let mut res_ptr: HashMap<*const Resource, u32> = HashMap::new();
    let mut scope_ptr: HashMap<*const Scope, u32> = HashMap::new();
    let mut ops: std::collections::HashSet<(u32, u32, u8)> = Default::default();

    // Trace table.
    let mut trace_ids: Vec<TraceId> = Vec::new();
    let mut trace_start: Vec<u64> = Vec::new();
    let mut trace_spans: Vec<u32> = Vec::new();
    let mut trace_first_span: Vec<usize> = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        if trace_ids.last() != Some(&s.trace_id) {
            trace_ids.push(s.trace_id);
            trace_start.push(s.start_ns);
            trace_spans.push(0);
            trace_first_span.push(i);
        }
        *trace_spans.last_mut().unwrap() += 1;
    }

    let tmp = path.with_extension("tmp");
    let mut f = io::BufWriter::new(File::create(&tmp)?);
    let mut off = 0u64;
    let mut rgs: Vec<RowGroupMeta> = Vec::new();
    let mut t = 0usize;
    let (mut min_start, mut max_end) = (u64::MAX, 0u64);
    while t < trace_ids.len() {
        let first_trace = t;
        let mut n = 0usize;
        while t < trace_ids.len() && (n == 0 || n + (trace_spans[t] as usize) <= ROW_GROUP_SPANS) {
            n += trace_spans[t] as usize;
            t += 1;
        }
        let mut cols: Vec<Enc> = (0..NCOLS).map(|_| Enc::new()).collect();
        let mut meta = RowGroupMeta {
            first_trace: first_trace as u32,
            n_traces: (t - first_trace) as u32,
            n_spans: n as u32,
            min_start: u64::MAX,
            ..Default::default()
        };
        let mut rg_res = Vec::new();
        for ti in first_trace..t {
            let range = trace_first_span[ti]..trace_first_span[ti] + trace_spans[ti] as usize;
            let trace = &spans[range];
            let mut pos: HashMap<SpanId, usize> = HashMap::with_capacity(trace.len());
            for (j, s) in trace.iter().enumerate() {
                pos.entry(s.span_id).or_insert(j);
            }
            for s in trace {
                cols[C_SPANID].raw(&s.span_id);
                if s.parent_span_id == [0; 8] {
                    cols[C_PARENT].uvar(0);
                } else if let Some(j) = pos.get(&s.parent_span_id) {
                    cols[C_PARENT].uvar(*j as u64 + 2);
                } else {
                    cols[C_PARENT].uvar(1);
                    cols[C_PARENT].raw(&s.parent_span_id);
                }
                cols[C_START].uvar(s.start_ns - trace_start[ti]);
                cols[C_DUR].uvar(s.duration_ns());
                cols[C_NAME].uvar(strings.id(&s.name) as u64);
                let rid = *res_ptr.entry(Arc::as_ptr(&s.resource)).or_insert_with(|| {
                    let mut e = Enc::new();
                    enc_resource(&mut e, &s.resource);
                    resources.id(&e.buf)
                });
                rg_res.push(rid);
                cols[C_RES].uvar(rid as u64);
                let sid = *scope_ptr.entry(Arc::as_ptr(&s.scope)).or_insert_with(|| {
                    let mut e = Enc::new();
                    enc_scope(&mut e, &s.scope);
                    scopes.id(&e.buf)
                });
                cols[C_SCOPE].uvar(sid as u64);
                cols[C_KS].u8(s.kind as u8 | (s.status_code as u8) << 4);
                ops.insert((rid, strings.id(&s.name), s.kind as u8));
                cols[C_ATTRS].uvar(s.attrs.len() as u64);
                for (k, v) in &s.attrs {
                    cols[C_ATTRS].uvar(strings.id(k) as u64);
                    cols[C_ATTRS].value(v);
                }
                enc_extra(&mut cols[C_EXTRA], s);
                meta.min_start = meta.min_start.min(s.start_ns);
                meta.max_start = meta.max_start.max(s.start_ns);
                max_end = max_end.max(s.end_ns);
            }
        }
        min_start = min_start.min(meta.min_start);
        rg_res.sort_unstable();
        rg_res.dedup();
        meta.resources = rg_res;
        for (c, enc) in cols.iter().enumerate() {
            let z = zstd::bulk::compress(&enc.buf, ZSTD_LEVEL)?;
            f.write_all(&z)?;
            meta.cols[c] = (off, z.len() as u32);
            off += z.len() as u64;
        }
        rgs.push(meta);
    }

    // Footer.
    let mut e = Enc::new();
    e.uvar(spans.len() as u64);
    e.uvar(if spans.is_empty() { 0 } else { min_start });
    e.uvar(max_end);
    e.uvar(strings.list.len() as u64);
    for s in &strings.list {
        e.str(s);
    }
    for table in [&resources.list, &scopes.list] {
        e.uvar(table.len() as u64);
        for r in table {
            e.bytes(r);
        }
    }
    e.uvar(trace_ids.len() as u64);
    for (i, id) in trace_ids.iter().enumerate() {
        e.raw(id);
        e.uvar(trace_spans[i] as u64);
        e.ivar(trace_start[i] as i64 - if i == 0 { 0 } else { trace_start[i - 1] as i64 });
    }
    e.uvar(rgs.len() as u64);
    for rg in &rgs {
        e.uvar(rg.first_trace as u64);
        e.uvar(rg.n_traces as u64);
        e.uvar(rg.n_spans as u64);
        e.uvar(rg.min_start);
        e.uvar(rg.max_start - rg.min_start);
        e.uvar(rg.resources.len() as u64);
        for r in &rg.resources {
            e.uvar(*r as u64);
        }
        for (o, l) in rg.cols {
            e.uvar(o);
            e.uvar(l as u64);
        }
    }
    e.uvar(ops.len() as u64);
    for (r, n, k) in &ops {
        e.uvar(*r as u64);
        e.uvar(*n as u64);
        e.u8(*k);
    }
    let footer = zstd::bulk::compress(&e.buf, ZSTD_LEVEL)?;
    f.write_all(&footer)?;
    f.write_all(&(footer.len() as u64).to_le_bytes())?;
    f.write_all(&crc32fast::hash(&footer).to_le_bytes())?;
    f.write_all(MAGIC)?;
    let f = f.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(off + footer.len() as u64 + 20)
}

/// Decoded columns of one row group.
pub struct RowGroup<'a> {
    seg: &'a Segment,
    pub trace_of: Vec<u32>,
    pub span_ids: Vec<SpanId>,
    parents: Vec<SpanId>,
    pub start: Vec<u64>,
    pub dur: Vec<u64>,
    name: Vec<u32>,
    res: Vec<u32>,
    scope: Vec<u32>,
    ks: Vec<u8>,
}

/// Fast predicate view over a row group's columns (no attributes).
struct Row<'a, 'b> {
    rg: &'b RowGroup<'a>,
    i: usize,
}

impl SpanView for Row<'_, '_> {
    fn service(&self) -> &str {
        &self.rg.seg.resources[self.rg.res[self.i] as usize].service
    }
    fn name(&self) -> &str {
        &self.rg.seg.strings[self.rg.name[self.i] as usize]
    }
    fn kind(&self) -> SpanKind {
        SpanKind::from_i32((self.rg.ks[self.i] & 15) as i32)
    }
    fn status(&self) -> StatusCode {
        StatusCode::from_i32((self.rg.ks[self.i] >> 4) as i32)
    }
    fn status_message(&self) -> &str {
        ""
    }
    fn duration_ns(&self) -> u64 {
        self.rg.dur[self.i]
    }
    fn scope_name(&self) -> &str {
        &self.rg.seg.scopes[self.rg.scope[self.i] as usize].name
    }
    fn span_attr(&self, _: &str) -> Option<&Value> {
        None
    }
    fn resource_attr(&self, k: &str) -> Option<&Value> {
        crate::span::attr(
            &self.rg.seg.resources[self.rg.res[self.i] as usize].attrs,
            k,
        )
    }
    fn event_attr(&self, _: &str) -> Option<&Value> {
        None
    }
}

impl Segment {
    pub fn open(path: &Path) -> io::Result<Segment> {
        let file = File::open(path)?;
        let bytes = file.metadata()?.len();
        if bytes < 20 {
            return Err(corrupt("too short"));
        }
        let mut tail = [0u8; 20];
        file.read_exact_at(&mut tail, bytes - 20)?;
        if &tail[12..] != MAGIC {
            return Err(corrupt("bad magic"));
        }
        let flen = u64::from_le_bytes(tail[..8].try_into().unwrap());
        let crc = u32::from_le_bytes(tail[8..12].try_into().unwrap());
        if flen > bytes - 20 {
            return Err(corrupt("footer length"));
        }
        let mut z = vec![0u8; flen as usize];
        file.read_exact_at(&mut z, bytes - 20 - flen)?;
        if crc32fast::hash(&z) != crc {
            return Err(corrupt("footer checksum"));
        }
        let raw = zstd::stream::decode_all(&z[..]).map_err(zstd_err)?;
        Self::parse_footer(path, file, bytes, &raw).ok_or_else(|| corrupt("footer"))
    }

    fn parse_footer(path: &Path, file: File, bytes: u64, raw: &[u8]) -> Option<Segment> {
        let mut d = Dec::new(raw);
        let n_spans = d.uvar()?;
        let min_start = d.uvar()?;
        let max_end = d.uvar()?;
        let n = d.uvar()? as usize;
        let mut strings = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            strings.push(d.str()?);
        }
        let n = d.uvar()? as usize;
        let mut resources = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            resources.push(Arc::new(dec_resource(&mut Dec::new(d.bytes()?))?));
        }
        let n = d.uvar()? as usize;
        let mut scopes = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            scopes.push(Arc::new(dec_scope(&mut Dec::new(d.bytes()?))?));
        }
        let n = d.uvar()? as usize;
        let (mut trace_ids, mut trace_spans, mut trace_start) = (
            Vec::with_capacity(n.min(1 << 24)),
            Vec::with_capacity(n.min(1 << 24)),
            Vec::with_capacity(n.min(1 << 24)),
        );
        let mut prev = 0i64;
        for _ in 0..n {
            trace_ids.push(d.arr::<16>()?);
            trace_spans.push(d.uvar()? as u32);
            prev += d.ivar()?;
            trace_start.push(prev as u64);
        }
        let n = d.uvar()? as usize;
        let mut row_groups = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let mut rg = RowGroupMeta {
                first_trace: d.uvar()? as u32,
                n_traces: d.uvar()? as u32,
                n_spans: d.uvar()? as u32,
                min_start: d.uvar()?,
                ..Default::default()
            };
            rg.max_start = rg.min_start + d.uvar()?;
            let nr = d.uvar()? as usize;
            for _ in 0..nr {
                rg.resources.push(d.uvar()? as u32);
            }
            for c in 0..NCOLS {
                rg.cols[c] = (d.uvar()?, d.uvar()? as u32);
            }
            if (rg.first_trace + rg.n_traces) as usize > trace_ids.len() {
                return None;
            }
            row_groups.push(rg);
        }
        let n = d.uvar()? as usize;
        let mut ops = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let (r, nm, k) = (d.uvar()? as u32, d.uvar()? as u32, d.u8()?);
            if r as usize >= resources.len() || nm as usize >= strings.len() {
                return None;
            }
            ops.push((r, nm, k));
        }
        Some(Segment {
            path: path.to_path_buf(),
            file,
            bytes,
            n_spans,
            min_start,
            max_end,
            strings,
            resources,
            scopes,
            trace_ids,
            trace_start,
            trace_spans,
            row_groups,
            ops,
        })
    }

    fn column(&self, rg: &RowGroupMeta, c: usize) -> io::Result<Vec<u8>> {
        let (off, len) = rg.cols[c];
        let mut z = vec![0u8; len as usize];
        self.file.read_exact_at(&mut z, off)?;
        // One decompression context per thread, reused across queries.
        thread_local! {
            static DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
                const { std::cell::RefCell::new(None) };
        }
        let cap = (rg.n_spans as usize).saturating_mul(1 << 12).max(1 << 20);
        DCTX.with(|c| {
            let mut c = c.borrow_mut();
            if c.is_none() {
                *c = Some(zstd::bulk::Decompressor::new()?);
            }
            c.as_mut().unwrap().decompress(&z, cap)
        })
        .or_else(|_| zstd::stream::decode_all(&z[..]))
        .map_err(zstd_err)
    }

    /// Decodes the filterable columns of row group `i`; span and parent IDs only
    /// when `with_ids` (searches filter without them).
    pub fn row_group(&self, i: usize, with_ids: bool) -> io::Result<RowGroup<'_>> {
        let m = &self.row_groups[i];
        let n = m.n_spans as usize;
        let idn = if with_ids { n } else { 0 };
        let mut rg = RowGroup {
            seg: self,
            trace_of: Vec::with_capacity(n),
            span_ids: Vec::with_capacity(idn),
            parents: Vec::with_capacity(idn),
            start: Vec::with_capacity(n),
            dur: Vec::with_capacity(n),
            name: Vec::with_capacity(n),
            res: Vec::with_capacity(n),
            scope: Vec::with_capacity(n),
            ks: Vec::new(),
        };
        let bad = || corrupt("row group column");
        let (ids, par) = if with_ids {
            (self.column(m, C_SPANID)?, self.column(m, C_PARENT)?)
        } else {
            (Vec::new(), Vec::new())
        };
        let st = self.column(m, C_START)?;
        let du = self.column(m, C_DUR)?;
        let na = self.column(m, C_NAME)?;
        let re = self.column(m, C_RES)?;
        let sc = self.column(m, C_SCOPE)?;
        rg.ks = self.column(m, C_KS)?;
        let (mut ids, mut par, mut st, mut du, mut na, mut re, mut sc) = (
            Dec::new(&ids),
            Dec::new(&par),
            Dec::new(&st),
            Dec::new(&du),
            Dec::new(&na),
            Dec::new(&re),
            Dec::new(&sc),
        );
        for t in m.first_trace..m.first_trace + m.n_traces {
            let t0 = self.trace_start[t as usize];
            let k = self.trace_spans[t as usize] as usize;
            if with_ids {
                // All IDs of the trace first: a parent may sort after its child.
                let base = rg.span_ids.len();
                for _ in 0..k {
                    rg.span_ids.push(ids.arr().ok_or_else(bad)?);
                }
                for _ in 0..k {
                    let p = match par.uvar().ok_or_else(bad)? {
                        0 => [0; 8],
                        1 => par.arr().ok_or_else(bad)?,
                        j => *rg.span_ids.get(base + j as usize - 2).ok_or_else(bad)?,
                    };
                    rg.parents.push(p);
                }
            }
            for _ in 0..k {
                rg.trace_of.push(t);
                rg.start.push(t0 + st.uvar().ok_or_else(bad)?);
                rg.dur.push(du.uvar().ok_or_else(bad)?);
                let nm = na.uvar().ok_or_else(bad)? as u32;
                let r = re.uvar().ok_or_else(bad)? as u32;
                let s = sc.uvar().ok_or_else(bad)? as u32;
                if nm as usize >= self.strings.len()
                    || r as usize >= self.resources.len()
                    || s as usize >= self.scopes.len()
                {
                    return Err(bad());
                }
                rg.name.push(nm);
                rg.res.push(r);
                rg.scope.push(s);
            }
        }
        if rg.ks.len() != rg.start.len() {
            return Err(bad());
        }
        Ok(rg)
    }

    /// Fully decodes rows `range` of a decoded row group (attributes and extras included).
    fn materialize(
        &self,
        i: usize,
        rg: &RowGroup,
        keep: impl Fn(usize) -> bool,
    ) -> io::Result<Vec<(usize, Span)>> {
        let m = &self.row_groups[i];
        let attrs = self.column(m, C_ATTRS)?;
        let extra = self.column(m, C_EXTRA)?;
        let (mut a, mut x) = (Dec::new(&attrs), Dec::new(&extra));
        let bad = || corrupt("attribute column");
        let mut out = Vec::new();
        for j in 0..rg.start.len() {
            let n = a.uvar().ok_or_else(bad)? as usize;
            let mut attrs = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                let k = self
                    .strings
                    .get(a.uvar().ok_or_else(bad)? as usize)
                    .ok_or_else(bad)?
                    .clone();
                attrs.push((k, a.value().ok_or_else(bad)?));
            }
            let mut s = Span {
                trace_id: self.trace_ids[rg.trace_of[j] as usize],
                span_id: rg.span_ids[j],
                parent_span_id: rg.parents[j],
                name: self.strings[rg.name[j] as usize].clone(),
                kind: SpanKind::from_i32((rg.ks[j] & 15) as i32),
                status_code: StatusCode::from_i32((rg.ks[j] >> 4) as i32),
                start_ns: rg.start[j],
                end_ns: rg.start[j] + rg.dur[j],
                attrs,
                resource: self.resources[rg.res[j] as usize].clone(),
                scope: self.scopes[rg.scope[j] as usize].clone(),
                ..Default::default()
            };
            dec_extra(&mut x, &mut s).ok_or_else(bad)?;
            if keep(j) {
                out.push((j, s));
            }
        }
        Ok(out)
    }

    /// Start of the newest span stored (0 when empty).
    pub fn max_start(&self) -> u64 {
        self.row_groups
            .iter()
            .map(|m| m.max_start)
            .max()
            .unwrap_or(0)
    }

    fn trace_index(&self, id: &TraceId) -> Option<usize> {
        self.trace_ids.binary_search(id).ok()
    }

    pub fn may_contain(&self, id: &TraceId) -> bool {
        self.trace_index(id).is_some()
    }

    /// All spans of one trace stored in this segment. Decodes only that trace's
    /// rows: the other rows of its row group are skipped without allocating.
    pub fn trace(&self, id: &TraceId) -> io::Result<Vec<Span>> {
        let Some(t) = self.trace_index(id) else {
            return Ok(Vec::new());
        };
        let i = self
            .row_groups
            .partition_point(|rg| (rg.first_trace + rg.n_traces) as usize <= t);
        let m = self
            .row_groups
            .get(i)
            .ok_or_else(|| corrupt("trace table"))?;
        let skip: usize = (m.first_trace as usize..t)
            .map(|x| self.trace_spans[x] as usize)
            .sum();
        let n = self.trace_spans[t] as usize;
        let bad = || corrupt("row group column");
        let ids = self.column(m, C_SPANID)?;
        let span_ids: Vec<SpanId> = ids
            .get(skip * 8..(skip + n) * 8)
            .ok_or_else(bad)?
            .chunks_exact(8)
            .map(|c| c.try_into().unwrap())
            .collect();
        let ks = self.column(m, C_KS)?;
        let ks = ks.get(skip..skip + n).ok_or_else(bad)?;
        let par = self.column(m, C_PARENT)?;
        let mut par = Dec::new(&par);
        for _ in 0..skip {
            if par.uvar().ok_or_else(bad)? == 1 {
                par.raw(8).ok_or_else(bad)?;
            }
        }
        // The varint columns: skip the rows before this trace.
        let varcol = |c: usize| -> io::Result<Vec<u64>> {
            let raw = self.column(m, c)?;
            let mut d = Dec::new(&raw);
            for _ in 0..skip {
                d.uvar().ok_or_else(bad)?;
            }
            (0..n).map(|_| d.uvar().ok_or_else(bad)).collect()
        };
        let st = varcol(C_START)?;
        let du = varcol(C_DUR)?;
        let na = varcol(C_NAME)?;
        let re = varcol(C_RES)?;
        let sc = varcol(C_SCOPE)?;
        let attrs = self.column(m, C_ATTRS)?;
        let extra = self.column(m, C_EXTRA)?;
        let (mut a, mut x) = (Dec::new(&attrs), Dec::new(&extra));
        for _ in 0..skip {
            let k = a.uvar().ok_or_else(bad)?;
            for _ in 0..k {
                a.uvar().ok_or_else(bad)?;
                a.skip_value().ok_or_else(bad)?;
            }
            skip_extra(&mut x).ok_or_else(bad)?;
        }
        let t0 = self.trace_start[t];
        let mut out = Vec::with_capacity(n);
        for j in 0..n {
            let parent_span_id = match par.uvar().ok_or_else(bad)? {
                0 => [0; 8],
                1 => par.arr().ok_or_else(bad)?,
                p => *span_ids.get(p as usize - 2).ok_or_else(bad)?,
            };
            let k = a.uvar().ok_or_else(bad)? as usize;
            let mut attrs = Vec::with_capacity(k.min(1024));
            for _ in 0..k {
                let key = self
                    .strings
                    .get(a.uvar().ok_or_else(bad)? as usize)
                    .ok_or_else(bad)?
                    .clone();
                attrs.push((key, a.value().ok_or_else(bad)?));
            }
            let start = t0 + st[j];
            let mut s = Span {
                trace_id: self.trace_ids[t],
                span_id: span_ids[j],
                parent_span_id,
                name: self.strings.get(na[j] as usize).ok_or_else(bad)?.clone(),
                kind: SpanKind::from_i32((ks[j] & 15) as i32),
                status_code: StatusCode::from_i32((ks[j] >> 4) as i32),
                start_ns: start,
                end_ns: start + du[j],
                attrs,
                resource: self.resources.get(re[j] as usize).ok_or_else(bad)?.clone(),
                scope: self.scopes.get(sc[j] as usize).ok_or_else(bad)?.clone(),
                ..Default::default()
            };
            dec_extra(&mut x, &mut s).ok_or_else(bad)?;
            out.push(s);
        }
        Ok(out)
    }

    /// Every span (for compaction).
    pub fn all_spans(&self) -> io::Result<Vec<Span>> {
        let mut out = Vec::with_capacity(self.n_spans as usize);
        for i in 0..self.row_groups.len() {
            let rg = self.row_group(i, true)?;
            out.extend(
                self.materialize(i, &rg, |_| true)?
                    .into_iter()
                    .map(|(_, s)| s),
            );
        }
        Ok(out)
    }

    /// Adds the traces with a span matching `q` to `hits` (trace → newest matching start).
    pub fn search(&self, q: &SearchQuery, hits: &mut HashMap<TraceId, u64>) -> io::Result<()> {
        if self.max_end < q.start_ns || self.min_start > q.end_ns {
            return Ok(());
        }
        let wanted: Option<Vec<u32>> = q.filter.required_services().map(|svcs| {
            (0..self.resources.len() as u32)
                .filter(|r| {
                    svcs.iter()
                        .any(|s| *s == self.resources[*r as usize].service)
                })
                .collect()
        });
        let full = q.filter.needs_attrs();
        for (i, m) in self.row_groups.iter().enumerate() {
            if m.max_start < q.start_ns || m.min_start > q.end_ns {
                continue;
            }
            if let Some(w) = &wanted
                && !m.resources.iter().any(|r| w.contains(r))
            {
                continue;
            }
            let rg = self.row_group(i, full)?;
            let in_range = |j: usize| rg.start[j] >= q.start_ns && rg.start[j] <= q.end_ns;
            let mut record = |j: usize| {
                let e = hits
                    .entry(self.trace_ids[rg.trace_of[j] as usize])
                    .or_insert(0);
                *e = (*e).max(rg.start[j]);
            };
            if full {
                // Cheap pre-check on the decoded columns is not possible for attribute
                // predicates; decode attributes only for rows in range.
                for (j, s) in self.materialize(i, &rg, in_range)? {
                    if q.span_matches(&s) {
                        record(j);
                    }
                }
            } else {
                for j in 0..rg.start.len() {
                    if in_range(j) && q.span_matches(&Row { rg: &rg, i: j }) {
                        record(j);
                    }
                }
            }
        }
        Ok(())
    }

    /// Distinct (service, span name, kind) triples, for the services/operations listings.
    pub fn operations(&self, out: &mut std::collections::BTreeSet<(String, String, SpanKind)>) {
        for (r, n, k) in &self.ops {
            out.insert((
                self.resources[*r as usize].service.clone(),
                self.strings[*n as usize].clone(),
                SpanKind::from_i32(*k as i32),
            ));
        }
    }
}
