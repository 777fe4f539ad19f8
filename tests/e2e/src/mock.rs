//! A mock receiver on a loopback port: records every request and answers as told.
//!
//! Modes cover how providers fail: an error status (with `Retry-After`), a reply slower than
//! the app's timeout, a malformed reply, and a refused connection ([`refused_url`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the receiver answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Answer with this status and body (Slack answers `200 ok`).
    Status(u16, &'static str),
    /// Answer 429 with `Retry-After: secs`.
    RateLimited(u64),
    /// Answer 200 only after this long: longer than the app's timeout, a timeout.
    Slow(Duration),
    /// Answer bytes that are not HTTP.
    Malformed,
}

/// A request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status the receiver answered (0 for a malformed reply).
    pub answered: u16,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    mode: Option<Mode>,
    received: Vec<Received>,
}

pub struct MockReceiver {
    port: u16,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockReceiver {
    /// Starts a receiver answering `200 ok`.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        MockReceiver { port, state, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = Some(mode);
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The requests answered with a 2xx: the messages that really arrived.
    pub fn delivered(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }

    /// Waits until at least `n` requests were received (answered or not).
    pub async fn wait_for_requests(&self, n: usize) -> Vec<Received> {
        for _ in 0..400 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("expected {n} requests, got {}", self.received().len());
    }

    /// Waits until at least `n` messages were delivered.
    pub async fn wait_for_delivered(&self, n: usize) -> Vec<Received> {
        for _ in 0..400 {
            let got = self.delivered();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "expected {n} delivered messages, got {}",
            self.delivered().len()
        );
    }
}

/// A loopback URL nothing listens on: connecting is refused. The port stays bound (without
/// listening) for the rest of the test process, so no other test's server can take it and
/// answer there instead.
pub async fn refused_url() -> String {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("an address"))
        .expect("bind loopback");
    let port = socket.local_addr().expect("local addr").port();
    // Never listened on, never closed: connections are refused, the port is never reused.
    std::mem::forget(socket);
    format!("http://127.0.0.1:{port}/refused")
}

async fn accept_loop(listener: TcpListener, state: Arc<Mutex<State>>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let mode = state.lock().unwrap().mode.clone();
            if mode == Some(Mode::Malformed) {
                let mut buf = vec![0u8; 64 * 1024];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let (method, path) = request_line(&buf[..n]);
                state.lock().unwrap().received.push(Received {
                    method,
                    path,
                    headers: Vec::new(),
                    body: Vec::new(),
                    answered: 0,
                    at: Instant::now(),
                });
                let _ = stream.write_all(b"this is not HTTP\r\n\r\n").await;
                return;
            }
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let state = state.clone();
                async move {
                    let at = Instant::now();
                    let method = req.method().to_string();
                    let path = req.uri().path().to_owned();
                    let headers = crate::client::header_pairs(req.headers());
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes().to_vec())
                        .unwrap_or_default();
                    let mode = state
                        .lock()
                        .unwrap()
                        .mode
                        .clone()
                        .unwrap_or(Mode::Status(200, "ok"));
                    let (status, text, retry_after) = match mode {
                        Mode::Status(status, text) => (status, text, None),
                        Mode::RateLimited(secs) => (429, "rate_limited", Some(secs)),
                        Mode::Slow(delay) => {
                            tokio::time::sleep(delay).await;
                            (200, "ok", None)
                        }
                        Mode::Malformed => unreachable!("handled per connection"),
                    };
                    // A slow reply the client gave up on did not arrive: record it as failed.
                    let answered = if matches!(mode, Mode::Slow(_)) {
                        0
                    } else {
                        status
                    };
                    state.lock().unwrap().received.push(Received {
                        method,
                        path,
                        headers,
                        body,
                        answered,
                        at,
                    });
                    let mut res = hyper::Response::builder().status(status);
                    if let Some(secs) = retry_after {
                        res = res.header("retry-after", secs.to_string());
                    }
                    Ok::<_, std::convert::Infallible>(
                        res.body(Full::new(Bytes::from_static(text.as_bytes())))
                            .expect("response"),
                    )
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn request_line(bytes: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(bytes);
    let mut parts = text.split_whitespace();
    (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    )
}
