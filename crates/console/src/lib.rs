//! closeloop's web console: what a CX team works from in a browser.
//!
//! - `GET /console/sign-in[?next=]`, `POST /console/sign-in`: sign in with an API key (a
//!   personal `clk_…` key or the shared agent token), which the API exchanges for a signed
//!   session (`POST /v1/sessions`); the browser keeps only the session, and lands on `next`
//!   (a console page: where a signed-out user was going, such as an alert's case link).
//! - `GET /console`: the inbox, open cases most urgent first (as the API sorts them), overdue
//!   cases marked in words and by class; `?team=` filters.
//! - `GET /console/cases/{id}`: the feedback, triage's reasons, the timeline, and forms to
//!   acknowledge, add a note, resolve (with a root cause) and reassign;
//!   `POST /console/cases/{id}/{acknowledge,note,resolve,assign}` calls the agent API and
//!   redirects back (303) with a fixed flash message, or shows the API's problem detail.
//! - `GET /console/dashboard?from=&to=&team=`: the metrics API's numbers, SVG charts and topic
//!   trends.
//! - `POST /console/sign-out` (ends every session of the user's credential at the API),
//!   `GET /console/assets/console.css`.
//!
//! The console is only a client of the HTTP API ([`client`]): it never reads the store and
//! never decides what a case may do. Everything is a plain function over [`Request`] and a
//! [`client::Backend`], tested natively; the Spin component is a shell that reads variables,
//! chains requests to the API and sends the [`Response`].
//!
//! Security ([`security`] explains the choices): pages are rendered by maud, which escapes
//! every value; no page has a script, and each is sent with a strict content security policy,
//! `nosniff`, `same-origin` referrers and `no-store`; the session is a signed, expiring token
//! (never a key) in an `HttpOnly`, `SameSite=Strict` cookie; every form carries a CSRF token
//! bound to the session and cross-site posts are refused.

pub mod charts;
pub mod client;
pub mod forms;
pub mod pages;
pub mod security;

use closeloop_domain::Timestamp;

use client::{Api, ApiError, Backend};
use forms::{CaseAction, DashboardQuery, Form};
use security as sec;

/// The console's stylesheet, served at [`pages::STYLESHEET`].
pub const STYLESHEET_CSS: &str = include_str!("console.css");

/// A request as the component read it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The whole path, `/console/...`.
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The last value of a header (Spin appends its own `spin-*` values after a client's).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// The component's variables.
#[derive(Debug, Clone)]
pub struct Config {
    pub cases_url: String,
    pub metrics_url: String,
    /// `link_signing_key`: the CSRF tokens' HMAC key.
    pub signing_key: String,
    pub public_base_url: String,
}

impl Config {
    fn secure(&self) -> bool {
        self.public_base_url.starts_with("https://")
    }
}

/// A response to send, and the route pattern to log.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub route: &'static str,
}

impl Response {
    fn page(status: u16, html: String) -> Self {
        let mut headers = sec::security_headers();
        headers.push(("content-type".into(), "text/html; charset=utf-8".into()));
        headers.push(("cache-control".into(), "no-store".into()));
        Response {
            status,
            headers,
            body: html.into_bytes(),
            route: "unmatched",
        }
    }

    fn redirect(location: &str) -> Self {
        let mut r = Self::page(303, String::new());
        r.headers.push(("location".into(), location.to_owned()));
        r
    }

    fn with(mut self, name: &str, value: String) -> Self {
        self.headers.push((name.to_owned(), value));
        self
    }

    fn route(mut self, route: &'static str) -> Self {
        self.route = route;
        self
    }

    /// A header's value (tests).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn not_found(csrf: Option<&str>) -> Response {
    Response::page(
        404,
        pages::message("Not found", "There is no page at this address.", csrf),
    )
}

fn method_not_allowed(allowed: &str) -> Response {
    Response::page(
        405,
        pages::message(
            "Method not allowed",
            &format!("This page accepts {allowed} only."),
            None,
        ),
    )
    .with("allow", allowed.to_owned())
}

fn forbidden(text: &str, csrf: Option<&str>) -> Response {
    Response::page(403, pages::message("Refused", text, csrf))
}

