//! One target's scrape loop: fetch, parse, append, mark staleness, report.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use sightline_config::RelabelConfig;
use sightline_discovery::oauth2::OAuth2Source;
use sightline_model::{Exemplar, Labels, LabelsBuilder, MetricMetadata, stale_nan};
use sightline_tsdb::{Appendable, SeriesHandle, SeriesRef};
use tokio::sync::watch;

use crate::metrics::{LimitHit, ScrapeMetrics};
use crate::parser::{self, Entry, Format, SampleRef};
use crate::target::Target;

/// What `/api/v1/targets` shows about a target.
#[derive(Clone, Debug, Default)]
pub struct TargetHealth {
    pub health: Health,
    pub last_error: String,
    /// Unix ms of the last scrape start (0 before the first).
    pub last_scrape_ms: i64,
    pub last_duration: Duration,
    pub last_samples: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Health {
    #[default]
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// Per-loop settings from the scrape config.
#[derive(Clone, Debug, Default)]
pub struct LoopSettings {
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    /// Staleness markers also for series exposed with their own timestamps.
    pub track_timestamps_staleness: bool,
    /// Most samples accepted per scrape after metric relabeling (0: no limit).
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub accept: String,
    pub body_limit: u64,
    pub metric_relabel: Arc<Vec<RelabelConfig>>,
}

/// What the last scrapes decided for one exposed series.
enum Cached {
    Stored {
        r: SeriesRef,
        labels: Labels,
        /// The storage's handle for `r`, when it gives one (skips its lookup by ref).
        handle: Option<SeriesHandle>,
    },
    /// Dropped by metric relabeling: remembered so the rules run once per series.
    Dropped,
}

struct CacheEntry {
    key: u128,
    kind: Cached,
    seen: u64,
    /// Gets a staleness marker when it disappears: false for a series last
    /// exposed with its own timestamp (unless `track_timestamps_staleness`),
    /// as Prometheus does.
    track: bool,
}

/// The cache keys are already xxh3 hashes: the index uses them as they are.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 ^= (v as u64) ^ ((v >> 64) as u64);
    }
}

type KeyIndex = HashMap<u128, usize, BuildHasherDefault<KeyHasher>>;

/// A report series (`up`, …) with what the last report stored.
struct ReportSeries {
    labels: Labels,
    r: Option<SeriesRef>,
    handle: Option<SeriesHandle>,
    /// Stored by the last report (so it gets a staleness marker on stop).
    stored: bool,
}

const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Metadata by metric family, as the target last exposed it.
pub type TargetMetadata = HashMap<String, MetricMetadata>;

pub struct ScrapeLoop {
    pub target: Target,
    pub settings: LoopSettings,
    pub health: Arc<Mutex<TargetHealth>>,
    pub metadata: Arc<Mutex<TargetMetadata>>,
    /// Set by the pool (e.g. `target_limit` exceeded): scrapes fail with it unattempted.
    pub forced_error: Arc<Mutex<Option<String>>>,
    client: reqwest::Client,
    oauth2: Option<Arc<OAuth2Source>>,
    metrics: Arc<ScrapeMetrics>,
    /// Where the time since the previous scrape goes, and when that was.
    interval_length: Option<Arc<sightline_model::summary::Summary>>,
    last_start: Option<Instant>,
    store: Arc<dyn Appendable>,
    /// Series of the last successful scrape, in exposition order (new ones at the
    /// end), keyed by a hash of the exposed name+labels. A target exposing its
    /// series in the same order as last time is matched entry by entry.
    cache: Vec<CacheEntry>,
    /// Position in `cache` by key.
    index: KeyIndex,
    iteration: u64,
    /// Report series (`up`, …), built on the first report; kept for staleness on stop.
    report_series: Vec<ReportSeries>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn series_key(s: &SampleRef<'_>) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(s.name.as_bytes());
    for (n, v) in s.labels.iter() {
        h.update(&[0xff]);
        h.update(n.as_bytes());
        h.update(&[0xfe]);
        h.update(v.as_bytes());
    }
    h.digest128()
}

/// The stored label set: exposed labels merged with the target's. With
/// `honor_labels` the exposed ones win; otherwise clashing exposed labels are
/// kept as `exported_<name>` (Prometheus's rule).
pub fn merge_labels(s: &SampleRef<'_>, target: &Labels, honor: bool) -> Labels {
    let mut b = LabelsBuilder::new();
    for (n, v) in s.labels.iter() {
        b.set(n, v);
    }
    b.set(sightline_model::METRIC_NAME, s.name);
    for l in target {
        match b.get(&l.name) {
            Some(_) if honor => {}
            Some(existing) => {
                let existing = existing.to_string();
                let mut name = format!("exported_{}", l.name);
                while b.get(&name).is_some() {
                    name = format!("exported_{name}");
                }
                b.set(name, existing);
                b.set(l.name.clone(), l.value.clone());
            }
            None => {
                b.set(l.name.clone(), l.value.clone());
            }
        }
    }
    b.build()
}

impl ScrapeLoop {
    pub fn new(
        target: Target,
        settings: LoopSettings,
        client: reqwest::Client,
        store: Arc<dyn Appendable>,
    ) -> Self {
        ScrapeLoop {
            target,
            settings,
            health: Arc::new(Mutex::new(TargetHealth::default())),
            metadata: Arc::new(Mutex::new(HashMap::new())),
            forced_error: Arc::new(Mutex::new(None)),
            client,
            oauth2: None,
            metrics: Arc::new(ScrapeMetrics::default()),
            interval_length: None,
            last_start: None,
            store,
            cache: Vec::new(),
            index: KeyIndex::default(),
            iteration: 0,
            report_series: Vec::new(),
        }
    }

