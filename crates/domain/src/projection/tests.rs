//! The projector against a generated history with known answers: the incremental
//! aggregates must equal the metrics computed directly from the final records, through
//! re-triage, reopening, repeated and out-of-order changes.
use chrono::{Duration, NaiveDate, TimeZone, Utc};

use super::memory::MemorySource;
use super::*;
use crate::case::{Action, CaseState, CustomerAnswer, RootCause};
use crate::feedback::Customer;
use crate::metrics::{DayAggregate, MetricsQuery, report};
use crate::score::{Score, ScoreClass, ScoreKind};
use crate::triage::{TriagePolicy, triage};

/// Moves the case of `feedback_id` on by `action` at `at`, as an agent or the customer would.
fn act(mem: &mut MemorySource, feedback_id: &str, action: Action, at: Timestamp) {
    let f = &mem.feedback[feedback_id];
    let id = Case::id_for(&f.id, f.received_at);
    let (next, _) = mem.cases[&id]
        .apply(action, format!("e-{}", at.timestamp_millis()), at)
        .unwrap();
    mem.cases.insert(id, next);
}

const COMMENTS: [Option<&str>; 4] = [
    Some("my delivery arrived late and the parcel was broken"),
    Some("I was charged twice on my invoice, billing is a mess"),
    Some("great service, thank you"),
    None,
];

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap()
}

/// 60 NPS answers over three days, each moved along a path chosen by its number.
fn history() -> (MemorySource, Vec<String>) {
    let mut mem = MemorySource::default();
    let policy = TriagePolicy {
        default_team: "customer-success".into(),
    };
    let mut ids = Vec::new();
    for i in 0..60_i64 {
        let received = t0() + Duration::days(i / 20) + Duration::minutes(10 * (i % 20));
        let f = Feedback {
            id: format!("fb-{i:03}"),
            source: if i % 2 == 0 { "typeform" } else { "delighted" }.into(),
            external_id: i.to_string(),
            submitted_at: received,
            received_at: received,
            customer: Customer {
                id: Some(format!("c{i}")),
                email: None,
                name: None,
                phone: None,
                attributes: Default::default(),
            },
            score: Some(Score {
                kind: ScoreKind::Nps,
                value: i % 11,
                scale: 10,
            }),
            comment: COMMENTS[(i % 4) as usize].map(str::to_owned),
            metadata: Default::default(),
        };
        let case = Case::open(&f.id, received, triage(&f, &policy, received));
        mem.cases.insert(case.id.clone(), case);
        ids.push(f.id.clone());
        mem.feedback.insert(f.id.clone(), f);
    }
    (mem, ids)
}

fn nearest_rank(mut values: Vec<i64>, p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort();
    let rank = ((p * values.len() as f64).ceil() as usize).max(1);
    Some(values[rank - 1] as f64)
}

fn close_to(got: Option<f64>, want: Option<f64>, what: &str) {
    match (got, want) {
        (None, None) => {}
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= 0.025 * w.max(1.0),
            "{what}: got {g}, want {w} (within 2.5%)"
        ),
        _ => panic!("{what}: got {got:?}, want {want:?}"),
    }
}

