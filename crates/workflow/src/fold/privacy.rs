//! Erasing a customer (`POST /v1/admin/customers/erase`): every record that holds their data
//! is rewritten in one fold, so no agent's change can put their words back halfway.
//!
//! The command names the customer's feedback (found by the admin route) and never the
//! customer: a command may sit in the log's ring, and an erasure must not leave the email it
//! erases there. The identifiers to scrub from free text
//! (`closeloop_domain::privacy::identifiers`) are read from the feedback itself (the
//! customer, the comment, the metadata) and from the customer's words on their cases (answers,
//! feedback recorded by agents), all loaded before anything is rewritten.
//! Rewritten: the feedback (`closeloop_domain::privacy::erase_feedback`), its cases, every
//! event of their files and pages, and the log's ring entries about them (commands are
//! dropped, verdicts erased like the records), and the SMS routes of their phone numbers
//! (`super::replies`: an SMS from them no longer reaches their cases). Notices and deliveries
//! hold ids and links only. The read models are recomputed without the erased comments.

use std::collections::BTreeSet;

use closeloop_domain::case::{Case, EventKind};
use closeloop_domain::feedback::Feedback;
use closeloop_domain::privacy::{self, ErasureRecord, Identifiers};
use closeloop_domain::{ids, keys};

use super::change;
use super::notices::record;
use super::records::{self, CaseFile, EventPage};
use super::{Command, Folder, Verdict};
use crate::log::{self, Entry, LogState};
use crate::store::{StoreError, decode_counter};

/// `EraseCustomer`: erases the customer of `feedback_ids`, recorded as erasure `erasure_id`.
pub fn erase(
    f: &mut Folder<'_, '_>,
    feedback_ids: &[String],
    by: &str,
    erasure_id: &str,
) -> Result<Verdict, StoreError> {
    let keys: Vec<String> = feedback_ids.iter().map(|id| keys::feedback(id)).collect();
    f.tx.prefetch(&keys)?;
    let mut held = Vec::new();
    for key in &keys {
        if let Some(feedback) = f.tx.get::<Feedback>(key)? {
            held.push(feedback);
        }
    }
    let case_ids: BTreeSet<String> = held
        .iter()
        .map(|fb| Case::id_for(&fb.id, fb.received_at))
        .collect();
    let case_keys: Vec<String> = case_ids
        .iter()
        .flat_map(|id| [keys::case(id), records::case_file(id)])
        .collect();
    f.tx.prefetch(&case_keys)?;
    let mut loaded = Vec::new();
    for id in &case_ids {
        loaded.extend(change::load(f, id)?);
    }
    let held_cases = load_pages(f, loaded)?;
    // Everything the customer wrote is read before any of it is erased.
    let said: Vec<&str> = held_cases
        .iter()
        .flat_map(|(case, file, pages)| {
            let events = file
                .events
                .iter()
                .chain(pages.iter().flat_map(|(_, page)| &page.events));
            privacy::customer_words(case, events)
        })
        .collect();
    let identifiers = privacy::identifiers(&held, said);
    for feedback in &held {
        let mut erased = feedback.clone();
        privacy::erase_feedback(&mut erased);
        f.tx.put(keys::feedback(&feedback.id), &erased);
        f.touch(&feedback.id);
    }
    // An SMS from their number no longer leads to their cases.
    let phones: Vec<&str> = held
        .iter()
        .filter_map(|fb| fb.customer.phone.as_deref())
        .collect();
    super::replies::forget_sms_routes(f, &phones)?;
    let (cases, mut events) = (held_cases.len(), 0);
    for (case, file, pages) in held_cases {
        events += erase_case(f, case, file, pages, &identifiers, by, erasure_id);
    }
    let feedback: BTreeSet<String> = held.iter().map(|fb| fb.id.clone()).collect();
    scrub_ring(f, &feedback, &case_ids, &identifiers)?;
    let record = ErasureRecord {
        id: erasure_id.to_owned(),
        at: f.now,
        by: by.to_owned(),
        feedback: held.len(),
        cases,
        events,
    };
    f.tx.put(keys::erasure(erasure_id), &record);
    Ok(Verdict::Erased { record })
}

/// A case of the customer's, its file, and the stored pages of the file's older events with
/// their keys.
type HeldCase = (Case, CaseFile, Vec<(String, EventPage)>);

