//! closeloop's workflows over a key-value store: what happens when feedback arrives, a case is
//! worked, an alert is sent or a scheduler ticks, decided in plain code and written at once.
//!
//! The components are Spin shells: they route requests, check who is calling, and hand the
//! change to this crate through [`Store`](store::Store) (Spin's key-value interfaces in the
//! edge crate, [`MemoryStore`](memory::MemoryStore) in tests) and [`Env`](env::Env) (time,
//! waiting, tokens). Layout:
//!
//! - [`store`], [`spin_kv`], [`memory`]: the store seam, Spin's backends behind it, and an
//!   in-memory store that counts calls.
//! - [`log`]: the ordered log every change goes through: one folder at a time, no lease
//!   write, one `set-many` per fold, crash recovery by takeover.
//! - [`tx`]: the fold's unit of work (read once, write once).
//! - [`attempt`]: one attempt of a delivery, under a lease.
//! - [`outbox_tick`]: dispatch's side: hand-overs attempted, and the tick that escalates,
//!   sends digests and works through the outbox's schedule.
//! - [`fold`]: what every command does; [`reads`]: what the APIs show, never writing.
//! - [`confirm`]: the customer's confirmation pages; [`replies`]: a customer's reply to a
//!   follow-up by email or SMS, matched to its case before it is folded; [`admin`]: API keys
//!   and the do-not-contact list, written directly (they are not the loop's state).
//! - [`env`]: time, sleep and tokens, with a controllable [`TestEnv`](env::TestEnv).
//! - [`testing`]: step-by-step interleaving of workflows in tests.

pub mod admin;
pub mod attempt;
pub mod confirm;
pub mod env;
pub mod fold;
pub mod log;
pub mod memory;
pub mod outbox_tick;
pub mod reads;
pub mod replies;
pub mod spin_kv;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tx;
