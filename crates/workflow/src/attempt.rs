//! Attempts of deliveries: who may make them, and how their outcomes are recorded.
//!
//! A delivery is attempted only under a lease on its record. The fold that plans a delivery
//! leases its first attempt to the request that folded, which hands it to dispatch with the
//! lease's token ([`attempt_held`]): no write is needed before sending, and each outcome is
//! recorded as soon as its provider answered (those that answered together in one plain write)
//! while the lease has at least [`HELD_WRITE_MARGIN`] to run, so a crash repeats only calls
//! still in flight. That is safe because nothing else writes a leased pending delivery: a fold
//! writes a delivery only when it plans it, and tick only once the lease ran out. Past the margin (slow providers) each outcome is written by compare-and-swap from the
//! leased record instead, so a tick that took over is never written over.
//!
//! Any later attempt (tick, [`attempt`]) first takes the lease with a compare-and-swap on the
//! record: of two ticks racing, one sends. Its outcome is written by compare-and-swap from the
//! leased record, so an attempt whose lease ran out and was taken by another records nothing
//! over the other's (and says so).
//!
//! First attempts therefore cost one write per group of answers (one for a single channel), a
//! retry two.

use std::time::Duration;

use closeloop_domain::Timestamp;
use closeloop_domain::delivery::{self, AttemptRecord, Delivery, DeliveryStatus, Failure};
use closeloop_domain::envelope;
use closeloop_domain::keys;

use crate::env::Env;
use crate::outbox_tick::Answered;
use crate::store::{Store, StoreError, decode};

/// How long a retry's lease lasts: one provider call with its timeout, with room to spare.
pub const RETRY_LEASE_SECS: i64 = 60;
/// A first attempt's holder records with a plain write only while its lease has this long to
/// run: the write must land before a tick may take the lease (clocks of two hosts may differ
/// by part of it).
pub const HELD_WRITE_MARGIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Not attempted: gone, finished, not due, or leased to someone else.
    Skipped,
    /// Attempted; the record now says this.
    Recorded(Box<Delivery>),
    /// Attempted, but the lease was lost meanwhile: another attempt's outcome stands.
    LeaseLost,
}

