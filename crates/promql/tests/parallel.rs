//! Series computed on several worker threads give the same results, in the
//! same order, as one thread (aggregations merge per-worker groups).

use sightline_model::Labels;
use sightline_promql::{Engine, EngineOptions, Value};
use sightline_tsdb::{Appendable, Db, Options};

fn load() -> (tempfile::TempDir, std::sync::Arc<Db>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut app = db.appender();
    let mut x: u64 = 7;
    for t in 0..60 {
        for i in 0..3000 {
            let l = Labels::from_pairs([
                ("__name__".to_string(), "req_total".to_string()),
                ("svc".to_string(), format!("s{}", i % 7)),
                ("pod".to_string(), format!("p{i:04}")),
            ]);
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = (t * 10 + i % 13) as f64 + (x >> 40) as f64 / 1e7;
            // A few huge values make the avg path switch to incremental means.
            let v = if i == 2999 && t > 30 { 1e308 } else { v };
            app.append(&l, t * 15_000 + (i % 15) * 1000, v).unwrap();
        }
    }
    app.commit().unwrap();
    (dir, db)
}

#[test]
fn parallel_equals_sequential() {
    let (_dir, db) = load();
    let one = Engine::new(EngineOptions {
        parallelism: 1,
        ..Default::default()
    });
    let four = Engine::new(EngineOptions {
        parallelism: 4,
        ..Default::default()
    });
    for q in [
        "sum by (svc) (rate(req_total[2m]))",
        "avg by (svc) (req_total)",
        "count(req_total)",
        "max by (svc) (increase(req_total[5m])) - min by (svc) (increase(req_total[5m]))",
        "stddev by (svc) (rate(req_total[3m]))",
        "stdvar(req_total)",
        "group by (svc) (req_total)",
        "topk(3, rate(req_total[2m]))",
        "rate(req_total{pod=~\"p00.*\"}[1m])",
    ] {
        let a = one
            .range_query(db.as_ref(), q, 60_000, 900_000, 30_000)
            .unwrap()
            .value;
        let b = four
            .range_query(db.as_ref(), q, 60_000, 900_000, 30_000)
            .unwrap()
            .value;
        let (Value::Matrix(a), Value::Matrix(b)) = (a, b) else {
            panic!("{q}: not a matrix")
        };
        assert!(!a.is_empty(), "{q}: empty");
        assert_eq!(a.len(), b.len(), "{q}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.labels, y.labels, "{q}");
            assert_eq!(x.points.len(), y.points.len(), "{q}");
            for (p, r) in x.points.iter().zip(&y.points) {
                let ok = p.1 == r.1
                    || (p.1.is_nan() && r.1.is_nan())
                    || ((p.1 - r.1) / p.1).abs() < 1e-12;
                assert!(p.0 == r.0 && ok, "{q}: {} {p:?} vs {r:?}", x.labels);
            }
        }
        let a = one.instant_query(db.as_ref(), q, 600_000).unwrap().value;
        let b = four.instant_query(db.as_ref(), q, 600_000).unwrap().value;
        if let (Value::Vector(a), Value::Vector(b)) = (&a, &b) {
            let la: Vec<_> = a.iter().map(|s| &s.labels).collect();
            let lb: Vec<_> = b.iter().map(|s| &s.labels).collect();
            assert_eq!(la, lb, "{q}: instant result order");
        }
    }
}
