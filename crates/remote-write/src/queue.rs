//! One remote-write queue's sending side: shards batch the watcher's samples
//! (up to `max_samples_per_send`, or whatever arrived within
//! `batch_send_deadline`), encode them as remote write 1.0 or 2.0, and POST
//! them with Prometheus's retry rules: 5xx, network errors (and 429 with
//! `retry_on_http_429`) are retried with backoff from `min_backoff` doubling
//! to `max_backoff` until they succeed; other 4xx answers drop the batch.
//! A series always goes to the same shard, so its samples stay in order.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sightline_discovery::oauth2::OAuth2Source;
use sightline_model::{Labels, Sample};
use tokio::sync::{mpsc, watch};

use crate::metrics::QueueMetrics;
use crate::watcher::OutSample;

pub struct SendSettings {
    pub url: String,
    pub v2: bool,
    pub timeout: Duration,
    pub headers: Vec<(String, String)>,
    pub max_samples_per_send: usize,
    pub batch_send_deadline: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub retry_on_429: bool,
}

pub struct Sender {
    pub settings: Arc<SendSettings>,
    pub client: reqwest::Client,
    pub oauth2: Option<Arc<OAuth2Source>>,
    /// Signs each request (`sigv4:`), e.g. for Amazon Managed Prometheus.
    pub sigv4: Option<sightline_discovery::sigv4::SigV4>,
    pub metrics: Arc<QueueMetrics>,
}

/// Shard bounds and how often the shard count is reconsidered.
#[derive(Clone, Copy, Debug)]
pub struct Sharding {
    pub min: usize,
    pub max: usize,
    pub every: Duration,
}

/// The running senders; a series always maps to the same one.
struct Shards {
    txs: Vec<mpsc::Sender<Vec<OutSample>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Shards {
    fn start(sender: &Arc<Sender>, n: usize, stop: &watch::Receiver<bool>) -> Shards {
        let (mut txs, mut tasks) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            // A few batches of room per shard; beyond that the watcher waits.
            let (tx, rx) = mpsc::channel::<Vec<OutSample>>(4);
            txs.push(tx);
            tasks.push(tokio::spawn(shard(sender.clone(), rx, stop.clone())));
        }
        sender.metrics.shards.store(n, Ordering::Relaxed);
        Shards { txs, tasks }
    }

