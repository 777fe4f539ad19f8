//! dispatch: the outbox. Turns notices into deliveries and delivers them, retrying on tick.
//!
//! Internal routes (internal token): `POST /v1/internal/dispatch/notices/{id}` plans a notice's
//! deliveries (one per configured channel, recorded before any is sent), answers, then sends
//! them; `POST /v1/internal/dispatch/tick` plans any notice still pending and retries every
//! delivery that is due. Each attempt is claimed in the store first, so a tick racing a first
//! send never sends twice, and every outcome lands on the case's timeline.

use std::time::Duration;

use closeloop_edge::domain::case::{Case, CaseEvent, CaseState, EventKind};
use closeloop_edge::domain::delivery::{
    self, AttemptError, Channel, ConfiguredChannels, Delivery, DeliveryStatus,
};
use closeloop_edge::domain::envelope::Pending;
use closeloop_edge::domain::feedback::Feedback;
use closeloop_edge::domain::message::{self, MessageContext};
use closeloop_edge::domain::notice::Notice;
use closeloop_edge::domain::problem::{Problem, ProblemKind};
use closeloop_edge::domain::{Timestamp, ids, keys};
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::{Kv, KvError};
use closeloop_edge::log::{self, RequestLog};
use closeloop_edge::outbound::{self, OutboundError};
use closeloop_edge::{clock, config, stage};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use spin_sdk::http_component;

const COMPONENT: &str = "dispatch";
const MAX_BODY_BYTES: usize = 1024;
/// Provider timeout unless `delivery_timeout_ms` says otherwise.
const DEFAULT_TIMEOUT_MS: u64 = 10_000;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    http::serve(COMPONENT, req, out, MAX_BODY_BYTES, route);
}

fn route(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    let segments = req.segments();
    let (route, notice_id) = match segments.as_slice() {
        ["v1", "internal", "dispatch", "notices", id] => {
            ("/v1/internal/dispatch/notices/:id", Some((*id).to_owned()))
        }
        ["v1", "internal", "dispatch", "tick"] => ("/v1/internal/dispatch/tick", None),
        _ => return Err(http::not_found(&req.path)),
    };
    log.route(route);
    if req.method != Method::Post {
        return Err(http::method_not_allowed("POST"));
    }
    req.require_bearer(&stage::internal_token()?)?;
    let kv = Kv::open()?;
    let now = clock::now();
    match notice_id {
        Some(id) => {
            log.field("notice_id", id.clone());
            let deliveries = plan_notice(&kv, &id, now)?
                .ok_or_else(|| Problem::new(ProblemKind::NotFound, format!("no notice {id}")))?;
            let body = json!({"deliveries": deliveries});
            Ok(Handled::then(Reply::json(202, &body), move || {
                for id in &deliveries {
                    if let Err(e) = attempt(&kv, id, clock::now()) {
                        log::event(
                            COMPONENT,
                            "delivery attempt failed to record",
                            json!({"delivery_id": id, "error": e.to_string()}),
                        );
                    }
                }
            }))
        }
        None => {
            let summary = tick(&kv, now)?;
            log.field("summary", summary.clone());
            Ok(Reply::json(200, &summary).into())
        }
    }
}

fn configured() -> ConfiguredChannels {
    ConfiguredChannels {
        slack: config::optional("slack_webhook_url").is_some(),
        webhook: config::optional("alert_webhook_url").is_some(),
        customer_webhook: config::optional("customer_webhook_url").is_some(),
    }
}

/// Records the deliveries of a notice (once) and clears its pending mark. Returns the ids of
/// its deliveries, or `None` if there is no such notice.
fn plan_notice(kv: &Kv, notice_id: &str, now: Timestamp) -> Result<Option<Vec<String>>, KvError> {
    let Some(notice) = kv.get::<Notice>(&keys::notice(notice_id))? else {
        return Ok(None);
    };
    let mut ids = Vec::new();
    for planned in delivery::plan(&notice, configured()) {
        let key = keys::delivery(&planned.id);
        if !kv.exists(&key)? {
            kv.put(&key, &planned)?;
            kv.put(
                &keys::pending_delivery(&planned.id),
                &Pending { since: now },
            )?;
        }
        ids.push(planned.id);
    }
    kv.delete(&keys::pending_notice(notice_id))?;
    Ok(Some(ids))
}

fn tick(kv: &Kv, now: Timestamp) -> Result<serde_json::Value, KvError> {
    let mut planned = 0;
    for key in kv.keys_with_prefix(keys::PENDING_NOTICE)? {
        let id = &key[keys::PENDING_NOTICE.len()..];
        if plan_notice(kv, id, now)?.is_none() {
            kv.delete(&key)?;
        }
        planned += 1;
    }
    let (mut delivered, mut retrying, mut dead, mut not_due) = (0, 0, 0, 0);
    for key in kv.keys_with_prefix(keys::PENDING_DELIVERY)? {
        let id = &key[keys::PENDING_DELIVERY.len()..];
        match attempt(kv, id, now)? {
            Attempt::NotDue => not_due += 1,
            Attempt::Done(DeliveryStatus::Delivered) => delivered += 1,
            Attempt::Done(DeliveryStatus::Pending) => retrying += 1,
            Attempt::Done(DeliveryStatus::DeadLettered) => dead += 1,
        }
    }
    Ok(json!({
        "notices_planned": planned,
        "delivered": delivered,
        "retrying": retrying,
        "dead_lettered": dead,
        "not_due": not_due,
    }))
}

enum Attempt {
    /// Not due yet, already finished, or claimed by a concurrent attempt.
    NotDue,
    Done(DeliveryStatus),
}

