//! Outbound HTTP from guests: permission check, service chaining, self requests, real sends.
//!
//! Follows Spin's `crates/factor-outbound-http/src/wasi.rs` and
//! `crates/trigger-http/src/outbound_http.rs`: the URL is checked against the component's
//! `allowed_outbound_hosts` first (a denied request resolves to `HttpRequestDenied`); the `Host`
//! header is dropped; a request to `http://<id>.spin.internal/...` runs component `<id>`
//! in-process with the synthetic `/...` route and client address `0.0.0.0:0`; a relative URL or
//! `self.alt` goes to this app's own listener; anything else is really sent, honouring the
//! guest's connect / first-byte / between-bytes timeouts (Spin's default for each is 600 s).
//! A sent request carries a `Host` header made from its URL, as Spin's hyper-util client adds
//! one after Spin drops the guest's (wasmtime's plain sender would send none, and HTTP/1.1
//! servers, this host included, refuse a request without it).

use std::net::SocketAddr;
use std::sync::Arc;

use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{
    HostFutureIncomingResponse, IncomingResponse, OutgoingRequestConfig,
};
use wasmtime_wasi_http::p2::{HttpResult, WasiHttpHooks};

use crate::allowed_hosts::{AllowedHosts, chaining_target};
use crate::routes::RouteMatch;
use crate::server::App;

/// Client address Spin gives a service-chained request.
pub(crate) const CHAINED_CLIENT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// The outbound side of one instance.
pub(crate) struct OutboundHooks {
    pub(crate) app: Arc<App>,
    pub(crate) allowed: AllowedHosts,
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        mut request: hyper::Request<HyperOutgoingBody>,
        config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        let uri = request.uri().clone();
        let host = uri.host().unwrap_or_default();
        let is_self = host.is_empty() || host == "self.alt";
        let allowed = if is_self {
            self.allowed.allows_self()
        } else {
            self.allowed
                .allows(uri.scheme_str().unwrap_or("https"), host, uri.port_u16())
        };
        if !allowed {
            return Ok(HostFutureIncomingResponse::ready(Ok(Err(
                ErrorCode::HttpRequestDenied,
            ))));
        }
        request.headers_mut().remove(http::header::HOST);

        if let Some(target) = chaining_target(host) {
            let app = self.app.clone();
            let target = target.to_owned();
            let between_bytes_timeout = config.between_bytes_timeout;
            return Ok(HostFutureIncomingResponse::pending(
                wasmtime_wasi::runtime::spawn(async move {
                    let path = request.uri().path().to_owned();
                    let route = RouteMatch::synthetic(&target, &path);
                    let resp = Box::pin(app.handle_route(request, route, CHAINED_CLIENT_ADDR))
                        .await
                        .map_err(wasmtime::Error::from_anyhow)?;
                    Ok(Ok(IncomingResponse {
                        resp,
                        worker: None,
                        between_bytes_timeout,
                    }))
                }),
            ));
        }

        let mut config = config;
        if is_self {
            let Some(origin) = self.app.local_addr() else {
                return Ok(HostFutureIncomingResponse::ready(Ok(Err(
                    ErrorCode::HttpRequestUriInvalid,
                ))));
            };
            let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
            match format!("http://{origin}{path}").parse() {
                Ok(u) => *request.uri_mut() = u,
                Err(_) => {
                    return Ok(HostFutureIncomingResponse::ready(Ok(Err(
                        ErrorCode::HttpRequestUriInvalid,
                    ))));
                }
            }
            config.use_tls = false;
        }
        if let Some(host) = request
            .uri()
            .authority()
            .and_then(|a| http::HeaderValue::from_str(a.as_str()).ok())
        {
            request.headers_mut().insert(http::header::HOST, host);
        }
        Ok(wasmtime_wasi_http::p2::default_send_request(
            request, config,
        ))
    }
}
