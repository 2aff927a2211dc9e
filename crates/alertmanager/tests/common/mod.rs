//! Test helpers: an Alertmanager served on a local port, HTTP sinks that
//! record requests, and a minimal SMTP server.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sightline_alertmanager::{Alertmanager, Options};

pub struct Server {
    pub am: Alertmanager,
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        self.am.shutdown();
    }
}

pub async fn serve(yaml: &str, data_dir: Option<std::path::PathBuf>) -> Server {
    let cfg = sightline_alertmanager::config::load_str(yaml, "test.yml").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let am = Alertmanager::start(
        cfg,
        Options {
            data_dir,
            external_url: url.clone(),
            ..Options::default()
        },
    )
    .unwrap();
    let app = sightline_alertmanager::router(am.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { am, url, task }
}

#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

impl Request {
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
}

/// Records every request; answers `fail_first` requests with 500.
#[derive(Clone)]
pub struct Sink {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
    fail_left: Arc<Mutex<usize>>,
}

impl Sink {
    pub async fn start(fail_first: usize) -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sink = Sink {
            url,
            requests: Arc::default(),
            fail_left: Arc::new(Mutex::new(fail_first)),
        };
        let s = sink.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let s = s.clone();
            async move {
                let path = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                let mut left = s.fail_left.lock();
                if *left > 0 {
                    *left -= 1;
                    return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "try again");
                }
                s.requests.lock().push(Request {
                    path,
                    headers,
                    body,
                });
                (axum::http::StatusCode::OK, "ok")
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        sink
    }

    pub fn snapshot(&self) -> Vec<Request> {
        self.requests.lock().clone()
    }

    /// Waits (bounded) until at least `n` requests arrived.
    pub async fn wait(&self, n: usize, within: Duration) -> Vec<Request> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.snapshot();
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub async fn post_alerts(url: &str, body: serde_json::Value) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{url}/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
}

pub async fn get_json(url: &str) -> serde_json::Value {
    let b = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&b).unwrap()
}

/// A one-connection-at-a-time SMTP server accepting any mail; returns the
/// received (commands, DATA) pairs.
/// Received mails: (SMTP commands, DATA).
pub type Mails = Arc<Mutex<Vec<(Vec<String>, String)>>>;

pub struct SmtpSink {
    pub addr: String,
    pub mails: Mails,
}

impl SmtpSink {
    pub async fn start(auth: bool) -> SmtpSink {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mails: Mails = Arc::default();
        let m = mails.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let m = m.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut r = BufReader::new(r);
                    let mut cmds = Vec::new();
                    w.write_all(b"220 test ESMTP\r\n").await.unwrap();
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let cmd = line.trim_end().to_string();
                        cmds.push(cmd.clone());
                        let upper = cmd.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") {
                            if auth {
                                b"250-test\r\n250 AUTH PLAIN LOGIN\r\n"
                            } else {
                                b"250 test\r\n"
                            }
                        } else if upper.starts_with("AUTH PLAIN") {
                            b"235 ok\r\n"
                        } else if upper == "DATA" {
                            w.write_all(b"354 go\r\n").await.unwrap();
                            let mut data = String::new();
                            loop {
                                line.clear();
                                r.read_line(&mut line).await.unwrap();
                                if line == ".\r\n" {
                                    break;
                                }
                                data.push_str(&line);
                            }
                            m.lock().push((cmds.clone(), data));
                            b"250 queued\r\n"
                        } else if upper == "QUIT" {
                            w.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        w.write_all(reply).await.unwrap();
                    }
                });
            }
        });
        SmtpSink { addr, mails }
    }
}
