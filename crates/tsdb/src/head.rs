//! The in-memory head: every series that received data since the last block
//! was cut, its samples in XOR chunks, and a postings index over its labels.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use sightline_model::{Exemplar, Labels, Matcher, MetricMetadata, Sample};

use crate::chunk::{XorAppender, XorIter};
use crate::interned::{Interner, SeriesLabels, Sym};
use crate::postings::{self, PostingsSource, insert_sorted};
use crate::storage::{RejectReason, SeriesRef};

const SHARDS: usize = 64;
/// Samples per head chunk, as in Prometheus: small enough to keep the open chunk cheap.
pub const CHUNK_SAMPLES: u16 = 120;
/// Exemplars kept per series in the head (older ones are already in the WAL/blocks).
const MAX_EXEMPLARS_PER_SERIES: usize = 32;

#[derive(Clone, Debug)]
pub struct HeadChunk {
    pub mint: i64,
    pub maxt: i64,
    pub bytes: Arc<[u8]>,
}

#[derive(Default)]
pub struct SeriesState {
    pub closed: Vec<HeadChunk>,
    pub open: Option<(i64, XorAppender)>,
    pub ooo: Vec<Sample>,
    /// Start timestamps of `ooo` (same order), once one of them has one.
    /// Boxed: 8 bytes per series instead of an empty `Vec`'s 24.
    #[allow(clippy::box_collection)]
    pub ooo_st: Option<Box<Vec<i64>>>,
    pub exemplars: Vec<Exemplar>,
}

pub struct MemSeries {
    pub r: SeriesRef,
    pub labels: SeriesLabels,
    pub hash: u64,
    pub state: Mutex<SeriesState>,
    /// Newest in-order timestamp (i64::MIN when empty); read without the lock
    /// for early out-of-order rejection.
    pub max_t: AtomicI64,
    /// The series record is in the WAL.
    pub logged: AtomicBool,
    /// Removed from the head by garbage collection; appenders holding it must re-resolve.
    pub deleted: AtomicBool,
}

/// Outcome of appending one sample to a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    InOrder,
    OutOfOrder,
    /// Same timestamp and value as stored: a no-op, as in Prometheus.
    Duplicate,
}

impl MemSeries {
    /// Appends under the caller-held state lock.
    #[inline]
    pub fn append_locked(
        &self,
        st: &mut SeriesState,
        t: i64,
        v: f64,
        ooo_window: i64,
    ) -> Result<Appended, RejectReason> {
        self.append_locked_st(st, t, v, 0, ooo_window)
    }

    /// Like `append_locked`, with the sample's start timestamp (0 = none).
    pub fn append_locked_st(
        &self,
        st: &mut SeriesState,
        t: i64,
        v: f64,
        start: i64,
        ooo_window: i64,
    ) -> Result<Appended, RejectReason> {
        let max_t = self.max_t.load(Ordering::Relaxed);
        if t > max_t {
            let cut = match &st.open {
                Some((_, a)) => a.count() >= CHUNK_SAMPLES,
                None => true,
            };
            if cut {
                if let Some((mint, a)) = st.open.take()
                    && a.count() > 0
                {
                    st.closed.push(HeadChunk {
                        mint,
                        maxt: a.last_t(),
                        bytes: a.into_bytes().into(),
                    });
                }
                st.open = Some((t, XorAppender::new()));
            }
            let a = &mut st.open.as_mut().expect("open chunk was just ensured").1;
            if start != 0 {
                a.append_st(t, v, start);
            } else {
                a.append(t, v);
            }
            self.max_t.store(t, Ordering::Relaxed);
            return Ok(Appended::InOrder);
        }
        if t == max_t {
            let last = st.open.as_ref().map(|(_, a)| a.last_v());
            return match last {
                Some(l) if l.to_bits() == v.to_bits() => Ok(Appended::Duplicate),
                _ => Err(RejectReason::DuplicateTimestamp),
            };
        }
        if ooo_window > 0 && t >= max_t.saturating_sub(ooo_window) {
            match st.ooo.binary_search_by(|s| s.t.cmp(&t)) {
                Ok(i) if st.ooo[i].v.to_bits() == v.to_bits() => return Ok(Appended::Duplicate),
                Ok(_) => return Err(RejectReason::DuplicateTimestamp),
                Err(i) => {
                    st.ooo.insert(i, Sample { t, v });
                    if start != 0 && st.ooo_st.is_none() {
                        st.ooo_st = Some(Box::new(vec![0; st.ooo.len() - 1]));
                    }
                    if let Some(sts) = &mut st.ooo_st {
                        sts.insert(i, start);
                    }
                }
            }
            return Ok(Appended::OutOfOrder);
        }
        Err(RejectReason::OutOfOrder)
    }