    /// Counts limit hits and refused samples into the manager's counters.
    pub fn with_metrics(mut self, metrics: Arc<ScrapeMetrics>) -> Self {
        self.interval_length = Some(metrics.interval_summary(self.target.interval));
        self.metrics = metrics;
        self
    }

    /// Scrapes with OAuth 2.0 client-credentials tokens from `source`.
    pub fn with_oauth2(mut self, source: Option<Arc<OAuth2Source>>) -> Self {
        self.oauth2 = source;
        self
    }

    /// Runs until `stop` flips; then writes staleness markers for everything it exposed.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let interval = self.target.interval.max(Duration::from_millis(1));
        // A stable per-target offset spreads scrapes over the interval.
        let offset_ms = (self.target.key() % interval.as_millis().max(1) as u64) as i64;
        let now = now_ms();
        let iv = interval.as_millis() as i64;
        let first = now - now.rem_euclid(iv) + offset_ms;
        let first = if first < now { first + iv } else { first };
        let sleep = Duration::from_millis((first - now) as u64);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = stop.changed() => { return; }
        }
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => break,
            }
            self.scrape_once().await;
        }
        self.mark_all_stale(now_ms());
    }

    pub async fn scrape_once(&mut self) {
        let start_ms = now_ms();
        let started = Instant::now();
        if let (Some(prev), Some(s)) = (self.last_start, &self.interval_length) {
            s.observe(started.duration_since(prev).as_secs_f64());
        }
        self.last_start = Some(started);
        let forced = self.forced_error.lock().clone();
        let result = match forced {
            Some(e) => Err(e),
            None => self.fetch().await,
        };
        let (ok, stats, err) = match result {
            Ok((body, format)) => match self.ingest(&body, format, start_ms) {
                Ok(stats) => (true, stats, String::new()),
                Err(e) => (false, IngestStats::default(), e),
            },
            Err(e) => (false, IngestStats::default(), e),
        };
        if !ok {
            // A failed scrape ingests nothing and ends every series it exposed before.
            self.mark_all_stale_except_report(start_ms);
        }
        let dur = started.elapsed();
        self.report(start_ms, ok, dur, &stats);
        let mut h = self.health.lock();
        h.health = if ok { Health::Up } else { Health::Down };
        h.last_error = err;
        h.last_scrape_ms = start_ms;
        h.last_duration = dur;
        h.last_samples = stats.scraped;
    }

    async fn fetch(&self) -> Result<(bytes::Bytes, Format), String> {
        let req = self
            .client
            .get(&self.target.url)
            .header(reqwest::header::ACCEPT, &self.settings.accept)
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", self.target.timeout.as_secs_f64()),
            )
            .timeout(self.target.timeout);
        let req = match &self.oauth2 {
            Some(o) => o.apply(req).await?,
            None => req,
        };
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                "context deadline exceeded".to_string()
            } else {
                format!("Get \"{}\": {}", self.target.url, error_chain(&e))
            }
        })?;
        if !resp.status().is_success() {
            return Err(format!("server returned HTTP status {}", resp.status()));
        }
        let ct = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp.bytes().await.map_err(|e| error_chain(&e))?;
        if self.settings.body_limit > 0 && body.len() as u64 > self.settings.body_limit {
            ScrapeMetrics::inc(&self.metrics.exceeded_body_size_limit, 1);
            return Err(format!(
                "body size limit exceeded ({} bytes)",
                self.settings.body_limit
            ));
        }
        Ok((body, parser::format_from_content_type(&ct)))
    }

    /// Parses and appends one scrape; all or nothing.
    fn ingest(&mut self, body: &[u8], format: Format, t: i64) -> Result<IngestStats, String> {
        self.iteration += 1;
        let iter = self.iteration;
        let mut app = self.store.appender();
        let mut stats = IngestStats::default();
        let mut refused = 0u64;
        let mut metadata: TargetMetadata = HashMap::new();
        let st = &self.settings;
        let target_labels = &self.target.labels;
        let cache = &mut self.cache;
        let index = &mut self.index;
        let metrics = &self.metrics;
        let mut limit_hit = None;
        // Entries from here on are new in this scrape.
        let known = cache.len();
        // Where the next series is expected when the order did not change.
        let mut pos = 0usize;
        let mut sink = |e: Entry<'_>| -> Result<(), parser::SinkError> {
            let s = match e {
                Entry::Sample(s) | Entry::Created(s) => s,
                Entry::Type { family, kind } => {
                    metadata.entry(family.to_string()).or_default().kind = kind;
                    return Ok(());
                }
                Entry::Help { family, text } => {
                    metadata.entry(family.to_string()).or_default().help = text.to_string();
                    return Ok(());
                }
                Entry::Unit { family, unit } => {
                    metadata.entry(family.to_string()).or_default().unit = unit.to_string();
                    return Ok(());
                }
            };
            stats.scraped += 1;
            let ts = if st.honor_timestamps {
                s.timestamp.unwrap_or(t)
            } else {
                t
            };
            let track =
                !(st.honor_timestamps && s.timestamp.is_some()) || st.track_timestamps_staleness;
            let key = series_key(&s);
            let found = if cache.get(pos).is_some_and(|c| c.key == key) {
                Some(pos)
            } else {
                index.get(&key).copied()
            };
            let res = match found {
                Some(i) => {
                    pos = i + 1;
                    let c = &mut cache[i];
                    c.seen = iter;
                    c.track = track;
                    let Cached::Stored { r, labels, handle } = &mut c.kind else {
                        return Ok(());
                    };
                    stats.accepted += 1;
                    check_sample_limit(stats.accepted, st.sample_limit)
                        .inspect_err(|_| limit_hit = Some(LimitHit::Sample))?;
                    match app.append_handle(*r, handle, ts, s.value) {
                        Some(res) => res.map(|_| *r),
                        None => {
                            // The storage forgot the series (collected): store it anew.
                            let res = app.append(labels, ts, s.value);
                            if let Ok(nr) = res {
                                *r = nr;
                            }
                            res
                        }
                    }
                }
                None => {
                    let merged = merge_labels(&s, target_labels, st.honor_labels);
                    let relabeled = if st.metric_relabel.is_empty() {
                        Some(merged)
                    } else {
                        crate::relabel::process(&merged, &st.metric_relabel)
                            .filter(|l| !l.is_empty())
                    };
                    let Some(labels) = relabeled else {
                        index.insert(key, cache.len());
                        cache.push(CacheEntry {
                            key,
                            kind: Cached::Dropped,
                            seen: iter,
                            track,
                        });
                        return Ok(());
                    };
                    check_label_limits(&labels, st)
                        .inspect_err(|_| limit_hit = Some(LimitHit::Label))?;
                    stats.accepted += 1;
                    check_sample_limit(stats.accepted, st.sample_limit)
                        .inspect_err(|_| limit_hit = Some(LimitHit::Sample))?;
                    let res = app.append(&labels, ts, s.value);
                    if let Ok(r) = res {
                        stats.added += 1;
                        index.insert(key, cache.len());
                        cache.push(CacheEntry {
                            key,
                            kind: Cached::Stored {
                                r,
                                labels,
                                handle: None,
                            },
                            seen: iter,
                            track,
                        });
                    }
                    res
                }
            };
            match res {
                Ok(r) => {
                    if let Some(ex) = &s.exemplar {
                        let labels = Labels::from_pairs(ex.labels.iter());
                        let _ = app.append_exemplar(
                            r,
                            &Exemplar {
                                labels,
                                t: ex.timestamp.unwrap_or(ts),
                                v: ex.value,
                            },
                        );
                    }
                }
                Err(reason) => {
                    refused += 1;
                    metrics.count_reject(reason);
                }
            }
            Ok(())
        };
        if let Err(e) = parser::parse_with(
            format,
            body,
            t,
            parser::ParseOptions {
                validate_openmetrics: false,
            },
            &mut sink,
        ) {
            app.rollback();
            match limit_hit {
                Some(LimitHit::Sample) => {
                    ScrapeMetrics::inc(&self.metrics.exceeded_sample_limit, 1)
                }
                Some(LimitHit::Label) => ScrapeMetrics::inc(&self.metrics.exceeded_label_limits, 1),
                None => {}
            }
            // Series first seen in the failed scrape were never stored: forget them.
            for c in self.cache.drain(known..) {
                self.index.remove(&c.key);
            }
            // A refusal (limit) reads like Prometheus's, without a line number.
            return Err(match e.kind {
                parser::ParseErrorKind::Sink(_) => e.message(),
                parser::ParseErrorKind::Syntax(_) => e.to_string(),
            });
        }
        for (family, md) in &metadata {
            app.update_metadata(family, md);
        }
        // Series exposed last time but not now get a staleness marker.
        if self.cache.iter().any(|c| c.seen != iter) {
            self.cache.retain_mut(|c| {
                if c.seen == iter {
                    return true;
                }
                if let Cached::Stored { r, handle, .. } = &mut c.kind
                    && c.track
                {
                    let _ = app.append_handle(*r, handle, t, stale_nan());
                }
                false
            });
            self.index.clear();
            for (i, c) in self.cache.iter().enumerate() {
                self.index.insert(c.key, i);
            }
        }
        app.commit().map_err(|e| format!("storage: {e}"))?;
        *self.metadata.lock() = metadata;
        if refused > 0 {
            tracing::debug!(target = %self.target.url, refused, "samples refused by storage");
        }
        Ok(stats)
    }

    fn report(&mut self, t: i64, up: bool, dur: Duration, stats: &IngestStats) {
        let mut app = self.store.appender();
        let values = [
            if up { 1.0 } else { 0.0 },
            dur.as_secs_f64(),
            stats.scraped as f64,
            stats.accepted as f64,
            stats.added as f64,
        ];
        if self.report_series.is_empty() {
            self.report_series = REPORT_NAMES
                .iter()
                .map(|name| {
                    let mut b = self.target.labels.to_builder();
                    b.set(sightline_model::METRIC_NAME, *name);
                    ReportSeries {
                        labels: b.build(),
                        r: None,
                        handle: None,
                        stored: false,
                    }
                })
                .collect();
        }
        for (rs, v) in self.report_series.iter_mut().zip(values) {
            let res =
                rs.r.and_then(|r| app.append_handle(r, &mut rs.handle, t, v));
            rs.stored = match res {
                Some(res) => res.is_ok(),
                None => match app.append(&rs.labels, t, v) {
                    Ok(r) => {
                        rs.r = Some(r);
                        rs.handle = None;
                        true
                    }
                    Err(_) => false,
                },
            };
        }
        if let Err(e) = app.commit() {
            tracing::warn!(error = %e, "storing scrape report failed");
        }
    }

    fn mark_all_stale_except_report(&mut self, t: i64) {
        if self.cache.is_empty() {
            return;
        }
        let mut app = self.store.appender();
        self.index.clear();
        for mut c in self.cache.drain(..) {
            if let Cached::Stored { r, handle, .. } = &mut c.kind
                && c.track
            {
                let _ = app.append_handle(*r, handle, t, stale_nan());
            }
        }
        let _ = app.commit();
    }

    fn mark_all_stale(&mut self, t: i64) {
        self.mark_all_stale_except_report(t);
        let mut app = self.store.appender();
        for rs in self.report_series.drain(..) {
            if rs.stored {
                let _ = app.append(&rs.labels, t, stale_nan());
            }
        }
        let _ = app.commit();
    }
}

