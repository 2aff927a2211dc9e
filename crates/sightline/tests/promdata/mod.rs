//! A small deterministic RED dataset (request counters, latency histograms,
//! memory gauges) for the Prometheus-API tests, pushed over remote write.
#![allow(dead_code)]

use sightline_model::{Labels, Sample};

pub const INTERVAL_MS: i64 = 15_000;
/// One hour of data.
pub const STEPS: i64 = 240;
pub const BUCKETS: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

pub struct Series {
    pub labels: Labels,
    /// Sample time offset inside each 15s interval (1..13s): samples never sit
    /// on query window edges, where Prometheus 2.x and 3.x differ.
    pub offset_ms: i64,
    pub samples: Vec<Sample>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
}

/// Builds the dataset starting at `base` (ms, a multiple of 60s).
pub fn dataset(base: i64) -> Vec<Series> {
    let services = ["api-gateway", "api-orders", "payment", "cart"];
    let routes = ["/api/v1/orders", "/api/v1/cart", "/health"];
    let methods = ["GET", "POST"];
    let pods = ["0", "1"];
    let mut rng = Rng(42);
    let mut out = Vec::new();
    let mut offset_seq = 0i64;
    let mut next_offset = || {
        offset_seq += 1;
        1000 + (offset_seq * 7 % 13) * 1000
    };
    for (si, svc) in services.iter().enumerate() {
        for route in routes {
            for method in methods {
                for pod in pods {
                    let pod_name = format!("{svc}-{pod}");
                    // Request counters by status.
                    for (k, status) in ["200", "500", "503"].iter().enumerate() {
                        let off = next_offset();
                        let mut v = 1000.0 + rng.next() * 500.0;
                        let mut samples = Vec::new();
                        for i in 0..STEPS {
                            let rate = match k {
                                0 => 5.0 + si as f64,
                                _ if *svc == "payment" && i > STEPS * 2 / 3 => 1.5,
                                _ => 0.05,
                            };
                            // Fractional increments keep aggregated rates free of ties (topk order).
                            v += rate * 15.0 * (0.5 + rng.next());
                            samples.push(Sample {
                                t: base + i * INTERVAL_MS + off,
                                v,
                            });
                        }
                        out.push(Series {
                            labels: labels(&[
                                ("__name__", "http_requests_total"),
                                ("service", svc),
                                ("route", route),
                                ("method", method),
                                ("status", status),
                                ("pod", &pod_name),
                            ]),
                            offset_ms: off,
                            samples,
                        });
                    }
                    // Latency histogram (cumulative buckets, sum, count).
                    let off = next_offset();
                    let mut counts = [0.0f64; 12];
                    let mut sum = 0.0;
                    let mut per_step: Vec<([f64; 12], f64)> = Vec::new();
                    for i in 0..STEPS {
                        let n = (20.0 * (0.5 + rng.next())).round() as usize;
                        for _ in 0..n {
                            let slow = if *svc == "payment" {
                                1.0 + 4.0 * i as f64 / STEPS as f64
                            } else {
                                1.0
                            };
                            let lat = 0.02 * slow * (-(rng.next().max(1e-9)).ln()) * 3.0;
                            sum += lat;
                            for (b, le) in BUCKETS.iter().enumerate() {
                                let bound: f64 = if *le == "+Inf" {
                                    f64::INFINITY
                                } else {
                                    le.parse().unwrap()
                                };
                                if lat <= bound {
                                    counts[b] += 1.0;
                                }
                            }
                        }
                        per_step.push((counts, sum));
                    }
                    let base_labels = [
                        ("service", *svc),
                        ("route", route),
                        ("method", method),
                        ("pod", pod_name.as_str()),
                    ];
                    for (b, le) in BUCKETS.iter().enumerate() {
                        let mut l: Vec<(&str, &str)> = base_labels.to_vec();
                        l.push(("__name__", "http_request_duration_seconds_bucket"));
                        l.push(("le", le));
                        out.push(Series {
                            labels: labels(&l),
                            offset_ms: off,
                            samples: (0..STEPS as usize)
                                .map(|i| Sample {
                                    t: base + i as i64 * INTERVAL_MS + off,
                                    v: per_step[i].0[b],
                                })
                                .collect(),
                        });
                    }
                    for (name, f) in [
                        ("http_request_duration_seconds_sum", 0usize),
                        ("http_request_duration_seconds_count", 1usize),
                    ] {
                        let mut l: Vec<(&str, &str)> = base_labels.to_vec();
                        l.push(("__name__", name));
                        out.push(Series {
                            labels: labels(&l),
                            offset_ms: off,
                            samples: (0..STEPS as usize)
                                .map(|i| Sample {
                                    t: base + i as i64 * INTERVAL_MS + off,
                                    v: if f == 0 {
                                        per_step[i].1
                                    } else {
                                        per_step[i].0[11]
                                    },
                                })
                                .collect(),
                        });
                    }
                }
            }
        }
        for pod in pods {
            let off = next_offset();
            let pod_name = format!("{svc}-{pod}");
            let mut v = 2e8 + rng.next() * 1e8;
            out.push(Series {
                labels: labels(&[
                    ("__name__", "process_resident_memory_bytes"),
                    ("service", svc),
                    ("pod", &pod_name),
                ]),
                offset_ms: off,
                samples: (0..STEPS)
                    .map(|i| {
                        v += (rng.next() - 0.45) * 1e6;
                        Sample {
                            t: base + i * INTERVAL_MS + off,
                            v: v.round(),
                        }
                    })
                    .collect(),
            });
        }
    }
    out
}

/// Remote-write bodies in global time order (one request per 15s slot), so a
/// Prometheus head accepts every sample.
pub fn write_batches(data: &[Series]) -> Vec<Vec<u8>> {
    (0..STEPS as usize)
        .map(|i| {
            let batch: Vec<(Labels, Vec<Sample>)> = data
                .iter()
                .map(|s| (s.labels.clone(), vec![s.samples[i]]))
                .collect();
            sightline_remote::encode_write_request_v1(&batch)
        })
        .collect()
}

/// A data start two hours before now, aligned to the hour.
pub fn base_time() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (now / 3_600_000 - 2) * 3_600_000
}

pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `query=...&k=v` with values URL-encoded.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn secs(ms: i64) -> String {
    format!("{}", ms as f64 / 1000.0)
}
