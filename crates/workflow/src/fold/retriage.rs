//! Feedback that changed (a later event of its platform response) is triaged again, and its
//! case follows.
//!
//! The new triage replaces the old; the case keeps its state, history and owners (the one an
//! agent gave it and the one round-robin drew). A `retriaged` event records the change unless
//! nothing but the reasons' wording and the triage time differ. The alert notice's id derives
//! from the case, so a case is alerted once: a re-triage alerts only a case whose old triage
//! did not alert and whose new one does.
//!
//! The fold is the only writer, so no agent's change lands between reading the case and
//! writing it back: no version claim, no retry.

use closeloop_domain::case::{Case, CaseEvent, EventKind};
use closeloop_domain::feedback::Feedback;
use closeloop_domain::notice::Notice;
use closeloop_domain::triage::{Triage, triage_with};
use closeloop_domain::{ids, keys};

use super::Folder;
use super::notices::{self, record};
use super::records::{self, CaseFile};
use crate::store::StoreError;

/// Triages `feedback` again and updates its case.
pub fn retriage(f: &mut Folder<'_, '_>, feedback: &Feedback) -> Result<(), StoreError> {
    let case_id = Case::id_for(&feedback.id, feedback.received_at);
    // Feedback that joined its customer's open case has no case of its own to triage again.
    let Some(case) = f.tx.get::<Case>(&keys::case(&case_id))? else {
        return Ok(());
    };
    let (policy, now) = (f.ctx.policy.clone(), f.now);
    let mut triage = triage_with(feedback, &policy, f.triage_config()?, now).triage;
    triage.routing.owner.clone_from(&case.triage.routing.owner);
    if same_but_wording(&case.triage, &triage) {
        return Ok(());
    }
    let mut next = case.clone();
    next.version += 1;
    next.triage = triage;
    let mut file: CaseFile =
        f.tx.get(&records::case_file(&case_id))?
            .unwrap_or_else(|| CaseFile::new(&case_id));
    record(f, &mut file, retriaged_event(&case, &next, now));
    if next.triage.alert {
        // A no-op when the case was alerted before (the notice exists).
        let notice = Notice::case_opened(&next, now);
        notices::queue(f, &notice, Some(&next), Some(feedback), Some(&mut file))?;
    }
    f.tx.put(keys::case(&case_id), &next);
    f.tx.put(records::case_file(&case_id), &file);
    Ok(())
}

/// Whether `new` differs from `old` only in its reasons and its time.
fn same_but_wording(old: &Triage, new: &Triage) -> bool {
    let mut old = old.clone();
    old.triaged_at = new.triaged_at;
    old.reasons.clone_from(&new.reasons);
    old == *new
}

fn retriaged_event(was: &Case, next: &Case, now: closeloop_domain::Timestamp) -> CaseEvent {
    CaseEvent {
        id: ids::derived(now, &["retriaged", &next.id, &next.version.to_string()]).to_string(),
        case_id: next.id.clone(),
        at: now,
        actor: "triage".into(),
        kind: EventKind::Retriaged,
        from: Some(next.state),
        to: Some(next.state),
        detail: format!(
            "triaged again after the feedback changed: {} (was {}): {}",
            next.triage.priority.as_str(),
            was.triage.priority.as_str(),
            next.triage.reasons.join("; ")
        ),
    }
}
