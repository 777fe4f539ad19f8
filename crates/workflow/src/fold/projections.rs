//! The read models (the metrics' day aggregates and id lists, the case index) recomputed for
//! the feedback a fold touched, in the fold's own write: they can never disagree with the
//! records they are read from. The fold itself is `closeloop_domain::projection::project`,
//! over the fold's unit of work.

use chrono::NaiveDate;
use closeloop_domain::case::Case;
use closeloop_domain::feedback::Feedback;
use closeloop_domain::metrics::DayAggregate;
use closeloop_domain::projection::index::{IndexChunk, IndexRoot};
use closeloop_domain::projection::{self, DayIds, Projected, Source, keys};
use closeloop_domain::{Timestamp, keys as store_keys};

use super::records::{CaseFile, case_file};
use crate::store::StoreError;
use crate::tx::Tx;

/// Recomputes the read models of `feedback_ids` and puts the changes into `tx`.
pub fn project(tx: &mut Tx<'_>, feedback_ids: &[String]) -> Result<(), StoreError> {
    if feedback_ids.is_empty() {
        return Ok(());
    }
    let batch = projection::project(&mut TxSource(tx), feedback_ids)?;
    for day in batch.days.values() {
        tx.put(keys::day(day.date), day);
    }
    for ((date, chunk), ids) in &batch.day_ids {
        tx.put(keys::day_ids(*date, *chunk), ids);
    }
    let (changed, removed) = batch.index.changes();
    for (id, chunk) in changed {
        tx.put(keys::index_chunk(id), chunk);
    }
    // A fold never deletes: a chunk the root no longer lists is emptied instead.
    for id in removed {
        tx.put(keys::index_chunk(id), &IndexChunk::default());
    }
    tx.put(keys::INDEX_ROOT, &batch.index.root);
    for (feedback_id, projected) in &batch.projected {
        if let Some(p) = projected {
            tx.put(keys::projected(feedback_id), p);
        }
    }
    Ok(())
}

/// The unit of work as the projection's source of records.
pub struct TxSource<'a, 's>(pub &'a mut Tx<'s>);

impl Source for TxSource<'_, '_> {
    type Error = StoreError;
    fn feedback(&mut self, id: &str) -> Result<Option<Feedback>, StoreError> {
        self.0.get(&store_keys::feedback(id))
    }
    fn case(&mut self, id: &str) -> Result<Option<Case>, StoreError> {
        self.0.get(&store_keys::case(id))
    }
    fn alerted(&mut self, case_id: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .0
            .get::<CaseFile>(&case_file(case_id))?
            .and_then(|f| f.alerted_at))
    }
    fn projected(&mut self, feedback_id: &str) -> Result<Option<Projected>, StoreError> {
        self.0.get(&keys::projected(feedback_id))
    }
    fn day(&mut self, date: NaiveDate) -> Result<Option<DayAggregate>, StoreError> {
        self.0.get(&keys::day(date))
    }
    fn day_ids(&mut self, date: NaiveDate, chunk: usize) -> Result<Option<DayIds>, StoreError> {
        self.0.get(&keys::day_ids(date, chunk))
    }
    fn index_root(&mut self) -> Result<IndexRoot, StoreError> {
        Ok(self.0.get(keys::INDEX_ROOT)?.unwrap_or_default())
    }
    fn index_chunk(&mut self, id: u64) -> Result<IndexChunk, StoreError> {
        Ok(self.0.get(&keys::index_chunk(id))?.unwrap_or_default())
    }
}
