//! `GET /v1/metrics`: the loop measured, from the day aggregates the fold keeps current (one
//! record per day of the period, whatever the store holds), with how far the fold is behind
//! the log.

use chrono::NaiveDate;
use closeloop_domain::Timestamp;
use closeloop_domain::feedback::Feedback;
use closeloop_domain::keys;
use closeloop_domain::metrics::{self, DayAggregate, MetricsQuery, report::Report};
use closeloop_domain::projection::keys as projection_keys;
use serde::Serialize;

use super::{Progress, progress, records};
use crate::store::{Store, StoreError};

/// How much of a comment a topic example shows.
pub const EXAMPLE_CHARS: usize = 240;

#[derive(Debug, Clone, Serialize)]
pub struct MetricsReport {
    #[serde(flatten)]
    pub report: Report,
    pub projection: Progress,
}

/// The day aggregates of `from..=to` that exist, in one read.
pub fn days(
    store: &dyn Store,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DayAggregate>, StoreError> {
    let keys: Vec<String> = metrics::report::days(from, to)
        .into_iter()
        .map(projection_keys::day)
        .collect();
    Ok(records::<DayAggregate>(store, &keys)?
        .into_iter()
        .flatten()
        .collect())
}

/// The report of `query` at `now`, each topic example's comment read from its feedback (an
/// erased customer's comment is gone from there, and so from here).
pub fn report(
    store: &dyn Store,
    query: &MetricsQuery,
    now: Timestamp,
) -> Result<MetricsReport, StoreError> {
    let projection = progress(store)?;
    let current = days(store, query.from, query.to)?;
    let (from, to) = query.previous();
    let previous = days(store, from, to)?;
    let mut report = metrics::report(query, &current, &previous, now);
    let keys: Vec<String> = report
        .topics
        .iter()
        .flat_map(|t| &t.examples)
        .map(|e| keys::feedback(&e.feedback_id))
        .collect();
    let mut comments = records::<Feedback>(store, &keys)?.into_iter().map(|fb| {
        fb.and_then(|f| f.comment)
            .map(|c| c.chars().take(EXAMPLE_CHARS).collect())
    });
    for topic in &mut report.topics {
        for example in &mut topic.examples {
            example.comment = comments.next().flatten();
        }
        topic.examples.retain(|e| e.comment.is_some());
    }
    Ok(MetricsReport { report, projection })
}
