//! Target groups from Kubernetes objects, with the exact `__meta_kubernetes_*`
//! labels of Prometheus's `discovery/kubernetes` (pod.go, service.go,
//! endpoints.go, endpointslice.go, node.go).

use std::collections::BTreeMap;

use super::objects::{EndpointSlice, Endpoints, Node, ObjectMeta, ObjectReference, Pod, Service};
use crate::{ADDRESS_LABEL, LabelSet, TargetGroup, sanitize_label_name};

const META: &str = "__meta_kubernetes_";
const NAMESPACE: &str = "__meta_kubernetes_namespace";
const PRESENT: &str = "true";

/// Everything the role builders may look up, keyed by (namespace, name).
#[derive(Default)]
pub struct Cache {
    pub pods: BTreeMap<(String, String), Pod>,
    pub services: BTreeMap<(String, String), Service>,
    pub endpoints: BTreeMap<(String, String), Endpoints>,
    pub slices: BTreeMap<(String, String), EndpointSlice>,
    /// Cluster-scoped: keyed by ("", name).
    pub nodes: BTreeMap<(String, String), Node>,
}

fn set(ls: &mut LabelSet, name: impl Into<String>, v: impl Into<String>) {
    ls.insert(name.into(), v.into());
}

/// `addObjectMetaLabels`: `<role>_name`, labels and annotations with their `present` twins.
pub fn object_meta_labels(ls: &mut LabelSet, meta: &ObjectMeta, role: &str) {
    set(ls, format!("{META}{role}_name"), &meta.name);
    for (k, v) in &meta.labels {
        let ln = sanitize_label_name(k);
        set(ls, format!("{META}{role}_label_{ln}"), v);
        set(ls, format!("{META}{role}_labelpresent_{ln}"), PRESENT);
    }
    for (k, v) in &meta.annotations {
        let ln = sanitize_label_name(k);
        set(ls, format!("{META}{role}_annotation_{ln}"), v);
        set(ls, format!("{META}{role}_annotationpresent_{ln}"), PRESENT);
    }
}

