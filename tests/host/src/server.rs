//! The HTTP trigger: serving requests, Spin's `spin-*` headers, and one fresh instance each.
//!
//! Follows Spin's `crates/trigger-http/src/{server,headers,wasi}.rs`: `/.well-known/spin/health`
//! answers `OK`; an unmatched path is an empty 404; the guest gets an absolute URI (authority
//! from `Host`), the client's headers followed by Spin's `spin-*` headers (so a client-sent
//! `spin-path-info` comes first and Spin's value last), and a fresh instance from a
//! pre-instantiated component. The response is sent as soon as the guest sets it while the guest
//! runs on to the end of its handler; a guest that fails before setting one yields an empty 500.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use anyhow::{Context as _, anyhow};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Full};
use wasmtime::Store;
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::{HyperIncomingBody, HyperOutgoingBody};
use wasmtime_wasi_http::p2::{WasiHttpCtxView, WasiHttpView};

use crate::allowed_hosts::{AllowedHosts, chaining_target};
use crate::clock::TestClock;
use crate::kv::{KvCtx, Store as KvStore};
use crate::logs::LogSink;
use crate::outbound::OutboundHooks;
use crate::routes::{RouteMatch, Router};
use crate::variables::{Resolver, VariablesCtx};

/// Everything one instance owns.
pub(crate) struct InstanceState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    kv: KvCtx,
    variables: VariablesCtx,
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

struct HasKv;
impl HasData for HasKv {
    type Data<'a> = &'a mut KvCtx;
}

struct HasVariables;
impl HasData for HasVariables {
    type Data<'a> = &'a mut VariablesCtx;
}

/// Links WASI 0.2, wasi-http 0.2 and the Spin interfaces.
pub(crate) fn linker() -> anyhow::Result<Linker<InstanceState>> {
    use crate::bindings::{fermyon::spin, wasi::keyvalue};
    let mut linker: Linker<InstanceState> = Linker::new(crate::engine::engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    spin::key_value::add_to_linker::<_, HasKv>(&mut linker, |s| &mut s.kv)?;
    spin::variables::add_to_linker::<_, HasVariables>(&mut linker, |s| &mut s.variables)?;
    keyvalue::store::add_to_linker::<_, HasKv>(&mut linker, |s| &mut s.kv)?;
    keyvalue::atomics::add_to_linker::<_, HasKv>(&mut linker, |s| &mut s.kv)?;
    keyvalue::batch::add_to_linker::<_, HasKv>(&mut linker, |s| &mut s.kv)?;
    Ok(linker)
}

/// One component, ready to instantiate.
pub(crate) struct ComponentRuntime {
    pub(crate) pre: ProxyPre<InstanceState>,
    pub(crate) allowed: AllowedHosts,
    pub(crate) stores: HashMap<String, KvStore>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) stdout: LogSink,
    pub(crate) stderr: LogSink,
}

/// A loaded app.
pub(crate) struct App {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) router: Router,
    pub(crate) components: HashMap<String, ComponentRuntime>,
    pub(crate) resolver: Arc<Resolver>,
    pub(crate) clock: TestClock,
    pub(crate) local_addr: OnceLock<SocketAddr>,
}

pub(crate) type OutgoingResponse = Response<HyperOutgoingBody>;

