//! Follows the WAL for one remote-write queue, as Prometheus's WAL watcher:
//! series from the checkpoint and segments, then samples newer than the
//! queue's start, each resolved to its outgoing label set (external labels,
//! then `write_relabel_configs`) once per series. The watcher hands samples
//! over through a bounded channel; when the queue is behind it waits, so a
//! slow or down remote makes the watcher lag in the WAL instead of dropping.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sightline_config::RelabelConfig;
use sightline_model::Labels;
use sightline_tsdb::wal_tail::{self, SegmentEnd, TailRecord};
use tokio::sync::mpsc;

use crate::metrics::QueueMetrics;

/// One sample ready to send: its series' outgoing labels, encoded once as
/// remote write 1.0 `Label` fields (`sightline_remote::encode_labels_v1`),
/// and its value.
#[derive(Debug, Clone)]
pub struct OutSample {
    pub series: Arc<[u8]>,
    pub t: i64,
    pub v: f64,
    /// Set for an exemplar (its labels, encoded as the series'), not a sample.
    pub exemplar: Option<Arc<[u8]>>,
}

impl OutSample {
    /// The outgoing label set (decoded again; for 2.0 and tests).
    pub fn labels(&self) -> Labels {
        sightline_remote::decode_labels_v1(&self.series).unwrap_or_default()
    }
}

pub struct WatcherSettings {
    pub wal: PathBuf,
    /// Samples at or before this time (ms) were written before the queue started.
    pub start_ms: i64,
    pub external_labels: Vec<(String, String)>,
    pub relabel: Vec<RelabelConfig>,
    pub poll: Duration,
    /// `send_exemplars`: forward the WAL's exemplars too.
    pub send_exemplars: bool,
}

/// Runs on its own thread until `stop` is set or the queue hangs up.
pub fn run(
    st: WatcherSettings,
    out: mpsc::Sender<Vec<OutSample>>,
    metrics: Arc<QueueMetrics>,
    stop: Arc<AtomicBool>,
) {
    let mut w = Watcher {
        st,
        series: HashMap::new(),
        out,
        metrics,
    };
    w.follow(&stop);
}

struct Watcher {
    st: WatcherSettings,
    /// Outgoing labels by series ref; `None` when relabeling dropped the series.
    series: HashMap<u64, Option<Arc<[u8]>>>,
    out: mpsc::Sender<Vec<OutSample>>,
    metrics: Arc<QueueMetrics>,
}

impl Watcher {
    fn outgoing(&self, l: &Labels) -> Option<Arc<[u8]>> {
        let mut b = l.to_builder();
        for (k, v) in &self.st.external_labels {
            if l.get(k).is_none() {
                b.set(k.clone(), v.clone());
            }
        }
        let with_external = b.build();
        let relabeled = sightline_scrape::relabel::process(&with_external, &self.st.relabel)?;
        (!relabeled.is_empty()).then(|| sightline_remote::encode_labels_v1(&relabeled).into())
    }

    /// Handles one record; false when the queue is gone.
    fn handle(&mut self, r: TailRecord) -> bool {
        match r {
            TailRecord::Series(s) => {
                for (r, l) in s {
                    let o = self.outgoing(&l);
                    self.series.insert(r, o);
                }
                true
            }
            TailRecord::Samples(s) => {
                let mut batch = Vec::with_capacity(s.len());
                let mut dropped = 0u64;
                for (r, t, v, _st) in s {
                    if t <= self.st.start_ms {
                        continue;
                    }
                    match self.series.get(&r) {
                        Some(Some(l)) => batch.push(OutSample {
                            series: l.clone(),
                            t,
                            v,
                            exemplar: None,
                        }),
                        // Dropped by relabeling, or a ref the WAL never named.
                        _ => dropped += 1,
                    }
                }
                self.metrics.add(&self.metrics.samples_dropped, dropped);
                if batch.is_empty() {
                    return true;
                }
                self.metrics
                    .add(&self.metrics.samples_in, batch.len() as u64);
                self.out.blocking_send(batch).is_ok()
            }
            TailRecord::Exemplars(ex) => {
                if !self.st.send_exemplars {
                    return true;
                }
                let batch: Vec<OutSample> = ex
                    .into_iter()
                    .filter(|(_, e)| e.t > self.st.start_ms)
                    .filter_map(|(r, e)| {
                        let series = self.series.get(&r)?.clone()?;
                        Some(OutSample {
                            series,
                            t: e.t,
                            v: e.v,
                            exemplar: Some(sightline_remote::encode_labels_v1(&e.labels).into()),
                        })
                    })
                    .collect();
                batch.is_empty() || self.out.blocking_send(batch).is_ok()
            }
        }
    }

