//! A rustls client configuration from a `tls_config` section (CA, client
//! certificate, `server_name`, `insecure_skip_verify`, min/max version),
//! shared by scrape clients and the Kubernetes API client.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sightline_config::TlsConfig;

/// reqwest (built without a default provider) panics unless a process-wide
/// rustls provider exists; the binary installs ring, and so does every
/// client constructor here, so library users and tests need not remember.
pub fn ensure_provider() {
    if CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// PEM material, already read from files or inline fields.
#[derive(Clone, Debug, Default)]
pub struct TlsMaterial {
    pub ca_pem: Option<Vec<u8>>,
    pub cert_pem: Option<Vec<u8>>,
    pub key_pem: Option<Vec<u8>>,
    pub server_name: String,
    pub insecure_skip_verify: bool,
    pub min_version: String,
    pub max_version: String,
}

impl TlsMaterial {
    /// Reads the files a `tls_config` names (inline `ca`/`cert`/`key` win).
    pub fn from_config(c: &TlsConfig) -> Result<Self, String> {
        let pick = |inline: &str, file: &str, what: &str| -> Result<Option<Vec<u8>>, String> {
            if !inline.is_empty() {
                Ok(Some(inline.as_bytes().to_vec()))
            } else if !file.is_empty() {
                std::fs::read(file)
                    .map(Some)
                    .map_err(|e| format!("unable to read {what} {file}: {e}"))
            } else {
                Ok(None)
            }
        };
        Ok(TlsMaterial {
            ca_pem: pick(&c.ca, &c.ca_file, "CA cert")?,
            cert_pem: pick(&c.cert, &c.cert_file, "specified client cert")?,
            key_pem: pick(c.key.expose(), &c.key_file, "specified client key")?,
            server_name: c.server_name.clone(),
            insecure_skip_verify: c.insecure_skip_verify,
            min_version: c.min_version.clone(),
            max_version: c.max_version.clone(),
        })
    }

    /// Whether reqwest's default TLS setup would do just as well.
    pub fn is_default(&self) -> bool {
        self.ca_pem.is_none()
            && self.cert_pem.is_none()
            && self.server_name.is_empty()
            && !self.insecure_skip_verify
            && self.min_version.is_empty()
            && self.max_version.is_empty()
    }

    pub fn client_config(&self) -> Result<rustls::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions = versions(&self.min_version, &self.max_version)?;
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| e.to_string())?;
        let mut roots = RootCertStore::empty();
        match &self.ca_pem {
            Some(pem) => {
                let certs = parse_certs(pem)?;
                if certs.is_empty() {
                    return Err("unable to use specified CA cert: no certificates found".into());
                }
                for c in certs {
                    roots
                        .add(c)
                        .map_err(|e| format!("unable to use specified CA cert: {e}"))?;
                }
            }
            None => {
                for c in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(c);
                }
            }
        }
        let verifier: Arc<dyn ServerCertVerifier> = if self.insecure_skip_verify {
            Arc::new(NoVerify(provider.clone()))
        } else {
            let inner =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| e.to_string())?;
            if self.server_name.is_empty() {
                inner
            } else {
                let name = ServerName::try_from(self.server_name.clone())
                    .map_err(|e| format!("server_name: {e}"))?;
                Arc::new(NamedVerifier { inner, name })
            }
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut cfg = match (&self.cert_pem, &self.key_pem) {
            (Some(cert), Some(key)) => {
                let certs = parse_certs(cert)?;
                let key = parse_key(key)?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| format!("client certificate: {e}"))?
            }
            _ => builder.with_no_client_auth(),
        };
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(cfg)
    }
}

fn versions(
    min: &str,
    max: &str,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let rank = |v: &str, default: u8| match v {
        "" => Ok(default),
        "TLS10" | "TLS11" | "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        other => Err(format!("unknown TLS version: {other}")),
    };
    let (lo, hi) = (rank(min, 12)?, rank(max, 13)?);
    let mut out = Vec::new();
    if lo <= 12 && hi >= 12 {
        out.push(&rustls::version::TLS12);
    }
    if hi >= 13 {
        out.push(&rustls::version::TLS13);
    }
    if out.is_empty() {
        return Err("min_version is greater than max_version".into());
    }
    Ok(out)
}

fn parse_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("parsing PEM certificates: {e}"))
}

fn parse_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| format!("parsing PEM key: {e}"))?
        .ok_or_else(|| "no private key found".to_string())
}

/// Verifies the certificate against `server_name` instead of the URL's host
/// (Go's `tls.Config.ServerName`; SNI still carries the URL host).
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure_skip_verify`: any certificate is accepted, but handshake
/// signatures are still checked so the session keys are the peer's.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _e: &CertificateDer<'_>,
        _i: &[CertificateDer<'_>],
        _n: &ServerName<'_>,
        _o: &[u8],
        _t: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
