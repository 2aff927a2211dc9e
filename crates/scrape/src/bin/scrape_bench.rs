//! Scrape benchmarks (run in release by the lead; tested in debug on tiny sizes).
//!
//! ```text
//! scrape_bench parse FILE... [--repeat N]
//!     Parser throughput on exposition files (e.g. the RED dataset from
//!     ../shared/bench/gen_red_dataset.py): samples/s and MB/s.
//! scrape_bench scrape [--targets 1000] [--series 1000] [--interval-ms 1000]
//!                     [--warmup-s 5] [--seconds 30] [--prometheus /usr/bin/prometheus]
//!     Serves TARGETS × SERIES on loopback from a child process, scrapes them
//!     with the ScrapeManager into a TSDB, and reports CPU seconds per million
//!     samples ingested; with --prometheus, Prometheus scrapes the same
//!     targets in the same run and is measured the same way.
//! scrape_bench serve --targets N --series M --port P
//!     (internal) the target process.
//! ```
//! CPU time comes from /proc/<pid>/stat (utime+stime at 100 ticks/s).

use std::collections::HashMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sightline_model::{Exemplar, Labels, MetricMetadata};
use sightline_scrape::ScrapeManager;
use sightline_scrape::parser::{self, Entry, Format};
use sightline_tsdb::{Appendable, Appender, CommitStats, RejectReason, SeriesHandle, SeriesRef};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn flag(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn num(args: &[String], name: &str, default: u64) -> u64 {
    flag(args, name, &default.to_string())
        .parse()
        .unwrap_or_else(|_| panic!("{name} must be a number"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("parse") => parse_bench(&args[1..]),
        Some("scrape") => scrape_bench(&args[1..]),
        Some("serve") => serve(&args[1..]),
        _ => {
            eprintln!(
                "usage: scrape_bench parse FILE... | scrape [--targets N --series M ...] | serve ..."
            );
            std::process::exit(2);
        }
    }
}

/// CPU seconds (user+system) a process used so far.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14th and 15th overall.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn parse_bench(args: &[String]) {
    let repeat = num(args, "--repeat", 1);
    let files: Vec<&String> = args.iter().take_while(|a| !a.starts_with("--")).collect();
    assert!(!files.is_empty(), "parse: give exposition files");
    let mut total_bytes = 0u64;
    let mut total_samples = 0u64;
    let cpu0 = cpu_seconds("self");
    let t0 = Instant::now();
    for _ in 0..repeat {
        for f in &files {
            let data = std::fs::read(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            let format = if data.ends_with(b"# EOF\n") || data.ends_with(b"# EOF") {
                Format::OpenMetrics
            } else {
                Format::PrometheusText
            };
            let mut n = 0u64;
            let mut sink = |e: Entry<'_>| -> Result<(), parser::SinkError> {
                if let Entry::Sample(s) = e {
                    n += 1;
                    std::hint::black_box(s.value);
                }
                Ok(())
            };
            // Family-level OpenMetrics checks off, as in scrape loops (Prometheus only checks syntax).
            let opts = parser::ParseOptions {
                validate_openmetrics: false,
            };
            parser::parse_with(format, &data, 0, opts, &mut sink)
                .unwrap_or_else(|e| panic!("{f}: {e}"));
            total_bytes += data.len() as u64;
            total_samples += n;
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds("self") - cpu0;
    println!("| parser | bytes | samples | wall s | CPU s | samples/s | MB/s |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| sightline | {total_bytes} | {total_samples} | {wall:.3} | {cpu:.2} | {:.0} | {:.1} |",
        total_samples as f64 / wall,
        total_bytes as f64 / wall / 1e6
    );
}

/// The exposition one target serves: `series` counters with RED-like labels.
fn body(target: u64, series: u64) -> String {
    let mut s = String::from(
        "# HELP bench_requests_total Requests.\n# TYPE bench_requests_total counter\n",
    );
    for i in 0..series {
        s.push_str(&format!(
            "bench_requests_total{{service=\"svc{}\",route=\"/api/v{}/items\",method=\"GET\",status=\"{}\",pod=\"pod-{target}\"}} {}\n",
            i % 12,
            i,
            200 + (i % 5),
            i * 7 + target
        ));
    }
    s
}

fn serve(args: &[String]) {
    let targets = num(args, "--targets", 10);
    let series = num(args, "--series", 10);
    let port = num(args, "--port", 0) as u16;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        for t in 0..targets {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port + t as u16)).await.expect("bind target port");
            let body = Arc::new(body(t, series));
            tokio::spawn(async move {
                while let Ok((mut conn, _)) = listener.accept().await {
                    let body = body.clone();
                    tokio::spawn(async move {
                        let mut buf = Vec::new();
                        let mut tmp = [0u8; 4096];
                        loop {
                            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                                match conn.read(&mut tmp).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                                }
                            }
                            let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                            buf.drain(..end);
                            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n", body.len());
                            if conn.write_all(head.as_bytes()).await.is_err() || conn.write_all(body.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
        }
        println!("ready");
        let _ = std::io::stdout().flush();
        std::future::pending::<()>().await;
    });
}

/// Counts samples on their way into the real TSDB.
struct Counting {
    inner: Arc<sightline_tsdb::Db>,
    samples: AtomicU64,
}

struct CountingAppender<'a> {
    inner: Box<dyn Appender + 'a>,
    n: u64,
    total: &'a AtomicU64,
}

impl Appendable for Counting {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(CountingAppender {
            inner: self.inner.appender(),
            n: 0,
            total: &self.samples,
        })
    }
}

impl Appender for CountingAppender<'_> {
    fn append(&mut self, l: &Labels, t: i64, v: f64) -> Result<SeriesRef, RejectReason> {
        self.n += 1;
        self.inner.append(l, t, v)
    }
    fn append_ref(&mut self, r: SeriesRef, t: i64, v: f64) -> Option<Result<(), RejectReason>> {
        let res = self.inner.append_ref(r, t, v);
        if res.is_some() {
            self.n += 1;
        }
        res
    }
    fn append_handle(
        &mut self,
        r: SeriesRef,
        handle: &mut Option<SeriesHandle>,
        t: i64,
        v: f64,
    ) -> Option<Result<(), RejectReason>> {
        let res = self.inner.append_handle(r, handle, t, v);
        if res.is_some() {
            self.n += 1;
        }
        res
    }
    fn append_exemplar(&mut self, r: SeriesRef, e: &Exemplar) -> Result<(), RejectReason> {
        self.inner.append_exemplar(r, e)
    }
    fn update_metadata(&mut self, f: &str, md: &MetricMetadata) {
        self.inner.update_metadata(f, md)
    }
    fn commit(self: Box<Self>) -> sightline_tsdb::Result<CommitStats> {
        self.total.fetch_add(self.n, Ordering::Relaxed);
        self.inner.commit()
    }
    fn rollback(self: Box<Self>) {
        self.inner.rollback()
    }
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port_range(n: u64) -> u16 {
    // A base where n consecutive ports are free right now.
    'base: for base in (20000u16..60000).step_by(1500) {
        for p in 0..n as u16 {
            if std::net::TcpListener::bind(("127.0.0.1", base + p)).is_err() {
                continue 'base;
            }
        }
        return base;
    }
    panic!("no free port range");
}

/// Prometheus's own counter of appended samples, from its /metrics.
fn prom_samples(port: u16) -> f64 {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return f64::NAN;
    };
    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    // 2.42 splits the counter by `type` (float, histogram): sum the children.
    let vals: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("prometheus_tsdb_head_samples_appended_total"))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse().ok()))
        .collect();
    if vals.is_empty() {
        f64::NAN
    } else {
        vals.iter().sum()
    }
}

