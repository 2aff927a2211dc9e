//! Series deletion: tombstones hide samples from reads, survive a restart,
//! and `clean_tombstones` rewrites blocks without the deleted samples.

use sightline_model::{Labels, MatchOp, Matcher};
use sightline_tsdb::{Appendable, Db, Options, Queryable, SelectHints};

fn samples_of(db: &Db, name: &str) -> Vec<i64> {
    let q = db.querier(i64::MIN / 2, i64::MAX / 2).unwrap();
    let m = Matcher::new(MatchOp::Equal, "__name__", name).unwrap();
    let mut ts = Vec::new();
    for s in q
        .select(std::slice::from_ref(&m), &SelectHints::default())
        .unwrap()
    {
        ts.extend(s.samples.iter().map(|x| x.t));
    }
    let mut streamed = Vec::new();
    q.select_each(&[m], &mut |_, it| streamed.extend(it.map(|x| x.t)))
        .unwrap();
    assert_eq!(ts, streamed, "select and select_each agree");
    ts
}

#[test]
fn delete_series_hides_persists_and_cleans() {
    let dir = tempfile::tempdir().unwrap();
    let a = Labels::from_pairs([("__name__", "a"), ("job", "x")]);
    let b = Labels::from_pairs([("__name__", "b"), ("job", "x")]);
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let mut app = db.appender();
        for i in 0..10 {
            app.append(&a, i * 1000, i as f64).unwrap();
            app.append(&b, i * 1000, i as f64).unwrap();
        }
        app.commit().unwrap();
        // Samples 0..5s go into a block, the rest stays in the head.
        db.cut_block(0, 5000).unwrap();
        assert_eq!(db.blocks().len(), 1);
        let n = db
            .delete_series(
                &[vec![Matcher::new(MatchOp::Equal, "__name__", "a").unwrap()]],
                3000,
                6000,
            )
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(samples_of(&db, "a"), vec![0, 1000, 2000, 7000, 8000, 9000]);
        assert_eq!(samples_of(&db, "b").len(), 10);
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(
        samples_of(&db, "a"),
        vec![0, 1000, 2000, 7000, 8000, 9000],
        "tombstones survive a restart"
    );
    let old = db.blocks()[0].meta.ulid.clone();
    db.clean_tombstones().unwrap();
    assert_eq!(db.blocks().len(), 1);
    assert_ne!(db.blocks()[0].meta.ulid, old, "the block was rewritten");
    assert!(!dir.path().join(&old).exists());
    assert_eq!(samples_of(&db, "a"), vec![0, 1000, 2000, 7000, 8000, 9000]);
    let mut raw = Vec::new();
    db.blocks()[0]
        .samples(0, i64::MIN, i64::MAX, &mut raw)
        .unwrap();
    assert_eq!(
        raw.iter().map(|s| s.t).collect::<Vec<_>>(),
        vec![0, 1000, 2000],
        "deleted samples are gone from the block"
    );
}
