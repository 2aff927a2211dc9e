//! Remote-write load generator: pre-encodes every request (RED dataset files
//! or synthetic series), then sends them over N keep-alive connections and
//! reports samples/s and the server's CPU seconds per million samples.

use std::time::Instant;

use clap::Parser;
use sightline_bench::{dataset, http::Conn, procstat};

#[derive(Parser)]
struct Args {
    /// host:port of the receiver.
    #[arg(long, default_value = "127.0.0.1:9090")]
    addr: String,
    /// OpenMetrics files to send (the RED dataset's part-*.om).
    #[arg(long)]
    files: Vec<String>,
    /// Synthetic series instead of files.
    #[arg(long, default_value_t = 0)]
    series: usize,
    /// Samples per synthetic series.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Samples per request (Prometheus 3.x sends up to 2000).
    #[arg(long, default_value_t = 2000)]
    per_request: usize,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Server pid, to report its CPU time and memory.
    #[arg(long)]
    pid: Option<u32>,
    /// Timestamp of the first synthetic sample (ms).
    #[arg(long, default_value_t = 1_704_067_200_000)]
    t0: i64,
}

fn main() {
    let a = Args::parse();
    let prep = Instant::now();
    // One shard per connection: a series always travels on the same connection,
    // in timestamp order, as with Prometheus's remote-write queue shards.
    let (shards, total) = if a.series > 0 {
        dataset::synthetic_requests(a.series, a.rounds, a.per_request, a.t0, a.connections)
    } else {
        dataset::red_requests(&a.files, a.per_request, a.connections)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let requests: usize = shards.iter().map(|s| s.len()).sum();
    let bytes: usize = shards.iter().flatten().map(|b| b.len()).sum();
    eprintln!(
        "prepared {requests} requests, {total} samples, {:.1} MiB in {:.1?}",
        bytes as f64 / 1048576.0,
        prep.elapsed()
    );
    let cpu0 = a.pid.and_then(procstat::cpu_seconds);
    let start = Instant::now();
    let mut threads = Vec::new();
    for shard in shards {
        let addr = a.addr.clone();
        threads.push(std::thread::spawn(move || {
            let mut c = Conn::connect(&addr).expect("connect");
            let mut errors = 0u64;
            for b in &shard {
                match c.remote_write(b) {
                    Ok((204, _)) => {}
                    Ok((code, body)) => {
                        errors += 1;
                        if errors < 3 {
                            eprintln!("HTTP {code}: {}", body.trim());
                        }
                    }
                    Err(e) => panic!("send: {e}"),
                }
            }
            errors
        }));
    }
    let errors: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let secs = start.elapsed().as_secs_f64();
    let cpu = match (cpu0, a.pid.and_then(procstat::cpu_seconds)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    println!("samples {total}");
    println!("seconds {secs:.3}");
    println!("samples_per_second {:.0}", total as f64 / secs);
    println!("error_responses {errors}");
    if let Some(c) = cpu {
        println!("server_cpu_seconds {c:.2}");
        println!(
            "server_cpu_seconds_per_million_samples {:.3}",
            c / (total as f64 / 1e6)
        );
    }
    if let Some(pid) = a.pid {
        for f in ["VmRSS", "RssAnon", "VmHWM"] {
            if let Some(k) = procstat::status_kib(pid, f) {
                println!("server_{f}_kib {k}");
            }
        }
    }
}
