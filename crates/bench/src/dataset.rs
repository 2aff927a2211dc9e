use std::collections::HashMap;
use std::path::Path;

use sightline_model::{Labels, Sample};
use sightline_scrape::parser::{self, Entry, Format, ParseOptions};

/// Encoded remote-write bodies, one list per sender shard (connection).
pub type ShardedBodies = Vec<Vec<Vec<u8>>>;

/// Reads OpenMetrics files (the RED dataset) and cuts them into remote-write
/// bodies of about `per_request` samples each, one list of bodies per sender
/// shard. Like Prometheus's queue manager, a series always goes through the
/// same shard (series id modulo `shards`) and each shard ships its samples in
/// timestamp order (the generator writes its pod shards one after the other,
/// so file order is not time order).
pub fn red_requests(
    files: &[impl AsRef<Path>],
    per_request: usize,
    shards: usize,
) -> Result<(ShardedBodies, u64), String> {
    let mut labels: Vec<Labels> = Vec::new();
    let mut index: HashMap<u128, u32> = HashMap::new();
    let mut samples: Vec<(i64, u32, f64)> = Vec::new();
    for f in files {
        let f = f.as_ref();
        let file = std::fs::File::open(f).map_err(|e| format!("{}: {e}", f.display()))?;
        // Safety: read-only mapping of a file nobody modifies while we run.
        let data = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| e.to_string())?;
        let mut sink = |e: Entry<'_>| -> Result<(), parser::SinkError> {
            let s = match e {
                Entry::Sample(s) | Entry::Created(s) => s,
                _ => return Ok(()),
            };
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(s.name.as_bytes());
            for (n, v) in s.labels.iter() {
                h.update(&[0xff]);
                h.update(n.as_bytes());
                h.update(&[0xfe]);
                h.update(v.as_bytes());
            }
            let id = *index.entry(h.digest128()).or_insert_with(|| {
                labels.push(s.to_labels());
                labels.len() as u32 - 1
            });
            samples.push((s.t, id, s.value));
            Ok(())
        };
        parser::parse_with(
            Format::OpenMetrics,
            &data,
            0,
            ParseOptions {
                validate_openmetrics: false,
            },
            &mut sink,
        )
        .map_err(|e| format!("{}: {e}", f.display()))?;
    }
    // Stable: samples of one timestamp keep their file order.
    samples.sort_by_key(|s| s.0);
    let total = samples.len() as u64;
    let shards = shards.max(1);
    let mut per_shard: Vec<Vec<(i64, u32, f64)>> = vec![Vec::new(); shards];
    for s in samples {
        per_shard[s.1 as usize % shards].push(s);
    }
    let bodies = per_shard
        .iter()
        .map(|shard| {
            shard
                .chunks(per_request)
                .map(|c| {
                    let batch: Vec<(Labels, Vec<Sample>)> = c
                        .iter()
                        .map(|&(t, id, v)| (labels[id as usize].clone(), vec![Sample { t, v }]))
                        .collect();
                    sightline_remote::encode_write_request_v1(&batch)
                })
                .collect()
        })
        .collect();
    Ok((bodies, total))
}

/// `series` synthetic RED-shaped series, `rounds` samples each (15s apart,
/// time-major), in bodies of `per_request` samples, sharded like `red_requests`.
pub fn synthetic_requests(
    series: usize,
    rounds: usize,
    per_request: usize,
    t0: i64,
    shards: usize,
) -> (ShardedBodies, u64) {
    let labels: Vec<Labels> = (0..series)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", "http_requests_total".to_string()),
                ("service", format!("svc-{}", i % 50)),
                ("route", format!("/api/v1/r{}", (i / 50) % 40)),
                ("method", ["GET", "POST", "PUT"][i % 3].to_string()),
                (
                    "status",
                    ["200", "404", "500", "503"][(i / 7) % 4].to_string(),
                ),
                ("pod", format!("pod-{}", i / 2000)),
                (
                    "instance",
                    format!("10.0.{}.{}:8080", (i / 2000) / 250, (i / 2000) % 250),
                ),
                ("job", "bench".to_string()),
            ])
        })
        .collect();
    let shards = shards.max(1);
    let mut bodies: Vec<Vec<Vec<u8>>> = vec![Vec::new(); shards];
    let mut batches: Vec<Vec<(Labels, Vec<Sample>)>> =
        vec![Vec::with_capacity(per_request); shards];
    let mut total = 0u64;
    for r in 0..rounds {
        let t = t0 + r as i64 * 15_000;
        for (i, l) in labels.iter().enumerate() {
            let k = i % shards;
            batches[k].push((
                l.clone(),
                vec![Sample {
                    t,
                    v: (r * 10 + i % 10) as f64,
                }],
            ));
            total += 1;
            if batches[k].len() >= per_request {
                bodies[k].push(sightline_remote::encode_write_request_v1(&batches[k]));
                batches[k].clear();
            }
        }
    }
    for (k, b) in batches.iter().enumerate() {
        if !b.is_empty() {
            bodies[k].push(sightline_remote::encode_write_request_v1(b));
        }
    }
    (bodies, total)
}
