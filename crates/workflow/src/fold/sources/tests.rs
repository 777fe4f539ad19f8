//! A platform's events through the log: first, later, redelivered, racing, out of order, after
//! an agent acted, and after the same feedback was sent canonically.

use std::collections::BTreeMap;

use closeloop_domain::case::{Action, Case, CaseState};
use closeloop_domain::envelope;
use closeloop_domain::feedback::{self, Feedback};
use closeloop_domain::keys;
use closeloop_domain::notice::Notice;
use closeloop_domain::problem::ProblemKind;
use closeloop_domain::score::{Score, ScoreKind};
use closeloop_domain::sources::{MAX_EVENTS_PER_RESPONSE, SourceEvent};

use super::*;
use crate::fold::records::{self, CaseFile};
use crate::fold::tests::{App, arrival, t0};
use crate::fold::{Command, Verdict};
use crate::store::Store;

const CONNECTION: &str = "conn-delighted";
const SOURCE: &str = "delighted";

/// Event `event_id` of response `response` as the component makes it: NPS `score` (if any)
/// and `comment` (if any), from guest-42.
fn event(
    response: &str,
    event_id: &str,
    sequence: i64,
    score: Option<i64>,
    comment: Option<&str>,
) -> SourceEvent {
    let mut fb: Feedback = crate::fold::tests::feedback(response, 0, "");
    fb.source = SOURCE.into();
    fb.id = feedback::derived_id(fb.submitted_at, SOURCE, response);
    fb.score = score.map(|value| Score {
        kind: ScoreKind::Nps,
        value,
        scale: 10,
    });
    fb.comment = comment.map(str::to_owned);
    SourceEvent {
        connection_id: CONNECTION.into(),
        event_id: event_id.into(),
        sequence,
        received_at: t0(),
        feedback: fb,
    }
}

fn command(e: &SourceEvent) -> Command {
    Command::SourceEvent {
        event: Box::new(e.clone()),
    }
}

fn the_case(app: &App) -> Case {
    let cases: Vec<Case> = app.records("case:");
    assert_eq!(cases.len(), 1, "{cases:?}");
    cases.into_iter().next().unwrap()
}

fn file_of(app: &App, case: &Case) -> CaseFile {
    app.record(&records::case_file(&case.id)).unwrap()
}

fn kinds(file: &CaseFile) -> Vec<&str> {
    file.events.iter().map(|e| e.kind.as_str()).collect()
}

/// Every record but the log's own.
fn snapshot(app: &App) -> BTreeMap<String, Vec<u8>> {
    app.store
        .keys()
        .into_iter()
        .filter(|k| !k.starts_with("log:"))
        .map(|k| {
            let v = app.store.get(&k).unwrap().unwrap();
            (k, v)
        })
        .collect()
}

#[test]
fn the_first_event_makes_the_feedback_its_case_and_alert_in_two_writes() {
    let app = App::new();
    let created = event("5435", "ev-created", 1, Some(2), None);
    let done = app.submit(command(&created));
    let Verdict::Accepted {
        feedback_id,
        case_id: Some(case_id),
    } = done.verdict
    else {
        panic!("{:?}", done.verdict)
    };
    assert_eq!(app.store.writes(), 2, "the ticket and the fold");
    assert_eq!(feedback_id, created.feedback.id);
    let stored: Feedback = app.record(&keys::feedback(&feedback_id)).unwrap();
    assert_eq!(stored, created.feedback);
    let case = the_case(&app);
    assert_eq!(
        (case.id.as_str(), case.triage.priority.as_str()),
        (case_id.as_str(), "P1")
    );
    assert_eq!(app.records::<Notice>("notice:").len(), 1);
    assert_eq!(
        done.folded.unwrap().deliveries.len(),
        2,
        "slack and the webhook"
    );
    let record: ResponseEvents = app.record(&response_key(SOURCE, "5435")).unwrap();
    assert_eq!((record.feedback_id, record.events.len()), (feedback_id, 1));
}

#[test]
fn a_redelivered_event_is_a_duplicate_and_changes_nothing() {
    let app = App::new();
    let created = event("5435", "ev-created", 1, Some(2), None);
    let first = app.submit(command(&created));
    let id = created.feedback.id.clone();
    assert_eq!(
        recorded(app.store.as_ref(), CONNECTION, SOURCE, "5435", "ev-created").unwrap(),
        Some(id.clone()),
        "what the component reads before it submits anything"
    );
    assert_eq!(
        recorded(
            app.store.as_ref(),
            "another-connection",
            SOURCE,
            "5435",
            "ev-created"
        )
        .unwrap(),
        None
    );
    assert!(matches!(first.verdict, Verdict::Accepted { .. }));
    let before = snapshot(&app);
    let writes = app.store.writes();
    // Redelivered later, even with different content: the event id decides.
    let mut again = created.clone();
    again.received_at = t0() + chrono::Duration::minutes(3);
    again.feedback.comment = Some("a redelivery that says something else".into());
    let done = app.submit(command(&again));
    assert_eq!(done.verdict, Verdict::Duplicate { feedback_id: id });
    assert_eq!(
        app.store.writes() - writes,
        2,
        "the ticket, and a fold moving only the log"
    );
    assert_eq!(snapshot(&app), before, "nothing changed");
    assert!(done.folded.unwrap().deliveries.is_empty());
}

