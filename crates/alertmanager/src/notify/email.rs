//! `email_configs`: a small SMTP client (EHLO, STARTTLS or implicit TLS on
//! port 465, AUTH CRAM-MD5/PLAIN/LOGIN) sending a multipart message
//! rendered from Alertmanager's email templates.

use std::sync::Arc;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use super::{Notification, NotifyError, Renderer, secret_value};
use crate::config::EmailConfig;

pub struct Email {
    pub conf: EmailConfig,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

struct Conn {
    s: BufReader<Box<dyn Stream>>,
}

fn err(e: impl std::fmt::Display) -> NotifyError {
    NotifyError::retryable(e.to_string())
}

impl Conn {
    /// Reads a (possibly multi-line) reply: (code, lines).
    async fn reply(&mut self) -> Result<(u16, Vec<String>), NotifyError> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.s.read_line(&mut line).await.map_err(err)? == 0 {
                return Err(err("connection closed by SMTP server"));
            }
            let line = line.trim_end().to_string();
            let code: u16 = line
                .get(0..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| err(format!("bad SMTP reply {line:?}")))?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok((code, lines));
            }
        }
    }

    async fn cmd(&mut self, c: &str, want: u16) -> Result<Vec<String>, NotifyError> {
        self.s
            .get_mut()
            .write_all(format!("{c}\r\n").as_bytes())
            .await
            .map_err(err)?;
        self.s.get_mut().flush().await.map_err(err)?;
        let (code, lines) = self.reply().await?;
        if code / 100 != want / 100 {
            let shown = if c.starts_with("AUTH") { "AUTH" } else { c };
            // 5xx replies are permanent, 4xx transient.
            let e = format!("{shown}: {code} {}", lines.join(" "));
            return Err(if code >= 500 {
                NotifyError::permanent(e)
            } else {
                err(e)
            });
        }
        Ok(lines)
    }
}

fn tls_connector(conf: &EmailConfig) -> Result<tokio_rustls::TlsConnector, NotifyError> {
    let mut roots = rustls::RootCertStore::empty();
    let tls = conf.tls_config.clone().unwrap_or_default();
    let ca_file = if tls.ca_file.is_empty() {
        "/etc/ssl/certs/ca-certificates.crt".to_string()
    } else {
        tls.ca_file.clone()
    };
    if let Ok(pem) = std::fs::read(&ca_file) {
        for c in rustls_pemfile::certs(&mut pem.as_slice()).flatten() {
            let _ = roots.add(c);
        }
    }
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut cfg = cfg;
    if tls.insecure_skip_verify {
        cfg.dangerous().set_certificate_verifier(Arc::new(NoVerify));
    }
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

/// `insecure_skip_verify: true`.
#[derive(Debug)]
struct NoVerify;

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn server_name(
    host: &str,
    conf: &EmailConfig,
) -> Result<rustls_pki_types::ServerName<'static>, NotifyError> {
    let name = conf
        .tls_config
        .as_ref()
        .map(|t| t.server_name.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| host.to_string());
    rustls_pki_types::ServerName::try_from(name)
        .map_err(|e| NotifyError::permanent(format!("invalid TLS server name: {e}")))
}

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Encodes a header value as RFC 2047 when it is not plain ASCII.
fn header_value(v: &str) -> String {
    if v.is_ascii() && !v.contains(['\r', '\n']) {
        v.to_string()
    } else {
        format!("=?UTF-8?b?{}?=", b64(v.as_bytes()))
    }
}