    pub fn add_exemplar(&self, st: &mut SeriesState, e: Exemplar) -> Result<bool, RejectReason> {
        if let Some(last) = st.exemplars.last() {
            if e.t < last.t {
                return Err(RejectReason::InvalidExemplar);
            }
            if e.t == last.t && e.labels == last.labels && e.v.to_bits() == last.v.to_bits() {
                return Ok(false);
            }
        }
        if st.exemplars.len() >= MAX_EXEMPLARS_PER_SERIES {
            st.exemplars.remove(0);
        }
        st.exemplars.push(e);
        Ok(true)
    }

    /// Samples in `[mint, maxt]`, in order, merging the out-of-order buffer.
    pub fn samples(&self, mint: i64, maxt: i64) -> Vec<Sample> {
        let (chunks, open, ooo) = {
            let st = self.state.lock();
            let chunks: Vec<Arc<[u8]>> = st
                .closed
                .iter()
                .filter(|c| c.maxt >= mint && c.mint <= maxt)
                .map(|c| c.bytes.clone())
                .collect();
            let open = st
                .open
                .as_ref()
                .filter(|(m, a)| *m <= maxt && a.last_t() >= mint)
                .map(|(_, a)| a.bytes().to_vec());
            let ooo: Vec<Sample> = st
                .ooo
                .iter()
                .filter(|s| s.t >= mint && s.t <= maxt)
                .copied()
                .collect();
            (chunks, open, ooo)
        };
        merge_chunks(&chunks, open.as_deref(), ooo, mint, maxt)
    }

    /// Samples in `[mint, maxt]` like [`Self::samples`], with their start
    /// timestamps (0 = none) when any of them has one.
    pub fn samples_st(&self, mint: i64, maxt: i64) -> (Vec<Sample>, Option<Vec<i64>>) {
        type Part = (Arc<[u8]>, Option<Vec<u8>>);
        type Snapshot = (Vec<Arc<[u8]>>, Option<Part>, Vec<Sample>, Vec<i64>);
        let (chunks, open, ooo, ooo_st): Snapshot = {
            let st = self.state.lock();
            let chunks: Vec<Arc<[u8]>> = st
                .closed
                .iter()
                .filter(|c| c.maxt >= mint && c.mint <= maxt)
                .map(|c| c.bytes.clone())
                .collect();
            let open = st
                .open
                .as_ref()
                .filter(|(m, a)| *m <= maxt && a.last_t() >= mint)
                .map(|(_, a)| (Arc::from(a.bytes()), a.st_bytes().map(|b| b.to_vec())));
            let mut ooo = Vec::new();
            let mut ooo_st = Vec::new();
            for (i, s) in st.ooo.iter().enumerate() {
                if s.t >= mint && s.t <= maxt {
                    ooo.push(*s);
                    if let Some(sts) = &st.ooo_st {
                        ooo_st.push(sts[i]);
                    }
                }
            }
            (chunks, open, ooo, ooo_st)
        };
        let any_st = open.as_ref().is_some_and(|o| o.1.is_some())
            || ooo_st.iter().any(|&x| x != 0)
            || chunks.iter().any(|c| crate::chunk::split_st(c).1.is_some());
        if !any_st {
            let open = open.as_ref().map(|(o, _)| &o[..]);
            return (merge_chunks(&chunks, open, ooo, mint, maxt), None);
        }
        let mut out = Vec::new();
        let mut sts = Vec::new();
        let mut part: Vec<Sample> = Vec::new();
        let mut part_st: Vec<i64> = Vec::new();
        let mut add = |xor: &[u8], stream: Option<&[u8]>| {
            part.clear();
            part.extend(XorIter::new(xor));
            part_st.clear();
            let ok = stream.is_some_and(|b| {
                crate::chunk::st::decode(b, part.iter().map(|s| s.t), &mut part_st).is_some()
            });
            if !ok {
                part_st.clear();
                part_st.resize(part.len(), 0);
            }
            for (s, &x) in part.iter().zip(part_st.iter()) {
                if s.t >= mint && s.t <= maxt {
                    out.push(*s);
                    sts.push(x);
                }
            }
        };
        for c in &chunks {
            add(c, crate::chunk::split_st(c).1);
        }
        if let Some((o, ost)) = &open {
            add(o, ost.as_deref());
        }
        if !ooo.is_empty() {
            let mut all: Vec<(Sample, i64)> = out.into_iter().zip(sts).collect();
            let n = ooo.len();
            all.extend(
                ooo.into_iter()
                    .zip(ooo_st.into_iter().chain(std::iter::repeat(0)).take(n)),
            );
            all.sort_by_key(|(s, _)| s.t);
            all.dedup_by_key(|(s, _)| s.t);
            let (samples, sts): (Vec<Sample>, Vec<i64>) = all.into_iter().unzip();
            return (samples, Some(sts));
        }
        (out, Some(sts))
    }