#[test]
fn events_of_one_response_racing_end_in_one_complete_feedback_one_case_one_alert() {
    let app = App::new();
    const RESPONSES: usize = 6;
    // Each response's created and updated events, each delivered twice, all at once.
    let mut threads = Vec::new();
    for n in 0..RESPONSES {
        let response = format!("race-{n}");
        let created = event(&response, &format!("{response}-c"), 1, Some(2), None);
        let updated = event(
            &response,
            &format!("{response}-u"),
            2,
            None,
            Some("Implementation took far too long"),
        );
        for (i, e) in [&created, &updated, &created, &updated]
            .into_iter()
            .enumerate()
        {
            threads.push((
                n,
                app.submit_on_thread(&format!("post-{n}-{i}"), command(e)),
            ));
        }
    }
    let mut verdicts: BTreeMap<usize, Vec<&'static str>> = BTreeMap::new();
    let mut handed = 0;
    for (n, t) in threads {
        let done = t.join().unwrap();
        handed += done.folded.map_or(0, |h| h.deliveries.len());
        let word = match done.verdict {
            Verdict::Accepted { .. } => "accepted",
            Verdict::Updated { .. } => "updated",
            Verdict::Duplicate { .. } => "duplicate",
            other => panic!("{other:?}"),
        };
        verdicts.entry(n).or_default().push(word);
    }
    for words in verdicts.values_mut() {
        words.sort_unstable();
        assert_eq!(*words, ["accepted", "duplicate", "duplicate", "updated"]);
    }
    let feedback: Vec<Feedback> = app.records("feedback:");
    assert_eq!(feedback.len(), RESPONSES);
    for f in &feedback {
        assert_eq!(f.score.map(|s| s.value), Some(2), "{f:?}");
        assert_eq!(
            f.comment.as_deref(),
            Some("Implementation took far too long")
        );
    }
    let records: Vec<ResponseEvents> = app.records(RESPONSE);
    assert!(
        records.iter().all(|r| r.events.len() == 2),
        "both events kept"
    );
    let cases: Vec<Case> = app.records("case:");
    assert_eq!(cases.len(), RESPONSES, "one case per response");
    for case in &cases {
        assert!(
            feedback
                .iter()
                .any(|f| Case::id_for(&f.id, f.received_at) == case.id)
        );
    }
    assert_eq!(
        app.records::<Notice>("notice:").len(),
        RESPONSES,
        "one alert each"
    );
    assert_eq!(handed, 2 * RESPONSES, "each delivery handed over once");
}

#[test]
fn events_out_of_order_end_as_in_order_and_keep_the_feedback_and_its_case() {
    let app = App::new();
    let created = event("5435", "ev-created", 1, Some(2), None);
    let mut updated = event(
        "5435",
        "ev-updated",
        2,
        None,
        Some("Implementation took far too long"),
    );
    updated.received_at = t0() - chrono::Duration::minutes(1);
    updated.feedback.received_at = updated.received_at;
    let first = app.submit(command(&updated));
    assert!(matches!(first.verdict, Verdict::Accepted { .. }));
    let case = the_case(&app);
    app.env.advance(chrono::Duration::minutes(2));
    let mut late = created.clone();
    late.received_at = t0() + chrono::Duration::minutes(2);
    late.feedback.received_at = late.received_at;
    let done = app.submit(command(&late));
    assert_eq!(
        done.verdict,
        Verdict::Updated {
            feedback_id: updated.feedback.id.clone()
        }
    );
    let f: Feedback = app.record(&keys::feedback(&updated.feedback.id)).unwrap();
    assert_eq!(f.score.map(|s| s.value), Some(2));
    assert_eq!(
        f.comment.as_deref(),
        Some("Implementation took far too long")
    );
    assert_eq!(
        f.received_at, updated.received_at,
        "received when it first arrived"
    );
    assert_eq!(the_case(&app).id, case.id, "still the one case");
}

