//! Test doubles: an in-memory `Appendable` recording committed samples, and
//! an exposition server whose body tests change between scrapes.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sightline_model::{Exemplar, Labels, MetricMetadata};
use sightline_tsdb::{Appendable, Appender, CommitStats, RejectReason, SeriesRef};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Default)]
pub struct MemStore {
    inner: Mutex<MemInner>,
}

#[derive(Default)]
struct MemInner {
    refs: HashMap<Labels, SeriesRef>,
    by_ref: HashMap<SeriesRef, Labels>,
    samples: Vec<(Labels, i64, f64)>,
    metadata: HashMap<String, MetricMetadata>,
}

struct MemAppender<'a> {
    store: &'a MemStore,
    pending: Vec<(Labels, i64, f64)>,
    metadata: Vec<(String, MetricMetadata)>,
}

impl Appendable for MemStore {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemAppender {
            store: self,
            pending: Vec::new(),
            metadata: Vec::new(),
        })
    }
}

impl Appender for MemAppender<'_> {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef, RejectReason> {
        if labels.metric_name().is_none() {
            return Err(RejectReason::InvalidLabels);
        }
        let mut inner = self.store.inner.lock();
        let next = inner.refs.len() as u64 + 1;
        let r = *inner.refs.entry(labels.clone()).or_insert(next);
        inner.by_ref.insert(r, labels.clone());
        self.pending.push((labels.clone(), t, v));
        Ok(r)
    }

    fn append_ref(&mut self, r: SeriesRef, t: i64, v: f64) -> Option<Result<(), RejectReason>> {
        let l = self.store.inner.lock().by_ref.get(&r).cloned()?;
        self.pending.push((l, t, v));
        Some(Ok(()))
    }

    fn append_exemplar(&mut self, _r: SeriesRef, _e: &Exemplar) -> Result<(), RejectReason> {
        Ok(())
    }

    fn update_metadata(&mut self, family: &str, md: &MetricMetadata) {
        self.metadata.push((family.to_string(), md.clone()));
    }

    fn commit(self: Box<Self>) -> sightline_tsdb::Result<CommitStats> {
        let mut inner = self.store.inner.lock();
        let n = self.pending.len() as u64;
        inner.samples.extend(self.pending);
        inner.metadata.extend(self.metadata);
        Ok(CommitStats {
            samples: n,
            ..Default::default()
        })
    }

    fn rollback(self: Box<Self>) {}
}

impl MemStore {
    pub fn new() -> Arc<MemStore> {
        Arc::new(MemStore::default())
    }

    pub fn samples(&self) -> Vec<(Labels, i64, f64)> {
        self.inner.lock().samples.clone()
    }

    /// Values of the series named `name` whose labels include `with`.
    pub fn values(&self, name: &str, with: &[(&str, &str)]) -> Vec<f64> {
        self.samples()
            .into_iter()
            .filter(|(l, _, _)| {
                l.metric_name() == Some(name) && with.iter().all(|(k, v)| l.get(k) == Some(v))
            })
            .map(|(_, _, v)| v)
            .collect()
    }

    /// Distinct label sets stored, excluding scrape report series.
    pub fn series(&self) -> Vec<Labels> {
        let report = [
            "up",
            "scrape_duration_seconds",
            "scrape_samples_scraped",
            "scrape_samples_post_metric_relabeling",
            "scrape_series_added",
        ];
        let mut v: Vec<Labels> = self
            .inner
            .lock()
            .refs
            .keys()
            .filter(|l| !report.contains(&l.metric_name().unwrap_or("")))
            .cloned()
            .collect();
        v.sort();
        v
    }

    pub fn metadata(&self, family: &str) -> Option<MetricMetadata> {
        self.inner.lock().metadata.get(family).cloned()
    }
}

/// A `/metrics` endpoint with a replaceable body; records request headers.
#[derive(Clone)]
pub struct ExpoServer {
    pub addr: String,
    body: Arc<Mutex<(String, String)>>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl ExpoServer {
    pub async fn start(body: &str) -> ExpoServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let s = ExpoServer {
            addr: listener.local_addr().unwrap().to_string(),
            body: Arc::new(Mutex::new((
                body.to_string(),
                "text/plain; version=0.0.4".to_string(),
            ))),
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        let srv = s.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let srv = srv.clone();
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
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        buf.drain(..end);
                        srv.requests.lock().push(head);
                        let (body, ct) = srv.body.lock().clone();
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if conn.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        s
    }

    pub fn set_body(&self, body: &str) {
        self.body.lock().0 = body.to_string();
    }

    pub fn set_content_type(&self, ct: &str) {
        self.body.lock().1 = ct.to_string();
    }

    pub fn hits(&self) -> usize {
        self.requests.lock().len()
    }
}

/// Polls `cond` every 20ms for up to 10s.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