    /// Drops data older than `t`; returns true when nothing is left.
    pub fn truncate(&self, t: i64) -> bool {
        let mut st = self.state.lock();
        st.closed.retain(|c| c.maxt >= t);
        if st.open.as_ref().is_some_and(|(_, a)| a.last_t() < t) {
            st.open = None;
        }
        if let Some(sts) = st.ooo_st.take() {
            let kept: Vec<i64> = st
                .ooo
                .iter()
                .zip(sts.iter())
                .filter(|(s, _)| s.t >= t)
                .map(|(_, x)| *x)
                .collect();
            if kept.iter().any(|&x| x != 0) {
                st.ooo_st = Some(Box::new(kept));
            }
        }
        st.ooo.retain(|s| s.t >= t);
        st.exemplars.retain(|e| e.t >= t);
        st.closed.is_empty() && st.open.is_none() && st.ooo.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        let st = self.state.lock();
        let mut n = std::mem::size_of::<MemSeries>();
        n += self.labels.heap_bytes();
        n += st.closed.iter().map(|c| c.bytes.len() + 40).sum::<usize>();
        n += st.open.as_ref().map_or(0, |(_, a)| a.heap_size());
        n += st.ooo_st.as_ref().map_or(0, |v| v.capacity() * 8 + 24);
        n
    }
}

#[derive(Default)]
struct HeadPostings {
    by_label: HashMap<Sym, HashMap<Sym, Vec<u64>>>,
    all: Vec<u64>,
}

impl PostingsSource for HeadPostings {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
        if let Some(vals) = self.by_label.get(name) {
            for v in vals.keys() {
                f(v);
            }
        }
    }
    fn postings(&self, name: &str, value: &str, out: &mut Vec<u64>) {
        if let Some(p) = self.by_label.get(name).and_then(|m| m.get(value)) {
            out.extend_from_slice(p);
        }
    }
    fn all(&self, out: &mut Vec<u64>) {
        out.extend_from_slice(&self.all);
    }
}

/// Series by label hash. Collisions are rare, so the common case holds one
/// series without a vector allocation.
enum Bucket {
    One(Arc<MemSeries>),
    Many(Vec<Arc<MemSeries>>),
}

impl Bucket {
    fn iter(&self) -> std::slice::Iter<'_, Arc<MemSeries>> {
        match self {
            Bucket::One(s) => std::slice::from_ref(s).iter(),
            Bucket::Many(v) => v.iter(),
        }
    }
}

type HashShard = HashMap<u64, Bucket>;
/// Series by ref.
type RefShard = HashMap<SeriesRef, Arc<MemSeries>>;

pub struct Head {
    by_hash: Box<[RwLock<HashShard>]>,
    by_ref: Box<[RwLock<RefShard>]>,
    postings: RwLock<HeadPostings>,
    interner: Interner,
    next_ref: AtomicU64,
    num_series: AtomicU64,
    pub min_t: AtomicI64,
    pub max_t: AtomicI64,
    /// Samples older than this are refused (they belong to a cut block).
    pub min_valid: AtomicI64,
    pub metadata: RwLock<HashMap<String, MetricMetadata>>,
}

impl Default for Head {
    fn default() -> Self {
        Self::new()
    }
}

