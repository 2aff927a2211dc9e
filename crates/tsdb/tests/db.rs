//! End-to-end behaviour of the database through its public traits.

use sightline_model::{Exemplar, Labels, MatchOp, Matcher, Sample};
use sightline_tsdb::{Appendable, Db, Options, Queryable, RejectReason, SelectHints};

const H: i64 = 3600 * 1000;

fn lbl(name: &str, pairs: &[(&str, &str)]) -> Labels {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.push(("__name__".into(), name.into()));
    Labels::from_pairs(v)
}

fn query(db: &Db, ms: &[Matcher], mint: i64, maxt: i64) -> Vec<(Labels, Vec<Sample>)> {
    let q = db.querier(mint, maxt).unwrap();
    q.select(ms, &SelectHints::default())
        .unwrap()
        .into_iter()
        .map(|s| (s.labels, s.samples))
        .collect()
}

fn m(op: MatchOp, n: &str, v: &str) -> Matcher {
    Matcher::new(op, n, v).unwrap()
}

fn write_series(db: &Db, labels: &Labels, from: i64, to: i64, step: i64) {
    let mut app = db.appender();
    let mut t = from;
    while t < to {
        app.append(labels, t, (t / step) as f64).unwrap();
        t += step;
    }
    app.commit().unwrap();
}

#[test]
fn append_commit_select_and_matchers() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let a = lbl("http_requests_total", &[("job", "api"), ("status", "200")]);
    let b = lbl("http_requests_total", &[("job", "api"), ("status", "500")]);
    let c = lbl("up", &[("job", "db")]);
    let mut app = db.appender();
    for i in 0..10 {
        app.append(&a, i * 1000, i as f64).unwrap();
        app.append(&b, i * 1000, 2.0 * i as f64).unwrap();
        app.append(&c, i * 1000, 1.0).unwrap();
    }
    // Nothing is visible before commit.
    assert!(query(&db, &[m(MatchOp::Equal, "job", "api")], 0, 10_000).is_empty());
    let stats = app.commit().unwrap();
    assert_eq!(stats.samples, 30);

    let r = query(
        &db,
        &[m(MatchOp::Equal, "__name__", "http_requests_total")],
        0,
        10_000,
    );
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].0, a);
    assert_eq!(r[0].1.len(), 10);
    assert_eq!(r[1].1[3], Sample { t: 3000, v: 6.0 });
    assert_eq!(
        query(&db, &[m(MatchOp::Regex, "status", "5..")], 0, 10_000).len(),
        1
    );
    assert_eq!(
        query(&db, &[m(MatchOp::NotEqual, "job", "api")], 0, 10_000)[0].0,
        c
    );
    assert_eq!(
        query(&db, &[m(MatchOp::Equal, "status", "")], 0, 10_000)[0].0,
        c
    );
    assert_eq!(
        query(&db, &[m(MatchOp::NotRegex, "status", "2..|5..")], 0, 10_000).len(),
        1
    );
    // Range restriction is inclusive on both ends.
    let r = query(&db, &[m(MatchOp::Equal, "job", "db")], 2000, 4000);
    assert_eq!(
        r[0].1.iter().map(|s| s.t).collect::<Vec<_>>(),
        vec![2000, 3000, 4000]
    );

    let q = db.querier(0, 10_000).unwrap();
    assert_eq!(
        q.label_names(&[]).unwrap(),
        vec!["__name__", "job", "status"]
    );
    assert_eq!(q.label_values("status", &[]).unwrap(), vec!["200", "500"]);
    assert_eq!(
        q.label_values("job", &[m(MatchOp::Equal, "__name__", "up")])
            .unwrap(),
        vec!["db"]
    );
}

