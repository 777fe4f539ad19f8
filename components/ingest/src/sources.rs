//! `POST /v1/sources/{connection_id}[/{url_token}]`: a survey platform's own webhook.
//!
//! Verify (401 on any doubt, nothing stored), parse (400/415/422 with the reason, never a 5xx
//! for a payload), fetch from the platform's API where the webhook carries only ids (503 when
//! it does not answer, so the platform retries), then fold the event
//! (`closeloop_workflow::fold::sources`): 202 for a new response, 200 for a later event or a
//! redelivery. Unknown connections answer 404 (permanent: Typeform then disables the webhook,
//! as it should for a deleted connection); storage faults answer 503, never 404.

use closeloop_edge::domain::problem::{Problem, ProblemKind};
use closeloop_edge::domain::sources::fetch::{self, FETCH_TIMEOUT};
use closeloop_edge::domain::sources::{self, Delivery, MAX_FETCHED_BYTES, Parsed, SourceEvent};
use closeloop_edge::flow::fold::{Command, Verdict, sources as fold};
use closeloop_edge::http::{Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use closeloop_edge::{clock, connections, outbound, workflow};
use serde_json::json;

pub fn receive(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    let segments = req.segments();
    let (id, url_token) = (segments[2], segments.get(3).copied());
    log.field("connection_id", id);
    let kv = Kv::open()?;
    let c = connections::load(&kv, id)?;
    log.field("platform", c.platform.as_str());
    let now = clock::now();
    let delivery = Delivery {
        headers: req.headers(),
        body: &req.body,
        url_token,
    };
    if let Err(e) = sources::verify(&c, &delivery, now) {
        log.field("refused", e.to_string());
        return Err(Problem::new(ProblemKind::Unauthorized, e.to_string()));
    }
    let (event_id, response_id, parsed) = match sources::parse(&c, &delivery)? {
        Parsed::Ignored { reason } => {
            log.field("ignored", reason.clone());
            return Ok(Reply::json(200, &json!({"status": "ignored", "reason": reason})).into());
        }
        Parsed::Response(r) => (r.event_id.clone(), r.response_id.clone(), Ok(r)),
        Parsed::Fetch(f) => (f.event_id.clone(), f.response_id.clone(), Err(f)),
    };
    // A redelivery is answered from one read: no command, no second fetch.
    if let Some(id) = fold::recorded(kv.store(), &c.id, &c.source, &response_id, &event_id)? {
        let duplicate = Verdict::Duplicate { feedback_id: id };
        return Ok(workflow::feedback_answer(log, &duplicate).into());
    }
    let response = match parsed {
        Ok(r) => r,
        Err(f) => {
            let call = fetch::request(&c, &f)?;
            let answer = outbound::get(
                &call.url,
                &call.headers,
                FETCH_TIMEOUT,
                MAX_FETCHED_BYTES + 1,
            );
            fetch::read_answer(&c, &f, answer).map_err(|failure| {
                log.field("fetch_error", failure.why);
                failure.problem
            })?
        }
    };
    let mapped = sources::response::to_feedback(&response, &c.mapping, &c.source, now)
        .map_err(Problem::invalid)?;
    let event = Box::new(SourceEvent::new(&c, &response, mapped, now));
    crate::submit(log, &kv, Command::SourceEvent { event })
}
