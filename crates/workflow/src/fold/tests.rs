//! The fold through the log, as the components drive it: commands in, verdicts and records
//! out, races included.

use std::sync::Arc;

use chrono::TimeZone;
use closeloop_domain::Timestamp;
use closeloop_domain::case::Case;
use closeloop_domain::delivery::{ConfiguredChannels, Delivery, DeliveryStatus};
use closeloop_domain::feedback::{Customer, Feedback};
use closeloop_domain::followup::FollowUpPolicy;
use closeloop_domain::notice::Notice;
use closeloop_domain::projection::index::IndexRoot;
use closeloop_domain::projection::keys as projection_keys;
use closeloop_domain::score::{Score, ScoreKind};
use closeloop_domain::triage::TriagePolicy;
use closeloop_domain::{envelope::Record, keys};

use super::records::{self, CaseFile};
use super::*;
use crate::env::TestEnv;
use crate::log::{self, Submitted};
use crate::memory::MemoryStore;
use crate::store::get_record;
use crate::testing::spawn;

pub fn t0() -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 0).unwrap()
}

pub fn context() -> Context {
    Context {
        policy: TriagePolicy {
            default_team: "front-desk".into(),
        },
        channels: ConfiguredChannels {
            slack: true,
            webhook: true,
            customer_webhook: true,
            ..ConfiguredChannels::default()
        },
        follow_up: FollowUpPolicy::default(),
        customer_quiet_hours: None,
        link_key: closeloop_domain::link::LinkKey::new("link-signing-key-for-tests-0123456789"),
        link_ttl_hours: 168,
        public_base_url: "http://closeloop.test".into(),
        delivery_timeout: std::time::Duration::from_secs(DELIVERY_TIMEOUT_SECS as u64),
    }
}

/// The provider timeout the tests' app is configured with.
pub const DELIVERY_TIMEOUT_SECS: i64 = 1;
/// The first-attempt lease of the tests' usual alert, which hands over two deliveries (Slack
/// and a webhook): the margin plus one timeout per call.
pub const FIRST_ATTEMPT_LEASE_SECS: i64 =
    closeloop_domain::delivery::FIRST_ATTEMPT_MARGIN_SECS + 2 * DELIVERY_TIMEOUT_SECS;

/// An app: a store, a clock, the fold.
pub struct App {
    pub store: Arc<MemoryStore>,
    pub env: TestEnv,
    pub fold: Arc<Closeloop>,
}

impl App {
    pub fn new() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            env: TestEnv::at(t0()),
            fold: Arc::new(Closeloop { ctx: context() }),
        }
    }

    /// An app whose configuration `change` alters.
    pub fn with(change: impl FnOnce(&mut Context)) -> Self {
        let mut ctx = context();
        change(&mut ctx);
        Self {
            fold: Arc::new(Closeloop { ctx }),
            ..Self::new()
        }
    }

    pub fn submit(&self, command: Command) -> Submitted<Verdict, Handover> {
        log::submit(self.store.as_ref(), &self.env, self.fold.as_ref(), command).unwrap()
    }

    /// Submits `command` on a thread of its own named `name`, racing whatever else runs; the
    /// thread answers what the log answered.
    pub fn submit_on_thread(
        &self,
        name: &str,
        command: Command,
    ) -> std::thread::JoinHandle<Submitted<Verdict, Handover>> {
        let (store, env, fold) = (self.store.clone(), self.env.clone(), self.fold.clone());
        spawn(name, move || {
            log::submit(store.as_ref(), &env, fold.as_ref(), command).unwrap()
        })
    }

    pub fn record<T: Record>(&self, key: &str) -> Option<T> {
        get_record(self.store.as_ref(), key).unwrap()
    }

    /// Every record under `prefix`.
    pub fn records<T: Record>(&self, prefix: &str) -> Vec<T> {
        self.store
            .keys()
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .filter_map(|k| self.record(&k))
            .collect()
    }
}

/// NPS `score` with `comment` from guest-42, as ingest validates it.
pub fn feedback(external_id: &str, score: i64, comment: &str) -> Feedback {
    Feedback {
        id: closeloop_domain::ids::derived(t0(), &["hotel-survey", external_id]).to_string(),
        source: "hotel-survey".into(),
        external_id: external_id.into(),
        submitted_at: t0(),
        received_at: t0(),
        customer: Customer {
            id: Some("guest-42".into()),
            email: Some("guest42@example.com".into()),
            name: Some("Alex Guest".into()),
            phone: None,
            attributes: Default::default(),
        },
        score: Some(Score {
            kind: ScoreKind::Nps,
            value: score,
            scale: 10,
        }),
        comment: Some(comment.into()),
        metadata: Default::default(),
    }
}

pub fn arrival(f: Feedback) -> Command {
    Command::Feedback {
        feedback: Box::new(f),
    }
}

