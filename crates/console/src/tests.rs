//! The console's routes over a fake API.

use std::cell::RefCell;

use chrono::{Duration, TimeZone, Utc};
use closeloop_domain::Timestamp;
use closeloop_domain::api::{CaseSummary, CaseView};
use closeloop_domain::case::Case;
use closeloop_domain::feedback::{Customer, Feedback};
use closeloop_domain::metrics::cell::Example;
use closeloop_domain::metrics::report::{self, Durations, MetricsQuery, TopicTrend};
use closeloop_domain::score::{Score, ScoreKind};
use closeloop_domain::triage::{TriagePolicy, triage};
use serde_json::{Value, json};

use super::*;
use crate::client::ApiReply;

const GOOD_KEY: &str = "clk_good";
/// The session the fake API opens for `GOOD_KEY`.
const SESSION: &str = "cls_good.session";
const SIGNING_KEY: &str = "link-signing-key-for-tests-0123456789";
const HOSTILE: &str = "<script>alert(1)</script>";

type Call = (String, String, String, Option<Value>);

/// Answers like the API: opens `SESSION` for `GOOD_KEY`, serves `SESSION`, 401 for anything
/// else; records every call.
struct FakeApi {
    calls: RefCell<Vec<Call>>,
    act_status: u16,
    metrics: Option<Value>,
}

impl FakeApi {
    fn new() -> Self {
        FakeApi {
            calls: RefCell::new(Vec::new()),
            act_status: 200,
            metrics: None,
        }
    }
}

fn reply(status: u16, body: Value) -> Result<ApiReply, String> {
    Ok(ApiReply {
        status,
        body: body.to_string().into_bytes(),
    })
}

/// A guest's NPS 2 with `comment`, sent and received at `at`.
fn feedback(external_id: &str, name: &str, comment: &str, at: Timestamp) -> Feedback {
    Feedback {
        id: format!("fb-{external_id}"),
        source: "hotel-survey".into(),
        external_id: external_id.into(),
        submitted_at: at,
        received_at: at,
        customer: Customer {
            id: Some("guest-7".into()),
            email: Some("guest@example.com".into()),
            name: Some(name.into()),
            phone: None,
            attributes: Default::default(),
        },
        score: Some(Score {
            kind: ScoreKind::Nps,
            value: 2,
            scale: 10,
        }),
        comment: Some(comment.into()),
        metadata: Default::default(),
    }
}

/// The case `feedback` opens, triaged as it arrived, under the id `id` the tests address.
fn case_of(id: &str, feedback: &Feedback) -> Case {
    let policy = TriagePolicy {
        default_team: "front-desk".into(),
    };
    let triaged = triage(feedback, &policy, feedback.received_at);
    let mut case = Case::open(&feedback.id, feedback.received_at, triaged);
    case.id = id.into();
    case
}

/// The inbox's row for case `id`, opened at `at`, as the API lists it.
fn summary(id: &str, at: Timestamp, comment: &str) -> Value {
    let feedback = feedback(id, "Alex Guest", comment, at);
    serde_json::to_value(CaseSummary::new(
        &case_of(id, &feedback),
        Some(&feedback),
        now(),
    ))
    .unwrap()
}

/// `GET /v1/cases/c1`: hostile text wherever a customer or a rule can put some.
fn case_view() -> Value {
    let feedback = feedback("c1", HOSTILE, HOSTILE, now() - Duration::hours(3));
    let mut case = case_of("c1", &feedback);
    case.triage.reasons.push(format!("because {HOSTILE}"));
    let mut opened = case.opened_event();
    opened.detail = HOSTILE.into();
    serde_json::to_value(CaseView {
        case,
        feedback: Some(feedback),
        timeline: vec![opened],
    })
    .unwrap()
}

/// `GET /v1/cases/c3`: an anonymous answer's case.
fn anonymous_case_view() -> Value {
    let mut feedback = feedback("c3", "", "The breakfast room was filthy", now());
    feedback.customer = Customer::default();
    let mut case = case_of("c3", &feedback);
    case.anonymous = true;
    serde_json::to_value(CaseView {
        case,
        feedback: Some(feedback),
        timeline: vec![],
    })
    .unwrap()
}

