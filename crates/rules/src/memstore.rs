//! A small in-memory storage for `test rules`: promtool loads whole input
//! series (often starting at Unix time 0 and spanning days) before
//! evaluating, which a head-block TSDB would refuse as out of bounds.

use std::collections::BTreeMap;

use parking_lot::RwLock;
use sightline_model::{Exemplar, Labels, Matcher, MetricMetadata, Sample};
use sightline_tsdb::{
    Appendable, Appender, CommitStats, Querier, Queryable, RejectReason, Result, SelectHints,
    SeriesData, SeriesRef,
};

#[derive(Default)]
pub struct MemStore {
    series: RwLock<BTreeMap<Labels, Vec<Sample>>>,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// Inserts one sample, keeping each series sorted (replaces same-time samples).
    pub fn insert(&self, l: &Labels, t: i64, v: f64) {
        let mut m = self.series.write();
        let s = m.entry(l.clone()).or_default();
        match s.binary_search_by_key(&t, |x| x.t) {
            Ok(i) => s[i].v = v,
            Err(i) => s.insert(i, Sample { t, v }),
        }
    }
}

struct MemAppender<'a> {
    store: &'a MemStore,
    pending: Vec<(Labels, i64, f64)>,
}

impl Appender for MemAppender<'_> {
    fn append(
        &mut self,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> std::result::Result<SeriesRef, RejectReason> {
        self.pending.push((labels.clone(), t, v));
        Ok(0)
    }

    fn append_ref(
        &mut self,
        _r: SeriesRef,
        _t: i64,
        _v: f64,
    ) -> Option<std::result::Result<(), RejectReason>> {
        None
    }

    fn append_exemplar(
        &mut self,
        _r: SeriesRef,
        _e: &Exemplar,
    ) -> std::result::Result<(), RejectReason> {
        Ok(())
    }

    fn update_metadata(&mut self, _f: &str, _md: &MetricMetadata) {}

    fn commit(self: Box<Self>) -> Result<CommitStats> {
        let n = self.pending.len() as u64;
        for (l, t, v) in &self.pending {
            self.store.insert(l, *t, *v);
        }
        Ok(CommitStats {
            samples: n,
            ..CommitStats::default()
        })
    }

    fn rollback(self: Box<Self>) {}
}

impl Appendable for MemStore {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemAppender {
            store: self,
            pending: Vec::new(),
        })
    }
}

struct MemQuerier<'a> {
    store: &'a MemStore,
    mint: i64,
    maxt: i64,
}

impl MemQuerier<'_> {
    fn each(&self, matchers: &[Matcher], mut f: impl FnMut(&Labels, &[Sample])) {
        let m = self.store.series.read();
        for (l, s) in m.iter() {
            if !matchers.iter().all(|x| x.matches_labels(l)) {
                continue;
            }
            let lo = s.partition_point(|x| x.t < self.mint);
            let hi = s.partition_point(|x| x.t <= self.maxt);
            if lo < hi {
                f(l, &s[lo..hi]);
            }
        }
    }
}

impl Querier for MemQuerier<'_> {
    fn select(&self, matchers: &[Matcher], _hints: &SelectHints) -> Result<Vec<SeriesData>> {
        let mut out = Vec::new();
        self.each(matchers, |l, s| {
            out.push(SeriesData {
                labels: l.clone(),
                samples: s.to_vec(),
            })
        });
        Ok(out)
    }

    fn select_each(
        &self,
        matchers: &[Matcher],
        f: &mut dyn FnMut(&Labels, &mut dyn Iterator<Item = Sample>),
    ) -> Result<()> {
        self.each(matchers, |l, s| f(l, &mut s.iter().copied()));
        Ok(())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut names = std::collections::BTreeSet::new();
        self.each(matchers, |l, _| {
            names.extend(l.iter().map(|x| x.name.clone()));
        });
        Ok(names.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut vals = std::collections::BTreeSet::new();
        self.each(matchers, |l, _| {
            if let Some(v) = l.get(name) {
                vals.insert(v.to_string());
            }
        });
        Ok(vals.into_iter().collect())
    }

    fn exemplars(&self, _m: &[Matcher]) -> Result<Vec<(Labels, Vec<Exemplar>)>> {
        Ok(Vec::new())
    }
}

impl Queryable for MemStore {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>> {
        Ok(Box::new(MemQuerier {
            store: self,
            mint,
            maxt,
        }))
    }
}
