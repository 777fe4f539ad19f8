//! Tick's follow-up sweep: one reminder per round, the unconfirmed close, its bound per
//! command, and a resolution racing it.

use chrono::Duration;
use closeloop_domain::case::{CaseState, CustomerAnswer, EventKind};
use closeloop_domain::notice::NoticeKind;

use super::{SWEEP_LIMIT, candidates};
use crate::env::Env;
use crate::fold::change::tests::{act, case, claims, customer_message, kinds, opened, resolve};
use crate::fold::tests::App;
use crate::fold::{Command, Verdict};

fn due(app: &App) -> (Vec<String>, bool) {
    let writes = app.store.writes();
    let due = candidates(app.store.as_ref(), &app.fold.ctx.follow_up, app.env.now()).unwrap();
    assert_eq!(app.store.writes(), writes, "finding the cases is a read");
    (due.case_ids, due.more)
}

fn sweep(app: &App, case_ids: Vec<String>) -> Verdict {
    app.submit(Command::FollowUpSweep { case_ids }).verdict
}

fn swept(reminded: usize, closed_unconfirmed: usize) -> Verdict {
    Verdict::Swept {
        reminded,
        closed_unconfirmed,
    }
}

#[test]
fn one_reminder_per_round_then_the_case_closes_unconfirmed() {
    let app = App::new();
    let id = opened(&app, "w-1");
    act(&app, &id, resolve("Dana"));
    assert_eq!(due(&app), (vec![], false));
    app.env.advance(Duration::days(3) - Duration::seconds(1));
    assert_eq!(due(&app), (vec![], false), "not yet");
    app.env.advance(Duration::seconds(1));
    assert_eq!(due(&app), (vec![id.clone()], false));
    assert_eq!(sweep(&app, vec![id.clone()]), swept(1, 0));
    let reminder = customer_message(&app, &id, NoticeKind::CustomerReminder).expect("reminded");
    let follow_up = customer_message(&app, &id, NoticeKind::CustomerFollowUp).unwrap();
    assert_ne!(reminder.link, follow_up.link, "a fresh link");
    assert_eq!(claims(&reminder).round, 1);
    // Reminded once, however often tick runs.
    assert_eq!(due(&app), (vec![], false));
    assert_eq!(sweep(&app, vec![id.clone()]), swept(0, 0));

    app.env.advance(Duration::days(4));
    assert_eq!(due(&app), (vec![id.clone()], false));
    assert_eq!(sweep(&app, vec![id.clone()]), swept(0, 1));
    let closed = case(&app, &id);
    assert_eq!(closed.state, CaseState::ClosedUnconfirmed);
    assert_eq!(
        closed.close_reason.as_deref(),
        Some("the customer did not answer within 7 days")
    );
    assert_eq!(due(&app), (vec![], false));
    let kinds = kinds(&app, &id);
    for kind in [EventKind::ReminderQueued, EventKind::ClosedUnconfirmed] {
        assert_eq!(kinds.iter().filter(|k| **k == kind).count(), 1, "{kind:?}");
    }
}

#[test]
fn a_sweep_takes_at_most_its_limit_and_the_next_tick_the_rest() {
    let app = App::new();
    let ids: Vec<String> = (0..=SWEEP_LIMIT)
        .map(|i| {
            let id = opened(&app, &format!("w-many-{i}"));
            act(&app, &id, resolve("Dana"));
            id
        })
        .collect();
    app.env.advance(Duration::days(3));
    let (first, more) = due(&app);
    assert_eq!((first.len(), more), (SWEEP_LIMIT, true));
    // A command naming more than the limit acts on the limit only.
    let mut too_many = first.clone();
    too_many.extend(ids.iter().filter(|i| !first.contains(i)).cloned());
    assert_eq!(too_many.len(), SWEEP_LIMIT + 1);
    assert_eq!(sweep(&app, too_many), swept(SWEEP_LIMIT, 0));
    let (rest, more) = due(&app);
    assert_eq!((rest.len(), more), (1, false));
    assert!(!first.contains(&rest[0]));
    assert_eq!(sweep(&app, rest), swept(1, 0));
    assert_eq!(due(&app), (vec![], false));
}

/// Tick found the case due (past the close), then the customer said no and an agent resolved
/// it again before the sweep was folded: the sweep leaves the fresh resolution alone.
#[test]
fn a_resolution_that_lands_before_the_sweep_is_left_alone() {
    let app = App::new();
    let id = opened(&app, "w-2");
    act(&app, &id, resolve("Dana"));
    app.env.advance(Duration::days(8));
    let (found, _) = due(&app);
    assert_eq!(found, vec![id.clone()]);
    let c = claims(&customer_message(&app, &id, NoticeKind::CustomerFollowUp).unwrap());
    let no = Command::CustomerAnswer {
        case_id: id.clone(),
        round: c.round,
        nonce: c.nonce,
        answer: CustomerAnswer {
            resolved: false,
            score: None,
            comment: None,
            answered_at: app.env.now(),
        },
    };
    assert!(matches!(
        app.submit(no).verdict,
        Verdict::CaseChanged { .. }
    ));
    act(&app, &id, resolve("Dana"));
    assert_eq!(sweep(&app, found), swept(0, 0));
    let c = case(&app, &id);
    assert_eq!((c.state, c.round), (CaseState::ResolvedAwaitingCustomer, 2));
}