/// Splits base64 into 76-column lines.
fn wrap76(s: &str) -> String {
    s.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The message (headers and multipart body) for `n`.
pub fn message(
    c: &EmailConfig,
    n: &Notification<'_>,
    now_unix: i64,
) -> Result<(String, Vec<String>, String), NotifyError> {
    let data = n.data();
    let mut r = Renderer::new(n.templates, &data);
    let mut headers = c.headers.clone();
    headers
        .entry("Subject".into())
        .or_insert_with(|| r#"{{ template "email.default.subject" . }}"#.into());
    headers.entry("To".into()).or_insert_with(|| c.to.clone());
    headers
        .entry("From".into())
        .or_insert_with(|| c.from.clone().unwrap_or_default());
    let rendered: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.clone(), r.render(v)))
        .collect();
    let html = r.render_html(
        c.html
            .as_deref()
            .unwrap_or(r#"{{ template "email.default.html" . }}"#),
    );
    let text = r.render(c.text.as_deref().unwrap_or(""));
    r.check()?;
    let get = |k: &str| {
        rendered
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let from = addr(&get("From"));
    let to: Vec<String> = get("To")
        .split(',')
        .map(|a| addr(a.trim()))
        .filter(|a| !a.is_empty())
        .collect();
    let boundary = format!("sightline-{:016x}", rand::random::<u64>());
    let mut msg = String::new();
    for (k, v) in &rendered {
        msg.push_str(&format!("{k}: {}\r\n", header_value(v)));
    }
    let host = c.hello.clone().unwrap_or_else(|| "localhost".into());
    msg.push_str(&format!(
        "Message-Id: <{}.{}@{}>\r\n",
        rand::random::<u32>(),
        now_unix,
        host
    ));
    msg.push_str(&format!("Date: {}\r\n", rfc2822(now_unix)));
    msg.push_str("MIME-Version: 1.0\r\n");
    msg.push_str(&format!(
        "Content-Type: multipart/alternative;  boundary={boundary}\r\n\r\n"
    ));
    for (ct, body) in [("text/plain", &text), ("text/html", &html)] {
        if body.is_empty() {
            continue;
        }
        msg.push_str(&format!("--{boundary}\r\nContent-Transfer-Encoding: base64\r\nContent-Type: {ct}; charset=UTF-8\r\n\r\n{}\r\n", wrap76(&b64(body.as_bytes()))));
    }
    msg.push_str(&format!("--{boundary}--\r\n"));
    Ok((from, to, msg))
}

/// The address part of `Name <addr>`.
fn addr(s: &str) -> String {
    match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => s[a + 1..b].to_string(),
        _ => s.trim().to_string(),
    }
}

fn rfc2822(unix: i64) -> String {
    let (y, mo, d, h, mi, s, _, wd) = crate::time::Ts::from_secs(unix).civil();
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y} {h:02}:{mi:02}:{s:02} +0000",
        DAYS[wd as usize],
        MONTHS[mo as usize - 1]
    )
}

