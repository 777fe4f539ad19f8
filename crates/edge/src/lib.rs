//! The edge every closeloop component shares: the few things that touch Spin.
//!
//! Components are thin shells around `closeloop-workflow` and `closeloop-domain`; what they
//! have in common with Spin lives here once: who is calling ([`access`]), reading requests
//! with a size limit and answering them ([`http`]), calling providers and the next stage with
//! timeouts ([`outbound`], [`stage`]), the key-value store as the workflows' store and as
//! typed records ([`kv`]), the workflows' environment and entry points ([`env`],
//! [`workflow`]), variables ([`config`], [`providers`]), the clock and entropy ([`clock`]),
//! one structured log line per request ([`log`]), dispatch's channels and admin views
//! ([`channels`], [`directory`]), and the admin APIs of plain records no workflow touches:
//! source connections ([`connections`]) and people (keys, the do-not-contact list, customers'
//! data: [`people`]); and the customer's replies by email or SMS coming back through the
//! providers' inbound webhooks ([`inbound`]).

pub mod access;
pub mod alert_actions;
pub mod channels;
pub mod clock;
pub mod config;
pub mod connections;
pub mod directory;
pub mod env;
pub mod http;
pub mod inbound;
pub mod kv;
pub mod log;
pub mod outbound;
pub mod people;
pub mod providers;
pub mod stage;
pub mod workflow;

pub use closeloop_domain as domain;
pub use closeloop_workflow as flow;
