//! The fold over records held in memory: [`MemorySource`] holds what the store would (the
//! feedback, cases and alert times the fold reads, and the projections it keeps), answers
//! [`Source`] from maps, and applies each [`Batch`] back to them as the projector writes it
//! to the store.
//!
//! The projection tests fold generated histories through it, and the console benchmark builds
//! a large store's projections with it without going through HTTP.

use std::collections::BTreeMap;
use std::convert::Infallible;

use chrono::NaiveDate;

use super::index::{IndexChunk, IndexRoot};
use super::{Batch, DayIds, Projected, Source, project};
use crate::Timestamp;
use crate::case::Case;
use crate::feedback::Feedback;
use crate::metrics::DayAggregate;

/// Every record the fold reads, and the projections as the store would hold them.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    /// By feedback id.
    pub feedback: BTreeMap<String, Feedback>,
    /// By case id.
    pub cases: BTreeMap<String, Case>,
    /// The first delivered alert of each case, by case id.
    pub alerted: BTreeMap<String, Timestamp>,
    /// Each feedback's current contribution, by feedback id.
    pub projected: BTreeMap<String, Projected>,
    pub days: BTreeMap<NaiveDate, DayAggregate>,
    pub day_ids: BTreeMap<(NaiveDate, usize), DayIds>,
    pub root: IndexRoot,
    pub chunks: BTreeMap<u64, IndexChunk>,
}

impl Source for MemorySource {
    type Error = Infallible;
    fn feedback(&mut self, id: &str) -> Result<Option<Feedback>, Self::Error> {
        Ok(self.feedback.get(id).cloned())
    }
    fn case(&mut self, id: &str) -> Result<Option<Case>, Self::Error> {
        Ok(self.cases.get(id).cloned())
    }
    fn alerted(&mut self, case_id: &str) -> Result<Option<Timestamp>, Self::Error> {
        Ok(self.alerted.get(case_id).copied())
    }
    fn projected(&mut self, id: &str) -> Result<Option<Projected>, Self::Error> {
        Ok(self.projected.get(id).cloned())
    }
    fn day(&mut self, date: NaiveDate) -> Result<Option<DayAggregate>, Self::Error> {
        Ok(self.days.get(&date).cloned())
    }
    fn day_ids(&mut self, date: NaiveDate, chunk: usize) -> Result<Option<DayIds>, Self::Error> {
        Ok(self.day_ids.get(&(date, chunk)).cloned())
    }
    fn index_root(&mut self) -> Result<IndexRoot, Self::Error> {
        Ok(self.root.clone())
    }
    fn index_chunk(&mut self, id: u64) -> Result<IndexChunk, Self::Error> {
        Ok(self.chunks.get(&id).cloned().unwrap_or_default())
    }
}

impl MemorySource {
    /// Folds the changes of `feedback_ids` and applies the resulting batch.
    pub fn fold(&mut self, feedback_ids: &[String]) {
        let Ok(batch) = project(self, feedback_ids);
        self.apply(batch);
    }

    /// Applies what one fold writes, as the projector writes it to the store.
    pub fn apply(&mut self, batch: Batch) {
        self.days.extend(batch.days);
        self.day_ids.extend(batch.day_ids);
        let (changed, removed) = batch.index.changes();
        for (id, chunk) in changed {
            self.chunks.insert(id, chunk.clone());
        }
        for id in removed {
            self.chunks.remove(&id);
        }
        self.root = batch.index.root.clone();
        for (id, p) in batch.projected {
            match p {
                Some(p) => self.projected.insert(id, p),
                None => self.projected.remove(&id),
            };
        }
    }
}
