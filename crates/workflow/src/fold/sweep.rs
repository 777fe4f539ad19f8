//! The follow-up sweep (tick): one reminder per resolution round once the customer has not
//! answered for `reminder_after_days`, and the case closed as unconfirmed after
//! `close_unconfirmed_after_days` (`closeloop_domain::followup::FollowUpPolicy`).
//!
//! Finding the cases is a read ([`candidates`]): the case index names the chunks that hold
//! cases awaiting their customer, and only those cases are read, never a listing of the
//! store. At most [`SWEEP_LIMIT`] due cases go into one command; the next tick takes the
//! rest. The fold ([`sweep`]) looks at each case again as it is then, so a case answered,
//! resolved again or closed since the read is left alone, and the round's reminder is
//! remembered in the case's file, so however often tick runs it is sent once.

use closeloop_domain::case::{Action, Case, CaseState, EventKind};
use closeloop_domain::feedback::Feedback;
use closeloop_domain::followup::{FollowUpPolicy, FollowUpStep};
use closeloop_domain::notice::{Notice, NoticeKind};
use closeloop_domain::problem::{Problem, ProblemKind};
use closeloop_domain::projection::index::{IndexChunk, IndexRoot};
use closeloop_domain::projection::keys as index_keys;
use closeloop_domain::{Timestamp, ids, keys};
use serde_json::{Value, json};

use super::change;
use super::notices::{self, record};
use super::records::{self as fold_records, CaseFile};
use super::{Command, Folder, Verdict};
use crate::reads::records;
use crate::store::{Store, StoreError, get_record};

/// The most cases one sweep command acts on.
pub const SWEEP_LIMIT: usize = 50;

/// The cases a sweep should look at now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub case_ids: Vec<String>,
    /// More cases are due than one command takes.
    pub more: bool,
}

/// What `case` needs now, given its file: a step the sweep has not taken yet.
fn step(
    policy: &FollowUpPolicy,
    case: &Case,
    file: Option<&CaseFile>,
    now: Timestamp,
) -> FollowUpStep {
    match policy.due(case, now) {
        FollowUpStep::Remind if file.is_some_and(|f| f.reminded_round >= case.round) => {
            FollowUpStep::Nothing
        }
        step => step,
    }
}

/// The cases awaiting their customer that are due a reminder or the close, most
/// [`SWEEP_LIMIT`]; reads only (the index's root, its awaiting chunks, those cases).
pub fn candidates(
    store: &dyn Store,
    policy: &FollowUpPolicy,
    now: Timestamp,
) -> Result<Due, StoreError> {
    let root: IndexRoot = get_record(store, index_keys::INDEX_ROOT)?.unwrap_or_default();
    let chunk_keys: Vec<String> = root
        .awaiting_chunks()
        .map(index_keys::index_chunk)
        .collect();
    let awaiting: Vec<String> = records::<IndexChunk>(store, &chunk_keys)?
        .into_iter()
        .flatten()
        .flat_map(|chunk| chunk.entries)
        .filter(|e| e.state == CaseState::ResolvedAwaitingCustomer)
        .map(|e| e.key.id)
        .collect();
    let mut due = Due {
        case_ids: Vec::new(),
        more: false,
    };
    for ids in awaiting.chunks(SWEEP_LIMIT) {
        let case_keys: Vec<String> = ids.iter().map(|id| keys::case(id)).collect();
        let file_keys: Vec<String> = ids.iter().map(|id| fold_records::case_file(id)).collect();
        let cases = records::<Case>(store, &case_keys)?;
        let files = records::<CaseFile>(store, &file_keys)?;
        for (case, file) in cases.into_iter().zip(files) {
            let Some(case) = case else { continue };
            if step(policy, &case, file.as_ref(), now) == FollowUpStep::Nothing {
                continue;
            }
            if due.case_ids.len() == SWEEP_LIMIT {
                due.more = true;
                return Ok(due);
            }
            due.case_ids.push(case.id);
        }
    }
    Ok(due)
}

