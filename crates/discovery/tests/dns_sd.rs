//! `dns_sd_configs` against a local DNS server speaking the wire protocol
//! over UDP: SRV, A, AAAA, MX and NS answers become targets with
//! Prometheus's `__meta_dns_*` labels, NXDOMAIN empties a name's group, and a
//! refresh follows changed records.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sightline_discovery::dns_sd::DnsDiscovery;
use sightline_discovery::{Discovery, DiscoveryOptions, SdConfigs, TargetGroup};

const A: u16 = 1;
const NS: u16 = 2;
const MX: u16 = 15;
const AAAA: u16 = 28;
const SRV: u16 = 33;

/// Records by (lower-case name with final dot, type): each entry is RDATA.
type Zone = Arc<Mutex<HashMap<(String, u16), Vec<Vec<u8>>>>>;

fn name_bytes(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

fn srv(port: u16, target: &str) -> Vec<u8> {
    let mut v = vec![0, 10, 0, 5];
    v.extend_from_slice(&port.to_be_bytes());
    v.extend(name_bytes(target));
    v
}

fn mx(target: &str) -> Vec<u8> {
    let mut v = vec![0, 10];
    v.extend(name_bytes(target));
    v
}

/// A DNS server on 127.0.0.1 answering from `zone`; unknown names get NXDOMAIN.
async fn dns_server(zone: Zone) -> SocketAddr {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let q = &buf[..n];
            // Header (12 bytes), then one question: name, type, class.
            let mut pos = 12;
            let mut labels = Vec::new();
            while q[pos] != 0 {
                let len = q[pos] as usize;
                labels.push(String::from_utf8_lossy(&q[pos + 1..pos + 1 + len]).to_lowercase());
                pos += 1 + len;
            }
            pos += 1;
            let qtype = u16::from_be_bytes([q[pos], q[pos + 1]]);
            let question_end = pos + 4;
            let name = format!("{}.", labels.join("."));
            let answers = zone.lock().unwrap().get(&(name.clone(), qtype)).cloned();
            let exists = zone.lock().unwrap().keys().any(|(n, _)| *n == name);
            // A name starting with "fail." makes the server fail (SERVFAIL).
            let rcode = if name.starts_with("fail.") {
                0x82
            } else if exists {
                0x80
            } else {
                0x83
            };
            let mut r = Vec::new();
            r.extend_from_slice(&q[..2]);
            // QR, RD, RA; NXDOMAIN when the name has no records at all.
            r.extend_from_slice(&[0x81, rcode]);
            let an = answers.as_ref().map_or(0, Vec::len) as u16;
            r.extend_from_slice(&[0, 1]);
            r.extend_from_slice(&an.to_be_bytes());
            r.extend_from_slice(&[0, 0, 0, 0]);
            r.extend_from_slice(&q[12..question_end]);
            for rdata in answers.unwrap_or_default() {
                r.extend_from_slice(&[0xc0, 12]);
                r.extend_from_slice(&qtype.to_be_bytes());
                r.extend_from_slice(&[0, 1, 0, 0, 0, 30]);
                r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                r.extend_from_slice(&rdata);
            }
            let _ = sock.send_to(&r, peer).await;
        }
    });
    addr
}

fn dns_config(yaml: &str) -> sightline_config::GenericSdConfig {
    let cfg = sightline_config::load_str(
        &format!("scrape_configs:\n  - job_name: j\n    dns_sd_configs:\n      - {yaml}\n"),
        "p.yml",
    )
    .unwrap();
    cfg.scrape_configs[0].dns_sd_configs[0].clone()
}

/// The group `name` resolves to under the `dns_sd_configs` entry `yaml`.
async fn resolve(server: SocketAddr, yaml: &str, name: &str) -> TargetGroup {
    DnsDiscovery::new(&dns_config(yaml), &[server])
        .unwrap()
        .resolve(name)
        .await
        .unwrap()
}