/// The origins a legitimate form post comes from: the public URL's, and the one the browser
/// addressed (Spin's `spin-full-url`, built from the request's `Host`).
fn own_origins(req: &Request, config: &Config) -> Vec<String> {
    let mut origins: Vec<String> = sec::origin_of(&config.public_base_url)
        .into_iter()
        .collect();
    if let Some(o) = req.header("spin-full-url").and_then(sec::origin_of) {
        origins.push(o);
    } else if let Some(host) = req.header("host") {
        origins.push(format!("http://{}", host.to_ascii_lowercase()));
        origins.push(format!("https://{}", host.to_ascii_lowercase()));
    }
    origins
}

fn cross_site(req: &Request, config: &Config) -> bool {
    !sec::same_origin(
        req.header("origin"),
        req.header("sec-fetch-site"),
        &own_origins(req, config),
    )
}

const CROSS_SITE: &str =
    "This form was sent from another site. Open the console and try again from there.";
const BAD_TOKEN: &str =
    "This form has expired or did not come from the console. Reload the page and try again.";

/// The page a request is for: its path and query, to come back to after signing in.
fn page_address(req: &Request) -> String {
    let path = req.path.trim_end_matches('/');
    match req.query.as_str() {
        "" => path.to_owned(),
        q => format!("{path}?{q}"),
    }
}

/// A case's page in the console.
fn case_address(id: &str) -> String {
    format!(
        "/console/cases/{}",
        form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
    )
}

/// Ends the session at the API (every session of its credential), then in the browser. The
/// cookie is cleared even when the API cannot be reached, and the page says so.
fn sign_out(api: &Api) -> Response {
    let clear = sec::clear_cookie(sec::SESSION_COOKIE, api.secure);
    match api.sign_out() {
        Ok(()) | Err(ApiError::Refused { .. }) => {
            Response::redirect("/console/sign-in").with("set-cookie", clear)
        }
        Err(e) => Response::page(
            502,
            pages::message(
                "Signed out of this browser only",
                &format!(
                    "closeloop's API could not end the session everywhere ({}); this browser no longer holds it. Sign in and out again to end it on other browsers.",
                    e.detail()
                ),
                None,
            ),
        )
        .with("set-cookie", clear),
    }
}

/// Serves one console request. `random` seeds the sign-in form's double-submit token.
pub fn handle(
    req: &Request,
    config: &Config,
    backend: &dyn Backend,
    now: Timestamp,
    random: [u8; 16],
) -> Response {
    let path = req.path.trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some((&"console", rest)) = segments.split_first() else {
        return not_found(None);
    };
    let method = req.method.as_str();
    match (method, rest) {
        ("GET", ["assets", "console.css"]) => {
            let mut headers = sec::security_headers();
            headers.push(("content-type".into(), "text/css; charset=utf-8".into()));
            headers.push(("cache-control".into(), "public, max-age=300".into()));
            return Response {
                status: 200,
                headers,
                body: STYLESHEET_CSS.as_bytes().to_vec(),
                route: "/console/assets/console.css",
            };
        }
        (_, ["assets", "console.css"]) => return method_not_allowed("GET"),
        ("GET", ["sign-in"]) => return sign_in_form(req, config, random).route("/console/sign-in"),
        ("POST", ["sign-in"]) => {
            return sign_in(req, config, backend, random).route("/console/sign-in");
        }
        (_, ["sign-in"]) => return method_not_allowed("GET, POST"),
        _ => {}
    }
    let Some(key) = sec::session_token(req.header("cookie")) else {
        // Not signed in: every page leads to the sign-in form, and back to the page once
        // signed in (nothing is changed by a POST: a case action leads back to the case).
        return match rest {
            [] | ["dashboard"] | ["cases", _] => {
                Response::redirect(&sec::sign_in_location(&page_address(req)))
            }
            ["cases", id, _] => Response::redirect(&sec::sign_in_location(&case_address(id))),
            ["sign-out"] => Response::redirect("/console/sign-in"),
            _ => not_found(None),
        }
        .route("/console/*");
    };
    let csrf = sec::csrf_token(config.signing_key.as_bytes(), &key);
    let api = Api {
        backend,
        cases_url: config.cases_url.trim_end_matches('/'),
        metrics_url: config.metrics_url.trim_end_matches('/'),
        key: &key,
        secure: config.secure(),
    };
    match (method, rest) {
        ("GET", []) => inbox(req, &api, &csrf, now).route("/console"),
        ("GET", ["dashboard"]) => dashboard(req, &api, &csrf, now).route("/console/dashboard"),
        ("GET", ["cases", id]) => {
            let flash = req
                .query_param("done")
                .and_then(|c| forms::flash_message(&c));
            case_page(&api, id, &csrf, now, flash, None, 200).route("/console/cases/:id")
        }
        ("POST", ["sign-out"]) => if cross_site(req, config) {
            forbidden(CROSS_SITE, Some(&csrf))
        } else if !sec::csrf_ok(
            config.signing_key.as_bytes(),
            &key,
            Form::parse(&req.body).get("csrf"),
        ) {
            forbidden(BAD_TOKEN, Some(&csrf))
        } else {
            sign_out(&api)
        }
        .route("/console/sign-out"),
        ("POST", ["cases", id, action]) => match CaseAction::from_segment(action) {
            None => not_found(Some(&csrf)),
            Some(action) => act(req, config, &api, &key, &csrf, id, action, now),
        }
        .route("/console/cases/:id/:action"),
        (_, [] | ["dashboard"] | ["cases", _]) => method_not_allowed("GET"),
        (_, ["sign-out"] | ["cases", _, _]) => method_not_allowed("POST"),
        _ => not_found(Some(&csrf)),
    }
}