/// `FollowUpSweep`: reminds or closes each of `case_ids` that is still due.
pub fn sweep(f: &mut Folder<'_, '_>, case_ids: &[String]) -> Result<Verdict, StoreError> {
    let policy = f.ctx.follow_up;
    let keys: Vec<String> = case_ids
        .iter()
        .take(SWEEP_LIMIT)
        .flat_map(|id| [keys::case(id), fold_records::case_file(id)])
        .collect();
    f.tx.prefetch(&keys)?;
    let (mut reminded, mut closed_unconfirmed) = (0, 0);
    for id in case_ids.iter().take(SWEEP_LIMIT) {
        let Some((case, mut file)) = change::load(f, id)? else {
            continue;
        };
        match step(&policy, &case, Some(&file), f.now) {
            FollowUpStep::Nothing => continue,
            FollowUpStep::Remind => {
                let Some(link) =
                    change::confirmation_link(f.ctx, &case, NoticeKind::CustomerReminder, f.now)
                else {
                    return Ok(change::not_configured());
                };
                remind(f, &case, &mut file, link, policy.reminder_after_days)?;
                reminded += 1;
            }
            FollowUpStep::CloseUnconfirmed => {
                let action = Action::ExpireUnconfirmed {
                    after_days: policy.close_after_days,
                };
                if change::apply(f, &case, &mut file, action)?.is_err() {
                    continue;
                }
                closed_unconfirmed += 1;
            }
        }
        change::save(f, &file);
    }
    Ok(Verdict::Swept {
        reminded,
        closed_unconfirmed,
    })
}

/// Queues the round's one reminder (subject to the contact rules) and remembers it.
fn remind(
    f: &mut Folder<'_, '_>,
    case: &Case,
    file: &mut CaseFile,
    link: String,
    after_days: u32,
) -> Result<(), StoreError> {
    let round = case.round.to_string();
    let event = case.remark(
        EventKind::ReminderQueued,
        "closeloop",
        &format!("no answer after {after_days} days: one reminder queued"),
        ids::derived(f.now, &["reminder", &case.id, &round]).to_string(),
        f.now,
    );
    record(f, file, event);
    file.reminded_round = case.round;
    let feedback: Option<Feedback> = f.tx.get(&keys::feedback(&case.feedback_id))?;
    let reminder = Notice::customer_reminder(case, link, f.now);
    if let Some(reminder) = change::customer_notice(f, case, file, feedback.as_ref(), reminder)? {
        notices::queue(f, &reminder, Some(case), feedback.as_ref(), Some(file))?;
    }
    Ok(())
}

/// Runs tick's sweep: finds the cases due and submits one command for them through
/// `submit` (none when nothing is due). Returns its report: what it did, and whether cases
/// are left for the next tick.
pub fn run(
    store: &dyn Store,
    policy: &FollowUpPolicy,
    now: Timestamp,
    submit: impl FnOnce(Command) -> Result<Verdict, Problem>,
) -> Result<Value, Problem> {
    let due = candidates(store, policy, now)?;
    if due.case_ids.is_empty() {
        return Ok(json!({"reminded": 0, "closed_unconfirmed": 0, "more": false}));
    }
    match submit(Command::FollowUpSweep {
        case_ids: due.case_ids,
    })? {
        Verdict::Swept {
            reminded,
            closed_unconfirmed,
        } => Ok(json!({
            "reminded": reminded,
            "closed_unconfirmed": closed_unconfirmed,
            "more": due.more,
        })),
        refused => Err(refused
            .problem()
            .unwrap_or_else(|| Problem::new(ProblemKind::Internal, "the sweep was not folded"))),
    }
}

/// Tick's answer from the sweep's report and dispatch's tick (its status and body, or why it
/// could not be reached): both reports, and 503 if either failed, so a scheduler notices.
pub fn tick_report(
    swept: Result<Value, Problem>,
    dispatch: Result<(u16, Vec<u8>), String>,
) -> (u16, Value) {
    let dispatch = match dispatch {
        Ok((200, body)) => Ok(serde_json::from_slice(&body).unwrap_or_else(|_| json!({}))),
        Ok((status, _)) => Err(format!("dispatch answered HTTP {status}")),
        Err(e) => Err(format!("dispatch could not be reached: {e}")),
    };
    let status = if swept.is_ok() && dispatch.is_ok() {
        200
    } else {
        503
    };
    let swept = swept.unwrap_or_else(|p| json!({"error": p.detail}));
    let dispatch = dispatch.unwrap_or_else(|e| json!({"error": e}));
    (status, json!({"followup": swept, "dispatch": dispatch}))
}

#[cfg(test)]
pub(crate) mod tests;
