//! The outbox in the store: planning notices into deliveries, attempting them, and the tick
//! that retries, escalates and sends digests.
//!
//! Every delivery is written (with its `pending:delivery:*` mark) before anything else
//! happens to it. A recipient's fatigue counters are taken only after their deliveries are
//! stored, with the first attempt held back [`PLANNING_GRACE_SECS`]: if planning stops half
//! way, tick sends the alert anyway (fail open: a duplicate is better than a lost alert).

use closeloop_edge::domain::case::{Case, CaseEvent, EventKind};
use closeloop_edge::domain::delivery::{AttemptError, Delivery, DeliveryStatus, Target};
use closeloop_edge::domain::dispatch::directory::{DEFAULT_DIGEST_HOUR, Team};
use closeloop_edge::domain::dispatch::plan::{self, Decision, PlanInput};
use closeloop_edge::domain::dispatch::providers;
use closeloop_edge::domain::dispatch::store::{self, DigestEntry};
use closeloop_edge::domain::dispatch::{escalation, fatigue};
use closeloop_edge::domain::envelope::Pending;
use closeloop_edge::domain::feedback::Feedback;
use closeloop_edge::domain::notice::{Notice, NoticeKind};
use closeloop_edge::domain::{Timestamp, delivery, ids, keys};
use closeloop_edge::kv::{Kv, KvError};
use closeloop_edge::outbound::{self, OutboundError};
use closeloop_edge::{clock, config, log, projection, timeline};
use serde_json::json;
use spin_sdk::http::Method;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::{COMPONENT, channels};

/// Provider timeout unless `delivery_timeout_ms` says otherwise.
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// How long a freshly planned delivery waits before tick may send it, in case its planner
/// stopped before the fatigue checks.
pub const PLANNING_GRACE_SECS: i64 = 60;

fn event(
    case_id: &str,
    id_parts: &[&str],
    kind: EventKind,
    detail: String,
    now: Timestamp,
) -> CaseEvent {
    CaseEvent {
        id: ids::derived(now, id_parts).to_string(),
        case_id: case_id.to_owned(),
        at: now,
        actor: "dispatch".into(),
        kind,
        from: None,
        to: None,
        detail,
    }
}

/// Records the deliveries of a notice (once) and clears its pending mark. Returns the ids of
/// the deliveries to attempt, or `None` if there is no such notice.
pub fn plan_notice(
    kv: &Kv,
    notice_id: &str,
    now: Timestamp,
) -> Result<Option<Vec<String>>, KvError> {
    let Some(notice) = kv.get::<Notice>(&keys::notice(notice_id))? else {
        return Ok(None);
    };
    let (case, feedback) = if notice.kind.is_about_a_case() {
        let case = kv.get::<Case>(&keys::case(&notice.case_id))?;
        let feedback = match &case {
            Some(c) => kv.get::<Feedback>(&keys::feedback(&c.feedback_id))?,
            None => None,
        };
        (case, feedback)
    } else {
        (None, None)
    };
    let team: Option<Team> = match (&case, &notice.target) {
        (Some(c), _) => channels::team_of(kv, c)?,
        (None, Some(Target::Team { team } | Target::Member { team, .. })) => {
            kv.get::<Team>(&store::team(team))?
        }
        _ => None,
    };
    let plans = plan::plan(&PlanInput {
        notice: &notice,
        case: case.as_ref(),
        feedback: feedback.as_ref(),
        team: team.as_ref(),
        configured: channels::configured(),
        now,
    });
    let mut ids = Vec::new();
    for mut rp in plans {
        let Some(first) = rp.deliveries.first() else {
            continue;
        };
        if kv.exists(&keys::delivery(&first.id))? {
            ids.extend(rp.deliveries.iter().map(|d| d.id.clone()));
            continue;
        }
        let guarded = rp.guard.is_some() || rp.digest;
        for d in &rp.deliveries {
            let mut pre = d.clone();
            if guarded {
                pre.next_attempt_at = pre
                    .next_attempt_at
                    .max(now + chrono::Duration::seconds(PLANNING_GRACE_SECS));
            }
            kv.put(&keys::delivery(&d.id), &pre)?;
            kv.put(&keys::pending_delivery(&d.id), &Pending { since: now })?;
        }
        let decision = match &rp.guard {
            Some(guard) => {
                let counts = take_counts(kv, guard, now)?;
                plan::decide(guard, counts, rp.digest, now)
            }
            None if rp.digest => Decision::Digest,
            None => Decision::Send,
        };
        plan::apply(&mut rp, decision);
        for d in &rp.deliveries {
            kv.put(&keys::delivery(&d.id), d)?;
            if d.status == DeliveryStatus::Digested {
                kv.put(
                    &store::digest_entry(&rp.target, &d.id),
                    &DigestEntry {
                        target: rp.target.clone(),
                        case_id: d.case_id.clone(),
                        delivery_id: d.id.clone(),
                        added_at: now,
                    },
                )?;
            }
            if d.status.is_final() {
                kv.delete(&keys::pending_delivery(&d.id))?;
            } else {
                ids.push(d.id.clone());
            }
            if let Some(note) = &d.note
                && !d.case_id.is_empty()
            {
                let e = event(
                    &d.case_id,
                    &["planned", &d.id],
                    EventKind::AlertQueued,
                    format!(
                        "{} via {} to {}: {note}",
                        d.kind.as_str(),
                        d.channel.as_str(),
                        d.to.key()
                    ),
                    now,
                );
                timeline::append(kv, &e)?;
            }
        }
    }
    kv.delete(&keys::pending_notice(notice_id))?;
    Ok(Some(ids))
}

