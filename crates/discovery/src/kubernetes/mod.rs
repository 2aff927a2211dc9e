//! `kubernetes_sd_configs`: roles pod, service, endpoints, endpointslice and
//! node, from list+watch of the API server (see `client.rs` for why this is
//! hand-rolled rather than the `kube` crate).
//!
//! One informer task per (resource, namespace) feeds one role task that
//! keeps a cache of every object, rebuilds target groups after each batch of
//! events, and sends only the groups that changed (plus cleared sources for
//! deleted objects). Groups are sent once every informer has listed once.

pub mod build;
pub mod client;
mod config;
pub mod informer;
pub mod objects;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sightline_config::KubernetesSdConfig;
use tokio::sync::mpsc;

use self::build::Cache;
use self::client::{ApiClient, Resource};
use self::informer::{Backoff, Event, Informer};
use self::objects::{Kind, Object};
use crate::{TargetGroup, Updates};

pub use config::client_for;

pub struct KubernetesDiscovery {
    role: String,
    client: ApiClient,
    resources: Vec<Resource>,
    attach_node: bool,
    /// First retry delay after a failed list/watch (doubles up to 30s).
    pub min_backoff: Duration,
}

impl KubernetesDiscovery {
    pub fn new(cfg: &KubernetesSdConfig) -> Result<Self, String> {
        let (client, own_namespace) = client_for(cfg)?;
        Self::with_client(cfg, client, own_namespace)
    }

    /// Discovery through an already configured client (tests point it at a fake API server).
    pub fn with_client(
        cfg: &KubernetesSdConfig,
        client: ApiClient,
        own_namespace: Option<String>,
    ) -> Result<Self, String> {
        let mut namespaces: Vec<String> = cfg.namespaces.names.clone();
        if cfg.namespaces.own_namespace
            && let Some(ns) = own_namespace
        {
            namespaces.push(ns);
        }
        if namespaces.is_empty() {
            namespaces.push(String::new());
        }
        let selector = |role: &str| {
            cfg.selectors
                .iter()
                .find(|s| s.role == role)
                .map(|s| (s.label.clone(), s.field.clone()))
                .unwrap_or_default()
        };
        let kinds: &[Kind] = match cfg.role.as_str() {
            "pod" => &[Kind::Pod],
            "service" => &[Kind::Service],
            "endpoints" => &[Kind::Endpoints, Kind::Service, Kind::Pod],
            "endpointslice" => &[Kind::EndpointSlice, Kind::Service, Kind::Pod],
            "node" => &[Kind::Node],
            other => return Err(format!("Kubernetes SD role {other:?} is not supported")),
        };
        let attach_node = cfg.attach_metadata.node
            && matches!(cfg.role.as_str(), "pod" | "endpoints" | "endpointslice");
        let mut resources = Vec::new();
        let mut push = |kind: Kind, role: &str, namespace: &str| {
            let (label_selector, field_selector) = selector(role);
            resources.push(Resource {
                kind,
                namespace: namespace.to_string(),
                label_selector,
                field_selector,
            });
        };
        for &kind in kinds {
            let role = match kind {
                Kind::Pod => "pod",
                Kind::Service => "service",
                Kind::Endpoints => "endpoints",
                Kind::EndpointSlice => "endpointslice",
                Kind::Node => "node",
            };
            if kind.namespaced() {
                for ns in &namespaces {
                    push(kind, role, ns);
                }
            } else {
                push(kind, role, "");
            }
        }
        if attach_node {
            push(Kind::Node, "node", "");
        }
        Ok(KubernetesDiscovery {
            role: cfg.role.clone(),
            client,
            resources,
            attach_node,
            min_backoff: Duration::from_secs(1),
        })
    }

