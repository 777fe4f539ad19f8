//! The reads over what the fold wrote: the inbox, a case page's timeline with its
//! deliveries' attempts, the metrics and the exports. None of them writes.

use chrono::Duration;
use closeloop_domain::api::CaseFilter;
use closeloop_domain::case::{Action, CaseState, EventKind};
use closeloop_domain::delivery::AttemptError;
use closeloop_domain::export::{Dataset, ExportQuery, Rows};
use closeloop_domain::metrics::MetricsQuery;

use super::{cases, exports, metrics, progress};
use crate::attempt::tests::each;
use crate::attempt::{self, Outcome};
use crate::env::Env;
use crate::fold::Verdict;
use crate::fold::change::tests::{ack, act, opened, resolve};
use crate::fold::tests::{App, arrival, feedback, t0};
use crate::store::Store;

fn list(app: &App, query: &str) -> cases::CaseList {
    let filter = CaseFilter::from_query(query).unwrap();
    cases::list(app.store.as_ref(), &filter, app.env.now()).unwrap()
}

fn ids(list: &cases::CaseList) -> Vec<String> {
    list.cases.iter().map(|c| c.id.clone()).collect()
}

#[test]
fn the_inbox_lists_open_cases_most_urgent_first_with_its_totals() {
    let app = App::new();
    let promoter = match app.submit(arrival(feedback("r-1", 10, "lovely"))).verdict {
        Verdict::Accepted {
            case_id: Some(id), ..
        } => id,
        other => panic!("{other:?}"),
    };
    let detractor = opened(&app, "r-2");
    let resolved = opened(&app, "r-3");
    act(&app, &resolved, resolve("Dana"));
    act(
        &app,
        &detractor,
        Action::Assign {
            by: "Lee".into(),
            to: "Dana".into(),
            note: None,
        },
    );
    let writes = app.store.writes();

    let open = list(&app, "");
    assert_eq!(
        ids(&open),
        [detractor.clone(), promoter.clone()],
        "P1 before P4"
    );
    assert_eq!((open.total, open.recovered_detractors), (2, 0));
    assert_eq!(open.projection, progress(app.store.as_ref()).unwrap());
    assert_eq!(open.projection.behind, 0);
    assert_eq!(open.cases[0].owner.as_deref(), Some("Dana"));
    assert_eq!(open.cases[0].customer, "Alex Guest");

    let all = list(&app, "state=all");
    assert_eq!((all.total, all.cases.len()), (3, 3));
    assert_eq!(
        all.cases[2].id, resolved,
        "cases that wait on the customer come last"
    );
    assert_eq!(ids(&list(&app, "owner=Dana")), vec![detractor.clone()]);
    assert_eq!(
        ids(&list(&app, "state=resolved-awaiting-customer")),
        [resolved]
    );
    assert_eq!(ids(&list(&app, "priority=P4")), [promoter]);
    let limited = list(&app, "limit=1");
    assert_eq!((limited.cases.len(), limited.total), (1, 2));
    assert!(list(&app, "overdue=true").cases.is_empty());
    app.env.advance(Duration::days(3));
    assert_eq!(ids(&list(&app, "overdue=true"))[0], detractor);
    assert_eq!(app.store.writes(), writes, "reads write nothing");
}

#[test]
fn a_case_page_shows_every_event_and_every_delivery_attempt_in_time_order() {
    let app = App::new();
    let done = app.submit(arrival(feedback("r-4", 2, "rude staff")));
    let Verdict::Accepted {
        case_id: Some(id), ..
    } = done.verdict
    else {
        panic!()
    };
    let handover = done.folded.unwrap();
    let (slack, webhook) = (&handover.deliveries[0], &handover.deliveries[1]);
    let store = app.store.as_ref();
    let outcomes = attempt::attempt_held(
        store,
        &app.env,
        &handover.token,
        &[slack.clone(), webhook.clone()],
        each(|d| match d.id == *slack {
            true => Err(AttemptError::Timeout),
            false => Ok(()),
        }),
    )
    .unwrap();
    let Outcome::Recorded(failed) = outcomes[0].clone() else {
        panic!()
    };
    app.env.advance(Duration::minutes(1));
    act(&app, &id, ack("Dana"));
    app.env.advance(Duration::hours(1));
    let retried = attempt::attempt(store, &app.env, slack, |_| Ok(())).unwrap();
    assert!(matches!(retried, Outcome::Recorded(_)));

    let writes = app.store.writes();
    let view = cases::view(store, &id).unwrap().expect("the case");
    assert_eq!(app.store.writes(), writes);
    assert_eq!(view.case.state, CaseState::Acknowledged);
    assert_eq!(
        view.feedback.unwrap().comment.as_deref(),
        Some("rude staff")
    );
    // At t0 (in id order among themselves), then the acknowledgement, then the retry.
    let mut at_t0: Vec<(EventKind, &str)> = view.timeline[..4]
        .iter()
        .map(|e| (e.kind, e.detail.as_str()))
        .collect();
    at_t0.sort_by_key(|(k, _)| k.as_str());
    let next = (t0() + Duration::minutes(61)).to_rfc3339();
    let failure = format!(
        "case-opened via slack to configured attempt 1 failed (the provider did not answer in time); next attempt at {next}"
    );
    assert_eq!(
        at_t0[0],
        (
            EventKind::Delivered,
            "case-opened via webhook to configured delivered (attempt 1)"
        )
    );
    assert_eq!(at_t0[1], (EventKind::DeliveryFailed, failure.as_str()));
    assert_eq!(at_t0[2].0, EventKind::FeedbackReceived);
    assert_eq!(at_t0[3].0, EventKind::Opened);
    assert!(failed.next_attempt_at > t0());
    assert_eq!(view.timeline[4].kind, EventKind::Acknowledged);
    assert_eq!(
        (view.timeline[5].kind, view.timeline[5].detail.as_str()),
        (
            EventKind::Delivered,
            "case-opened via slack to configured delivered (attempt 2)"
        )
    );
    assert_eq!(view.timeline.len(), 6);
    assert!(view.timeline.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(
        view.timeline
            .iter()
            .filter(|e| e.actor == "dispatch")
            .count(),
        3
    );
    assert!(cases::view(store, "no-such-case").unwrap().is_none());
}

#[test]
fn the_metrics_follow_the_loop_and_say_how_far_the_fold_is_behind() {
    let app = App::new();
    let late = opened(&app, "r-5");
    app.submit(arrival(feedback("r-6", 10, "Great staff, thank you")));
    app.env.advance(Duration::minutes(10));
    act(&app, &late, ack("Dana"));
    let query = MetricsQuery::parse("", app.env.now().date_naive()).unwrap();
    let writes = app.store.writes();
    let m = metrics::report(app.store.as_ref(), &query, app.env.now()).unwrap();
    assert_eq!(app.store.writes(), writes);
    let t = &m.report.totals;
    assert_eq!((t.volume, t.cases), (2, 2));
    assert_eq!((t.nps.promoters, t.nps.detractors), (1, 1));
    assert_eq!(t.first_response_seconds.count, 1);
    assert_eq!(m.projection.behind, 0);
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["projection"]["behind"], 0);
    assert_eq!(
        json["totals"]["volume"], 2,
        "the report's fields stay at the top"
    );
    // A ticket taken and not folded yet shows.
    app.store.increment(crate::log::SEQ_KEY, 1).unwrap();
    let m = metrics::report(app.store.as_ref(), &query, app.env.now()).unwrap();
    assert_eq!(m.projection.behind, 1);
}

