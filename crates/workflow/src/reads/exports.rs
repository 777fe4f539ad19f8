//! `GET /v1/exports/{feedback,cases}.{csv,json}`: pages of rows from the days' id lists the
//! fold keeps, filtered by each feedback's projected contribution, at most the query's limit
//! per page with a cursor to the rest.

use closeloop_domain::case::Case;
use closeloop_domain::export::{CaseRow, Cursor, Dataset, ExportQuery, FeedbackRow, Rows};
use closeloop_domain::feedback::Feedback;
use closeloop_domain::keys;
use closeloop_domain::metrics::DayAggregate;
use closeloop_domain::projection::{self, DayIds, Projected, keys as projection_keys};

use super::metrics::days;
use super::records;
use crate::store::{Store, StoreError};

/// The page of rows from the query's cursor on, and the cursor of the next page.
pub fn rows(
    store: &dyn Store,
    query: &ExportQuery,
    dataset: Dataset,
) -> Result<(Rows, Option<Cursor>), StoreError> {
    let mut page = Page {
        dataset,
        feedback: Vec::new(),
        cases: Vec::new(),
    };
    let start = query.cursor;
    for day in days(store, query.period.from, query.period.to)? {
        if start.is_some_and(|c| day.date < c.date) {
            continue;
        }
        let skip = start.filter(|c| c.date == day.date).map_or(0, |c| c.offset);
        let ids = day_ids(store, &day)?;
        let mut offset = skip;
        while offset < ids.len() {
            if page.len() >= query.limit {
                let next = Cursor {
                    date: day.date,
                    offset,
                };
                return Ok((page.rows(), Some(next)));
            }
            let take = (query.limit - page.len()).min(ids.len() - offset);
            page.add(store, query, &ids[offset..offset + take])?;
            offset += take;
        }
    }
    Ok((page.rows(), None))
}

/// The feedback ids received on a day, in the order they were first counted.
fn day_ids(store: &dyn Store, day: &DayAggregate) -> Result<Vec<String>, StoreError> {
    let chunks = day.listed.div_ceil(projection::DAY_IDS_CHUNK as u64) as usize;
    let keys: Vec<String> = (0..chunks)
        .map(|c| projection_keys::day_ids(day.date, c))
        .collect();
    Ok(records::<DayIds>(store, &keys)?
        .into_iter()
        .flatten()
        .flat_map(|l| l.ids)
        .collect())
}

struct Page {
    dataset: Dataset,
    feedback: Vec<FeedbackRow>,
    cases: Vec<CaseRow>,
}

impl Page {
    /// Rows so far.
    fn len(&self) -> usize {
        self.feedback.len() + self.cases.len()
    }

    /// Adds the rows of `ids` the query selects (three reads for the lot).
    fn add(
        &mut self,
        store: &dyn Store,
        query: &ExportQuery,
        ids: &[String],
    ) -> Result<(), StoreError> {
        let projected_keys: Vec<String> = ids
            .iter()
            .map(|id| projection_keys::projected(id))
            .collect();
        let projected = records::<Projected>(store, &projected_keys)?;
        let selected: Vec<&String> = ids
            .iter()
            .zip(projected)
            .filter(|(_, p)| p.as_ref().is_some_and(|p| query.selects(&p.contribution)))
            .map(|(id, _)| id)
            .collect();
        let feedback_keys: Vec<String> = selected.iter().map(|id| keys::feedback(id)).collect();
        let feedback: Vec<Feedback> = records::<Feedback>(store, &feedback_keys)?
            .into_iter()
            .flatten()
            .collect();
        let case_keys: Vec<String> = feedback
            .iter()
            .map(|f| keys::case(&Case::id_for(&f.id, f.received_at)))
            .collect();
        let cases = records::<Case>(store, &case_keys)?;
        for (feedback, case) in feedback.iter().zip(cases) {
            match (self.dataset, case) {
                (Dataset::Feedback, case) => self
                    .feedback
                    .push(FeedbackRow::new(feedback, case.as_ref())),
                (Dataset::Cases, Some(case)) => self.cases.push(CaseRow::new(&case, feedback)),
                (Dataset::Cases, None) => {}
            }
        }
        Ok(())
    }

    fn rows(self) -> Rows {
        match self.dataset {
            Dataset::Feedback => Rows::Feedback(self.feedback),
            Dataset::Cases => Rows::Cases(self.cases),
        }
    }
}