    fn load_checkpoint(&mut self) -> Option<u32> {
        match wal_tail::checkpoint_series(&self.st.wal) {
            Ok(Some((first, series))) => {
                self.handle(TailRecord::Series(series));
                Some(first)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "remote write: reading the WAL checkpoint failed");
                None
            }
        }
    }

    fn follow(&mut self, stop: &AtomicBool) {
        let wal = self.st.wal.clone();
        let first = self.load_checkpoint().unwrap_or(0);
        let mut cur = wal_tail::segments(&wal)
            .ok()
            .and_then(|s| s.into_iter().find(|&i| i >= first))
            .unwrap_or(first);
        let mut offset = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let path = wal_tail::segment_path(&wal, cur);
            let mut alive = true;
            let res = wal_tail::read_from(&path, offset, &mut |r| {
                if alive {
                    alive = self.handle(r);
                }
            });
            if !alive {
                return;
            }
            let segs = wal_tail::segments(&wal).unwrap_or_default();
            match res {
                Ok((off, end)) => {
                    let moved = off != offset;
                    offset = off;
                    let next = segs.iter().copied().find(|&i| i > cur);
                    match (end, next) {
                        // The writer moved on: this segment is complete once re-read.
                        (SegmentEnd::Written, Some(n)) if !moved => {
                            cur = n;
                            offset = 0;
                            continue;
                        }
                        (SegmentEnd::Damaged, Some(n)) => {
                            tracing::warn!(
                                segment = cur,
                                "remote write: skipping damaged WAL segment tail"
                            );
                            cur = n;
                            offset = 0;
                            continue;
                        }
                        _ => {}
                    }
                    if moved {
                        continue;
                    }
                }
                Err(_) => {
                    // The segment was truncated away (checkpoint) before we read
                    // it: take the checkpoint's series and go on after it.
                    let first = self.load_checkpoint().unwrap_or(cur);
                    if let Some(n) = segs.iter().copied().find(|&i| i >= first.max(cur)) {
                        if n != cur {
                            tracing::warn!(
                                from = cur,
                                to = n,
                                "remote write: WAL segments removed before they were sent"
                            );
                        }
                        cur = n;
                        offset = 0;
                        continue;
                    }
                }
            }
            std::thread::sleep(self.st.poll);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_tsdb::{Appendable, Db, Options};

    fn recv_values(rx: &mut mpsc::Receiver<Vec<OutSample>>, n: usize) -> Vec<(String, i64, f64)> {
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while got.len() < n {
            assert!(std::time::Instant::now() < deadline, "only {got:?}");
            match rx.try_recv() {
                Ok(b) => got.extend(
                    b.into_iter()
                        .map(|s| (s.labels().get("job").unwrap_or("").to_string(), s.t, s.v)),
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        got
    }

    fn start(
        dir: &std::path::Path,
        start_ms: i64,
    ) -> (mpsc::Receiver<Vec<OutSample>>, Arc<AtomicBool>) {
        let (tx, rx) = mpsc::channel(64);
        let stop = Arc::new(AtomicBool::new(false));
        let st = WatcherSettings {
            wal: sightline_tsdb::wal_tail::wal_dir(dir),
            start_ms,
            external_labels: vec![("cluster".into(), "c1".into())],
            relabel: Vec::new(),
            poll: Duration::from_millis(10),
            send_exemplars: false,
        };
        let s2 = stop.clone();
        std::thread::spawn(move || run(st, tx, Arc::new(QueueMetrics::default()), s2));
        (rx, stop)
    }

    #[test]
    fn follows_the_wal_across_a_checkpoint_and_new_segments() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let a = Labels::from_pairs([("__name__", "m"), ("job", "a")]);
        let b = Labels::from_pairs([("__name__", "m"), ("job", "b")]);
        let (mut rx, stop) = start(dir.path(), 0);
        let mut app = db.appender();
        app.append(&a, 1_000, 1.0).unwrap();
        app.commit().unwrap();
        assert_eq!(recv_values(&mut rx, 1), [("a".into(), 1_000, 1.0)]);

        // A block cut rotates the WAL and replaces old segments with a checkpoint.
        db.cut_block(0, 10_000).unwrap();
        let mut app = db.appender();
        app.append(&a, 20_000, 2.0).unwrap();
        app.append(&b, 20_000, 3.0).unwrap();
        app.commit().unwrap();
        let got = recv_values(&mut rx, 2);
        assert_eq!(got, [("a".into(), 20_000, 2.0), ("b".into(), 20_000, 3.0)]);
        stop.store(true, Ordering::Relaxed);

        // A watcher starting now learns series `a` from the checkpoint and
        // sends only what is newer than its start.
        let (mut rx2, stop2) = start(dir.path(), 20_000);
        let mut app = db.appender();
        app.append(&a, 30_000, 4.0).unwrap();
        app.commit().unwrap();
        assert_eq!(recv_values(&mut rx2, 1), [("a".into(), 30_000, 4.0)]);
        let batch_labels = {
            let mut app = db.appender();
            app.append(&b, 31_000, 5.0).unwrap();
            app.commit().unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(batch) = rx2.try_recv() {
                    break batch[0].labels();
                }
                assert!(std::time::Instant::now() < deadline);
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        // External labels are added to every series.
        assert_eq!(batch_labels.get("cluster"), Some("c1"));
        stop2.store(true, Ordering::Relaxed);
        db.close().unwrap();
    }
}
