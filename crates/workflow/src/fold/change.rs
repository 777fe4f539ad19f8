//! A change of a case's state, and what it owes: the one place that decides which notice an
//! agent's action, a customer's answer or the follow-up sweep sends.
//!
//! - resolved (awaiting the customer): the customer follow-up, with a signed link for this
//!   resolution round that expires;
//! - reopened: the reopened alert, to the case's team and owner;
//! - closed, with watchers: the case-closed notice to them;
//! - taken up (acknowledged, or reached out to) or out of the team's hands (resolved, closed):
//!   the PagerDuty `acknowledge` or `resolve` of the incident its alert triggered, if it paged
//!   anyone ([`super::incidents`]).
//!
//! Customer messages obey the contact rules ([`customer_notice`]): nobody on the
//! do-not-contact list gets one (no notice; an event says why), and inside the customer quiet
//! hours one is held until they end (`not_before`, and an event). When SMS (Twilio) is set
//! up, a message that goes points the customer's phone number at the case, for an SMS reply
//! (`super::replies`). Everything
//! lands in the fold's write, so a change and what it sends exist together or not at all.

use closeloop_domain::case::{Action, Case, CaseEvent, CaseState, EventKind};
use closeloop_domain::contact;
use closeloop_domain::feedback::Feedback;
use closeloop_domain::link::LinkClaims;
use closeloop_domain::message;
use closeloop_domain::notice::{Notice, NoticeKind};
use closeloop_domain::problem::ProblemKind;
use closeloop_domain::{ids, keys};

use super::incidents;
use super::notices::{self, record};
use super::records::{self, CaseFile};
use super::{Context, Folder, Verdict};
use crate::store::StoreError;

/// A case and its file, as the fold sees them.
pub fn load(f: &mut Folder<'_, '_>, case_id: &str) -> Result<Option<(Case, CaseFile)>, StoreError> {
    let (case_key, file_key) = (keys::case(case_id), records::case_file(case_id));
    f.tx.prefetch(&[case_key.clone(), file_key.clone()])?;
    let Some(case) = f.tx.get::<Case>(&case_key)? else {
        return Ok(None);
    };
    let file =
        f.tx.get(&file_key)?
            .unwrap_or_else(|| CaseFile::new(case_id));
    Ok(Some((case, file)))
}

pub fn save(f: &mut Folder<'_, '_>, file: &CaseFile) {
    f.tx.put(records::case_file(&file.case_id), file);
}

pub fn not_found(case_id: &str) -> Verdict {
    Verdict::refused(ProblemKind::NotFound, format!("there is no case {case_id}"))
}

/// Applies `action` to `case` at the fold's time: records its event on `file`, queues what
/// the change owes, stores the case and has its read models recomputed. The caller stores
/// `file`. A refusal (the state does not allow the action) changes nothing.
pub fn apply(
    f: &mut Folder<'_, '_>,
    case: &Case,
    file: &mut CaseFile,
    action: Action,
) -> Result<Result<Case, Verdict>, StoreError> {
    let version = (case.version + 1).to_string();
    let event_id = ids::derived(f.now, &["case-event", &case.id, &version]).to_string();
    let (next, event) = match case.apply(action, event_id, f.now) {
        Ok(applied) => applied,
        Err(e) => {
            return Ok(Err(Verdict::refused(
                ProblemKind::InvalidTransition,
                e.to_string(),
            )));
        }
    };
    let follow_up = if next.state != case.state && next.state == CaseState::ResolvedAwaitingCustomer
    {
        let Some(link) = confirmation_link(f.ctx, &next, NoticeKind::CustomerFollowUp, f.now)
        else {
            return Ok(Err(not_configured()));
        };
        Some(Notice::customer_follow_up(&next, link, f.now))
    } else {
        None
    };
    record(f, file, event);
    let feedback: Option<Feedback> = f.tx.get(&keys::feedback(&next.feedback_id))?;
    let notice = match (next.state, follow_up) {
        _ if next.state == case.state => None,
        (CaseState::ResolvedAwaitingCustomer, Some(notice)) => {
            customer_notice(f, &next, file, feedback.as_ref(), notice)?
        }
        (CaseState::Reopened, _) => Some(Notice::case_reopened(&next, f.now)),
        (CaseState::ClosedConfirmed | CaseState::ClosedUnconfirmed, _)
            if !message::watchers(&next).is_empty() =>
        {
            Some(Notice::case_closed(&next, f.now))
        }
        _ => None,
    };
    if let Some(notice) = &notice {
        notices::queue(f, notice, Some(&next), feedback.as_ref(), Some(file))?;
    }
    incidents::follow(f, case, &next, file, feedback.as_ref())?;
    f.tx.put(keys::case(&next.id), &next);
    f.touch(&next.feedback_id);
    Ok(Ok(next))
}

