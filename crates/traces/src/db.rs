//! [`TraceDb`]: the embedded trace store. Writes go WAL → head; the head is cut
//! when it reaches `head_max_spans` (on the write path) or `head_max_age`; a
//! maintenance thread writes cut heads as segments, a second one merges small
//! segments (compaction) and applies retention by time and size.
//!
//! Directory: `wal/<gen>.wal` and `segments/<seq>.seg`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};

use crate::codec::{decode_batch, encode_batch};
use crate::head::Head;
use crate::query::{Field, SearchQuery, SpanView, TraceHit};
use crate::segment::{self, Segment};
use crate::span::{Span, SpanKind, TraceId, Value};
use crate::store::{Operation, Result, StoreError, TagKeys, TraceStore};
use crate::wal::{self, Wal};

#[derive(Clone, Debug)]
pub struct TraceOptions {
    /// Segments whose newest span ended longer ago than this are deleted (0 = keep forever).
    pub retention: Duration,
    /// Oldest segments are deleted while all segments exceed this many bytes (0 = no limit).
    pub retention_bytes: u64,
    /// The head is cut into a segment at this many spans…
    pub head_max_spans: usize,
    /// …or when it is this old.
    pub head_max_age: Duration,
    /// Adjacent segments smaller than a quarter of this are merged up to this many spans.
    pub compact_target_spans: u64,
    /// How often the WAL is fsynced (acknowledged writes are already safe from process crashes).
    pub fsync_interval: Duration,
    /// Writes are refused (Overloaded) while this many cut heads wait to become segments.
    pub max_pending_heads: usize,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            retention: Duration::from_secs(7 * 24 * 3600),
            retention_bytes: 0,
            // ~1 KiB of memory per span with 10 attributes: keep the head to a few hundred MiB.
            head_max_spans: 200_000,
            head_max_age: Duration::from_secs(300),
            // Compaction decodes its inputs in memory: bound it to ~1M spans.
            compact_target_spans: 1_000_000,
            fsync_interval: Duration::from_secs(1),
            // 8 × head_max_spans: room for a burst while a segment is written on a busy machine.
            max_pending_heads: 8,
        }
    }
}

struct Inner {
    head: Head,
    frozen: Vec<Arc<Head>>,
    segments: Vec<Arc<Segment>>,
}

pub struct TraceDb {
    dir: PathBuf,
    opts: TraceOptions,
    wal: Mutex<Wal>,
    inner: RwLock<Inner>,
    next_seq: AtomicU64,
    /// Serialises cut/segment writing (the maintenance thread and explicit calls).
    maint: Mutex<()>,
    /// Serialises compaction and retention.
    compaction: Mutex<()>,
    closed: AtomicBool,
    last_sync: Mutex<Instant>,
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn seg_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join("segments").join(format!("{seq:012}.seg"))
}