/// Counts this alert in its fold and rate windows (a folded alert is not counted against the
/// person's limit) and reads the windows before.
fn take_counts(kv: &Kv, guard: &plan::Guard, now: Timestamp) -> Result<plan::Counts, KvError> {
    let fw = fatigue::window(now, fatigue::FOLD_WINDOW_SECS);
    let folds = kv.add(&store::fold_counter(&guard.fold_key, fw), 1)?;
    let folds_before = kv.add(&store::fold_counter(&guard.fold_key, fw - 1), 0)?;
    let rate = match &guard.rate {
        Some((key, _)) if folds == 1 && folds_before == 0 => {
            let rw = fatigue::window(now, fatigue::RATE_WINDOW_SECS);
            Some((
                kv.add(&store::rate_counter(key, rw), 1)?,
                kv.add(&store::rate_counter(key, rw - 1), 0)?,
            ))
        }
        _ => None,
    };
    Ok(plan::Counts {
        folds,
        folds_before,
        rate,
    })
}

pub enum Attempt {
    /// Not due yet, already finished, or claimed by a concurrent attempt.
    NotDue,
    Done(DeliveryStatus),
}

/// Makes the next attempt of a delivery if it is due and nobody else is making it.
pub fn attempt(kv: &Kv, delivery_id: &str, now: Timestamp) -> Result<Attempt, KvError> {
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
    let error = result.err();
    let alert = matches!(delivery.kind, NoticeKind::CaseOpened | NoticeKind::Digest);
    for case_id in timeline_cases(kv, &delivery)? {
        let e = delivery_event(&delivery, &case_id, error.as_ref(), now);
        timeline::append(kv, &e)?;
        if alert && delivery.status == DeliveryStatus::Delivered {
            // The alert latency: received to the first alert delivered.
            projection::record_alerted(kv, &case_id, now)?;
        }
    }
    if delivery.status != DeliveryStatus::Pending {
        kv.delete(&keys::pending_delivery(delivery_id))?;
    }
    log::event(
        COMPONENT,
        "delivery attempt",
        json!({"delivery_id": delivery.id, "channel": delivery.channel.as_str(),
               "to": delivery.to.key(), "attempt": delivery.attempts,
               "status": delivery.status, "error": delivery.last_error}),
    );
    if delivery.status == DeliveryStatus::DeadLettered
        && delivery.kind != NoticeKind::DeliveryFailed
    {
        tell_operations(kv, &delivery, now)?;
    }
    Ok(Attempt::Done(delivery.status))
}

