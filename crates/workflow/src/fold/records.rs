//! The records the fold owns besides the domain's (feedback, cases, notices, deliveries): a
//! case's file (its timeline and what was sent about it), alert-fatigue windows, round-robin
//! turns and digest queues. The fold is their only writer, so each is a plain read-modify-write
//! inside a fold; none is a counter that needs an atomic increment.

use closeloop_domain::Timestamp;
use closeloop_domain::case::CaseEvent;
use closeloop_domain::delivery::Target;
use closeloop_domain::dispatch::incident::Paged;
use closeloop_domain::dispatch::store::DigestEntry;
use closeloop_domain::envelope::Record;
use closeloop_domain::ids;
use serde::{Deserialize, Serialize};

/// Events a case file keeps itself; older ones move to numbered pages.
pub const EVENTS_PER_PAGE: usize = 200;

pub fn case_file(case_id: &str) -> String {
    format!("case-file:{case_id}")
}

/// Page `n` (from 1, oldest first) of a case's earlier events.
pub fn case_file_page(case_id: &str, n: u32) -> String {
    format!("case-file:{case_id}:{n}")
}

/// Everything about a case that is not the case itself: its timeline, the notices and
/// deliveries made for it, when its first alert was delivered, and where it paged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseFile {
    pub case_id: String,
    /// The latest events, oldest first.
    pub events: Vec<CaseEvent>,
    /// How many full pages of older events there are.
    #[serde(default)]
    pub pages: u32,
    #[serde(default)]
    pub notices: Vec<String>,
    #[serde(default)]
    pub deliveries: Vec<String>,
    /// The first delivered alert (the alert-latency measure).
    #[serde(default)]
    pub alerted_at: Option<Timestamp>,
    /// The nonces of the confirmation links the customer answered with: a link works once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub used_links: Vec<String>,
    /// The resolution round whose one reminder was sent (0: none yet).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reminded_round: u32,
    /// How many replies in words the customer sent (by email or SMS): the occasion of each
    /// reply's alert.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replies: u32,
    /// The PagerDuty endpoints the case's triggers went to in its current episode, where its
    /// acknowledge and resolve go ([`super::incidents`]). `None` only in files written before
    /// it was kept: derived from the deliveries the first time it is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paged: Option<Paged>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Record for CaseFile {
    const SCHEMA: &'static str = "case-file/1";
}

/// A page of a case's earlier events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    pub events: Vec<CaseEvent>,
}

impl Record for EventPage {
    const SCHEMA: &'static str = "case-file-page/1";
}

impl CaseFile {
    pub fn new(case_id: &str) -> Self {
        Self {
            case_id: case_id.to_owned(),
            paged: Some(Paged::default()),
            ..Self::default()
        }
    }

    /// Records `event` once (events have derived or fresh ids). Returns a full page to store
    /// when the file outgrew [`EVENTS_PER_PAGE`].
    pub fn record(&mut self, event: CaseEvent) -> Option<(u32, EventPage)> {
        if self.events.iter().any(|e| e.id == event.id) {
            return None;
        }
        self.events.push(event);
        if self.events.len() < 2 * EVENTS_PER_PAGE {
            return None;
        }
        let older: Vec<CaseEvent> = self.events.drain(..EVENTS_PER_PAGE).collect();
        self.pages += 1;
        Some((self.pages, EventPage { events: older }))
    }
}

pub fn round_robin(team: &str) -> String {
    format!("round-robin:{}", ids::digest(&[team]))
}

/// Turns taken among a team's round-robin owners.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Turns {
    pub taken: u64,
}

impl Record for Turns {
    const SCHEMA: &'static str = "round-robin/1";
}

/// The fatigue counter named `name` (an alert's fold key or a person's rate key, digested).
pub fn fatigue(kind: &str, name: &str) -> String {
    format!("fatigue:{kind}:{}", ids::digest(&[name]))
}

/// Counts per time window; the current and the previous window are all a decision reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowCounts {
    pub windows: Vec<(i64, u64)>,
}

impl Record for WindowCounts {
    const SCHEMA: &'static str = "fatigue-counts/1";
}

impl WindowCounts {
    pub fn count(&self, window: i64) -> u64 {
        self.windows
            .iter()
            .find(|(w, _)| *w == window)
            .map_or(0, |(_, c)| *c)
    }

    /// Adds one in `window` and returns its new count; forgets windows older than the one
    /// before it.
    pub fn add(&mut self, window: i64) -> u64 {
        self.windows.retain(|(w, _)| *w >= window - 1);
        match self.windows.iter_mut().find(|(w, _)| *w == window) {
            Some((_, c)) => {
                *c += 1;
                *c
            }
            None => {
                self.windows.push((window, 1));
                1
            }
        }
    }
}

pub const DIGEST_TARGETS: &str = "digest-queue:targets";

pub fn digest_queue(target: &Target) -> String {
    format!("digest-queue:{}", ids::digest(&[&target.key()]))
}

/// A recipient's alerts waiting for their daily digest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DigestQueue {
    pub target: Option<Target>,
    pub entries: Vec<DigestEntry>,
}

impl Record for DigestQueue {
    const SCHEMA: &'static str = "digest-queue/1";
}

/// The recipients with a non-empty digest queue (what the daily digest run reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DigestTargets {
    pub targets: Vec<Target>,
}

impl Record for DigestTargets {
    const SCHEMA: &'static str = "digest-targets/1";
}

#[cfg(test)]
mod tests {
    use super::*;
    use closeloop_domain::case::EventKind;

    fn event(i: usize) -> CaseEvent {
        CaseEvent {
            id: format!("e{i}"),
            case_id: "c".into(),
            at: Timestamp::UNIX_EPOCH,
            actor: "a".into(),
            kind: EventKind::Note,
            from: None,
            to: None,
            detail: String::new(),
        }
    }

    #[test]
    fn a_case_file_records_each_event_once_and_pages_old_ones() {
        let mut file = CaseFile::new("c");
        assert!(file.record(event(0)).is_none());
        assert!(file.record(event(0)).is_none());
        assert_eq!(file.events.len(), 1);
        for i in 1..2 * EVENTS_PER_PAGE - 1 {
            assert!(file.record(event(i)).is_none(), "{i}");
        }
        let (n, page) = file.record(event(2 * EVENTS_PER_PAGE - 1)).expect("a page");
        assert_eq!((n, page.events.len()), (1, EVENTS_PER_PAGE));
        assert_eq!(page.events[0].id, "e0");
        assert_eq!(file.events.len(), EVENTS_PER_PAGE);
    }

    #[test]
    fn window_counts_keep_the_current_and_previous_window() {
        let mut c = WindowCounts::default();
        assert_eq!(c.add(10), 1);
        assert_eq!(c.add(10), 2);
        assert_eq!(c.add(11), 1);
        assert_eq!((c.count(10), c.count(11)), (2, 1));
        c.add(13);
        assert_eq!(c.count(10), 0, "forgotten");
        assert_eq!(c.windows.len(), 1);
    }
}
