//! `sightline tsdb …`: backfill blocks from an exposition file and analyze cardinality.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::ExitCode;

use sightline_model::{Labels, MatchOp, Matcher, Sample};
use sightline_scrape::parser::{self, Entry, Format};
use sightline_tsdb::block::{BlockSeries, CompactionMeta, write_block};
use sightline_tsdb::{Db, Options, Queryable, SelectHints};

use crate::cli::{CreateBlocksFrom, TsdbCommand};

pub fn tsdb(c: TsdbCommand) -> ExitCode {
    let r = match c {
        TsdbCommand::CreateBlocksFrom(CreateBlocksFrom::Openmetrics {
            input,
            output,
            max_block_duration,
        }) => create_blocks(&input, &output, &max_block_duration),
        TsdbCommand::Analyze { dir, limit } => analyze(&dir, limit),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads every sample of the file into per-series vectors, then writes one
/// block per aligned window, as `promtool tsdb create-blocks-from openmetrics` does.
fn create_blocks(input: &Path, output: &Path, max_block: &str) -> Result<(), String> {
    let range = sightline_config::parse_duration(max_block)
        .map_err(|e| format!("--max-block-duration: {e}"))?
        .as_millis() as i64;
    let two_h = 2 * 3600 * 1000;
    if range < two_h || range % two_h != 0 {
        return Err("--max-block-duration must be a multiple of 2h".into());
    }
    let file = std::fs::File::open(input).map_err(|e| format!("{}: {e}", input.display()))?;
    // Safety: the input file is only read, and not expected to change while we run.
    let data =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("{}: {e}", input.display()))?;
    let start = std::time::Instant::now();
    let mut index: HashMap<u128, usize> = HashMap::new();
    let mut series: Vec<(Labels, Vec<Sample>)> = Vec::new();
    let mut total = 0u64;
    let mut sink = |e: Entry<'_>| -> Result<(), parser::SinkError> {
        let s = match e {
            Entry::Sample(s) | Entry::Created(s) => s,
            _ => return Ok(()),
        };
        if s.timestamp.is_none() {
            return Err("every sample needs a timestamp to be backfilled".into());
        }
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(s.name.as_bytes());
        for (n, v) in s.labels.iter() {
            h.update(&[0xff]);
            h.update(n.as_bytes());
            h.update(&[0xfe]);
            h.update(v.as_bytes());
        }
        let key = h.digest128();
        let i = *index.entry(key).or_insert_with(|| {
            series.push((s.to_labels(), Vec::new()));
            series.len() - 1
        });
        series[i].1.push(Sample { t: s.t, v: s.value });
        total += 1;
        Ok(())
    };
    // Lenient like promtool: backfill files interleave families across timestamps.
    let opts = parser::ParseOptions {
        validate_openmetrics: false,
    };
    parser::parse_with(Format::OpenMetrics, &data, 0, opts, &mut sink)
        .map_err(|e| format!("{}: {e}", input.display()))?;
    let parsed = start.elapsed();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let mut mint = i64::MAX;
    let mut maxt = i64::MIN;
    for (_, s) in series.iter_mut() {
        s.sort_by_key(|x| x.t);
        s.dedup_by_key(|x| x.t);
        if let (Some(a), Some(b)) = (s.first(), s.last()) {
            mint = mint.min(a.t);
            maxt = maxt.max(b.t);
        }
    }
    if total == 0 {
        return Err(format!("{}: no samples found", input.display()));
    }
    std::fs::create_dir_all(output).map_err(|e| format!("{}: {e}", output.display()))?;
    let mut w = mint.div_euclid(range) * range;
    let mut blocks = 0;
    while w <= maxt {
        let hi = w + range;
        let iter = series.iter().map(|(l, s)| {
            let lo_i = s.partition_point(|x| x.t < w);
            let hi_i = s.partition_point(|x| x.t < hi);
            BlockSeries {
                labels: l.clone(),
                samples: s[lo_i..hi_i].to_vec(),
                st: None,
                exemplars: Vec::new(),
            }
        });
        let meta = write_block(
            output,
            w,
            hi,
            CompactionMeta {
                level: 1,
                ..Default::default()
            },
            iter,
        )
        .map_err(|e| format!("writing block: {e}"))?;
        if let Some(m) = meta {
            blocks += 1;
            println!(
                "BLOCK ULID {}  MIN TIME {}  MAX TIME {}  SAMPLES {}  SERIES {}",
                m.ulid, m.min_time, m.max_time, m.stats.num_samples, m.stats.num_series
            );
        }
        w = hi;
    }
    eprintln!(
        "{} samples, {} series, {} blocks in {:.2?} (parse {:.2?})",
        total,
        series.len(),
        blocks,
        start.elapsed(),
        parsed
    );
    Ok(())
}

fn analyze(dir: &Path, limit: usize) -> Result<(), String> {
    let db = Db::open(
        dir,
        Options {
            retention_ms: i64::MAX / 4,
            ..Options::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let q = db.querier(i64::MIN, i64::MAX).map_err(|e| e.to_string())?;
    let all = Matcher::new(MatchOp::Regex, "__name__", ".+").map_err(|e| e.to_string())?;
    let series = q
        .select(
            &[all],
            &SelectHints {
                series_only: true,
                limit: 0,
            },
        )
        .map_err(|e| e.to_string())?;
    println!("Data directory: {}", dir.display());
    println!(
        "Blocks: {} (plus head with {} series)",
        db.blocks().len(),
        db.head().num_series()
    );
    if db.min_time() <= db.max_time() {
        println!(
            "Time range: {} .. {} ms ({:.1} h)",
            db.min_time(),
            db.max_time(),
            (db.max_time() - db.min_time()) as f64 / 3.6e6
        );
    }
    println!("Series: {}", series.len());
    let mut names: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    let mut pairs: HashMap<(&str, &str), usize> = HashMap::new();
    let mut metrics: HashMap<&str, usize> = HashMap::new();
    let mut value_len: HashMap<&str, usize> = HashMap::new();
    for s in &series {
        for l in &s.labels {
            names.entry(&l.name).or_default().insert(&l.value);
            *pairs.entry((&l.name, &l.value)).or_default() += 1;
        }
        if let Some(n) = s.labels.metric_name() {
            *metrics.entry(n).or_default() += 1;
        }
    }
    for (n, vals) in &names {
        value_len.insert(n, vals.iter().map(|v| v.len()).sum());
    }
    println!("Label names: {}", names.len());
    println!("Postings (unique label pairs): {}", pairs.len());
    println!(
        "Postings entries (total label pairs): {}",
        pairs.values().sum::<usize>()
    );
    let top = |title: &str, mut rows: Vec<(String, usize)>| {
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        println!("\n{title}:");
        for (k, v) in rows.into_iter().take(limit) {
            println!("{v} {k}");
        }
    };
    top(
        "Highest cardinality labels",
        names
            .iter()
            .map(|(n, v)| (n.to_string(), v.len()))
            .collect(),
    );
    top(
        "Highest cardinality metric names",
        metrics.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
    );
    top(
        "Most common label pairs",
        pairs
            .iter()
            .map(|((n, v), c)| (format!("{n}={v}"), *c))
            .collect(),
    );
    top(
        "Label names with highest cumulative label value length",
        value_len.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
    );
    Ok(())
}