/// Makes the first attempts of `ids` that a fold leased to `token`, sending them all with
/// `send_all` (which tells the results by index as they come), and records each group of
/// results in one write as it comes: one read, and one write when the providers answer
/// together. One outcome per id.
pub fn attempt_held(
    store: &dyn Store,
    env: &dyn Env,
    token: &str,
    ids: &[String],
    send_all: impl FnOnce(&[&Delivery], &mut Answered<'_>),
) -> Result<Vec<Outcome>, StoreError> {
    let keys: Vec<String> = ids.iter().map(|id| keys::delivery(id)).collect();
    let now = env.now();
    let mut outcomes = vec![Outcome::Skipped; ids.len()];
    // (index, the leased record's bytes, the leased record)
    let mut leased: Vec<(usize, Vec<u8>, Delivery)> = Vec::new();
    for (i, (key, bytes)) in keys.iter().zip(store.get_many(&keys)?).enumerate() {
        let Some(bytes) = bytes else { continue };
        let d: Delivery = decode(key, &bytes)?;
        if d.leased_to(token, now) && d.status == DeliveryStatus::Pending {
            leased.push((i, bytes, d));
        }
    }
    let margin = chrono::Duration::from_std(HELD_WRITE_MARGIN).unwrap_or_default();
    let lease_ends = (leased.iter())
        .filter_map(|(_, _, d)| d.lease.as_ref().map(|l| l.until))
        .min();
    let mut failed: Option<StoreError> = None;
    let mut record = |results: Vec<(usize, Result<(), Failure>)>| {
        if failed.is_some() {
            return;
        }
        let at = env.now().max(now);
        let done: Vec<(usize, Delivery)> = (results.into_iter())
            .map(|(j, result)| {
                let d = leased[j].2.clone();
                (j, outcome(d, result.err(), at, env.jitter()))
            })
            .collect();
        let recorded = if lease_ends.is_some_and(|until| at + margin < until) {
            let writes: Vec<(String, Vec<u8>)> = (done.iter())
                .map(|(j, d)| (keys[leased[*j].0].clone(), envelope::encode(d)))
                .collect();
            store.set_many(&writes).map(|()| vec![true; done.len()])
        } else {
            (done.iter())
                .map(|(j, d)| {
                    let (i, bytes, _) = &leased[*j];
                    store.swap(&keys[*i], bytes, &envelope::encode(d))
                })
                .collect()
        };
        match recorded {
            Ok(recorded) => {
                for ((j, d), ok) in done.into_iter().zip(recorded) {
                    outcomes[leased[j].0] = match ok {
                        true => Outcome::Recorded(Box::new(d)),
                        false => Outcome::LeaseLost,
                    };
                }
            }
            Err(e) => failed = Some(e),
        }
    };
    send_all(
        &leased.iter().map(|(_, _, d)| d).collect::<Vec<_>>(),
        &mut record,
    );
    match failed {
        Some(e) => Err(e),
        None => Ok(outcomes),
    }
}

/// Attempts delivery `id` if it is due and nobody holds its lease: takes the lease, sends
/// with `send`, records the outcome.
pub fn attempt(
    store: &dyn Store,
    env: &dyn Env,
    id: &str,
    send: impl FnOnce(&Delivery) -> Result<(), Failure>,
) -> Result<Outcome, StoreError> {
    let key = keys::delivery(id);
    let Some(bytes) = store.get(&key)? else {
        return Ok(Outcome::Skipped);
    };
    let delivery: Delivery = decode(&key, &bytes)?;
    let now = env.now();
    if delivery.status != DeliveryStatus::Pending
        || !delivery.is_due(now)
        || !delivery.lease_free(now)
    {
        return Ok(Outcome::Skipped);
    }
    let mut leased = delivery;
    leased.lease = Some(delivery::Lease {
        token: env.token(),
        until: now + chrono::Duration::seconds(RETRY_LEASE_SECS),
    });
    let leased_bytes = envelope::encode(&leased);
    if !store.swap(&key, &bytes, &leased_bytes)? {
        return Ok(Outcome::Skipped);
    }
    let result = send(&leased);
    let done = outcome(leased, result.err(), env.now().max(now), env.jitter());
    if store.swap(&key, &leased_bytes, &envelope::encode(&done))? {
        Ok(Outcome::Recorded(Box::new(done)))
    } else {
        Ok(Outcome::LeaseLost)
    }
}

/// The record after an attempt at `at`: counted, in the history, lease released.
fn outcome(mut d: Delivery, failure: Option<Failure>, at: Timestamp, jitter: f64) -> Delivery {
    match &failure {
        None => d.record_success(at),
        Some(f) => d.record_failure(f, at, jitter),
    }
    d.history.push(AttemptRecord {
        attempt: d.attempts,
        at,
        status: d.status,
        error: failure.map(|f| f.error.describe()),
    });
    d.lease = None;
    d
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use closeloop_domain::delivery::AttemptError;

    use super::*;
    use crate::env::TestEnv;
    use crate::fold::tests::{App, FIRST_ATTEMPT_LEASE_SECS, arrival, feedback};
    use crate::memory::MemoryStore;
    use crate::testing::spawn;

    fn alerted() -> (App, String, String) {
        let app = App::new();
        let done = app.submit(arrival(feedback("stay-1", 2, "noisy")));
        let handover = done.folded.unwrap();
        (app, handover.token, handover.deliveries[0].clone())
    }

    /// Sends a hand-over's deliveries one by one with `send`, telling each result at once.
    pub(crate) fn each(
        send: impl Fn(&Delivery) -> Result<(), AttemptError>,
    ) -> impl FnOnce(&[&Delivery], &mut Answered<'_>) {
        move |ds, answered| {
            for (i, d) in ds.iter().enumerate() {
                answered(vec![(i, send(d).map_err(Failure::from))]);
            }
        }
    }

    fn stored(app: &App, id: &str) -> Delivery {
        app.record(&keys::delivery(id)).unwrap()
    }

    #[test]
    fn first_attempts_need_their_lease_and_answers_that_come_together_cost_one_write() {
        let app = App::new();
        let done = app.submit(arrival(feedback("stay-1", 2, "noisy")));
        let handover = done.folded.unwrap();
        let ids = &handover.deliveries;
        assert_eq!(ids.len(), 2, "Slack and the alert webhook");
        let lease = stored(&app, &ids[0]).lease.unwrap();
        let expected = app.env.now() + chrono::Duration::seconds(FIRST_ATTEMPT_LEASE_SECS);
        assert_eq!(lease.until, expected, "sized to the hand-over's two calls");
        let sent = AtomicUsize::new(0);
        let send = |_: &Delivery| {
            sent.fetch_add(1, Ordering::SeqCst);
            Ok(())
        };
        // Both providers answer at once.
        let together = |ds: &[&Delivery], answered: &mut Answered<'_>| {
            answered(ds.iter().enumerate().map(|(i, d)| (i, send(d))).collect());
        };
        let held =
            |token: &str| attempt_held(app.store.as_ref(), &app.env, token, ids, together).unwrap();
        assert_eq!(held("forged"), vec![Outcome::Skipped; 2]);
        assert_eq!(sent.load(Ordering::SeqCst), 0);
        let (writes, reads) = (app.store.writes(), app.store.reads());
        let outcomes = held(&handover.token);
        assert!(
            outcomes.iter().all(
                |o| matches!(o, Outcome::Recorded(d) if d.status == DeliveryStatus::Delivered)
            ),
            "{outcomes:?}"
        );
        assert_eq!(app.store.writes() - writes, 1, "both outcomes in one write");
        assert_eq!(app.store.reads() - reads, 1, "one read");
        assert_eq!(sent.load(Ordering::SeqCst), 2);
        for id in ids {
            assert_eq!(stored(&app, id).lease, None);
            assert_eq!(stored(&app, id).history.len(), 1);
        }
        // A second hand-over of the same lease sends nothing.
        assert_eq!(held(&handover.token), vec![Outcome::Skipped; 2]);
        assert_eq!(sent.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn each_answer_is_recorded_as_soon_as_it_is_there() {
        // A crash while the second provider is still answering must not lose the first's
        // outcome (tick would send it again): it is written before the second is asked.
        let app = App::new();
        let handover = app
            .submit(arrival(feedback("stay-2", 2, "noisy")))
            .folded
            .unwrap();
        let store = app.store.as_ref();
        let first = keys::delivery(&handover.deliveries[0]);
        let seen_before_second = std::sync::Mutex::new(None);
        let outcomes = attempt_held(
            store,
            &app.env,
            &handover.token,
            &handover.deliveries,
            |ds, answered| {
                answered(vec![(0, Ok(()))]);
                let d: Delivery = app.record(&first).unwrap();
                *seen_before_second.lock().unwrap() = Some(d.status);
                answered(vec![(1, Ok(()))]);
                assert_eq!(ds.len(), 2);
            },
        )
        .unwrap();
        assert_eq!(
            *seen_before_second.lock().unwrap(),
            Some(DeliveryStatus::Delivered)
        );
        assert!(outcomes.iter().all(|o| matches!(o, Outcome::Recorded(_))));
    }

    #[test]
    fn a_holder_past_its_margin_records_by_swap_and_never_over_a_tick() {
        let (app, token, id) = alerted();
        let store: &MemoryStore = app.store.as_ref();
        let env = TestEnv::clone(&app.env);
        // The provider hangs until the lease ran out; a tick takes it over meanwhile.
        let hangs = each(|_| {
            env.advance(chrono::Duration::seconds(FIRST_ATTEMPT_LEASE_SECS));
            let taken = attempt(store, &env, &id, |_| Err(AttemptError::Timeout.into())).unwrap();
            assert!(matches!(taken, Outcome::Recorded(_)));
            Ok(())
        });
        let outcomes = attempt_held(store, &env, &token, std::slice::from_ref(&id), hangs).unwrap();
        assert_eq!(outcomes, vec![Outcome::LeaseLost]);
        let d = stored(&app, &id);
        assert_eq!(
            (d.status, d.attempts),
            (DeliveryStatus::Pending, 1),
            "the tick's"
        );

        // Just inside the margin, the plain write stands.
        let (app, token, id) = alerted();
        let env = TestEnv::clone(&app.env);
        let inside = chrono::Duration::seconds(FIRST_ATTEMPT_LEASE_SECS)
            - chrono::Duration::from_std(HELD_WRITE_MARGIN).unwrap()
            - chrono::Duration::seconds(1);
        let writes = app.store.writes();
        let outcomes = attempt_held(
            app.store.as_ref(),
            &env,
            &token,
            std::slice::from_ref(&id),
            each(|_| {
                env.advance(inside);
                Ok(())
            }),
        )
        .unwrap();
        assert!(matches!(&outcomes[0], Outcome::Recorded(_)));
        assert_eq!(app.store.writes() - writes, 1);
        assert_eq!(stored(&app, &id).status, DeliveryStatus::Delivered);
    }

    #[test]
    fn tick_waits_for_the_first_attempts_lease_then_retries() {
        let (app, _token, id) = alerted();
        let ok = |_: &Delivery| Ok(());
        assert_eq!(
            attempt(app.store.as_ref(), &app.env, &id, ok).unwrap(),
            Outcome::Skipped,
            "leased to the folder"
        );
        app.env
            .advance(chrono::Duration::seconds(FIRST_ATTEMPT_LEASE_SECS));
        let writes = app.store.writes();
        let Outcome::Recorded(d) = attempt(app.store.as_ref(), &app.env, &id, ok).unwrap() else {
            panic!()
        };
        assert_eq!((d.status, d.attempts), (DeliveryStatus::Delivered, 1));
        assert_eq!(app.store.writes() - writes, 2, "the lease and the outcome");
    }

    #[test]
    fn of_many_ticks_racing_one_sends() {
        let (app, _token, id) = alerted();
        app.env
            .advance(chrono::Duration::seconds(FIRST_ATTEMPT_LEASE_SECS));
        let sent = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (store, env, id, sent) =
                    (app.store.clone(), app.env.clone(), id.clone(), sent.clone());
                spawn(&format!("tick-{i}"), move || {
                    attempt(store.as_ref(), &env, &id, |_| {
                        sent.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .unwrap()
                })
            })
            .collect();
        let recorded = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|o| matches!(o, Outcome::Recorded(_)))
            .count();
        assert_eq!((recorded, sent.load(Ordering::SeqCst)), (1, 1));
    }

    #[test]
    fn a_failure_is_recorded_with_its_next_attempt_and_a_lost_lease_records_nothing() {
        let (app, token, id) = alerted();
        let outcomes = attempt_held(
            app.store.as_ref(),
            &app.env,
            &token,
            std::slice::from_ref(&id),
            each(|_| Err(AttemptError::Timeout)),
        )
        .unwrap();
        let Outcome::Recorded(d) = &outcomes[0] else {
            panic!()
        };
        assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 1));
        assert!(d.next_attempt_at > app.env.now());
        assert_eq!(
            d.history[0].error.as_deref(),
            Some("the provider did not answer in time")
        );

        // A slow retry whose lease is taken over while it sends.
        app.env.advance(chrono::Duration::hours(2));
        let store: &MemoryStore = app.store.as_ref();
        let env = TestEnv::clone(&app.env);
        let outcome = attempt(store, &env, &id, |_| {
            env.advance(chrono::Duration::seconds(RETRY_LEASE_SECS));
            let taken = attempt(store, &env, &id, |_| Ok(())).unwrap();
            assert!(matches!(taken, Outcome::Recorded(_)));
            Ok(())
        })
        .unwrap();
        assert_eq!(outcome, Outcome::LeaseLost);
        assert_eq!(stored(&app, &id).status, DeliveryStatus::Delivered);
    }
}