/// The cases whose timelines record a delivery: its case, or every case of a digest.
fn timeline_cases(kv: &Kv, delivery: &Delivery) -> Result<Vec<String>, KvError> {
    if !delivery.case_id.is_empty() {
        return Ok(vec![delivery.case_id.clone()]);
    }
    if delivery.kind == NoticeKind::Digest {
        return Ok(kv
            .get::<Notice>(&keys::notice(&delivery.notice_id))?
            .map(|n| n.cases)
            .unwrap_or_default());
    }
    Ok(Vec::new())
}

/// A dead letter: records a notice to the operations channel and sends it at once.
fn tell_operations(kv: &Kv, delivery: &Delivery, now: Timestamp) -> Result<(), KvError> {
    let about = format!(
        "{} via {} to {} (delivery {}{}) was given up after {} attempt(s): {}",
        delivery.kind.as_str(),
        delivery.channel.as_str(),
        delivery.to.key(),
        delivery.id,
        if delivery.case_id.is_empty() {
            String::new()
        } else {
            format!(", case {}", delivery.case_id)
        },
        delivery.attempts,
        delivery.last_error.as_deref().unwrap_or("unknown error"),
    );
    let notice = Notice::delivery_failed(&delivery.id, &delivery.case_id, about, now);
    let key = keys::notice(&notice.id);
    if kv.exists(&key)? {
        return Ok(());
    }
    kv.put(&key, &notice)?;
    kv.put(&keys::pending_notice(&notice.id), &Pending { since: now })?;
    for id in plan_notice(kv, &notice.id, now)?.unwrap_or_default() {
        attempt(kv, &id, now)?;
    }
    Ok(())
}

fn delivery_event(
    delivery: &Delivery,
    case_id: &str,
    error: Option<&AttemptError>,
    now: Timestamp,
) -> CaseEvent {
    let what = format!(
        "{} via {} to {}",
        delivery.kind.as_str(),
        delivery.channel.as_str(),
        delivery.to.key()
    );
    let describe = || error.map(|e| e.describe()).unwrap_or_default();
    let (kind, detail) = match delivery.status {
        DeliveryStatus::Delivered => (
            EventKind::Delivered,
            format!("{what} delivered (attempt {})", delivery.attempts),
        ),
        DeliveryStatus::Pending => (
            EventKind::DeliveryFailed,
            format!(
                "{what} attempt {} failed ({}); next attempt at {}",
                delivery.attempts,
                describe(),
                delivery.next_attempt_at.to_rfc3339()
            ),
        ),
        DeliveryStatus::Cancelled => (
            EventKind::AlertQueued,
            format!("{what} cancelled: {}", describe()),
        ),
        _ => (
            EventKind::DeadLettered,
            format!(
                "{what} given up after attempt {}: {}",
                delivery.attempts,
                describe()
            ),
        ),
    };
    event(
        case_id,
        &["delivery", &delivery.id, &delivery.attempts.to_string()],
        kind,
        detail,
        now,
    )
}

/// Renders and sends one delivery.
fn send(kv: &Kv, delivery: &Delivery) -> Result<(), AttemptError> {
    let loaded = channels::load(kv, delivery)?;
    if let Some(obsolete) = channels::obsolete(&loaded) {
        return Err(obsolete);
    }
    let now = clock::now();
    let (provider, request) = channels::request(kv, delivery, &loaded, now)?;
    let timeout = Duration::from_millis(config::number("delivery_timeout_ms", DEFAULT_TIMEOUT_MS));
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    match outbound::send(Method::Post, &request.url, &headers, &request.body, timeout) {
        Ok(response) => providers::classify(
            provider,
            response.status,
            response
                .header("retry-after")
                .and_then(|v| delivery::parse_retry_after(v, now)),
            &response.body,
        ),
        Err(OutboundError::Timeout) => Err(AttemptError::Timeout),
        Err(e) => Err(AttemptError::Connection(e.to_string())),
    }
}

