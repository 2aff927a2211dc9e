//! Postings (sorted series-id lists) and the matcher → postings algorithm
//! shared by the head and blocks.
//!
//! Every matcher is reduced to one of two shapes: if it does not match the
//! empty string it is *positive* (the union of postings of the values it
//! matches); if it does, it is *negative* (all series minus the union of the
//! postings of the values it rejects — series lacking the label match, as a
//! missing label reads as ""). Positives are intersected first, then negatives
//! subtracted; with no positive, the start set is every series.

use sightline_model::Matcher;

/// What an index must offer for matcher evaluation.
pub trait PostingsSource {
    /// Calls `f` for every value the label `name` takes.
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str));
    /// Appends the sorted postings of `name=value` to `out`.
    fn postings(&self, name: &str, value: &str, out: &mut Vec<u64>);
    /// Every series id, sorted.
    fn all(&self, out: &mut Vec<u64>);
}

fn union_matching(src: &dyn PostingsSource, m: &Matcher, want: bool) -> Vec<u64> {
    let mut out = Vec::new();
    let mut lists = 0usize;
    if want && let Some(set) = m.literal_set() {
        for v in set {
            if !v.is_empty() {
                let before = out.len();
                src.postings(&m.name, v, &mut out);
                lists += (out.len() > before) as usize;
            }
        }
    } else {
        let mut values = Vec::new();
        src.for_each_value(&m.name, &mut |v| {
            if m.matches(v) == want {
                values.push(v.to_string());
            }
        });
        for v in &values {
            src.postings(&m.name, v, &mut out);
        }
        lists = values.len();
    }
    if lists > 1 {
        out.sort_unstable();
        out.dedup();
    }
    out
}

/// Sorted ids of the series matching every matcher.
pub fn select(src: &dyn PostingsSource, matchers: &[Matcher]) -> Vec<u64> {
    let mut acc: Option<Vec<u64>> = None;
    // Cheapest first: equality matchers tend to be the most selective.
    let mut order: Vec<&Matcher> = matchers.iter().collect();
    order.sort_by_key(|m| match m.op {
        sightline_model::MatchOp::Equal => 0,
        sightline_model::MatchOp::Regex => 1,
        _ => 2,
    });
    let mut negatives = Vec::new();
    for m in order {
        if m.matches_empty() {
            negatives.push(m);
            continue;
        }
        let p = union_matching(src, m, true);
        acc = Some(match acc {
            None => p,
            Some(a) => intersect(&a, &p),
        });
        if acc.as_ref().is_some_and(|a| a.is_empty()) {
            return Vec::new();
        }
    }
    let mut acc = acc.unwrap_or_else(|| {
        let mut all = Vec::new();
        src.all(&mut all);
        all
    });
    for m in negatives {
        let drop = union_matching(src, m, false);
        acc = subtract(&acc, &drop);
    }
    acc
}

pub fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    if small.len() * 16 < large.len() {
        // Very different sizes: binary-search the large list.
        let mut lo = 0;
        for &x in small {
            match large[lo..].binary_search(&x) {
                Ok(i) => {
                    out.push(x);
                    lo += i + 1;
                }
                Err(i) => lo += i,
            }
        }
        return out;
    }
    let (mut i, mut j) = (0, 0);
    while i < small.len() && j < large.len() {
        match small[i].cmp(&large[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(small[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

pub fn subtract(a: &[u64], b: &[u64]) -> Vec<u64> {
    if b.is_empty() {
        return a.to_vec();
    }
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j < b.len() && b[j] == x {
            continue;
        }
        out.push(x);
    }
    out
}

/// Inserts `id` keeping `list` sorted; ids mostly arrive in increasing order.
pub fn insert_sorted(list: &mut Vec<u64>, id: u64) {
    match list.last() {
        None => list.push(id),
        Some(&last) if last < id => list.push(id),
        _ => {
            if let Err(i) = list.binary_search(&id) {
                list.insert(i, id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::{Labels, MatchOp};
    use std::collections::BTreeMap;

    /// A brute-force index over a few label sets, to check `select` against
    /// filtering every series with `Matcher::matches_labels`.
    struct Toy(Vec<Labels>);

    impl PostingsSource for Toy {
        fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
            let mut vals: BTreeMap<&str, ()> = BTreeMap::new();
            for l in &self.0 {
                if let Some(v) = l.get(name) {
                    vals.insert(v, ());
                }
            }
            for v in vals.keys() {
                f(v);
            }
        }
        fn postings(&self, name: &str, value: &str, out: &mut Vec<u64>) {
            for (i, l) in self.0.iter().enumerate() {
                if l.get(name) == Some(value) {
                    out.push(i as u64);
                }
            }
        }
        fn all(&self, out: &mut Vec<u64>) {
            out.extend(0..self.0.len() as u64);
        }
    }

    #[test]
    fn select_agrees_with_brute_force() {
        let toy = Toy(vec![
            Labels::from_pairs([("__name__", "a"), ("job", "x"), ("env", "prod")]),
            Labels::from_pairs([("__name__", "a"), ("job", "y")]),
            Labels::from_pairs([("__name__", "b"), ("job", "x"), ("env", "dev")]),
            Labels::from_pairs([("__name__", "b"), ("job", "z"), ("env", "")]),
            Labels::from_pairs([("__name__", "c")]),
        ]);
        let cases: Vec<Vec<(MatchOp, &str, &str)>> = vec![
            vec![(MatchOp::Equal, "__name__", "a")],
            vec![(MatchOp::Equal, "env", "")],
            vec![(MatchOp::NotEqual, "env", "")],
            vec![(MatchOp::NotEqual, "env", "prod")],
            vec![(MatchOp::Regex, "job", "x|y")],
            vec![(MatchOp::Regex, "job", ".*")],
            vec![(MatchOp::Regex, "job", ".+")],
            vec![(MatchOp::NotRegex, "job", "x|z")],
            vec![
                (MatchOp::Regex, "__name__", "a|b"),
                (MatchOp::NotEqual, "job", "x"),
            ],
            vec![(MatchOp::Equal, "job", "nope")],
            vec![(MatchOp::Regex, "env", "pr.*|")],
        ];
        for c in cases {
            let ms: Vec<Matcher> = c
                .iter()
                .map(|(op, n, v)| Matcher::new(*op, *n, *v).unwrap())
                .collect();
            let want: Vec<u64> = toy
                .0
                .iter()
                .enumerate()
                .filter(|(_, l)| ms.iter().all(|m| m.matches_labels(l)))
                .map(|(i, _)| i as u64)
                .collect();
            assert_eq!(select(&toy, &ms), want, "{c:?}");
        }
    }

    #[test]
    fn set_ops() {
        assert_eq!(intersect(&[1, 3, 5, 7], &[3, 4, 5]), vec![3, 5]);
        let big: Vec<u64> = (0..1000).collect();
        assert_eq!(intersect(&[5, 500, 2000], &big), vec![5, 500]);
        assert_eq!(subtract(&[1, 2, 3, 4], &[2, 4, 9]), vec![1, 3]);
        let mut l = vec![1, 5];
        insert_sorted(&mut l, 3);
        insert_sorted(&mut l, 9);
        insert_sorted(&mut l, 5);
        assert_eq!(l, vec![1, 3, 5, 9]);
    }
}
