//! Reads across the head and every block overlapping the queried range,
//! merged per series.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sightline_model::{Exemplar, Labels, Matcher, Sample};

use crate::block::Block;
use crate::db::Db;
use crate::storage::{Querier, Queryable, Result, SelectHints, SeriesData, SeriesStFn};

pub struct DbQuerier<'a> {
    db: &'a Db,
    mint: i64,
    maxt: i64,
    blocks: Vec<Arc<Block>>,
    use_head: bool,
}

impl Queryable for Db {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>> {
        let blocks = self
            .blocks
            .read()
            .iter()
            .filter(|b| b.meta.min_time <= maxt && b.meta.max_time > mint)
            .cloned()
            .collect();
        let head_max = self.head.max_t.load(Ordering::Relaxed);
        let use_head = head_max != i64::MIN && head_max >= mint;
        Ok(Box::new(DbQuerier {
            db: self,
            mint,
            maxt,
            blocks,
            use_head,
        }))
    }
}

/// Merges a later source's samples into an earlier one's (both sorted).
fn merge_samples(into: &mut Vec<Sample>, more: Vec<Sample>) {
    if more.is_empty() {
        return;
    }
    if into.last().is_none_or(|l| l.t < more[0].t) {
        into.extend(more);
        return;
    }
    into.extend(more);
    into.sort_by_key(|s| s.t);
    into.dedup_by_key(|s| s.t);
}

/// Appends `n` start timestamps to a series' ST column holding `len` so
/// far: a column is only created once some ST is set (earlier samples get 0).
pub(crate) fn append_st(st: &mut Option<Vec<i64>>, len: usize, n: usize, more: Option<Vec<i64>>) {
    match (st.as_mut(), more) {
        (None, None) => {}
        (Some(v), None) => v.resize(v.len() + n, 0),
        (None, Some(m)) => {
            let mut v = vec![0; len];
            v.extend(m);
            *st = Some(v);
        }
        (Some(v), Some(m)) => v.extend(m),
    }
}

/// Sorts samples with their start timestamps by time; the first of equal
/// timestamps wins (as `sort_by_key` + `dedup_by_key` without STs).
pub(crate) fn sort_dedup_st(samples: Vec<Sample>, sts: Vec<i64>) -> (Vec<Sample>, Vec<i64>) {
    let mut all: Vec<(Sample, i64)> = samples.into_iter().zip(sts).collect();
    all.sort_by_key(|(s, _)| s.t);
    all.dedup_by_key(|(s, _)| s.t);
    all.into_iter().unzip()
}

/// `merge_samples` carrying start timestamps along.
fn merge_samples_st(
    into: &mut Vec<Sample>,
    into_st: &mut Option<Vec<i64>>,
    more: Vec<Sample>,
    more_st: Option<Vec<i64>>,
) {
    if more.is_empty() {
        return;
    }
    if into_st.is_none() && more_st.is_none() {
        merge_samples(into, more);
        return;
    }
    let in_order = into.last().is_none_or(|l| l.t < more[0].t);
    append_st(into_st, into.len(), more.len(), more_st);
    into.extend(more);
    if !in_order {
        let sts = into_st.take().unwrap_or_default();
        let (a, b) = sort_dedup_st(std::mem::take(into), sts);
        *into = a;
        *into_st = Some(b);
    }
}

/// Where one series' samples live: a block (index in `blocks`, series id) or the head.
enum Source {
    Block(usize, u32),
    Head(Arc<crate::head::MemSeries>),
}

/// Merges label-sorted lists, gathering the sources of equal label sets
/// (in list order: blocks by time, then the head).
fn merge_sorted(lists: Vec<Vec<(Labels, Source)>>) -> Vec<(Labels, Vec<Source>)> {
    let total: usize = lists.iter().map(|l| l.len()).sum();
    let mut out: Vec<(Labels, Vec<Source>)> = Vec::with_capacity(total);
    let mut iters: Vec<std::vec::IntoIter<(Labels, Source)>> =
        lists.into_iter().map(|l| l.into_iter()).collect();
    let mut heads: Vec<Option<(Labels, Source)>> = iters.iter_mut().map(|it| it.next()).collect();
    loop {
        let mut min: Option<usize> = None;
        for (i, h) in heads.iter().enumerate() {
            if let Some((l, _)) = h {
                match min {
                    Some(m) if heads[m].as_ref().is_some_and(|(ml, _)| ml <= l) => {}
                    _ => min = Some(i),
                }
            }
        }
        let Some(i) = min else { break };
        let (labels, src) = heads[i].take().unwrap();
        heads[i] = iters[i].next();
        match out.last_mut() {
            Some((l, srcs)) if *l == labels => srcs.push(src),
            _ => out.push((labels, vec![src])),
        }
    }
    out
}

