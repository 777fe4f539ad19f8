//! Dispatch's side of the loop, outside the fold: attempting deliveries (sending is never
//! folded) and telling the fold what was seen.
//!
//! - [`Outbox::hand_over`]: the deliveries a fold leased to the request that folded, each
//!   attempted under that lease, their outcomes written as the providers answer. A dead
//!   letter among them is reconciled at once, so operations hear of it without waiting for
//!   tick.
//! - [`Outbox::tick`]: first the escalations and digests that are due, as commands (only when
//!   a read finds one to write, so a quiet tick writes nothing); then the deliveries due on
//!   the outbox's schedule, at most [`MAX_DUE_PER_TICK`], each attempted if it is due and free
//!   of leases (two writes: the lease, the outcome); then ONE [`Command::Reconcile`] naming
//!   everything seen, which the fold settles against the records as they are by then. A
//!   delivery whose first attempt was never made (the requester died, its hand-over failed)
//!   is seen leased, put back on the schedule at the lease's end, and attempted then.
//!
//! Every fold's hand-over that lands here (an escalation's deliveries, an operations notice,
//! or other commands a tick's fold carried) is attempted in place: dispatch is the sender.
//! Provider calls go through a [`Courier`] (Spin's outbound HTTP in the edge crate).

use std::collections::{BTreeMap, HashSet};

use closeloop_domain::Timestamp;
use closeloop_domain::case::Case;
use closeloop_domain::delivery::{Delivery, DeliveryStatus, Failure};
use closeloop_domain::dispatch::directory::Team;
use closeloop_domain::dispatch::escalation::MAX_ESCALATION_LEVELS;
use closeloop_domain::dispatch::store as dispatch_store;
use closeloop_domain::keys;
use closeloop_domain::notice::{Notice, NoticeKind};
use closeloop_domain::projection::index::{IndexChunk, IndexRoot, SortKey};
use closeloop_domain::projection::keys as projection_keys;
use serde::Serialize;

use crate::attempt::{self, Outcome};
use crate::env::Env;
use crate::fold::reconcile::Seen;
use crate::fold::records::{DIGEST_TARGETS, DigestTargets};
use crate::fold::{Closeloop, Command, Verdict, digests, escalation, outbox};
use crate::log::{self, LogError};
use crate::store::{Store, StoreError, get_record, get_records};

/// The most scheduled deliveries one tick looks at; the next tick takes the rest. Each may
/// cost a provider call, and the scheduler waits for tick's answer.
pub const MAX_DUE_PER_TICK: usize = 100;
/// The most cases past their due time one tick considers for escalation, from the front of
/// the case index (the most overdue first).
pub const MAX_ESCALATION_SCAN: usize = 500;

/// Told the results of deliveries sent together, by their index.
pub type Answered<'a> = dyn FnMut(Vec<(usize, Result<(), Failure>)>) + 'a;

/// Sends deliveries through their providers.
pub trait Courier {
    /// Sends one delivery: the message it keeps (`delivery.rendered`) if a first attempt
    /// failed, else the one rendered now, which a failure carries back to be kept.
    fn send(&self, delivery: &Delivery) -> Result<(), Failure>;
    /// Sends several (a hand-over's), telling `answered` each result (by the delivery's index)
    /// as soon as it is known, several at once when they came together; one after the other
    /// unless the courier can do better.
    fn send_all(&self, deliveries: &[&Delivery], answered: &mut Answered<'_>) {
        for (i, d) in deliveries.iter().enumerate() {
            answered(vec![(i, self.send(d))]);
        }
    }
    /// Hears what became of each attempt (the edge logs it).
    fn attempted(&self, _id: &str, _outcome: &Result<Outcome, StoreError>) {}
}

/// What a tick or a hand-over did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub escalations: usize,
    pub digests: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub dead_lettered: usize,
    pub cancelled: usize,
    /// Seen on the schedule, not due yet: put back at its next attempt.
    pub not_due: usize,
    /// Leased to another attempt (seen so, or lost the race for it): looked at again when
    /// the lease ends.
    pub leased: usize,
    /// Dead letters newly told to operations.
    pub operations: u32,
    /// More was due than one tick takes: the next tick goes on.
    pub more: bool,
}