/// Go's `net.JoinHostPort`: IPv6 literals get brackets.
fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn pod_ready(pod: &Pod) -> String {
    pod.status
        .conditions
        .iter()
        .find(|c| c.kind == "Ready")
        .map(|c| c.status.to_lowercase())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Pod-level labels shared by the pod, endpoints and endpointslice roles.
pub fn pod_labels(pod: &Pod) -> LabelSet {
    let mut ls = LabelSet::new();
    set(&mut ls, "__meta_kubernetes_pod_name", &pod.metadata.name);
    set(&mut ls, "__meta_kubernetes_pod_ip", &pod.status.pod_ip);
    set(&mut ls, "__meta_kubernetes_pod_ready", pod_ready(pod));
    set(&mut ls, "__meta_kubernetes_pod_phase", &pod.status.phase);
    set(
        &mut ls,
        "__meta_kubernetes_pod_node_name",
        &pod.spec.node_name,
    );
    set(
        &mut ls,
        "__meta_kubernetes_pod_host_ip",
        &pod.status.host_ip,
    );
    set(&mut ls, "__meta_kubernetes_pod_uid", &pod.metadata.uid);
    object_meta_labels(&mut ls, &pod.metadata, "pod");
    // GetControllerOf: the owner reference marked as controller.
    if let Some(c) = pod
        .metadata
        .owner_references
        .iter()
        .find(|o| o.controller == Some(true))
    {
        if !c.kind.is_empty() {
            set(&mut ls, "__meta_kubernetes_pod_controller_kind", &c.kind);
        }
        if !c.name.is_empty() {
            set(&mut ls, "__meta_kubernetes_pod_controller_name", &c.name);
        }
    }
    ls
}

fn node_labels(ls: &mut LabelSet, cache: Option<&Cache>, node_name: Option<&str>) {
    let (Some(cache), Some(name)) = (cache, node_name) else {
        return;
    };
    if let Some(n) = cache.nodes.get(&(String::new(), name.to_string())) {
        object_meta_labels(ls, &n.metadata, "node");
    }
}

pub fn pod_source(ns: &str, name: &str) -> String {
    format!("pod/{ns}/{name}")
}

/// `nodes`: the cache to attach node metadata from (`attach_metadata.node`).
pub fn build_pod(pod: &Pod, nodes: Option<&Cache>) -> TargetGroup {
    let mut tg = TargetGroup::cleared(pod_source(&pod.metadata.namespace, &pod.metadata.name));
    // PodIP can be empty when a pod is starting or has been evicted.
    if pod.status.pod_ip.is_empty() {
        return tg;
    }
    tg.labels = pod_labels(pod);
    set(&mut tg.labels, NAMESPACE, &pod.metadata.namespace);
    node_labels(&mut tg.labels, nodes, Some(&pod.spec.node_name));
    let n = pod.spec.containers.len();
    for (i, c) in pod
        .spec
        .containers
        .iter()
        .chain(pod.spec.init_containers.iter())
        .enumerate()
    {
        let is_init = i >= n;
        let statuses = if is_init {
            &pod.status.init_container_statuses
        } else {
            &pod.status.container_statuses
        };
        let cid = statuses
            .iter()
            .find(|s| s.name == c.name)
            .map(|s| s.container_id.as_str())
            .unwrap_or("");
        let mut base = LabelSet::new();
        set(&mut base, "__meta_kubernetes_pod_container_name", &c.name);
        set(&mut base, "__meta_kubernetes_pod_container_id", cid);
        set(&mut base, "__meta_kubernetes_pod_container_image", &c.image);
        set(
            &mut base,
            "__meta_kubernetes_pod_container_init",
            is_init.to_string(),
        );
        if c.ports.is_empty() {
            // No port: the address is the bare pod IP; relabeling adds one.
            set(&mut base, ADDRESS_LABEL, &pod.status.pod_ip);
            tg.targets.push(base);
            continue;
        }
        for p in &c.ports {
            let mut t = base.clone();
            set(
                &mut t,
                ADDRESS_LABEL,
                join_host_port(&pod.status.pod_ip, p.container_port),
            );
            set(
                &mut t,
                "__meta_kubernetes_pod_container_port_number",
                p.container_port.to_string(),
            );
            set(&mut t, "__meta_kubernetes_pod_container_port_name", &p.name);
            set(
                &mut t,
                "__meta_kubernetes_pod_container_port_protocol",
                &p.protocol,
            );
            tg.targets.push(t);
        }
    }
    tg
}

pub fn service_labels(svc: &Service) -> LabelSet {
    let mut ls = LabelSet::new();
    set(&mut ls, NAMESPACE, &svc.metadata.namespace);
    object_meta_labels(&mut ls, &svc.metadata, "service");
    ls
}

pub fn build_service(svc: &Service) -> TargetGroup {
    let m = &svc.metadata;
    let mut tg = TargetGroup::cleared(format!("svc/{}/{}", m.namespace, m.name));
    tg.labels = service_labels(svc);
    for p in &svc.spec.ports {
        let mut t = LabelSet::new();
        set(
            &mut t,
            ADDRESS_LABEL,
            join_host_port(&format!("{}.{}.svc", m.name, m.namespace), p.port),
        );
        set(&mut t, "__meta_kubernetes_service_port_name", &p.name);
        set(
            &mut t,
            "__meta_kubernetes_service_port_number",
            p.port.to_string(),
        );
        set(
            &mut t,
            "__meta_kubernetes_service_port_protocol",
            &p.protocol,
        );
        set(&mut t, "__meta_kubernetes_service_type", &svc.spec.kind);
        if svc.spec.kind == "ExternalName" {
            set(
                &mut t,
                "__meta_kubernetes_service_external_name",
                &svc.spec.external_name,
            );
        } else {
            set(
                &mut t,
                "__meta_kubernetes_service_cluster_ip",
                &svc.spec.cluster_ip,
            );
        }
        if svc.spec.kind == "LoadBalancer" {
            set(
                &mut t,
                "__meta_kubernetes_service_loadbalancer_ip",
                &svc.spec.load_balancer_ip,
            );
        }
        tg.targets.push(t);
    }
    tg
}

fn resolve_pod<'a>(cache: &'a Cache, r: Option<&ObjectReference>) -> Option<&'a Pod> {
    let r = r?;
    if r.kind != "Pod" {
        return None;
    }
    cache.pods.get(&(r.namespace.clone(), r.name.clone()))
}

