//! Start timestamps (ST) per sample: through the appender, the WAL, head
//! chunks and blocks, and what they cost.

#![allow(clippy::needless_range_loop)]

use std::sync::Mutex;

use sightline_model::{Labels, Matcher, Sample};
use sightline_tsdb::{Appendable, Db, Options, Queryable};

const H: i64 = 3600 * 1000;

fn lbl(name: &str, i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__".to_string(), name.to_string()),
        ("pod".to_string(), format!("pod-{i}")),
    ])
}

/// A deterministic no-ST dataset (counters and gauges, 15s scrapes, 10h),
/// cut into blocks; returns (bytes of all block `chunks` files, samples).
fn no_st_block_bytes(dir: &std::path::Path) -> (u64, u64) {
    let db = Db::open(dir, Options::default()).unwrap();
    let mut t = 0;
    let mut n = 0u64;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut counters = [0f64; 20];
    while t < 10 * H {
        let mut app = db.appender();
        for _ in 0..40 {
            for i in 0..20 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                counters[i] += (rng % 50) as f64;
                let c = counters[i];
                app.append(&lbl("req_total", i), t, c).unwrap();
                let g = ((rng >> 20) % 1000) as f64 * 0.01;
                app.append(&lbl("temp", i), t, g).unwrap();
                n += 2;
            }
            t += 15_000;
        }
        app.commit().unwrap();
        db.maintain().unwrap();
    }
    let mut bytes = 0;
    for b in db.blocks() {
        bytes += std::fs::metadata(b.dir.join("chunks")).unwrap().len();
    }
    (bytes, n)
}

/// Block chunk bytes of the dataset above before start timestamps existed
/// (zstd output is deterministic, so any change to the no-ST encoding shows).
const NO_ST_BLOCK_BYTES: u64 = 206_703;

#[test]
fn no_st_block_bytes_are_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, n) = no_st_block_bytes(dir.path());
    println!("no-ST dataset: {n} samples appended, block chunk bytes {bytes}");
    assert_eq!(bytes, NO_ST_BLOCK_BYTES);
}

type Got = Vec<(Labels, Vec<Sample>, Option<Vec<i64>>)>;

fn select_st(db: &Db, mint: i64, maxt: i64) -> Got {
    let q = db.querier(mint, maxt).unwrap();
    let out = Mutex::new(Vec::new());
    q.select_each_par_st(
        &[Matcher::equal("__name__", "c_total")],
        1,
        &|_, l, s, st| {
            out.lock()
                .unwrap()
                .push((l.clone(), s.to_vec(), st.map(|x| x.to_vec())));
        },
    )
    .unwrap();
    out.into_inner().unwrap()
}

/// Start timestamps of series `i` at `t`: constant (cumulative), previous T
/// (delta), T - 1ms, or none; pod 3 has an ST on every other sample only.
fn st_of(i: usize, t: i64) -> i64 {
    match i {
        0 => 1_000,
        1 => t - 15_000,
        2 => t - 1,
        3 if (t / 15_000) % 2 == 0 => t - 30_000,
        _ => 0,
    }
}

#[test]
fn start_timestamps_survive_wal_blocks_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let end = 10 * H;
    let check = |db: &Db| {
        let got = select_st(db, 0, end);
        assert_eq!(got.len(), 5);
        for (i, (l, s, st)) in got.iter().enumerate() {
            assert_eq!(l.get("pod"), Some(format!("pod-{i}").as_str()));
            assert_eq!(s.len() as i64, end / 15_000, "pod {i}");
            if i == 4 {
                assert!(st.is_none());
                continue;
            }
            let st = st.as_ref().unwrap();
            assert_eq!(st.len(), s.len());
            for (x, y) in s.iter().zip(st) {
                assert_eq!(*y, st_of(i, x.t), "pod {i} t {}", x.t);
            }
        }
    };
    let block_bytes;
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let mut t = 0;
        while t < end {
            let mut app = db.appender();
            for _ in 0..40 {
                for i in 0..5 {
                    let st = st_of(i, t);
                    if st == 0 && i == 4 {
                        app.append(&lbl("c_total", i), t, (t / 1000) as f64)
                            .unwrap();
                    } else {
                        app.append_st(&lbl("c_total", i), t, st, (t / 1000) as f64)
                            .unwrap();
                    }
                }
                t += 15_000;
            }
            app.commit().unwrap();
            db.maintain().unwrap();
        }
        assert!(db.blocks().len() >= 2);
        check(&db);
        block_bytes = db.blocks().iter().map(|b| b.size_bytes).sum::<u64>();
    }
    // After a restart: blocks from disk, the head from the WAL.
    let db = Db::open(dir.path(), Options::default()).unwrap();
    check(&db);
    // Plain selects still work and see the same samples.
    let q = db.querier(0, end).unwrap();
    let plain = q
        .select(
            &[Matcher::equal("__name__", "c_total")],
            &Default::default(),
        )
        .unwrap();
    assert_eq!(plain.len(), 5);
    assert!(block_bytes > 0);
}

/// Block bytes per sample of the same counters with and without ST.
#[test]
fn st_costs_little_in_blocks() {
    let run = |with_st: usize| {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let mut t = 0;
        let mut n = 0u64;
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut counters = [0f64; 20];
        while t < 8 * H {
            let mut app = db.appender();
            for _ in 0..40 {
                for i in 0..20 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    counters[i] += (rng % 50) as f64;
                    let v = counters[i];
                    let st = match with_st {
                        1 => 1_000 + i as i64,
                        2 => t - 15_000,
                        3 => t - 1,
                        _ => 0,
                    };
                    app.append_st(&lbl("c_total", i), t, st, v).unwrap();
                    n += 1;
                }
                t += 15_000;
            }
            app.commit().unwrap();
            db.maintain().unwrap();
        }
        let mut bytes = 0;
        let mut samples = 0;
        for b in db.blocks() {
            bytes += std::fs::metadata(b.dir.join("chunks")).unwrap().len();
            samples += b.meta.stats.num_samples;
        }
        let _ = n;
        bytes as f64 / samples as f64
    };
    let none = run(0);
    for (k, name) in [
        (1, "constant ST"),
        (2, "ST = previous T"),
        (3, "ST = T - 1ms"),
    ] {
        let with = run(k);
        println!("block chunk bytes/sample: no ST {none:.4}, {name} {with:.4}");
        assert!(with - none < 0.05, "{name}: {with} vs {none}");
    }
}
