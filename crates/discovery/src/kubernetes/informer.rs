//! list+watch of one resource, forever: list, watch from the list's
//! resourceVersion, re-watch when the server closes the stream, relist on
//! 410 Gone, and back off exponentially on errors. Failures never clear what
//! the receiver knows; only a successful relist replaces it.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::client::{ApiClient, Change, Resource, WatchEnd};
use super::objects::Object;

#[derive(Debug)]
pub enum Event {
    /// A complete list: replaces every object this informer delivered before.
    Synced {
        informer: usize,
        items: Vec<Object>,
    },
    Applied {
        informer: usize,
        object: Object,
    },
    Deleted {
        informer: usize,
        object: Object,
    },
}

/// Exponential backoff between `min` and `max`.
pub struct Backoff {
    min: Duration,
    max: Duration,
    cur: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff { min, max, cur: min }
    }
    pub fn next_delay(&mut self) -> Duration {
        let d = self.cur;
        self.cur = (self.cur * 2).min(self.max);
        d
    }
    pub fn reset(&mut self) {
        self.cur = self.min;
    }
}

pub struct Informer {
    pub id: usize,
    pub client: ApiClient,
    pub resource: Resource,
    pub backoff: Backoff,
    /// Server-side watch timeout; client-go picks 5–10 minutes.
    pub watch_timeout_secs: u64,
}

impl Informer {
    pub async fn run(mut self, tx: UnboundedSender<Event>) {
        let mut version: Option<String> = None;
        let id = self.id;
        while !tx.is_closed() {
            let mut rv = match version.take() {
                Some(v) => v,
                None => match self.client.list(&self.resource).await {
                    Ok((items, rv)) => {
                        self.backoff.reset();
                        if tx
                            .send(Event::Synced {
                                informer: id,
                                items,
                            })
                            .is_err()
                        {
                            return;
                        }
                        rv
                    }
                    Err(e) => {
                        let wait = self.backoff.next_delay();
                        tracing::warn!(error = %e, retry_in = ?wait, "Kubernetes list failed");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                },
            };
            let started = std::time::Instant::now();
            let backoff = &mut self.backoff;
            let end = self
                .client
                .watch(
                    &self.resource,
                    &mut rv,
                    self.watch_timeout_secs,
                    || backoff.reset(),
                    |c| {
                        let ev = match c {
                            Change::Applied(object) => Event::Applied {
                                informer: id,
                                object,
                            },
                            Change::Deleted(object) => Event::Deleted {
                                informer: id,
                                object,
                            },
                        };
                        tx.send(ev).is_ok()
                    },
                )
                .await;
            match end {
                WatchEnd::Closed => {
                    // A server that ends every watch at once must not make us spin.
                    if started.elapsed() < Duration::from_secs(1) {
                        tokio::time::sleep(self.backoff.next_delay()).await;
                    }
                    version = Some(rv);
                }
                WatchEnd::Gone => {
                    tracing::debug!("watch version expired; relisting");
                }
                WatchEnd::Failed(e) => {
                    let wait = self.backoff.next_delay();
                    tracing::warn!(error = %e, retry_in = ?wait, "Kubernetes watch failed");
                    tokio::time::sleep(wait).await;
                    // Resume from the last version; a 410 then triggers the relist.
                    version = Some(rv);
                }
            }
        }
    }
}
