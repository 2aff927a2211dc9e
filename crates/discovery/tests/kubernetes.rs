//! Kubernetes discovery against the fake API server: every role, the exact
//! meta labels, watch add/modify/delete, reconnects, 410 relists and outages
//! that must not lose the last known targets.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use sightline_config::KubernetesSdConfig;
use sightline_discovery::kubernetes::KubernetesDiscovery;
use sightline_discovery::kubernetes::client::ApiClient;
use sightline_discovery::testing::FakeApiServer;
use sightline_discovery::{LabelSet, TargetGroup, Updates};
use tokio::sync::mpsc::UnboundedReceiver;

fn sd_config(yaml: &str) -> KubernetesSdConfig {
    let cfg = sightline_config::load_str(
        &format!("scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n{yaml}"),
        "t.yml",
    )
    .unwrap();
    cfg.scrape_configs[0].kubernetes_sd_configs[0].clone()
}

/// Runs discovery for `yaml` against `srv`; returns the update stream.
fn start(srv: &FakeApiServer, yaml: &str) -> UnboundedReceiver<(usize, Vec<TargetGroup>)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = ApiClient::new(&srv.url, reqwest::Client::new(), None);
    let mut sd = KubernetesDiscovery::with_client(&sd_config(yaml), client, None).unwrap();
    sd.min_backoff = Duration::from_millis(50);
    let (up, rx) = Updates::channel();
    tokio::spawn(sd.run(up));
    rx
}

/// The receiver's view: latest group per source.
struct View {
    rx: UnboundedReceiver<(usize, Vec<TargetGroup>)>,
    groups: BTreeMap<String, TargetGroup>,
}

impl View {
    fn new(rx: UnboundedReceiver<(usize, Vec<TargetGroup>)>) -> Self {
        View {
            rx,
            groups: BTreeMap::new(),
        }
    }

    /// Applies updates until `cond` holds (panics after 10s).
    async fn until(&mut self, what: &str, cond: impl Fn(&BTreeMap<String, TargetGroup>) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !cond(&self.groups) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some((_, update))) => {
                    for g in update {
                        if g.targets.is_empty() {
                            self.groups.remove(&g.source);
                        } else {
                            self.groups.insert(g.source.clone(), g);
                        }
                    }
                }
                _ => panic!("timed out waiting for {what}; have {:#?}", self.groups),
            }
        }
    }

    /// Every target with its group labels merged in.
    fn targets(&self) -> Vec<LabelSet> {
        let mut out = Vec::new();
        for g in self.groups.values() {
            for t in &g.targets {
                let mut l = g.labels.clone();
                l.extend(t.clone());
                out.push(l);
            }
        }
        out
    }

    fn addresses(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .targets()
            .iter()
            .map(|t| t["__address__"].clone())
            .collect();
        v.sort();
        v
    }
}

fn has_addresses(want: &[&str]) -> impl Fn(&BTreeMap<String, TargetGroup>) -> bool {
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    move |groups| {
        let mut have: Vec<String> = groups
            .values()
            .flat_map(|g| g.targets.iter().map(|t| t["__address__"].clone()))
            .collect();
        have.sort();
        have == want
    }
}

pub fn pod(ns: &str, name: &str, ip: &str, annotations: Value, ports: &[(&str, i32)]) -> Value {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(n, p)| json!({"name": n, "containerPort": p, "protocol": "TCP"}))
        .collect();
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": name, "namespace": ns, "uid": format!("uid-{name}"),
            "labels": {"app": name, "app.kubernetes.io/part-of": "shop"},
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-rs"), "controller": true}]
        },
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "shop/app:1", "ports": ports}]},
        "status": {
            "phase": "Running", "podIP": ip, "hostIP": "10.0.0.1",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "containerID": format!("containerd://{name}")}]
        }
    })
}