/// Counts of one scrape, for the report series.
#[derive(Clone, Copy, Debug, Default)]
pub struct IngestStats {
    /// Samples in the exposition.
    pub scraped: u64,
    /// Samples left after metric relabeling.
    pub accepted: u64,
    /// Series stored for the first time.
    pub added: u64,
}

fn check_sample_limit(accepted: u64, limit: u64) -> Result<(), parser::SinkError> {
    if limit > 0 && accepted > limit {
        return Err("sample limit exceeded".to_string().into());
    }
    Ok(())
}

/// Prometheus's `verifyLabelLimits`, on the final (relabeled) label set.
fn check_label_limits(l: &Labels, st: &LoopSettings) -> Result<(), parser::SinkError> {
    let name = l.metric_name().unwrap_or("");
    let short = |s: &str| s.chars().take(50).collect::<String>();
    if st.label_limit > 0 && l.len() as u64 > st.label_limit {
        return Err(format!(
            "label_limit exceeded (metric: {}, number of labels: {}, limit: {})",
            short(name),
            l.len(),
            st.label_limit
        )
        .into());
    }
    for lb in l {
        if st.label_name_length_limit > 0 && lb.name.len() as u64 > st.label_name_length_limit {
            return Err(format!(
                "label_name_length_limit exceeded (metric: {}, label name: {}, length: {}, limit: {})",
                short(name),
                short(&lb.name),
                lb.name.len(),
                st.label_name_length_limit
            )
            .into());
        }
        if st.label_value_length_limit > 0 && lb.value.len() as u64 > st.label_value_length_limit {
            return Err(format!(
                "label_value_length_limit exceeded (metric: {}, label name: {}, value: {:?}, length: {}, limit: {})",
                short(name),
                short(&lb.name),
                short(&lb.value),
                lb.value.len(),
                st.label_value_length_limit
            )
            .into());
        }
    }
    Ok(())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