/// Makes the next attempt of a delivery if it is due and nobody else is making it.
fn attempt(kv: &Kv, delivery_id: &str, now: Timestamp) -> Result<Attempt, KvError> {
    let Some(mut delivery) = kv.get::<Delivery>(&keys::delivery(delivery_id))? else {
        kv.delete(&keys::pending_delivery(delivery_id))?;
        return Ok(Attempt::NotDue);
    };
    if delivery.status != DeliveryStatus::Pending {
        kv.delete(&keys::pending_delivery(delivery_id))?;
        return Ok(Attempt::NotDue);
    }
    if !delivery.is_due(now)
        || !kv.claim(&keys::delivery_claim(delivery_id, delivery.attempts + 1))?
    {
        return Ok(Attempt::NotDue);
    }
    let result = send(kv, &delivery);
    let now = clock::now().max(now);
    match &result {
        Ok(()) => delivery.record_success(now),
        Err(error) => delivery.record_failure(error, now, clock::jitter()),
    }
    kv.put(&keys::delivery(delivery_id), &delivery)?;
    let event = delivery_event(&delivery, result.err(), now);
    kv.put(&keys::event(&delivery.case_id, &event.id), &event)?;
    if delivery.status != DeliveryStatus::Pending {
        kv.delete(&keys::pending_delivery(delivery_id))?;
    }
    log::event(
        COMPONENT,
        "delivery attempt",
        json!({"delivery_id": delivery.id, "channel": delivery.channel.as_str(), "attempt": delivery.attempts,
               "status": delivery.status, "error": delivery.last_error}),
    );
    Ok(Attempt::Done(delivery.status))
}

fn delivery_event(delivery: &Delivery, error: Option<AttemptError>, now: Timestamp) -> CaseEvent {
    let what = format!(
        "{} via {}",
        delivery.kind.as_str(),
        delivery.channel.as_str()
    );
    let (kind, detail) = match (delivery.status, error) {
        (DeliveryStatus::Delivered, _) => (
            EventKind::Delivered,
            format!("{what} delivered (attempt {})", delivery.attempts),
        ),
        (DeliveryStatus::DeadLettered, e) => (
            EventKind::DeadLettered,
            format!(
                "{what} given up after attempt {}: {}",
                delivery.attempts,
                e.map(|e| e.describe()).unwrap_or_default()
            ),
        ),
        (DeliveryStatus::Pending, e) => (
            EventKind::DeliveryFailed,
            format!(
                "{what} attempt {} failed ({}); next attempt at {}",
                delivery.attempts,
                e.map(|e| e.describe()).unwrap_or_default(),
                delivery.next_attempt_at.to_rfc3339()
            ),
        ),
    };
    CaseEvent {
        id: ids::derived(
            now,
            &["delivery", &delivery.id, &delivery.attempts.to_string()],
        )
        .to_string(),
        case_id: delivery.case_id.clone(),
        at: now,
        actor: "dispatch".into(),
        kind,
        from: None,
        to: None,
        detail,
    }
}

/// Renders and sends one delivery.
fn send(kv: &Kv, delivery: &Delivery) -> Result<(), AttemptError> {
    let missing =
        |what: &str| AttemptError::Connection(format!("{what} of the delivery is missing"));
    let load_error = |e: KvError| AttemptError::Connection(e.to_string());
    let notice = kv
        .get::<Notice>(&keys::notice(&delivery.notice_id))
        .map_err(load_error)?
        .ok_or_else(|| missing("the notice"))?;
    let case = kv
        .get::<Case>(&keys::case(&delivery.case_id))
        .map_err(load_error)?
        .ok_or_else(|| missing("the case"))?;
    let feedback = kv
        .get::<Feedback>(&keys::feedback(&case.feedback_id))
        .map_err(load_error)?
        .ok_or_else(|| missing("the feedback"))?;
    // Followup (issue 8): reminders are customer messages too, obsolete once the case moved on.
    if delivery.kind.is_customer_message() && case.state != CaseState::ResolvedAwaitingCustomer {
        return Err(AttemptError::Obsolete(format!(
            "the case is {}",
            case.state.as_str()
        )));
    }
    let base_url = config::public_base_url();
    let ctx = MessageContext {
        notice: &notice,
        case: &case,
        feedback: &feedback,
        base_url: &base_url,
    };
    let (variable, body) = match delivery.channel {
        Channel::Slack => ("slack_webhook_url", message::slack_alert(&ctx)),
        Channel::Webhook => ("alert_webhook_url", message::webhook_alert(&ctx)),
        Channel::CustomerWebhook => ("customer_webhook_url", message::customer_follow_up(&ctx)),
    };
    let url = config::optional(variable).ok_or(AttemptError::NotConfigured)?;
    let body = serde_json::to_vec(&body).expect("messages serialize");
    let timeout = Duration::from_millis(config::number("delivery_timeout_ms", DEFAULT_TIMEOUT_MS));
    let headers: &[(&str, &str)] = match delivery.channel {
        Channel::Slack => &[],
        Channel::Webhook | Channel::CustomerWebhook => &[
            ("idempotency-key", &delivery.id),
            ("webhook-id", &delivery.id),
        ],
    };
    match outbound::post_json(&url, headers, &body, timeout) {
        Ok(response) if (200..300).contains(&response.status) => Ok(()),
        Ok(response) => Err(AttemptError::Status {
            status: response.status,
            retry_after_secs: response
                .header("retry-after")
                .and_then(|v| delivery::parse_retry_after(v, clock::now())),
        }),
        Err(OutboundError::Timeout) => Err(AttemptError::Timeout),
        Err(e) => Err(AttemptError::Connection(e.to_string())),
    }
}