/// The metrics of `feedback` computed straight from the final records.
fn check_against_records(
    mem: &MemorySource,
    summary: &crate::metrics::report::Summary,
    only: impl Fn(&Feedback, &Case) -> bool,
) {
    let rows: Vec<(&Feedback, &Case)> = mem
        .feedback
        .values()
        .map(|f| (f, &mem.cases[&Case::id_for(&f.id, f.received_at)]))
        .filter(|(f, c)| only(f, c))
        .collect();
    let class = |c: ScoreClass| {
        rows.iter()
            .filter(|(f, _)| f.score.unwrap().class() == c)
            .count() as i64
    };
    assert_eq!(summary.volume, rows.len() as i64);
    assert_eq!(summary.cases, rows.len() as i64);
    assert_eq!(summary.nps.promoters, class(ScoreClass::Promoter));
    assert_eq!(summary.nps.detractors, class(ScoreClass::Detractor));
    let resolved = |c: &Case| {
        matches!(
            c.state,
            CaseState::ResolvedAwaitingCustomer
                | CaseState::ClosedConfirmed
                | CaseState::ClosedUnconfirmed
        )
    };
    let secs = |f: &Feedback, t: Timestamp| (t - f.received_at).num_seconds();
    let first: Vec<i64> = rows
        .iter()
        .filter_map(|(f, c)| Some(secs(f, c.first_response_at?)))
        .collect();
    let resolve: Vec<i64> = rows
        .iter()
        .filter(|(_, c)| resolved(c))
        .filter_map(|(f, c)| Some(secs(f, c.resolution.as_ref()?.resolved_at)))
        .collect();
    let alerts: Vec<i64> = rows
        .iter()
        .filter_map(|(f, c)| Some(secs(f, *mem.alerted.get(&c.id)?)))
        .collect();
    assert_eq!(summary.first_response_seconds.count, first.len() as i64);
    close_to(
        summary.first_response_seconds.median,
        nearest_rank(first.clone(), 0.5),
        "first response median",
    );
    close_to(
        summary.first_response_seconds.p90,
        nearest_rank(first, 0.9),
        "first response p90",
    );
    assert_eq!(summary.time_to_resolve_seconds.count, resolve.len() as i64);
    close_to(
        summary.time_to_resolve_seconds.median,
        nearest_rank(resolve.clone(), 0.5),
        "resolve median",
    );
    close_to(
        summary.time_to_resolve_seconds.p90,
        nearest_rank(resolve, 0.9),
        "resolve p90",
    );
    assert_eq!(summary.alert_latency_seconds.count, alerts.len() as i64);
    close_to(
        summary.alert_latency_seconds.median,
        nearest_rank(alerts, 0.5),
        "alert median",
    );
    let count =
        |p: &dyn Fn(&Feedback, &Case) -> bool| rows.iter().filter(|(f, c)| p(f, c)).count() as i64;
    assert_eq!(summary.closed, count(&|_, c| c.state.is_closed()));
    assert_eq!(
        summary.confirmed,
        count(&|_, c| c.state == CaseState::ClosedConfirmed)
    );
    assert_eq!(summary.asked, count(&|_, c| c.round > 0));
    assert_eq!(summary.reopened, count(&|_, c| c.reopen_count > 0));
    assert_eq!(
        summary.recovered_detractors,
        count(&|f, c| c.recovered_detractor(f.score))
    );
}

