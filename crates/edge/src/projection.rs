//! The change feed and the projector on the key-value store (the fold itself is
//! `closeloop_domain::projection`).
//!
//! Writers call [`record_change`] after they have written a feedback's or case's records:
//! an atomic increment numbers the change, then the change is stored under its number.
//! Readers call [`catch_up`] before reading the projections: it folds whatever the feed holds
//! beyond the projector's state, claiming the starting position so that one projector folds
//! at a time; a reader that loses the claim waits (up to its limit) for the winner. Writers
//! also catch up after answering, so readers rarely find work left.
//!
//! A projector that stops midway leaves its claim, which lapses when its time window
//! ([`CLAIM_WINDOW_SECS`]) ends. Folding the same changes again changes nothing, because a
//! feedback's contribution is recomputed from its records; so the claims and changes of the
//! last few folds are kept (`projection::KEEP_FOLDS`), and a projector that read the state just before
//! a fold finds what it expects. Older ones are deleted as new folds land.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use closeloop_domain::case::{Case, CaseState};
use closeloop_domain::feedback::Feedback;
use closeloop_domain::metrics::DayAggregate;
use closeloop_domain::projection::index::{IndexChunk, IndexRoot};
use closeloop_domain::projection::{
    self, Alerted, Batch, CLAIM_WINDOW_SECS, Change, DayIds, Fold, Next, Projected, ProjectorState,
    Source, keys,
};
use closeloop_domain::{Timestamp, keys as store_keys};

use crate::clock;
use crate::kv::{Kv, KvError};

/// Appends "`feedback_id` changed" to the feed. Call it after writing the records.
pub fn record_change(kv: &Kv, feedback_id: &str, now: Timestamp) -> Result<(), KvError> {
    let seq = kv.increment(keys::SEQUENCE)?;
    kv.put(
        &keys::change(seq),
        &Change {
            feedback_id: feedback_id.to_owned(),
            at: now,
        },
    )
}

/// How far the projections are behind the feed after [`catch_up`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub folded: u64,
    pub head: u64,
}

impl Progress {
    pub fn behind(&self) -> u64 {
        self.head.saturating_sub(self.folded)
    }

    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({"folded": self.folded, "head": self.head, "behind": self.behind()})
    }
}

/// How long a read waits for another projector to finish before answering from what is
/// folded (its answer can say how far behind that is).
pub const READ_WAIT: Duration = Duration::from_secs(3);

/// How long a pause between looks at another projector's progress.
const POLL: Duration = Duration::from_millis(15);

/// Folds the feed up to its head. When another projector is folding, waits for it up to
/// `wait` (zero: returns at once), then reports how far the projections got.
pub fn catch_up(kv: &Kv, wait: Duration) -> Result<Progress, KvError> {
    let started = Instant::now();
    loop {
        let state = kv.get::<ProjectorState>(keys::STATE)?.unwrap_or_default();
        let head = kv.add(keys::SEQUENCE, 0)?;
        let progress = Progress {
            folded: state.folded,
            head,
        };
        let Next::Fold { from, to } = projection::next_range(&state, head) else {
            return Ok(progress);
        };
        let now = clock::now();
        let window = now.timestamp().div_euclid(CLAIM_WINDOW_SECS);
        let claim = keys::claim(state.folded, window);
        if kv.claim(&claim)? {
            if fold(kv, &state, &claim, from, to, now)? {
                continue;
            }
            // Nothing could be folded yet (a change being written): released, so the next
            // look may claim the same position.
            kv.delete(&claim)?;
        }
        // Another projector is folding, or a change is still being written: wait a little.
        if started.elapsed() >= wait {
            return Ok(progress);
        }
        std::thread::sleep(POLL);
    }
}

/// How long catching up after a response waits for a projector already at work, so that
/// the change it just recorded is folded by one of the two: the client is not kept waiting.
const AFTER_RESPONSE_WAIT: Duration = Duration::from_secs(5);

/// Catches up after a response was sent: the work is best effort, so a failure is logged
/// and left to the next reader.
pub fn catch_up_logged(component: &'static str) {
    let result = Kv::open().and_then(|kv| catch_up(&kv, AFTER_RESPONSE_WAIT));
    if let Err(error) = result {
        crate::log::event(
            component,
            "projection catch-up failed; the next reader folds",
            serde_json::json!({"error": error.to_string()}),
        );
    }
}

/// Folds changes `from..=to` under `claim`; false when nothing could be folded yet (a gap).
fn fold(
    kv: &Kv,
    state: &ProjectorState,
    claim: &str,
    from: u64,
    to: u64,
    now: Timestamp,
) -> Result<bool, KvError> {
    let mut found = Vec::new();
    let mut changes = Vec::new();
    for seq in from..=to {
        let change = kv.get::<Change>(&keys::change(seq))?;
        found.push((seq, change.is_some()));
        if let Some(change) = change {
            changes.push((seq, change.feedback_id));
        }
    }
    let (last, gap) = projection::foldable(&found, state.gap, now);
    // Never write over a state another projector moved on meanwhile.
    let moved_on = || -> Result<bool, KvError> {
        let current = kv.get::<ProjectorState>(keys::STATE)?.unwrap_or_default();
        Ok(current.folded != state.folded)
    };
    let Some(last) = last else {
        if gap != state.gap && !moved_on()? {
            kv.put(
                keys::STATE,
                &ProjectorState {
                    gap,
                    ..state.clone()
                },
            )?;
        }
        return Ok(false);
    };
    let ids: Vec<String> = changes
        .into_iter()
        .filter(|(seq, _)| *seq <= last)
        .map(|(_, id)| id)
        .collect();
    let batch = projection::project(&mut KvSource(kv), &ids)?;
    if moved_on()? {
        return Ok(true);
    }
    write(kv, &batch)?;
    let fold = Fold {
        claim: claim.to_owned(),
        from,
        to: last,
    };
    let (next, evicted) = state.after(fold, gap, now);
    kv.put(keys::STATE, &next)?;
    if let Some(old) = evicted {
        kv.delete(&old.claim)?;
        for seq in old.from..=old.to {
            kv.delete(&keys::change(seq))?;
        }
    }
    Ok(true)
}