/// Each case with its pages, every case's pages read in one call.
fn load_pages(
    f: &mut Folder<'_, '_>,
    cases: Vec<(Case, CaseFile)>,
) -> Result<Vec<HeldCase>, StoreError> {
    let page_keys = |case: &Case, file: &CaseFile| -> Vec<String> {
        (1..=file.pages)
            .map(|n| records::case_file_page(&case.id, n))
            .collect()
    };
    let all: Vec<String> = cases
        .iter()
        .flat_map(|(case, file)| page_keys(case, file))
        .collect();
    f.tx.prefetch(&all)?;
    let mut held = Vec::with_capacity(cases.len());
    for (case, file) in cases {
        let mut pages = Vec::new();
        for key in page_keys(&case, &file) {
            if let Some(page) = f.tx.get::<EventPage>(&key)? {
                pages.push((key, page));
            }
        }
        held.push((case, file, pages));
    }
    Ok(held)
}

/// Erases one case, its file's events and pages; returns how many events were erased.
fn erase_case(
    f: &mut Folder<'_, '_>,
    mut case: Case,
    mut file: CaseFile,
    pages: Vec<(String, EventPage)>,
    identifiers: &Identifiers,
    by: &str,
    erasure_id: &str,
) -> usize {
    privacy::erase_case(&mut case, identifiers);
    case.version += 1;
    let mut events = file.events.len();
    for event in &mut file.events {
        privacy::erase_event(event, identifiers);
    }
    for (key, mut page) in pages {
        events += page.events.len();
        for event in &mut page.events {
            privacy::erase_event(event, identifiers);
        }
        f.tx.put(key, &page);
    }
    let event = case.remark(
        EventKind::CustomerErased,
        by,
        "the customer's personal data was erased on request",
        ids::derived(f.now, &["erased", erasure_id, &case.id]).to_string(),
        f.now,
    );
    record(f, &mut file, event);
    change::save(f, &file);
    f.tx.put(keys::case(&case.id), &case);
    events
}

/// Drops the commands about the erased feedback and cases from the log's ring and erases
/// their verdicts. Only folded entries are touched, and only those whose slot no ticket
/// taken so far reuses (a waiting submitter writes its entry into the slot of the ticket
/// [`log::RING`] before it).
fn scrub_ring(
    f: &mut Folder<'_, '_>,
    feedback: &BTreeSet<String>,
    cases: &BTreeSet<String>,
    identifiers: &Identifiers,
) -> Result<(), StoreError> {
    let state: LogState = f.tx.get(log::STATE_KEY)?.unwrap_or_else(LogState::initial);
    let head = decode_counter(log::SEQ_KEY, f.tx.get_raw(log::SEQ_KEY)?.as_deref())?;
    let head = u64::try_from(head).unwrap_or(0);
    let from = (head + 1).saturating_sub(log::RING).max(1);
    if from > state.folded {
        return Ok(());
    }
    let keys: Vec<String> = (from..=state.folded).map(log::entry_key).collect();
    f.tx.prefetch(&keys)?;
    for (seq, key) in (from..=state.folded).zip(keys) {
        let Some(mut entry) = f.tx.get::<Entry<Command, Verdict>>(&key)? else {
            continue;
        };
        if entry.seq != seq || !scrub_entry(&mut entry, feedback, cases, identifiers) {
            continue;
        }
        f.tx.put(key, &entry);
    }
    Ok(())
}

/// Drops the command and erases the verdict of an entry about the erased customer; false if
/// the entry is not about them.
fn scrub_entry(
    entry: &mut Entry<Command, Verdict>,
    feedback: &BTreeSet<String>,
    cases: &BTreeSet<String>,
    identifiers: &Identifiers,
) -> bool {
    let command_about = entry.command.as_ref().is_some_and(|c| match c {
        Command::Feedback { feedback: fb } => feedback.contains(&fb.id),
        Command::CaseAction { case_id, .. }
        | Command::CaseNote { case_id, .. }
        | Command::CustomerAnswer { case_id, .. } => cases.contains(case_id),
        Command::CustomerReply { reply } => cases.contains(&reply.case_id),
        _ => false,
    });
    let verdict_about = match &mut entry.verdict {
        Some(Verdict::CaseChanged { case }) if cases.contains(&case.id) => {
            privacy::erase_case(case, identifiers);
            true
        }
        Some(Verdict::Noted { event }) if cases.contains(&event.case_id) => {
            privacy::erase_event(event, identifiers);
            true
        }
        _ => false,
    };
    if command_about {
        entry.command = None;
    }
    command_about || verdict_about
}

#[cfg(test)]
pub(crate) mod tests;