#[test]
fn out_of_order_is_rejected_and_counted_unless_windowed() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let a = lbl("x", &[]);
    write_series(&db, &a, 10_000, 20_000, 1000);
    let mut app = db.appender();
    assert_eq!(app.append(&a, 5000, 1.0), Err(RejectReason::OutOfOrder));
    app.append(&a, 19_000, 99.0).unwrap(); // same timestamp as stored, other value
    let stats = app.commit().unwrap();
    assert_eq!(
        stats.rejected,
        vec![
            (RejectReason::OutOfOrder, 1),
            (RejectReason::DuplicateTimestamp, 1)
        ]
    );
    assert_eq!(
        db.metrics
            .out_of_order
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    drop(db);

    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        out_of_order_window_ms: 10_000,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts.clone()).unwrap();
    write_series(&db, &a, 10_000, 20_000, 1000);
    let mut app = db.appender();
    app.append(&a, 9_500, 7.0).unwrap();
    assert_eq!(app.append(&a, 1_000, 7.0), Err(RejectReason::OutOfOrder));
    assert_eq!(app.commit().unwrap().samples, 1);
    drop(db);
    // The out-of-order sample survives a restart too.
    let db = Db::open(dir.path(), opts).unwrap();
    let r = query(&db, &[m(MatchOp::Equal, "__name__", "x")], 0, 30_000);
    assert_eq!(r[0].1.len(), 11);
    assert_eq!(r[0].1[0], Sample { t: 9_500, v: 7.0 });
}

#[test]
fn wal_replay_restores_head_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let a = lbl("m", &[("k", "a")]);
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        write_series(&db, &a, 0, 100_000, 1000);
        let mut app = db.appender();
        let r = app.append(&a, 100_000, 5.0).unwrap();
        app.append_exemplar(
            r,
            &Exemplar {
                labels: Labels::from_pairs([("trace_id", "abc")]),
                t: 100_000,
                v: 5.0,
            },
        )
        .unwrap();
        app.update_metadata(
            "m",
            &sightline_model::MetricMetadata {
                kind: sightline_model::MetricType::Gauge,
                help: "h".into(),
                unit: "".into(),
            },
        );
        app.commit().unwrap();
        // No close(): simulate a crash by just dropping.
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.open_report.replayed_samples, 101);
    let r = query(&db, &[m(MatchOp::Equal, "k", "a")], 0, 200_000);
    assert_eq!(r[0].1.len(), 101);
    let q = db.querier(0, 200_000).unwrap();
    let ex = q.exemplars(&[m(MatchOp::Equal, "k", "a")]).unwrap();
    assert_eq!(ex[0].1[0].labels.get("trace_id"), Some("abc"));
    assert!(db.head().metadata.read().contains_key("m"));
    // Appending continues after the replayed data.
    write_series(&db, &a, 101_000, 105_000, 1000);
    assert_eq!(
        query(&db, &[m(MatchOp::Equal, "k", "a")], 0, 200_000)[0]
            .1
            .len(),
        105
    );
}

#[test]
fn blocks_are_cut_compacted_queried_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default();
    let a = lbl("cpu", &[("host", "a")]);
    let b = lbl("cpu", &[("host", "b")]);
    let total;
    {
        let db = Db::open(dir.path(), opts.clone()).unwrap();
        // 14h of 15s samples, appended in 10-minute commits like a scraper would.
        let mut t = 0;
        while t < 14 * H {
            let mut app = db.appender();
            for _ in 0..40 {
                app.append(&a, t, (t / 15_000) as f64).unwrap();
                app.append(&b, t, 0.5).unwrap();
                t += 15_000;
            }
            app.commit().unwrap();
            db.maintain().unwrap();
        }
        total = (14 * H / 15_000) as usize;
        let blocks = db.blocks();
        assert!(!blocks.is_empty());
        // 2h blocks in [0, 12h) were merged into 6h ones.
        assert!(
            blocks
                .iter()
                .any(|b| b.meta.max_time - b.meta.min_time == 6 * H),
            "{:?}",
            blocks
                .iter()
                .map(|b| (b.meta.min_time, b.meta.max_time))
                .collect::<Vec<_>>()
        );
        let r = query(&db, &[m(MatchOp::Equal, "__name__", "cpu")], 0, 14 * H);
        assert_eq!(r[0].1.len(), total);
        assert!(r[0].1.windows(2).all(|w| w[1].t - w[0].t == 15_000));
        assert_eq!(r[0].1[1000].v, 1000.0);
        // The WAL was truncated: it no longer holds the cut hours.
        assert!(db.wal_size_bytes() < 14 * 240 * 2 * 30);
    }
    let db = Db::open(dir.path(), opts).unwrap();
    let r = query(&db, &[m(MatchOp::Equal, "host", "b")], 0, 14 * H);
    assert_eq!(r[0].1.len(), total);
    assert!(r[0].1.iter().all(|s| s.v == 0.5));
    // Samples older than the last block are now out of bounds.
    let mut app = db.appender();
    assert_eq!(app.append(&a, 1000, 1.0), Err(RejectReason::OutOfBounds));
}

