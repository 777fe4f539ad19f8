//! ingest: `POST /v1/feedback` takes closeloop's canonical feedback JSON.
//!
//! It validates strictly, stores the feedback once per (source, external id), marks it pending
//! for triage, answers `202 Accepted`, and only then hands over to triage, so the sender never
//! waits on triage and nothing is lost if the hand-over fails (tick re-drives it).
//!
//! `POST /v1/sources/{connection_id}[/{url_token}]` takes survey platforms' own webhooks
//! ([`sources`]) and `/v1/admin/connections` manages their connections ([`admin`]).

mod admin;
mod sources;

use closeloop_edge::domain::envelope::{Pending, Ref};
use closeloop_edge::domain::feedback::{self, FeedbackInput};
use closeloop_edge::domain::keys;
use closeloop_edge::domain::problem::{Problem, ProblemKind};
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use closeloop_edge::{clock, stage};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use spin_sdk::http_component;

const COMPONENT: &str = "ingest";

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    // The largest body any route takes; each route checks its own limit.
    let max = closeloop_edge::domain::sources::MAX_WEBHOOK_BYTES;
    http::serve(COMPONENT, req, out, max, route);
}

fn route(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    match req.segments().as_slice() {
        ["v1", "feedback"] => {
            log.route("/v1/feedback");
            match req.method {
                Method::Post => receive(req, log),
                _ => Err(http::method_not_allowed("POST")),
            }
        }
        ["v1", "sources", id] => {
            log.route("/v1/sources/:connection_id");
            post_only(req, || sources::receive(req, log, id, None))
        }
        ["v1", "sources", id, token] => {
            log.route("/v1/sources/:connection_id/:url_token");
            post_only(req, || sources::receive(req, log, id, Some(token)))
        }
        ["v1", "admin", "connections", rest @ ..] => admin::route(req, log, rest),
        _ => Err(http::not_found(&req.path)),
    }
}

fn post_only(
    req: &Incoming,
    f: impl FnOnce() -> Result<Handled, Problem>,
) -> Result<Handled, Problem> {
    match req.method {
        Method::Post => f(),
        _ => Err(http::method_not_allowed("POST")),
    }
}

/// Hands feedback `id` to triage (after the response has been sent).
fn hand_to_triage(id: &str) {
    stage::hand_over_logged(
        COMPONENT,
        "triage_url",
        "http://triage.spin.internal",
        &format!("/v1/internal/triage/feedback/{id}"),
    )
}

fn receive(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    if req.body.len() > feedback::MAX_BODY_BYTES {
        return Err(Problem::new(
            ProblemKind::PayloadTooLarge,
            format!(
                "the body must be at most {} bytes",
                feedback::MAX_BODY_BYTES
            ),
        ));
    }
    let input: FeedbackInput = req.json()?;
    let now = clock::now();
    let valid = input.validate(now).map_err(Problem::invalid)?;
    let kv = Kv::open()?;
    let ref_key = keys::feedback_ref(&feedback::dedup_digest(&valid.source, &valid.external_id));
    if let Some(existing) = kv.get::<Ref>(&ref_key)? {
        log.field("feedback_id", existing.id.clone());
        log.field("duplicate", true);
        let body = json!({"feedback_id": existing.id, "status": "duplicate"});
        return Ok(Reply::json(200, &body).into());
    }
    let feedback = valid.into_feedback(now);
    let id = feedback.id.clone();
    // The record first, then the pending mark, then the idempotency key: a crash at any point
    // leaves either nothing visible or work that tick finishes, never a key without its record.
    kv.put(&keys::feedback(&id), &feedback)?;
    kv.put(&keys::pending_triage(&id), &Pending { since: now })?;
    kv.put(&ref_key, &Ref { id: id.clone() })?;
    log.field("feedback_id", id.clone());
    let reply = Reply::json(202, &json!({"feedback_id": id, "status": "accepted"}));
    Ok(Handled::then(reply, move || hand_to_triage(&id)))
}
