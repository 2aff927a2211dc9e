//! `select_each_par` hands out the same series and samples as `select_each`,
//! split into per-worker runs that are in label order when read in worker order.

use std::sync::Mutex;

use sightline_model::{Labels, MatchOp, Matcher, Sample};
use sightline_tsdb::{Appendable, Db, Options, Queryable};

type Found = Vec<(Labels, Vec<Sample>)>;

#[test]
fn parallel_select_matches_sequential() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut app = db.appender();
    for i in 0..2000 {
        let l = Labels::from_pairs([("__name__", "m".to_string()), ("i", format!("{i:05}"))]);
        for t in 0..5 {
            app.append(&l, t * 1000, (i * t) as f64).unwrap();
        }
    }
    app.commit().unwrap();
    db.cut_block(0, 3000).unwrap();
    let q = db.querier(0, 10_000).unwrap();
    let m = [Matcher::new(MatchOp::Equal, "__name__", "m").unwrap()];
    let mut seq: Found = Vec::new();
    q.select_each(&m, &mut |l, it| seq.push((l.clone(), it.collect())))
        .unwrap();
    let workers: Vec<Mutex<Found>> = (0..4).map(|_| Mutex::new(Vec::new())).collect();
    q.select_each_par(&m, 4, &|w, l, s| {
        workers[w].lock().unwrap().push((l.clone(), s.to_vec()))
    })
    .unwrap();
    let used = workers
        .iter()
        .filter(|w| !w.lock().unwrap().is_empty())
        .count();
    assert!(used > 1, "work was split over {used} workers");
    let par: Found = workers
        .into_iter()
        .flat_map(|w| w.into_inner().unwrap())
        .collect();
    assert_eq!(seq.len(), 2000);
    assert_eq!(par, seq);
    assert_eq!(seq[7].1.len(), 5, "block and head samples are merged");
}

/// Series present in only some blocks (or only the head) are merged into one
/// label-ordered list with all their samples.
#[test]
fn sources_merge_across_blocks_and_head() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let lab =
        |i: usize| Labels::from_pairs([("__name__", "m".to_string()), ("i", format!("{i:03}"))]);
    // Block 1 (t < 10s): even series; block 2 (10s..20s): series divisible by 3; head: all.
    let mut app = db.appender();
    for t in 0..30i64 {
        for i in 0..600usize {
            let keep = match t {
                0..10 => i % 2 == 0,
                10..20 => i % 3 == 0,
                _ => true,
            };
            if keep {
                app.append(&lab(i), t * 1000, t as f64).unwrap();
            }
        }
    }
    app.commit().unwrap();
    db.cut_block(0, 10_000).unwrap();
    db.cut_block(10_000, 20_000).unwrap();
    assert_eq!(db.blocks().len(), 2);
    let q = db.querier(0, 100_000).unwrap();
    let m = [Matcher::new(MatchOp::Equal, "__name__", "m").unwrap()];
    let workers: Vec<Mutex<Found>> = (0..3).map(|_| Mutex::new(Vec::new())).collect();
    q.select_each_par(&m, 3, &|w, l, s| {
        workers[w].lock().unwrap().push((l.clone(), s.to_vec()))
    })
    .unwrap();
    let all: Found = workers
        .into_iter()
        .flat_map(|w| w.into_inner().unwrap())
        .collect();
    assert_eq!(all.len(), 600);
    for (i, (l, s)) in all.iter().enumerate() {
        assert_eq!(*l, lab(i), "label order");
        let expect = (0..30)
            .filter(|t| match t {
                0..10 => i % 2 == 0,
                10..20 => i % 3 == 0,
                _ => true,
            })
            .count();
        assert_eq!(s.len(), expect, "series {i}");
        assert!(s.windows(2).all(|w| w[0].t < w[1].t));
    }
}
