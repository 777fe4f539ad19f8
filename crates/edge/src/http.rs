//! Requests in and responses out, on the raw WASI types.
//!
//! Handlers take `(IncomingRequest, ResponseOutparam)` so that a response can be sent before
//! the work after it (Spin lets the component run on until its handler returns). Bodies are
//! read with a limit, and every error is answered as `application/problem+json`.

use closeloop_domain::auth;
use closeloop_domain::problem::{self, Problem, ProblemKind};
use serde::Serialize;
use serde::de::DeserializeOwned;
use spin_sdk::http::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// Chunk size for reading and writing bodies.
const CHUNK: u64 = 16 * 1024;

/// A request read into memory.
pub struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: String,
    headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Incoming {
    /// Reads the request, refusing bodies over `max_body` bytes with 413.
    pub fn read(req: IncomingRequest, max_body: usize) -> Result<Self, Problem> {
        let method = req.method();
        let path_with_query = req.path_with_query().unwrap_or_else(|| "/".to_owned());
        let (path, query) = match path_with_query.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (path_with_query, String::new()),
        };
        let headers = req.headers().entries();
        let too_large = || {
            Problem::new(
                ProblemKind::PayloadTooLarge,
                format!("the body must be at most {max_body} bytes"),
            )
        };
        let declared = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse::<usize>().ok());
        if declared.is_some_and(|n| n > max_body) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        let incoming = req.consume().map_err(|()| read_error())?;
        let stream = incoming.stream().map_err(|()| read_error())?;
        loop {
            match stream.blocking_read(CHUNK) {
                Ok(chunk) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > max_body {
                        return Err(too_large());
                    }
                }
                Err(wasi::io::streams::StreamError::Closed) => break,
                Err(_) => return Err(read_error()),
            }
        }
        Ok(Self {
            method,
            path,
            query,
            headers,
            body,
        })
    }

    /// The last value of a header (Spin appends its own `spin-*` values after a client's).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Every header as received, in order.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// The path split on `/`, without empty segments.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// A query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// Refuses a body over `max` bytes with 413 (for routes whose limit is below the one the
    /// component reads requests with).
    pub fn require_body_at_most(&self, max: usize) -> Result<(), Problem> {
        if self.body.len() > max {
            return Err(Problem::new(
                ProblemKind::PayloadTooLarge,
                format!("the body must be at most {max} bytes"),
            ));
        }
        Ok(())
    }

    /// Requires `Authorization: Bearer <secret>`; 401 otherwise.
    pub fn require_bearer(&self, expected: &str) -> Result<(), Problem> {
        match auth::bearer_token(self.header("authorization")) {
            Some(token) if auth::secrets_match(token, expected) => Ok(()),
            Some(_) => Err(Problem::new(
                ProblemKind::Unauthorized,
                "the bearer token is not valid",
            )),
            None => Err(Problem::new(
                ProblemKind::Unauthorized,
                "send the token as `Authorization: Bearer <token>`",
            )),
        }
    }

    /// Requires the content type `expected` (parameters such as charset are allowed); 415
    /// otherwise.
    pub fn require_content_type(&self, expected: &str) -> Result<(), Problem> {
        let actual = self.header("content-type").unwrap_or("");
        let essence = actual.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case(expected) {
            Ok(())
        } else {
            Err(Problem::new(
                ProblemKind::UnsupportedMediaType,
                format!(
                    "send the body as {expected} (got {})",
                    if actual.is_empty() {
                        "no content type"
                    } else {
                        actual
                    }
                ),
            ))
        }
    }

    /// Parses a strict JSON body of content type `application/json`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        self.require_content_type("application/json")?;
        serde_json::from_slice(&self.body).map_err(|e| problem::from_json_error(&e))
    }
}

fn read_error() -> Problem {
    Problem::new(
        ProblemKind::MalformedJson,
        "the request body could not be read",
    )
}

