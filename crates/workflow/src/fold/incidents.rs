//! PagerDuty follows the case (the rules are `closeloop_domain::dispatch::incident`): the
//! incident a case's alert triggered is acknowledged when someone takes the case up and
//! resolved when it leaves the team's hands.
//!
//! Where an update goes is what the case's triggers were planned to, not what the team's
//! routing says when the update is due: the fold notes each PagerDuty trigger it plans on the
//! case's file ([`CaseFile::paged`], per episode, in the same write as the trigger), so the
//! record is exactly the outbox's and costs no read when the case changes. The team's routing
//! is not reliable for this: the directory (endpoints, routing keys), the owner and the
//! priority may change between the trigger and the update, and PagerDuty drops an update sent
//! under a routing key that never triggered. A case file written before the record was kept
//! has it derived from its deliveries, once (one `get-many` of them).
//!
//! The update is planned by the fold that applies the change ([`follow`], from
//! `change::apply`): its notice, its deliveries and its first attempt's lease are in the
//! change's one `set-many`, so a change and what it tells PagerDuty exist together or not at
//! all. Its id derives from the case, the kind and the episode, so an episode is acknowledged
//! once and resolved once whatever the agents do; a case that paged nobody plans nothing and
//! writes nothing more than before.

use closeloop_domain::case::Case;
use closeloop_domain::delivery::Delivery;
use closeloop_domain::dispatch::incident::{self, Paged};
use closeloop_domain::feedback::Feedback;
use closeloop_domain::keys;
use closeloop_domain::notice::Notice;

use super::Folder;
use super::notices;
use super::records::CaseFile;
use crate::store::StoreError;

/// Where `case` paged, from its file; derived from its deliveries for a file written before
/// it was kept (and kept from then on: the caller stores the file).
pub fn paged<'a>(
    f: &mut Folder<'_, '_>,
    case: &Case,
    file: &'a mut CaseFile,
) -> Result<&'a mut Paged, StoreError> {
    if file.paged.is_none() {
        let keys: Vec<String> = file
            .deliveries
            .iter()
            .map(|id| keys::delivery(id))
            .collect();
        f.tx.prefetch(&keys)?;
        let mut deliveries = Vec::with_capacity(keys.len());
        for key in &keys {
            deliveries.extend(f.tx.get::<Delivery>(key)?);
        }
        file.paged = Some(Paged::from_deliveries(case, &deliveries));
    }
    Ok(file.paged.get_or_insert_default())
}

/// Plans what the change of `before` into `after` owes PagerDuty, if it owes it anything
/// and the case paged anyone in its current episode.
pub fn follow(
    f: &mut Folder<'_, '_>,
    before: &Case,
    after: &Case,
    file: &mut CaseFile,
    feedback: Option<&Feedback>,
) -> Result<(), StoreError> {
    let Some(kind) = incident::update(before, after) else {
        return Ok(());
    };
    let targets = paged(f, after, file)?.targets_for(after).to_vec();
    if targets.is_empty() {
        return Ok(());
    }
    let notice = Notice::incident_update(after, kind, targets, f.now);
    notices::queue(f, &notice, Some(after), feedback, Some(file))?;
    Ok(())
}

#[cfg(test)]
mod tests;