/// Container ports of pods behind an endpoint that no endpoint port covered
/// get their own targets (Prometheus does this for both endpoint roles).
fn uncovered_pod_ports(tg: &mut TargetGroup, seen: &BTreeMap<(String, String), (&Pod, Vec<i32>)>) {
    for (pod, ports) in seen.values() {
        if pod.status.pod_ip.is_empty() {
            continue;
        }
        for c in &pod.spec.containers {
            for cp in &c.ports {
                if ports.contains(&cp.container_port) {
                    continue;
                }
                let mut t = pod_labels(pod);
                set(
                    &mut t,
                    ADDRESS_LABEL,
                    join_host_port(&pod.status.pod_ip, cp.container_port),
                );
                set(&mut t, "__meta_kubernetes_pod_container_name", &c.name);
                set(&mut t, "__meta_kubernetes_pod_container_image", &c.image);
                set(
                    &mut t,
                    "__meta_kubernetes_pod_container_port_name",
                    &cp.name,
                );
                set(
                    &mut t,
                    "__meta_kubernetes_pod_container_port_number",
                    cp.container_port.to_string(),
                );
                set(
                    &mut t,
                    "__meta_kubernetes_pod_container_port_protocol",
                    &cp.protocol,
                );
                tg.targets.push(t);
            }
        }
    }
}

/// Labels of the container port matching an endpoint port, if any.
fn matching_container_port(t: &mut LabelSet, pod: &Pod, port: i32, protocol: &str) {
    for c in &pod.spec.containers {
        if let Some(cp) = c.ports.iter().find(|cp| cp.container_port == port) {
            set(t, "__meta_kubernetes_pod_container_name", &c.name);
            set(t, "__meta_kubernetes_pod_container_image", &c.image);
            set(t, "__meta_kubernetes_pod_container_port_name", &cp.name);
            set(
                t,
                "__meta_kubernetes_pod_container_port_number",
                port.to_string(),
            );
            set(t, "__meta_kubernetes_pod_container_port_protocol", protocol);
        }
    }
}