/// `GET /v1/metrics` for 2026-11-22..=23 and team front-desk: the domain's report, with the
/// numbers the dashboard test looks for and a rising topic whose example is hostile.
fn metrics() -> Value {
    let query = MetricsQuery::parse(
        "from=2026-11-22&to=2026-11-23&team=front-desk",
        now().date_naive(),
    )
    .unwrap();
    let mut r = report::report(&query, &[], &[], now());
    r.totals.volume = 5;
    r.totals.cases = 4;
    r.totals.closed = 2;
    r.totals.closure_rate = Some(0.5);
    r.totals.time_to_resolve_seconds = Durations {
        count: 3,
        median: Some(3600.0),
        p90: Some(7200.0),
    };
    r.totals.nps.score = Some(-20.0);
    r.totals.nps.responses = 5;
    r.previous.volume = 1;
    r.series[0].volume = 2;
    r.series[0].nps = Some(-50.0);
    r.series[1].volume = 3;
    r.topics.push(TopicTrend {
        topic: "noise".into(),
        count: 3,
        previous: 1,
        change: 2,
        rising: true,
        examples: vec![Example {
            feedback_id: "f".into(),
            case_id: Some("c1".into()),
            sentiment: -0.9,
            comment: Some(HOSTILE.into()),
        }],
    });
    let mut body = serde_json::to_value(r).unwrap();
    body["projection"] = json!({"behind": 0});
    body
}

impl client::Backend for FakeApi {
    fn send(
        &self,
        method: &str,
        url: &str,
        key: &str,
        body: Option<&Value>,
    ) -> Result<ApiReply, String> {
        self.calls
            .borrow_mut()
            .push((method.into(), url.into(), key.into(), body.cloned()));
        let refused = || {
            reply(
                401,
                json!({"status": 401, "detail": "the bearer token is not valid"}),
            )
        };
        let path = url.split_once(".internal").map_or(url, |(_, p)| p);
        match (method, path, key) {
            ("POST", "/v1/sessions", GOOD_KEY) => {
                return reply(201, json!({"token": SESSION, "role": "agent"}));
            }
            ("POST", "/v1/sessions/sign-out", SESSION) => return reply(204, json!(null)),
            (_, _, SESSION) => {}
            _ => return refused(),
        }
        match (method, path.split('?').next().unwrap()) {
            ("GET", "/v1/cases") => reply(
                200,
                // c1 is a day old and overdue; c2 has just arrived.
                json!({"cases": [summary("c1", now() - Duration::days(1), HOSTILE), summary("c2", now(), "fine")],
                       "total": 2, "recovered_detractors": 0, "projection": {"behind": 0}}),
            ),
            ("GET", "/v1/cases/c1") => reply(200, case_view()),
            ("GET", "/v1/cases/c3") => reply(200, anonymous_case_view()),
            ("GET", p) if p.starts_with("/v1/cases/") => {
                reply(404, json!({"detail": "no such case"}))
            }
            ("POST", _) => match self.act_status {
                200 => reply(200, json!({})),
                s => reply(
                    s,
                    json!({"status": s, "detail": "the case is resolved-awaiting-customer; acknowledge is not possible"}),
                ),
            },
            ("GET", "/v1/metrics") => match &self.metrics {
                Some(m) => reply(200, m.clone()),
                None => Err("connection refused".into()),
            },
            _ => reply(404, json!({"detail": "nothing is served here"})),
        }
    }
}

fn config() -> Config {
    Config {
        cases_url: "http://followup.spin.internal".into(),
        metrics_url: "http://metrics.spin.internal".into(),
        signing_key: SIGNING_KEY.into(),
        public_base_url: "https://closeloop.example.com".into(),
    }
}

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

