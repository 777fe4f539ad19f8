//! The inbox and a case page.
//!
//! The inbox reads the case index (open cases first, most urgent first) from its root and
//! only the chunks it shows; an unfiltered inbox counts its totals from the root alone. A
//! case page shows the case, its feedback and its timeline: the events of its file and
//! pages and every attempt of its deliveries (from their history), in time order, with the
//! kinds and wording the API has always shown.

use closeloop_domain::Timestamp;
use closeloop_domain::api::{self, CaseFilter, CaseSummary, CaseView};
use closeloop_domain::case::{Case, CaseEvent, EventKind};
use closeloop_domain::delivery::{Delivery, DeliveryStatus};
use closeloop_domain::feedback::Feedback;
use closeloop_domain::projection::index::{IndexChunk, IndexRoot};
use closeloop_domain::projection::keys as index_keys;
use closeloop_domain::{ids, keys};
use serde::Serialize;

use super::{Progress, progress, records};
use crate::fold::records::{self as fold_records, CaseFile, EventPage};
use crate::store::{Store, StoreError, get_record};

/// `GET /v1/cases`.
#[derive(Debug, Clone, Serialize)]
pub struct CaseList {
    pub cases: Vec<CaseSummary>,
    /// How many cases pass the filter.
    pub total: usize,
    pub recovered_detractors: usize,
    pub projection: Progress,
}

/// The cases `filter` selects, most urgent first, at most `filter.limit`.
pub fn list(
    store: &dyn Store,
    filter: &CaseFilter,
    now: Timestamp,
) -> Result<CaseList, StoreError> {
    let projection = progress(store)?;
    let root: IndexRoot = get_record(store, index_keys::INDEX_ROOT)?.unwrap_or_default();
    let chunks: Vec<u64> = if filter.open_only() {
        root.open_chunks().collect()
    } else {
        root.chunks.iter().map(|c| c.id).collect()
    };
    // Every open case: counted from the root, and only the chunks shown are read.
    let counted = filter.all_open();
    let (mut total, mut recovered) = if counted { root.open_counts() } else { (0, 0) };
    let mut page = Vec::new();
    for id in chunks {
        if counted && page.len() >= filter.limit {
            break;
        }
        let chunk: IndexChunk =
            get_record(store, &index_keys::index_chunk(id))?.unwrap_or_default();
        for entry in chunk.entries {
            if !filter.matches(&entry, now) {
                continue;
            }
            if !counted {
                total += 1;
                recovered += usize::from(entry.recovered);
            }
            if page.len() < filter.limit {
                page.push(entry);
            }
        }
    }
    let case_keys: Vec<String> = page.iter().map(|e| keys::case(e.case_id())).collect();
    let feedback_keys: Vec<String> = page
        .iter()
        .map(|e| keys::feedback(&e.feedback_id))
        .collect();
    let cases = records::<Case>(store, &case_keys)?;
    let feedback = records::<Feedback>(store, &feedback_keys)?;
    let cases = cases
        .iter()
        .zip(&feedback)
        .filter_map(|(case, fb)| Some(CaseSummary::new(case.as_ref()?, fb.as_ref(), now)))
        .collect();
    Ok(CaseList {
        cases,
        total,
        recovered_detractors: recovered,
        projection,
    })
}

/// `GET /v1/cases/{id}`: the case, its feedback and its timeline; `None` if there is no
/// such case.
pub fn view(store: &dyn Store, id: &str) -> Result<Option<CaseView>, StoreError> {
    let Some(case) = get_record::<Case, _>(store, &keys::case(id))? else {
        return Ok(None);
    };
    let feedback = get_record(store, &keys::feedback(&case.feedback_id))?;
    let timeline = timeline(store, &case.id)?;
    Ok(Some(CaseView {
        case,
        feedback,
        timeline,
    }))
}

/// A case's timeline, oldest first: its file's events and pages, and its deliveries'
/// attempts.
pub fn timeline(store: &dyn Store, case_id: &str) -> Result<Vec<CaseEvent>, StoreError> {
    let Some(file) = get_record::<CaseFile, _>(store, &fold_records::case_file(case_id))? else {
        return Ok(Vec::new());
    };
    let page_keys: Vec<String> = (1..=file.pages)
        .map(|n| fold_records::case_file_page(case_id, n))
        .collect();
    let delivery_keys: Vec<String> = file.deliveries.iter().map(|d| keys::delivery(d)).collect();
    let mut events = Vec::new();
    for page in records::<EventPage>(store, &page_keys)?
        .into_iter()
        .flatten()
    {
        events.extend(page.events);
    }
    events.extend(file.events);
    for delivery in records::<Delivery>(store, &delivery_keys)?
        .into_iter()
        .flatten()
    {
        events.extend(attempt_events(&delivery, case_id));
    }
    api::sort_timeline(&mut events);
    Ok(events)
}

/// The timeline events of a delivery's attempts, worded as dispatch has always recorded
/// them.
pub fn attempt_events(delivery: &Delivery, case_id: &str) -> Vec<CaseEvent> {
    let what = format!(
        "{} via {} to {}",
        delivery.kind.as_str(),
        delivery.channel.as_str(),
        delivery.to.key()
    );
    let history = &delivery.history;
    history
        .iter()
        .enumerate()
        .map(|(i, attempt)| {
            let error = attempt.error.as_deref().unwrap_or("");
            // When the next attempt came, or is due if none has been made yet.
            let next = history
                .get(i + 1)
                .map_or(delivery.next_attempt_at, |later| later.at);
            let (kind, detail) = match attempt.status {
                DeliveryStatus::Delivered => (
                    EventKind::Delivered,
                    format!("{what} delivered (attempt {})", attempt.attempt),
                ),
                DeliveryStatus::Pending => (
                    EventKind::DeliveryFailed,
                    format!(
                        "{what} attempt {} failed ({error}); next attempt at {}",
                        attempt.attempt,
                        next.to_rfc3339()
                    ),
                ),
                DeliveryStatus::Cancelled => {
                    (EventKind::AlertQueued, format!("{what} cancelled: {error}"))
                }
                _ => (
                    EventKind::DeadLettered,
                    format!("{what} given up after attempt {}: {error}", attempt.attempt),
                ),
            };
            let number = attempt.attempt.to_string();
            CaseEvent {
                id: ids::derived(attempt.at, &["delivery", &delivery.id, &number]).to_string(),
                case_id: case_id.to_owned(),
                at: attempt.at,
                actor: "dispatch".into(),
                kind,
                from: None,
                to: None,
                detail,
            }
        })
        .collect()
}