fn write(kv: &Kv, batch: &Batch) -> Result<(), KvError> {
    for day in batch.days.values() {
        kv.put(&keys::day(day.date), day)?;
    }
    for ((date, chunk), ids) in &batch.day_ids {
        kv.put(&keys::day_ids(*date, *chunk), ids)?;
    }
    let (changed, removed) = batch.index.changes();
    for (id, chunk) in changed {
        kv.put(&keys::index_chunk(id), chunk)?;
    }
    kv.put(keys::INDEX_ROOT, &batch.index.root)?;
    for id in removed {
        kv.delete(&keys::index_chunk(id))?;
    }
    for (feedback_id, projected) in &batch.projected {
        match projected {
            Some(p) => kv.put(&keys::projected(feedback_id), p)?,
            None => kv.delete(&keys::projected(feedback_id))?,
        }
    }
    Ok(())
}

/// Records the first delivery of a case's alert (alert latency) and tells the feed; later
/// deliveries keep the first time.
pub fn record_alerted(kv: &Kv, case_id: &str, at: Timestamp) -> Result<(), KvError> {
    let key = keys::alerted(case_id);
    if kv.exists(&key)? {
        return Ok(());
    }
    kv.put(&key, &Alerted { at })?;
    if let Some(case) = kv.get::<Case>(&store_keys::case(case_id))? {
        record_change(kv, &case.feedback_id, at)?;
    }
    Ok(())
}

/// The day aggregates of `from..=to` that exist.
pub fn days(kv: &Kv, from: NaiveDate, to: NaiveDate) -> Result<Vec<DayAggregate>, KvError> {
    let mut out = Vec::new();
    for date in closeloop_domain::metrics::report::days(from, to) {
        if let Some(day) = kv.get::<DayAggregate>(&keys::day(date))? {
            out.push(day);
        }
    }
    Ok(out)
}

pub fn index_root(kv: &Kv) -> Result<IndexRoot, KvError> {
    Ok(kv.get::<IndexRoot>(keys::INDEX_ROOT)?.unwrap_or_default())
}

pub fn index_chunk(kv: &Kv, id: u64) -> Result<IndexChunk, KvError> {
    Ok(kv
        .get::<IndexChunk>(&keys::index_chunk(id))?
        .unwrap_or_default())
}

/// The ids of the cases in `state`, from every chunk of the case index (after catching up).
pub fn cases_in_state(kv: &Kv, state: CaseState) -> Result<Vec<String>, KvError> {
    catch_up(kv, READ_WAIT)?;
    let mut ids = Vec::new();
    for chunk in index_root(kv)?.chunks {
        for entry in index_chunk(kv, chunk.id)?.entries {
            if entry.state == state {
                ids.push(entry.key.id);
            }
        }
    }
    Ok(ids)
}

/// The open cases whose next due time is `now` or earlier, most overdue first: the front of
/// the case index, read after catching up.
pub fn open_cases_due(kv: &Kv, now: Timestamp) -> Result<Vec<String>, KvError> {
    catch_up(kv, READ_WAIT)?;
    let mut ids = Vec::new();
    for chunk in index_root(kv)?.open_chunks() {
        for entry in index_chunk(kv, chunk)?.entries {
            if entry.key.closed || entry.key.due > now {
                return Ok(ids);
            }
            ids.push(entry.key.id);
        }
    }
    Ok(ids)
}

/// The feedback ids received on `date`, in the order they were first counted.
pub fn day_ids(kv: &Kv, day: &DayAggregate) -> Result<Vec<String>, KvError> {
    let chunks = day.listed.div_ceil(projection::DAY_IDS_CHUNK as u64) as usize;
    let mut ids = Vec::new();
    for chunk in 0..chunks {
        if let Some(list) = kv.get::<DayIds>(&keys::day_ids(day.date, chunk))? {
            ids.extend(list.ids);
        }
    }
    Ok(ids)
}

/// The store as the fold's source of records.
struct KvSource<'a>(&'a Kv);

impl Source for KvSource<'_> {
    type Error = KvError;
    fn feedback(&mut self, id: &str) -> Result<Option<Feedback>, KvError> {
        self.0.get(&store_keys::feedback(id))
    }
    fn case(&mut self, id: &str) -> Result<Option<Case>, KvError> {
        self.0.get(&store_keys::case(id))
    }
    fn alerted(&mut self, case_id: &str) -> Result<Option<Timestamp>, KvError> {
        Ok(self
            .0
            .get::<Alerted>(&keys::alerted(case_id))?
            .map(|a| a.at))
    }
    fn projected(&mut self, feedback_id: &str) -> Result<Option<Projected>, KvError> {
        self.0.get(&keys::projected(feedback_id))
    }
    fn day(&mut self, date: NaiveDate) -> Result<Option<DayAggregate>, KvError> {
        self.0.get(&keys::day(date))
    }
    fn day_ids(&mut self, date: NaiveDate, chunk: usize) -> Result<Option<DayIds>, KvError> {
        self.0.get(&keys::day_ids(date, chunk))
    }
    fn index_root(&mut self) -> Result<IndexRoot, KvError> {
        index_root(self.0)
    }
    fn index_chunk(&mut self, id: u64) -> Result<IndexChunk, KvError> {
        index_chunk(self.0, id)
    }
}