fn session_cookie() -> String {
    security::session_cookie(SESSION, true)
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn get(path: &str, cookie: Option<&str>) -> Request {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    Request {
        method: "GET".into(),
        path: path.into(),
        query: query.into(),
        headers: cookie
            .map(|c| vec![("cookie".into(), c.into())])
            .unwrap_or_default(),
        body: vec![],
    }
}

fn post(path: &str, cookie: &str, body: &str, extra: &[(&str, &str)]) -> Request {
    let mut headers = vec![
        ("cookie".to_owned(), cookie.to_owned()),
        (
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ),
    ];
    headers.extend(
        extra
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    Request {
        method: "POST".into(),
        path: path.into(),
        query: String::new(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn run(api: &FakeApi, req: &Request) -> Response {
    let r = handle(req, &config(), api, now(), [7; 16]);
    assert_eq!(
        r.header("content-security-policy"),
        Some(security::CONTENT_SECURITY_POLICY),
        "every response carries the CSP"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("same-origin"));
    r
}

fn csrf() -> String {
    security::csrf_token(SIGNING_KEY.as_bytes(), SESSION)
}

#[test]
fn pages_need_a_session() {
    let api = FakeApi::new();
    for (path, back) in [
        ("/console", ""),
        ("/console/", ""),
        ("/console/dashboard", "?next=%2Fconsole%2Fdashboard"),
        ("/console/cases/c1", "?next=%2Fconsole%2Fcases%2Fc1"),
        (
            "/console/cases/c1?done=note",
            "?next=%2Fconsole%2Fcases%2Fc1%3Fdone%3Dnote",
        ),
    ] {
        let r = run(&api, &get(path, None));
        let location = format!("/console/sign-in{back}");
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some(location.as_str())),
            "{path}"
        );
    }
    let r = run(&api, &post("/console/cases/c1/resolve", "", "csrf=x", &[]));
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/console/sign-in?next=%2Fconsole%2Fcases%2Fc1"))
    );
    // A cookie from before sessions held the key itself: it no longer signs anyone in.
    let old = "closeloop_session=Y2xrX2dvb2Q";
    let r = run(&api, &get("/console", Some(old)));
    assert_eq!(r.header("location"), Some("/console/sign-in"));
    assert!(api.calls.borrow().is_empty(), "nothing reached the API");
    assert_eq!(run(&api, &get("/console/nope", None)).status, 404);
    assert_eq!(run(&api, &get("/elsewhere", None)).status, 404);
}

#[test]
fn sign_in_checks_the_token_and_the_key() {
    let api = FakeApi::new();
    let r = run(&api, &get("/console/sign-in", None));
    assert_eq!(r.status, 200);
    let token = hex::encode([7u8; 16]);
    let set = r.header("set-cookie").unwrap();
    assert!(set.starts_with(&format!("closeloop_login={token};")) && set.contains("HttpOnly"));
    assert!(r.text().contains(&format!("value=\"{token}\"")));
    let login = format!("closeloop_login={token}");

    let r = run(
        &api,
        &post(
            "/console/sign-in",
            &login,
            &format!("login={token}&key={GOOD_KEY}"),
            &[],
        ),
    );
    assert_eq!((r.status, r.header("location")), (303, Some("/console")));
    let cookies: Vec<_> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        cookies[0].starts_with("closeloop_session=")
            && cookies[0].contains("SameSite=Strict")
            && cookies[0].contains("Secure")
    );
    assert!(cookies[1].starts_with("closeloop_login=;"));
    assert_eq!(
        cookies[0].split(';').next(),
        Some(format!("closeloop_session={SESSION}").as_str()),
        "the cookie holds the session the API opened, not the key"
    );
    assert!(!cookies.iter().any(|c| c.contains(GOOD_KEY)));
    let calls = api.calls.borrow().clone();
    assert_eq!(
        (
            calls[0].0.as_str(),
            calls[0].1.as_str(),
            calls[0].2.as_str()
        ),
        (
            "POST",
            "http://followup.spin.internal/v1/sessions",
            GOOD_KEY
        )
    );

    let r = run(
        &api,
        &post(
            "/console/sign-in",
            &login,
            &format!("login={token}&key=clk_bad"),
            &[],
        ),
    );
    assert_eq!(r.status, 401);
    assert!(r.text().contains("That key was not accepted"));
    assert!(
        !r.headers
            .iter()
            .any(|(n, v)| n == "set-cookie" && v.starts_with("closeloop_session"))
    );

    let calls = api.calls.borrow().len();
    for (cookie, body) in [
        (login.as_str(), format!("key={GOOD_KEY}")),
        ("", format!("login={token}&key={GOOD_KEY}")),
        (
            login.as_str(),
            format!("login={}&key={GOOD_KEY}", "0".repeat(32)),
        ),
    ] {
        let r = run(&api, &post("/console/sign-in", cookie, &body, &[]));
        assert_eq!(r.status, 403, "{body}");
    }
    let r = run(
        &api,
        &post(
            "/console/sign-in",
            &login,
            &format!("login={token}&key={GOOD_KEY}"),
            &[("origin", "https://evil.example")],
        ),
    );
    assert_eq!(r.status, 403);
    let r = run(
        &api,
        &post(
            "/console/sign-in",
            &login,
            &format!("login={token}&key=a+b"),
            &[],
        ),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        api.calls.borrow().len(),
        calls,
        "refused forms never reach the API"
    );
}

#[test]
fn the_inbox_escapes_and_marks_overdue_cases() {
    let api = FakeApi::new();
    let r = run(
        &api,
        &get("/console?team=front%20desk", Some(&session_cookie())),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let html = r.text();
    assert!(!html.contains(HOSTILE), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("class=\"overdue\" data-case-id=\"c1\""));
    assert!(html.contains(">Overdue<"));
    assert!(
        html.find("c1").unwrap() < html.find("c2").unwrap(),
        "the API's order is kept"
    );
    let (_, url, key, _) = api.calls.borrow()[0].clone();
    assert_eq!(
        url,
        "http://followup.spin.internal/v1/cases?state=open&limit=200&team=front+desk"
    );
    assert_eq!(
        key, SESSION,
        "the API is called with the session, never a key"
    );
    assert!(
        html.contains(&csrf()),
        "the sign-out form carries the token"
    );
}

#[test]
fn a_refused_session_ends_and_signing_in_leads_back() {
    let api = FakeApi::new();
    // Revoked key, signed out elsewhere, expired: the API refuses the session with 401.
    let cookie = "closeloop_session=cls_revoked.session";
    let r = run(&api, &get("/console/cases/c1", Some(cookie)));
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/console/sign-in?next=%2Fconsole%2Fcases%2Fc1"))
    );
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));

    let r = run(
        &api,
        &get("/console/sign-in?next=%2Fconsole%2Fcases%2Fc1", None),
    );
    assert!(
        r.text()
            .contains(r#"name="next" value="/console/cases/c1""#),
        "{}",
        r.text()
    );
    let token = hex::encode([7u8; 16]);
    let login = format!("closeloop_login={token}");
    let sign_in = |next: &str| {
        let body = format!(
            "login={token}&key={GOOD_KEY}&next={}",
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        run(&api, &post("/console/sign-in", &login, &body, &[]))
    };
    let r = sign_in("/console/cases/c1");
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/console/cases/c1"))
    );
    for elsewhere in [
        "https://evil.example/console",
        "//evil.example",
        "/v1/cases/c1",
    ] {
        let r = sign_in(elsewhere);
        assert_eq!(r.header("location"), Some("/console"), "{elsewhere}");
    }
    let r = run(&api, &get("/console/sign-in?next=//evil.example", None));
    assert!(!r.text().contains("evil.example"));
}

