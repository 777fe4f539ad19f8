//! New feedback: stored once per (source, external id), triaged, and made into a case, with
//! its alert planned, in the fold that takes it.
//!
//! A repeat of stored feedback (a platform's retry, a redelivery, a racing duplicate) is a
//! duplicate whatever it says: it is answered as one and changes nothing. Since the fold is
//! the only writer and folds run one at a time, "is it stored?" and "store it" cannot be
//! separated by another request: of sixteen racing copies, the first in ticket order is
//! accepted and the other fifteen are duplicates.

use closeloop_domain::case::{Action, Case, CaseEvent, EventKind};
use closeloop_domain::envelope::Ref;
use closeloop_domain::feedback::{self, Feedback};
use closeloop_domain::notice::Notice;
use closeloop_domain::projection;
use closeloop_domain::triage::config;
use closeloop_domain::triage::routing;
use closeloop_domain::triage::{Triaged, triage_with};
use closeloop_domain::{ids, keys};

use super::notices::{self, record};
use super::records::{self, CaseFile, Turns};
use super::{Folder, Verdict};
use crate::store::StoreError;

pub fn arrive(f: &mut Folder<'_, '_>, feedback: &Feedback) -> Result<Verdict, StoreError> {
    let ref_key = keys::feedback_ref(&feedback::dedup_digest(
        &feedback.source,
        &feedback.external_id,
    ));
    if let Some(existing) = f.tx.get::<Ref>(&ref_key)? {
        return Ok(Verdict::Duplicate {
            feedback_id: existing.id,
        });
    }
    // No reference: this feedback's id was never folded, so it was never projected either.
    f.tx.known_absent(projection::keys::projected(&feedback.id));
    f.tx.put(keys::feedback(&feedback.id), feedback);
    f.tx.put(
        ref_key,
        &Ref {
            id: feedback.id.clone(),
        },
    );
    let case_id = open_or_join(f, feedback)?;
    f.touch(&feedback.id);
    Ok(Verdict::Accepted {
        feedback_id: feedback.id.clone(),
        case_id: Some(case_id),
    })
}

/// Triages `feedback` and opens its case, or joins the customer's open case when the
/// contact-frequency rule is on; returns the case's id.
fn open_or_join(f: &mut Folder<'_, '_>, feedback: &Feedback) -> Result<String, StoreError> {
    let policy = f.ctx.policy.clone();
    let now = f.now;
    let (
        join,
        Triaged {
            mut triage,
            round_robin,
        },
    ) = {
        let config = f.triage_config()?;
        (
            config.rules.join_open_case,
            triage_with(feedback, &policy, config, now),
        )
    };
    let identity = config::customer_identity(&feedback.customer);
    if join
        && let Some(identity) = &identity
        && let Some(open) = open_case_of(f, identity)?
    {
        let mut file: CaseFile =
            f.tx.get(&records::case_file(&open.id))?
                .unwrap_or_else(|| CaseFile::new(&open.id));
        let event = received_event(feedback, &open.id, " (joined the customer's open case)");
        record(f, &mut file, event);
        f.tx.put(records::case_file(&open.id), &file);
        return Ok(open.id);
    }
    if !round_robin.is_empty() {
        let key = records::round_robin(&triage.team);
        let mut turns: Turns = f.tx.get(&key)?.unwrap_or_default();
        turns.taken += 1;
        f.tx.put(key, &turns);
        if let Some(owner) = routing::take_turn(&round_robin, turns.taken) {
            triage.assign(owner);
        }
    }
    let mut case = Case::open(&feedback.id, feedback.received_at, triage);
    case.anonymous = feedback.customer.is_anonymous();
    let mut file = CaseFile::new(&case.id);
    record(f, &mut file, received_event(feedback, &case.id, ""));
    record(f, &mut file, case.opened_event());
    // The owner a rule names (or its round-robin's turn) owns the case: the owner's inbox
    // shows it, and the case is assigned by triage, as an agent would assign it.
    if let Some(owner) = case.triage.routing.owner.clone() {
        let assign = Action::Assign {
            by: "triage".into(),
            to: owner,
            note: Some("routed by the triage rules".into()),
        };
        let event_id = ids::derived(now, &["routed", &case.id]).to_string();
        let (assigned, event) = case
            .apply(assign, event_id, now)
            .expect("a new case can be assigned");
        case = assigned;
        record(f, &mut file, event);
    }
    if let Some(identity) = &identity {
        f.tx.put(
            config::open_case_key(identity),
            &Ref {
                id: case.id.clone(),
            },
        );
    }
    if case.triage.alert {
        let notice = Notice::case_opened(&case, now);
        // The case is new (its id derives from the time it arrived), so is its notice.
        f.tx.known_absent(keys::notice(&notice.id));
        notices::queue(f, &notice, Some(&case), Some(feedback), Some(&mut file))?;
    }
    f.tx.put(keys::case(&case.id), &case);
    f.tx.put(records::case_file(&case.id), &file);
    Ok(case.id)
}

/// The customer's open case, if there is one.
fn open_case_of(f: &mut Folder<'_, '_>, identity: &str) -> Result<Option<Case>, StoreError> {
    let Some(r) = f.tx.get::<Ref>(&config::open_case_key(identity))? else {
        return Ok(None);
    };
    Ok(f.tx
        .get::<Case>(&keys::case(&r.id))?
        .filter(|c| c.state.is_open()))
}

/// The timeline event of feedback arriving on case `case_id`.
pub fn received_event(feedback: &Feedback, case_id: &str, note: &str) -> CaseEvent {
    let score = feedback
        .score
        .map(|s| s.label())
        .unwrap_or_else(|| "no score".into());
    CaseEvent {
        id: ids::derived(feedback.received_at, &["received", &feedback.id]).to_string(),
        case_id: case_id.to_owned(),
        at: feedback.received_at,
        actor: feedback.source.clone(),
        kind: EventKind::FeedbackReceived,
        from: None,
        to: None,
        detail: format!(
            "{score} from {} via {}{note}",
            feedback.customer.display_name(),
            feedback.source
        ),
    }
}
