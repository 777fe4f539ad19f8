//! The edge every closeloop component shares: the few things that touch Spin.
//!
//! Components are thin shells around `closeloop-domain`; what they have in common with Spin
//! lives here once: who is calling ([`access`]), reading requests with a size limit and answering them ([`http`]), calling
//! providers and the next stage with timeouts ([`outbound`]), typed records in the key-value
//! store with an atomic claim ([`kv`]), the change feed and the projector that keeps the
//! metrics and the case index up to date ([`projection`]), a case's timeline without listing the store ([`timeline`]), variables ([`config`]), the clock and entropy
//! ([`clock`]), and one structured log line per request ([`log`]).

pub mod access;
pub mod clock;
pub mod config;
pub mod http;
pub mod kv;
pub mod log;
pub mod outbound;
pub mod projection;
pub mod stage;
pub mod timeline;

pub use closeloop_domain as domain;
