//! Rule-evaluation benchmark for issue 6: 1,000 alerting rules over
//! RED-shaped data (`http_requests_total` by service/route/method/status, as
//! the bench crate's synthetic RED set), evaluated as one 15 s group
//! iteration. Reports wall time and CPU time of each iteration; the target is
//! one iteration within 15 s using at most half a core (CPU ≤ 7.5 s).
//!
//! Usage: `rules_bench [series=20000] [rules=1000] [iterations=4]` (run it in release).

use std::sync::Arc;
use std::time::Instant;

use sightline_model::Labels;
use sightline_promql::{Engine, EngineOptions};
use sightline_rules::{EvalContext, Group};
use sightline_tsdb::{Appendable, Db, Options};

const STEP: i64 = 15_000;

/// User + system CPU seconds of this process (from /proc/self/stat).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14th and 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // `rest` starts at field 3 (state), so utime (14) is index 11.
    (ticks(11) + ticks(12)) / 100.0
}

fn series_labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", "http_requests_total".to_string()),
        ("service", format!("svc-{}", i % 50)),
        ("route", format!("/api/v1/r{}", (i / 50) % 40)),
        ("method", ["GET", "POST", "PUT"][i % 3].to_string()),
        (
            "status",
            ["200", "404", "500", "503"][(i / 7) % 4].to_string(),
        ),
        (
            "instance",
            format!("10.0.{}.{}:8080", (i / 2000) / 250, (i / 2000) % 250),
        ),
        ("job", "bench".to_string()),
    ])
}

/// Rule shapes a RED setup has: error ratios, request rates, per-route
/// thresholds; each rule is distinct (service and threshold vary).
fn rules_yaml(n: usize) -> String {
    let mut y = String::from("groups:\n  - name: bench\n    interval: 15s\n    rules:\n");
    for i in 0..n {
        let svc = format!("svc-{}", i % 50);
        let thr = 0.01 + (i / 50) as f64 * 0.001;
        let expr = match i % 4 {
            0 => format!(
                "sum(rate(http_requests_total{{service=\"{svc}\",status=~\"5..\"}}[5m])) by (route) / sum(rate(http_requests_total{{service=\"{svc}\"}}[5m])) by (route) > {thr}"
            ),
            1 => format!(
                "sum(rate(http_requests_total{{service=\"{svc}\"}}[5m])) by (method) > {}",
                thr * 1000.0
            ),
            2 => format!(
                "sum(increase(http_requests_total{{service=\"{svc}\",status=\"404\"}}[10m])) by (route) > {}",
                thr * 100.0
            ),
            _ => {
                format!("rate(http_requests_total{{service=\"{svc}\",status=\"503\"}}[5m]) > {thr}")
            }
        };
        y.push_str(&format!(
            "      - alert: Bench{i}\n        expr: '{expr}'\n        for: 5m\n        labels: {{severity: warning}}\n        annotations: {{summary: '{{{{ $labels.route }}}} at {{{{ $value | humanize }}}}'}}\n"
        ));
    }
    y
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let series = args.first().copied().unwrap_or(20_000);
    let nrules = args.get(1).copied().unwrap_or(1_000);
    let iterations = args.get(2).copied().unwrap_or(4);

    let dir = std::env::temp_dir().join(format!("sightline-rules-bench-{}", std::process::id()));
    let db = Db::open(&dir, Options::default()).expect("open tsdb");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let rounds = 60 * 60 * 1000 / STEP as usize; // one hour of history
    let t0 = now - rounds as i64 * STEP;
    let labels: Vec<Labels> = (0..series).map(series_labels).collect();
    let load = Instant::now();
    for r in 0..rounds {
        let mut app = db.appender();
        let t = t0 + r as i64 * STEP;
        for (i, l) in labels.iter().enumerate() {
            let _ = app.append(l, t, (r * (1 + i % 10)) as f64);
        }
        app.commit().expect("commit");
    }
    println!(
        "loaded {series} series × {rounds} samples in {:.1}s",
        load.elapsed().as_secs_f64()
    );

    let specs = sightline_rules::parse_str(&rules_yaml(nrules), "bench.yml").expect("rules");
    let mut group = Group::new(specs.into_iter().next().expect("one group"), STEP, 0);
    group.set_restored();
    let engine = Engine::new(EngineOptions::default());
    let ctx = EvalContext::new(
        engine,
        db.clone(),
        Vec::new(),
        "http://localhost:9090".into(),
    );
    let storage: Arc<dyn Appendable> = db.clone();
    let mut worst_cpu: f64 = 0.0;
    let mut worst_wall: f64 = 0.0;
    for it in 0..iterations {
        let ts = now + it as i64 * STEP;
        let (w0, c0) = (Instant::now(), cpu_seconds());
        group.eval(&ctx, storage.as_ref(), ts, 60_000);
        let (wall, cpu) = (w0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        let alerts: usize = group.rules.iter().map(|r| r.alerts.active.len()).sum();
        let errors = group
            .rules
            .iter()
            .filter(|r| !r.last_error.is_empty())
            .count();
        println!(
            "iteration {it}: {nrules} rules in {wall:.3}s wall, {cpu:.2}s CPU ({:.1}% of one core over 15s), {alerts} alerts, {errors} rule errors",
            cpu / 15.0 * 100.0
        );
        worst_cpu = worst_cpu.max(cpu);
        worst_wall = worst_wall.max(wall);
    }
    let ok = worst_wall <= 15.0 && worst_cpu <= 7.5;
    println!(
        "target (≤15s wall, ≤7.5s CPU per iteration): {} (worst {worst_wall:.3}s wall, {worst_cpu:.2}s CPU)",
        if ok { "MET" } else { "MISSED" }
    );
    let _ = db.close();
    let _ = std::fs::remove_dir_all(&dir);
}
