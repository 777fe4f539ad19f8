//! One attempt of a delivery: who may make it, and how its outcome is recorded.
//!
//! A delivery is attempted only under a lease ([`Lease`] on the record). The fold that plans
//! a delivery leases its first attempt to the request that folded, which hands it to dispatch
//! with the lease's token ([`Lease::Held`]): no write is needed before sending. Any later
//! attempt (tick) first takes the lease with a compare-and-swap on the record
//! ([`Lease::Take`]): of two ticks racing, one sends. The outcome is written with a
//! compare-and-swap from the leased record, so an attempt whose lease ran out and was taken
//! by another records nothing over the other's (and says so).
//!
//! A first attempt therefore costs one write (its outcome), a retry two.

use closeloop_domain::Timestamp;
use closeloop_domain::delivery::{self, AttemptError, AttemptRecord, Delivery, DeliveryStatus};
use closeloop_domain::envelope;
use closeloop_domain::keys;

use crate::env::Env;
use crate::store::{Store, StoreError, decode};

/// How long a retry's lease lasts: one provider call with its timeout, with room to spare.
pub const RETRY_LEASE_SECS: i64 = 60;

/// Which lease the attempt runs under.
pub enum Lease<'a> {
    /// The lease the fold granted to this request (the first attempt).
    Held(&'a str),
    /// Take a free lease now, if the delivery is due.
    Take,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not attempted: gone, finished, not due, or leased to someone else.
    Skipped,
    /// Attempted; the record now says this.
    Recorded(Box<Delivery>),
    /// Attempted, but the lease was lost meanwhile: another attempt's outcome stands.
    LeaseLost,
}

/// Attempts delivery `id` under `lease`, sending with `send`.
pub fn attempt(
    store: &dyn Store,
    env: &dyn Env,
    id: &str,
    lease: Lease<'_>,
    send: impl FnOnce(&Delivery) -> Result<(), AttemptError>,
) -> Result<Outcome, StoreError> {
    let key = keys::delivery(id);
    let Some(bytes) = store.get(&key)? else {
        return Ok(Outcome::Skipped);
    };
    let delivery: Delivery = decode(&key, &bytes)?;
    let now = env.now();
    let (leased, leased_bytes) = match lease {
        Lease::Held(token) if delivery.leased_to(token, now) => (delivery, bytes),
        Lease::Held(_) => return Ok(Outcome::Skipped),
        Lease::Take if delivery.is_due(now) && delivery.lease_free(now) => {
            let mut taken = delivery;
            taken.lease = Some(delivery::Lease {
                token: env.token(),
                until: now + chrono::Duration::seconds(RETRY_LEASE_SECS),
            });
            let taken_bytes = envelope::encode(&taken);
            if !store.swap(&key, &bytes, &taken_bytes)? {
                return Ok(Outcome::Skipped);
            }
            (taken, taken_bytes)
        }
        Lease::Take => return Ok(Outcome::Skipped),
    };
    if leased.status != DeliveryStatus::Pending {
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
fn outcome(mut d: Delivery, error: Option<AttemptError>, at: Timestamp, jitter: f64) -> Delivery {
    match &error {
        None => d.record_success(at),
        Some(e) => d.record_failure(e, at, jitter),
    }
    d.history.push(AttemptRecord {
        attempt: d.attempts,
        at,
        status: d.status,
        error: error.map(|e| e.describe()),
    });
    d.lease = None;
    d
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

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

    fn stored(app: &App, id: &str) -> Delivery {
        app.record(&keys::delivery(id)).unwrap()
    }

    #[test]
    fn the_first_attempt_needs_its_lease_and_costs_one_write() {
        let (app, token, id) = alerted();
        let lease = stored(&app, &id).lease.unwrap();
        let expected = app.env.now() + chrono::Duration::seconds(FIRST_ATTEMPT_LEASE_SECS);
        assert_eq!(lease.until, expected, "sized to the hand-over's two calls");
        let writes = app.store.writes();
        let sent = AtomicUsize::new(0);
        let send = |_: &Delivery| {
            sent.fetch_add(1, Ordering::SeqCst);
            Ok(())
        };
        assert_eq!(
            attempt(
                app.store.as_ref(),
                &app.env,
                &id,
                Lease::Held("forged"),
                send
            )
            .unwrap(),
            Outcome::Skipped
        );
        let Outcome::Recorded(d) =
            attempt(app.store.as_ref(), &app.env, &id, Lease::Held(&token), send).unwrap()
        else {
            panic!()
        };
        assert_eq!(d.status, DeliveryStatus::Delivered);
        assert_eq!(app.store.writes() - writes, 1);
        assert_eq!(sent.load(Ordering::SeqCst), 1);
        assert_eq!(stored(&app, &id).lease, None);
        assert_eq!(stored(&app, &id).history.len(), 1);
        // A second hand-over of the same lease sends nothing.
        assert_eq!(
            attempt(app.store.as_ref(), &app.env, &id, Lease::Held(&token), send).unwrap(),
            Outcome::Skipped
        );
        assert_eq!(sent.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn tick_waits_for_the_first_attempts_lease_then_retries() {
        let (app, _token, id) = alerted();
        let ok = |_: &Delivery| Ok(());
        assert_eq!(
            attempt(app.store.as_ref(), &app.env, &id, Lease::Take, ok).unwrap(),
            Outcome::Skipped,
            "leased to the folder"
        );
        app.env
            .advance(chrono::Duration::seconds(FIRST_ATTEMPT_LEASE_SECS));
        let writes = app.store.writes();
        let Outcome::Recorded(d) =
            attempt(app.store.as_ref(), &app.env, &id, Lease::Take, ok).unwrap()
        else {
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
                    attempt(store.as_ref(), &env, &id, Lease::Take, |_| {
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
        let Outcome::Recorded(d) = attempt(
            app.store.as_ref(),
            &app.env,
            &id,
            Lease::Held(&token),
            |_| Err(AttemptError::Timeout),
        )
        .unwrap() else {
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
        let outcome = attempt(store, &env, &id, Lease::Take, |_| {
            env.advance(chrono::Duration::seconds(RETRY_LEASE_SECS));
            let taken = attempt(store, &env, &id, Lease::Take, |_| Ok(())).unwrap();
            assert!(matches!(taken, Outcome::Recorded(_)));
            Ok(())
        })
        .unwrap();
        assert_eq!(outcome, Outcome::LeaseLost);
        assert_eq!(stored(&app, &id).status, DeliveryStatus::Delivered);
    }
}
