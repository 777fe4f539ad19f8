//! Outbound HTTP with a timeout on every request.
//!
//! Spin applies no default timeout and no retries, so every call states its own
//! (`connect`, `first byte`, `between bytes`) through WASI's request options; retrying is the
//! outbox's job, not this module's.

use std::time::Duration;

use spin_sdk::http::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{FutureIncomingResponse, RequestOptions};

/// The largest response body read back; providers answer with a few bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OutboundResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundError {
    /// The URL could not be used.
    InvalidUrl(String),
    /// The host is not in the component's `allowed_outbound_hosts`.
    Denied,
    /// No answer within the timeout.
    Timeout,
    /// Anything else on the way: refused, reset, DNS, TLS, a malformed reply.
    Connection(String),
}

impl std::fmt::Display for OutboundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidUrl(u) => write!(f, "invalid URL: {u}"),
            Self::Denied => f.write_str("the host is not allowed (allowed_outbound_hosts)"),
            Self::Timeout => f.write_str("timed out"),
            Self::Connection(e) => write!(f, "{e}"),
        }
    }
}

fn from_error_code(code: ErrorCode) -> OutboundError {
    match code {
        ErrorCode::HttpRequestDenied => OutboundError::Denied,
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout => OutboundError::Timeout,
        other => OutboundError::Connection(format!("{other:?}")),
    }
}

/// Sends `method url` with `headers` and `body`, waiting at most `timeout` for each phase.
pub fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<OutboundResponse, OutboundError> {
    send_limited(method, url, headers, body, timeout, MAX_RESPONSE_BYTES)
}

/// Like [`send`], reading at most `max_response` bytes of the reply (more is truncated: check
/// the length when the whole body matters).
pub fn send_limited(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
    max_response: usize,
) -> Result<OutboundResponse, OutboundError> {
    start(method, url, headers, body, timeout)?.answer(max_response)
}

/// A request sent and not answered yet: several may be in flight at once.
pub struct InFlight(FutureIncomingResponse);

/// Sends `method url` with `headers` and `body`, waiting at most `timeout` for each phase,
/// without waiting for the answer ([`InFlight::answer`]).
pub fn start(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<InFlight, OutboundError> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(OutboundError::InvalidUrl("use an http or https URL".into()));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(OutboundError::InvalidUrl("the URL has no host".into()));
    }
    let fields: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&fields)
        .map_err(|e| OutboundError::InvalidUrl(format!("invalid header: {e:?}")))?;
    let request = OutgoingRequest::new(fields);
    let invalid = |what: &str| OutboundError::InvalidUrl(format!("invalid {what}"));
    request
        .set_method(&method)
        .map_err(|()| invalid("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| invalid("host"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| invalid("path"))?;

    let options = RequestOptions::new();
    let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let _ = options.set_between_bytes_timeout(Some(nanos));

    let outgoing_body = request.body().map_err(|()| invalid("body"))?;
    let future = outgoing_handler::handle(request, Some(options)).map_err(from_error_code)?;
    {
        let stream = outgoing_body
            .write()
            .map_err(|()| OutboundError::Connection("request body unavailable".into()))?;
        for chunk in body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| OutboundError::Connection(format!("writing the body: {e:?}")))?;
        }
    }
    OutgoingBody::finish(outgoing_body, None).map_err(from_error_code)?;

    Ok(InFlight(future))
}

impl InFlight {
    /// Ready once the answer (or the failure) is there: for `wasi::io::poll::poll` over several.
    pub fn ready(&self) -> wasi::io::poll::Pollable {
        self.0.subscribe()
    }

    /// Waits for the answer, reading at most `max_response` bytes of its body.
    pub fn answer(self, max_response: usize) -> Result<OutboundResponse, OutboundError> {
        let future = self.0;
        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(from_error_code(code)),
            Some(Err(())) | None => return Err(OutboundError::Connection("no response".into())),
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let mut body = Vec::new();
        if let Ok(incoming) = response.consume()
            && let Ok(stream) = incoming.stream()
        {
            loop {
                match stream.blocking_read(16 * 1024) {
                    Ok(chunk) => {
                        body.extend_from_slice(&chunk);
                        if body.len() > max_response {
                            body.truncate(max_response);
                            break;
                        }
                    }
                    Err(wasi::io::streams::StreamError::Closed) => break,
                    Err(_) => return Err(OutboundError::Timeout),
                }
            }
        }
        Ok(OutboundResponse {
            status,
            headers,
            body,
        })
    }
}

/// GETs `url` with `headers`, reading at most `max_response` bytes of the answer: its status
/// and body, or why there was none.
pub fn get(
    url: &str,
    headers: &[(&'static str, String)],
    timeout: Duration,
    max_response: usize,
) -> Result<(u16, Vec<u8>), String> {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    send_limited(Method::Get, url, &headers, b"", timeout, max_response)
        .map(|r| (r.status, r.body))
        .map_err(|e| e.to_string())
}

/// POSTs a JSON body.
pub fn post_json(
    url: &str,
    extra_headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<OutboundResponse, OutboundError> {
    let mut headers = vec![("content-type", "application/json")];
    headers.extend_from_slice(extra_headers);
    send(Method::Post, url, &headers, body, timeout)
}