pub fn build_endpoints(eps: &Endpoints, cache: &Cache, with_nodes: bool) -> TargetGroup {
    let m = &eps.metadata;
    let mut tg = TargetGroup::cleared(format!("endpoints/{}/{}", m.namespace, m.name));
    set(&mut tg.labels, NAMESPACE, &m.namespace);
    if let Some(svc) = cache.services.get(&(m.namespace.clone(), m.name.clone())) {
        tg.labels.extend(service_labels(svc));
    }
    object_meta_labels(&mut tg.labels, m, "endpoints");
    let nodes = with_nodes.then_some(cache);
    let mut seen: BTreeMap<(String, String), (&Pod, Vec<i32>)> = BTreeMap::new();
    for ss in &eps.subsets {
        for port in &ss.ports {
            let ready = ss.addresses.iter().map(|a| (a, "true"));
            let not_ready = ss.not_ready_addresses.iter().map(|a| (a, "false"));
            for (addr, ready) in ready.chain(not_ready) {
                let mut t = LabelSet::new();
                set(&mut t, ADDRESS_LABEL, join_host_port(&addr.ip, port.port));
                set(&mut t, "__meta_kubernetes_endpoint_port_name", &port.name);
                set(
                    &mut t,
                    "__meta_kubernetes_endpoint_port_protocol",
                    &port.protocol,
                );
                set(&mut t, "__meta_kubernetes_endpoint_ready", ready);
                if let Some(r) = &addr.target_ref {
                    set(
                        &mut t,
                        "__meta_kubernetes_endpoint_address_target_kind",
                        &r.kind,
                    );
                    set(
                        &mut t,
                        "__meta_kubernetes_endpoint_address_target_name",
                        &r.name,
                    );
                }
                if let Some(n) = &addr.node_name {
                    set(&mut t, "__meta_kubernetes_endpoint_node_name", n);
                }
                if !addr.hostname.is_empty() {
                    set(
                        &mut t,
                        "__meta_kubernetes_endpoint_hostname",
                        &addr.hostname,
                    );
                }
                let node_ref = addr
                    .target_ref
                    .as_ref()
                    .filter(|r| r.kind == "Node")
                    .map(|r| r.name.as_str());
                node_labels(&mut t, nodes, addr.node_name.as_deref().or(node_ref));
                let Some(pod) = resolve_pod(cache, addr.target_ref.as_ref()) else {
                    tg.targets.push(t);
                    continue;
                };
                let key = (pod.metadata.namespace.clone(), pod.metadata.name.clone());
                seen.entry(key)
                    .or_insert_with(|| (pod, Vec::new()))
                    .1
                    .push(port.port);
                t.extend(pod_labels(pod));
                matching_container_port(&mut t, pod, port.port, &port.protocol);
                tg.targets.push(t);
            }
        }
    }
    uncovered_pod_ports(&mut tg, &seen);
    tg
}

pub fn build_endpointslice(eps: &EndpointSlice, cache: &Cache, with_nodes: bool) -> TargetGroup {
    let m = &eps.metadata;
    let mut tg = TargetGroup::cleared(format!("endpointslice/{}/{}", m.namespace, m.name));
    set(&mut tg.labels, NAMESPACE, &m.namespace);
    set(
        &mut tg.labels,
        "__meta_kubernetes_endpointslice_address_type",
        &eps.address_type,
    );
    object_meta_labels(&mut tg.labels, m, "endpointslice");
    // Every slice names its service in the kubernetes.io/service-name label.
    if let Some(svc_name) = m.labels.get("kubernetes.io/service-name")
        && let Some(svc) = cache.services.get(&(m.namespace.clone(), svc_name.clone()))
    {
        tg.labels.extend(service_labels(svc));
    }
    let nodes = with_nodes.then_some(cache);
    let mut seen: BTreeMap<(String, String), (&Pod, Vec<i32>)> = BTreeMap::new();
    for ep in &eps.endpoints {
        for port in &eps.ports {
            for addr in &ep.addresses {
                let mut t = LabelSet::new();
                let a = match port.port {
                    Some(p) => join_host_port(addr, p),
                    None => addr.clone(),
                };
                set(&mut t, ADDRESS_LABEL, a);
                if let Some(v) = &port.name {
                    set(&mut t, "__meta_kubernetes_endpointslice_port_name", v);
                }
                if let Some(v) = &port.protocol {
                    set(&mut t, "__meta_kubernetes_endpointslice_port_protocol", v);
                }
                if let Some(v) = port.port {
                    set(
                        &mut t,
                        "__meta_kubernetes_endpointslice_port",
                        v.to_string(),
                    );
                }
                if let Some(v) = &port.app_protocol {
                    set(
                        &mut t,
                        "__meta_kubernetes_endpointslice_port_app_protocol",
                        v,
                    );
                }
                let c = &ep.conditions;
                if let Some(v) = c.ready {
                    set(
                        &mut t,
                        "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                        v.to_string(),
                    );
                }
                if let Some(v) = c.serving {
                    set(
                        &mut t,
                        "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                        v.to_string(),
                    );
                }
                if let Some(v) = c.terminating {
                    set(
                        &mut t,
                        "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                        v.to_string(),
                    );
                }
                if let Some(v) = &ep.hostname {
                    set(
                        &mut t,
                        "__meta_kubernetes_endpointslice_endpoint_hostname",
                        v,
                    );
                }
                if let Some(r) = &ep.target_ref {
                    set(
                        &mut t,
                        "__meta_kubernetes_endpointslice_address_target_kind",
                        &r.kind,
                    );
                    set(
                        &mut t,
                        "__meta_kubernetes_endpointslice_address_target_name",
                        &r.name,
                    );
                }
                if let Some(v) = &ep.node_name {
                    set(
                        &mut t,
                        "__meta_kubernetes_endpointslice_endpoint_node_name",
                        v,
                    );
                }
                if let Some(v) = &ep.zone {
                    set(&mut t, "__meta_kubernetes_endpointslice_endpoint_zone", v);
                }
                for (k, v) in &ep.deprecated_topology {
                    let ln = sanitize_label_name(k);
                    set(
                        &mut t,
                        format!("__meta_kubernetes_endpointslice_endpoint_topology_{ln}"),
                        v,
                    );
                    set(
                        &mut t,
                        format!("__meta_kubernetes_endpointslice_endpoint_topology_present_{ln}"),
                        PRESENT,
                    );
                }
                let node_ref = ep
                    .target_ref
                    .as_ref()
                    .filter(|r| r.kind == "Node")
                    .map(|r| r.name.as_str());
                node_labels(&mut t, nodes, node_ref.or(ep.node_name.as_deref()));
                let Some(pod) = resolve_pod(cache, ep.target_ref.as_ref()) else {
                    tg.targets.push(t);
                    continue;
                };
                let key = (pod.metadata.namespace.clone(), pod.metadata.name.clone());
                let entry = seen.entry(key).or_insert_with(|| (pod, Vec::new()));
                t.extend(pod_labels(pod));
                if let Some(p) = port.port {
                    entry.1.push(p);
                    // endpointslice.go labels the matched port with the container's protocol.
                    if let Some(cp) = pod
                        .spec
                        .containers
                        .iter()
                        .flat_map(|c| c.ports.iter())
                        .find(|cp| cp.container_port == p)
                    {
                        let proto = cp.protocol.clone();
                        matching_container_port(&mut t, pod, p, &proto);
                    }
                }
                tg.targets.push(t);
            }
        }
    }
    uncovered_pod_ports(&mut tg, &seen);
    tg
}