fn ls(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn pod_role_labels_and_watch_add_modify_delete() {
    let srv = FakeApiServer::start().await;
    srv.apply(pod(
        "shop",
        "web-1",
        "10.1.0.1",
        json!({"prometheus.io/scrape": "true"}),
        &[("http", 8080)],
    ));
    let mut v = View::new(start(
        &srv,
        "      - role: pod\n        api_server: URL\n"
            .replace("URL", &srv.url)
            .as_str(),
    ));
    v.until("initial pod", has_addresses(&["10.1.0.1:8080"]))
        .await;

    let expected = ls(&[
        ("__address__", "10.1.0.1:8080"),
        ("__meta_kubernetes_namespace", "shop"),
        ("__meta_kubernetes_pod_name", "web-1"),
        ("__meta_kubernetes_pod_ip", "10.1.0.1"),
        ("__meta_kubernetes_pod_ready", "true"),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_node_name", "node-1"),
        ("__meta_kubernetes_pod_host_ip", "10.0.0.1"),
        ("__meta_kubernetes_pod_uid", "uid-web-1"),
        ("__meta_kubernetes_pod_controller_kind", "ReplicaSet"),
        ("__meta_kubernetes_pod_controller_name", "web-1-rs"),
        ("__meta_kubernetes_pod_label_app", "web-1"),
        ("__meta_kubernetes_pod_labelpresent_app", "true"),
        (
            "__meta_kubernetes_pod_label_app_kubernetes_io_part_of",
            "shop",
        ),
        (
            "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_part_of",
            "true",
        ),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape",
            "true",
        ),
        (
            "__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape",
            "true",
        ),
        ("__meta_kubernetes_pod_container_name", "app"),
        ("__meta_kubernetes_pod_container_id", "containerd://web-1"),
        ("__meta_kubernetes_pod_container_image", "shop/app:1"),
        ("__meta_kubernetes_pod_container_init", "false"),
        ("__meta_kubernetes_pod_container_port_name", "http"),
        ("__meta_kubernetes_pod_container_port_number", "8080"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
    ]);
    assert_eq!(v.targets(), vec![expected]);
    assert_eq!(v.groups.keys().collect::<Vec<_>>(), ["pod/shop/web-1"]);

    // Watch: ADDED.
    srv.apply(pod(
        "shop",
        "web-2",
        "10.1.0.2",
        json!({}),
        &[("http", 8080), ("admin", 9090)],
    ));
    v.until(
        "added pod",
        has_addresses(&["10.1.0.1:8080", "10.1.0.2:8080", "10.1.0.2:9090"]),
    )
    .await;
    // MODIFIED: an annotation appears and the IP changes.
    srv.apply(pod(
        "shop",
        "web-2",
        "10.1.0.22",
        json!({"prometheus.io/path": "/m"}),
        &[("http", 8080)],
    ));
    v.until(
        "modified pod",
        has_addresses(&["10.1.0.1:8080", "10.1.0.22:8080"]),
    )
    .await;
    let t = v
        .targets()
        .into_iter()
        .find(|t| t["__address__"] == "10.1.0.22:8080")
        .unwrap();
    assert_eq!(
        t["__meta_kubernetes_pod_annotation_prometheus_io_path"],
        "/m"
    );
    // DELETED.
    srv.delete("Pod", "shop", "web-1");
    v.until("deleted pod", has_addresses(&["10.1.0.22:8080"]))
        .await;
    assert!(!v.groups.contains_key("pod/shop/web-1"));

    // The watch resumed from the list's version rather than listing again.
    let reqs = srv.requests();
    assert_eq!(
        reqs.iter().filter(|r| !r.contains("watch=1")).count(),
        1,
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.contains("watch=1") && r.contains("resourceVersion=101")),
        "{reqs:?}"
    );
}

#[tokio::test]
async fn pod_without_ports_and_pending_pod() {
    let srv = FakeApiServer::start().await;
    let mut p = pod("a", "noports", "10.2.0.1", json!({}), &[]);
    p["spec"]["initContainers"] = json!([{"name": "init", "image": "busybox"}]);
    srv.apply(p);
    // A pod without an IP yet yields no targets.
    let mut pending = pod("a", "pending", "", json!({}), &[("http", 80)]);
    pending["status"]["conditions"] = json!([]);
    srv.apply(pending);
    let mut v = View::new(start(
        &srv,
        &format!("      - role: pod\n        api_server: {}\n", srv.url),
    ));
    v.until("pods", |g| g.len() == 1).await;
    let mut t = v.targets();
    t.sort_by(|a, b| {
        a["__meta_kubernetes_pod_container_name"].cmp(&b["__meta_kubernetes_pod_container_name"])
    });
    assert_eq!(t.len(), 2);
    assert_eq!(t[0]["__address__"], "10.2.0.1");
    assert_eq!(t[0]["__meta_kubernetes_pod_container_name"], "app");
    assert_eq!(t[1]["__meta_kubernetes_pod_container_name"], "init");
    assert_eq!(t[1]["__meta_kubernetes_pod_container_init"], "true");
    assert!(!t[0].contains_key("__meta_kubernetes_pod_container_port_number"));
}