#[test]
fn a_later_event_that_raises_the_priority_alerts_once_and_retriages_the_case() {
    let app = App::new();
    let promoter = event("r-1", "ev-1", 1, Some(10), Some("Lovely stay"));
    app.submit(command(&promoter));
    let case = the_case(&app);
    assert_eq!(case.triage.priority.as_str(), "P4");
    assert!(!case.triage.alert);
    assert!(app.records::<Notice>("notice:").is_empty());

    // The customer changes the score: the same case, now P1, alerted for the first time.
    let writes = app.store.writes();
    let detractor = event(
        "r-1",
        "ev-2",
        2,
        Some(3),
        Some("The class was cancelled twice"),
    );
    let done = app.submit(command(&detractor));
    assert_eq!(
        done.verdict,
        Verdict::Updated {
            feedback_id: promoter.feedback.id.clone()
        }
    );
    assert_eq!(app.store.writes() - writes, 2, "the ticket and the fold");
    let case = the_case(&app);
    assert_eq!(
        (case.triage.priority.as_str(), case.triage.alert),
        ("P1", true)
    );
    assert_eq!(case.state, CaseState::New);
    let file = file_of(&app, &case);
    assert_eq!(kinds(&file), ["feedback-received", "opened", "retriaged"]);
    assert!(
        file.events[2].detail.contains("P1 (was P4)"),
        "{}",
        file.events[2].detail
    );
    let notices: Vec<Notice> = app.records("notice:");
    assert_eq!(notices.len(), 1);
    assert_eq!(
        notices[0].id,
        Notice::case_opened(&case, t0()).id,
        "derived from the case"
    );
    assert_eq!(done.folded.unwrap().deliveries.len(), 2);

    // Worse still: triaged again, but never a second alert.
    let worse = event(
        "r-1",
        "ev-3",
        3,
        Some(0),
        Some("I want my money back, I am cancelling"),
    );
    let done = app.submit(command(&worse));
    assert!(matches!(done.verdict, Verdict::Updated { .. }));
    assert_eq!(app.records::<Notice>("notice:").len(), 1);
    assert!(done.folded.unwrap().deliveries.is_empty());
    assert_eq!(
        kinds(&file_of(&app, &the_case(&app))).last(),
        Some(&"retriaged")
    );
}

#[test]
fn a_later_event_after_an_agent_acted_keeps_the_state_history_and_owners() {
    let app = App::new();
    // Round-robin draws the case's first owner.
    let rules = serde_json::json!({"rules": [
        {"name": "everything to the desk", "then": {"team": "front-desk", "round_robin": ["ana", "ben"]}}
    ]});
    let (rules, _) = closeloop_domain::triage::routing::parse(&rules, &|_| true).unwrap();
    app.store.seed(
        closeloop_domain::triage::config::RULES_KEY,
        envelope::encode(&rules),
    );
    let first = event("r-2", "ev-1", 1, Some(6), Some("Room was fine"));
    app.submit(command(&first));
    let case = the_case(&app);
    assert_eq!(case.triage.routing.owner.as_deref(), Some("ana"));
    assert_eq!(
        case.owner.as_deref(),
        Some("ana"),
        "the round-robin's turn owns it"
    );
    assert_eq!(
        (case.triage.priority.as_str(), case.triage.alert),
        ("P2", true)
    );
    // A lead reassigns the case to Dana, who acknowledges it (folded as their own commands).
    let (assigned, e1) = case
        .apply(
            Action::Assign {
                by: "lead".into(),
                to: "dana".into(),
                note: None,
            },
            "ev-assign".into(),
            t0(),
        )
        .unwrap();
    let (acked, e2) = assigned
        .apply(
            Action::Acknowledge {
                by: "dana".into(),
                note: None,
            },
            "ev-ack".into(),
            t0(),
        )
        .unwrap();
    let mut file = file_of(&app, &case);
    file.events.extend([e1, e2]);
    app.store
        .seed(&keys::case(&case.id), envelope::encode(&acked));
    app.store
        .seed(&records::case_file(&case.id), envelope::encode(&file));

    let later = event(
        "r-2",
        "ev-2",
        2,
        Some(6),
        Some("Actually I am cancelling, the staff were rude and I want my money back"),
    );
    app.submit(command(&later));
    let now = the_case(&app);
    assert_eq!(now.state, CaseState::Acknowledged, "its state kept");
    assert_eq!(now.owner.as_deref(), Some("dana"), "its owner kept");
    assert_eq!(
        now.triage.routing.owner.as_deref(),
        Some("ana"),
        "no second round-robin turn"
    );
    assert_eq!(now.first_response_at, acked.first_response_at);
    assert_eq!(now.version, acked.version + 1);
    assert_eq!(now.triage.priority.as_str(), "P1", "triaged again");
    let signals: Vec<&str> = now
        .triage
        .analysis
        .signals
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert!(
        signals.contains(&"churn-threat") && signals.contains(&"refund-request"),
        "{signals:?}"
    );
    assert_eq!(
        app.records::<Notice>("notice:").len(),
        1,
        "alerted once, as P2"
    );
    assert_eq!(
        kinds(&file_of(&app, &now)),
        [
            "feedback-received",
            "opened",
            "assigned",
            "assigned",
            "acknowledged",
            "retriaged"
        ]
    );
}

