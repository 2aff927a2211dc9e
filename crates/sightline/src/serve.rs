//! Serving the router over plain TCP or TLS, and reload bookkeeping.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use sightline_config::TlsServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let Some(tls) = tls else {
        return axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| e.to_string());
    };
    let acceptor = TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let app = app.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else { return };
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(app));
                    let _ = watcher.watch(conn.into_owned()).await;
                });
            }
        }
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
    }
    Ok(())
}

/// Builds the rustls server config from the web config's `tls_server_config`.
pub fn tls_config(t: &TlsServerConfig) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let cert_pem = if t.cert_file.is_empty() {
        t.cert.clone().into_bytes()
    } else {
        std::fs::read(&t.cert_file)
            .map_err(|e| format!("tls_server_config.cert_file {}: {e}", t.cert_file))?
    };
    let key_pem = if t.key_file.is_empty() {
        t.key.expose().as_bytes().to_vec()
    } else {
        std::fs::read(&t.key_file)
            .map_err(|e| format!("tls_server_config.key_file {}: {e}", t.key_file))?
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls_server_config: certificate: {e}"))?;
    if certs.is_empty() {
        return Err("tls_server_config: no certificate found".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("tls_server_config: private key: {e}"))?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match t.min_version.as_str() {
        "TLS13" => vec![&rustls::version::TLS13],
        _ => vec![&rustls::version::TLS12, &rustls::version::TLS13],
    };
    let builder = rustls::ServerConfig::builder_with_protocol_versions(&versions);
    let builder = if t.client_ca_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let ca = std::fs::read(&t.client_ca_file)
            .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&ca) {
            roots
                .add(c.map_err(|e| format!("client_ca_file: {e}"))?)
                .map_err(|e| format!("client_ca_file: {e}"))?;
        }
        let v = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots));
        let v = match t.client_auth_type.as_str() {
            "RequireAndVerifyClientCert" | "RequireAnyClientCert" => v,
            _ => v.allow_unauthenticated(),
        };
        builder.with_client_cert_verifier(v.build().map_err(|e| format!("client_ca_file: {e}"))?)
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