#[tokio::test]
async fn namespaces_and_label_selectors_are_sent_to_the_server() {
    let srv = FakeApiServer::start().await;
    let mut a = pod("one", "a", "10.3.0.1", json!({}), &[("http", 80)]);
    a["metadata"]["labels"]["tier"] = json!("front");
    srv.apply(a);
    srv.apply(pod("one", "b", "10.3.0.2", json!({}), &[("http", 80)]));
    let mut c = pod("two", "c", "10.3.0.3", json!({}), &[("http", 80)]);
    c["metadata"]["labels"]["tier"] = json!("front");
    srv.apply(c);
    srv.apply(pod("three", "d", "10.3.0.4", json!({}), &[("http", 80)]));
    let yaml = format!(
        "      - role: pod\n        api_server: {}\n        namespaces: {{names: [one, two]}}\n        selectors:\n          - role: pod\n            label: tier=front\n",
        srv.url
    );
    let mut v = View::new(start(&srv, &yaml));
    v.until(
        "selected pods",
        has_addresses(&["10.3.0.1:80", "10.3.0.3:80"]),
    )
    .await;
    let reqs = srv.requests();
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("/api/v1/namespaces/one/pods?labelSelector=tier%3Dfront")),
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("/api/v1/namespaces/two/pods?")),
        "{reqs:?}"
    );
    assert!(!reqs.iter().any(|r| r.contains("/three/")));
}

#[tokio::test]
async fn reconnects_relists_and_keeps_targets_through_outages() {
    let srv = FakeApiServer::start().await;
    srv.apply(pod("ns", "p1", "10.4.0.1", json!({}), &[("http", 80)]));
    let mut v = View::new(start(
        &srv,
        &format!("      - role: pod\n        api_server: {}\n", srv.url),
    ));
    v.until("p1", has_addresses(&["10.4.0.1:80"])).await;

    // The watch connection drops: discovery re-watches from its last version
    // and still sees changes made meanwhile, without relisting.
    srv.drop_watches();
    srv.apply(pod("ns", "p2", "10.4.0.2", json!({}), &[("http", 80)]));
    v.until(
        "p2 after reconnect",
        has_addresses(&["10.4.0.1:80", "10.4.0.2:80"]),
    )
    .await;
    assert_eq!(
        srv.requests()
            .iter()
            .filter(|r| !r.contains("watch=1"))
            .count(),
        1
    );

    // An outage: every request fails. Known targets stay; nothing is cleared.
    srv.fail_with(Some(503));
    srv.drop_watches();
    tokio::time::sleep(Duration::from_millis(400)).await;
    while let Ok((_, update)) = v.rx.try_recv() {
        assert!(
            update.iter().all(|g| !g.targets.is_empty()),
            "outage cleared targets: {update:?}"
        );
    }
    assert_eq!(v.addresses(), ["10.4.0.1:80", "10.4.0.2:80"]);

    // History was compacted during the outage: the resumed watch gets 410 and
    // discovery relists, picking up a deletion it never saw as an event.
    srv.delete("Pod", "ns", "p1");
    srv.apply(pod("ns", "p3", "10.4.0.3", json!({}), &[("http", 80)]));
    srv.compact();
    srv.fail_with(None);
    v.until(
        "relisted state",
        has_addresses(&["10.4.0.2:80", "10.4.0.3:80"]),
    )
    .await;
    assert!(
        srv.requests()
            .iter()
            .filter(|r| !r.contains("watch=1"))
            .count()
            >= 2
    );
}

fn service(ns: &str, name: &str, kind: &str) -> Value {
    json!({
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}, "annotations": {"prometheus.io/probe": "true"}},
        "spec": {"type": kind, "clusterIP": "10.96.0.10", "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]}
    })
}

