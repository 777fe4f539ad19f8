//! The log: every change to cases, feedback and the read models goes through it, in order, and
//! is applied by a fold that writes its outcome once.
//!
//! Why: Spin's key-value store offers no multi-key transaction, no reliable create-if-absent
//! (SQLite upserts a compare-and-swap on an absent key), and instances interleave at every
//! call, so "check, then write" opens duplicate cases and loses updates. Instead each change
//! is a command with a number from one atomic counter (`log:seq`, a ticket), and commands are
//! folded strictly in ticket order by one folder at a time, so a fold is the only writer of
//! what it owns and may read, decide and write without racing anyone.
//!
//! Who folds: the holder of ticket `folded + 1`, with no lease to take. A submitter takes a
//! ticket `n` and reads `log:state`:
//! - `folded == n - 1`: it leads. It folds its own command (in memory: it never writes it),
//!   every command already written after it, and writes the outcome, their verdicts and the
//!   new state in ONE `set-many`. An idle app therefore spends two write calls per command:
//!   the ticket and the fold.
//! - `folded < n - 1`: someone ahead is folding. It writes its command into the ring
//!   (`log:entry:<n mod RING>`) and polls the state: a later fold carries its command and its
//!   verdict, or, once `folded == n - 1`, it leads the next batch. Under load one fold carries
//!   many commands, so its write is shared.
//!
//! Crashes: a leader that dies leaves `folded` behind. A waiter that has seen `folded` stuck
//! for [`TAKEOVER_AFTER`] takes over with a compare-and-swap of the state (exclusive: the
//! state exists, so the swap is a conditional update on every backend) and folds every
//! written command, skipping tickets whose command was never written (their submitters died
//! or, if alive, resubmit). Fencing is by time: a leader writes only before its deadline,
//! [`DEADLINE`] after it took its ticket, and no takeover can start before
//! [`TAKEOVER_AFTER`] after that, so a slow leader never writes over a taker's work as long
//! as one store call lands within `TAKEOVER_AFTER - DEADLINE`.
//!
//! The ring is reused rather than cleaned: no key is ever deleted, and a ticket more than
//! [`RING`] ahead of `folded` waits until the folds catch up.
//!
//! The log is generic over what it folds ([`Fold`]), so its protocol is tested here with a
//! trivial fold, race by race; closeloop's own fold is [`crate::fold`].

use std::time::Duration;

use closeloop_domain::Timestamp;
use closeloop_domain::envelope::{self, Record};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::env::Env;
use crate::store::{Store, StoreError, decode, read_counter};
use crate::tx::Tx;

pub const SEQ_KEY: &str = "log:seq";
pub const STATE_KEY: &str = "log:state";
/// Entries kept in the ring: how far submitters may run ahead of the folds.
pub const RING: u64 = 4096;
/// The most commands one fold carries.
pub const MAX_BATCH: u64 = 64;
/// A leader writes its fold at most this long after it took its ticket.
pub const DEADLINE: Duration = Duration::from_secs(2);
/// A waiter takes over after seeing no fold for this long.
pub const TAKEOVER_AFTER: Duration = Duration::from_secs(10);
/// A submitter waits at most this long for its verdict (the store is failing meanwhile).
pub const WAIT_LIMIT: Duration = Duration::from_secs(30);
/// How often a waiter looks at the state: first after `POLL_MIN`, doubling to `POLL_MAX`.
/// Short, because the next fold starts only when the holder of ticket `folded + 1` looks:
/// the gap between folds is its polling delay. Measured on Spin 4.0.2 with Redis (bench
/// `load`, 16 connections): 2 ms doubling to 8 ms gave 421-462 answers/s, 5 to 10 ms 421/s,
/// 1 to 4 ms 465-484/s (and post p99 45 ms instead of 50-58), 1 to 2 ms no better.
pub const POLL_MIN: Duration = Duration::from_millis(1);
pub const POLL_MAX: Duration = Duration::from_millis(4);
/// How often a submitter whose ticket was skipped (see the crash notes above) tries again.
pub const RESUBMITS: usize = 3;

