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