/// The outbox of one app: its store, clock, fold and providers.
pub struct Outbox<'a> {
    pub store: &'a dyn Store,
    pub env: &'a dyn Env,
    pub fold: &'a Closeloop,
    pub courier: &'a dyn Courier,
}

impl Outbox<'_> {
    /// Attempts the deliveries a fold leased to `token`.
    pub fn hand_over(&self, token: &str, deliveries: &[String]) -> Result<Report, LogError> {
        let mut report = Report::default();
        self.attempt_handed_over(token, deliveries, &mut report)?;
        Ok(report)
    }

    /// Escalates, sends digests, and works through what is due on the schedule.
    pub fn tick(&self) -> Result<Report, LogError> {
        let mut report = Report::default();
        let cases = escalations_due(self.store, self.env.now())?;
        if !cases.is_empty()
            && let Verdict::Escalated { notices } =
                self.submit(Command::Escalate { cases }, &mut report)?
        {
            report.escalations = notices.len();
        }
        if digests_due(self.store, self.env.now())?
            && let Verdict::Digested { notices } = self.submit(Command::Digests, &mut report)?
        {
            report.digests = notices.len();
        }
        let now = self.env.now();
        let mut due = outbox::due(self.store, now, MAX_DUE_PER_TICK + 1)?;
        report.more = due.len() > MAX_DUE_PER_TICK;
        due.truncate(MAX_DUE_PER_TICK);
        if due.is_empty() {
            return Ok(report);
        }
        let keys: Vec<String> = due.iter().map(|s| keys::delivery(&s.id)).collect();
        for (seen, delivery) in due
            .iter()
            .zip(get_records::<Delivery, _>(self.store, &keys)?)
        {
            match delivery {
                Some(d) if d.status != DeliveryStatus::Pending => {}
                Some(d) if !d.is_due(now) => report.not_due += 1,
                Some(d) if !d.lease_free(now) => report.leased += 1,
                Some(_) => {
                    let outcome =
                        attempt::attempt(self.store, self.env, &seen.id, |d| self.courier.send(d));
                    self.attempted(&seen.id, outcome, &mut report);
                }
                None => {}
            }
        }
        self.submit(Command::Reconcile { deliveries: due }, &mut report)?;
        Ok(report)
    }

    /// Attempts each delivery under `token`'s lease; reconciles the dead letters at once.
    fn attempt_handed_over(
        &self,
        token: &str,
        deliveries: &[String],
        report: &mut Report,
    ) -> Result<(), LogError> {
        let outcomes =
            attempt::attempt_held(self.store, self.env, token, deliveries, |ds, tell| {
                self.courier.send_all(ds, tell)
            });
        let outcomes = match outcomes {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e); deliveries.len()],
        };
        let mut dead = Vec::new();
        for (id, outcome) in deliveries.iter().zip(outcomes) {
            if let Some(d) = self.attempted(id, outcome, report)
                && d.status == DeliveryStatus::DeadLettered
                && d.kind != NoticeKind::DeliveryFailed
            {
                dead.push(Seen {
                    id: id.clone(),
                    at: None,
                });
            }
        }
        if !dead.is_empty() {
            self.submit(Command::Reconcile { deliveries: dead }, report)?;
        }
        Ok(())
    }

    /// Submits `command`; if this request folded, attempts what the fold handed over.
    fn submit(&self, command: Command, report: &mut Report) -> Result<Verdict, LogError> {
        let done = log::submit(self.store, self.env, self.fold, command)?;
        if let Verdict::Reconciled { operations, .. } = &done.verdict {
            report.operations += operations;
        }
        if let Some(handover) = &done.folded {
            self.attempt_handed_over(&handover.token, &handover.deliveries, report)?;
        }
        Ok(done.verdict)
    }

    /// Counts an attempt's outcome; the delivery as recorded if the attempt was made.
    fn attempted(
        &self,
        id: &str,
        outcome: Result<Outcome, StoreError>,
        report: &mut Report,
    ) -> Option<Delivery> {
        self.courier.attempted(id, &outcome);
        let d = match outcome {
            Ok(Outcome::Recorded(d)) => d,
            // Another attempt held or took the lease first.
            Ok(Outcome::Skipped | Outcome::LeaseLost) => {
                report.leased += 1;
                return None;
            }
            Err(_) => return None,
        };
        *match d.status {
            DeliveryStatus::Delivered => &mut report.delivered,
            DeliveryStatus::Pending => &mut report.retrying,
            DeliveryStatus::DeadLettered => &mut report.dead_lettered,
            _ => &mut report.cancelled,
        } += 1;
        Some(*d)
    }
}

