//! Everything held about one customer (`POST /v1/admin/customers/export`), and finding
//! their feedback for an export or an erasure.
//!
//! Finding is the one read that cannot name its keys: nothing indexes feedback by customer,
//! so the admin route lists the `feedback:` keys (an admin's occasional request, never an
//! agent's) and [`find`] reads them in batches. Everything else is reached from the
//! feedback: its case, the case's file and pages, and the notices and deliveries the file
//! lists.

use closeloop_domain::case::{Case, CaseEvent};
use closeloop_domain::delivery::Delivery;
use closeloop_domain::feedback::Feedback;
use closeloop_domain::keys;
use closeloop_domain::notice::Notice;
use closeloop_domain::privacy::CustomerSelector;
use serde::Serialize;

use super::cases::timeline;
use super::{get_many, records};
use crate::fold::records::{self as fold_records, CaseFile};
use crate::store::{Store, StoreError, decode};

/// Feedback records read per call while finding a customer's.
pub const FIND_BATCH: usize = 500;

/// What closeloop holds about a customer.
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    pub feedback: Vec<Feedback>,
    pub cases: Vec<Case>,
    pub events: Vec<CaseEvent>,
    pub notices: Vec<Notice>,
    pub deliveries: Vec<Delivery>,
}

/// The feedback of the customer `selector` names, among the records at `feedback_keys`
/// (records that cannot be read are not theirs to find).
pub fn find(
    store: &dyn Store,
    feedback_keys: &[String],
    selector: &CustomerSelector,
) -> Result<Vec<Feedback>, StoreError> {
    let mut found = Vec::new();
    for batch in feedback_keys.chunks(FIND_BATCH) {
        for (key, value) in batch.iter().zip(get_many(store, batch)?) {
            let Some(feedback) = value.and_then(|b| decode::<Feedback>(key, &b).ok()) else {
                continue;
            };
            if selector.matches(&feedback.customer) {
                found.push(feedback);
            }
        }
    }
    Ok(found)
}

/// Everything held about the customer whose feedback is `feedback`.
pub fn export(store: &dyn Store, feedback: Vec<Feedback>) -> Result<Held, StoreError> {
    let case_ids: Vec<String> = feedback
        .iter()
        .map(|f| Case::id_for(&f.id, f.received_at))
        .collect();
    let case_keys: Vec<String> = case_ids.iter().map(|id| keys::case(id)).collect();
    let file_keys: Vec<String> = case_ids
        .iter()
        .map(|id| fold_records::case_file(id))
        .collect();
    let cases: Vec<Case> = records::<Case>(store, &case_keys)?
        .into_iter()
        .flatten()
        .collect();
    let files: Vec<CaseFile> = records::<CaseFile>(store, &file_keys)?
        .into_iter()
        .flatten()
        .collect();
    let mut events = Vec::new();
    for case in &cases {
        events.extend(timeline(store, &case.id)?);
    }
    let notice_keys: Vec<String> = files
        .iter()
        .flat_map(|f| &f.notices)
        .map(|id| keys::notice(id))
        .collect();
    let delivery_keys: Vec<String> = files
        .iter()
        .flat_map(|f| &f.deliveries)
        .map(|id| keys::delivery(id))
        .collect();
    Ok(Held {
        notices: records::<Notice>(store, &notice_keys)?
            .into_iter()
            .flatten()
            .collect(),
        deliveries: records::<Delivery>(store, &delivery_keys)?
            .into_iter()
            .flatten()
            .collect(),
        feedback,
        cases,
        events,
    })
}