#[tokio::test]
async fn service_role() {
    let srv = FakeApiServer::start().await;
    srv.apply(service("shop", "web", "ClusterIP"));
    let mut ext = service("shop", "ext", "ExternalName");
    ext["spec"]["externalName"] = json!("example.com");
    srv.apply(ext);
    let mut v = View::new(start(
        &srv,
        &format!("      - role: service\n        api_server: {}\n", srv.url),
    ));
    v.until(
        "services",
        has_addresses(&["ext.shop.svc:80", "web.shop.svc:80"]),
    )
    .await;
    let web = v
        .targets()
        .into_iter()
        .find(|t| t["__address__"] == "web.shop.svc:80")
        .unwrap();
    assert_eq!(
        web,
        ls(&[
            ("__address__", "web.shop.svc:80"),
            ("__meta_kubernetes_namespace", "shop"),
            ("__meta_kubernetes_service_name", "web"),
            ("__meta_kubernetes_service_label_app", "web"),
            ("__meta_kubernetes_service_labelpresent_app", "true"),
            (
                "__meta_kubernetes_service_annotation_prometheus_io_probe",
                "true"
            ),
            (
                "__meta_kubernetes_service_annotationpresent_prometheus_io_probe",
                "true"
            ),
            ("__meta_kubernetes_service_port_name", "http"),
            ("__meta_kubernetes_service_port_number", "80"),
            ("__meta_kubernetes_service_port_protocol", "TCP"),
            ("__meta_kubernetes_service_type", "ClusterIP"),
            ("__meta_kubernetes_service_cluster_ip", "10.96.0.10"),
        ])
    );
    let ext = v
        .targets()
        .into_iter()
        .find(|t| t["__address__"] == "ext.shop.svc:80")
        .unwrap();
    assert_eq!(
        ext["__meta_kubernetes_service_external_name"],
        "example.com"
    );
    assert!(!ext.contains_key("__meta_kubernetes_service_cluster_ip"));
    assert_eq!(
        v.groups.keys().collect::<Vec<_>>(),
        ["svc/shop/ext", "svc/shop/web"]
    );
}

#[tokio::test]
async fn endpoints_role_joins_service_and_pod() {
    let srv = FakeApiServer::start().await;
    srv.apply(service("shop", "web", "ClusterIP"));
    srv.apply(pod(
        "shop",
        "web-1",
        "10.5.0.1",
        json!({}),
        &[("http", 8080), ("metrics", 9100)],
    ));
    srv.apply(json!({
        "kind": "Endpoints", "apiVersion": "v1",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"ep": "x"}},
        "subsets": [{
            "addresses": [{"ip": "10.5.0.1", "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "shop"}}],
            "notReadyAddresses": [{"ip": "10.5.0.9", "hostname": "h9"}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        }]
    }));
    let mut v = View::new(start(
        &srv,
        &format!("      - role: endpoints\n        api_server: {}\n", srv.url),
    ));
    v.until(
        "endpoints",
        has_addresses(&["10.5.0.1:8080", "10.5.0.1:9100", "10.5.0.9:8080"]),
    )
    .await;
    let t = v.targets();
    let ready = t
        .iter()
        .find(|t| t["__address__"] == "10.5.0.1:8080")
        .unwrap();
    for (k, want) in [
        ("__meta_kubernetes_namespace", "shop"),
        ("__meta_kubernetes_endpoints_name", "web"),
        ("__meta_kubernetes_endpoints_label_ep", "x"),
        ("__meta_kubernetes_service_name", "web"),
        ("__meta_kubernetes_service_label_app", "web"),
        ("__meta_kubernetes_endpoint_port_name", "http"),
        ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
        ("__meta_kubernetes_endpoint_ready", "true"),
        ("__meta_kubernetes_endpoint_node_name", "node-1"),
        ("__meta_kubernetes_endpoint_address_target_kind", "Pod"),
        ("__meta_kubernetes_endpoint_address_target_name", "web-1"),
        ("__meta_kubernetes_pod_name", "web-1"),
        ("__meta_kubernetes_pod_container_name", "app"),
        ("__meta_kubernetes_pod_container_port_name", "http"),
        ("__meta_kubernetes_pod_container_port_number", "8080"),
    ] {
        assert_eq!(ready.get(k).map(String::as_str), Some(want), "{k}");
    }
    let not_ready = t
        .iter()
        .find(|t| t["__address__"] == "10.5.0.9:8080")
        .unwrap();
    assert_eq!(not_ready["__meta_kubernetes_endpoint_ready"], "false");
    assert_eq!(not_ready["__meta_kubernetes_endpoint_hostname"], "h9");
    assert!(!not_ready.contains_key("__meta_kubernetes_pod_name"));
    // The pod's other container port gets its own target, with pod labels only.
    let extra = t
        .iter()
        .find(|t| t["__address__"] == "10.5.0.1:9100")
        .unwrap();
    assert_eq!(
        extra["__meta_kubernetes_pod_container_port_name"],
        "metrics"
    );
    assert!(!extra.contains_key("__meta_kubernetes_endpoint_port_name"));

    // A service change updates the endpoints' group labels.
    let mut svc = service("shop", "web", "ClusterIP");
    svc["metadata"]["labels"]["app"] = json!("web-v2");
    srv.apply(svc);
    v.until("service relabeled", |g| {
        g.values().any(|g| {
            g.labels
                .get("__meta_kubernetes_service_label_app")
                .map(String::as_str)
                == Some("web-v2")
        })
    })
    .await;
}

#[tokio::test]
async fn endpointslice_role() {
    let srv = FakeApiServer::start().await;
    srv.apply(service("shop", "web", "ClusterIP"));
    srv.apply(pod(
        "shop",
        "web-1",
        "10.6.0.1",
        json!({}),
        &[("http", 8080)],
    ));
    srv.apply(json!({
        "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"name": "web-abc", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.6.0.1"], "conditions": {"ready": true, "serving": true, "terminating": false},
             "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "shop"}, "nodeName": "node-1", "zone": "z1"}
        ],
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080, "appProtocol": "http"}]
    }));
    let mut v = View::new(start(
        &srv,
        &format!(
            "      - role: endpointslice\n        api_server: {}\n",
            srv.url
        ),
    ));
    v.until("slice", has_addresses(&["10.6.0.1:8080"])).await;
    let t = &v.targets()[0];
    for (k, want) in [
        ("__meta_kubernetes_namespace", "shop"),
        ("__meta_kubernetes_endpointslice_name", "web-abc"),
        ("__meta_kubernetes_endpointslice_address_type", "IPv4"),
        (
            "__meta_kubernetes_endpointslice_label_kubernetes_io_service_name",
            "web",
        ),
        ("__meta_kubernetes_endpointslice_port", "8080"),
        ("__meta_kubernetes_endpointslice_port_name", "http"),
        ("__meta_kubernetes_endpointslice_port_protocol", "TCP"),
        ("__meta_kubernetes_endpointslice_port_app_protocol", "http"),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
            "true",
        ),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
            "true",
        ),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
            "false",
        ),
        (
            "__meta_kubernetes_endpointslice_endpoint_node_name",
            "node-1",
        ),
        ("__meta_kubernetes_endpointslice_endpoint_zone", "z1"),
        ("__meta_kubernetes_endpointslice_address_target_kind", "Pod"),
        (
            "__meta_kubernetes_endpointslice_address_target_name",
            "web-1",
        ),
        ("__meta_kubernetes_service_name", "web"),
        ("__meta_kubernetes_pod_name", "web-1"),
        ("__meta_kubernetes_pod_container_port_number", "8080"),
    ] {
        assert_eq!(t.get(k).map(String::as_str), Some(want), "{k}");
    }
    assert!(
        srv.requests()
            .iter()
            .any(|r| r.starts_with("/apis/discovery.k8s.io/v1/endpointslices?"))
    );
}

