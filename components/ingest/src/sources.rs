//! `POST /v1/sources/{connection_id}[/{url_token}]`: a survey platform's own webhook.
//!
//! Verify (401 on any doubt, nothing stored), parse (400/422 with the reason, never a 5xx for
//! a payload), fetch from the platform's API where the webhook carries only ids (503 when it
//! does not answer, so the platform retries), store the event append-only, recompute the
//! response's feedback from all its events, mark it pending for triage, answer, then hand over.
//! Unknown connections answer 404 (permanent: Typeform then disables the webhook, as it should
//! for a deleted connection); storage faults answer 503, never 404 or 410.

use std::time::Duration;

use closeloop_edge::domain::envelope::{Pending, Ref};
use closeloop_edge::domain::problem::{Problem, ProblemKind};
use closeloop_edge::domain::sources::{
    self, Connection, Delivery, FetchRequest, MAX_FETCHED_BYTES, Parsed, Platform, SourceEvent,
    SourceResponse, response,
};
use closeloop_edge::domain::{Timestamp, feedback, ids, keys};
use closeloop_edge::http::{Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use closeloop_edge::{clock, outbound};
use serde_json::json;
use spin_sdk::http::Method;

/// How long a platform's API may take to return a response; well inside every platform's own
/// webhook timeout (Formbricks waits 5 s, Tally 10 s, Typeform 30 s).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(4);
/// How many times the feedback is recomputed when events of one response race.
const MERGE_ROUNDS: usize = 5;

pub fn receive(
    req: &Incoming,
    log: &mut RequestLog,
    connection_id: &str,
    url_token: Option<&str>,
) -> Result<Handled, Problem> {
    log.field("connection_id", connection_id);
    let kv = Kv::open()?;
    let connection = kv
        .get::<Connection>(&keys::connection(connection_id))?
        .ok_or_else(|| {
            Problem::new(
                ProblemKind::NotFound,
                format!(
                    "there is no source connection {connection_id}; create one with the admin API"
                ),
            )
        })?;
    log.field("platform", connection.platform.as_str());
    let now = clock::now();
    let delivery = Delivery {
        headers: req.headers(),
        body: &req.body,
        url_token,
    };
    if let Err(e) = sources::verify(&connection, &delivery, now) {
        log.field("refused", e.to_string());
        return Err(Problem::new(ProblemKind::Unauthorized, e.to_string()));
    }
    let response = match sources::parse(&connection, &delivery)? {
        Parsed::Ignored { reason } => {
            log.field("ignored", reason.clone());
            return Ok(Reply::json(200, &json!({"status": "ignored", "reason": reason})).into());
        }
        Parsed::Response(r) => r,
        Parsed::Fetch(f) => {
            if let Some(dup) = duplicate(&kv, &connection, &f.response_id, &f.event_id, log)? {
                return Ok(dup);
            }
            fetch(&connection, &f, log)?
        }
    };
    store(&kv, &connection, response, now, log)
}

fn digests(c: &Connection, response_id: &str, event_id: &str) -> (String, String) {
    (ids::digest(&[&c.id, response_id]), ids::digest(&[event_id]))
}

/// The answer to a redelivered event, if it is one. A redelivery also finishes the work a
/// crash may have left after the event was stored.
fn duplicate(
    kv: &Kv,
    c: &Connection,
    response_id: &str,
    event_id: &str,
    log: &mut RequestLog,
) -> Result<Option<Handled>, Problem> {
    let (rd, ed) = digests(c, response_id, event_id);
    if !kv.exists(&keys::source_event(&c.id, &rd, &ed))? {
        return Ok(None);
    }
    log.field("duplicate", true);
    let ref_key = keys::feedback_ref(&feedback::dedup_digest(&c.source, response_id));
    if let Some(existing) = kv.get::<Ref>(&ref_key)? {
        log.field("feedback_id", existing.id.clone());
        let body = json!({"feedback_id": existing.id, "status": "duplicate"});
        return Ok(Some(Reply::json(200, &body).into()));
    }
    // The event was stored but its feedback never written (a crash in between): finish now.
    let id = converge(kv, c, &rd, response_id, clock::now())?;
    log.field("feedback_id", id.clone());
    let reply = Reply::json(200, &json!({"feedback_id": id, "status": "duplicate"}));
    Ok(Some(Handled::then(reply, move || {
        crate::hand_to_triage(&id)
    })))
}

fn fetch(
    c: &Connection,
    f: &FetchRequest,
    log: &mut RequestLog,
) -> Result<SourceResponse, Problem> {
    let api = c.api.as_ref().ok_or_else(|| {
        Problem::new(
            ProblemKind::Internal,
            "the connection has no API access configured",
        )
    })?;
    let url = format!("{}{}", api.base_url, f.path);
    let bearer = format!("Bearer {}", api.token);
    let headers: Vec<(&str, &str)> = match c.platform {
        Platform::Qualtrics => vec![
            ("x-api-token", api.token.as_str()),
            ("accept", "application/json"),
        ],
        _ => vec![
            ("authorization", bearer.as_str()),
            ("accept", "application/json"),
        ],
    };
    let title = c.platform.title();
    let unavailable = |why: String| {
        (
            why,
            Problem::new(
                ProblemKind::UpstreamUnavailable,
                format!("{title}'s API did not return the response; the platform will retry"),
            ),
        )
    };
    let result = match outbound::send_limited(
        Method::Get,
        &url,
        &headers,
        b"",
        FETCH_TIMEOUT,
        MAX_FETCHED_BYTES + 1,
    ) {
        Err(e) => Err(unavailable(e.to_string())),
        Ok(reply) => {
            log.field("fetch_status", reply.status);
            match reply.status {
                200..=299 if reply.body.len() <= MAX_FETCHED_BYTES => {
                    return sources::parse_fetched(c, f, &reply.body);
                }
                200..=299 => {
                    return Err(Problem::new(
                        ProblemKind::InvalidRequest,
                        format!("the fetched response is larger than {MAX_FETCHED_BYTES} bytes"),
                    ));
                }
                404 | 410 => {
                    return Err(Problem::new(
                        ProblemKind::InvalidRequest,
                        format!("{title} no longer has response {}", f.response_id),
                    ));
                }
                401 | 403 => Err(unavailable(format!(
                    "the API refused the connection's token ({}); rotate it",
                    reply.status
                ))),
                status => Err(unavailable(format!("status {status}"))),
            }
        }
    };
    result.map_err(|(why, problem)| {
        log.field("fetch_error", why);
        problem
    })
}

fn store(
    kv: &Kv,
    c: &Connection,
    r: SourceResponse,
    now: Timestamp,
    log: &mut RequestLog,
) -> Result<Handled, Problem> {
    if let Some(dup) = duplicate(kv, c, &r.response_id, &r.event_id, log)? {
        return Ok(dup);
    }
    let (rd, ed) = digests(c, &r.response_id, &r.event_id);
    let mapped = response::to_feedback(&r, &c.mapping, &c.source, now).map_err(Problem::invalid)?;
    let prior = kv.keys_with_prefix(&keys::source_events_of(&c.id, &rd))?;
    sources::check_event_count(prior.len(), &r.response_id)?;
    let ref_key = keys::feedback_ref(&feedback::dedup_digest(&mapped.source, &mapped.external_id));
    let id = match kv.get::<Ref>(&ref_key)? {
        Some(existing) => existing.id,
        None => {
            ids::derived(mapped.submitted_at, &[&mapped.source, &mapped.external_id]).to_string()
        }
    };
    let event = SourceEvent {
        connection_id: c.id.clone(),
        event_id: r.event_id.clone(),
        sequence: r.sequence,
        received_at: now,
        feedback: mapped.into_feedback(id, now),
    };
    kv.put(&keys::source_event(&c.id, &rd, &ed), &event)?;
    let id = converge(kv, c, &rd, &r.response_id, now)?;
    log.field("feedback_id", id.clone());
    let (status, word) = if prior.is_empty() {
        (202, "accepted")
    } else {
        (200, "updated")
    };
    log.field("status_word", word);
    let reply = Reply::json(status, &json!({"feedback_id": id, "status": word}));
    Ok(Handled::then(reply, move || crate::hand_to_triage(&id)))
}

/// Writes the feedback merged from every stored event of the response, then the pending mark
/// and the idempotency key, and re-reads the events until no new one arrived meanwhile: the
/// last writer always wrote the merge of every event stored before its last read, and any later
/// event's own writer writes after it, so racing deliveries end with the complete feedback.
fn converge(
    kv: &Kv,
    c: &Connection,
    rd: &str,
    response_id: &str,
    now: Timestamp,
) -> Result<String, Problem> {
    let prefix = keys::source_events_of(&c.id, rd);
    let mut keys_seen = kv.keys_with_prefix(&prefix)?;
    for _ in 0..MERGE_ROUNDS {
        let events: Vec<SourceEvent> = kv.records_with_prefix(&prefix)?;
        let Some(merged) = sources::merge(&events) else {
            return Err(Problem::new(
                ProblemKind::StoreUnavailable,
                format!(
                    "the events of response {response_id} could not be read back; please retry"
                ),
            ));
        };
        let id = merged.id.clone();
        kv.put(&keys::feedback(&id), &merged)?;
        kv.put(&keys::pending_triage(&id), &Pending { since: now })?;
        let ref_key =
            keys::feedback_ref(&feedback::dedup_digest(&merged.source, &merged.external_id));
        kv.put(&ref_key, &Ref { id: id.clone() })?;
        let again = kv.keys_with_prefix(&prefix)?;
        if again == keys_seen {
            return Ok(id);
        }
        keys_seen = again;
    }
    Err(Problem::new(
        ProblemKind::StoreUnavailable,
        "events of this response keep arriving; nothing was lost, please retry",
    ))
}
