//! Dispatch: getting every alert to its person on their channel, and never losing one.
//!
//! The outbox itself (one [`Delivery`](crate::delivery::Delivery) per notice, recipient and
//! channel, retried with backoff) is in [`crate::delivery`]; this module holds the rest:
//! - [`directory`]: teams, their members, endpoints, time zones, quiet hours, escalation chain.
//! - [`plan`]: which deliveries a notice needs, to whom and when.
//! - [`fatigue`]: quiet hours, rate limits, digests and folding.
//! - [`escalation`]: when an unacknowledged case goes to the lead, then the manager.
//! - [`incident`]: PagerDuty follows the case: the incident its alert triggered is
//!   acknowledged and resolved with it, at the endpoints paged.
//! - [`render`]: each channel's message, escaped for its medium, in the team's words.
//! - [`providers`]: each provider's documented HTTP request and how its answers are read.
//! - [`signing`] (Standard Webhooks) and [`sms`] (segment counting).
//! - [`store`]: dispatch's keys and records.

pub mod directory;
pub mod escalation;
pub mod fatigue;
pub mod incident;
pub mod plan;
pub mod providers;
pub mod render;
pub mod signing;
pub mod sms;
pub mod store;
