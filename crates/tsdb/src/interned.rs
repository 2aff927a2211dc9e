//! Label sets as the head stores them: every distinct name and value is kept
//! once (`Arc<str>` from an interner) and a series holds only pointers to them.
//! A million series share a few thousand strings, so this is most of the
//! difference between ~1.5 KiB and well under 1 KiB per active series.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::Arc;

use parking_lot::Mutex;
use sightline_model::{Label, Labels};

pub type Sym = Arc<str>;

const SHARDS: usize = 16;

pub struct Interner {
    shards: Box<[Mutex<HashSet<Sym>>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            shards: (0..SHARDS).map(|_| Mutex::new(HashSet::new())).collect(),
            hasher: Default::default(),
        }
    }
}

impl Interner {
    pub fn intern(&self, s: &str) -> Sym {
        let mut shard = self.shards[self.hasher.hash_one(s) as usize % SHARDS].lock();
        if let Some(x) = shard.get(s) {
            return x.clone();
        }
        let x: Sym = Arc::from(s);
        shard.insert(x.clone());
        x
    }

    /// Forgets strings no series refers to any more (after head GC).
    pub fn purge(&self) {
        for s in self.shards.iter() {
            s.lock().retain(|x| Arc::strong_count(x) > 1);
        }
    }
}

/// A series' labels in the head: sorted `(name, value)` pairs of interned strings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesLabels(Box<[(Sym, Sym)]>);

impl SeriesLabels {
    pub fn new(l: &Labels, i: &Interner) -> Self {
        SeriesLabels(
            l.iter()
                .map(|x| (i.intern(&x.name), i.intern(&x.value)))
                .collect(),
        )
    }

    pub fn to_labels(&self) -> Labels {
        Labels::from_sorted(
            self.0
                .iter()
                .map(|(n, v)| Label {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
        )
    }

    pub fn eq_labels(&self, l: &Labels) -> bool {
        self.0.len() == l.len()
            && self
                .0
                .iter()
                .zip(l.iter())
                .all(|((n, v), x)| **n == *x.name && **v == *x.value)
    }

    pub fn eq_pairs(&self, p: &[(&str, &str)]) -> bool {
        self.0.len() == p.len()
            && self
                .0
                .iter()
                .zip(p)
                .all(|((n, v), (pn, pv))| **n == **pn && **v == **pv)
    }

    pub fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (&**n, &**v))
    }

    pub fn syms(&self) -> &[(Sym, Sym)] {
        &self.0
    }

    /// Heap bytes owned by this label set itself (the strings are shared).
    pub fn heap_bytes(&self) -> usize {
        self.0.len() * std::mem::size_of::<(Sym, Sym)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_strings_and_round_trips() {
        let i = Interner::default();
        let a = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        let b = Labels::from_pairs([("__name__", "up"), ("job", "y")]);
        let sa = SeriesLabels::new(&a, &i);
        let sb = SeriesLabels::new(&b, &i);
        assert!(Arc::ptr_eq(&sa.syms()[0].1, &sb.syms()[0].1));
        assert_eq!(sa.to_labels(), a);
        assert!(sa.eq_labels(&a) && !sa.eq_labels(&b));
        assert!(sa < sb);
        drop(sb);
        i.purge();
        // "__name__", "up", "job", "x" stay; "y" went with its last series.
        assert_eq!(i.shards.iter().map(|s| s.lock().len()).sum::<usize>(), 4);
    }
}