#[test]
fn a_detractor_is_stored_triaged_opened_and_its_alert_handed_over_in_two_writes() {
    let app = App::new();
    let fb = feedback("stay-1001", 3, "The room by the lift was noisy all night");
    let done = app.submit(arrival(fb.clone()));
    let Verdict::Accepted {
        feedback_id,
        case_id: Some(case_id),
    } = done.verdict
    else {
        panic!("{:?}", done.verdict)
    };
    assert_eq!(feedback_id, fb.id);
    assert_eq!(app.store.writes(), 2, "the ticket and the fold");

    let case: Case = app.record(&keys::case(&case_id)).unwrap();
    assert_eq!(case.feedback_id, fb.id);
    assert_eq!(case.triage.priority.as_str(), "P1");
    let file: CaseFile = app.record(&records::case_file(&case_id)).unwrap();
    let kinds: Vec<&str> = file.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["feedback-received", "opened"]);
    assert_eq!(file.notices.len(), 1);

    let notice: Notice = app.record(&keys::notice(&file.notices[0])).unwrap();
    assert_eq!(notice.kind.as_str(), "case-opened");
    let handover = done.folded.expect("the submitter folded");
    assert_eq!(handover.deliveries.len(), 2, "slack and the alert webhook");
    assert_eq!(handover.deliveries, file.deliveries);
    for id in &handover.deliveries {
        let d: Delivery = app.record(&keys::delivery(id)).unwrap();
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert!(
            d.leased_to(&handover.token, t0()),
            "first attempt leased to the folder"
        );
    }

    // The read models already count it.
    let root: IndexRoot = app.record(projection_keys::INDEX_ROOT).unwrap();
    assert_eq!(root.open_counts().0, 1);
    let day: closeloop_domain::metrics::DayAggregate = app
        .record(&projection_keys::day(t0().date_naive()))
        .unwrap();
    assert_eq!(day.listed, 1);
}

#[test]
fn a_repeat_is_a_duplicate_and_changes_no_record() {
    let app = App::new();
    let fb = feedback("stay-1", 2, "rude staff");
    app.submit(arrival(fb.clone()));
    let before = app.store.keys().len();
    let writes = app.store.writes();
    let mut again = fb.clone();
    again.received_at = t0() + chrono::Duration::minutes(5);
    again.comment = Some("changed my mind".into());
    let done = app.submit(arrival(again));
    assert_eq!(
        done.verdict,
        Verdict::Duplicate {
            feedback_id: fb.id.clone()
        }
    );
    assert_eq!(
        app.store.writes() - writes,
        2,
        "the ticket, and a fold moving only the log on"
    );
    assert_eq!(app.store.keys().len(), before, "no new record");
    let stored: Feedback = app.record(&keys::feedback(&fb.id)).unwrap();
    assert_eq!(stored, fb, "unchanged");
}

#[test]
fn sixteen_racing_copies_make_one_feedback_one_case_one_alert() {
    let app = App::new();
    let fb = feedback("stay-race", 1, "cold shower and nobody came");
    let threads: Vec<_> = (0..16)
        .map(|i| app.submit_on_thread(&format!("post-{i}"), arrival(fb.clone())))
        .collect();
    let done: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let accepted = done
        .iter()
        .filter(|d| matches!(d.verdict, Verdict::Accepted { .. }))
        .count();
    assert_eq!(accepted, 1);
    assert_eq!(app.records::<Case>("case:").len(), 1);
    assert_eq!(app.records::<Notice>("notice:").len(), 1);
    assert_eq!(app.records::<Delivery>("delivery:").len(), 2);
    let handed: usize = done
        .iter()
        .filter_map(|d| d.folded.as_ref())
        .map(|h| h.deliveries.len())
        .sum();
    assert_eq!(handed, 2, "each delivery handed over once");
}

#[test]
fn an_answer_from_a_customer_with_an_open_case_joins_it_when_the_rule_is_on() {
    let app = App::new();
    app.store.seed(
        closeloop_domain::triage::config::RULES_KEY,
        closeloop_domain::envelope::encode(&closeloop_domain::triage::routing::RuleSet {
            join_open_case: true,
            ..Default::default()
        }),
    );
    let first = app.submit(arrival(feedback("a", 2, "noisy")));
    let second = app.submit(arrival(feedback("b", 3, "still noisy")));
    let case_of = |v: &Verdict| match v {
        Verdict::Accepted { case_id, .. } => case_id.clone().unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(case_of(&first.verdict), case_of(&second.verdict));
    assert_eq!(app.records::<Case>("case:").len(), 1);
    let file: CaseFile = app
        .record(&records::case_file(&case_of(&first.verdict)))
        .unwrap();
    assert_eq!(file.events.len(), 3, "two receipts and the opening");
}

#[test]
fn the_owner_a_rule_names_owns_the_case_assigned_by_triage() {
    let app = App::new();
    let rules: closeloop_domain::triage::routing::RuleSet =
        serde_json::from_value(serde_json::json!({
            "rules": [{"name": "everything to Ana", "when": [],
                       "then": {"team": "customer-success", "owner": "csm-ana"}}]
        }))
        .unwrap();
    app.store.seed(
        closeloop_domain::triage::config::RULES_KEY,
        closeloop_domain::envelope::encode(&rules),
    );
    let done = app.submit(arrival(feedback(
        "b2b-1",
        4,
        "Implementation took too long",
    )));
    let Verdict::Accepted {
        case_id: Some(id), ..
    } = done.verdict
    else {
        panic!("{:?}", done.verdict)
    };
    let case: Case = app.record(&keys::case(&id)).unwrap();
    assert_eq!(case.owner.as_deref(), Some("csm-ana"));
    assert_eq!(case.state, closeloop_domain::case::CaseState::Assigned);
    let file: CaseFile = app.record(&records::case_file(&id)).unwrap();
    let assigned: Vec<_> = file
        .events
        .iter()
        .filter(|e| e.kind == closeloop_domain::case::EventKind::Assigned)
        .collect();
    assert_eq!(assigned.len(), 1, "{:?}", file.events);
    assert_eq!(assigned[0].actor, "triage");
}
