//! A real client: Debian's `promtool query instant|range|series|labels`
//! against Sightline's Prometheus API.

use crate::common;
use crate::promdata;

use std::process::Command;

use common::{Server, remote_write};
use promdata::{base_time, dataset, secs, write_batches};

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool is installed (Debian prometheus package)");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "promtool {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn promtool_queries_work_against_sightline() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let srv = Server::start(
        &dir.path().join("data"),
        &[&format!("--config.file={}", cfg.display())],
    );
    let base = base_time();
    for body in write_batches(&dataset(base)) {
        assert_eq!(remote_write(srv.port, &body).unwrap().0, 204);
    }
    let url = srv.url("");
    let t = secs(base + 30 * 60_000);

    let out = promtool(&[
        "query",
        "instant",
        "--time",
        &t,
        &url,
        "sum by (service) (rate(http_requests_total[5m]))",
    ]);
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("=>")).collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(out.contains("{service=\"payment\"} =>"), "{out}");

    let out = promtool(&[
        "query",
        "instant",
        "--time",
        &t,
        &url,
        "count(http_requests_total)",
    ]);
    assert!(out.contains("{} => 144 @["), "{out}");

    let out = promtool(&[
        "query",
        "range",
        "--start",
        &secs(base + 10 * 60_000),
        "--end",
        &secs(base + 15 * 60_000),
        "--step",
        "1m",
        &url,
        "sum(http_requests_total) > 0",
    ]);
    // One series with six points, printed as `value @[ts]` lines.
    assert_eq!(out.matches(" @[").count(), 6, "{out}");

    let out = promtool(&[
        "query",
        "series",
        "--match",
        "process_resident_memory_bytes{service=\"cart\"}",
        &url,
    ]);
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("process_resident_memory_bytes"))
            .count(),
        2,
        "{out}"
    );
    assert!(out.contains("pod=\"cart-0\""), "{out}");

    let out = promtool(&["query", "labels", &url, "service"]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["api-gateway", "api-orders", "cart", "payment"],
        "{out}"
    );

    // Errors surface as promtool failures with Prometheus's message.
    let out = Command::new("promtool")
        .args(["query", "instant", &url, "sum(rate(x[5m]"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad_data"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