/// The refusal when no link signing key is configured (the operator's mistake).
pub fn not_configured() -> Verdict {
    Verdict::refused(
        ProblemKind::Internal,
        "closeloop is not fully configured: link_signing_key is missing or too short",
    )
}

/// A signed link for the customer to answer `kind` for the case's current round; `None`
/// without a signing key.
pub fn confirmation_link(
    ctx: &Context,
    case: &Case,
    kind: NoticeKind,
    now: closeloop_domain::Timestamp,
) -> Option<String> {
    let key = ctx.link_key.as_ref()?;
    let round = case.round.to_string();
    // Unique per message; the signature, not the nonce, makes the link unforgeable.
    let nonce = ids::derived(now, &["link", &case.id, &round, kind.as_str()]).to_string();
    let claims = LinkClaims::new(&case.id, case.round, now, ctx.link_ttl_hours, nonce);
    Some(format!(
        "{}/v1/confirm/{}",
        ctx.public_base_url,
        key.sign(&claims)
    ))
}

/// Applies the contact rules to a customer message: `None` for a customer on the
/// do-not-contact list, the notice held until the quiet hours end inside them; either way an
/// event on `file` says so.
pub fn customer_notice(
    f: &mut Folder<'_, '_>,
    case: &Case,
    file: &mut CaseFile,
    feedback: Option<&Feedback>,
    notice: Notice,
) -> Result<Option<Notice>, StoreError> {
    let listed_under: Vec<String> = feedback
        .map(|fb| contact::customer_digests(&fb.customer))
        .unwrap_or_default()
        .iter()
        .map(|digest| keys::do_not_contact(digest))
        .collect();
    f.tx.prefetch(&listed_under)?;
    let mut listed = false;
    for key in &listed_under {
        listed |= f.tx.get_raw(key)?.is_some();
    }
    let kind = notice.kind.as_str();
    if !listed && f.ctx.channels.sms {
        // The customer may answer this message by SMS: their number now leads here. Without
        // Twilio no message goes by SMS, so there is nothing to answer and no route to write.
        super::replies::remember_sms_route(f, case, feedback);
    }
    let (notice, detail) = if listed {
        (
            None,
            format!("no {kind} sent: the customer is on the do-not-contact list"),
        )
    } else {
        match f.ctx.customer_quiet_hours.and_then(|q| q.hold_until(f.now)) {
            Some(until) => (
                Some(notice.clone().hold_until(Some(until))),
                format!(
                    "{kind} held until {} (customer quiet hours)",
                    until.to_rfc3339()
                ),
            ),
            None => return Ok(Some(notice)),
        }
    };
    let event = contact_event(f, case, &detail);
    record(f, file, event);
    Ok(notice)
}

fn contact_event(f: &Folder<'_, '_>, case: &Case, detail: &str) -> CaseEvent {
    let id = ids::derived(f.now, &["contact", &case.id, detail]).to_string();
    case.remark(EventKind::ContactSuppressed, "closeloop", detail, id, f.now)
}

#[cfg(test)]
pub(crate) mod tests;
