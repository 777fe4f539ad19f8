//! closeloop's domain: everything the four components decide, as plain functions and types.
//!
//! The components (`components/*`) are thin Spin shells: they read the request, the clock and
//! the store, call into this crate, and write back what it returns. Nothing here touches Spin,
//! the network or the wall clock, so every rule is tested natively in milliseconds.
//!
//! Layout, following the loop:
//! - [`feedback`]: closeloop's canonical feedback, validated once at the edge ([`score`] holds
//!   the score kinds and scales).
//! - [`triage`]: score class, priority, due times and owning team, with the reasons.
//! - [`case`]: the case a piece of feedback opens, its state machine and its timeline events.
//! - [`notice`] and [`delivery`]: what must be told to whom, and the outbox that delivers it
//!   with retries; [`message`] renders each channel's payload; [`dispatch`] holds the
//!   directory, channels, templates, alert-fatigue rules and escalation.
//! - [`link`] and [`page`]: the signed link a customer follows to confirm a fix, and its pages;
//!   [`reply`]: the customer's answer by replying to the follow-up's email or SMS (Postmark,
//!   Resend, Twilio), matched to its case by a signed reply address or the number's latest
//!   follow-up.
//! - [`keys`] and [`envelope`]: how all of this is laid out in the key-value store.
//! - [`api`]: the agent API's strict inputs and its views of cases.
//! - [`problem`]: RFC 9457 problem details, one stable `type` per error.
//! - [`ids`] and [`auth`]: sortable identifiers and constant-time secret comparison;
//!   [`access`]: API keys per person and their roles.
//! - [`followup`]: the reminder and the unconfirmed close; [`contact`]: the customer contact
//!   rules; [`privacy`]: erasing and exporting a customer's data.
//! - [`metrics`] and [`projection`]: the measures of the loop, and the read models (day
//!   aggregates, the case index) kept up to date as things change, so no request scans the
//!   store; [`export`]: feedback and cases as CSV or JSON.
//! - [`sources`]: survey platforms' webhooks (verified per platform), source connections and
//!   their field mappings.

pub mod access;
pub mod alert_action;
pub mod api;
pub mod auth;
pub mod case;
pub mod contact;
pub mod delivery;
pub mod dispatch;
pub mod envelope;
pub mod export;
pub mod feedback;
pub mod followup;
pub mod ids;
pub mod keys;
pub mod link;
pub mod message;
pub mod metrics;
pub mod notice;
pub mod page;
pub mod privacy;
pub mod problem;
pub mod projection;
pub mod reply;
pub mod score;
pub mod session;
pub mod sources;
pub mod triage;

/// Time in closeloop: UTC, passed in by the caller.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
