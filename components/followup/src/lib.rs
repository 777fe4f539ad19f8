//! followup: the agent API, the customer's confirmation pages, and `POST /v1/tick`.
//!
//! - Agent API (`Authorization: Bearer <agent_token>`): `GET /v1/cases` (open cases, most
//!   urgent first), `GET /v1/cases/{id}` (with feedback and timeline), and `POST
//!   /v1/cases/{id}/{acknowledge,notes,resolve}`.
//! - Customer (signed link): `GET /v1/confirm/{token}` asks "is it resolved?", `POST` answers.
//! - `POST /v1/tick` (`Authorization: Bearer <tick_token>`): re-drives triage and dispatch.
//!
//! A change of state claims `(case, version)` in the store before writing, so of two agents
//! acting at once exactly one wins; notes are events of their own and never conflict.

mod confirm;

use closeloop_edge::domain::api::{
    self, AcknowledgeInput, CaseSummary, CaseView, NoteInput, ResolveInput,
};
use closeloop_edge::domain::case::{Action, Case, CaseEvent, CaseState};
use closeloop_edge::domain::envelope::Pending;
use closeloop_edge::domain::feedback::Feedback;
use closeloop_edge::domain::link::{LinkClaims, LinkKey};
use closeloop_edge::domain::notice::Notice;
use closeloop_edge::domain::problem::{FieldError, Problem, ProblemKind};
use closeloop_edge::domain::{Timestamp, keys, link};
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use closeloop_edge::{clock, config, stage};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use spin_sdk::http_component;

const COMPONENT: &str = "followup";

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    http::serve(COMPONENT, req, out, api::MAX_BODY_BYTES, route);
}

fn route(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    let segments = req.segments();
    match (&req.method, segments.as_slice()) {
        (_, ["v1", "confirm", token]) => {
            log.route("/v1/confirm/:token");
            confirm::handle(req, token)
        }
        (Method::Post, ["v1", "tick"]) => {
            log.route("/v1/tick");
            req.require_bearer(&config::required("tick_token")?)?;
            Ok(tick().into())
        }
        (_, ["v1", "tick"]) => Err(http::method_not_allowed("POST")),
        (_, ["v1", "cases", rest @ ..]) => {
            req.require_bearer(&config::required("agent_token")?)?;
            agent(req, rest, log)
        }
        _ => Err(http::not_found(&req.path)),
    }
}

fn agent(req: &Incoming, rest: &[&str], log: &mut RequestLog) -> Result<Handled, Problem> {
    let kv = Kv::open()?;
    let now = clock::now();
    match (&req.method, rest) {
        (Method::Get, []) => {
            log.route("/v1/cases");
            list_cases(&kv, req, now).map(Handled::from)
        }
        (Method::Get, [id]) => {
            log.route("/v1/cases/:id");
            log.field("case_id", *id);
            view_case(&kv, id).map(Handled::from)
        }
        (Method::Post, [id, "acknowledge"]) => {
            log.route("/v1/cases/:id/acknowledge");
            log.field("case_id", *id);
            let action = req
                .json::<AcknowledgeInput>()?
                .into_action()
                .map_err(Problem::invalid)?;
            let (case, _) = transition(&kv, id, action, now)?;
            Ok(Reply::json(200, &case).into())
        }
        (Method::Post, [id, "notes"]) => {
            log.route("/v1/cases/:id/notes");
            log.field("case_id", *id);
            let (by, text) = req
                .json::<NoteInput>()?
                .validate()
                .map_err(Problem::invalid)?;
            let case = load_case(&kv, id)?;
            let event = case.note(&by, &text, clock::new_id(now), now);
            kv.put(&keys::event(&case.id, &event.id), &event)?;
            Ok(Reply::json(201, &event).into())
        }
        (Method::Post, [id, "resolve"]) => {
            log.route("/v1/cases/:id/resolve");
            log.field("case_id", *id);
            let action = req
                .json::<ResolveInput>()?
                .into_action()
                .map_err(Problem::invalid)?;
            resolve(kv, id, action, now)
        }
        (_, [] | [_]) => Err(http::method_not_allowed("GET")),
        (_, [_, "acknowledge" | "notes" | "resolve"]) => Err(http::method_not_allowed("POST")),
        _ => Err(http::not_found(&req.path)),
    }
}

fn list_cases(kv: &Kv, req: &Incoming, now: Timestamp) -> Result<Reply, Problem> {
    let filter = req
        .query_param("state")
        .unwrap_or_else(|| "open".to_owned());
    let known = ["open", "all"];
    let wanted = |c: &Case| match filter.as_str() {
        "open" => c.state.is_open(),
        "all" => true,
        state => c.state.as_str() == state,
    };
    let valid_state = known.contains(&filter.as_str())
        || serde_json::from_value::<CaseState>(json!(filter)).is_ok();
    if !valid_state {
        return Err(Problem::invalid(vec![FieldError::new(
            "/query/state",
            "use open, all, or a case state such as acknowledged",
        )]));
    }
    let mut cases: Vec<Case> = kv.records_with_prefix::<Case>(keys::CASE)?;
    cases.retain(wanted);
    api::sort_by_urgency(&mut cases);
    let mut summaries = Vec::with_capacity(cases.len());
    for case in &cases {
        let feedback = kv.get::<Feedback>(&keys::feedback(&case.feedback_id))?;
        summaries.push(CaseSummary::new(case, feedback.as_ref(), now));
    }
    Ok(Reply::json(200, &json!({"cases": summaries})))
}

