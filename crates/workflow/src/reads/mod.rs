//! Reads: what the agent API, the console, the metrics and the exports show, read from the
//! records and read models the fold keeps current. A read never writes and never lists the
//! store: it reads keys it can name (the case index, a case's file, a day's aggregate) and
//! batches them (`get-many`).
//!
//! - [`cases`]: the inbox (`GET /v1/cases`) and a case with its timeline.
//! - [`metrics`]: the metrics report; [`exports`]: the export pages.
//! - [`customers`]: everything held about one customer (the export an erasure is checked
//!   against).

pub mod cases;
pub mod customers;
pub mod exports;
pub mod metrics;

use serde::Serialize;

use crate::log::{self, LogState};
use crate::store::{Store, StoreError, get_record, read_counter};

/// How far the fold is behind the log: commands taken but not folded yet. Every fold keeps
/// the read models current, so a read that finds `behind` at 0 sees everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub folded: u64,
    pub head: u64,
    pub behind: u64,
}

/// The log's progress, from two reads.
pub fn progress(store: &dyn Store) -> Result<Progress, StoreError> {
    let head = u64::try_from(read_counter(store, log::SEQ_KEY)?).unwrap_or(0);
    let folded = get_record::<LogState, _>(store, log::STATE_KEY)?.map_or(0, |s| s.folded);
    Ok(Progress {
        folded,
        head,
        behind: head.saturating_sub(folded),
    })
}

/// `store.get_many(keys)`, without a call for no keys.
pub(crate) fn get_many(
    store: &dyn Store,
    keys: &[String],
) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    store.get_many(keys)
}

/// The records at `keys` (absent ones are `None`), in one read.
pub(crate) fn records<T: closeloop_domain::envelope::Record>(
    store: &dyn Store,
    keys: &[String],
) -> Result<Vec<Option<T>>, StoreError> {
    keys.iter()
        .zip(get_many(store, keys)?)
        .map(|(key, value)| value.map(|b| crate::store::decode(key, &b)).transpose())
        .collect()
}

#[cfg(test)]
mod tests;