impl DbQuerier<'_> {
    /// Matching series with the places their samples live, sorted by labels,
    /// without decoding any sample. Each block lists its series in label
    /// order already; the head's are sorted; the lists are then merged (no
    /// tree of label sets). With `parallel`, each source is listed on its own
    /// thread.
    fn sources(&self, matchers: &[Matcher], parallel: bool) -> Vec<(Labels, Vec<Source>)> {
        let block_list = |bi: usize| -> Vec<(Labels, Source)> {
            let b = &self.blocks[bi];
            let mut v: Vec<(Labels, Source)> = b
                .select_ids(matchers)
                .into_iter()
                .map(|id| (b.labels_of(id as u32), Source::Block(bi, id as u32)))
                .collect();
            if !v.windows(2).all(|w| w[0].0 <= w[1].0) {
                v.sort_by(|a, c| a.0.cmp(&c.0));
            }
            v
        };
        let head_list = || -> Vec<(Labels, Source)> {
            if !self.use_head {
                return Vec::new();
            }
            let refs = self.db.head.select_refs(matchers);
            let mut v: Vec<(Labels, Source)> = self
                .db
                .head
                .series_for_refs(&refs)
                .into_iter()
                .map(|s| (s.labels.to_labels(), Source::Head(s)))
                .collect();
            v.sort_unstable_by(|a, c| a.0.cmp(&c.0));
            v
        };
        let lists: Vec<Vec<(Labels, Source)>> = if parallel && !self.blocks.is_empty() {
            std::thread::scope(|sc| {
                let blocks: Vec<_> = (0..self.blocks.len())
                    .map(|bi| sc.spawn(move || block_list(bi)))
                    .collect();
                let head = head_list();
                let mut lists: Vec<_> = blocks
                    .into_iter()
                    .map(|h| h.join().unwrap_or_default())
                    .collect();
                lists.push(head);
                lists
            })
        } else {
            let mut lists: Vec<_> = (0..self.blocks.len()).map(block_list).collect();
            lists.push(head_list());
            lists
        };
        merge_sorted(lists)
    }

    /// `select_each_par`, with start timestamps when `want_st`.
    fn par(
        &self,
        matchers: &[Matcher],
        threads: usize,
        want_st: bool,
        f: &SeriesStFn<'_>,
    ) -> Result<()> {
        let list: Vec<(Labels, Vec<Source>)> = self.sources(matchers, threads > 1);
        // Small selections are not worth a thread.
        let threads = threads.clamp(1, 16).min(list.len().div_ceil(256)).max(1);
        let run = |worker: usize, part: &[(Labels, Vec<Source>)]| -> Result<()> {
            let (mut buf, mut piece) = (Vec::new(), Vec::new());
            for (labels, sources) in part {
                buf.clear();
                let mut buf_st: Option<Vec<i64>> = None;
                for src in sources {
                    piece.clear();
                    if want_st {
                        let piece_st = match src {
                            Source::Block(bi, id) => {
                                let mut st = None;
                                self.blocks[*bi]
                                    .samples_st(*id, self.mint, self.maxt, &mut piece, &mut st)?;
                                st
                            }
                            Source::Head(ms) => {
                                let (s, st) = ms.samples_st(self.mint, self.maxt);
                                piece = s;
                                st
                            }
                        };
                        merge_samples_st(
                            &mut buf,
                            &mut buf_st,
                            std::mem::take(&mut piece),
                            piece_st,
                        );
                        continue;
                    }
                    match src {
                        Source::Block(bi, id) => {
                            self.blocks[*bi].samples(*id, self.mint, self.maxt, &mut piece)?
                        }
                        Source::Head(ms) => piece.extend(ms.samples(self.mint, self.maxt)),
                    }
                    merge_samples(&mut buf, std::mem::take(&mut piece));
                }
                if !self.db.tombstones.is_empty() {
                    self.db.tombstones.filter_st(labels, &mut buf, &mut buf_st);
                }
                if !buf.is_empty() {
                    f(worker, labels, &buf, buf_st.as_deref());
                }
            }
            Ok(())
        };
        if threads == 1 {
            return run(0, &list);
        }
        let chunk = list.len().div_ceil(threads);
        std::thread::scope(|sc| {
            let handles: Vec<_> = list
                .chunks(chunk)
                .enumerate()
                .map(|(w, part)| {
                    let run = &run;
                    sc.spawn(move || run(w, part))
                })
                .collect();
            let mut res = Ok(());
            for h in handles {
                let r = h.join().unwrap_or_else(|_| {
                    Err(crate::storage::StorageError::Invalid(
                        "select worker panicked".into(),
                    ))
                });
                if res.is_ok() {
                    res = r;
                }
            }
            res
        })
    }

    fn collect(
        &self,
        matchers: &[Matcher],
        with_samples: bool,
    ) -> Result<BTreeMap<Labels, Vec<Sample>>> {
        let mut out: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
        for b in &self.blocks {
            for id in b.select_ids(matchers) {
                let mut s = Vec::new();
                if with_samples {
                    b.samples(id as u32, self.mint, self.maxt, &mut s)?;
                    if s.is_empty() {
                        continue;
                    }
                }
                merge_samples(out.entry(b.labels_of(id as u32)).or_default(), s);
            }
        }
        if self.use_head {
            let refs = self.db.head.select_refs(matchers);
            for s in self.db.head.series_for_refs(&refs) {
                let samples = if with_samples {
                    s.samples(self.mint, self.maxt)
                } else {
                    Vec::new()
                };
                if with_samples && samples.is_empty() {
                    continue;
                }
                merge_samples(out.entry(s.labels.to_labels()).or_default(), samples);
            }
        }
        Ok(out)
    }
}

