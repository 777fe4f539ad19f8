//! ingest: feedback in. `POST /v1/feedback` takes closeloop's canonical feedback JSON;
//! `POST /v1/sources/{connection_id}[/{url_token}]` platforms' own webhooks ([`sources`]; `HEAD`
//! and `GET` answer their URL checks); `/v1/admin/connections` manages connections;
//! `POST /v1/inbound/{postmark,resend,twilio}` the customer's replies to follow-ups, by email
//! and SMS (`closeloop_edge::inbound`).
//!
//! Feedback is validated here and folded on the log (`closeloop_workflow::fold`): stored once,
//! triaged and its case opened and alert planned, in one write. The answer goes out before the
//! deliveries the fold leased to this request are handed to dispatch, so a sender never waits
//! on an alert, and nothing is lost if the hand-over fails (tick attempts them).

mod sources;

use closeloop_edge::domain::feedback::{self, FeedbackInput};
use closeloop_edge::domain::{
    envelope::Ref, keys, problem::Problem, reply, sources::MAX_WEBHOOK_BYTES,
};
use closeloop_edge::flow::fold::{Command, Verdict};
use closeloop_edge::http::{self, Handled, Incoming};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use closeloop_edge::{clock, connections, inbound, workflow};
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use spin_sdk::http_component;

const COMPONENT: &str = "ingest";

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    // The largest body any route takes (an email reply, attachments and all); each route
    // checks its own limit.
    http::serve(COMPONENT, req, out, reply::MAX_INBOUND_BYTES, route);
}

fn route(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    if let ["v1", "inbound", provider] = req.segments().as_slice() {
        let (provider, pattern) =
            inbound::route(provider).ok_or_else(|| http::not_found(&req.path))?;
        log.route(pattern);
        return inbound::receive(COMPONENT, provider, req, log);
    }
    req.require_body_at_most(MAX_WEBHOOK_BYTES)?;
    let (route, take): (&'static str, fn(&Incoming, &mut RequestLog) -> _) =
        match req.segments().as_slice() {
            ["v1", "feedback"] => ("/v1/feedback", receive),
            ["v1", "sources", _] => ("/v1/sources/:connection_id", sources::receive),
            ["v1", "sources", _, _] => ("/v1/sources/:connection_id/:url_token", sources::receive),
            ["v1", "admin", "connections", rest @ ..] => {
                return connections::route(req, log, rest);
            }
            _ => return Err(http::not_found(&req.path)),
        };
    log.route(route);
    match req.method {
        Method::Post => take(req, log),
        Method::Head | Method::Get if route.starts_with("/v1/sources/") => {
            Ok(connections::answer_check(req, req.segments()[2])?.into())
        }
        _ => Err(http::method_not_allowed("POST")),
    }
}

/// `POST /v1/feedback`.
fn receive(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    req.require_body_at_most(feedback::MAX_BODY_BYTES)?;
    let input: FeedbackInput = req.json()?;
    let now = clock::now();
    let valid = input.validate(now).map_err(Problem::invalid)?;
    let kv = Kv::open()?;
    // A repeat of stored feedback is answered from one read, without a ticket; repeats racing
    // the first copy are settled by the fold.
    let ref_key = keys::feedback_ref(&feedback::dedup_digest(&valid.source, &valid.external_id));
    if let Some(existing) = kv.get::<Ref>(&ref_key)? {
        let duplicate = Verdict::Duplicate {
            feedback_id: existing.id,
        };
        return Ok(workflow::feedback_answer(log, &duplicate).into());
    }
    let feedback = Box::new(valid.into_feedback(now));
    submit(log, &kv, Command::Feedback { feedback })
}

/// Folds `command`, answers its verdict, then hands over what the fold leased to us.
fn submit(log: &mut RequestLog, kv: &Kv, command: Command) -> Result<Handled, Problem> {
    let done = workflow::submit(kv, command)?;
    let reply = workflow::feedback_answer(log, &done.verdict);
    Ok(Handled::then(reply, move || {
        workflow::hand_over(COMPONENT, &done)
    }))
}
