//! Query limits: timeout and max samples, with Prometheus's error texts.

use std::time::Duration;

use sightline_model::Labels;
use sightline_promql::{Engine, EngineOptions, ErrorKind};
use sightline_tsdb::{Appendable, Db, Options};

#[test]
fn timeout_and_sample_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut app = db.appender();
    for i in 0..100 {
        let l = Labels::from_pairs([
            ("__name__".to_string(), "m".to_string()),
            ("i".to_string(), i.to_string()),
        ]);
        for t in 0..40 {
            app.append(&l, t * 15_000, t as f64).unwrap();
        }
    }
    app.commit().unwrap();

    let e = Engine::new(EngineOptions {
        timeout: Duration::ZERO,
        ..Default::default()
    });
    std::thread::sleep(Duration::from_millis(2));
    let err = e.instant_query(db.as_ref(), "sum(m)", 300_000).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert_eq!(err.msg, "query timed out in expression evaluation");

    let e = Engine::new(EngineOptions {
        max_samples: 1000,
        ..Default::default()
    });
    // 100 series x 21 steps of output: over the limit.
    let err = e
        .range_query(db.as_ref(), "m", 0, 300_000, 15_000)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Execution);
    assert_eq!(
        err.msg,
        "query processing would load too many samples into memory in query execution"
    );
    // 100 series at one step: fine.
    assert!(e.instant_query(db.as_ref(), "m", 300_000).is_ok());
    // A range vector of 100 series x 20 samples: over the limit.
    assert!(e.instant_query(db.as_ref(), "m[5m]", 300_000).is_err());
}

/// A reset from +Inf only affects windows that contain it.
#[test]
fn infinite_counter_reset_stays_local() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut app = db.appender();
    let l = Labels::from_pairs([("__name__", "c_total")]);
    for (t, v) in [
        (0, 1.0),
        (15, f64::INFINITY),
        (30, 2.0),
        (45, 3.0),
        (600, 4.0),
        (615, 5.0),
        (630, 6.0),
    ] {
        app.append(&l, t * 1000, v).unwrap();
    }
    app.commit().unwrap();
    let e = Engine::new(EngineOptions::default());
    let r = e
        .range_query(
            db.as_ref(),
            "increase(c_total[1m])",
            60_000,
            660_000,
            600_000,
        )
        .unwrap();
    let sightline_promql::Value::Matrix(m) = r.value else {
        panic!()
    };
    let pts = &m[0].points;
    assert!(pts[0].1.is_infinite() || pts[0].1.is_nan(), "{pts:?}");
    assert!(
        pts[1].1.is_finite(),
        "the later window is unaffected: {pts:?}"
    );
}
