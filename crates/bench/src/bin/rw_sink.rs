//! A remote-write receiver that only counts: decodes each 1.0 request and
//! answers 204, so a forwarder (Sightline or Prometheus with `remote_write:`)
//! can be measured without a real storage behind it. Prints one line when
//! `--expect` samples have arrived: the seconds from the first request and
//! the newest sample timestamp seen.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9201")]
    addr: String,
    /// Samples to wait for before reporting.
    #[arg(long)]
    expect: u64,
}

struct Stats {
    samples: AtomicU64,
    requests: AtomicU64,
    newest: AtomicI64,
    first: first_request::Once,
    done: AtomicBool,
}

/// The instant of the first request.
mod first_request {
    use std::sync::OnceLock;
    use std::time::Instant;

    #[derive(Default)]
    pub struct Once(OnceLock<Instant>);

    impl Once {
        pub fn mark(&self) -> Instant {
            *self.0.get_or_init(Instant::now)
        }
    }
}

fn main() {
    let a = Args::parse();
    let l = TcpListener::bind(&a.addr).unwrap_or_else(|e| panic!("bind {}: {e}", a.addr));
    let st = Arc::new(Stats {
        samples: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        newest: AtomicI64::new(i64::MIN),
        first: Default::default(),
        done: AtomicBool::new(false),
    });
    eprintln!("rw_sink listening on {}", a.addr);
    for conn in l.incoming() {
        let Ok(mut s) = conn else { continue };
        let st = st.clone();
        let expect = a.expect;
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 1 << 16];
            loop {
                let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < p + 4 + len {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let started = st.first.mark();
                let body = &buf[p + 4..p + 4 + len];
                let (mut n, mut newest) = (0u64, i64::MIN);
                if let Ok(raw) = sightline_remote::decompress_snappy(body, 1 << 28) {
                    let _ = sightline_remote::for_each_series_v1(&raw, |sv| {
                        n += sv.samples.len() as u64;
                        for smp in sv.samples {
                            newest = newest.max(smp.t);
                        }
                    });
                }
                buf.drain(..p + 4 + len);
                st.newest.fetch_max(newest, Ordering::Relaxed);
                st.requests.fetch_add(1, Ordering::Relaxed);
                let total = st.samples.fetch_add(n, Ordering::Relaxed) + n;
                if total >= expect && !st.done.swap(true, Ordering::Relaxed) {
                    println!(
                        "samples={total} requests={} seconds_from_first_request={:.3} newest_ts={}",
                        st.requests.load(Ordering::Relaxed),
                        started.elapsed().as_secs_f64(),
                        st.newest.load(Ordering::Relaxed)
                    );
                    let _ = std::io::stdout().flush();
                }
                if s.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}