impl Head {
    pub fn new() -> Head {
        Head {
            by_hash: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            by_ref: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            postings: RwLock::new(HeadPostings::default()),
            interner: Interner::default(),
            next_ref: AtomicU64::new(1),
            num_series: AtomicU64::new(0),
            min_t: AtomicI64::new(i64::MAX),
            max_t: AtomicI64::new(i64::MIN),
            min_valid: AtomicI64::new(i64::MIN),
            metadata: RwLock::new(HashMap::new()),
        }
    }

    pub fn num_series(&self) -> u64 {
        self.num_series.load(Ordering::Relaxed)
    }

    fn shard(h: u64) -> usize {
        (h >> 58) as usize % SHARDS
    }

    pub fn get_by_ref(&self, r: SeriesRef) -> Option<Arc<MemSeries>> {
        self.by_ref[(r % SHARDS as u64) as usize]
            .read()
            .get(&r)
            .cloned()
    }

    pub fn get_by_labels(&self, labels: &Labels, hash: u64) -> Option<Arc<MemSeries>> {
        let shard = self.by_hash[Self::shard(hash)].read();
        shard
            .get(&hash)?
            .iter()
            .find(|s| s.labels.eq_labels(labels))
            .cloned()
    }

    /// Finds a series by borrowed label pairs (see `Appender::append_pairs`).
    pub fn get_by_pairs(&self, pairs: &[(&str, &str)], hash: u64) -> Option<Arc<MemSeries>> {
        let shard = self.by_hash[Self::shard(hash)].read();
        shard
            .get(&hash)?
            .iter()
            .find(|s| s.labels.eq_pairs(pairs))
            .cloned()
    }

    /// Finds or creates the series; `true` when it was created by this call.
    pub fn get_or_create(&self, labels: &Labels) -> (Arc<MemSeries>, bool) {
        let hash = labels.stable_hash();
        if let Some(s) = self.get_by_labels(labels, hash) {
            return (s, false);
        }
        let r = self.next_ref.fetch_add(1, Ordering::Relaxed);
        self.insert(r, labels, hash)
    }

    /// Creates a series with a known ref (WAL replay). Idempotent per labels.
    pub fn create_with_ref(&self, r: SeriesRef, labels: &Labels) -> Arc<MemSeries> {
        let hash = labels.stable_hash();
        self.next_ref.fetch_max(r + 1, Ordering::Relaxed);
        let (s, _) = self.insert(r, labels, hash);
        s
    }

    fn insert(&self, r: SeriesRef, labels: &Labels, hash: u64) -> (Arc<MemSeries>, bool) {
        let mut shard = self.by_hash[Self::shard(hash)].write();
        if let Some(s) = shard
            .get(&hash)
            .and_then(|b| b.iter().find(|s| s.labels.eq_labels(labels)))
        {
            return (s.clone(), false);
        }
        let s = Arc::new(MemSeries {
            r,
            labels: SeriesLabels::new(labels, &self.interner),
            hash,
            state: Mutex::new(SeriesState::default()),
            max_t: AtomicI64::new(i64::MIN),
            logged: AtomicBool::new(false),
            deleted: AtomicBool::new(false),
        });
        match shard.remove(&hash) {
            None => shard.insert(hash, Bucket::One(s.clone())),
            Some(Bucket::One(o)) => shard.insert(hash, Bucket::Many(vec![o, s.clone()])),
            Some(Bucket::Many(mut v)) => {
                v.push(s.clone());
                shard.insert(hash, Bucket::Many(v))
            }
        };
        self.by_ref[(r % SHARDS as u64) as usize]
            .write()
            .insert(r, s.clone());
        {
            let mut p = self.postings.write();
            for (name, value) in s.labels.syms() {
                let vals = match p.by_label.get_mut(&**name) {
                    Some(v) => v,
                    None => p.by_label.entry(name.clone()).or_default(),
                };
                match vals.get_mut(&**value) {
                    Some(list) => insert_sorted(list, r),
                    None => {
                        vals.insert(value.clone(), vec![r]);
                    }
                }
            }
            insert_sorted(&mut p.all, r);
        }
        self.num_series.fetch_add(1, Ordering::Relaxed);
        (s, true)
    }

    pub fn note_time(&self, t: i64) {
        self.min_t.fetch_min(t, Ordering::Relaxed);
        self.max_t.fetch_max(t, Ordering::Relaxed);
    }