pub fn entry_key(seq: u64) -> String {
    format!("log:entry:{}", seq % RING)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogState {
    /// Every ticket up to this one is folded (or skipped).
    pub folded: u64,
    pub folded_at: Timestamp,
    /// A waiter that took over from a stuck leader, and when.
    #[serde(default)]
    pub takeover: Option<Takeover>,
}

impl Record for LogState {
    const SCHEMA: &'static str = "log-state/1";
}

impl LogState {
    /// The state before any fold; every racer that must create it writes the same bytes.
    pub fn initial() -> Self {
        Self {
            folded: 0,
            folded_at: Timestamp::UNIX_EPOCH,
            takeover: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Takeover {
    pub token: String,
    pub at: Timestamp,
}

/// A command waiting in the ring, then its verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "C: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned")]
pub struct Entry<C, V> {
    pub seq: u64,
    pub written_at: Timestamp,
    pub command: Option<C>,
    pub verdict: Option<V>,
}

impl<C: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> Record for Entry<C, V> {
    const SCHEMA: &'static str = "log-entry/1";
}

/// What the log folds: commands in ticket order into writes, one verdict each.
pub trait Fold {
    type Command: Serialize + DeserializeOwned + Clone;
    type Verdict: Serialize + DeserializeOwned + Clone;
    /// What the folder must do after writing (closeloop: hand deliveries to dispatch).
    type Output: Default;
    /// Applies `commands` (in ticket order) through `tx`, returning a verdict for each.
    /// Errors abort the whole fold (nothing is written); a command that cannot be applied
    /// must get a verdict that says so instead.
    fn fold(
        &self,
        tx: &mut Tx<'_>,
        env: &dyn Env,
        commands: &[(u64, Self::Command)],
    ) -> Result<(Vec<Self::Verdict>, Self::Output), StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no fold took the command within {0:?}")]
    TimedOut(Duration),
}

impl From<LogError> for closeloop_domain::problem::Problem {
    fn from(error: LogError) -> Self {
        match error {
            LogError::Store(e) => e.into(),
            LogError::TimedOut(_) => closeloop_domain::problem::Problem::new(
                closeloop_domain::problem::ProblemKind::StoreUnavailable,
                "closeloop is busy or its storage is failing; nothing was lost, please retry",
            ),
        }
    }
}

/// A command's outcome, and the folder's duties if this submitter folded.
#[derive(Debug)]
pub struct Submitted<V, O> {
    pub seq: u64,
    pub verdict: V,
    /// `Some` when this submitter wrote the fold (its duties: [`Fold::Output`]).
    pub folded: Option<O>,
}

type EntryOf<F> = Entry<<F as Fold>::Command, <F as Fold>::Verdict>;
type SubmittedOf<F> = Submitted<<F as Fold>::Verdict, <F as Fold>::Output>;
/// `None`: not done this way (skipped, lost a race, or out of time); the caller goes on.
type Attempt<F> = Result<Option<SubmittedOf<F>>, LogError>;
/// Tickets with their entries (`None`: no command waiting there).
type Entries<F> = Vec<(u64, Option<EntryOf<F>>)>;
/// A fold's verdicts and duties once written; `None` if its deadline passed first.
type Written<F> = Option<(Vec<<F as Fold>::Verdict>, <F as Fold>::Output)>;

/// Submits `command` and returns its verdict once it is folded.
pub fn submit<F: Fold>(
    store: &dyn Store,
    env: &dyn Env,
    fold: &F,
    command: F::Command,
) -> Result<SubmittedOf<F>, LogError> {
    for _ in 0..RESUBMITS {
        if let Some(done) = submit_once(store, env, fold, &command)? {
            return Ok(done);
        }
    }
    // Skipped every time: the log keeps being taken over, which means the store fails.
    Err(LogError::TimedOut(WAIT_LIMIT))
}

/// One ticket's worth: `None` when a taker skipped the ticket before its command was written.
fn submit_once<F: Fold>(
    store: &dyn Store,
    env: &dyn Env,
    fold: &F,
    command: &F::Command,
) -> Attempt<F> {
    // Before the ticket: a taker's clock starts after its own ticket, hence after this.
    let deadline = env.now() + chrono::Duration::from_std(DEADLINE).unwrap_or_default();
    let n = u64::try_from(store.increment(SEQ_KEY, 1)?).unwrap_or(0);
    let started = env.now();
    let mut written = false;
    let mut stuck: Option<(u64, Timestamp)> = None;
    let mut poll = POLL_MIN;
    loop {
        let (state, bytes) = read_state(store)?;
        if state.folded >= n {
            return verdict_of::<F>(store, n);
        }
        let now = env.now();
        // Past the deadline, a leader writes nothing and waits like the others.
        if state.folded == n - 1
            && state.takeover.is_none()
            && now < deadline
            && let Some(done) = lead(store, env, fold, n, command, written, deadline)?
        {
            return Ok(Some(done));
        }
        if !written && n - state.folded <= RING {
            let entry: EntryOf<F> = Entry {
                seq: n,
                written_at: now,
                command: Some(command.clone()),
                verdict: None,
            };
            store.set_many(&[(entry_key(n), envelope::encode(&entry))])?;
            written = true;
        }
        let since = match stuck {
            Some((folded, since)) if folded == state.folded => since,
            _ => {
                stuck = Some((state.folded, now));
                now
            }
        };
        let takeover_due = |at: Timestamp| {
            now - at >= chrono::Duration::from_std(TAKEOVER_AFTER).unwrap_or_default()
        };
        if takeover_due(since)
            && state.takeover.as_ref().is_none_or(|t| takeover_due(t.at))
            && let Some(done) = take_over(store, env, fold, state, bytes, n, command)?
        {
            return Ok(Some(done));
        }
        if (now - started).to_std().unwrap_or_default() > WAIT_LIMIT {
            return Err(LogError::TimedOut(WAIT_LIMIT));
        }
        env.sleep(poll);
        poll = (poll * 2).min(POLL_MAX);
    }
}

/// The state and its exact bytes (for a compare-and-swap); the initial state when absent.
fn read_state(store: &dyn Store) -> Result<(LogState, Option<Vec<u8>>), StoreError> {
    match store.get(STATE_KEY)? {
        Some(bytes) => Ok((decode(STATE_KEY, &bytes)?, Some(bytes))),
        None => Ok((LogState::initial(), None)),
    }
}

/// The verdict of folded ticket `n`, or `None` if it was skipped.
fn verdict_of<F: Fold>(store: &dyn Store, n: u64) -> Attempt<F> {
    let key = entry_key(n);
    let entry: Option<EntryOf<F>> = store.get(&key)?.map(|b| decode(&key, &b)).transpose()?;
    Ok(entry
        .filter(|e| e.seq == n)
        .and_then(|e| e.verdict)
        .map(|verdict| Submitted {
            seq: n,
            verdict,
            folded: None,
        }))
}

/// Leads the fold from ticket `n` (= `folded + 1`), carrying the commands written after it.
/// `None` if the deadline passed first (nothing written).
fn lead<F: Fold>(
    store: &dyn Store,
    env: &dyn Env,
    fold: &F,
    n: u64,
    command: &F::Command,
    written: bool,
    deadline: Timestamp,
) -> Attempt<F> {
    let head = u64::try_from(read_counter(store, SEQ_KEY)?).unwrap_or(n);
    let later = read_entries::<F>(store, n + 1, head.min(n + MAX_BATCH - 1))?;
    // Only the contiguous run after our ticket: a gap is a live submitter about to write its
    // command, which leads the next fold once ours is written.
    let mut batch: Vec<(u64, F::Command)> = vec![(n, command.clone())];
    let mut with_entries: Vec<u64> = if written { vec![n] } else { vec![] };
    for (k, entry) in later {
        let Some(c) = entry.and_then(|e| e.command) else {
            break;
        };
        batch.push((k, c));
        with_entries.push(k);
    }
    let last = batch.last().map_or(n, |(k, _)| *k);
    let out = write_fold(store, env, fold, &batch, &with_entries, last, deadline)?;
    Ok(out.map(|(mut verdicts, output)| Submitted {
        seq: n,
        verdict: verdicts.swap_remove(0),
        folded: Some(output),
    }))
}

/// The entries of tickets `from..=to` that hold a command not folded yet.
fn read_entries<F: Fold>(store: &dyn Store, from: u64, to: u64) -> Result<Entries<F>, StoreError> {
    if from > to {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = (from..=to).map(entry_key).collect();
    let values = store.get_many(&keys)?;
    (from..=to)
        .zip(keys.iter().zip(values))
        .map(|(k, (key, v))| {
            let entry: Option<EntryOf<F>> = v.map(|b| decode(key, &b)).transpose()?;
            Ok((
                k,
                entry.filter(|e| e.seq == k && e.verdict.is_none() && e.command.is_some()),
            ))
        })
        .collect()
}

/// Runs the fold over `batch` and writes everything once: the fold's writes, the verdicts of
/// the commands that were written as entries, and the new state (`folded = last`). `None`:
/// the deadline passed before the write, which is then not made.
fn write_fold<F: Fold>(
    store: &dyn Store,
    env: &dyn Env,
    fold: &F,
    batch: &[(u64, F::Command)],
    with_entries: &[u64],
    last: u64,
    deadline: Timestamp,
) -> Result<Written<F>, StoreError> {
    let mut tx = Tx::new(store);
    let (verdicts, output) = fold.fold(&mut tx, env, batch)?;
    assert_eq!(verdicts.len(), batch.len(), "one verdict per command");
    let now = env.now();
    for ((k, command), verdict) in batch.iter().zip(&verdicts) {
        if with_entries.contains(k) {
            let entry: EntryOf<F> = Entry {
                seq: *k,
                written_at: now,
                command: Some(command.clone()),
                verdict: Some(verdict.clone()),
            };
            tx.put(entry_key(*k), &entry);
        }
    }
    tx.put(
        STATE_KEY,
        &LogState {
            folded: last,
            folded_at: now,
            takeover: None,
        },
    );
    if env.now() >= deadline {
        return Ok(None);
    }
    store.set_many(&tx.into_writes())?;
    Ok(Some((verdicts, output)))
}

/// Takes over from a stuck leader: marks the state (exclusively), then folds every written
/// command after `folded` (at most [`MAX_BATCH`] tickets), skipping tickets with none. `None`
/// if another waiter took over first, the fold missed its deadline, or our own ticket lies
/// beyond this batch (the next fold takes it).
fn take_over<F: Fold>(
    store: &dyn Store,
    env: &dyn Env,
    fold: &F,
    state: LogState,
    bytes: Option<Vec<u8>>,
    n: u64,
    command: &F::Command,
) -> Attempt<F> {
    let now = env.now();
    let bytes = match bytes {
        Some(b) => b,
        None => {
            // Never folded and its first leader died: create the initial state. Racers write
            // identical bytes, and the dead leader is past its deadline.
            let initial = envelope::encode(&LogState::initial());
            store.set_many(&[(STATE_KEY.to_owned(), initial.clone())])?;
            initial
        }
    };
    let marked = LogState {
        takeover: Some(Takeover {
            token: env.token(),
            at: now,
        }),
        ..state.clone()
    };
    if !store.swap(STATE_KEY, &bytes, &envelope::encode(&marked))? {
        return Ok(None);
    }
    let deadline = now + chrono::Duration::from_std(DEADLINE).unwrap_or_default();
    let head = u64::try_from(read_counter(store, SEQ_KEY)?).unwrap_or(n);
    let to = head.max(n).min(state.folded + MAX_BATCH);
    // Every written command up to `to`; tickets without one are skipped (their submitters
    // died, or resubmit when they find no verdict).
    let mut batch = Vec::new();
    for (k, entry) in read_entries::<F>(store, state.folded + 1, to)? {
        if k == n {
            batch.push((n, command.clone()));
        } else if let Some(c) = entry.and_then(|e| e.command) {
            batch.push((k, c));
        }
    }
    let with_entries: Vec<u64> = batch.iter().map(|(k, _)| *k).collect();
    let Some((verdicts, output)) =
        write_fold(store, env, fold, &batch, &with_entries, to, deadline)?
    else {
        return Ok(None);
    };
    let own = batch.iter().position(|(k, _)| *k == n);
    Ok(own.map(|i| Submitted {
        seq: n,
        verdict: verdicts[i].clone(),
        folded: Some(output),
    }))
}

#[cfg(test)]
mod tests;
