//! Read models kept up to date as things happen: the metrics' day aggregates and the case
//! index, so that neither the dashboard nor the inbox scans the store.
//!
//! Every fold of the log (closeloop-workflow) recomputes, for each feedback its commands
//! touched, what that feedback contributes now ([`Contribution`](crate::metrics::Contribution),
//! [`IndexEntry`]) from its current records, takes the previous contribution away and adds
//! the new one, in the same write as the records. Since only current records count, folding a
//! feedback twice changes nothing, and a case that reopens or feedback triaged again is simply
//! counted anew.
//!
//! [`project`] is that step as a plain function over a [`Source`] of records; [`memory`] holds
//! records in memory for tests and benchmarks.

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

/// How many feedback ids one chunk of a day's list holds: each arrival rewrites the day's last
/// chunk, so it is kept small (about 10 KB).
pub const DAY_IDS_CHUNK: usize = 250;

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

/// Store keys of the projections.
pub mod keys {
    use chrono::NaiveDate;

    pub const INDEX_ROOT: &str = "case-index:root";

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
}

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

#[cfg(test)]
mod tests;