fn sign_in_form(req: &Request, config: &Config, random: [u8; 16]) -> Response {
    sign_in_page(req, config, random, 200, None)
}

/// The page to land on after signing in: the form's `next` (or the query's, on the form's
/// own page), when it is a console page.
fn next_page(req: &Request) -> Option<String> {
    let from_form = (req.method == "POST")
        .then(|| Form::parse(&req.body).get("next").map(str::to_owned))
        .flatten();
    from_form
        .or_else(|| req.query_param("next"))
        .filter(|n| sec::safe_next(n).is_some())
}

/// The sign-in form with its double-submit token: the one in the browser's cookie if it has
/// one (several tabs share it), else a fresh one.
fn sign_in_page(
    req: &Request,
    config: &Config,
    random: [u8; 16],
    status: u16,
    error: Option<&str>,
) -> Response {
    let token = sec::cookie(req.header("cookie"), sec::LOGIN_COOKIE)
        .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
        .unwrap_or_else(|| hex::encode(random));
    let next = next_page(req);
    Response::page(status, pages::sign_in(&token, next.as_deref(), error))
        .with("set-cookie", sec::login_cookie(&token, config.secure()))
}

fn sign_in(req: &Request, config: &Config, backend: &dyn Backend, random: [u8; 16]) -> Response {
    if cross_site(req, config) {
        return sign_in_page(req, config, random, 403, Some(CROSS_SITE));
    }
    let form = Form::parse(&req.body);
    let cookie = sec::cookie(req.header("cookie"), sec::LOGIN_COOKIE);
    if !sec::login_token_ok(cookie, form.get("login")) {
        return sign_in_page(req, config, random, 403, Some(BAD_TOKEN));
    }
    let Some(key) = form.get("key").filter(|k| sec::valid_key(k)) else {
        return sign_in_page(
            req,
            config,
            random,
            422,
            Some("Enter your API key: printable characters without spaces."),
        );
    };
    let api = Api {
        backend,
        cases_url: config.cases_url.trim_end_matches('/'),
        metrics_url: config.metrics_url.trim_end_matches('/'),
        key,
        secure: config.secure(),
    };
    match api.open_session() {
        Ok(session) => Response::redirect(next_page(req).as_deref().unwrap_or("/console"))
            .with("set-cookie", sec::session_cookie(&session, config.secure()))
            .with(
                "set-cookie",
                sec::clear_cookie(sec::LOGIN_COOKIE, config.secure()),
            ),
        Err(ApiError::Refused { .. }) => sign_in_page(
            req,
            config,
            random,
            401,
            Some("That key was not accepted. Check it, or ask an admin for a new one."),
        )
        .with("www-authenticate", "Bearer realm=\"closeloop\"".into()),
        Err(e) => sign_in_page(
            req,
            config,
            random,
            502,
            Some(&format!(
                "closeloop's API could not open a session: {}",
                e.detail()
            )),
        ),
    }
}

/// A refused session on a page (expired, signed out elsewhere, its key revoked): the session
/// ends in the browser too, and signing in again leads back to `page`.
fn session_ended(api: &Api, page: &str) -> Response {
    Response::redirect(&sec::sign_in_location(page)).with(
        "set-cookie",
        sec::clear_cookie(sec::SESSION_COOKIE, api.secure),
    )
}