/// The key of the notice escalating case `case_id` (opened at `opened`) to `level`.
fn escalation_notice(case_id: &str, opened: Timestamp, level: u32) -> String {
    keys::notice(&Notice::id_for(
        case_id,
        opened,
        NoticeKind::Escalation,
        level,
    ))
}

/// The cases with an escalation to write at `now`: from the front of the case index (open
/// cases past their next due time, at most [`MAX_ESCALATION_SCAN`]), those with a level
/// reached that their team's chain has and whose notice is not written. Reads only: a case
/// whose every level is written is not even read (the notices' ids derive from the index).
pub fn escalations_due(store: &dyn Store, now: Timestamp) -> Result<Vec<String>, StoreError> {
    let root: IndexRoot = get_record(store, projection_keys::INDEX_ROOT)?.unwrap_or_default();
    let mut front: Vec<SortKey> = Vec::new();
    'chunks: for id in root.open_chunks() {
        let chunk: IndexChunk =
            get_record(store, &projection_keys::index_chunk(id))?.unwrap_or_default();
        for entry in chunk.entries {
            if entry.key.closed || entry.key.due > now || front.len() == MAX_ESCALATION_SCAN {
                break 'chunks;
            }
            front.push(entry.key);
        }
    }
    let notice_keys: Vec<String> = front
        .iter()
        .flat_map(|k| (1..=MAX_ESCALATION_LEVELS).map(|l| escalation_notice(&k.id, k.opened, l)))
        .collect();
    let written: HashSet<String> = if notice_keys.is_empty() {
        HashSet::new()
    } else {
        notice_keys
            .iter()
            .zip(store.get_many(&notice_keys)?)
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| k.clone())
            .collect()
    };
    let missing = |id: &str, opened: Timestamp, level: u32| {
        !written.contains(&escalation_notice(id, opened, level))
    };
    let case_keys: Vec<String> = front
        .iter()
        .filter(|k| (1..=MAX_ESCALATION_LEVELS).any(|l| missing(&k.id, k.opened, l)))
        .map(|k| keys::case(&k.id))
        .collect();
    let cases: Vec<Case> = get_records(store, &case_keys)?
        .into_iter()
        .flatten()
        .collect();
    let teams = records_by_key::<Team>(store, cases.iter().map(dispatch_store::case_team))?;
    Ok(cases
        .iter()
        .filter(|c| {
            let team = teams.get(&dispatch_store::case_team(c));
            escalation::levels(c, team, now).any(|l| missing(&c.id, c.opened_at, l))
        })
        .map(|c| c.id.clone())
        .collect())
}

/// Whether some recipient's digest is due at `now` and not written yet (reads only).
pub fn digests_due(store: &dyn Store, now: Timestamp) -> Result<bool, StoreError> {
    let Some(targets) = get_record::<DigestTargets, _>(store, DIGEST_TARGETS)? else {
        return Ok(false);
    };
    let teams = records_by_key::<Team>(
        store,
        targets
            .targets
            .iter()
            .filter_map(dispatch_store::target_team),
    )?;
    let notice_keys: Vec<String> = targets
        .targets
        .iter()
        .filter_map(|t| {
            let team = dispatch_store::target_team(t).and_then(|k| teams.get(&k));
            digests::day_due(t, team, now).map(|day| keys::notice(&digests::notice_id(t, day)))
        })
        .collect();
    if notice_keys.is_empty() {
        return Ok(false);
    }
    Ok(store.get_many(&notice_keys)?.iter().any(Option::is_none))
}

/// The records at `keys` (each read once, in one round trip), by key.
fn records_by_key<T: closeloop_domain::envelope::Record>(
    store: &dyn Store,
    keys: impl Iterator<Item = String>,
) -> Result<BTreeMap<String, T>, StoreError> {
    let mut keys: Vec<String> = keys.collect();
    keys.sort();
    keys.dedup();
    let records = get_records(store, &keys)?;
    Ok(keys
        .into_iter()
        .zip(records)
        .filter_map(|(k, r)| r.map(|r| (k, r)))
        .collect())
}

#[cfg(test)]
mod tests;
