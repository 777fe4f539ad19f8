//! triage: turns stored feedback into a case, then hands the alert to dispatch.
//!
//! Internal routes (internal token): `POST /v1/internal/triage/feedback/{id}` triages one piece
//! of feedback; `POST /v1/internal/triage/tick` triages everything still pending. The case, its
//! first events and the alert notice are written before the pending mark is removed and before
//! dispatch is called, and all of them have derived ids, so running twice changes nothing.

use closeloop_edge::domain::case::{Case, CaseEvent, EventKind};
use closeloop_edge::domain::envelope::Pending;
use closeloop_edge::domain::feedback::Feedback;
use closeloop_edge::domain::notice::Notice;
use closeloop_edge::domain::problem::{Problem, ProblemKind};
use closeloop_edge::domain::triage::{TriagePolicy, triage};
use closeloop_edge::domain::{Timestamp, ids, keys};
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use closeloop_edge::{clock, config, stage};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use spin_sdk::http_component;

const COMPONENT: &str = "triage";
const MAX_BODY_BYTES: usize = 1024;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    http::serve(COMPONENT, req, out, MAX_BODY_BYTES, route);
}

fn route(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    let segments = req.segments();
    let (route, id) = match segments.as_slice() {
        ["v1", "internal", "triage", "feedback", id] => {
            ("/v1/internal/triage/feedback/:id", Some(*id))
        }
        ["v1", "internal", "triage", "tick"] => ("/v1/internal/triage/tick", None),
        _ => return Err(http::not_found(&req.path)),
    };
    log.route(route);
    if req.method != Method::Post {
        return Err(http::method_not_allowed("POST"));
    }
    req.require_bearer(&stage::internal_token()?)?;
    let kv = Kv::open()?;
    let now = clock::now();
    match id {
        Some(id) => {
            log.field("feedback_id", id);
            let outcome = triage_one(&kv, id, now)?
                .ok_or_else(|| Problem::new(ProblemKind::NotFound, format!("no feedback {id}")))?;
            log.field("case_id", outcome.case_id.clone());
            let body = json!({"case_id": outcome.case_id, "alert": outcome.notice.is_some()});
            Ok(Handled::then(Reply::json(200, &body), move || {
                if let Some(notice) = outcome.notice {
                    hand_to_dispatch(&notice);
                }
            }))
        }
        None => {
            let pending = kv.keys_with_prefix(keys::PENDING_TRIAGE)?;
            let mut triaged = 0;
            for key in &pending {
                let id = &key[keys::PENDING_TRIAGE.len()..];
                if let Some(outcome) = triage_one(&kv, id, now)? {
                    triaged += 1;
                    if let Some(notice) = outcome.notice {
                        hand_to_dispatch(&notice);
                    }
                } else {
                    kv.delete(key)?;
                }
            }
            log.field("triaged", triaged);
            Ok(Reply::json(200, &json!({"pending": pending.len(), "triaged": triaged})).into())
        }
    }
}

struct Outcome {
    case_id: String,
    /// The alert notice dispatch must still take, if any.
    notice: Option<String>,
}

/// Triages one piece of feedback; `None` if it does not exist.
fn triage_one(kv: &Kv, feedback_id: &str, now: Timestamp) -> Result<Option<Outcome>, Problem> {
    let Some(feedback) = kv.get::<Feedback>(&keys::feedback(feedback_id))? else {
        return Ok(None);
    };
    let policy = TriagePolicy {
        default_team: config::optional("default_team").unwrap_or_else(|| "customer-success".into()),
    };
    let fresh = Case::open(
        &feedback.id,
        feedback.received_at,
        triage(&feedback, &policy, now),
    );
    // A case already opened (by an earlier run, or for an earlier event of the same response)
    // keeps its state and history; only its triage follows the feedback's latest content.
    let case = match kv.get::<Case>(&keys::case(&fresh.id))? {
        Some(existing) => retriage(kv, existing, &fresh, now)?,
        None => {
            kv.put(
                &keys::event(&fresh.id, &received_event_id(&feedback)),
                &received_event(&feedback, &fresh.id),
            )?;
            let opened = fresh.opened_event();
            kv.put(&keys::event(&fresh.id, &opened.id), &opened)?;
            kv.put(&keys::case(&fresh.id), &fresh)?;
            fresh
        }
    };
    let notice = if case.triage.alert {
        let notice = Notice::case_opened(&case, now);
        let key = keys::notice(&notice.id);
        if !kv.exists(&key)? {
            kv.put(&key, &notice)?;
            kv.put(&keys::pending_notice(&notice.id), &Pending { since: now })?;
        }
        Some(notice.id)
    } else {
        None
    };
    kv.delete(&keys::pending_triage(feedback_id))?;
    Ok(Some(Outcome {
        case_id: case.id,
        notice,
    }))
}

/// Updates an existing case's triage when updated feedback (a later event of the same
/// response: a comment after the score, a changed score) triages differently. The change
/// claims the case's version like any agent action, so it never overwrites an agent's; the
/// alert notice id is derived from the case, so a re-triage never sends a second alert.
fn retriage(kv: &Kv, mut case: Case, fresh: &Case, now: Timestamp) -> Result<Case, Problem> {
    for _ in 0..3 {
        let (old, new) = (&case.triage, &fresh.triage);
        if (old.class, old.priority, old.alert, &old.reasons)
            == (new.class, new.priority, new.alert, &new.reasons)
        {
            return Ok(case);
        }
        if kv.claim(&keys::case_claim(&case.id, case.version))? {
            let detail = format!(
                "re-triaged after the feedback changed: {} to {} ({})",
                old.priority.as_str(),
                new.priority.as_str(),
                new.reasons.join("; ")
            );
            let mut next = case.clone();
            next.triage = fresh.triage.clone();
            next.version += 1;
            let event = CaseEvent {
                id: ids::derived(now, &["retriaged", &case.id, &next.version.to_string()])
                    .to_string(),
                case_id: case.id.clone(),
                at: now,
                actor: "triage".into(),
                kind: EventKind::Note,
                from: None,
                to: None,
                detail,
            };
            kv.put(&keys::event(&case.id, &event.id), &event)?;
            kv.put(&keys::case(&case.id), &next)?;
            return Ok(next);
        }
        // Someone moved the case on meanwhile: re-read it and try again.
        case = kv.get::<Case>(&keys::case(&case.id))?.ok_or_else(|| {
            Problem::new(ProblemKind::Internal, "a case disappeared during re-triage")
        })?;
    }
    Err(Problem::new(
        ProblemKind::Conflict,
        "the case kept changing during re-triage; tick will retry",
    ))
}

fn received_event_id(feedback: &Feedback) -> String {
    ids::derived(feedback.received_at, &["received", &feedback.id]).to_string()
}

fn received_event(feedback: &Feedback, case_id: &str) -> CaseEvent {
    let score = feedback
        .score
        .map(|s| s.label())
        .unwrap_or_else(|| "no score".into());
    CaseEvent {
        id: received_event_id(feedback),
        case_id: case_id.to_owned(),
        at: feedback.received_at,
        actor: feedback.source.clone(),
        kind: EventKind::FeedbackReceived,
        from: None,
        to: None,
        detail: format!(
            "{score} from {} via {}",
            feedback.customer.display_name(),
            feedback.source
        ),
    }
}

fn hand_to_dispatch(notice_id: &str) {
    stage::hand_over_logged(
        COMPONENT,
        "dispatch_url",
        "http://dispatch.spin.internal",
        &format!("/v1/internal/dispatch/notices/{notice_id}"),
    );
}
