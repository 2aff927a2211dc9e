//! The head appender: buffers a transaction, then on commit writes it to the
//! WAL and applies it to the in-memory series.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sightline_model::{Exemplar, Labels, MetricMetadata};

use crate::db::Db;
use crate::head::{Appended, MemSeries};
use crate::record::{self, RefSample};
use crate::storage::{
    Appendable, Appender, CommitStats, RejectReason, Result, SeriesHandle, SeriesRef,
};
use crate::wal::frame_with;

pub struct DbAppender<'a> {
    db: &'a Db,
    min_valid: i64,
    samples: Vec<(Arc<MemSeries>, i64, f64)>,
    /// Start timestamps of the few samples that have one: (index in
    /// `samples`, ST), in index order. Empty for plain samples.
    sts: Vec<(usize, i64)>,
    exemplars: Vec<(Arc<MemSeries>, Exemplar)>,
    metadata: Vec<(String, MetricMetadata)>,
    rejected: [u64; 5],
}

fn reason_index(r: RejectReason) -> usize {
    match r {
        RejectReason::OutOfOrder => 0,
        RejectReason::OutOfBounds => 1,
        RejectReason::DuplicateTimestamp => 2,
        RejectReason::InvalidLabels => 3,
        RejectReason::InvalidExemplar => 4,
    }
}

const REASONS: [RejectReason; 5] = [
    RejectReason::OutOfOrder,
    RejectReason::OutOfBounds,
    RejectReason::DuplicateTimestamp,
    RejectReason::InvalidLabels,
    RejectReason::InvalidExemplar,
];

/// Label sets the TSDB accepts: non-empty, a metric name, valid names, no duplicates.
fn valid_labels(l: &Labels) -> bool {
    if l.metric_name().is_none_or(str::is_empty) {
        return false;
    }
    let mut prev: Option<&str> = None;
    for x in l {
        if x.name.is_empty() || prev == Some(x.name.as_str()) {
            return false;
        }
        prev = Some(&x.name);
    }
    true
}

impl<'a> DbAppender<'a> {
    pub(crate) fn new(db: &'a Db) -> Self {
        DbAppender {
            db,
            min_valid: db.head.appendable_min_valid(db.opts.block_range_ms),
            samples: Vec::new(),
            sts: Vec::new(),
            exemplars: Vec::new(),
            metadata: Vec::new(),
            rejected: [0; 5],
        }
    }

    fn reject(&mut self, r: RejectReason) -> RejectReason {
        self.rejected[reason_index(r)] += 1;
        r
    }

    fn push(
        &mut self,
        s: Arc<MemSeries>,
        t: i64,
        v: f64,
    ) -> std::result::Result<SeriesRef, RejectReason> {
        if t < self.min_valid {
            return Err(self.reject(RejectReason::OutOfBounds));
        }
        // Early refusal without the series lock; the commit re-checks under the lock.
        let max_t = s.max_t.load(Ordering::Relaxed);
        if t < max_t && t < max_t.saturating_sub(self.db.opts.out_of_order_window_ms) {
            return Err(self.reject(RejectReason::OutOfOrder));
        }
        let r = s.r;
        self.samples.push((s, t, v));
        Ok(r)
    }

    fn push_st(
        &mut self,
        s: Arc<MemSeries>,
        t: i64,
        st: i64,
        v: f64,
    ) -> std::result::Result<SeriesRef, RejectReason> {
        let r = self.push(s, t, v)?;
        if st != 0 {
            self.sts.push((self.samples.len() - 1, st));
        }
        Ok(r)
    }
}