fn targets(g: &TargetGroup) -> Vec<Vec<(String, String)>> {
    let mut v: Vec<Vec<(String, String)>> = g
        .targets
        .iter()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .collect();
    v.sort();
    v
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn record_types_become_targets_with_meta_labels() {
    let zone: Zone = Default::default();
    {
        let mut z = zone.lock().unwrap();
        z.insert(
            ("_metrics._tcp.svc.test.".into(), SRV),
            vec![srv(9100, "node-a.svc.test."), srv(9200, "node-b.svc.test.")],
        );
        z.insert(
            ("api.svc.test.".into(), A),
            vec![vec![10, 0, 0, 1], vec![10, 0, 0, 2]],
        );
        z.insert(
            ("api.svc.test.".into(), AAAA),
            vec![[0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1].to_vec()],
        );
        z.insert(("svc.test.".into(), MX), vec![mx("mail.svc.test.")]);
        z.insert(("svc.test.".into(), NS), vec![name_bytes("ns1.svc.test.")]);
    }
    let server = dns_server(zone).await;

    let g = resolve(
        server,
        "{names: ['_metrics._tcp.svc.test']}",
        "_metrics._tcp.svc.test",
    )
    .await;
    assert_eq!(g.source, "_metrics._tcp.svc.test");
    assert_eq!(
        targets(&g),
        vec![
            pairs(&[
                ("__address__", "node-a.svc.test:9100"),
                ("__meta_dns_name", "_metrics._tcp.svc.test"),
                ("__meta_dns_srv_record_port", "9100"),
                ("__meta_dns_srv_record_target", "node-a.svc.test."),
            ]),
            pairs(&[
                ("__address__", "node-b.svc.test:9200"),
                ("__meta_dns_name", "_metrics._tcp.svc.test"),
                ("__meta_dns_srv_record_port", "9200"),
                ("__meta_dns_srv_record_target", "node-b.svc.test."),
            ]),
        ]
    );

    let g = resolve(
        server,
        "{names: [api.svc.test], type: A, port: 8080}",
        "api.svc.test",
    )
    .await;
    let addrs: Vec<String> = targets(&g).iter().map(|t| t[0].1.clone()).collect();
    assert_eq!(addrs, ["10.0.0.1:8080", "10.0.0.2:8080"]);

    let g = resolve(
        server,
        "{names: [api.svc.test], type: AAAA, port: 8080}",
        "api.svc.test",
    )
    .await;
    assert_eq!(
        targets(&g)[0][0],
        ("__address__".to_string(), "[::1]:8080".to_string())
    );

    let g = resolve(
        server,
        "{names: [svc.test], type: MX, port: 25}",
        "svc.test",
    )
    .await;
    assert_eq!(
        targets(&g),
        vec![pairs(&[
            ("__address__", "mail.svc.test:25"),
            ("__meta_dns_mx_record_target", "mail.svc.test."),
            ("__meta_dns_name", "svc.test"),
        ])]
    );

    let g = resolve(
        server,
        "{names: [svc.test], type: NS, port: 53}",
        "svc.test",
    )
    .await;
    assert_eq!(
        targets(&g),
        vec![pairs(&[
            ("__address__", "ns1.svc.test:53"),
            ("__meta_dns_name", "svc.test"),
            ("__meta_dns_ns_record_target", "ns1.svc.test."),
        ])]
    );

    // A name that does not exist has no targets (and is not an error).
    let g = resolve(
        server,
        "{names: [gone.svc.test], type: A, port: 1}",
        "gone.svc.test",
    )
    .await;
    assert!(g.targets.is_empty());
}

#[tokio::test]
async fn refresh_follows_changed_records() {
    let zone: Zone = Default::default();
    zone.lock()
        .unwrap()
        .insert(("web.svc.test.".into(), A), vec![vec![10, 1, 0, 1]]);
    let server = dns_server(zone.clone()).await;
    let cfg = dns_config(
        "{names: [web.svc.test, fail.svc.test], type: A, port: 80, refresh_interval: 200ms}",
    );
    let opts = DiscoveryOptions {
        throttle: Duration::from_millis(50),
        dns_servers: vec![server],
        ..DiscoveryOptions::default()
    };
    let d = Discovery::start_sd(
        SdConfigs {
            dnss: std::slice::from_ref(&cfg),
            ..SdConfigs::default()
        },
        &opts,
    );
    let mut rx = d.subscribe();
    wait_for(&mut rx, &["10.1.0.1:80"]).await;
    zone.lock().unwrap().insert(
        ("web.svc.test.".into(), A),
        vec![vec![10, 1, 0, 1], vec![10, 1, 0, 2]],
    );
    wait_for(&mut rx, &["10.1.0.1:80", "10.1.0.2:80"]).await;
    zone.lock().unwrap().clear();
    wait_for(&mut rx, &[]).await;
    // The name whose server fails counts as a refresh failure each round.
    assert!(
        sightline_discovery::metrics::refresh_failures(
            sightline_discovery::metrics::Mechanism::Dns
        ) >= 1
    );
}

fn addresses(groups: &[TargetGroup]) -> Vec<String> {
    let mut v: Vec<String> = groups
        .iter()
        .flat_map(|g| g.targets.iter().map(|t| t["__address__"].clone()))
        .collect();
    v.sort();
    v
}

async fn wait_for(rx: &mut tokio::sync::watch::Receiver<Arc<Vec<TargetGroup>>>, want: &[&str]) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let got = addresses(&rx.borrow_and_update());
            if got == want {
                return;
            }
            rx.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("targets never became {want:?}"));
}
