//! Read models kept up to date as things happen: the metrics' day aggregates and the case
//! index, so that neither the dashboard nor the inbox scans the store.
//!
//! Every write that changes what a piece of feedback counts for (triage, an agent's action, a
//! customer's answer, the first delivered alert) appends a [`Change`] naming the feedback to a
//! numbered feed (an atomic counter gives each its number). The projector folds the feed in
//! order, one projector at a time (it claims the position it starts from): for each feedback
//! named it reads the records as they are now, computes what they contribute
//! ([`Contribution`](crate::metrics::Contribution), [`IndexEntry`]), takes the previous
//! contribution away and adds the new one. Since only current records count, a change seen
//! twice or late changes nothing, and a case that reopens or feedback triaged again is simply
//! counted anew.
//!
//! [`project`] is the whole fold as a plain function over a [`Source`] of records; the
//! component reads the store for it and writes back the [`Batch`] it returns.

pub mod index;
pub mod memory;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::case::Case;
use crate::envelope::Record;
use crate::feedback::Feedback;
use crate::metrics::{Contribution, DayAggregate};
use index::{IndexChunk, IndexEdit, IndexEntry, IndexRoot};

/// The most changes one fold takes on; the next fold takes the rest.
pub const MAX_BATCH: u64 = 500;
/// How many feedback ids one chunk of a day's list holds.
pub const DAY_IDS_CHUNK: usize = 1_000;
/// A change number taken but never written (its writer stopped between the two steps) is
/// skipped after this long, so the feed never stalls.
pub const GAP_TIMEOUT_SECS: i64 = 60;

/// One entry of the feed: this feedback's records changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub feedback_id: String,
    pub at: Timestamp,
}
impl Record for Change {
    const SCHEMA: &'static str = "change/1";
}

/// How far the projector has folded the feed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectorState {
    pub folded: u64,
    /// A missing change number the projector is waiting for, and since when.
    #[serde(default)]
    pub gap: Option<(u64, Timestamp)>,
    #[serde(default)]
    pub folded_at: Option<Timestamp>,
    /// The latest folds, newest last: their claims and changes are kept a while, so that a
    /// projector that read the state just before a fold and claims after it finds the same
    /// changes and folds them again harmlessly instead of seeing gaps.
    #[serde(default)]
    pub recent: Vec<Fold>,
}
impl Record for ProjectorState {
    const SCHEMA: &'static str = "projector-state/1";
}

/// One fold: the claim it held and the changes it took in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fold {
    pub claim: String,
    pub from: u64,
    pub to: u64,
}

/// How many folds keep their claims and changes.
pub const KEEP_FOLDS: usize = 8;

impl ProjectorState {
    /// The state after folding `from..=to` under `claim`, and the fold that now leaves the
    /// recent list (its claim and changes can be deleted).
    pub fn after(
        &self,
        fold: Fold,
        gap: Option<(u64, Timestamp)>,
        now: Timestamp,
    ) -> (ProjectorState, Option<Fold>) {
        let mut recent = self.recent.clone();
        let folded = fold.to;
        recent.push(fold);
        let evicted = (recent.len() > KEEP_FOLDS).then(|| recent.remove(0));
        (
            ProjectorState {
                folded,
                gap,
                folded_at: Some(now),
                recent,
            },
            evicted,
        )
    }
}

/// What one piece of feedback currently contributes, kept so it can be taken away.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projected {
    pub contribution: Contribution,
    pub entry: Option<IndexEntry>,
}
impl Record for Projected {
    const SCHEMA: &'static str = "projected/1";
}

/// One chunk of the ids of the feedback received on a day (for exports).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayIds {
    pub ids: Vec<String>,
}
impl Record for DayIds {
    const SCHEMA: &'static str = "day-ids/1";
}

impl Record for IndexRoot {
    const SCHEMA: &'static str = "case-index-root/1";
}
impl Record for IndexChunk {
    const SCHEMA: &'static str = "case-index-chunk/1";
}

/// The time the first alert for a case was delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alerted {
    pub at: Timestamp,
}
impl Record for Alerted {
    const SCHEMA: &'static str = "alerted/1";
}

/// Store keys of the projections.
pub mod keys {
    use chrono::NaiveDate;

    /// The counter numbering the feed.
    pub const SEQUENCE: &str = "change-seq:feed";
    pub const STATE: &str = "projector:state";
    pub const INDEX_ROOT: &str = "case-index:root";

    pub fn change(seq: u64) -> String {
        format!("change:{seq:020}")
    }
    /// Claimed by the one projector that folds from `folded` during time window `window`;
    /// a projector that stopped midway frees the position when the window ends.
    pub fn claim(folded: u64, window: i64) -> String {
        format!("claim:projector:{folded}:{window}")
    }
    pub fn projected(feedback_id: &str) -> String {
        format!("projected:{feedback_id}")
    }
    pub fn day(date: NaiveDate) -> String {
        format!("metrics-day:{date}")
    }
    pub fn day_ids(date: NaiveDate, chunk: usize) -> String {
        format!("metrics-ids:{date}:{chunk}")
    }
    pub fn index_chunk(id: u64) -> String {
        format!("case-index:{id}")
    }
    pub fn alerted(case_id: &str) -> String {
        format!("alerted:{case_id}")
    }
}

/// How long one projector holds its claim, in seconds.
pub const CLAIM_WINDOW_SECS: i64 = 30;

