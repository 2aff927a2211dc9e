//! Shared fixtures: a TSDB in a temp dir, samples written at chosen times,
//! groups evaluated at chosen timestamps (no wall clock involved).

#![allow(dead_code)]

use std::sync::Arc;

use sightline_model::Labels;
use sightline_promql::{Engine, EngineOptions};
use sightline_rules::{EvalContext, Group};
use sightline_tsdb::{Appendable, Db, Options, Queryable, SelectHints};

pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub db: Arc<Db>,
    pub ctx: EvalContext,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let engine = Engine::new(EngineOptions {
        parallelism: 1,
        ..EngineOptions::default()
    });
    let ctx = EvalContext::new(
        engine,
        db.clone(),
        vec![("dc".into(), "eu".into())],
        "http://prom.example:9090".into(),
    );
    Fixture { _dir: dir, db, ctx }
}

impl Fixture {
    /// Appends `value(t)` for each `t` in `times` (ms) to the series `labels`.
    pub fn write(
        &self,
        labels: &[(&str, &str)],
        times: impl Iterator<Item = i64>,
        value: impl Fn(i64) -> f64,
    ) {
        let l = Labels::from_pairs(labels.iter().copied());
        let mut app = self.db.appender();
        for t in times {
            app.append(&l, t, value(t)).unwrap();
        }
        app.commit().unwrap();
    }

    pub fn group(&self, yaml: &str) -> Group {
        let mut specs = sightline_rules::parse_str(yaml, "test.yml").unwrap();
        let mut g = Group::new(specs.remove(0), 60_000, 0);
        g.set_restored();
        g
    }

    /// Samples of the series matching `selector` in `[mint, maxt]`.
    pub fn read(&self, selector: &str, mint: i64, maxt: i64) -> Vec<(Labels, Vec<(i64, f64)>)> {
        let m = sightline_promql::parser::parse_selector(selector).unwrap();
        let q = self.db.querier(mint, maxt).unwrap();
        q.select(&m, &SelectHints::default())
            .unwrap()
            .into_iter()
            .map(|s| (s.labels, s.samples.iter().map(|x| (x.t, x.v)).collect()))
            .collect()
    }
}

pub const MIN: i64 = 60_000;
