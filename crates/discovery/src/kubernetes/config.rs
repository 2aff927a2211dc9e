//! Where the API server is and how to authenticate: `api_server` with the
//! scrape-style HTTP client settings, a kubeconfig file, or the pod's
//! service account (in-cluster).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use sightline_config::KubernetesSdConfig;

use super::client::ApiClient;
use crate::tls::TlsMaterial;

const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn user_agent() -> String {
    concat!("Sightline/", env!("CARGO_PKG_VERSION")).to_string()
}

/// The client for a config, and the pod's own namespace when in-cluster and asked for.
pub fn client_for(cfg: &KubernetesSdConfig) -> Result<(ApiClient, Option<String>), String> {
    crate::tls::ensure_provider();
    if !cfg.kubeconfig_file.is_empty() {
        return Ok((from_kubeconfig(Path::new(&cfg.kubeconfig_file))?, None));
    }
    if !cfg.api_server.is_empty() {
        let http = crate::http::client_builder(&cfg.http_client_config())?
            .user_agent(user_agent())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        return Ok((ApiClient::new(&cfg.api_server, http, None), None));
    }
    in_cluster(cfg.namespaces.own_namespace)
}

fn in_cluster(own_namespace: bool) -> Result<(ApiClient, Option<String>), String> {
    let host = std::env::var("KUBERNETES_SERVICE_HOST").unwrap_or_default();
    let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_default();
    if host.is_empty() || port.is_empty() {
        return Err("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined".into());
    }
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let ca = std::fs::read(format!("{SA_DIR}/ca.crt"))
        .map_err(|e| format!("reading service account CA: {e}"))?;
    let tls = TlsMaterial {
        ca_pem: Some(ca),
        ..Default::default()
    };
    let http = reqwest::Client::builder()
        .user_agent(user_agent())
        .connect_timeout(Duration::from_secs(10))
        .tls_backend_preconfigured(tls.client_config()?)
        .build()
        .map_err(|e| e.to_string())?;
    let ns = if own_namespace {
        let s = std::fs::read_to_string(format!("{SA_DIR}/namespace"))
            .map_err(|e| format!("could not determine the pod's namespace: {e}"))?;
        if s.trim().is_empty() {
            return Err("could not read own namespace name (empty file)".into());
        }
        Some(s.trim().to_string())
    } else {
        None
    };
    let client = ApiClient::new(
        &format!("https://{host}:{port}"),
        http,
        Some(PathBuf::from(format!("{SA_DIR}/token"))),
    );
    Ok((client, ns))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KubeConfig {
    clusters: Vec<Named<Cluster>>,
    users: Vec<Named<User>>,
    contexts: Vec<Named<Context>>,
    #[serde(rename = "current-context")]
    current_context: String,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: Option<T>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority: String,
    certificate_authority_data: String,
    insecure_skip_tls_verify: bool,
    tls_server_name: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct User {
    token: String,
    #[serde(rename = "tokenFile")]
    token_file: String,
    client_certificate: String,
    client_certificate_data: String,
    client_key: String,
    client_key_data: String,
    username: String,
    password: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Context {
    cluster: String,
    user: String,
}

/// Inline base64 data wins over a file path (resolved against the kubeconfig's directory).
fn data_or_file(data: &str, file: &str, dir: &Path) -> Result<Option<Vec<u8>>, String> {
    if !data.is_empty() {
        return base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map(Some)
            .map_err(|e| format!("kubeconfig: {e}"));
    }
    if !file.is_empty() {
        return std::fs::read(dir.join(file))
            .map(Some)
            .map_err(|e| format!("kubeconfig: reading {file}: {e}"));
    }
    Ok(None)
}

pub(crate) fn from_kubeconfig(path: &Path) -> Result<ApiClient, String> {
    crate::tls::ensure_provider();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading kubeconfig {}: {e}", path.display()))?;
    let kc: KubeConfig = serde_saphyr::from_str(&text)
        .map_err(|e| format!("parsing kubeconfig {}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let ctx_name = if kc.current_context.is_empty() {
        kc.contexts
            .first()
            .map(|c| c.name.clone())
            .unwrap_or_default()
    } else {
        kc.current_context.clone()
    };
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == ctx_name)
        .and_then(|c| c.value.as_ref());
    let (cluster_name, user_name) = match ctx {
        Some(c) => (c.cluster.clone(), c.user.clone()),
        None => (String::new(), String::new()),
    };
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .or(kc.clusters.first())
        .and_then(|c| c.value.as_ref())
        .ok_or("kubeconfig: no cluster")?;
    let default_user = User::default();
    let user = kc
        .users
        .iter()
        .find(|u| u.name == user_name)
        .and_then(|u| u.value.as_ref())
        .unwrap_or(&default_user);
    if cluster.server.is_empty() {
        return Err("kubeconfig: cluster has no server".into());
    }
    let tls = TlsMaterial {
        ca_pem: data_or_file(
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
            dir,
        )?,
        cert_pem: data_or_file(&user.client_certificate_data, &user.client_certificate, dir)?,
        key_pem: data_or_file(&user.client_key_data, &user.client_key, dir)?,
        server_name: cluster.tls_server_name.clone(),
        insecure_skip_verify: cluster.insecure_skip_tls_verify,
        ..Default::default()
    };
    let mut headers = reqwest::header::HeaderMap::new();
    let mut token_file = None;
    if !user.token.is_empty() {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", user.token)
                .parse()
                .map_err(|_| "kubeconfig: bad token")?,
        );
    } else if !user.token_file.is_empty() {
        token_file = Some(dir.join(&user.token_file));
    } else if !user.username.is_empty() {
        let v = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", user.username, user.password));
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Basic {v}")
                .parse()
                .map_err(|_| "kubeconfig: bad credentials")?,
        );
    }
    let mut b = reqwest::Client::builder()
        .user_agent(user_agent())
        .connect_timeout(Duration::from_secs(10))
        .default_headers(headers);
    if cluster.server.starts_with("https") && !tls.is_default() {
        b = b.tls_backend_preconfigured(tls.client_config()?);
    }
    let http = b.build().map_err(|e| e.to_string())?;
    Ok(ApiClient::new(&cluster.server, http, token_file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_picks_current_context() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kubeconfig");
        std::fs::write(
            &p,
            "apiVersion: v1\nkind: Config\ncurrent-context: b\nclusters:\n- name: one\n  cluster:\n    server: http://one:1\n- name: two\n  cluster:\n    server: http://two:2\ncontexts:\n- name: a\n  context: {cluster: one, user: u}\n- name: b\n  context: {cluster: two, user: u}\nusers:\n- name: u\n  user:\n    token: abc\n",
        )
        .unwrap();
        let c = from_kubeconfig(&p).unwrap();
        assert_eq!(format!("{c:?}"), "ApiClient(http://two:2)");
    }
}