impl Querier for DbQuerier<'_> {
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<SeriesData>> {
        // With tombstones, a series whose samples are all deleted is not listed
        // either, so its samples are needed even for a series-only select.
        let tombstoned = !self.db.tombstones.is_empty();
        let map = self.collect(matchers, !hints.series_only || tombstoned)?;
        let filter = tombstoned;
        let mut out: Vec<SeriesData> = map
            .into_iter()
            .map(|(labels, mut samples)| {
                if filter {
                    self.db.tombstones.filter(&labels, &mut samples);
                }
                SeriesData { labels, samples }
            })
            .filter(|s| !filter || !s.samples.is_empty())
            .map(|mut s| {
                if hints.series_only {
                    s.samples = Vec::new();
                }
                s
            })
            .collect();
        if hints.limit > 0 {
            out.truncate(hints.limit);
        }
        Ok(out)
    }

    /// Streams series one at a time: only one series' samples are decoded
    /// and held at once (the PromQL engine relies on this for large selections).
    fn select_each(
        &self,
        matchers: &[Matcher],
        f: &mut dyn FnMut(&Labels, &mut dyn Iterator<Item = Sample>),
    ) -> Result<()> {
        let mut buf: Vec<Sample> = Vec::new();
        let mut part: Vec<Sample> = Vec::new();
        for (labels, sources) in self.sources(matchers, false) {
            buf.clear();
            for src in sources {
                part.clear();
                match src {
                    Source::Block(bi, id) => {
                        self.blocks[bi].samples(id, self.mint, self.maxt, &mut part)?
                    }
                    Source::Head(ms) => part.extend(ms.samples(self.mint, self.maxt)),
                }
                merge_samples(&mut buf, std::mem::take(&mut part));
            }
            if !self.db.tombstones.is_empty() {
                self.db.tombstones.filter(&labels, &mut buf);
            }
            if !buf.is_empty() {
                f(&labels, &mut buf.iter().copied());
            }
        }
        Ok(())
    }

    fn select_each_par(
        &self,
        matchers: &[Matcher],
        threads: usize,
        f: &(dyn Fn(usize, &Labels, &[Sample]) + Sync),
    ) -> Result<()> {
        self.par(matchers, threads, false, &|w, l, s, _| f(w, l, s))
    }

    fn select_each_par_st(
        &self,
        matchers: &[Matcher],
        threads: usize,
        f: &SeriesStFn<'_>,
    ) -> Result<()> {
        self.par(matchers, threads, true, f)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut names = BTreeSet::new();
        if matchers.is_empty() {
            for b in &self.blocks {
                names.extend(b.label_names());
            }
            if self.use_head {
                names.extend(self.db.head.label_names());
            }
        } else {
            for l in self.collect(matchers, false)?.keys() {
                names.extend(l.iter().map(|x| x.name.clone()));
            }
        }
        Ok(names.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut vals = BTreeSet::new();
        if matchers.is_empty() {
            for b in &self.blocks {
                vals.extend(b.label_values(name));
            }
            if self.use_head {
                vals.extend(self.db.head.label_values_for(name));
            }
        } else {
            for l in self.collect(matchers, false)?.keys() {
                if let Some(v) = l.get(name) {
                    vals.insert(v.to_string());
                }
            }
        }
        Ok(vals.into_iter().collect())
    }

    fn exemplars(&self, matchers: &[Matcher]) -> Result<Vec<(Labels, Vec<Exemplar>)>> {
        let mut out: BTreeMap<Labels, Vec<Exemplar>> = BTreeMap::new();
        let in_range = |e: &Exemplar| e.t >= self.mint && e.t <= self.maxt;
        for b in &self.blocks {
            let ids = b.select_ids(matchers);
            if ids.is_empty() {
                continue;
            }
            let all = b.exemplars()?;
            for id in ids {
                if let Some(ex) = all.get(&(id as u32)) {
                    out.entry(b.labels_of(id as u32))
                        .or_default()
                        .extend(ex.iter().filter(|e| in_range(e)).cloned());
                }
            }
        }
        for s in self
            .db
            .head
            .series_for_refs(&self.db.head.select_refs(matchers))
        {
            let st = s.state.lock();
            let ex: Vec<Exemplar> = st
                .exemplars
                .iter()
                .filter(|e| in_range(e))
                .cloned()
                .collect();
            if !ex.is_empty() {
                out.entry(s.labels.to_labels()).or_default().extend(ex);
            }
        }
        Ok(out
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(l, mut v)| {
                v.sort_by_key(|e| e.t);
                v.dedup_by(|a, b| a.t == b.t && a.labels == b.labels);
                (l, v)
            })
            .collect())
    }
}