fn view_case(kv: &Kv, id: &str) -> Result<Reply, Problem> {
    let case = load_case(kv, id)?;
    let feedback = kv.get::<Feedback>(&keys::feedback(&case.feedback_id))?;
    let mut timeline = kv.records_with_prefix::<CaseEvent>(&keys::events_of(&case.id))?;
    api::sort_timeline(&mut timeline);
    Ok(Reply::json(
        200,
        &CaseView {
            case: &case,
            feedback: feedback.as_ref(),
            timeline: &timeline,
        },
    ))
}

fn load_case(kv: &Kv, id: &str) -> Result<Case, Problem> {
    kv.get::<Case>(&keys::case(id))?
        .ok_or_else(|| Problem::new(ProblemKind::NotFound, format!("there is no case {id}")))
}

/// Applies `action` to a case, writing first whatever the change promises (the notice it
/// needs), then the event, then the case.
fn transition(
    kv: &Kv,
    id: &str,
    action: Action,
    now: Timestamp,
) -> Result<(Case, Option<Notice>), Problem> {
    let case = load_case(kv, id)?;
    let (next, event) = case
        .apply(action, clock::new_id(now), now)
        .map_err(|e| Problem::new(ProblemKind::InvalidTransition, e.to_string()))?;
    if !kv.claim(&keys::case_claim(&case.id, case.version))? {
        return Err(Problem::new(
            ProblemKind::Conflict,
            "someone else changed this case at the same moment; reload it and try again",
        ));
    }
    let notice = match next.state {
        CaseState::ResolvedAwaitingCustomer => Some(Notice::customer_follow_up(
            &next,
            confirmation_link(&next, now)?,
            now,
        )),
        CaseState::Reopened => Some(Notice::case_reopened(&next, now)),
        _ => None,
    };
    if let Some(notice) = &notice {
        kv.put(&keys::notice(&notice.id), notice)?;
        kv.put(&keys::pending_notice(&notice.id), &Pending { since: now })?;
    }
    kv.put(&keys::event(&case.id, &event.id), &event)?;
    kv.put(&keys::case(&case.id), &next)?;
    Ok((next, notice))
}

fn link_key() -> Result<LinkKey, Problem> {
    LinkKey::new(&config::required("link_signing_key")?).ok_or_else(|| {
        eprintln!(
            "{{\"level\":\"error\",\"msg\":\"link_signing_key is shorter than {} bytes\"}}",
            link::MIN_KEY_BYTES
        );
        Problem::new(
            ProblemKind::Internal,
            "closeloop is not fully configured; the operator has been told",
        )
    })
}

fn confirmation_link(case: &Case, now: Timestamp) -> Result<String, Problem> {
    let ttl_hours = config::number("link_ttl_hours", link::DEFAULT_TTL_HOURS as u64) as i64;
    let claims = LinkClaims::new(&case.id, case.round, now, ttl_hours, clock::new_id(now));
    let token = link_key()?.sign(&claims);
    Ok(format!("{}/v1/confirm/{token}", config::public_base_url()))
}

fn resolve(kv: Kv, id: &str, action: Action, now: Timestamp) -> Result<Handled, Problem> {
    let (case, notice) = transition(&kv, id, action, now)?;
    Ok(Handled::then(Reply::json(200, &case), move || {
        if let Some(notice) = notice {
            hand_to_dispatch(&notice.id);
        }
    }))
}

fn hand_to_dispatch(notice_id: &str) {
    stage::hand_over_logged(
        COMPONENT,
        "dispatch_url",
        "http://dispatch.spin.internal",
        &format!("/v1/internal/dispatch/notices/{notice_id}"),
    );
}

/// Re-drives every stage and reports what each did; 503 if a stage could not be reached, so
/// that a scheduler notices.
fn tick() -> Reply {
    let mut status = 200;
    let mut report = serde_json::Map::new();
    for (name, variable, default) in [
        ("triage", "triage_url", "http://triage.spin.internal"),
        ("dispatch", "dispatch_url", "http://dispatch.spin.internal"),
    ] {
        let path = format!("/v1/internal/{name}/tick");
        let result = match stage::hand_over(variable, default, &path) {
            Ok((200, body)) => serde_json::from_slice(&body).unwrap_or(json!({})),
            Ok((code, _)) => {
                status = 503;
                json!({"error": format!("{name} answered HTTP {code}")})
            }
            Err(e) => {
                status = 503;
                json!({"error": format!("{name} could not be reached: {e}")})
            }
        };
        report.insert(name.to_owned(), result);
    }
    Reply::json(status, &report)
}