#[test]
fn incremental_metrics_equal_the_records_through_reopen_and_retriage() {
    let (mut mem, ids) = history();
    // Everything arrives: one fold of every new feedback, with repeats.
    let mut first = ids.clone();
    first.extend(ids.iter().take(10).cloned());
    mem.fold(&first);

    let root_causes = [
        RootCause::ProductDefect,
        RootCause::BillingError,
        RootCause::Communication,
    ];
    let mut changed = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let i = i as i64;
        let received = mem.feedback[id].received_at;
        let case_id = Case::id_for(id, received);
        if i % 3 == 0 {
            mem.alerted
                .insert(case_id.clone(), received + Duration::seconds(30 + i));
        }
        if i % 2 == 0 {
            act(
                &mut mem,
                id,
                Action::Acknowledge {
                    by: "dana".into(),
                    note: None,
                },
                received + Duration::minutes(i + 1),
            );
        }
        if i % 4 == 0 {
            act(
                &mut mem,
                id,
                Action::Resolve {
                    by: "dana".into(),
                    summary: "fixed".into(),
                    root_cause: root_causes[(i / 4 % 3) as usize],
                },
                received + Duration::hours(i + 1),
            );
        }
        let answer = |resolved: bool, score: i64, at: Timestamp| {
            Action::CustomerAnswer(CustomerAnswer {
                resolved,
                score: Some(Score {
                    kind: ScoreKind::Nps,
                    value: score,
                    scale: 10,
                }),
                comment: None,
                answered_at: at,
            })
        };
        if i % 8 == 0 {
            act(
                &mut mem,
                id,
                answer(true, 9, received + Duration::days(1)),
                received + Duration::days(1),
            );
        }
        if i % 8 == 4 {
            // Not solved: the case reopens and leaves time-to-resolve and closure.
            act(
                &mut mem,
                id,
                answer(false, 2, received + Duration::days(1)),
                received + Duration::days(1),
            );
            if i % 16 == 4 {
                act(
                    &mut mem,
                    id,
                    Action::Resolve {
                        by: "dana".into(),
                        summary: "really fixed".into(),
                        root_cause: RootCause::ProcessGap,
                    },
                    received + Duration::days(2),
                );
            }
        }
        if i % 10 == 3 {
            // Triaged again: another team now owns it.
            let case = mem.cases.get_mut(&case_id).unwrap();
            case.triage.team = "billing".into();
            case.version += 1;
        }
        changed.push(id.clone());
    }
    // Changes seen out of order, in several folds, some twice.
    changed.reverse();
    for part in changed.chunks(7) {
        mem.fold(part);
    }
    mem.fold(&changed[..5]);

    let query = MetricsQuery::parse(
        "from=2026-11-02&to=2026-11-04&group_by=team",
        t0().date_naive(),
    )
    .unwrap();
    let days: Vec<DayAggregate> = mem.days.values().cloned().collect();
    let r = report(&query, &days, &[], t0());
    check_against_records(&mem, &r.totals, |_, _| true);
    for (team, summary) in &r.groups["team"] {
        check_against_records(&mem, summary, |_, c| &c.triage.team == team);
    }
    // Known answers, by construction.
    assert_eq!(r.totals.volume, 60);
    assert_eq!(
        r.groups["team"]["billing"].volume, 6,
        "i % 10 == 3 moved teams"
    );
    assert_eq!(r.groups["team"]["customer-success"].volume, 54);
    assert_eq!(r.totals.reopened, 7, "i % 8 == 4");
    assert_eq!(r.totals.confirmed, 8, "i % 8 == 0");
    // Resolved now: the 8 confirmed and the 4 of the 7 reopened that were resolved again.
    assert_eq!(r.totals.time_to_resolve_seconds.count, 8 + 4);
    assert_eq!(r.totals.closure_rate, Some(round4(8.0 / 60.0)));
    assert_eq!(r.totals.root_causes["process-gap"], 4);
    assert_eq!(
        r.series.iter().map(|p| p.volume).collect::<Vec<_>>(),
        [20, 20, 20]
    );
    // NPS of i % 11 over 0..60: scores 9 and 10 promote, 0 to 6 detract.
    let promoters = (0..60).filter(|i| i % 11 >= 9).count() as f64;
    let detractors = (0..60).filter(|i| i % 11 <= 6).count() as f64;
    assert_eq!(
        r.totals.nps.score,
        Some(((promoters - detractors) * 1000.0 / 60.0).round() / 10.0)
    );
    // Topics: each topic's count equals the cases carrying it.
    for trend in &r.topics {
        let carrying = mem
            .cases
            .values()
            .filter(|c| {
                c.triage
                    .analysis
                    .topics
                    .iter()
                    .any(|t| t.topic == trend.topic)
            })
            .count() as i64;
        assert_eq!(trend.count, carrying, "{}", trend.topic);
        assert!(trend.rising && trend.previous == 0);
        assert!(!trend.examples.is_empty());
    }
    assert!(!r.topics.is_empty(), "the comments name topics");
    // A team's topic trends count only its cases.
    let q = MetricsQuery::parse(
        "from=2026-11-02&to=2026-11-04&team=billing",
        t0().date_naive(),
    )
    .unwrap();
    let billing = report(&q, &days, &[], t0());
    assert_eq!(billing.totals.volume, 6);
    for trend in &billing.topics {
        let carrying = mem
            .cases
            .values()
            .filter(|c| c.triage.team == "billing")
            .filter(|c| {
                c.triage
                    .analysis
                    .topics
                    .iter()
                    .any(|t| t.topic == trend.topic)
            })
            .count() as i64;
        assert_eq!(trend.count, carrying, "billing: {}", trend.topic);
    }
    assert!(!billing.topics.is_empty());

    // The inbox: the open cases, most urgent first, as the index lists them.
    let listed: Vec<String> = mem
        .root
        .open_chunks()
        .flat_map(|id| mem.chunks[&id].entries.clone())
        .filter(|e| !e.key.closed)
        .map(|e| e.key.id)
        .collect();
    let mut open: Vec<Case> = mem
        .cases
        .values()
        .filter(|c| c.state.is_open())
        .cloned()
        .collect();
    open.sort_by(|a, b| {
        a.next_due()
            .cmp(&b.next_due())
            .then(a.triage.priority.cmp(&b.triage.priority))
            .then(a.opened_at.cmp(&b.opened_at))
            .then(a.id.cmp(&b.id))
    });
    assert_eq!(
        listed,
        open.iter().map(|c| c.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(mem.root.len(), 60);
    let recovered_open = mem
        .cases
        .values()
        .filter(|c| c.state.is_open() && c.recovered_detractor(mem.feedback[&c.feedback_id].score))
        .count();
    assert_eq!(mem.root.open_counts(), (open.len(), recovered_open));
    // Every feedback is listed once under its day.
    let mut all: Vec<String> = mem.day_ids.values().flat_map(|d| d.ids.clone()).collect();
    all.sort();
    assert_eq!(all, ids);
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[test]
fn feedback_that_is_gone_counts_no_more() {
    let (mut mem, ids) = history();
    mem.fold(&ids);
    let gone = ids[0].clone();
    mem.feedback.remove(&gone);
    mem.fold(std::slice::from_ref(&gone));
    let days: Vec<DayAggregate> = mem.days.values().cloned().collect();
    let q = MetricsQuery::parse("from=2026-11-02&to=2026-11-04", t0().date_naive()).unwrap();
    assert_eq!(report(&q, &days, &[], t0()).totals.volume, 59);
    assert_eq!(mem.root.len(), 59);
    assert!(!mem.projected.contains_key(&gone));
}

#[test]
fn the_query_is_checked() {
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let q = MetricsQuery::parse("", today).unwrap();
    assert_eq!((q.to - q.from).num_days(), 29);
    assert_eq!(q.previous().1, q.from - Duration::days(1));
    let pointers = |s: &str| {
        MetricsQuery::parse(s, today)
            .unwrap_err()
            .into_iter()
            .map(|e| e.pointer)
            .collect::<Vec<_>>()
    };
    assert_eq!(pointers("from=2026-13-01"), ["/query/from"]);
    assert_eq!(pointers("from=2026-11-10&to=2026-11-01"), ["/query/from"]);
    assert_eq!(pointers("team=a&source=b"), ["/query/source"]);
    assert_eq!(
        pointers("group_by=channel&x=1"),
        ["/query/group_by", "/query/x"]
    );
    assert_eq!(pointers("source=a&group_by=team"), ["/query/group_by"]);
    assert_eq!(pointers("team=a&group_by=topic"), ["/query/group_by"]);
    // The longest period, and one day more.
    assert!(MetricsQuery::parse("from=2025-11-23&to=2026-11-23", today).is_ok());
    assert_eq!(pointers("from=2025-11-22&to=2026-11-23"), ["/query/from"]);
}