    /// The oldest timestamp an appender may write now: Prometheus refuses
    /// samples more than half a block range behind the newest one.
    pub fn appendable_min_valid(&self, block_range: i64) -> i64 {
        let max_t = self.max_t.load(Ordering::Relaxed);
        let lag = if max_t == i64::MIN {
            i64::MIN
        } else {
            max_t - block_range / 2
        };
        self.min_valid.load(Ordering::Relaxed).max(lag)
    }

    /// Sorted refs of series matching every matcher.
    pub fn select_refs(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        let p = self.postings.read();
        postings::select(&*p, matchers)
    }

    pub fn series_for_refs(&self, refs: &[SeriesRef]) -> Vec<Arc<MemSeries>> {
        refs.iter().filter_map(|&r| self.get_by_ref(r)).collect()
    }

    /// Every live series (for checkpoints and block cutting).
    pub fn all_series(&self) -> Vec<Arc<MemSeries>> {
        let mut all = Vec::with_capacity(self.num_series() as usize);
        for shard in self.by_ref.iter() {
            all.extend(shard.read().values().cloned());
        }
        all
    }

    pub fn label_values_for(&self, name: &str) -> Vec<String> {
        let p = self.postings.read();
        p.by_label
            .get(name)
            .map(|m| m.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default()
    }

    pub fn label_names(&self) -> Vec<String> {
        self.postings
            .read()
            .by_label
            .keys()
            .map(|k| k.to_string())
            .collect()
    }

    /// Drops data older than `t` and forgets series left empty. The caller
    /// holds the commit gate exclusively, so no append is in flight.
    pub fn truncate(&self, t: i64) -> usize {
        self.min_valid.fetch_max(t, Ordering::Relaxed);
        let mut removed = Vec::new();
        let mut new_min = i64::MAX;
        for s in self.all_series() {
            if s.truncate(t) {
                removed.push(s);
            } else {
                let st = s.state.lock();
                let first = st
                    .closed
                    .first()
                    .map(|c| c.mint)
                    .or(st.open.as_ref().map(|(m, _)| *m))
                    .unwrap_or(i64::MAX);
                let first_ooo = st.ooo.first().map_or(i64::MAX, |s| s.t);
                new_min = new_min.min(first.min(first_ooo).max(t));
            }
        }
        self.min_t.store(new_min, Ordering::Relaxed);
        if removed.is_empty() {
            return 0;
        }
        let gone: std::collections::HashSet<u64> = removed.iter().map(|s| s.r).collect();
        for s in &removed {
            s.deleted.store(true, Ordering::Relaxed);
            let mut shard = self.by_hash[Self::shard(s.hash)].write();
            match shard.remove(&s.hash) {
                Some(Bucket::One(o)) if o.r != s.r => {
                    shard.insert(s.hash, Bucket::One(o));
                }
                Some(Bucket::Many(mut v)) => {
                    v.retain(|x| x.r != s.r);
                    if !v.is_empty() {
                        shard.insert(s.hash, Bucket::Many(v));
                    }
                }
                _ => {}
            }
            self.by_ref[(s.r % SHARDS as u64) as usize]
                .write()
                .remove(&s.r);
        }
        let mut p = self.postings.write();
        p.all.retain(|r| !gone.contains(r));
        p.by_label.retain(|_, vals| {
            vals.retain(|_, list| {
                list.retain(|r| !gone.contains(r));
                !list.is_empty()
            });
            !vals.is_empty()
        });
        self.num_series
            .fetch_sub(removed.len() as u64, Ordering::Relaxed);
        removed.len()
    }
}

/// The samples of closed chunks, the open chunk and the out-of-order buffer
/// that fall in `[mint, maxt]`, in time order (an in-order sample wins a tie).
fn merge_chunks(
    chunks: &[Arc<[u8]>],
    open: Option<&[u8]>,
    ooo: Vec<Sample>,
    mint: i64,
    maxt: i64,
) -> Vec<Sample> {
    let mut out = Vec::new();
    for c in chunks.iter().map(|c| &c[..]).chain(open) {
        out.extend(XorIter::new(c).filter(|s| s.t >= mint && s.t <= maxt));
    }
    if !ooo.is_empty() {
        out.extend(ooo);
        out.sort_by_key(|s| s.t);
        out.dedup_by_key(|s| s.t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_order_rules() {
        let h = Head::new();
        let (s, created) = h.get_or_create(&Labels::from_pairs([("__name__", "x")]));
        assert!(created);
        let mut st = s.state.lock();
        assert_eq!(s.append_locked(&mut st, 10, 1.0, 0), Ok(Appended::InOrder));
        assert_eq!(
            s.append_locked(&mut st, 10, 1.0, 0),
            Ok(Appended::Duplicate)
        );
        assert_eq!(
            s.append_locked(&mut st, 10, 2.0, 0),
            Err(RejectReason::DuplicateTimestamp)
        );
        assert_eq!(
            s.append_locked(&mut st, 5, 2.0, 0),
            Err(RejectReason::OutOfOrder)
        );
        assert_eq!(
            s.append_locked(&mut st, 5, 2.0, 10),
            Ok(Appended::OutOfOrder)
        );
        assert_eq!(
            s.append_locked(&mut st, -1, 2.0, 10),
            Err(RejectReason::OutOfOrder)
        );
        drop(st);
        let got: Vec<i64> = s.samples(i64::MIN, i64::MAX).iter().map(|s| s.t).collect();
        assert_eq!(got, vec![5, 10]);
    }

    #[test]
    fn start_timestamps_in_chunks_and_out_of_order() {
        let h = Head::new();
        let (s, _) = h.get_or_create(&Labels::from_pairs([("__name__", "x")]));
        {
            let mut st = s.state.lock();
            for i in 1..300 {
                let start = if i >= 100 { 5 } else { 0 };
                s.append_locked_st(&mut st, i * 10, i as f64, start, 50)
                    .unwrap();
            }
            s.append_locked_st(&mut st, 2985, 1.0, 7, 50).unwrap();
            s.append_locked(&mut st, 2975, 1.0, 50).unwrap();
        }
        let (plain, zeros) = s.samples_st(0, 900);
        assert_eq!(plain.len(), 90);
        assert!(zeros.unwrap().iter().all(|&x| x == 0));
        let (got, sts) = s.samples_st(0, i64::MAX);
        let sts = sts.unwrap();
        assert_eq!(got.len(), 301);
        for (x, y) in got.iter().zip(&sts) {
            let want = match x.t {
                2985 => 7,
                2975 => 0,
                t if t >= 1000 => 5,
                _ => 0,
            };
            assert_eq!(*y, want, "t {}", x.t);
        }
        assert_eq!(s.samples(0, i64::MAX), got);
        assert!(!s.truncate(2980));
        // Chunks are dropped whole; the out-of-order buffer per sample.
        let (got, sts) = s.samples_st(2970, i64::MAX);
        assert_eq!(
            got.iter().map(|x| x.t).collect::<Vec<_>>(),
            [2970, 2980, 2985, 2990]
        );
        assert_eq!(sts.unwrap(), [5, 5, 7, 5]);
    }

    #[test]
    fn chunks_are_cut_and_truncated() {
        let h = Head::new();
        let (s, _) = h.get_or_create(&Labels::from_pairs([("__name__", "x")]));
        {
            let mut st = s.state.lock();
            for i in 0..500 {
                s.append_locked(&mut st, i * 10, i as f64, 0).unwrap();
            }
            assert_eq!(st.closed.len(), 4);
        }
        assert_eq!(s.samples(100, 209).len(), 11);
        assert!(!s.truncate(2400));
        assert_eq!(s.samples(i64::MIN, i64::MAX).first().unwrap().t, 2400);
        assert!(s.truncate(10_000));
    }

    #[test]
    fn garbage_collection_updates_postings() {
        let h = Head::new();
        let a = Labels::from_pairs([("__name__", "m"), ("k", "a")]);
        let b = Labels::from_pairs([("__name__", "m"), ("k", "b")]);
        let (sa, _) = h.get_or_create(&a);
        let (sb, _) = h.get_or_create(&b);
        sa.append_locked(&mut sa.state.lock(), 100, 1.0, 0).unwrap();
        sb.append_locked(&mut sb.state.lock(), 10, 1.0, 0).unwrap();
        assert_eq!(h.truncate(50), 1);
        assert!(sb.deleted.load(Ordering::Relaxed));
        let m = Matcher::equal("__name__", "m");
        assert_eq!(h.select_refs(&[m]), vec![sa.r]);
        assert_eq!(h.label_values_for("k"), vec!["a".to_string()]);
        assert_eq!(h.num_series(), 1);
    }
}
