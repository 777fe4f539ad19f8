//! The log's protocol, race by race, with a fold that only adds numbers to a total: every
//! command must be folded exactly once, in ticket order, whoever folds it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::TimeZone;
use closeloop_domain::envelope::Record;
use serde::{Deserialize, Serialize};

use super::*;
use crate::env::TestEnv;
use crate::memory::{Call, MemoryStore, Phase};
use crate::testing::{Schedule, spawn};

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Total {
    sum: u64,
    /// Every ticket folded, in order.
    seen: Vec<u64>,
}
impl Record for Total {
    const SCHEMA: &'static str = "test-total/1";
}

/// Adds each command to `total`; the verdict is the total after it.
#[derive(Default)]
struct Adder {
    folds: AtomicUsize,
}

impl Fold for Adder {
    type Command = u64;
    type Verdict = u64;
    type Output = usize;
    fn fold(
        &self,
        tx: &mut Tx<'_>,
        _env: &dyn Env,
        commands: &[(u64, u64)],
    ) -> Result<(Vec<u64>, usize), StoreError> {
        self.folds.fetch_add(1, Ordering::SeqCst);
        let mut total: Total = tx.get("total")?.unwrap_or_default();
        let mut verdicts = Vec::new();
        for (seq, add) in commands {
            total.sum += add;
            total.seen.push(*seq);
            verdicts.push(total.sum);
        }
        tx.put("total", &total);
        Ok((verdicts, commands.len()))
    }
}

fn t0() -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
}

fn total(store: &MemoryStore) -> Total {
    crate::store::get_record(store, "total")
        .unwrap()
        .unwrap_or_default()
}

fn state(store: &MemoryStore) -> LogState {
    crate::store::get_record(store, STATE_KEY).unwrap().unwrap()
}

#[test]
fn an_idle_log_costs_two_writes_per_command_and_folds_in_order() {
    let store = MemoryStore::new();
    let env = TestEnv::at(t0());
    let adder = Adder::default();
    for (i, add) in [5, 7, 1].into_iter().enumerate() {
        let before = store.writes();
        let done = submit(&store, &env, &adder, add).unwrap();
        assert_eq!(done.seq, i as u64 + 1);
        assert_eq!(done.folded, Some(1), "the submitter folded its own command");
        assert_eq!(store.writes() - before, 2, "the ticket and the fold");
    }
    assert_eq!(
        total(&store),
        Total {
            sum: 13,
            seen: vec![1, 2, 3]
        }
    );
    assert_eq!(state(&store).folded, 3);
    assert!(
        store.peek(&entry_key(1)).is_none(),
        "a leader never writes its own entry"
    );
}

#[test]
fn a_waiter_writes_its_command_and_the_leader_folds_it_with_its_own() {
    let store = Arc::new(MemoryStore::new());
    let env = TestEnv::at(t0());
    let adder = Arc::new(Adder::default());
    // a: ticket; b: ticket; a: reads the state (leads); b: reads the state (waits), writes its
    // entry; a: reads the head, the entries, the total, writes the fold; b: finds its verdict.
    let schedule = Schedule::install(
        &store,
        &["a", "b", "a", "b", "b", "a", "a", "a", "a", "b", "b"],
    );
    let run = |name: &'static str, add: u64| {
        let (store, env, adder) = (store.clone(), env.clone(), adder.clone());
        spawn(name, move || {
            submit(store.as_ref(), &env, adder.as_ref(), add).unwrap()
        })
    };
    let a = run("a", 10);
    let b = run("b", 1);
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!((a.seq, a.verdict, a.folded), (1, 10, Some(2)));
    assert_eq!((b.seq, b.verdict, b.folded), (2, 11, None));
    assert_eq!(
        adder.folds.load(Ordering::SeqCst),
        1,
        "one fold carried both"
    );
    assert_eq!(total(&store).seen, vec![1, 2]);
    assert!(schedule.remaining().is_empty(), "{:?}", schedule.trace());
}