/// A response to send.
pub struct Reply {
    pub status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.as_bytes().to_vec())],
            body,
        }
    }

    pub fn json(status: u16, value: &impl Serialize) -> Self {
        Self::new(
            status,
            "application/json",
            serde_json::to_vec(value).expect("response bodies serialize"),
        )
    }

    pub fn problem(problem: &Problem) -> Self {
        Self::new(problem.status(), problem::CONTENT_TYPE, problem.to_json())
    }

    /// An HTML page with the domain's content security policy, never cached (it may carry a
    /// case's details).
    pub fn html(status: u16, page: String) -> Self {
        Self::new(status, "text/html; charset=utf-8", page.into_bytes())
            .with_header(
                "content-security-policy",
                closeloop_domain::page::CONTENT_SECURITY_POLICY,
            )
            .with_header("cache-control", "no-store")
            .with_header("referrer-policy", "no-referrer")
            .with_header("x-content-type-options", "nosniff")
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_owned(), value.as_bytes().to_vec()));
        self
    }

    /// Sends the response. The caller may go on working afterwards: the client already has
    /// its answer.
    ///
    /// The body is written, and finished when it fits the host's write budget, before the
    /// response is handed over: the runtime then sees head and body together and sends them in
    /// one write. Handed over first, the head leaves alone and the body follows in a second
    /// small segment, which on a kept-alive connection waits for the client's delayed ACK
    /// (measured with wrk on Spin 4.0.2: about 30 requests/s on one connection, 40 ms each).
    /// A known length lets the client read the whole answer at once.
    pub fn send(mut self, out: ResponseOutparam) {
        self.headers.push((
            "content-length".into(),
            self.body.len().to_string().into_bytes(),
        ));
        let headers = Fields::from_list(&self.headers).unwrap_or_else(|_| Fields::new());
        let response = OutgoingResponse::new(headers);
        let _ = response.set_status_code(self.status);
        let body = response.body().expect("a new response has a body");
        let Ok(stream) = body.write() else {
            out.set(response);
            let _ = OutgoingBody::finish(body, None);
            return;
        };
        let mut rest = self.body.as_slice();
        let budget = stream.check_write().map_or(0, |n| n as usize);
        if !rest.is_empty() && budget > 0 {
            let now = rest.len().min(budget);
            if stream.write(&rest[..now]).is_ok() {
                rest = &rest[now..];
            }
        }
        if rest.is_empty() {
            drop(stream);
            let _ = OutgoingBody::finish(body, None);
            out.set(response);
            return;
        }
        // Larger than the budget: the rest flows as the client reads.
        out.set(response);
        for chunk in rest.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
        drop(stream);
        let _ = OutgoingBody::finish(body, None);
    }
}

impl From<Problem> for Reply {
    fn from(problem: Problem) -> Self {
        Reply::problem(&problem)
    }
}

/// The 404 for paths a component does not serve.
pub fn not_found(path: &str) -> Problem {
    Problem::new(
        ProblemKind::NotFound,
        format!("nothing is served at {path}"),
    )
}

/// The 405 for a known path with the wrong method.
pub fn method_not_allowed(allowed: &str) -> Problem {
    Problem::new(
        ProblemKind::MethodNotAllowed,
        format!("this route accepts {allowed}"),
    )
}

/// Work to do after the response has been sent.
pub type After = Box<dyn FnOnce()>;

/// What a handler returns: the reply, and optionally work to do once it is sent.
pub struct Handled {
    pub reply: Reply,
    pub after: Option<After>,
}

impl From<Reply> for Handled {
    fn from(reply: Reply) -> Self {
        Handled { reply, after: None }
    }
}

impl Handled {
    pub fn then(reply: Reply, after: impl FnOnce() + 'static) -> Self {
        Handled {
            reply,
            after: Some(Box::new(after)),
        }
    }
}

/// Runs one request through `handler`: reads the body (at most `max_body` bytes), answers
/// errors as problems, logs one line, sends the reply, then runs the after-work.
pub fn serve(
    component: &'static str,
    req: IncomingRequest,
    out: ResponseOutparam,
    max_body: usize,
    handler: impl FnOnce(&Incoming, &mut crate::log::RequestLog) -> Result<Handled, Problem>,
) {
    let method = req.method().to_string();
    let mut log = crate::log::RequestLog::start(component, &method);
    let handled = Incoming::read(req, max_body).and_then(|incoming| handler(&incoming, &mut log));
    let Handled { reply, after } = handled.unwrap_or_else(|problem| {
        if problem.status() >= 500 {
            log.field("detail", problem.detail.clone());
        }
        Reply::problem(&problem).into()
    });
    log.finish(reply.status);
    reply.send(out);
    if let Some(after) = after {
        after();
    }
}