#[test]
fn exports_page_through_the_days_lists_with_a_cursor() {
    let app = App::new();
    for i in 0..3 {
        opened(&app, &format!("r-x-{i}"));
    }
    let today = app.env.now().date_naive();
    let page = |query: &str, dataset| {
        let q = ExportQuery::parse(query, today).unwrap();
        exports::rows(app.store.as_ref(), &q, dataset).unwrap()
    };
    let writes = app.store.writes();
    let (rows, next) = page("limit=2", Dataset::Cases);
    assert_eq!(rows.len(), 2);
    let next = next.expect("a next page");
    assert_eq!(next.offset, 2);
    let (rest, last) = page(&format!("limit=2&cursor={next}"), Dataset::Cases);
    assert_eq!((rest.len(), last), (1, None));
    let (Rows::Cases(a), Rows::Cases(b)) = (rows, rest) else {
        panic!()
    };
    let mut all: Vec<String> = a.iter().chain(&b).map(|r| r.case_id.clone()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 3, "every case once");
    let (feedback, next) = page("", Dataset::Feedback);
    assert_eq!((feedback.len(), next), (3, None));
    assert_eq!(page("team=nobody", Dataset::Cases).0.len(), 0);
    assert_eq!(page("team=front-desk", Dataset::Cases).0.len(), 3);
    assert_eq!(app.store.writes(), writes);
}

#[test]
fn finding_a_customer_reads_the_feedback_in_batches_of_its_limit() {
    use super::customers::{FIND_BATCH, find};
    use closeloop_domain::envelope;
    use closeloop_domain::privacy::CustomerSelector;
    for count in [FIND_BATCH, FIND_BATCH + 1] {
        let app = App::new();
        let keys: Vec<String> = (0..count)
            .map(|i| {
                let fb = feedback(&format!("f-{i}"), 5, "ok");
                let key = closeloop_domain::keys::feedback(&format!("{}-{i}", fb.id));
                app.store.seed(&key, envelope::encode(&fb));
                key
            })
            .collect();
        let selector = CustomerSelector {
            id: Some("guest-42".into()),
            email: None,
        };
        let reads = app.store.reads();
        assert_eq!(
            find(app.store.as_ref(), &keys, &selector).unwrap().len(),
            count
        );
        let calls = app.store.reads() - reads;
        assert_eq!(calls, count.div_ceil(FIND_BATCH) as u64, "{count} records");
        let nobody = CustomerSelector {
            id: Some("guest-7".into()),
            email: None,
        };
        assert!(find(app.store.as_ref(), &keys, &nobody).unwrap().is_empty());
    }
}

#[test]
fn a_topic_example_shows_at_most_its_limit_of_the_comment() {
    use super::metrics::EXAMPLE_CHARS;
    for extra in [0, 1] {
        let app = App::new();
        let comment = format!("The delivery was late {}", "x".repeat(EXAMPLE_CHARS));
        let comment: String = comment.chars().take(EXAMPLE_CHARS + extra).collect();
        app.submit(arrival(feedback("r-long", 2, &comment)));
        let query = MetricsQuery::parse("", app.env.now().date_naive()).unwrap();
        let m = metrics::report(app.store.as_ref(), &query, app.env.now()).unwrap();
        let example = m
            .report
            .topics
            .iter()
            .flat_map(|t| &t.examples)
            .next()
            .expect("an example");
        let shown = example.comment.as_deref().unwrap();
        assert_eq!(shown.chars().count(), EXAMPLE_CHARS);
        assert!(comment.starts_with(shown));
    }
}
