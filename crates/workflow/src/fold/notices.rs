//! A notice becomes deliveries: who is told, on which channels, now or later.
//!
//! Planning is `closeloop_domain::dispatch::plan` (directory, routing's channels, quiet
//! hours); this module settles what the plan leaves to the store: alert-fatigue counts,
//! digest queues, the outbox schedule, the first attempt's lease, and the PagerDuty endpoints
//! a case's triggers go to ([`super::incidents`]). Everything is written with the fold, so a
//! notice is planned exactly once (its id is derived from what it is about) and its
//! deliveries exist before anyone may send them.

use closeloop_domain::case::{Case, CaseEvent, EventKind};
use closeloop_domain::delivery::{Channel, Delivery, DeliveryStatus, Lease, Target};
use closeloop_domain::dispatch::directory::Team;
use closeloop_domain::dispatch::fatigue;
use closeloop_domain::dispatch::plan::{self, Counts, Decision, Guard, PlanInput};
use closeloop_domain::dispatch::store::{self as dispatch_store, DigestEntry};
use closeloop_domain::feedback::Feedback;
use closeloop_domain::notice::Notice;
use closeloop_domain::{ids, keys};

use super::Folder;
use super::records::{self, CaseFile, DIGEST_TARGETS, DigestQueue, DigestTargets, WindowCounts};
use super::{incidents, outbox};
use crate::store::StoreError;

/// The directory team a case belongs to, if the team is in the directory.
pub fn team_of(f: &mut Folder<'_, '_>, case: &Case) -> Result<Option<Team>, StoreError> {
    f.tx.get(&dispatch_store::case_team(case))
}

/// Stores `notice` and its deliveries, once per notice id, and returns the deliveries' ids
/// (none if the notice was stored before). `file` is the case's file when the notice is about
/// a case: it lists the notice and deliveries and gets the events saying why an alert did not
/// go at once.
pub fn queue(
    f: &mut Folder<'_, '_>,
    notice: &Notice,
    case: Option<&Case>,
    feedback: Option<&Feedback>,
    mut file: Option<&mut CaseFile>,
) -> Result<Vec<String>, StoreError> {
    let notice_key = keys::notice(&notice.id);
    if f.tx.get::<Notice>(&notice_key)?.is_some() {
        return Ok(Vec::new());
    }
    let mut ids = Vec::new();
    let team = match (case, &notice.target) {
        (Some(c), _) => team_of(f, c)?,
        (None, Some(Target::Team { team } | Target::Member { team, .. })) => {
            f.tx.get(&dispatch_store::team(team))?
        }
        _ => None,
    };
    let plans = plan::plan(&PlanInput {
        notice,
        case,
        feedback,
        team: team.as_ref(),
        configured: f.ctx.channels,
        now: f.now,
    });
    let pages = plans
        .iter()
        .flat_map(|p| &p.deliveries)
        .any(|d| d.channel == Channel::PagerDuty);
    if pages && let (Some(case), Some(file)) = (case, file.as_deref_mut()) {
        // Read (for an old file) before this notice's deliveries are on it.
        incidents::paged(f, case, file)?;
    }
    for mut recipient in plans {
        let decision = match &recipient.guard {
            Some(guard) => {
                let counts = take_counts(f, guard)?;
                plan::decide(guard, counts, recipient.digest, f.now)
            }
            None if recipient.digest => Decision::Digest,
            None => Decision::Send,
        };
        plan::apply(&mut recipient, decision);
        for mut d in recipient.deliveries {
            match d.status {
                DeliveryStatus::Digested => add_to_digest(f, &recipient.target, &d)?,
                DeliveryStatus::Pending if d.next_attempt_at <= f.now => {
                    // Until the end of the hand-over: set when the fold finishes.
                    d.lease = Some(Lease {
                        token: f.token.clone(),
                        until: f.now,
                    });
                    f.hand_over(&d.id);
                    outbox::schedule(f, &d.id, f.now)?;
                }
                DeliveryStatus::Pending => outbox::schedule(f, &d.id, d.next_attempt_at)?,
                _ => {}
            }
            if let Some(file) = file.as_deref_mut() {
                if let (Some(case), Some(paged)) = (case, file.paged.as_mut()) {
                    paged.note(notice, case, &d);
                }
                file.deliveries.push(d.id.clone());
                if let Some(note) = &d.note {
                    let event = queued_event(f, &d, note);
                    record(f, file, event);
                }
            }
            ids.push(d.id.clone());
            f.tx.put(keys::delivery(&d.id), &d);
        }
    }
    if let Some(file) = file {
        file.notices.push(notice.id.clone());
    }
    f.tx.put(notice_key, notice);
    Ok(ids)
}

/// Records `event` on `file`, storing a page of older events when the file outgrows one.
pub fn record(f: &mut Folder<'_, '_>, file: &mut CaseFile, event: CaseEvent) {
    if let Some((n, page)) = file.record(event) {
        f.tx.put(records::case_file_page(&file.case_id, n), &page);
    }
}

fn queued_event(f: &Folder<'_, '_>, d: &Delivery, note: &str) -> CaseEvent {
    CaseEvent {
        id: ids::derived(f.now, &["planned", &d.id]).to_string(),
        case_id: d.case_id.clone(),
        at: f.now,
        actor: "dispatch".into(),
        kind: EventKind::AlertQueued,
        from: None,
        to: None,
        detail: format!(
            "{} via {} to {}: {note}",
            d.kind.as_str(),
            d.channel.as_str(),
            d.to.key()
        ),
    }
}

/// Counts this alert in its fold window and, if it is not folded, in the person's rate
/// window, and returns the counts the decision reads.
fn take_counts(f: &mut Folder<'_, '_>, guard: &Guard) -> Result<Counts, StoreError> {
    let fw = fatigue::window(f.now, fatigue::FOLD_WINDOW_SECS);
    let key = records::fatigue("fold", &guard.fold_key);
    let mut folds: WindowCounts = f.tx.get(&key)?.unwrap_or_default();
    let current = folds.add(fw);
    let before = folds.count(fw - 1);
    f.tx.put(key, &folds);
    let rate = match &guard.rate {
        Some((name, _)) if current == 1 && before == 0 => {
            let rw = fatigue::window(f.now, fatigue::RATE_WINDOW_SECS);
            let key = records::fatigue("rate", name);
            let mut rates: WindowCounts = f.tx.get(&key)?.unwrap_or_default();
            let current = rates.add(rw);
            let before = rates.count(rw - 1);
            f.tx.put(key, &rates);
            Some((current, before))
        }
        _ => None,
    };
    Ok(Counts {
        folds: current,
        folds_before: before,
        rate,
    })
}

fn add_to_digest(f: &mut Folder<'_, '_>, target: &Target, d: &Delivery) -> Result<(), StoreError> {
    let key = records::digest_queue(target);
    let mut queue: DigestQueue = f.tx.get(&key)?.unwrap_or_default();
    if queue.entries.is_empty() {
        let mut targets: DigestTargets = f.tx.get(DIGEST_TARGETS)?.unwrap_or_default();
        if !targets.targets.contains(target) {
            targets.targets.push(target.clone());
            f.tx.put(DIGEST_TARGETS, &targets);
        }
    }
    queue.target = Some(target.clone());
    queue.entries.push(DigestEntry {
        target: target.clone(),
        case_id: d.case_id.clone(),
        delivery_id: d.id.clone(),
        added_at: f.now,
    });
    f.tx.put(key, &queue);
    Ok(())
}