/// Writes the escalation notices that are due and not yet written; returns their ids.
fn escalate(kv: &Kv, now: Timestamp) -> Result<Vec<String>, KvError> {
    let mut written = Vec::new();
    // Only cases past their due time can escalate: the front of the case index.
    for id in projection::open_cases_due(kv, now)? {
        let Some(case) = kv.get::<Case>(&keys::case(&id))? else {
            continue;
        };
        let level = escalation::due_level(&case, now);
        if level == 0 {
            continue;
        }
        // Only teams with a chain in the directory escalate: without one there is nobody
        // above the team to tell.
        let Some(team) = channels::team_of(kv, &case)? else {
            continue;
        };
        for l in 1..=level.min(team.escalation.len() as u32) {
            let notice = Notice::escalation(&case, l, now);
            if kv.exists(&keys::notice(&notice.id))?
                || !kv.claim(&format!("claim:escalation:{}", notice.id))?
            {
                continue;
            }
            kv.put(&keys::notice(&notice.id), &notice)?;
            kv.put(&keys::pending_notice(&notice.id), &Pending { since: now })?;
            let e = event(
                &case.id,
                &["escalation", &notice.id],
                EventKind::AlertQueued,
                format!(
                    "not acknowledged by {}: escalated to {} ({})",
                    case.triage.first_response_due.to_rfc3339(),
                    team.escalation[l as usize - 1],
                    if l == 1 { "team lead" } else { "manager" }
                ),
                now,
            );
            timeline::append(kv, &e)?;
            written.push(notice.id);
        }
    }
    Ok(written)
}

/// Turns every recipient's waiting digest entries into a digest notice once their local
/// digest hour has passed (one per local day); returns the notices written.
fn digests(kv: &Kv, now: Timestamp) -> Result<Vec<String>, KvError> {
    let mut by_target: BTreeMap<String, (Target, Vec<(String, DigestEntry)>)> = BTreeMap::new();
    for key in kv.keys_with_prefix(store::DIGEST)? {
        if let Some(entry) = kv.get::<DigestEntry>(&key)? {
            by_target
                .entry(entry.target.key())
                .or_insert_with(|| (entry.target.clone(), Vec::new()))
                .1
                .push((key, entry));
        }
    }
    let mut written = Vec::new();
    for (_, (target, entries)) in by_target {
        let tz = match &target {
            Target::Member { team, member } => kv
                .get::<Team>(&store::team(team))?
                .and_then(|t| t.member(member).map(|m| m.tz()))
                .unwrap_or(chrono_tz::UTC),
            _ => chrono_tz::UTC,
        };
        let Some(day) = fatigue::digest_day(now, tz, DEFAULT_DIGEST_HOUR) else {
            continue;
        };
        if !kv.claim(&store::digest_claim(&target, day))? {
            continue;
        }
        let mut cases: Vec<String> = entries.iter().map(|(_, e)| e.case_id.clone()).collect();
        cases.sort();
        cases.dedup();
        let notice = Notice::digest(&target, day, cases, now);
        kv.put(&keys::notice(&notice.id), &notice)?;
        kv.put(&keys::pending_notice(&notice.id), &Pending { since: now })?;
        for (key, _) in &entries {
            kv.delete(key)?;
        }
        written.push(notice.id);
    }
    Ok(written)
}

pub fn tick(kv: &Kv, now: Timestamp) -> Result<serde_json::Value, KvError> {
    let escalated = escalate(kv, now)?;
    let digests = digests(kv, now)?;
    let mut planned = 0;
    for key in kv.keys_with_prefix(keys::PENDING_NOTICE)? {
        let id = &key[keys::PENDING_NOTICE.len()..];
        if plan_notice(kv, id, now)?.is_none() {
            kv.delete(&key)?;
        }
        planned += 1;
    }
    let (mut delivered, mut retrying, mut dead, mut not_due, mut cancelled) = (0, 0, 0, 0, 0);
    for key in kv.keys_with_prefix(keys::PENDING_DELIVERY)? {
        let id = &key[keys::PENDING_DELIVERY.len()..];
        match attempt(kv, id, now)? {
            Attempt::NotDue => not_due += 1,
            Attempt::Done(DeliveryStatus::Delivered) => delivered += 1,
            Attempt::Done(DeliveryStatus::Pending) => retrying += 1,
            Attempt::Done(DeliveryStatus::DeadLettered) => dead += 1,
            Attempt::Done(_) => cancelled += 1,
        }
    }
    Ok(json!({
        "notices_planned": planned,
        "escalations": escalated.len(),
        "digests": digests.len(),
        "delivered": delivered,
        "retrying": retrying,
        "dead_lettered": dead,
        "cancelled": cancelled,
        "not_due": not_due,
    }))
}