    pub async fn run(self, up: Updates) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut handles = Vec::new();
        for (id, r) in self.resources.iter().enumerate() {
            let inf = Informer {
                id,
                client: self.client.clone(),
                resource: r.clone(),
                backoff: Backoff::new(self.min_backoff, Duration::from_secs(30)),
                // Spread watch renewals like client-go (5–10 minutes).
                watch_timeout_secs: 300 + (id as u64 * 37) % 300,
            };
            handles.push(tokio::spawn(inf.run(tx.clone())));
        }
        drop(tx);
        // Aborts the informers when this task is dropped (discovery stopped).
        let _guard = AbortOnDrop(handles);
        let mut state = RoleState {
            cache: Cache::default(),
            owned: BTreeMap::new(),
            synced: BTreeSet::new(),
            sent: BTreeMap::new(),
        };
        while let Some(ev) = rx.recv().await {
            state.apply(ev, &self.resources);
            // Take the whole burst before rebuilding.
            while let Ok(ev) = rx.try_recv() {
                state.apply(ev, &self.resources);
            }
            if state.synced.len() < self.resources.len() {
                continue;
            }
            let groups = state.diff(self.build_all(&state.cache));
            if !groups.is_empty() && !up.send(groups) {
                return;
            }
        }
    }

    fn build_all(&self, cache: &Cache) -> BTreeMap<String, TargetGroup> {
        let mut out = BTreeMap::new();
        let mut put = |g: TargetGroup| {
            out.insert(g.source.clone(), g);
        };
        match self.role.as_str() {
            "pod" => cache
                .pods
                .values()
                .for_each(|p| put(build::build_pod(p, self.attach_node.then_some(cache)))),
            "service" => cache
                .services
                .values()
                .for_each(|s| put(build::build_service(s))),
            "endpoints" => cache
                .endpoints
                .values()
                .for_each(|e| put(build::build_endpoints(e, cache, self.attach_node))),
            "endpointslice" => cache
                .slices
                .values()
                .for_each(|e| put(build::build_endpointslice(e, cache, self.attach_node))),
            "node" => cache
                .nodes
                .values()
                .filter_map(build::build_node)
                .for_each(put),
            _ => {}
        }
        out
    }
}

struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

struct RoleState {
    cache: Cache,
    /// Objects each informer delivered, so a relist can replace exactly those.
    owned: BTreeMap<usize, BTreeSet<(String, String)>>,
    synced: BTreeSet<usize>,
    sent: BTreeMap<String, TargetGroup>,
}

fn key(o: &Object) -> (String, String) {
    (o.meta().namespace.clone(), o.meta().name.clone())
}

impl RoleState {
    fn store(&mut self, kind: Kind) -> &mut dyn Store {
        match kind {
            Kind::Pod => &mut self.cache.pods,
            Kind::Service => &mut self.cache.services,
            Kind::Endpoints => &mut self.cache.endpoints,
            Kind::EndpointSlice => &mut self.cache.slices,
            Kind::Node => &mut self.cache.nodes,
        }
    }

    fn apply(&mut self, ev: Event, resources: &[Resource]) {
        match ev {
            Event::Synced { informer, items } => {
                let kind = resources[informer].kind;
                let old = self.owned.remove(&informer).unwrap_or_default();
                for k in &old {
                    self.store(kind).remove(k);
                }
                let mut now = BTreeSet::new();
                for o in items {
                    now.insert(key(&o));
                    self.store(kind).insert(o);
                }
                self.owned.insert(informer, now);
                self.synced.insert(informer);
            }
            Event::Applied { informer, object } => {
                self.owned.entry(informer).or_default().insert(key(&object));
                let kind = resources[informer].kind;
                self.store(kind).insert(object);
            }
            Event::Deleted { informer, object } => {
                let k = key(&object);
                self.owned.entry(informer).or_default().remove(&k);
                self.store(resources[informer].kind).remove(&k);
            }
        }
    }

    /// Groups that differ from what was sent last, and cleared ones for vanished sources.
    fn diff(&mut self, now: BTreeMap<String, TargetGroup>) -> Vec<TargetGroup> {
        let mut out = Vec::new();
        for (src, g) in &now {
            if self.sent.get(src) != Some(g) {
                out.push(g.clone());
            }
        }
        for src in self.sent.keys() {
            if !now.contains_key(src) {
                out.push(TargetGroup::cleared(src.clone()));
            }
        }
        self.sent = now;
        out
    }
}

/// The per-kind maps behind one interface, so events can be applied generically.
trait Store {
    fn insert(&mut self, o: Object);
    fn remove(&mut self, k: &(String, String));
}

macro_rules! store_for {
    ($t:ty, $variant:ident) => {
        impl Store for BTreeMap<(String, String), $t> {
            fn insert(&mut self, o: Object) {
                if let Object::$variant(x) = o {
                    // Cluster-scoped objects carry no namespace; keys use "".
                    BTreeMap::insert(
                        self,
                        (x.metadata.namespace.clone(), x.metadata.name.clone()),
                        x,
                    );
                }
            }
            fn remove(&mut self, k: &(String, String)) {
                BTreeMap::remove(self, k);
            }
        }
    };
}
store_for!(objects::Pod, Pod);
store_for!(objects::Service, Service);
store_for!(objects::Endpoints, Endpoints);
store_for!(objects::EndpointSlice, EndpointSlice);
store_for!(objects::Node, Node);
