//! A minimal HTTP/1.1 client for talking to the app on loopback.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// A response read into memory.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// `name=value` of the cookie `name` the response sets.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.split(';').next().unwrap_or("").to_owned())
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    /// The value of the hidden form field `name` in an HTML page.
    pub fn hidden_field(&self, name: &str) -> Option<String> {
        let html = self.text();
        let marker = format!("name=\"{name}\" value=\"");
        let at = html.find(&marker)? + marker.len();
        html[at..].split('"').next().map(str::to_owned)
    }

    /// Asserts an RFC 9457 problem with `status`, and returns it.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text()
        );
        let p = self.json();
        assert_eq!(p["status"], status);
        assert!(p["type"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()));
        p
    }
}

/// Sends one request and reads the whole response.
///
/// # Panics
/// When no response comes (see [`try_request`] for a runtime that may be gone).
pub async fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Response {
    try_request(method, url, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// Like [`request`], answering why no whole response came: the connection was refused or cut
/// (a runtime killed mid-request, say).
pub async fn try_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Response, String> {
    KeptAlive::new()
        .try_request(method, url, headers, body)
        .await
}

/// Headers as (name, value) text pairs, as the tests compare them.
pub(crate) fn header_pairs(headers: &hyper::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// A client that keeps its connection open between requests, as wrk, browsers and most
/// webhook senders do: one per simulated connection in the benches.
#[derive(Clone)]
pub struct KeptAlive(Client<HttpConnector, Full<Bytes>>);

impl Default for KeptAlive {
    fn default() -> Self {
        Self::new()
    }
}

impl KeptAlive {
    pub fn new() -> Self {
        Self(Client::builder(TokioExecutor::new()).build_http())
    }

    /// Like [`request`], on this client's connection.
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Response {
        self.try_request(method, url, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
    }

    async fn try_request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response, String> {
        let mut builder = hyper::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let req = builder
            .body(Full::new(Bytes::from(body)))
            .expect("a valid request");
        let res = self.0.request(req).await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let headers = header_pairs(res.headers());
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes()
            .to_vec();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// Sends only the head of a request declaring a `declared`-byte body, and reads the answer: how
/// a limit that refuses by the declared length is checked without racing the server's early
/// close against the upload (with a 10 MiB body the client may still be writing when the
/// connection closes, and its send fails instead of reading the 413).
pub async fn request_declaring(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    declared: usize,
) -> Response {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("a loopback http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .unwrap_or_else(|e| panic!("connect {host}: {e}"));
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\ncontent-length: {declared}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .expect("the head is sent");
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let (status, headers, body_at) = loop {
        let n = stream.read(&mut buf).await.expect("an answer");
        assert!(n > 0, "the connection closed without an answer");
        raw.extend_from_slice(&buf[..n]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let text = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = text.split("\r\n");
        let status: u16 = (lines.next().unwrap().split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        break (status, headers, end + 4);
    };
    let length: usize = (headers.iter())
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .expect("a content-length");
    while raw.len() < body_at + length {
        let n = stream.read(&mut buf).await.expect("the body");
        assert!(n > 0, "the connection closed mid-body");
        raw.extend_from_slice(&buf[..n]);
    }
    Response {
        status,
        headers,
        body: raw[body_at..body_at + length].to_vec(),
    }
}
