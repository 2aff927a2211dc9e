//! Starting the real `sightline` binary on a free port for end-to-end tests.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub data: PathBuf,
    pub log: PathBuf,
    pub otlp_grpc_port: u16,
    pub otlp_http_port: u16,
}

impl Server {
    /// Starts `sightline run` with `extra` flags, storing in `data`, and waits until ready.
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Self::start_scheme(data, extra, "http")
    }

    pub fn start_scheme(data: &Path, extra: &[&str], scheme: &str) -> Server {
        let port = free_port();
        let log = data.with_extension(format!("{port}.log"));
        let (otlp_grpc_port, otlp_http_port) = (free_port(), free_port());
        let mut args = vec![
            "run".to_string(),
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--storage.path={}", data.display()),
            format!("--otlp.grpc.listen-address=127.0.0.1:{otlp_grpc_port}"),
            format!("--otlp.http.listen-address=127.0.0.1:{otlp_http_port}"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(env!("CARGO_BIN_EXE_sightline"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn sightline");
        let s = Server {
            child,
            port,
            data: data.to_path_buf(),
            log,
            otlp_grpc_port,
            otlp_http_port,
        };
        s.wait_ready(scheme);
        s
    }

    fn wait_ready(&self, scheme: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if scheme == "https" {
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return;
                }
            } else if http_get(self.port, "/-/ready")
                .map(|(c, _)| c == 200)
                .unwrap_or(false)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "sightline did not become ready; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn sigterm_and_wait(mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "sightline did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal blocking HTTP/1.1 GET (no client crate, so tests can poll from any thread).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    http_request(port, "GET", path, &[], &[])
}

pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n");
    let (head, body) = match split {
        Some(i) => (&buf[..i], &buf[i + 4..]),
        None => (&buf[..], &[][..]),
    };
    let chunked = String::from_utf8_lossy(head).lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

/// Decodes an HTTP/1.1 chunked body (streamed responses carry no Content-Length).
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&rest[..eol]);
        let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        let after = &rest[eol + 2..];
        if n == 0 || after.len() < n {
            break;
        }
        out.extend_from_slice(&after[..n]);
        rest = after[n..].strip_prefix(b"\r\n").unwrap_or(&after[n..]);
    }
    out
}

pub fn remote_write(port: u16, body: &[u8]) -> std::io::Result<(u16, String)> {
    http_request(
        port,
        "POST",
        "/api/v1/write",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ],
        body,
    )
}

/// Debian's `prometheus` binary (or `$PROMETHEUS_BIN`); fails the test with
/// what to install when it is missing.
pub fn prometheus_binary() -> String {
    let p = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
    assert!(
        Command::new(&p).arg("--version").output().is_ok(),
        "the real Prometheus is needed for this test: install Debian's `prometheus` package (scripts/test.sh does)"
    );
    p
}

/// Starts the real Prometheus with `config` (written to `dir`), its TSDB and
/// log under `dir`, listening on `port`.
pub fn start_prometheus(dir: &Path, config: &str, port: u16) -> Child {
    start_prometheus_with(dir, config, port, &[])
}

/// [`start_prometheus`] with extra flags (e.g. `--web.enable-remote-write-receiver`).
pub fn start_prometheus_with(dir: &Path, config: &str, port: u16, extra: &[&str]) -> Child {
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    Command::new(prometheus_binary())
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prom").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prom.log")).unwrap())
        .spawn()
        .unwrap()
}

/// One HTTP/1.1 request read from a keep-alive connection: its head (request
/// line and headers) and body (by `Content-Length`). `buf` carries bytes read
/// past this request to the next call; `None` when the peer hung up.
pub fn read_http_request(
    s: &mut impl std::io::Read,
    buf: &mut Vec<u8>,
) -> Option<(String, Vec<u8>)> {
    let mut chunk = [0u8; 65536];
    let p = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..p]).to_string();
    let len: usize = header_value(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < p + 4 + len {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf[p + 4..p + 4 + len].to_vec();
    buf.drain(..p + 4 + len);
    Some((head, body))
}

/// A header's value in a request head (case-insensitive name).
pub fn header_value(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// Retries `f` until it succeeds; fails the test with `f`'s last error after 60s.
pub fn eventually(what: &str, mut f: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        match f() {
            Ok(()) => return,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}: {last}");
}

/// The value of the first sample line of `name` in a text exposition whose
/// labels contain `labels` (`""` for an unlabeled metric).
pub fn exposed_value(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let (lbl, v) = rest.rsplit_once(' ')?;
        let plain = lbl.is_empty() && labels.is_empty();
        (plain || (lbl.starts_with('{') && lbl.contains(labels))).then(|| v.parse().ok())?
    })
}