fn upstream_status(e: &ApiError) -> u16 {
    match e {
        ApiError::Refused { status, .. } | ApiError::Failed { status, .. } => *status,
        ApiError::Unreachable(_) => 502,
    }
}

fn inbox(req: &Request, api: &Api, csrf: &str, now: Timestamp) -> Response {
    let team = req
        .query_param("team")
        .filter(|t| t.chars().count() <= forms::MAX_TEAM_CHARS);
    match api.inbox(team.as_deref()) {
        Ok(list) => Response::page(200, pages::inbox(&list, team.as_deref(), csrf, now, None)),
        Err(ApiError::Refused { status: 401, .. }) => session_ended(api, &page_address(req)),
        Err(e) => Response::page(
            if upstream_status(&e) >= 500 {
                502
            } else {
                upstream_status(&e)
            },
            pages::inbox(
                &Default::default(),
                team.as_deref(),
                csrf,
                now,
                Some(&format!("The cases could not be listed: {}", e.detail())),
            ),
        ),
    }
}

fn case_page(
    api: &Api,
    id: &str,
    csrf: &str,
    now: Timestamp,
    flash: Option<&str>,
    error: Option<&str>,
    status: u16,
) -> Response {
    match api.case(id) {
        Ok(view) => Response::page(status, pages::case(&view, csrf, now, flash, error)),
        Err(ApiError::Refused { status: 401, .. }) => session_ended(api, &case_address(id)),
        Err(ApiError::Failed { status: 404, .. }) => Response::page(
            404,
            pages::message(
                "Case not found",
                "There is no case with this id.",
                Some(csrf),
            ),
        ),
        Err(e) => Response::page(
            if upstream_status(&e) >= 500 {
                502
            } else {
                upstream_status(&e)
            },
            pages::message("The case could not be shown", e.detail(), Some(csrf)),
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn act(
    req: &Request,
    config: &Config,
    api: &Api,
    key: &str,
    csrf: &str,
    id: &str,
    action: CaseAction,
    now: Timestamp,
) -> Response {
    if cross_site(req, config) {
        return forbidden(CROSS_SITE, Some(csrf));
    }
    let form = Form::parse(&req.body);
    if !sec::csrf_ok(config.signing_key.as_bytes(), key, form.get("csrf")) {
        return forbidden(BAD_TOKEN, Some(csrf));
    }
    match api.act(id, action.api_segment(), &action.body(&form)) {
        Ok(()) => Response::redirect(&format!(
            "/console/cases/{}?done={}",
            form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>(),
            action.done()
        )),
        Err(ApiError::Refused { status: 401, .. }) => session_ended(api, &case_address(id)),
        Err(e) => {
            let status = match upstream_status(&e) {
                s if s >= 500 => 502,
                s => s,
            };
            case_page(
                api,
                id,
                csrf,
                now,
                None,
                Some(&format!("Not done: {}", e.detail())),
                status,
            )
        }
    }
}

fn dashboard(req: &Request, api: &Api, csrf: &str, now: Timestamp) -> Response {
    let today = now.date_naive();
    match DashboardQuery::parse(&req.query, today) {
        Err(why) => {
            let fallback = DashboardQuery::parse("", today).expect("the default period is valid");
            Response::page(400, pages::dashboard(&fallback, None, csrf, Some(&why)))
        }
        Ok(query) => match api.metrics(&query.from_str(), &query.to_str(), query.team.as_deref()) {
            Ok(m) => Response::page(200, pages::dashboard(&query, Some(Ok(&m)), csrf, None)),
            Err(ApiError::Refused { status: 401, .. }) => session_ended(api, &page_address(req)),
            Err(e) => {
                let status = upstream_status(&e);
                let why = match &e {
                    ApiError::Failed { status: 404, .. } => {
                        "this closeloop has no metrics API (GET /v1/metrics answered 404)"
                            .to_owned()
                    }
                    e => e.detail().to_owned(),
                };
                Response::page(
                    if status >= 500 || status == 404 {
                        502
                    } else {
                        status
                    },
                    pages::dashboard(&query, Some(Err(&why)), csrf, None),
                )
            }
        },
    }
}

#[cfg(test)]
mod tests;