#[test]
fn retention_deletes_old_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        retention_ms: 6 * H,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let a = lbl("g", &[]);
    let mut t = 0;
    while t < 20 * H {
        let mut app = db.appender();
        for _ in 0..240 {
            app.append(&a, t, 1.0).unwrap();
            t += 15_000;
        }
        app.commit().unwrap();
        db.maintain().unwrap();
    }
    let min_block = db.blocks().iter().map(|b| b.meta.min_time).min().unwrap();
    assert!(
        min_block >= 20 * H - 6 * H - 2 * H - 2 * H,
        "oldest block starts at {min_block}"
    );
    assert!(
        db.metrics
            .retention_deletions
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    let r = query(&db, &[m(MatchOp::Equal, "__name__", "g")], 0, 20 * H);
    assert!(r[0].1[0].t >= min_block);
    // Size-based retention: a tiny budget keeps deleting the oldest blocks.
    drop(db);
    let db = Db::open(
        dir.path(),
        Options {
            retention_bytes: 1,
            ..Options::default()
        },
    )
    .unwrap();
    db.maintain().unwrap();
    assert!(db.blocks().is_empty());
}

#[test]
fn corrupted_wal_tail_is_cut_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let a = lbl("m", &[]);
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        write_series(&db, &a, 0, 50_000, 1000);
    }
    // Tear the last record in half, as a crash mid-write would.
    let wal = dir.path().join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    segs.sort();
    let last = segs
        .iter()
        .rev()
        .find(|p| std::fs::metadata(p).unwrap().len() > 0)
        .unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(
        db.open_report.wal.corruptions.len(),
        1,
        "{:?}",
        db.open_report.wal.corruptions
    );
    // Series record survives (it was its own frame); the torn samples record is gone.
    assert!(query(&db, &[m(MatchOp::Equal, "__name__", "m")], 0, 100_000).is_empty());
    write_series(&db, &a, 60_000, 70_000, 1000);
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert!(db.open_report.wal.corruptions.is_empty());
    assert_eq!(
        query(&db, &[m(MatchOp::Equal, "__name__", "m")], 0, 100_000)[0]
            .1
            .len(),
        10
    );
}

#[test]
fn damaged_block_is_reported_and_other_data_stays() {
    let dir = tempfile::tempdir().unwrap();
    let a = lbl("m", &[]);
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        write_series(&db, &a, 0, 5 * H, 60_000);
        db.maintain().unwrap();
        assert_eq!(db.blocks().len(), 1);
    }
    let block_dir = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("meta.json").exists())
        .unwrap();
    let idx = block_dir.join("index");
    let mut b = std::fs::read(&idx).unwrap();
    b[20] ^= 0x55;
    std::fs::write(&idx, b).unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.open_report.corrupt_blocks.len(), 1);
    assert!(db.open_report.corrupt_blocks[0].1.contains("checksum"));
    let r = query(&db, &[m(MatchOp::Equal, "__name__", "m")], 0, 5 * H);
    assert_eq!(
        r[0].1.last().unwrap().t,
        5 * H - 60_000,
        "head data after the block is still served"
    );
}

#[test]
fn two_processes_cannot_share_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _db = Db::open(dir.path(), Options::default()).unwrap();
    let err = Db::open(dir.path(), Options::default()).err().unwrap();
    assert!(err.to_string().contains("in use"));
}