#[test]
fn racing_submitters_are_each_folded_exactly_once() {
    let store = Arc::new(MemoryStore::new());
    let env = TestEnv::at(t0());
    let adder = Arc::new(Adder::default());
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let (store, env, adder) = (store.clone(), env.clone(), adder.clone());
            spawn(&format!("s{i}"), move || {
                (0..10)
                    .map(|_| submit(store.as_ref(), &env, adder.as_ref(), 1).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut verdicts: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .map(|s| s.verdict)
        .collect();
    verdicts.sort();
    assert_eq!(
        verdicts,
        (1..=160).collect::<Vec<_>>(),
        "each total seen once"
    );
    let t = total(&store);
    assert_eq!(t.sum, 160);
    assert_eq!(t.seen, (1..=160).collect::<Vec<_>>(), "in ticket order");
    assert_eq!(state(&store).folded, 160);
}

/// A submitter that takes a ticket and dies before doing anything else.
fn die_after_ticket(store: &MemoryStore) {
    store.increment(SEQ_KEY, 1).unwrap();
}

#[test]
fn a_waiter_takes_over_from_a_dead_leader_and_skips_its_ticket() {
    let store = MemoryStore::new();
    let env = TestEnv::at(t0()).sleeping_moves_time();
    let adder = Adder::default();
    submit(&store, &env, &adder, 3).unwrap();
    die_after_ticket(&store);
    let started = env.now();
    let done = submit(&store, &env, &adder, 4).unwrap();
    assert_eq!((done.seq, done.verdict), (3, 7));
    assert_eq!(done.folded, Some(1), "the taker folded");
    assert!(
        env.now() - started >= chrono::Duration::seconds(10),
        "not before TAKEOVER_AFTER"
    );
    assert_eq!(total(&store).seen, vec![1, 3], "ticket 2 skipped");
    let s = state(&store);
    assert_eq!((s.folded, s.takeover), (3, None));
    // The log goes on as normal afterwards.
    assert_eq!(submit(&store, &env, &adder, 1).unwrap().folded, Some(1));
}

#[test]
fn a_dead_first_leader_is_taken_over_before_any_state_exists() {
    let store = MemoryStore::new();
    let env = TestEnv::at(t0()).sleeping_moves_time();
    die_after_ticket(&store);
    let done = submit(&store, &env, &Adder::default(), 2).unwrap();
    assert_eq!((done.seq, done.verdict), (2, 2));
    assert_eq!(total(&store).seen, vec![2]);
}

#[test]
fn a_leader_past_its_deadline_writes_nothing_and_waits_like_the_others() {
    let store = Arc::new(MemoryStore::new());
    let env = TestEnv::at(t0()).sleeping_moves_time();
    let adder = Adder::default();
    // The leader stalls for 3 s (past DEADLINE) while its fold reads.
    let stalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let (env, stalled) = (env.clone(), stalled.clone());
        store.set_hook(move |call, key, phase| {
            if (call, key, phase) == (Call::Get, "total", Phase::Before)
                && !stalled.swap(true, Ordering::SeqCst)
            {
                env.advance(chrono::Duration::seconds(3));
            }
        });
    }
    let done = submit(store.as_ref(), &env, &adder, 5).unwrap();
    assert!(stalled.load(Ordering::SeqCst));
    assert_eq!((done.seq, done.verdict), (1, 5));
    assert_eq!(
        adder.folds.load(Ordering::SeqCst),
        2,
        "the late fold, then the takeover"
    );
    assert_eq!(
        total(&store).seen,
        vec![1],
        "written once, by its own takeover"
    );
}

#[test]
fn of_two_waiters_taking_over_at_once_one_folds() {
    let store = Arc::new(MemoryStore::new());
    let env = TestEnv::at(t0()).sleeping_moves_time();
    let adder = Arc::new(Adder::default());
    submit(store.as_ref(), &env, adder.as_ref(), 1).unwrap();
    die_after_ticket(&store);
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let (store, env, adder) = (store.clone(), env.clone(), adder.clone());
            spawn(&format!("w{i}"), move || {
                submit(store.as_ref(), &env, adder.as_ref(), 10).unwrap()
            })
        })
        .collect();
    let mut done: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    done.sort_by_key(|d| d.seq);
    let t = total(&store);
    assert_eq!(t.sum, 21, "both folded once: {t:?}");
    assert_eq!(t.seen.len(), 3, "ticket 2 skipped, 3 and 4 folded: {t:?}");
    assert_eq!(done.iter().map(|d| d.verdict).sum::<u64>(), 11 + 21);
}

#[test]
fn a_ticket_skipped_before_its_command_was_written_is_resubmitted() {
    let store = Arc::new(MemoryStore::new());
    let env = TestEnv::at(t0());
    let adder = Adder::default();
    submit(store.as_ref(), &env, &adder, 1).unwrap();
    // While the next submitter holds ticket 2 and has not looked at the state yet, a taker
    // folds past it (as if it had died).
    let skipped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let (store2, skipped) = (store.clone(), skipped.clone());
        store.set_hook(move |call, key, phase| {
            if (call, key, phase) == (Call::Get, STATE_KEY, Phase::Before)
                && !skipped.swap(true, Ordering::SeqCst)
            {
                let mut s = state(&store2);
                s.folded = 2;
                store2.seed(STATE_KEY, closeloop_domain::envelope::encode(&s));
            }
        });
    }
    let done = submit(store.as_ref(), &env, &adder, 5).unwrap();
    assert!(skipped.load(Ordering::SeqCst));
    assert_eq!(
        (done.seq, done.verdict),
        (3, 6),
        "resubmitted with ticket 3"
    );
    assert_eq!(total(&store).seen, vec![1, 3]);
}