impl Appender for DbAppender<'_> {
    fn append(
        &mut self,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> std::result::Result<SeriesRef, RejectReason> {
        if !valid_labels(labels) {
            return Err(self.reject(RejectReason::InvalidLabels));
        }
        let (s, created) = self.db.head.get_or_create(labels);
        if created {
            self.db
                .metrics
                .series_created
                .fetch_add(1, Ordering::Relaxed);
        }
        self.push(s, t, v)
    }

    fn append_ref(
        &mut self,
        r: SeriesRef,
        t: i64,
        v: f64,
    ) -> Option<std::result::Result<(), RejectReason>> {
        let s = self.db.head.get_by_ref(r)?;
        Some(self.push(s, t, v).map(|_| ()))
    }

    fn append_handle(
        &mut self,
        r: SeriesRef,
        handle: &mut Option<SeriesHandle>,
        t: i64,
        v: f64,
    ) -> Option<std::result::Result<(), RejectReason>> {
        // A live series kept from an earlier call skips the lookup by ref; one the
        // head has collected since is looked up again (and is then unknown).
        if let Some(h) = handle.as_ref()
            && let Ok(s) = h.clone().downcast::<MemSeries>()
            && s.r == r
            && !s.deleted.load(Ordering::Relaxed)
        {
            return Some(self.push(s, t, v).map(|_| ()));
        }
        *handle = None;
        let s = self.db.head.get_by_ref(r)?;
        *handle = Some(s.clone());
        Some(self.push(s, t, v).map(|_| ()))
    }

    fn append_st(
        &mut self,
        labels: &Labels,
        t: i64,
        st: i64,
        v: f64,
    ) -> std::result::Result<SeriesRef, RejectReason> {
        if !valid_labels(labels) {
            return Err(self.reject(RejectReason::InvalidLabels));
        }
        let (s, created) = self.db.head.get_or_create(labels);
        if created {
            self.db
                .metrics
                .series_created
                .fetch_add(1, Ordering::Relaxed);
        }
        self.push_st(s, t, st, v)
    }

    fn append_ref_st(
        &mut self,
        r: SeriesRef,
        t: i64,
        st: i64,
        v: f64,
    ) -> Option<std::result::Result<(), RejectReason>> {
        let s = self.db.head.get_by_ref(r)?;
        Some(self.push_st(s, t, st, v).map(|_| ()))
    }

    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        e: &Exemplar,
    ) -> std::result::Result<(), RejectReason> {
        let Some(s) = self.db.head.get_by_ref(r) else {
            return Err(self.reject(RejectReason::InvalidExemplar));
        };
        let size: usize = e
            .labels
            .iter()
            .map(|l| l.name.chars().count() + l.value.chars().count())
            .sum();
        // OpenMetrics caps exemplar label sets at 128 UTF-8 characters.
        if size > 128 || !e.v.is_finite() && !e.v.is_nan() {
            return Err(self.reject(RejectReason::InvalidExemplar));
        }
        self.exemplars.push((s, e.clone()));
        Ok(())
    }

    fn update_metadata(&mut self, metric_family: &str, md: &MetricMetadata) {
        let known = self.db.head.metadata.read().get(metric_family) == Some(md);
        if !known {
            self.metadata.push((metric_family.to_string(), md.clone()));
        }
    }

    fn commit(mut self: Box<Self>) -> Result<CommitStats> {
        let db = self.db;
        let _gate = db.gate.read();
        // Series collected by the head since `append` resolved them are re-created.
        for (s, _, _) in self.samples.iter_mut() {
            if s.deleted.load(Ordering::Relaxed) {
                *s = db.head.get_or_create(&s.labels.to_labels()).0;
            }
        }
        for (s, _) in self.exemplars.iter_mut() {
            if s.deleted.load(Ordering::Relaxed) {
                *s = db.head.get_or_create(&s.labels.to_labels()).0;
            }
        }
        let mut body = Vec::new();
        let mut max_t = None;
        if !self.samples.is_empty() {
            let refs: Vec<RefSample> = self
                .samples
                .iter()
                .map(|(s, t, v)| RefSample {
                    r: s.r,
                    t: *t,
                    v: *v,
                })
                .collect();
            max_t = refs.iter().map(|s| s.t).max();
            if self.sts.is_empty() {
                frame_with(&mut body, |b| record::encode_samples(b, &refs));
            } else {
                let mut sts = vec![0; refs.len()];
                for &(i, st) in &self.sts {
                    sts[i] = st;
                }
                frame_with(&mut body, |b| record::encode_samples_st(b, &refs, &sts));
            }
        }
        if !self.exemplars.is_empty() {
            let ex: Vec<_> = self
                .exemplars
                .iter()
                .map(|(s, e)| (s.r, e.clone()))
                .collect();
            frame_with(&mut body, |b| record::encode_exemplars(b, &ex));
        }
        if !self.metadata.is_empty() {
            frame_with(&mut body, |b| record::encode_metadata(b, &self.metadata));
        }
        {
            let mut wal = db.wal.lock();
            // Whoever writes a series' first WAL record writes its series record first,
            // under the WAL lock, so replay always meets the series before its samples.
            let mut new_series: Vec<&Arc<MemSeries>> = Vec::new();
            let mut last: SeriesRef = u64::MAX;
            for (s, _, _) in &self.samples {
                if s.r != last && !s.logged.load(Ordering::Relaxed) {
                    s.logged.store(true, Ordering::Relaxed);
                    new_series.push(s);
                }
                last = s.r;
            }
            for (s, _) in &self.exemplars {
                if !s.logged.load(Ordering::Relaxed) {
                    s.logged.store(true, Ordering::Relaxed);
                    new_series.push(s);
                }
            }
            if !new_series.is_empty() {
                let mut head = Vec::new();
                frame_with(&mut head, |b| {
                    record::encode_series(b, new_series.iter().map(|s| (s.r, s.labels.pairs())))
                });
                head.extend_from_slice(&body);
                body = head;
            }
            if !body.is_empty() {
                wal.write(&body, max_t)?;
            }
        }
        let mut stats = CommitStats::default();
        let window = db.opts.out_of_order_window_ms;
        let mut i = 0;
        let mut k = 0; // next entry of `self.sts`
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        while i < self.samples.len() {
            let s = self.samples[i].0.clone();
            let mut st = s.state.lock();
            while i < self.samples.len() && Arc::ptr_eq(&self.samples[i].0, &s) {
                let (_, t, v) = self.samples[i];
                let start = match self.sts.get(k) {
                    Some(&(j, x)) if j == i => {
                        k += 1;
                        x
                    }
                    _ => 0,
                };
                match s.append_locked_st(&mut st, t, v, start, window) {
                    Ok(Appended::InOrder | Appended::OutOfOrder) => {
                        stats.samples += 1;
                        lo = lo.min(t);
                        hi = hi.max(t);
                    }
                    Ok(Appended::Duplicate) => {}
                    Err(r) => self.rejected[reason_index(r)] += 1,
                }
                i += 1;
            }
        }
        if lo <= hi {
            db.head.note_time(lo);
            db.head.note_time(hi);
        }
        for (s, e) in std::mem::take(&mut self.exemplars) {
            match s.add_exemplar(&mut s.state.lock(), e) {
                Ok(true) => stats.exemplars += 1,
                Ok(false) => {}
                Err(r) => self.rejected[reason_index(r)] += 1,
            }
        }
        if !self.metadata.is_empty() {
            let mut md = db.head.metadata.write();
            for (k, v) in self.metadata.drain(..) {
                md.insert(k, v);
            }
        }
        db.metrics
            .samples_appended
            .fetch_add(stats.samples, Ordering::Relaxed);
        db.metrics
            .exemplars_appended
            .fetch_add(stats.exemplars, Ordering::Relaxed);
        for (k, &n) in self.rejected.iter().enumerate() {
            if n > 0 {
                db.metrics.count_reject(REASONS[k], n);
                stats.rejected.push((REASONS[k], n));
            }
        }
        Ok(stats)
    }

    fn rollback(self: Box<Self>) {}
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(DbAppender::new(self))
    }
}