#[test]
fn the_case_page_escapes_everything() {
    let api = FakeApi::new();
    let r = run(
        &api,
        &get(
            "/console/cases/c1?done=acknowledged",
            Some(&session_cookie()),
        ),
    );
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(!html.contains("<script"), "{html}");
    assert!(html.matches("&lt;script&gt;").count() >= 4);
    assert!(html.contains("Acknowledged: the customer"));
    for action in ["acknowledge", "note", "resolve", "assign"] {
        assert!(
            html.contains(&format!("action=\"/console/cases/c1/{action}\"")),
            "{action}"
        );
    }
    assert!(html.contains("value=\"facilities\""));
    let r = run(
        &api,
        &get("/console/cases/c1?done=%3Cb%3Ehi", Some(&session_cookie())),
    );
    assert!(!r.text().contains("hi</b>") && !r.text().contains("&lt;b&gt;hi"));
    assert_eq!(
        run(&api, &get("/console/cases/zz", Some(&session_cookie()))).status,
        404
    );
}

#[test]
fn an_anonymous_answers_case_says_who_it_is_from_and_what_resolving_does() {
    let api = FakeApi::new();
    let r = run(&api, &get("/console/cases/c3", Some(&session_cookie())));
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(html.contains("an anonymous customer"), "{html}");
    assert!(html.contains("resolving closes the case"), "{html}");
    assert!(!html.contains("<dt>Email</dt>"), "{html}");
    let named = run(&api, &get("/console/cases/c1", Some(&session_cookie()))).text();
    assert!(!named.contains("resolving closes the case"));
}

