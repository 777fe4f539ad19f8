//! Escalation: a case nobody acknowledged by its first-response due time goes to the team
//! lead, then the manager (`closeloop_domain::dispatch::escalation` says which level is due).
//!
//! Tick finds the candidates at the front of the case index (see
//! [`crate::outbox_tick`]) and names them in one [`Command::Escalate`](super::Command); the
//! fold decides again from the case as it is now and writes each level's notice once: its id
//! derives from the case and the level, and the fold is its only writer, so ticks racing each
//! other escalate each level once. Only teams with a chain in the directory escalate: without
//! one there is nobody above the team to tell.

use std::ops::RangeInclusive;

use closeloop_domain::Timestamp;
use closeloop_domain::case::{Case, CaseEvent, EventKind};
use closeloop_domain::dispatch::directory::Team;
use closeloop_domain::dispatch::escalation;
use closeloop_domain::feedback::Feedback;
use closeloop_domain::notice::Notice;
use closeloop_domain::{ids, keys};

use super::records::{self, CaseFile};
use super::{Folder, Verdict, notices};
use crate::store::StoreError;

/// The levels of `case` to escalate at `now`: those reached that `team`'s chain has.
pub fn levels(case: &Case, team: Option<&Team>, now: Timestamp) -> RangeInclusive<u32> {
    let chain = team.map_or(0, |t| u32::try_from(t.escalation.len()).unwrap_or(u32::MAX));
    1..=escalation::due_level(case, now).min(chain)
}

pub fn escalate(f: &mut Folder<'_, '_>, cases: &[String]) -> Result<Verdict, StoreError> {
    let keys: Vec<String> = cases.iter().map(|id| keys::case(id)).collect();
    f.tx.prefetch(&keys)?;
    let mut written = Vec::new();
    for id in cases {
        let Some(case) = f.tx.get::<Case>(&keys::case(id))? else {
            continue;
        };
        let team = notices::team_of(f, &case)?;
        let Some(team) = team else { continue };
        for level in levels(&case, Some(&team), f.now) {
            let notice = Notice::escalation(&case, level, f.now);
            if f.tx.get::<Notice>(&keys::notice(&notice.id))?.is_some() {
                continue;
            }
            let feedback: Option<Feedback> = f.tx.get(&keys::feedback(&case.feedback_id))?;
            let file_key = records::case_file(&case.id);
            let mut file: CaseFile = f.tx.get(&file_key)?.unwrap_or_else(|| CaseFile::new(id));
            let event = escalated_event(&case, &team, &notice, f.now);
            notices::record(f, &mut file, event);
            notices::queue(f, &notice, Some(&case), feedback.as_ref(), Some(&mut file))?;
            f.tx.put(file_key, &file);
            written.push(notice.id);
        }
    }
    Ok(Verdict::Escalated { notices: written })
}

fn escalated_event(case: &Case, team: &Team, notice: &Notice, now: Timestamp) -> CaseEvent {
    let level = notice.level as usize;
    CaseEvent {
        id: ids::derived(now, &["escalation", &notice.id]).to_string(),
        case_id: case.id.clone(),
        at: now,
        actor: "dispatch".into(),
        kind: EventKind::AlertQueued,
        from: None,
        to: None,
        detail: format!(
            "not acknowledged by {}: escalated to {} ({})",
            case.triage.first_response_due.to_rfc3339(),
            team.escalation[level - 1],
            if level == 1 { "team lead" } else { "manager" }
        ),
    }
}
