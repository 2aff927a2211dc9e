//! `dns_sd_configs`: targets from DNS records, re-resolved every
//! `refresh_interval` (30s), as Prometheus's `discovery/dns`. SRV records
//! give `target:port`; A, AAAA, MX and NS records use the configured `port`.
//! Each name is one group (source = the name) with `__meta_dns_name` and,
//! per record type, `__meta_dns_srv_record_target`/`_port`,
//! `__meta_dns_mx_record_target` or `__meta_dns_ns_record_target` (the
//! record's name as returned, with its final dot). Names are resolved with
//! the system's resolver settings (`/etc/resolv.conf`: servers, search
//! domains, ndots). A name that cannot be resolved keeps its last targets; a
//! name that does not exist (NXDOMAIN, no records) has none.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use sightline_config::GenericSdConfig;

use crate::{ADDRESS_LABEL, LabelSet, TargetGroup, Updates};

const DEFAULT_REFRESH: Duration = Duration::from_secs(30);

pub struct DnsDiscovery {
    names: Vec<String>,
    qtype: RecordType,
    port: u16,
    refresh: Duration,
    resolver: TokioResolver,
}

impl DnsDiscovery {
    /// From a validated `dns_sd_configs` entry. `servers` replaces the
    /// system's name servers when not empty.
    pub fn new(cfg: &GenericSdConfig, servers: &[SocketAddr]) -> Result<DnsDiscovery, String> {
        let c = &cfg.0;
        let names: Vec<String> = c
            .get("names")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let qtype = match c
            .get("type")
            .and_then(|v| v.as_str())
            .unwrap_or("SRV")
            .to_uppercase()
            .as_str()
        {
            "" | "SRV" => RecordType::SRV,
            "A" => RecordType::A,
            "AAAA" => RecordType::AAAA,
            "MX" => RecordType::MX,
            "NS" => RecordType::NS,
            t => return Err(format!("dns_sd_configs: invalid DNS-SD records type {t}")),
        };
        let port = c.get("port").and_then(|v| v.as_u64()).unwrap_or(0);
        let port =
            u16::try_from(port).map_err(|_| format!("dns_sd_configs: port {port} out of range"))?;
        let refresh = match c.get("refresh_interval").and_then(|v| v.as_str()) {
            Some(s) => sightline_config::parse_duration(s)
                .map_err(|e| format!("dns_sd_configs refresh_interval: {e}"))?
                .as_std(),
            None => DEFAULT_REFRESH,
        };
        let mut builder = if servers.is_empty() {
            Resolver::builder_tokio().map_err(|e| {
                format!("dns_sd_configs: reading the system resolver configuration: {e}")
            })?
        } else {
            let ns = servers
                .iter()
                .map(|a| {
                    let mut n = NameServerConfig::udp_and_tcp(a.ip());
                    for conn in &mut n.connections {
                        conn.port = a.port();
                    }
                    n
                })
                .collect();
            Resolver::builder_with_config(
                ResolverConfig::from_name_servers(ns),
                TokioRuntimeProvider::default(),
            )
        };
        // Every refresh asks the servers, as Prometheus's DNS client does:
        // a cached answer would hide record changes until its TTL ran out.
        builder.options_mut().cache_size = 0;
        let resolver = builder
            .build()
            .map_err(|e| format!("dns_sd_configs: {e}"))?;
        Ok(DnsDiscovery {
            names,
            qtype,
            port,
            refresh: if refresh.is_zero() {
                DEFAULT_REFRESH
            } else {
                refresh
            },
            resolver,
        })
    }

    /// The group of one name, or why it could not be resolved.
    pub async fn resolve(&self, name: &str) -> Result<TargetGroup, String> {
        let mut group = TargetGroup::cleared(name);
        let lookup = match self.resolver.lookup(name, self.qtype).await {
            Ok(l) => l,
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => return Ok(group),
            Err(e) => return Err(format!("could not resolve {name:?}: {e}")),
        };
        for record in lookup.answers() {
            let mut t = LabelSet::new();
            let addr = match &record.data {
                RData::SRV(srv) if self.qtype == RecordType::SRV => {
                    let target = srv.target.to_string();
                    t.insert("__meta_dns_srv_record_target".into(), target.clone());
                    t.insert("__meta_dns_srv_record_port".into(), srv.port.to_string());
                    host_port(target.trim_end_matches('.'), srv.port)
                }
                RData::MX(mx) if self.qtype == RecordType::MX => {
                    let target = mx.exchange.to_string();
                    t.insert("__meta_dns_mx_record_target".into(), target.clone());
                    host_port(target.trim_end_matches('.'), self.port)
                }
                RData::NS(ns) if self.qtype == RecordType::NS => {
                    let target = ns.0.to_string();
                    t.insert("__meta_dns_ns_record_target".into(), target.clone());
                    host_port(target.trim_end_matches('.'), self.port)
                }
                RData::A(a) if self.qtype == RecordType::A => {
                    host_port(&a.0.to_string(), self.port)
                }
                RData::AAAA(a) if self.qtype == RecordType::AAAA => {
                    host_port(&a.0.to_string(), self.port)
                }
                // CNAMEs on the way to the records asked for, or other noise.
                _ => continue,
            };
            t.insert(ADDRESS_LABEL.into(), addr);
            t.insert("__meta_dns_name".into(), name.to_string());
            group.targets.push(t);
        }
        Ok(group)
    }

    pub async fn run(self, up: Updates) {
        loop {
            let mut groups = Vec::new();
            let mut failed = false;
            for name in &self.names {
                match self.resolve(name).await {
                    Ok(g) => groups.push(g),
                    Err(e) => {
                        failed = true;
                        tracing::error!(error = %e, "dns_sd refresh failed; keeping the name's last targets")
                    }
                }
            }
            if failed {
                crate::metrics::count_refresh_failure(crate::metrics::Mechanism::Dns);
            }
            if !up.send(groups) {
                return;
            }
            tokio::time::sleep(self.refresh).await;
        }
    }
}

/// Go's `net.JoinHostPort`: IPv6 addresses in brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