    /// Hands a batch to the shards; false when they are gone.
    async fn dispatch(&self, batch: Vec<OutSample>) -> bool {
        let n = self.txs.len();
        if n == 1 {
            return self.txs[0].send(batch).await.is_ok();
        }
        let mut split: Vec<Vec<OutSample>> = vec![Vec::new(); n];
        for s in batch {
            let i = (xxhash_rust::xxh3::xxh3_64(&s.series) % n as u64) as usize;
            split[i].push(s);
        }
        for (i, part) in split.into_iter().enumerate() {
            if !part.is_empty() && self.txs[i].send(part).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Lets every shard send what it holds, then waits for them to end.
    async fn drain(self) {
        drop(self.txs);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Rates over the last resharding period, as Prometheus's queue manager
/// measures them.
struct RateWindow {
    at: std::time::Instant,
    samples_in: u64,
    samples_out: u64,
    send_nanos: u64,
}

impl RateWindow {
    fn now(m: &QueueMetrics) -> RateWindow {
        RateWindow {
            at: std::time::Instant::now(),
            samples_in: QueueMetrics::get(&m.samples_in),
            samples_out: QueueMetrics::get(&m.samples_sent) + QueueMetrics::get(&m.samples_failed),
            send_nanos: QueueMetrics::get(&m.send_nanos),
        }
    }
}

/// Prometheus's `calculateDesiredShards`: the time one sample takes to send
/// times the samples to send per second (incoming plus 5% of the backlog,
/// the backlog being the queue's lag behind the newest stored sample times
/// the incoming rate), kept when within 30% of the current count, within
/// `[min, max]`. The watcher waits when the shards are full, so a saturated
/// queue sees an incoming rate no higher than what it sends: when every shard
/// is sending more than 80% of the time and the queue lags by more than
/// `lag_limit` seconds, the count at least doubles.
fn desired_shards(
    current: usize,
    prev: &RateWindow,
    now: &RateWindow,
    lag_secs: f64,
    lag_limit: f64,
    s: Sharding,
) -> usize {
    let secs = now.at.duration_since(prev.at).as_secs_f64();
    let out = now.samples_out.saturating_sub(prev.samples_out) as f64;
    if secs <= 0.0 || out == 0.0 {
        return current;
    }
    let in_rate = now.samples_in.saturating_sub(prev.samples_in) as f64 / secs;
    let send_secs = now.send_nanos.saturating_sub(prev.send_nanos) as f64 / 1e9;
    let time_per_sample = send_secs / out;
    let backlog = lag_secs.max(0.0) * in_rate;
    let mut want = time_per_sample * (in_rate + 0.05 * backlog);
    let busy = send_secs / secs / current as f64;
    if busy > 0.8 && lag_secs > lag_limit {
        want = want.max(current as f64 * 2.0);
    }
    let (lo, hi) = (current as f64 * 0.7, current as f64 * 1.3);
    let desired = if want > lo && want < hi {
        current
    } else {
        want.ceil() as usize
    };
    desired.clamp(s.min.max(1), s.max.max(s.min.max(1)))
}

/// Splits the watcher's batches over the shards by series, and every
/// `sharding.every` resizes them to what the send rate needs (flushing the
/// old shards first, so a series' samples stay in order).
pub async fn run(
    sender: Arc<Sender>,
    mut input: mpsc::Receiver<Vec<OutSample>>,
    sharding: Sharding,
    highest_ts: Arc<dyn Fn() -> Option<i64> + Send + Sync>,
    mut stop: watch::Receiver<bool>,
) {
    let mut n = sharding.min.max(1);
    let mut shards = Shards::start(&sender, n, &stop);
    sender.metrics.shards_desired.store(n, Ordering::Relaxed);
    let every = sharding.every.max(Duration::from_millis(100));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut window = RateWindow::now(&sender.metrics);
    loop {
        tokio::select! {
            b = input.recv() => {
                let Some(batch) = b else { break };
                if !shards.dispatch(batch).await {
                    return;
                }
            }
            _ = tick.tick() => {
                let m = &sender.metrics;
                let now = RateWindow::now(m);
                let sent = m.highest_sent_ms.load(Ordering::Relaxed);
                let lag_secs = match highest_ts() {
                    Some(t) if sent > 0 => (t - sent) as f64 / 1000.0,
                    _ => 0.0,
                };
                let lag_limit = 2.0 * sender.settings.batch_send_deadline.as_secs_f64();
                let desired = desired_shards(n, &window, &now, lag_secs, lag_limit, sharding);
                window = now;
                m.shards_desired.store(desired, Ordering::Relaxed);
                // Not while the remote is failing: a flush would wait on it.
                let healthy = now_ms() - m.last_success_ms.load(Ordering::Relaxed)
                    < 2 * sender.settings.batch_send_deadline.as_millis() as i64 + every.as_millis() as i64;
                if desired != n && healthy {
                    tracing::info!(url = %sender.settings.url, from = n, to = desired, "remote write: resharding");
                    shards.drain().await;
                    n = desired;
                    shards = Shards::start(&sender, n, &stop);
                }
            }
            _ = stop.changed() => break,
        }
    }
    shards.drain().await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn shard(
    sender: Arc<Sender>,
    mut rx: mpsc::Receiver<Vec<OutSample>>,
    mut stop: watch::Receiver<bool>,
) {
    let max = sender.settings.max_samples_per_send.max(1);
    let deadline = sender.settings.batch_send_deadline;
    let mut pending: Vec<OutSample> = Vec::with_capacity(max);
    loop {
        // Fill up to `max`, waiting at most the deadline once something is pending.
        let got = if pending.is_empty() {
            tokio::select! {
                b = rx.recv() => b,
                _ = stop.changed() => return,
            }
        } else {
            tokio::select! {
                b = rx.recv() => b,
                _ = tokio::time::sleep(deadline) => Some(Vec::new()),
                _ = stop.changed() => return,
            }
        };
        let closed = got.is_none();
        if let Some(b) = got {
            let timed_out = b.is_empty();
            pending.extend(b);
            if !timed_out && pending.len() < max && !closed {
                continue;
            }
        }
        while !pending.is_empty() {
            let n = pending.len().min(max);
            let batch: Vec<OutSample> = pending.drain(..n).collect();
            if !send_with_retries(&sender, &batch, &mut stop).await {
                return;
            }
        }
        if closed {
            return;
        }
    }
}

/// One series' part of a batch: its first item (for the labels), samples
/// and exemplars (`(labels, value, timestamp)`).
type SeriesPart<'a> = (&'a OutSample, Vec<Sample>, Vec<(&'a [u8], f64, i64)>);

/// Groups a batch by series, in first-seen order, for the wire.
fn by_series(batch: &[OutSample]) -> Vec<SeriesPart<'_>> {
    let mut out: Vec<SeriesPart<'_>> = Vec::new();
    let mut index: std::collections::HashMap<*const u8, usize> =
        std::collections::HashMap::with_capacity(batch.len());
    for s in batch {
        let i = *index.entry(s.series.as_ptr()).or_insert_with(|| {
            out.push((s, Vec::new(), Vec::new()));
            out.len() - 1
        });
        match &s.exemplar {
            None => out[i].1.push(Sample { t: s.t, v: s.v }),
            Some(l) => out[i].2.push((&l[..], s.v, s.t)),
        }
    }
    out
}

/// The snappy-compressed request body in the configured protocol.
fn encode(series: &[SeriesPart<'_>], v2: bool) -> Vec<u8> {
    if v2 {
        // 2.0 requests carry the samples; exemplars go with 1.0 only.
        let owned: Vec<(Labels, Vec<Sample>)> = series
            .iter()
            .filter(|(_, s, _)| !s.is_empty())
            .map(|(o, s, _)| (o.labels(), s.clone()))
            .collect();
        return sightline_remote::encode_write_request_v2(&owned);
    }
    // 1.0 copies each series' pre-encoded labels: no label sets, no messages.
    let parts: Vec<sightline_remote::EncodedSeries<'_>> = series
        .iter()
        .map(|(o, s, e)| sightline_remote::EncodedSeries {
            labels: &o.series,
            samples: s,
            exemplars: e,
        })
        .collect();
    let mut raw = Vec::with_capacity(
        series
            .iter()
            .map(|(o, s, e)| o.series.len() + 24 * s.len() + 64 * e.len() + 4)
            .sum(),
    );
    sightline_remote::write_request_v1_encoded_into(&parts, &mut raw);
    sightline_remote::compress_snappy(&raw)
}

enum Outcome {
    Sent,
    Retry(String),
    Refused(String),
}

/// Sends one batch until it is accepted or refused for good; false when stopped.
async fn send_with_retries(
    sender: &Sender,
    batch: &[OutSample],
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let st = &sender.settings;
    let series = by_series(batch);
    let body = encode(&series, st.v2);
    let ex = batch.iter().filter(|s| s.exemplar.is_some()).count() as u64;
    let n = batch.len() as u64 - ex;
    let newest = batch
        .iter()
        .filter(|s| s.exemplar.is_none())
        .map(|s| s.t)
        .max()
        .unwrap_or(i64::MIN);
    let mut backoff = st.min_backoff;
    loop {
        let started = std::time::Instant::now();
        match attempt(sender, body.clone()).await {
            Outcome::Sent => {
                let m = &sender.metrics;
                m.add(&m.send_nanos, started.elapsed().as_nanos() as u64);
                m.last_success_ms.store(now_ms(), Ordering::Relaxed);
                m.add(&m.samples_sent, n);
                m.add(&m.exemplars_sent, ex);
                m.add(&m.bytes_sent, body.len() as u64);
                m.highest_sent_ms.fetch_max(newest, Ordering::Relaxed);
                return true;
            }
            Outcome::Refused(e) => {
                tracing::error!(url = %st.url, error = %e, samples = n, "remote write: batch refused, dropping it");
                sender.metrics.add(&sender.metrics.samples_failed, n);
                sender.metrics.add(&sender.metrics.exemplars_failed, ex);
                return true;
            }
            Outcome::Retry(e) => {
                tracing::warn!(url = %st.url, error = %e, retry_in = ?backoff, "remote write: send failed, retrying");
                sender.metrics.add(&sender.metrics.samples_retried, n);
                sender.metrics.add(&sender.metrics.exemplars_retried, ex);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return false,
                }
                backoff = (backoff * 2).min(st.max_backoff);
            }
        }
    }
}

async fn attempt(sender: &Sender, body: Vec<u8>) -> Outcome {
    let st = &sender.settings;
    let (content_type, version) = if st.v2 {
        (
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            "2.0.0",
        )
    } else {
        ("application/x-protobuf", "0.1.0")
    };
    let mut req = sender
        .client
        .post(&st.url)
        .timeout(st.timeout)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", content_type)
        .header("X-Prometheus-Remote-Write-Version", version)
        .body(body);
    for (k, v) in &st.headers {
        req = req.header(k, v);
    }
    if let Some(o) = &sender.oauth2 {
        req = match o.apply(req).await {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(e),
        };
    }
    let mut req = match req.build() {
        Ok(r) => r,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    if let Some(s) = &sender.sigv4 {
        s.sign(&mut req, std::time::SystemTime::now());
    }
    match sender.client.execute(req).await {
        Ok(r) if r.status().is_success() => Outcome::Sent,
        Ok(r) => {
            let code = r.status();
            let text = r.text().await.unwrap_or_default();
            let msg = format!("server returned HTTP status {code}: {}", text.trim());
            if code.is_server_error() || (code.as_u16() == 429 && st.retry_on_429) {
                Outcome::Retry(msg)
            } else {
                Outcome::Refused(msg)
            }
        }
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

/// Where a queue gets the metric metadata it sends.
pub type MetadataSource =
    std::sync::Arc<dyn Fn() -> Vec<(String, sightline_model::MetricMetadata)> + Send + Sync>;

/// Sends all metric metadata every `every` (Prometheus's `metadata_config`),
/// in requests of at most `per_send` entries, with the samples' retry rules.
pub async fn metadata_loop(
    sender: Arc<Sender>,
    source: MetadataSource,
    every: Duration,
    per_send: usize,
    mut stop: watch::Receiver<bool>,
) {
    let every = every.max(Duration::from_millis(100));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let m = sender.metrics.clone();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let mut md = source();
        md.sort_by(|a, b| a.0.cmp(&b.0));
        for chunk in md.chunks(per_send.max(1)) {
            let body = sightline_remote::encode_metadata_request_v1(chunk);
            let n = chunk.len() as u64;
            let mut backoff = sender.settings.min_backoff;
            loop {
                match attempt(&sender, body.clone()).await {
                    Outcome::Sent => {
                        m.add(&m.metadata_sent, n);
                        m.add(&m.metadata_bytes, body.len() as u64);
                        break;
                    }
                    Outcome::Refused(e) => {
                        tracing::error!(url = %sender.settings.url, error = %e, "remote write: metadata refused");
                        m.add(&m.metadata_failed, n);
                        break;
                    }
                    Outcome::Retry(e) => {
                        tracing::warn!(url = %sender.settings.url, error = %e, "remote write: sending metadata failed, retrying");
                        m.add(&m.metadata_retried, n);
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = stop.changed() => return,
                        }
                        backoff = (backoff * 2).min(sender.settings.max_backoff);
                    }
                }
            }
        }
    }
}