/// An agent's command and the sweep submitted at the same moment, for real.
fn race(app: &App, name: &str, agent: Command, case_ids: Vec<String>) -> (Verdict, Verdict) {
    let agent = app.submit_on_thread(&format!("agent-{name}"), agent);
    let tick = app.submit_on_thread(&format!("tick-{name}"), Command::FollowUpSweep { case_ids });
    (agent.join().unwrap().verdict, tick.join().unwrap().verdict)
}

/// The customer said no; an agent resolves again while a tick that found the case past its
/// close sweeps: in either ticket order the resolution stands and the sweep does nothing.
#[test]
fn a_resolution_racing_the_sweep_for_real_stands() {
    for round in 0..8 {
        let app = App::new();
        let id = opened(&app, &format!("w-resolve-{round}"));
        act(&app, &id, resolve("Dana"));
        app.env.advance(Duration::days(8));
        let (found, _) = due(&app);
        let c = claims(&customer_message(&app, &id, NoticeKind::CustomerFollowUp).unwrap());
        let no = Command::CustomerAnswer {
            case_id: id.clone(),
            round: c.round,
            nonce: c.nonce,
            answer: CustomerAnswer {
                resolved: false,
                score: None,
                comment: None,
                answered_at: app.env.now(),
            },
        };
        assert!(matches!(
            app.submit(no).verdict,
            Verdict::CaseChanged { .. }
        ));
        let resolve = Command::CaseAction {
            case_id: id.clone(),
            action: resolve("Dana"),
        };
        let (agent, tick) = race(&app, &round.to_string(), resolve, found);
        assert!(matches!(agent, Verdict::CaseChanged { .. }), "{agent:?}");
        assert_eq!(tick, swept(0, 0));
        let c = case(&app, &id);
        assert_eq!((c.state, c.round), (CaseState::ResolvedAwaitingCustomer, 2));
    }
}

/// An agent closes the case while the sweep closes it as unconfirmed: one close, and the
/// loser is told (409) or does nothing.
#[test]
fn an_agent_closing_while_the_sweep_closes_gives_one_close() {
    for round in 0..8 {
        let app = App::new();
        let id = opened(&app, &format!("w-close-{round}"));
        act(&app, &id, resolve("Dana"));
        app.env.advance(Duration::days(8));
        let (found, _) = due(&app);
        let close = Command::CaseAction {
            case_id: id.clone(),
            action: closeloop_domain::case::Action::CloseWithoutContact {
                by: "Dana".into(),
                reason: "the guest called to say thanks".into(),
            },
        };
        let (agent, tick) = race(&app, &round.to_string(), close, found);
        assert_eq!(case(&app, &id).state, CaseState::ClosedUnconfirmed);
        match agent {
            Verdict::CaseChanged { .. } => assert_eq!(tick, swept(0, 0)),
            refused => {
                assert_eq!(tick, swept(0, 1));
                assert_eq!(refused.problem().unwrap().status(), 409);
            }
        }
        let closes = kinds(&app, &id)
            .into_iter()
            .filter(|k| {
                matches!(
                    k,
                    EventKind::ClosedUnconfirmed | EventKind::ClosedWithoutContact
                )
            })
            .count();
        assert_eq!(closes, 1);
    }
}

#[test]
fn tick_submits_a_sweep_only_when_cases_are_due_and_reports_both_stages() {
    use super::{run, tick_report};
    use closeloop_domain::problem::{Problem, ProblemKind};
    let app = App::new();
    let id = opened(&app, "w-tick");
    act(&app, &id, resolve("Dana"));
    let policy = app.fold.ctx.follow_up;
    let mut submitted = 0;
    let writes = app.store.writes();
    let report = run(app.store.as_ref(), &policy, app.env.now(), |_| {
        submitted += 1;
        unreachable!("nothing is due")
    })
    .unwrap();
    assert_eq!(
        (submitted, app.store.writes()),
        (0, writes),
        "an idle tick writes nothing"
    );
    assert_eq!(report["reminded"], 0);
    app.env.advance(Duration::days(3));
    let report = run(app.store.as_ref(), &policy, app.env.now(), |c| {
        Ok(app.submit(c).verdict)
    })
    .unwrap();
    assert_eq!(
        report,
        serde_json::json!({"reminded": 1, "closed_unconfirmed": 0, "more": false})
    );

    let ok = || Ok(serde_json::json!({"reminded": 0}));
    let (status, both) = tick_report(ok(), Ok((200, br#"{"retried": 2}"#.to_vec())));
    assert_eq!(status, 200);
    assert_eq!(both["dispatch"]["retried"], 2);
    assert_eq!(both["followup"]["reminded"], 0);
    assert_eq!(tick_report(ok(), Ok((500, vec![]))).0, 503);
    let (status, both) = tick_report(ok(), Err("connection refused".into()));
    assert_eq!(status, 503);
    assert_eq!(
        both["dispatch"]["error"],
        "dispatch could not be reached: connection refused"
    );
    let down = Err(Problem::new(
        ProblemKind::StoreUnavailable,
        "storage did not answer",
    ));
    let (status, both) = tick_report(down, Ok((200, b"{}".to_vec())));
    assert_eq!(
        (status, both["followup"]["error"].as_str()),
        (503, Some("storage did not answer"))
    );
}