#[test]
fn a_change_that_leaves_the_triage_as_it_was_records_no_retriage() {
    let app = App::new();
    let first = event("r-3", "ev-1", 1, Some(3), Some("Noisy room"));
    app.submit(command(&first));
    let case = the_case(&app);
    let mut later = event("r-3", "ev-2", 2, Some(3), Some("Noisy room"));
    later
        .feedback
        .metadata
        .insert("permalink".into(), "https://example.com/r/1".into());
    app.env.advance(chrono::Duration::minutes(5));
    let done = app.submit(command(&later));
    assert!(matches!(done.verdict, Verdict::Updated { .. }));
    let f: Feedback = app.record(&keys::feedback(&first.feedback.id)).unwrap();
    assert!(
        f.metadata.contains_key("permalink"),
        "the feedback was updated"
    );
    assert_eq!(the_case(&app), case, "the case was not touched");
    assert_eq!(
        kinds(&file_of(&app, &case)),
        ["feedback-received", "opened"]
    );
}

#[test]
fn an_event_for_feedback_sent_canonically_updates_that_feedback() {
    let app = App::new();
    let mut canonical = crate::fold::tests::feedback("5435", 6, "Room was fine");
    canonical.source = SOURCE.into();
    canonical.id = feedback::derived_id(canonical.submitted_at, SOURCE, "5435");
    canonical.received_at = t0() - chrono::Duration::hours(1);
    app.submit(arrival(canonical.clone()));
    let case = the_case(&app);

    // The platform's own webhook then tells the same response, submitted at another time and
    // with a comment: the same feedback (its id, customer and arrival kept), updated.
    let mut e = event(
        "5435",
        "ev-1",
        1,
        None,
        Some("Actually I am cancelling, the staff were rude"),
    );
    e.feedback.submitted_at = t0() + chrono::Duration::minutes(1);
    e.feedback.id = feedback::derived_id(e.feedback.submitted_at, SOURCE, "5435");
    e.feedback.customer.email = None;
    let done = app.submit(command(&e));
    assert_eq!(
        done.verdict,
        Verdict::Updated {
            feedback_id: canonical.id.clone()
        }
    );
    assert_eq!(app.records::<Feedback>("feedback:").len(), 1);
    let f: Feedback = app.record(&keys::feedback(&canonical.id)).unwrap();
    assert_eq!(f.comment, e.feedback.comment);
    assert_eq!(
        f.score, canonical.score,
        "the event has no score: the base's stays"
    );
    assert_eq!(f.customer.email, canonical.customer.email);
    assert_eq!(
        (f.received_at, f.submitted_at),
        (canonical.received_at, canonical.submitted_at)
    );
    let now = the_case(&app);
    assert_eq!(now.id, case.id, "the one case, triaged again");
    assert_eq!(kinds(&file_of(&app, &now)).last(), Some(&"retriaged"));
    let record: ResponseEvents = app.record(&response_key(SOURCE, "5435")).unwrap();
    assert_eq!(record.base.as_ref(), Some(&canonical));
}

#[test]
fn events_per_response_at_and_past_the_limit() {
    let app = App::new();
    let first = event("r-4", "ev-0", 0, Some(3), Some("Noisy"));
    app.submit(command(&first));
    let mut record: ResponseEvents = app.record(&response_key(SOURCE, "r-4")).unwrap();
    for i in 1..MAX_EVENTS_PER_RESPONSE - 1 {
        let mut e = first.clone();
        e.event_id = format!("ev-{i}");
        record.events.push(e);
    }
    app.store
        .seed(&response_key(SOURCE, "r-4"), envelope::encode(&record));
    let last = event("r-4", "ev-last", 1, Some(3), Some("Still noisy"));
    let done = app.submit(command(&last));
    assert!(
        matches!(done.verdict, Verdict::Updated { .. }),
        "{:?}",
        done.verdict
    );
    let record: ResponseEvents = app.record(&response_key(SOURCE, "r-4")).unwrap();
    assert_eq!(record.events.len(), MAX_EVENTS_PER_RESPONSE);
    let before = snapshot(&app);
    let past = event("r-4", "ev-past", 2, Some(0), Some("Worse"));
    let done = app.submit(command(&past));
    let Verdict::Refused { kind, detail } = done.verdict else {
        panic!("{:?}", done.verdict)
    };
    assert_eq!(kind, ProblemKind::InvalidRequest);
    assert!(detail.contains("r-4"), "{detail}");
    assert_eq!(snapshot(&app), before, "nothing stored");
}