#[test]
fn actions_need_the_csrf_token_and_the_same_origin() {
    let api = FakeApi::new();
    let cookie = session_cookie();
    let body = "resolution=Moved+room&root_cause=facilities";
    for (body, extra) in [
        (body.to_owned(), vec![]),
        (format!("csrf={}&{body}", "0".repeat(64)), vec![]),
        (
            format!("csrf={}&{body}", csrf()),
            vec![("origin", "https://evil.example")],
        ),
        (
            format!("csrf={}&{body}", csrf()),
            vec![("sec-fetch-site", "cross-site")],
        ),
    ] {
        let r = run(
            &api,
            &post("/console/cases/c1/resolve", &cookie, &body, &extra),
        );
        assert_eq!(r.status, 403, "{body} {extra:?}");
    }
    assert!(api.calls.borrow().is_empty());

    let r = run(
        &api,
        &post(
            "/console/cases/c1/resolve",
            &cookie,
            &format!("csrf={}&{body}", csrf()),
            &[
                ("origin", "https://closeloop.example.com"),
                ("sec-fetch-site", "same-origin"),
            ],
        ),
    );
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/console/cases/c1?done=resolved"))
    );
    let (method, url, _, sent) = api.calls.borrow()[0].clone();
    assert_eq!(
        (method.as_str(), url.as_str()),
        ("POST", "http://followup.spin.internal/v1/cases/c1/resolve")
    );
    assert_eq!(
        sent,
        Some(json!({"resolution": "Moved room", "root_cause": "facilities"}))
    );

    // The browser's own address counts as the console's origin too (Spin's spin-full-url).
    let r = run(
        &api,
        &post(
            "/console/cases/c1/note",
            &cookie,
            &format!("csrf={}&text=called", csrf()),
            &[
                ("origin", "http://127.0.0.1:3000"),
                (
                    "spin-full-url",
                    "http://127.0.0.1:3000/console/cases/c1/note",
                ),
            ],
        ),
    );
    assert_eq!(r.header("location"), Some("/console/cases/c1?done=noted"));
    assert!(api.calls.borrow()[1].1.ends_with("/v1/cases/c1/notes"));
}

#[test]
fn the_apis_refusal_is_shown_with_its_status() {
    let mut api = FakeApi::new();
    api.act_status = 409;
    let r = run(
        &api,
        &post(
            "/console/cases/c1/acknowledge",
            &session_cookie(),
            &format!("csrf={}", csrf()),
            &[],
        ),
    );
    assert_eq!(r.status, 409);
    assert!(
        r.text()
            .contains("Not done: the case is resolved-awaiting-customer")
    );
    api.act_status = 403;
    let r = run(
        &api,
        &post(
            "/console/cases/c1/assign",
            &session_cookie(),
            &format!("csrf={}&to=Lee", csrf()),
            &[],
        ),
    );
    assert_eq!(r.status, 403);
}

#[test]
fn sign_out_clears_the_session() {
    let api = FakeApi::new();
    let r = run(&api, &post("/console/sign-out", &session_cookie(), "", &[]));
    assert_eq!(r.status, 403);
    let r = run(
        &api,
        &post(
            "/console/sign-out",
            &session_cookie(),
            &format!("csrf={}", csrf()),
            &[],
        ),
    );
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/console/sign-in"))
    );
    assert!(
        r.header("set-cookie")
            .unwrap()
            .starts_with("closeloop_session=;")
    );
    let calls = api.calls.borrow();
    let last = calls.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1.as_str(), last.2.as_str()),
        (
            "POST",
            "http://followup.spin.internal/v1/sessions/sign-out",
            SESSION
        ),
        "the API ends the session, not only the browser"
    );
}

#[test]
fn the_dashboard_explains_a_missing_metrics_api_and_bad_dates() {
    let api = FakeApi::new();
    let r = run(&api, &get("/console/dashboard", Some(&session_cookie())));
    assert_eq!(r.status, 502);
    assert!(
        r.text()
            .contains("The metrics are not available: connection refused")
    );
    assert!(
        api.calls.borrow()[0]
            .1
            .starts_with("http://metrics.spin.internal/v1/metrics?from=2026-10-25&to=2026-11-23")
    );
    let r = run(
        &api,
        &get(
            "/console/dashboard?from=2026-02-30",
            Some(&session_cookie()),
        ),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("must be a date written YYYY-MM-DD"));
}

#[test]
fn the_dashboard_draws_the_metrics() {
    let mut api = FakeApi::new();
    api.metrics = Some(metrics());
    let r = run(
        &api,
        &get(
            "/console/dashboard?from=2026-11-22&to=2026-11-23&team=front-desk",
            Some(&session_cookie()),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let html = r.text();
    assert!(html.contains("id=\"kpi-time-to-resolve\""));
    assert!(html.contains("<span class=\"count\">3</span>"));
    assert!(html.contains("▲ rising"));
    assert!(!html.contains(HOSTILE));
    assert!(html.contains("<svg"));
    assert!(!html.contains("style="), "no inline styles under the CSP");
    assert!(
        api.calls.borrow()[0]
            .1
            .ends_with("from=2026-11-22&to=2026-11-23&team=front-desk")
    );
}

#[test]
fn the_stylesheet_is_served_and_methods_are_checked() {
    let api = FakeApi::new();
    let r = run(&api, &get("/console/assets/console.css", None));
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("text/css; charset=utf-8"))
    );
    let mut req = get("/console", Some(&session_cookie()));
    req.method = "DELETE".into();
    let r = run(&api, &req);
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
}