impl TraceDb {
    /// Opens (or creates) the store in `dir`, replaying the WAL into the head.
    pub fn open(dir: &Path, opts: TraceOptions) -> Result<Arc<TraceDb>> {
        let seg_dir = dir.join("segments");
        let wal_dir = dir.join("wal");
        fs::create_dir_all(&seg_dir)?;
        fs::create_dir_all(&wal_dir)?;
        let mut segments = Vec::new();
        let mut max_seq = 0;
        let mut names: Vec<_> = fs::read_dir(&seg_dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .collect();
        names.sort();
        for p in names {
            match p.extension().and_then(|e| e.to_str()) {
                Some("tmp") => {
                    let _ = fs::remove_file(&p);
                }
                Some("seg") => {
                    let seq: u64 = p
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    max_seq = max_seq.max(seq);
                    match Segment::open(&p) {
                        Ok(s) => segments.push(Arc::new(s)),
                        Err(e) => {
                            tracing::error!(file = %p.display(), error = %e, "trace segment unreadable; set aside as .corrupt");
                            let _ = fs::rename(&p, p.with_extension("corrupt"));
                        }
                    }
                }
                _ => {}
            }
        }
        let gens = wal::generations(&wal_dir)?;
        let next_gen = gens.last().map(|g| g + 1).unwrap_or(1);
        let mut head = Head::new(next_gen);
        let mut replayed = 0usize;
        for g in &gens {
            for rec in wal::read_generation(&wal_dir, *g)? {
                match decode_batch(&rec) {
                    Some(spans) => {
                        replayed += spans.len();
                        head.add(spans)
                    }
                    None => {
                        tracing::error!(generation = g, "trace WAL record undecodable; skipped")
                    }
                }
            }
            head.wal_gens.push(*g);
        }
        if replayed > 0 {
            tracing::info!(spans = replayed, "trace WAL replayed");
        }
        let wal = Wal::create(&wal_dir, next_gen)?;
        Ok(Arc::new(TraceDb {
            dir: dir.to_path_buf(),
            opts,
            wal: Mutex::new(wal),
            inner: RwLock::new(Inner {
                head,
                frozen: Vec::new(),
                segments,
            }),
            next_seq: AtomicU64::new(max_seq + 1),
            maint: Mutex::new(()),
            compaction: Mutex::new(()),
            closed: AtomicBool::new(false),
            last_sync: Mutex::new(Instant::now()),
        }))
    }

    /// Starts the background threads: one writes cut heads as segments (and fsyncs
    /// the WAL), the other compacts and applies retention, so a long compaction never
    /// holds up segment writing (which would refuse ingest as Overloaded). Both run
    /// every `every`; the returned handle is the segment writer's.
    pub fn start_maintenance(self: &Arc<Self>, every: Duration) -> std::thread::JoinHandle<()> {
        let spawn = |name: &str, f: fn(&TraceDb) -> Result<()>| {
            let db = Arc::downgrade(self);
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(every);
                        let Some(db) = db.upgrade() else { return };
                        if db.closed.load(Ordering::Relaxed) {
                            return;
                        }
                        if let Err(e) = f(&db) {
                            tracing::error!(error = %e, "trace store maintenance failed");
                        }
                    }
                })
                .expect("spawn trace maintenance")
        };
        spawn("trace-compaction", TraceDb::maintain_compaction);
        spawn("trace-maintenance", TraceDb::maintain_segments)
    }

    /// One maintenance round: fsync, cut, write pending segments, compact, retain.
    pub fn maintain(&self) -> Result<()> {
        self.maintain_segments()?;
        self.maintain_compaction()
    }

    /// Fsync, cut the head when large or old, write pending heads as segments.
    pub fn maintain_segments(&self) -> Result<()> {
        let _g = self.maint.lock();
        {
            let mut last = self.last_sync.lock();
            if last.elapsed() >= self.opts.fsync_interval {
                self.wal.lock().sync()?;
                *last = Instant::now();
            }
        }
        let cut = {
            let i = self.inner.read();
            (i.head.spans.len() >= self.opts.head_max_spans
                || (!i.head.spans.is_empty() && i.head.created.elapsed() >= self.opts.head_max_age))
                && i.frozen.len() + 1 < self.opts.max_pending_heads
        };
        if cut {
            self.cut_head()?;
        }
        self.flush_frozen()
    }

    /// Compaction and retention (serialised with each other, not with segment writing).
    pub fn maintain_compaction(&self) -> Result<()> {
        let _g = self.compaction.lock();
        // Segment writing comes first: merging re-encodes every span once more, so it
        // waits while cut heads are pending (ingest would otherwise be refused).
        if self.inner.read().frozen.is_empty() {
            self.compact()?;
        }
        self.apply_retention(crate::db::now_ns())?;
        Ok(())
    }

    /// Freezes the current head (rotating the WAL) so it can be written as a segment.
    pub fn cut_head(&self) -> Result<()> {
        let mut w = self.wal.lock();
        let mut i = self.inner.write();
        if i.head.spans.is_empty() {
            return Ok(());
        }
        w.rotate()?;
        let old = std::mem::replace(&mut i.head, Head::new(w.generation));
        i.frozen.push(Arc::new(old));
        Ok(())
    }

    /// Writes every frozen head as a segment, then drops it and its WAL files.
    pub fn flush_frozen(&self) -> Result<()> {
        loop {
            let Some(h) = self.inner.read().frozen.first().cloned() else {
                return Ok(());
            };
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            let path = seg_path(&self.dir, seq);
            segment::write(&path, &h.spans)?;
            let seg = Arc::new(Segment::open(&path)?);
            {
                let mut i = self.inner.write();
                i.segments.push(seg);
                i.frozen.retain(|f| !Arc::ptr_eq(f, &h));
            }
            for g in &h.wal_gens {
                Wal::remove(&self.dir.join("wal"), *g)?;
            }
            tracing::debug!(spans = h.spans.len(), seq, "trace head written as segment");
        }
    }

    /// Merges runs of adjacent small segments into one (fewer files to search, better compression).
    pub fn compact(&self) -> Result<()> {
        let small = self.opts.compact_target_spans / 4;
        let run: Vec<Arc<Segment>> = {
            let i = self.inner.read();
            let mut run: Vec<Arc<Segment>> = Vec::new();
            let mut total = 0;
            for s in &i.segments {
                if s.n_spans < small && total + s.n_spans <= self.opts.compact_target_spans {
                    total += s.n_spans;
                    run.push(s.clone());
                } else if run.len() >= 2 {
                    break;
                } else {
                    run.clear();
                    total = 0;
                }
            }
            run
        };
        if run.len() < 2 {
            return Ok(());
        }
        let mut spans = Vec::new();
        for s in &run {
            spans.extend(s.all_spans()?);
        }
        // The merged segment takes the newest input's sequence number slot order by
        // using a fresh (higher) sequence; list order stays by age of the inputs.
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let path = seg_path(&self.dir, seq);
        segment::write(&path, &spans)?;
        drop(spans);
        let merged = Arc::new(Segment::open(&path)?);
        {
            let mut i = self.inner.write();
            let pos = i
                .segments
                .iter()
                .position(|s| Arc::ptr_eq(s, &run[0]))
                .unwrap_or(0);
            i.segments
                .retain(|s| !run.iter().any(|r| Arc::ptr_eq(r, s)));
            let pos = pos.min(i.segments.len());
            i.segments.insert(pos, merged);
        }
        for s in &run {
            let _ = fs::remove_file(&s.path);
        }
        tracing::debug!(inputs = run.len(), "trace segments compacted");
        Ok(())
    }

    /// Deletes segments past the retention time, then oldest ones over the size limit.
    pub fn apply_retention(&self, now_ns: u64) -> Result<()> {
        let mut drop: Vec<Arc<Segment>> = Vec::new();
        {
            let mut i = self.inner.write();
            if !self.opts.retention.is_zero() {
                let cutoff = now_ns.saturating_sub(self.opts.retention.as_nanos() as u64);
                i.segments.retain(|s| {
                    let keep = s.max_end >= cutoff;
                    if !keep {
                        drop.push(s.clone());
                    }
                    keep
                });
            }
            if self.opts.retention_bytes > 0 {
                let mut total: u64 = i.segments.iter().map(|s| s.bytes).sum();
                while total > self.opts.retention_bytes && !i.segments.is_empty() {
                    // Oldest data first: the segment whose newest span is oldest.
                    let (k, _) = i
                        .segments
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, s)| s.max_end)
                        .unwrap();
                    let s = i.segments.remove(k);
                    total -= s.bytes;
                    drop.push(s);
                }
            }
        }
        for s in drop {
            tracing::info!(file = %s.path.display(), "trace segment deleted by retention");
            let _ = fs::remove_file(&s.path);
        }
        Ok(())
    }

    /// Syncs the WAL and stops the maintenance thread (the head stays in the WAL for next start).
    pub fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Relaxed);
        self.wal.lock().sync()?;
        Ok(())
    }

    pub fn segment_count(&self) -> usize {
        self.inner.read().segments.len()
    }

    pub fn disk_bytes(&self) -> u64 {
        self.inner.read().segments.iter().map(|s| s.bytes).sum()
    }

    pub fn head_spans(&self) -> usize {
        let i = self.inner.read();
        i.head.spans.len() + i.frozen.iter().map(|h| h.spans.len()).sum::<usize>()
    }

    /// Recent spans for the tag listings: head, pending heads, then newest segments, up to `budget`.
    fn recent_spans(&self, q: &SearchQuery, budget: usize, mut f: impl FnMut(&Span)) -> Result<()> {
        let (heads, segs) = {
            let i = self.inner.read();
            let mut heads: Vec<Vec<Span>> =
                vec![i.head.spans.iter().rev().take(budget).cloned().collect()];
            heads.extend(
                i.frozen
                    .iter()
                    .rev()
                    .map(|h| h.spans.iter().rev().take(budget).cloned().collect()),
            );
            (heads, i.segments.clone())
        };
        let mut seen = 0usize;
        for s in heads.iter().flatten() {
            if seen >= budget {
                return Ok(());
            }
            if s.start_ns >= q.start_ns && s.start_ns <= q.end_ns && q.span_matches(s) {
                seen += 1;
                f(s);
            }
        }
        for seg in segs.iter().rev() {
            if seen >= budget {
                break;
            }
            if seg.max_end < q.start_ns || seg.min_start > q.end_ns {
                continue;
            }
            for s in seg.all_spans()? {
                if s.start_ns >= q.start_ns && s.start_ns <= q.end_ns && q.span_matches(&s) {
                    seen += 1;
                    f(&s);
                }
            }
        }
        Ok(())
    }
}

