//! console: the web console, a thin shell around `closeloop-console`.
//!
//! It reads the request and its variables, hands them to [`closeloop_console::handle`], and
//! reaches the agent and metrics APIs by service chaining (or the URLs the variables give)
//! with the signed-in user's key. Every page, rule and check lives in the library.

use std::time::Duration;

use closeloop_console::client::{ApiReply, Backend};
use closeloop_console::{Config, Request, forms};
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::outbound;
use closeloop_edge::{clock, config};
use serde_json::Value;
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use spin_sdk::http_component;

const COMPONENT: &str = "console";
/// How long one API call may take.
const API_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest API answer read (a full inbox of 200 cases is well under it).
const MAX_API_RESPONSE: usize = 2 * 1024 * 1024;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    http::serve(
        COMPONENT,
        req,
        out,
        forms::MAX_FORM_BYTES,
        |incoming, log| {
            let config = Config {
                cases_url: config::optional("cases_url")
                    .unwrap_or_else(|| "http://followup.spin.internal".into()),
                metrics_url: config::optional("metrics_url")
                    .unwrap_or_else(|| "http://metrics.spin.internal".into()),
                signing_key: config::required("link_signing_key")?,
                public_base_url: config::public_base_url(),
            };
            let response = closeloop_console::handle(
                &request(incoming),
                &config,
                &Chained,
                clock::now(),
                clock::entropy(),
            );
            log.route(response.route);
            let content_type = response
                .header("content-type")
                .unwrap_or("text/html; charset=utf-8")
                .to_owned();
            let reply = response
                .headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("content-type"))
                .fold(
                    Reply::new(response.status, &content_type, response.body.clone()),
                    |reply, (n, v)| reply.with_header(n, v),
                );
            Ok(Handled::from(reply))
        },
    );
}

fn request(incoming: &Incoming) -> Request {
    Request {
        method: incoming.method.to_string(),
        path: incoming.path.clone(),
        query: incoming.query.clone(),
        headers: incoming
            .headers()
            .iter()
            .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect(),
        body: incoming.body.clone(),
    }
}

/// The API over outbound HTTP (service chaining by default).
struct Chained;

impl Backend for Chained {
    fn send(
        &self,
        method: &str,
        url: &str,
        key: &str,
        body: Option<&Value>,
    ) -> Result<ApiReply, String> {
        let auth = format!("Bearer {key}");
        let mut headers = vec![
            ("authorization", auth.as_str()),
            ("accept", "application/json"),
        ];
        let bytes = match body {
            Some(b) => {
                headers.push(("content-type", "application/json"));
                serde_json::to_vec(b).map_err(|e| e.to_string())?
            }
            None => Vec::new(),
        };
        let method = if method == "POST" {
            Method::Post
        } else {
            Method::Get
        };
        outbound::send_limited(method, url, &headers, &bytes, API_TIMEOUT, MAX_API_RESPONSE)
            .map(|r| ApiReply {
                status: r.status,
                body: r.body,
            })
            .map_err(|e| format!("closeloop's API could not be reached ({e})"))
    }
}