fn full(status: StatusCode, body: impl Into<Bytes>) -> OutgoingResponse {
    let mut resp = Response::new(
        Full::new(body.into())
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp
}

fn empty(status: StatusCode) -> OutgoingResponse {
    let mut resp = Response::new(
        Empty::new()
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp
}

impl App {
    /// The address the app listens on, once bound.
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr.get().copied()
    }

    /// Handles one request from the listener.
    pub(crate) async fn handle(
        self: &Arc<Self>,
        mut req: Request<HyperIncomingBody>,
        client_addr: SocketAddr,
    ) -> OutgoingResponse {
        // Spin's `strip_forbidden_headers`: a client may not pose as a chaining host.
        if req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| chaining_target(h).is_some())
        {
            req.headers_mut().remove(http::header::HOST);
        }
        let path = req.uri().path().to_owned();
        if let Some(well_known) = path.strip_prefix("/.well-known/spin/") {
            return match well_known {
                "health" => full(StatusCode::OK, "OK"),
                "info" => full(
                    StatusCode::OK,
                    format!(
                        "{{\"name\":{:?},\"version\":{:?},\"oci_image_digest\":null}}",
                        self.name, self.version
                    ),
                ),
                _ => empty(StatusCode::NOT_FOUND),
            };
        }
        let Some(route) = self.router.route(&path) else {
            return empty(StatusCode::NOT_FOUND);
        };
        match self.handle_route(req, route, client_addr).await {
            Ok(resp) => resp,
            Err(e) => {
                eprintln!("Error processing request {path}: {e:?}");
                empty(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    /// Runs the matched component (also the entry point for service chaining).
    pub(crate) async fn handle_route(
        self: &Arc<Self>,
        mut req: Request<HyperIncomingBody>,
        route: RouteMatch,
        client_addr: SocketAddr,
    ) -> anyhow::Result<OutgoingResponse> {
        set_absolute_uri(&mut req)?;
        let component = self
            .components
            .get(&route.component)
            .with_context(|| format!("unknown routing destination '{}'", route.component))?;
        prepare_headers(&mut req, &route, client_addr);
        match self.execute(component, &route.component, req).await {
            Ok(resp) => Ok(resp),
            Err(e) => {
                eprintln!("Error processing request: {e:?}");
                Ok(empty(StatusCode::INTERNAL_SERVER_ERROR))
            }
        }
    }

    async fn execute(
        self: &Arc<Self>,
        component: &ComponentRuntime,
        id: &str,
        req: Request<HyperIncomingBody>,
    ) -> anyhow::Result<OutgoingResponse> {
        let wasi = WasiCtx::builder()
            .stdout(component.stdout.clone())
            .stderr(component.stderr.clone())
            .envs(&component.env)
            .wall_clock(self.clock.clone())
            .build();
        let state = InstanceState {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks {
                app: self.clone(),
                allowed: component.allowed.clone(),
            },
            kv: KvCtx::new(component.stores.clone()),
            variables: VariablesCtx {
                resolver: self.resolver.clone(),
                component: id.to_owned(),
            },
        };
        let mut store = Store::new(crate::engine::engine(), state);
        let proxy = component.pre.instantiate_async(&mut store).await?;
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let outparam = store.data_mut().http().new_response_outparam(tx)?;

        let guest = tokio::spawn(async move {
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, outparam)
                .await
        });
        match rx.await {
            Ok(resp) => {
                // Like Spin: the guest runs on after setting the response; report late failures.
                let id = id.to_owned();
                tokio::spawn(async move {
                    match guest.await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            eprintln!("Component {id} error after response started: {e:?}")
                        }
                        Err(e) => eprintln!("Component {id} panicked: {e:?}"),
                    }
                });
                resp.map_err(|e: ErrorCode| anyhow!("guest failed to produce a response: {e:?}"))
            }
            Err(_) => {
                guest
                    .await
                    .context("guest invocation panicked")?
                    .map_err(anyhow::Error::from)
                    .context("guest invocation failed")?;
                Err(anyhow!(
                    "guest failed to produce a response prior to returning"
                ))
            }
        }
    }
}

/// Spin's `set_req_uri`: scheme `http`, authority from the `Host` header or the URI.
fn set_absolute_uri(req: &mut Request<HyperIncomingBody>) -> anyhow::Result<()> {
    let header = req
        .headers()
        .get(http::header::HOST)
        .map(|h| -> anyhow::Result<http::uri::Authority> {
            h.to_str()
                .context("'Host' header is not valid UTF-8")?
                .parse()
                .context("'Host' header contains an invalid authority")
        })
        .transpose()?;
    let mut parts = req.uri().clone().into_parts();
    let authority = match (header, parts.authority.take()) {
        (None, None) => anyhow::bail!("no 'Host' header present in request"),
        (Some(a), None) | (None, Some(a)) => a,
        (Some(a1), Some(a2)) => {
            anyhow::ensure!(
                a1 == a2,
                "authority in 'Host' header does not match authority in URI"
            );
            a1
        }
    };
    parts.scheme = Some(http::uri::Scheme::HTTP);
    parts.authority = Some(authority);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some("/".parse()?);
    }
    *req.uri_mut() = Uri::from_parts(parts)?;
    Ok(())
}

/// Appends Spin's `spin-*` headers after the client's own.
fn prepare_headers(req: &mut Request<HyperIncomingBody>, route: &RouteMatch, client: SocketAddr) {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let uri = req.uri();
    let full_url = format!(
        "{}://{host}{}",
        uri.scheme_str().unwrap_or("http"),
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut spin: Vec<(String, String)> = vec![
        ("spin-path-info".into(), route.path_info.clone()),
        ("spin-full-url".into(), full_url),
        ("spin-matched-route".into(), route.based_route.clone()),
        ("spin-base-path".into(), "/".into()),
        ("spin-raw-component-route".into(), route.raw_route.clone()),
        (
            "spin-component-route".into(),
            route.component_route().to_owned(),
        ),
        ("spin-client-addr".into(), client.to_string()),
    ];
    for (name, value) in &route.params {
        spin.push((
            format!(
                "spin-path-match-{}",
                name.replace('_', "-").to_ascii_lowercase()
            ),
            value.clone(),
        ));
    }
    let headers = req.headers_mut();
    for (name, value) in spin {
        // Like Spin, a header that cannot be represented is skipped.
        if let (Ok(n), Ok(v)) = (
            name.parse::<HeaderName>(),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(n, v);
        }
    }
}