/// The records the fold reads.
pub trait Source {
    type Error;
    fn feedback(&mut self, id: &str) -> Result<Option<Feedback>, Self::Error>;
    fn case(&mut self, id: &str) -> Result<Option<Case>, Self::Error>;
    fn alerted(&mut self, case_id: &str) -> Result<Option<Timestamp>, Self::Error>;
    fn projected(&mut self, feedback_id: &str) -> Result<Option<Projected>, Self::Error>;
    fn day(&mut self, date: NaiveDate) -> Result<Option<DayAggregate>, Self::Error>;
    fn day_ids(&mut self, date: NaiveDate, chunk: usize) -> Result<Option<DayIds>, Self::Error>;
    fn index_root(&mut self) -> Result<IndexRoot, Self::Error>;
    fn index_chunk(&mut self, id: u64) -> Result<IndexChunk, Self::Error>;
}

/// What one fold writes: the changed day aggregates and id lists, the index, and each
/// feedback's new contribution (`None`: the feedback is gone and counts no more).
#[derive(Debug)]
pub struct Batch {
    pub days: BTreeMap<NaiveDate, DayAggregate>,
    pub day_ids: BTreeMap<(NaiveDate, usize), DayIds>,
    pub index: IndexEdit,
    pub projected: Vec<(String, Option<Projected>)>,
}

/// The current projection of one piece of feedback, from its records.
pub fn projection_of<S: Source>(
    source: &mut S,
    feedback_id: &str,
) -> Result<Option<Projected>, S::Error> {
    let Some(feedback) = source.feedback(feedback_id)? else {
        return Ok(None);
    };
    let case_id = Case::id_for(&feedback.id, feedback.received_at);
    let case = source.case(&case_id)?;
    let alerted = match &case {
        Some(case) => source.alerted(&case.id)?,
        None => None,
    };
    Ok(Some(Projected {
        contribution: Contribution::of(&feedback, case.as_ref(), alerted),
        entry: case.as_ref().map(|c| IndexEntry::of(c, &feedback)),
    }))
}

/// Folds the changes of `feedback_ids` (duplicates are folded once) into the projections.
pub fn project<S: Source>(source: &mut S, feedback_ids: &[String]) -> Result<Batch, S::Error> {
    let mut ids: Vec<&String> = feedback_ids.iter().collect();
    ids.sort();
    ids.dedup();
    let mut batch = Batch {
        days: BTreeMap::new(),
        day_ids: BTreeMap::new(),
        index: IndexEdit::new(source.index_root()?),
        projected: Vec::new(),
    };
    for id in ids {
        let old = source.projected(id)?;
        let new = projection_of(source, id)?;
        if old == new {
            continue;
        }
        if let Some(old) = &old {
            day_of(source, &mut batch, old.contribution.day)?.apply(&old.contribution, -1);
            if let Some(entry) = &old.entry {
                batch
                    .index
                    .remove(&entry.key, &mut |c| source.index_chunk(c))?;
            }
        }
        if let Some(new) = &new {
            let day = new.contribution.day;
            let aggregate = day_of(source, &mut batch, day)?;
            aggregate.apply(&new.contribution, 1);
            if old.is_none() {
                // A new feedback: listed under its day, for exports.
                let chunk = (aggregate.listed / DAY_IDS_CHUNK as u64) as usize;
                aggregate.listed += 1;
                let list = match batch.day_ids.entry((day, chunk)) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => e.insert(source.day_ids(day, chunk)?.unwrap_or_default()),
                };
                if !list.ids.contains(id) {
                    list.ids.push(id.clone());
                }
            }
            if let Some(entry) = &new.entry {
                batch
                    .index
                    .insert(entry.clone(), &mut |c| source.index_chunk(c))?;
            }
        }
        batch.projected.push((id.clone(), new));
    }
    Ok(batch)
}

fn day_of<'b, S: Source>(
    source: &mut S,
    batch: &'b mut Batch,
    date: NaiveDate,
) -> Result<&'b mut DayAggregate, S::Error> {
    Ok(match batch.days.entry(date) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => e.insert(source.day(date)?.unwrap_or_else(|| DayAggregate::new(date))),
    })
}

/// What the projector does next with the feed, given its state and the feed's head.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Nothing to fold.
    UpToDate,
    /// Fold the changes numbered `from..=to`.
    Fold { from: u64, to: u64 },
}

/// The range of the next fold: after `state.folded`, up to `head`, at most [`MAX_BATCH`].
pub fn next_range(state: &ProjectorState, head: u64) -> Next {
    if head <= state.folded {
        return Next::UpToDate;
    }
    Next::Fold {
        from: state.folded + 1,
        to: head.min(state.folded + MAX_BATCH),
    }
}

/// Which changes of `from..=to` can be folded: up to the first missing one, unless that one
/// has been missing for [`GAP_TIMEOUT_SECS`]; returns the last number folded and the gap to
/// remember.
pub fn foldable(
    found: &[(u64, bool)],
    previous_gap: Option<(u64, Timestamp)>,
    now: Timestamp,
) -> (Option<u64>, Option<(u64, Timestamp)>) {
    let mut last = None;
    for &(seq, present) in found {
        if present {
            last = Some(seq);
            continue;
        }
        match previous_gap {
            Some((gap, since)) if gap == seq && (now - since).num_seconds() >= GAP_TIMEOUT_SECS => {
                last = Some(seq);
            }
            Some((gap, since)) if gap == seq => return (last, Some((gap, since))),
            _ => return (last, Some((seq, now))),
        }
    }
    (last, None)
}

#[cfg(test)]
mod tests;
