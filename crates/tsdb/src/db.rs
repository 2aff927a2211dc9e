//! The database: head + WAL + blocks, and the maintenance that moves data
//! from one to the next (cut, compact, expire).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use sightline_model::{Labels, Sample};

use crate::block::{Block, BlockSeries, CompactionMeta, write_block};
use crate::head::Head;
use crate::metrics::DbMetrics;
use crate::options::Options;
use crate::record::{self, Record};
use crate::storage::{Result, StorageError};
use crate::wal::{self, ReplayReport, Wal, frame_with};

/// What opening the database found.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    pub wal: ReplayReport,
    pub replayed_samples: u64,
    pub replay_duration: Duration,
    pub blocks_loaded: usize,
    /// Blocks that could not be opened: `(dir, problem)`. They are left on disk untouched.
    pub corrupt_blocks: Vec<(PathBuf, String)>,
}

pub struct Db {
    pub(crate) dir: PathBuf,
    pub(crate) opts: Options,
    pub(crate) head: Head,
    pub(crate) wal: Mutex<Wal>,
    /// Commits hold it shared; WAL rotation for checkpoints and head GC hold it exclusively,
    /// so that no commit is half-written to the WAL and half-applied when they run.
    pub(crate) gate: RwLock<()>,
    pub(crate) blocks: RwLock<Vec<Arc<Block>>>,
    pub(crate) maintenance: Mutex<()>,
    /// Deleted ranges per series, hidden from reads (see `tombstones.rs`).
    pub(crate) tombstones: crate::tombstones::Tombstones,
    pub metrics: DbMetrics,
    pub open_report: OpenReport,
    _lock: DirLock,
}

/// Exclusive lock on the data directory so two processes never share it.
struct DirLock {
    _file: fs::File,
}

impl DirLock {
    fn acquire(dir: &Path) -> Result<DirLock> {
        use std::os::fd::AsRawFd;
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        // Safety: flock on an fd we own.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(StorageError::Invalid(format!(
                "data directory {} is in use by another process",
                dir.display()
            )));
        }
        Ok(DirLock { _file: f })
    }
}

