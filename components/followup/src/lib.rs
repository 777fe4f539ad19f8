//! followup: the agent API, the admin API about people, the customer's confirmation pages,
//! and `POST /v1/tick`.
//!
//! A Spin shell: every change is a command on the log (`closeloop_workflow::fold::{agent,
//! customer, sweep, privacy}`), every read is `closeloop_workflow::reads`, and the admin API
//! is `closeloop_edge::people`. Agent API: a personal key or `agent_token` (assigning needs a
//! team lead); admin API: an admin key or `admin_token`; console sessions (a key or token
//! in, a signed session out): `closeloop_edge::access::sessions`; pages: the signed link;
//! tick: `tick_token`. Deliveries a fold leased to this request go to dispatch after the answer.

use closeloop_edge::access::{authenticate, sessions};
use closeloop_edge::domain::access::{Principal, Role};
use closeloop_edge::domain::api::{self, CaseFilter};
use closeloop_edge::domain::problem::{Problem, ProblemKind};
use closeloop_edge::flow::fold::{Verdict, agent, sweep};
use closeloop_edge::flow::{confirm, reads};
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use closeloop_edge::{clock, config, people, stage, workflow};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use spin_sdk::http_component;

const COMPONENT: &str = "followup";

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    http::serve(COMPONENT, req, out, api::MAX_BODY_BYTES, route);
}

fn route(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    let mut kv = Kv::open()?;
    let segments = req.segments();
    if let ["v1", area @ ("cases" | "admin"), rest @ ..] = segments.as_slice() {
        let principal = authenticate(req, &kv)?;
        log.field("role", principal.role.as_str());
        if *area == "admin" {
            principal.require(Role::Admin, "the admin API")?;
            return people::handle(req, &mut kv, &principal.actor("admin".into()), rest, log);
        }
        principal.require(Role::Agent, "the agent API")?;
        return cases(req, &kv, &principal, rest, log);
    }
    match (&req.method, segments.as_slice()) {
        (_, ["v1", "sessions", rest @ ..]) => sessions(req, &kv, rest, log),
        (_, ["v1", "confirm", token]) => {
            log.route("/v1/confirm/:token");
            confirm(req, &kv, token)
        }
        (Method::Post, ["v1", "tick"]) => {
            log.route("/v1/tick");
            req.require_bearer(&config::required("tick_token")?)?;
            Ok(tick(&kv).into())
        }
        (_, ["v1", "tick"]) => Err(http::method_not_allowed("POST")),
        _ => Err(http::not_found(&req.path)),
    }
}

fn cases(
    req: &Incoming,
    kv: &Kv,
    principal: &Principal,
    rest: &[&str],
    log: &mut RequestLog,
) -> Result<Handled, Problem> {
    let now = clock::now();
    match (&req.method, rest) {
        (Method::Get, []) => {
            log.route("/v1/cases");
            let filter = CaseFilter::from_query(&req.query).map_err(Problem::invalid)?;
            Ok(Reply::json(200, &reads::cases::list(kv.store(), &filter, now)?).into())
        }
        (Method::Get, [id]) => {
            log.route("/v1/cases/:id");
            let missing = || Problem::new(ProblemKind::NotFound, format!("there is no case {id}"));
            let view = reads::cases::view(kv.store(), id)?.ok_or_else(missing)?;
            Ok(Reply::json(200, &view).into())
        }
        (_, [] | [_]) => Err(http::method_not_allowed("GET")),
        (method, [id, name]) => {
            let Some(route) = agent::route(name) else {
                return Err(http::not_found(&req.path));
            };
            log.route(route);
            log.field("case_id", *id);
            if *method != Method::Post {
                return Err(http::method_not_allowed("POST"));
            }
            req.require_content_type("application/json")?;
            let command = agent::command(id, name, &req.body, principal, clock::new_id(now))?;
            if let Some(refused) = agent::precheck(kv.store(), &command, now)? {
                return Err(refused.problem().expect("a refusal"));
            }
            let done = workflow::submit(kv, command)?;
            let reply = match &done.verdict {
                Verdict::CaseChanged { case } => Reply::json(200, case),
                Verdict::Noted { event } => Reply::json(201, event),
                refused => return Err(refused.problem().expect("a refusal")),
            };
            Ok(Handled::then(reply, move || {
                workflow::hand_over(COMPONENT, &done)
            }))
        }
        _ => Err(http::not_found(&req.path)),
    }
}

/// The customer's pages: the question, and the answer (a command once the link and the form
/// are good).
fn confirm(req: &Incoming, kv: &Kv, token: &str) -> Result<Handled, Problem> {
    let (ctx, now, store) = (workflow::context(), clock::now(), kv.store());
    let page = match req.method {
        Method::Get => confirm::question(store, &ctx, token, now)?,
        Method::Post => {
            let form = req.require_content_type("application/x-www-form-urlencoded");
            match confirm::answer(store, &ctx, token, form.ok().map(|()| &req.body[..]), now)? {
                Err(refused) => refused,
                Ok(command) => {
                    let done = workflow::submit(kv, command)?;
                    let page = confirm::answered(&done.verdict)?;
                    let reply = Reply::html(page.status, page.html);
                    return Ok(Handled::then(reply, move || {
                        workflow::hand_over(COMPONENT, &done)
                    }));
                }
            }
        }
        _ => return Err(http::method_not_allowed("GET or POST")),
    };
    Ok(Reply::html(page.status, page.html).into())
}

/// Sweeps the follow-ups due (one command's worth), then runs dispatch's tick.
fn tick(kv: &Kv) -> Reply {
    let policy = workflow::context().follow_up;
    let swept = sweep::run(kv.store(), &policy, clock::now(), |command| {
        let done = workflow::submit(kv, command)?;
        workflow::hand_over(COMPONENT, &done);
        Ok(done.verdict)
    });
    let (variable, base) = ("dispatch_url", "http://dispatch.spin.internal");
    let dispatch = stage::hand_over(variable, base, "/v1/internal/dispatch/tick", &json!({}));
    let (status, report) = sweep::tick_report(swept, dispatch);
    Reply::json(status, &report)
}