#[tokio::test]
async fn node_role() {
    let srv = FakeApiServer::start().await;
    srv.apply(json!({
        "kind": "Node", "apiVersion": "v1",
        "metadata": {"name": "node-1", "labels": {"kubernetes.io/os": "linux"}, "annotations": {"a": "b"}},
        "spec": {"providerID": "aws:///i-1"},
        "status": {
            "addresses": [{"type": "Hostname", "address": "node-1.local"}, {"type": "InternalIP", "address": "10.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
        }
    }));
    let mut v = View::new(start(
        &srv,
        &format!("      - role: node\n        api_server: {}\n", srv.url),
    ));
    v.until("node", has_addresses(&["10.0.0.1:10250"])).await;
    assert_eq!(
        v.targets()[0],
        ls(&[
            ("__address__", "10.0.0.1:10250"),
            ("instance", "node-1"),
            ("__meta_kubernetes_node_name", "node-1"),
            ("__meta_kubernetes_node_provider_id", "aws:///i-1"),
            ("__meta_kubernetes_node_label_kubernetes_io_os", "linux"),
            (
                "__meta_kubernetes_node_labelpresent_kubernetes_io_os",
                "true"
            ),
            ("__meta_kubernetes_node_annotation_a", "b"),
            ("__meta_kubernetes_node_annotationpresent_a", "true"),
            ("__meta_kubernetes_node_address_Hostname", "node-1.local"),
            ("__meta_kubernetes_node_address_InternalIP", "10.0.0.1"),
        ])
    );
    assert_eq!(v.groups.keys().collect::<Vec<_>>(), ["node/node-1"]);
}
