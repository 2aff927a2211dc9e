//! `Appender::append_handle`: the kept handle skips the lookup by ref and
//! behaves exactly like `append_ref`, including for collected series.

use sightline_model::{Labels, Matcher};
use sightline_tsdb::{Appendable, Db, Options, Queryable, RejectReason, SelectHints};

fn values(db: &Db, name: &str) -> Vec<f64> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let s = q
        .select(&[Matcher::equal("__name__", name)], &SelectHints::default())
        .unwrap();
    s.into_iter()
        .flat_map(|s| s.samples.into_iter().map(|x| x.v))
        .collect()
}

#[test]
fn handle_is_filled_used_and_dropped_when_the_series_is_collected() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let a = Labels::from_pairs([("__name__", "a")]);
    let b = Labels::from_pairs([("__name__", "b")]);
    let mut app = db.appender();
    let ra = app.append(&a, 1000, 1.0).unwrap();
    let rb = app.append(&b, 1000, 10.0).unwrap();
    app.commit().unwrap();

    let (mut ha, mut hb) = (None, None);
    let mut app = db.appender();
    assert_eq!(app.append_handle(ra, &mut ha, 2000, 2.0), Some(Ok(())));
    assert_eq!(app.append_handle(rb, &mut hb, 2000, 20.0), Some(Ok(())));
    app.commit().unwrap();
    assert!(ha.is_some() && hb.is_some());

    let mut app = db.appender();
    assert_eq!(app.append_handle(ra, &mut ha, 3000, 3.0), Some(Ok(())));
    // Refusals are those of `append_ref`.
    assert_eq!(
        app.append_handle(ra, &mut ha, 1500, 1.5),
        app.append_ref(ra, 1500, 1.5)
    );
    assert!(matches!(
        app.append_handle(ra, &mut ha, 1500, 1.5),
        Some(Err(RejectReason::OutOfOrder))
    ));
    // Another series' handle is not used for this ref.
    let mut wrong = ha.clone();
    assert_eq!(app.append_handle(rb, &mut wrong, 3000, 30.0), Some(Ok(())));
    app.commit().unwrap();
    assert_eq!(values(&db, "a"), [1.0, 2.0, 3.0]);
    assert_eq!(values(&db, "b"), [10.0, 20.0, 30.0]);

    // Collected by the head: the ref is unknown and the handle is dropped.
    db.head().truncate(10_000);
    let mut app = db.appender();
    assert_eq!(app.append_handle(ra, &mut ha, 20_000, 4.0), None);
    assert!(ha.is_none());
    app.rollback();
}