/// The node's address by Prometheus's priority order, and all addresses by type.
fn node_address(node: &Node) -> Option<(String, BTreeMap<String, String>)> {
    let mut by_type: BTreeMap<String, String> = BTreeMap::new();
    for a in &node.status.addresses {
        by_type
            .entry(a.kind.clone())
            .or_insert_with(|| a.address.clone());
    }
    let order = [
        "InternalIP",
        "InternalDNS",
        "ExternalIP",
        "ExternalDNS",
        "LegacyHostIP",
        "Hostname",
    ];
    let addr = order.iter().find_map(|k| by_type.get(*k).cloned())?;
    Some((addr, by_type))
}

/// `None` when the node has no usable address (Prometheus sends nothing then).
pub fn build_node(node: &Node) -> Option<TargetGroup> {
    let mut tg = TargetGroup::cleared(format!("node/{}", node.metadata.name));
    set(
        &mut tg.labels,
        "__meta_kubernetes_node_provider_id",
        &node.spec.provider_id,
    );
    object_meta_labels(&mut tg.labels, &node.metadata, "node");
    let (addr, all) = node_address(node)?;
    let mut t = LabelSet::new();
    set(
        &mut t,
        ADDRESS_LABEL,
        join_host_port(&addr, node.status.daemon_endpoints.kubelet_endpoint.port),
    );
    set(&mut t, "instance", &node.metadata.name);
    for (ty, a) in all {
        set(
            &mut t,
            sanitize_label_name(&format!("__meta_kubernetes_node_address_{ty}")),
            a,
        );
    }
    tg.targets.push(t);
    Some(tg)
}
