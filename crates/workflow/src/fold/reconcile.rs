//! What tick saw on the outbox, settled by the fold.
//!
//! Sending is never folded: tick attempts deliveries under their leases
//! ([`crate::attempt`]) and then submits one [`Command::Reconcile`](super::Command) naming
//! what it saw. The fold reads each delivery as it is *now*, not as tick saw it, and decides:
//! - still pending: back on the schedule at its next attempt, or when its lease runs out (a
//!   first attempt handed over but never made is attempted by tick after that);
//! - delivered: off the schedule; a delivered alert sets its case's `alerted_at` (the first
//!   delivery's time, so the alert-latency metric reads the same however late tick saw it);
//! - dead-lettered: off the schedule, and operations told once (the notice's id derives from
//!   the delivery and its last attempt);
//! - anything else final: off the schedule.
//!
//! Two ticks that saw the same deliveries therefore fold to the same records: the second
//! reconcile finds the first's outcome and changes nothing (a delivery the first put back on
//! the schedule at a later second and the second saw finished stays there until a tick looks
//! at it then and drops it).

use closeloop_domain::Timestamp;
use closeloop_domain::case::Case;
use closeloop_domain::delivery::{Delivery, DeliveryStatus};
use closeloop_domain::keys;
use closeloop_domain::notice::{Notice, NoticeKind};
use serde::{Deserialize, Serialize};

use super::records::{self, CaseFile};
use super::{Folder, Verdict, notices, outbox};
use crate::store::StoreError;

/// A delivery tick saw, and the second of the schedule it saw it at (`None`: seen elsewhere,
/// by the request that made its first attempt; its schedule entry is then left for tick).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub id: String,
    #[serde(default)]
    pub at: Option<i64>,
}

pub fn reconcile(f: &mut Folder<'_, '_>, seen: &[Seen]) -> Result<Verdict, StoreError> {
    let keys: Vec<String> = seen.iter().map(|s| keys::delivery(&s.id)).collect();
    f.tx.prefetch(&keys)?;
    let (mut rescheduled, mut dropped, mut operations) = (0, 0, 0);
    for s in seen {
        let delivery: Option<Delivery> = f.tx.get(&keys::delivery(&s.id))?;
        let pending = delivery
            .as_ref()
            .filter(|d| d.status == DeliveryStatus::Pending);
        match (s.at, pending) {
            (Some(second), Some(d)) => {
                let at = next_look(d);
                outbox::unschedule(f, &s.id, second)?;
                outbox::schedule(f, &s.id, at)?;
                rescheduled += 1;
                continue;
            }
            (Some(second), None) => {
                outbox::unschedule(f, &s.id, second)?;
                dropped += 1;
            }
            (None, _) => {}
        }
        match delivery {
            Some(d) if d.status == DeliveryStatus::Delivered => alerted(f, &d)?,
            Some(d) if d.status == DeliveryStatus::DeadLettered => {
                operations += u32::from(tell_operations(f, &d)?);
            }
            _ => {}
        }
    }
    Ok(Verdict::Reconciled {
        rescheduled,
        dropped,
        operations,
    })
}

/// When tick should look at a pending delivery again: its next attempt, or the end of the
/// lease someone holds on it.
pub fn next_look(d: &Delivery) -> Timestamp {
    let leased = d.lease.as_ref().map(|l| l.until);
    leased.map_or(d.next_attempt_at, |until| until.max(d.next_attempt_at))
}

/// A delivered alert: its cases' first alert, if none was delivered earlier.
fn alerted(f: &mut Folder<'_, '_>, d: &Delivery) -> Result<(), StoreError> {
    let cases = match d.kind {
        NoticeKind::CaseOpened => vec![d.case_id.clone()],
        NoticeKind::Digest => {
            f.tx.get::<Notice>(&keys::notice(&d.notice_id))?
                .map(|n| n.cases)
                .unwrap_or_default()
        }
        _ => return Ok(()),
    };
    let at = d.delivered_at.unwrap_or(f.now);
    for case_id in cases {
        let key = records::case_file(&case_id);
        let mut file: CaseFile = f.tx.get(&key)?.unwrap_or_else(|| CaseFile::new(&case_id));
        if file.alerted_at.is_some_and(|first| first <= at) {
            continue;
        }
        file.alerted_at = Some(at);
        f.tx.put(key, &file);
        if let Some(case) = f.tx.get::<Case>(&keys::case(&case_id))? {
            f.touch(&case.feedback_id);
        }
    }
    Ok(())
}

/// Queues the operations notice of a dead letter (not of a failed operations notice: that
/// would tell a broken channel about itself forever). Whether it is new.
fn tell_operations(f: &mut Folder<'_, '_>, d: &Delivery) -> Result<bool, StoreError> {
    if d.kind == NoticeKind::DeliveryFailed {
        return Ok(false);
    }
    let about = format!(
        "{} via {} to {} (delivery {}{}) was given up after {} attempt(s): {}",
        d.kind.as_str(),
        d.channel.as_str(),
        d.to.key(),
        d.id,
        if d.case_id.is_empty() {
            String::new()
        } else {
            format!(", case {}", d.case_id)
        },
        d.attempts,
        d.last_error.as_deref().unwrap_or("unknown error"),
    );
    let at = d.history.last().map_or(d.next_attempt_at, |a| a.at);
    let notice = Notice::delivery_failed(&d.id, &d.case_id, about, at);
    if f.tx.get::<Notice>(&keys::notice(&notice.id))?.is_some() {
        return Ok(false);
    }
    notices::queue(f, &notice, None, None, None)?;
    Ok(true)
}