fn scrape_bench(args: &[String]) {
    let targets = num(args, "--targets", 1000);
    let series = num(args, "--series", 1000);
    let interval_ms = num(args, "--interval-ms", 1000);
    let warmup = Duration::from_secs(num(args, "--warmup-s", 5));
    let measure = Duration::from_secs(num(args, "--seconds", 30));
    let prometheus = flag(args, "--prometheus", "");
    let base = free_port_range(targets);
    let exe = std::env::current_exe().unwrap();
    let mut server = Command::new(exe)
        .args([
            "serve",
            "--targets",
            &targets.to_string(),
            "--series",
            &series.to_string(),
            "--port",
            &base.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn target server");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready", "target server failed");
    let _server = Kill(server);

    let tmp = std::env::temp_dir().join(format!("scrape-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let addrs: Vec<String> = (0..targets)
        .map(|t| format!("'127.0.0.1:{}'", base + t as u16))
        .collect();
    let interval = format!("{interval_ms}ms");
    let cfg_text = format!(
        "global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\nscrape_configs:\n  - job_name: bench\n    static_configs:\n      - targets: [{}]\n",
        addrs.join(", ")
    );
    std::fs::create_dir_all(&tmp).unwrap();
    let cfg_path = tmp.join("prometheus.yml");
    std::fs::write(&cfg_path, &cfg_text).unwrap();

    let prom = (!prometheus.is_empty()).then(|| {
        let port = free_port_range(1);
        let child = Command::new(&prometheus)
            .arg(format!("--config.file={}", cfg_path.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!(
                "--storage.tsdb.path={}",
                tmp.join("prom").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn prometheus");
        (Kill(child), port)
    });

    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = sightline_tsdb::Db::open(&tmp.join("sightline"), sightline_tsdb::Options::default())
        .expect("open tsdb");
    let store = Arc::new(Counting {
        inner: db.clone(),
        samples: AtomicU64::new(0),
    });
    let cfg = sightline_config::load_str(&cfg_text, "bench.yml").unwrap();
    let result = rt.block_on(async {
        let m = ScrapeManager::new(store.clone());
        m.apply(&cfg);
        tokio::time::sleep(warmup).await;
        let snap = |p: Option<u16>| {
            (
                cpu_seconds("self"),
                store.samples.load(Ordering::Relaxed) as f64,
                p.map(prom_samples),
            )
        };
        let prom_pid = prom.as_ref().map(|(k, _)| k.0.id().to_string());
        let prom_port = prom.as_ref().map(|(_, p)| *p);
        let (c0, s0, ps0) = snap(prom_port);
        let pc0 = prom_pid.as_deref().map(cpu_seconds);
        tokio::time::sleep(measure).await;
        let (c1, s1, ps1) = snap(prom_port);
        let pc1 = prom_pid.as_deref().map(cpu_seconds);
        let health: HashMap<&str, usize> = m.targets().iter().fold(HashMap::new(), |mut h, t| {
            *h.entry(t.health.health.as_str()).or_default() += 1;
            h
        });
        m.stop().await;
        (
            c1 - c0,
            s1 - s0,
            pc0.zip(pc1).map(|(a, b)| b - a),
            ps0.zip(ps1).map(|(a, b)| b - a),
            format!("{health:?}"),
        )
    });
    let _ = db.close();
    let _ = std::fs::remove_dir_all(&tmp);
    let (cpu, samples, pcpu, psamples, health) = result;
    println!(
        "targets: {targets} × {series} series, interval {interval_ms}ms, measured {:?}; sightline target health {health}",
        measure
    );
    println!("| scraper | samples | CPU s | CPU s per 1M samples |");
    println!("|---|---|---|---|");
    println!(
        "| sightline | {samples:.0} | {cpu:.2} | {:.3} |",
        cpu / (samples / 1e6).max(1e-9)
    );
    if let (Some(pc), Some(ps)) = (pcpu, psamples) {
        println!(
            "| prometheus | {ps:.0} | {pc:.2} | {:.3} |",
            pc / (ps / 1e6).max(1e-9)
        );
    }
}