impl TraceStore for TraceDb {
    fn ready(&self) -> Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(StoreError::Closed);
        }
        if self.inner.read().frozen.len() >= self.opts.max_pending_heads {
            return Err(StoreError::Overloaded);
        }
        Ok(())
    }

    fn write(&self, spans: Vec<Span>) -> Result<()> {
        if spans.is_empty() {
            return Ok(());
        }
        self.ready()?;
        let rec = encode_batch(&spans);
        let mut w = self.wal.lock();
        w.append(&rec)?;
        // Still holding the WAL lock: the head we add to is the one of this WAL generation.
        let full = {
            let mut i = self.inner.write();
            i.head.add(spans);
            // Never cut into refusal: with the writer this far behind the head grows
            // instead (as it did before cuts moved here), and ingest is not refused.
            i.head.spans.len() >= self.opts.head_max_spans
                && i.frozen.len() + 1 < self.opts.max_pending_heads
        };
        // Cut a full head right here rather than on the next maintenance tick: while the
        // maintenance thread writes a segment the head would otherwise keep growing (each
        // segment taking longer to write than the last), and every query scans the head.
        // The WAL lock keeps other writers out; the rotation's fsync runs without the
        // head lock so queries are not held up.
        if full {
            w.rotate()?;
            let mut i = self.inner.write();
            let old = std::mem::replace(&mut i.head, Head::new(w.generation));
            i.frozen.push(Arc::new(old));
        }
        Ok(())
    }

    fn trace(&self, id: &TraceId, range: Option<(u64, u64)>) -> Result<Vec<Span>> {
        let (mut out, segs) = {
            let i = self.inner.read();
            let mut out: Vec<Span> = i.head.trace(id).cloned().collect();
            for h in &i.frozen {
                out.extend(h.trace(id).cloned());
            }
            (out, i.segments.clone())
        };
        for s in segs {
            if let Some((a, b)) = range
                && (s.max_end < a || s.min_start > b)
            {
                continue;
            }
            if s.may_contain(id) {
                out.extend(s.trace(id)?);
            }
        }
        // A crash between writing a segment and deleting its WAL replays spans twice.
        let mut seen = HashSet::new();
        out.retain(|s| seen.insert((s.span_id, s.start_ns)));
        out.sort_by_key(|s| (s.start_ns, s.span_id));
        Ok(out)
    }

    fn search(&self, q: &SearchQuery) -> Result<Vec<TraceHit>> {
        let mut hits: HashMap<TraceId, u64> = HashMap::new();
        let segs = {
            let i = self.inner.read();
            for h in std::iter::once(&i.head).chain(i.frozen.iter().map(|h| h.as_ref())) {
                if h.spans.is_empty() || h.max_end < q.start_ns || h.min_start > q.end_ns {
                    continue;
                }
                for s in &h.spans {
                    if s.start_ns >= q.start_ns
                        && s.start_ns <= q.end_ns
                        && q.span_matches(s as &dyn SpanView)
                    {
                        let e = hits.entry(s.trace_id).or_insert(0);
                        *e = (*e).max(s.start_ns);
                    }
                }
            }
            i.segments.clone()
        };
        // Newest segments first (by newest span start, the key hits are ranked by); stop
        // once no span of this or any older segment can enter the top `limit`.
        let mut segs = segs;
        segs.sort_by_key(|s| std::cmp::Reverse(s.max_start()));
        let mut starts: Vec<u64> = Vec::new();
        for s in &segs {
            if q.limit > 0 && hits.len() >= q.limit {
                starts.clear();
                starts.extend(hits.values().copied());
                let (_, kth, _) = starts.select_nth_unstable_by(q.limit - 1, |a, b| b.cmp(a));
                if *kth > s.max_start().min(q.end_ns) {
                    break;
                }
            }
            s.search(q, &mut hits)?;
        }
        let mut v: Vec<TraceHit> = hits
            .into_iter()
            .map(|(trace_id, start_ns)| TraceHit { trace_id, start_ns })
            .collect();
        v.sort_by(|a, b| {
            b.start_ns
                .cmp(&a.start_ns)
                .then(a.trace_id.cmp(&b.trace_id))
        });
        v.truncate(q.limit);
        Ok(v)
    }

    fn operations(&self) -> Result<Vec<Operation>> {
        let mut out: BTreeSet<(String, String, SpanKind)> = BTreeSet::new();
        let i = self.inner.read();
        i.head.operations(&mut out);
        for h in &i.frozen {
            h.operations(&mut out);
        }
        for s in &i.segments {
            s.operations(&mut out);
        }
        Ok(out.into_iter().collect())
    }

    fn tag_keys(&self, start_ns: u64, end_ns: u64) -> Result<TagKeys> {
        let q = SearchQuery {
            start_ns,
            end_ns,
            filter: crate::Expr::True,
            min_duration_ns: None,
            max_duration_ns: None,
            limit: 0,
        };
        let mut keys = TagKeys::default();
        self.recent_spans(&q, 100_000, |s| {
            for (k, _) in &s.attrs {
                if !keys.span.contains(k) {
                    keys.span.insert(k.clone());
                }
            }
            for (k, _) in &s.resource.attrs {
                if !keys.resource.contains(k) {
                    keys.resource.insert(k.clone());
                }
            }
        })?;
        Ok(keys)
    }

    fn tag_values(&self, field: &Field, q: &SearchQuery) -> Result<Vec<Value>> {
        let mut seen: Vec<Value> = Vec::new();
        let mut texts: HashSet<String> = HashSet::new();
        let max = if q.limit == 0 { 1000 } else { q.limit };
        self.recent_spans(q, 100_000, |s| {
            if seen.len() >= max {
                return;
            }
            let v = match field {
                Field::Service => Some(Value::Str(s.resource.service.clone())),
                Field::Name => Some(Value::Str(s.name.clone())),
                Field::Kind => Some(Value::Str(s.kind.as_str().into())),
                Field::Status => Some(Value::Str(s.status_code.as_str().into())),
                Field::StatusMessage => Some(Value::Str(s.status_message.clone())),
                Field::ScopeName => Some(Value::Str(s.scope.name.clone())),
                Field::DurationNs => None,
                Field::SpanAttr(k) => s.span_attr(k).cloned(),
                Field::ResourceAttr(k) => s.resource_attr(k).cloned(),
                Field::AnyAttr(k) | Field::Tag(k) => {
                    s.span_attr(k).or_else(|| s.resource_attr(k)).cloned()
                }
            };
            if let Some(v) = v
                && texts.insert(v.to_text())
            {
                seen.push(v);
            }
        })?;
        Ok(seen)
    }
}