impl Db {
    pub fn open(dir: &Path, opts: Options) -> Result<Arc<Db>> {
        fs::create_dir_all(dir)?;
        let lock = DirLock::acquire(dir)?;
        let mut report = OpenReport::default();
        let blocks = load_blocks(dir, &mut report)?;
        let head = Head::new();
        let max_block_t = blocks
            .iter()
            .map(|b| b.meta.max_time)
            .max()
            .unwrap_or(i64::MIN);
        head.min_valid.store(max_block_t, Ordering::Relaxed);

        let start = Instant::now();
        let wal_dir = dir.join("wal");
        let mut seg_max: std::collections::BTreeMap<u32, i64> = Default::default();
        let mut samples = 0u64;
        let window = opts.out_of_order_window_ms;
        let mut rep = wal::replay(&wal_dir, &mut |seg, payload| {
            apply_record(
                &head,
                payload,
                max_block_t,
                window,
                seg,
                &mut seg_max,
                &mut samples,
            );
        })?;
        rep.segment_max_t = seg_max;
        for c in &rep.corruptions {
            tracing::warn!(problem = %c, "WAL damage found during replay");
        }
        let wal = Wal::open(&wal_dir, &rep)?;
        let tombstones = crate::tombstones::Tombstones::load(dir)?;
        report.replayed_samples = samples;
        report.replay_duration = start.elapsed();
        report.blocks_loaded = blocks.len();
        report.wal = rep;
        let metrics = DbMetrics::default();
        metrics
            .wal_corruptions
            .store(report.wal.corruptions.len() as u64, Ordering::Relaxed);
        metrics
            .corrupt_blocks
            .store(report.corrupt_blocks.len() as u64, Ordering::Relaxed);
        tracing::info!(
            series = head.num_series(),
            samples,
            blocks = blocks.len(),
            took = ?report.replay_duration,
            "TSDB opened"
        );
        Ok(Arc::new(Db {
            dir: dir.to_path_buf(),
            opts,
            head,
            wal: Mutex::new(wal),
            gate: RwLock::new(()),
            blocks: RwLock::new(blocks),
            maintenance: Mutex::new(()),
            tombstones,
            metrics,
            open_report: report,
            _lock: lock,
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks.read().clone()
    }

    pub fn wal_size_bytes(&self) -> u64 {
        self.wal.lock().size_bytes()
    }

    pub fn blocks_size_bytes(&self) -> u64 {
        self.blocks.read().iter().map(|b| b.size_bytes).sum()
    }

    /// Newest timestamp anywhere in the database.
    pub fn max_time(&self) -> i64 {
        let h = self.head.max_t.load(Ordering::Relaxed);
        let b = self
            .blocks
            .read()
            .iter()
            .map(|b| b.meta.max_time - 1)
            .max()
            .unwrap_or(i64::MIN);
        h.max(b)
    }

    /// Oldest timestamp anywhere in the database.
    pub fn min_time(&self) -> i64 {
        let h = self.head.min_t.load(Ordering::Relaxed);
        let b = self
            .blocks
            .read()
            .iter()
            .map(|b| b.meta.min_time)
            .min()
            .unwrap_or(i64::MAX);
        h.min(b)
    }

    /// Flushes the WAL to disk. Called on shutdown.
    pub fn close(&self) -> Result<()> {
        let _g = self.gate.write();
        self.wal.lock().sync()
    }

    /// One round of housekeeping: cut blocks from the head while it spans more
    /// than 1.5 block ranges, compact blocks, apply retention.
    pub fn maintain(&self) -> Result<()> {
        let _m = self.maintenance.lock();
        loop {
            let min_t = self.head.min_t.load(Ordering::Relaxed);
            let max_t = self.head.max_t.load(Ordering::Relaxed);
            let range = self.opts.block_range_ms;
            if min_t == i64::MAX || max_t.saturating_sub(min_t) <= range / 2 * 3 {
                break;
            }
            let mint = min_t.div_euclid(range) * range;
            self.cut_block(mint, mint + range)?;
        }
        while let Some(group) = self.plan_compaction() {
            if let Err(e) = self.compact(&group) {
                self.metrics
                    .compaction_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "compaction failed");
                break;
            }
        }
        self.apply_retention()
    }

    /// Writes `[mint, maxt)` of the head as a block, then drops it from head and WAL.
    pub fn cut_block(&self, mint: i64, maxt: i64) -> Result<()> {
        let mut series = self.head.all_series();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        let iter = series.iter().map(|s| {
            let (samples, st) = s.samples_st(mint, maxt - 1);
            let exemplars = s.state.lock().exemplars.clone();
            BlockSeries {
                labels: s.labels.to_labels(),
                samples,
                st,
                exemplars,
            }
        });
        let meta = write_block(
            &self.dir,
            mint,
            maxt,
            CompactionMeta {
                level: 1,
                ..Default::default()
            },
            iter,
        )?;
        if let Some(meta) = meta {
            let b = Block::open(&self.dir.join(&meta.ulid))?;
            tracing::info!(ulid = %meta.ulid, mint, maxt, series = meta.stats.num_series, samples = meta.stats.num_samples, "block cut from head");
            let mut blocks = self.blocks.write();
            blocks.push(Arc::new(b));
            blocks.sort_by_key(|b| b.meta.min_time);
            self.metrics.blocks_cut.fetch_add(1, Ordering::Relaxed);
        }
        self.truncate_head(maxt)
    }

    /// Forgets head data before `t` and replaces the WAL segments that only held
    /// such data with a checkpoint of the series still alive.
    fn truncate_head(&self, t: i64) -> Result<()> {
        let first_kept = {
            let _g = self.gate.write();
            let removed = self.head.truncate(t);
            self.metrics
                .series_removed
                .fetch_add(removed as u64, Ordering::Relaxed);
            let mut wal = self.wal.lock();
            wal.rotate()?;
            wal.truncation_point(t)
        };
        let mut buf = Vec::new();
        let series = self.head.all_series();
        for batch in series.chunks(10_000) {
            frame_with(&mut buf, |b| {
                record::encode_series(b, batch.iter().map(|s| (s.r, s.labels.pairs())))
            });
        }
        let md: Vec<_> = self
            .head
            .metadata
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !md.is_empty() {
            frame_with(&mut buf, |b| record::encode_metadata(b, &md));
        }
        let mut ex = Vec::new();
        for s in &series {
            for e in &s.state.lock().exemplars {
                ex.push((s.r, e.clone()));
            }
        }
        if !ex.is_empty() {
            frame_with(&mut buf, |b| record::encode_exemplars(b, &ex));
        }
        self.wal.lock().checkpoint(first_kept, &buf)?;
        self.metrics.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Picks blocks to merge: overlapping blocks first, then the first complete
    /// window of the smallest compaction range holding more than one block.
    fn plan_compaction(&self) -> Option<Vec<Arc<Block>>> {
        let blocks = self.blocks.read().clone();
        for w in blocks.windows(2) {
            if w[1].meta.min_time < w[0].meta.max_time {
                let lo = w[0].meta.min_time;
                let hi = w[0].meta.max_time.max(w[1].meta.max_time);
                return Some(
                    blocks
                        .iter()
                        .filter(|b| b.meta.min_time < hi && b.meta.max_time > lo)
                        .cloned()
                        .collect(),
                );
            }
        }
        let newest = blocks.iter().map(|b| b.meta.max_time).max()?;
        for r in self.opts.compaction_ranges() {
            let mut i = 0;
            while i < blocks.len() {
                let k = blocks[i].meta.min_time.div_euclid(r);
                let (lo, hi) = (k * r, k * r + r);
                let group: Vec<Arc<Block>> = blocks[i..]
                    .iter()
                    .take_while(|b| b.meta.min_time >= lo && b.meta.max_time <= hi)
                    .cloned()
                    .collect();
                let n = group.len().max(1);
                if group.len() > 1 && hi <= newest {
                    return Some(group);
                }
                i += n;
            }
        }
        None
    }

    fn compact(&self, group: &[Arc<Block>]) -> Result<()> {
        let mint = group.iter().map(|b| b.meta.min_time).min().unwrap_or(0);
        let maxt = group.iter().map(|b| b.meta.max_time).max().unwrap_or(0);
        let mut sources: Vec<String> = group
            .iter()
            .flat_map(|b| b.meta.compaction.sources.clone())
            .collect();
        sources.sort();
        sources.dedup();
        let meta = CompactionMeta {
            level: group
                .iter()
                .map(|b| b.meta.compaction.level)
                .max()
                .unwrap_or(1)
                + 1,
            sources,
            parents: group.iter().map(|b| b.meta.ulid.clone()).collect(),
        };
        let mut merged = MergeIter::new(
            group
                .iter()
                .map(|b| Box::new(b.all_series_st()) as BoxedSeriesIter<'_>)
                .collect(),
        );
        let iter = std::iter::from_fn(|| merged.next_series());
        let out = write_block(
            &self.dir,
            mint,
            maxt,
            meta,
            iter.map(|(labels, samples, st)| BlockSeries {
                labels,
                samples,
                st,
                exemplars: Vec::new(),
            }),
        );
        if let Some(e) = merged.error.take() {
            if let Ok(Some(m)) = &out {
                let _ = fs::remove_dir_all(self.dir.join(&m.ulid));
            }
            return Err(e);
        }
        let new_block = match out? {
            Some(m) => Some(Arc::new(Block::open(&self.dir.join(&m.ulid))?)),
            None => None,
        };
        // Exemplars of the parents are carried over verbatim.
        if let Some(nb) = &new_block {
            carry_exemplars(group, nb)?;
        }
        {
            let mut blocks = self.blocks.write();
            blocks.retain(|b| !group.iter().any(|g| g.meta.ulid == b.meta.ulid));
            if let Some(nb) = new_block {
                tracing::info!(ulid = %nb.meta.ulid, parents = group.len(), mint, maxt, "blocks compacted");
                blocks.push(nb);
            }
            blocks.sort_by_key(|b| b.meta.min_time);
        }
        for b in group {
            let _ = fs::remove_dir_all(&b.dir);
        }
        self.metrics.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn apply_retention(&self) -> Result<()> {
        let newest = self.max_time();
        let mut doomed: Vec<Arc<Block>> = Vec::new();
        {
            let blocks = self.blocks.read();
            if newest != i64::MIN {
                doomed.extend(
                    blocks
                        .iter()
                        .filter(|b| b.meta.max_time <= newest - self.opts.retention_ms)
                        .cloned(),
                );
            }
            if self.opts.retention_bytes > 0 {
                let mut total: u64 =
                    blocks.iter().map(|b| b.size_bytes).sum::<u64>() + self.wal_size_bytes();
                for b in blocks.iter() {
                    if total <= self.opts.retention_bytes {
                        break;
                    }
                    total = total.saturating_sub(b.size_bytes);
                    if !doomed.iter().any(|d| d.meta.ulid == b.meta.ulid) {
                        doomed.push(b.clone());
                    }
                }
            }
        }
        if doomed.is_empty() {
            return Ok(());
        }
        self.blocks
            .write()
            .retain(|b| !doomed.iter().any(|d| d.meta.ulid == b.meta.ulid));
        for b in &doomed {
            tracing::info!(ulid = %b.meta.ulid, maxt = b.meta.max_time, "block deleted by retention");
            fs::remove_dir_all(&b.dir)?;
        }
        self.metrics
            .retention_deletions
            .fetch_add(doomed.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn carry_exemplars(group: &[Arc<Block>], nb: &Block) -> Result<()> {
    let mut any = false;
    let mut by_labels: std::collections::HashMap<Labels, Vec<sightline_model::Exemplar>> =
        Default::default();
    for b in group {
        for (idx, ex) in b.exemplars()? {
            any |= !ex.is_empty();
            by_labels.entry(b.labels_of(idx)).or_default().extend(ex);
        }
    }
    if !any {
        return Ok(());
    }
    let mut buf = Vec::new();
    for idx in 0..nb.num_series() as u32 {
        if let Some(ex) = by_labels.get(&nb.labels_of(idx)) {
            for e in ex {
                crate::block::encode_exemplar(&mut buf, idx, e);
            }
        }
    }
    crate::block::write_exemplars(&nb.dir, &buf)
}

/// One series of a block: labels, samples, start timestamps (if any).
type SeriesWithSt = (Labels, Vec<Sample>, Option<Vec<i64>>);
type BoxedSeriesIter<'a> = Box<dyn Iterator<Item = Result<SeriesWithSt>> + 'a>;

/// K-way merge of label-sorted series streams; equal label sets are merged
/// sample-wise (first stream wins on equal timestamps).
struct MergeIter<'a> {
    iters: Vec<BoxedSeriesIter<'a>>,
    heads: Vec<Option<SeriesWithSt>>,
    error: Option<StorageError>,
}

impl<'a> MergeIter<'a> {
    fn new(mut iters: Vec<BoxedSeriesIter<'a>>) -> Self {
        let mut error = None;
        let heads = iters
            .iter_mut()
            .map(|it| match it.next() {
                Some(Ok(x)) => Some(x),
                Some(Err(e)) => {
                    error.get_or_insert(e);
                    None
                }
                None => None,
            })
            .collect();
        MergeIter {
            iters,
            heads,
            error,
        }
    }

    fn next_series(&mut self) -> Option<SeriesWithSt> {
        if self.error.is_some() {
            return None;
        }
        let min = self
            .heads
            .iter()
            .flatten()
            .map(|(l, _, _)| l)
            .min()?
            .clone();
        let mut samples: Vec<Sample> = Vec::new();
        let mut st: Option<Vec<i64>> = None;
        let mut parts = 0;
        for i in 0..self.heads.len() {
            if self.heads[i].as_ref().is_some_and(|(l, _, _)| *l == min) {
                let (_, s, s_st) = self.heads[i].take().expect("checked above");
                crate::querier::append_st(&mut st, samples.len(), s.len(), s_st);
                samples.extend(s);
                parts += 1;
                self.heads[i] = match self.iters[i].next() {
                    Some(Ok(x)) => Some(x),
                    Some(Err(e)) => {
                        self.error = Some(e);
                        return None;
                    }
                    None => None,
                };
            }
        }
        if parts > 1 {
            match st.take() {
                None => {
                    samples.sort_by_key(|s| s.t);
                    samples.dedup_by_key(|s| s.t);
                }
                Some(sts) => {
                    let (a, b) = crate::querier::sort_dedup_st(samples, sts);
                    samples = a;
                    st = Some(b);
                }
            }
        }
        Some((min, samples, st))
    }
}

fn load_blocks(dir: &Path, report: &mut OpenReport) -> Result<Vec<Arc<Block>>> {
    let mut blocks = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if !path.is_dir() {
            continue;
        }
        if name.ends_with(".tmp") {
            // A block write interrupted by a crash: never complete, never referenced.
            let _ = fs::remove_dir_all(&path);
            continue;
        }
        if !path.join("meta.json").exists() {
            continue;
        }
        match Block::open(&path) {
            Ok(b) => blocks.push(Arc::new(b)),
            Err(err) => {
                tracing::error!(block = %path.display(), error = %err, "block cannot be opened; leaving it out");
                report.corrupt_blocks.push((path, err.to_string()));
            }
        }
    }
    // A compaction that crashed after writing its output but before deleting
    // its inputs leaves parents behind: drop them.
    let parents: std::collections::HashSet<String> = blocks
        .iter()
        .flat_map(|b| b.meta.compaction.parents.clone())
        .collect();
    let (dead, live): (Vec<_>, Vec<_>) = blocks
        .into_iter()
        .partition(|b| parents.contains(&b.meta.ulid));
    for b in dead {
        let _ = fs::remove_dir_all(&b.dir);
    }
    let mut live = live;
    live.sort_by_key(|b| b.meta.min_time);
    Ok(live)
}

fn apply_record(
    head: &Head,
    payload: &[u8],
    min_valid: i64,
    ooo_window: i64,
    seg: u32,
    seg_max: &mut std::collections::BTreeMap<u32, i64>,
    samples_n: &mut u64,
) {
    let Some(rec) = record::decode(payload) else {
        tracing::warn!(segment = seg, "undecodable WAL record skipped");
        return;
    };
    match rec {
        Record::Series(list) => {
            for (r, labels) in list {
                let s = head.create_with_ref(r, &labels);
                s.logged.store(true, Ordering::Relaxed);
            }
        }
        Record::Samples(list) => apply_samples(
            head, &list, None, min_valid, ooo_window, seg, seg_max, samples_n,
        ),
        Record::SamplesSt(list, sts) => apply_samples(
            head,
            &list,
            Some(&sts),
            min_valid,
            ooo_window,
            seg,
            seg_max,
            samples_n,
        ),
        Record::Exemplars(list) => {
            for (r, e) in list {
                if let Some(s) = head.get_by_ref(r) {
                    let _ = s.add_exemplar(&mut s.state.lock(), e);
                }
            }
        }
        Record::Metadata(list) => {
            let mut md = head.metadata.write();
            for (k, v) in list {
                md.insert(k, v);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn apply_samples(
    head: &Head,
    list: &[record::RefSample],
    sts: Option<&[i64]>,
    min_valid: i64,
    ooo_window: i64,
    seg: u32,
    seg_max: &mut std::collections::BTreeMap<u32, i64>,
    samples_n: &mut u64,
) {
    let mut max = i64::MIN;
    let mut i = 0;
    while i < list.len() {
        let r = list[i].r;
        let mut j = i;
        while j < list.len() && list[j].r == r {
            j += 1;
        }
        if let Some(s) = head.get_by_ref(r) {
            let mut st = s.state.lock();
            for (k, x) in list[i..j].iter().enumerate() {
                max = max.max(x.t);
                if x.t < min_valid {
                    continue;
                }
                let start = sts.and_then(|v| v.get(i + k)).copied().unwrap_or(0);
                if s.append_locked_st(&mut st, x.t, x.v, start, ooo_window)
                    .is_ok()
                {
                    head.note_time(x.t);
                    *samples_n += 1;
                }
            }
        }
        i = j;
    }
    if seg != u32::MAX {
        let e = seg_max.entry(seg).or_insert(i64::MIN);
        *e = (*e).max(max);
    }
}