impl Email {
    pub async fn notify(&self, n: &Notification<'_>) -> Result<(), NotifyError> {
        let c = &self.conf;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let (from, to, msg) = message(c, n, now)?;
        let smarthost = c.smarthost.clone().unwrap_or_default();
        let (host, port) = smarthost
            .rsplit_once(':')
            .ok_or_else(|| NotifyError::permanent(format!("invalid smarthost {smarthost:?}")))?;
        let tcp = tokio::net::TcpStream::connect(&smarthost)
            .await
            .map_err(err)?;
        let stream: Box<dyn Stream> = if port == "465" {
            Box::new(
                tls_connector(c)?
                    .connect(server_name(host, c)?, tcp)
                    .await
                    .map_err(err)?,
            )
        } else {
            Box::new(tcp)
        };
        let mut conn = Conn {
            s: BufReader::new(stream),
        };
        let (code, _) = conn.reply().await?;
        if code != 220 {
            return Err(err(format!("SMTP greeting: {code}")));
        }
        let hello = c.hello.clone().unwrap_or_else(|| "localhost".into());
        let mut ext = conn.cmd(&format!("EHLO {hello}"), 250).await?;
        let mut tls = port == "465";
        if !tls {
            let has_starttls = ext.iter().any(|l| l.eq_ignore_ascii_case("STARTTLS"));
            if has_starttls {
                conn.cmd("STARTTLS", 220).await?;
                let plain = conn.s.into_inner();
                let upgraded = tls_connector(c)?
                    .connect(server_name(host, c)?, plain)
                    .await
                    .map_err(err)?;
                conn = Conn {
                    s: BufReader::new(Box::new(upgraded)),
                };
                ext = conn.cmd(&format!("EHLO {hello}"), 250).await?;
                tls = true;
            } else if c.require_tls.unwrap_or(true) {
                return Err(NotifyError::permanent(format!(
                    "'require_tls' is true (default) but {smarthost:?} does not advertise the STARTTLS extension"
                )));
            }
        }
        if let Some(user) = c.auth_username.as_ref().filter(|u| !u.is_empty()) {
            let mechs: Vec<String> = ext
                .iter()
                .filter_map(|l| l.strip_prefix("AUTH ").or_else(|| l.strip_prefix("AUTH=")))
                .flat_map(|m| m.split_whitespace().map(str::to_ascii_uppercase))
                .collect();
            let password = secret_value(
                c.auth_password.as_ref(),
                c.auth_password_file.as_ref(),
                n.base_dir,
            )?;
            let secret = secret_value(
                c.auth_secret.as_ref(),
                c.auth_secret_file.as_ref(),
                n.base_dir,
            )?;
            let local = matches!(host, "localhost" | "127.0.0.1" | "::1");
            if mechs.iter().any(|m| m == "CRAM-MD5") && !secret.is_empty() {
                let ch = conn.cmd("AUTH CRAM-MD5", 334).await?;
                let challenge = base64::engine::general_purpose::STANDARD
                    .decode(ch.first().map(String::as_str).unwrap_or(""))
                    .map_err(err)?;
                conn.cmd(
                    &b64(format!("{user} {}", hmac_md5(secret.as_bytes(), &challenge)).as_bytes()),
                    235,
                )
                .await?;
            } else if mechs.iter().any(|m| m == "PLAIN") && !password.is_empty() {
                // Go's PlainAuth refuses to send a password in clear text except to localhost.
                if !tls && !local {
                    return Err(NotifyError::permanent("PLAIN authentication requires TLS"));
                }
                let identity = c.auth_identity.clone().unwrap_or_default();
                conn.cmd(
                    &format!(
                        "AUTH PLAIN {}",
                        b64(format!("{identity}\0{user}\0{password}").as_bytes())
                    ),
                    235,
                )
                .await?;
            } else if mechs.iter().any(|m| m == "LOGIN") && !password.is_empty() {
                conn.cmd("AUTH LOGIN", 334).await?;
                conn.cmd(&b64(user.as_bytes()), 334).await?;
                conn.cmd(&b64(password.as_bytes()), 235).await?;
            } else if !mechs.is_empty() {
                return Err(NotifyError::permanent(format!(
                    "no supported authentication mechanism among {mechs:?}"
                )));
            }
        }
        conn.cmd(&format!("MAIL FROM:<{from}>"), 250).await?;
        for rcpt in &to {
            conn.cmd(&format!("RCPT TO:<{rcpt}>"), 250).await?;
        }
        conn.cmd("DATA", 354).await?;
        // Dot-stuffing: lines starting with '.' get another '.'.
        let body: String = msg
            .split("\r\n")
            .map(|l| {
                if l.starts_with('.') {
                    format!(".{l}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\r\n");
        conn.cmd(&format!("{body}\r\n."), 250).await?;
        let _ = conn.cmd("QUIT", 221).await;
        Ok(())
    }
}

fn hmac_md5(key: &[u8], msg: &[u8]) -> String {
    use md5::{Digest, Md5};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..16].copy_from_slice(&Md5::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Md5::new();
    inner.update(k.iter().map(|b| b ^ 0x36).collect::<Vec<_>>());
    inner.update(msg);
    let mut outer = Md5::new();
    outer.update(k.iter().map(|b| b ^ 0x5c).collect::<Vec<_>>());
    outer.update(inner.finalize());
    outer
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cram_md5_rfc2195() {
        // RFC 2195's example.
        let ch = b"<1896.697170952@postoffice.reston.mci.net>";
        assert_eq!(
            super::hmac_md5(b"tanstaaftanstaaf", ch),
            "b913a602c7eda7a495b4e6e7334d3890"
        );
    }
}
