//! The customer's answer through the log: once per link, for its round only, and one answer
//! of many racing through one link.

use closeloop_domain::case::{CaseState, CustomerAnswer};
use closeloop_domain::notice::NoticeKind;
use closeloop_domain::score::{Score, ScoreKind};

use super::LinkRefusal;
use crate::fold::change::tests::{act, case, claims, customer_message, file, opened, resolve};
use crate::fold::tests::{App, t0};
use crate::fold::{Command, Verdict};

fn answer(resolved: bool, score: Option<i64>) -> CustomerAnswer {
    CustomerAnswer {
        resolved,
        score: score.map(|value| Score {
            kind: ScoreKind::Nps,
            value,
            scale: 10,
        }),
        comment: Some("thanks".into()),
        answered_at: t0(),
    }
}

/// Resolves the case and returns the command answering its link.
fn resolved(app: &App, id: &str, resolved: bool) -> Command {
    act(app, id, resolve("Dana"));
    let c = claims(&customer_message(app, id, NoticeKind::CustomerFollowUp).unwrap());
    Command::CustomerAnswer {
        case_id: id.into(),
        round: c.round,
        nonce: c.nonce,
        answer: answer(resolved, Some(9)),
    }
}

#[test]
fn yes_closes_the_case_confirmed_and_the_link_then_is_spent() {
    let app = App::new();
    let id = opened(&app, "c-1");
    let command = resolved(&app, &id, true);
    let writes = app.store.writes();
    let v = app.submit(command.clone()).verdict;
    assert_eq!(app.store.writes() - writes, 2);
    let Verdict::CaseChanged { case: closed } = v else {
        panic!("{v:?}")
    };
    assert_eq!(closed.state, CaseState::ClosedConfirmed);
    assert_eq!(
        closed
            .customer_answer
            .as_ref()
            .unwrap()
            .score
            .unwrap()
            .value,
        9
    );
    assert!(closed.recovered_detractor(Some(Score {
        kind: ScoreKind::Nps,
        value: 3,
        scale: 10
    })));
    let Command::CustomerAnswer { nonce, .. } = &command else {
        panic!()
    };
    assert_eq!(file(&app, &id).used_links, vec![nonce.clone()]);

    let before = (case(&app, &id), file(&app, &id));
    let again = app.submit(command).verdict;
    assert_eq!(
        again,
        Verdict::LinkRefused {
            refusal: LinkRefusal::Used
        }
    );
    assert_eq!(
        (case(&app, &id), file(&app, &id)),
        before,
        "nothing changed"
    );
}

#[test]
fn no_reopens_and_alerts_again_and_the_old_round_s_link_has_moved_on() {
    let app = App::new();
    let id = opened(&app, "c-2");
    let first = resolved(&app, &id, false);
    let v = app.submit(first.clone()).verdict;
    assert!(
        matches!(v, Verdict::CaseChanged { ref case } if case.state == CaseState::Reopened && case.reopen_count == 1)
    );
    assert!(customer_message(&app, &id, NoticeKind::CaseReopened).is_some());
    // Resolved again: round 2. The first round's link, even unused, no longer answers.
    act(&app, &id, resolve("Dana"));
    let Command::CustomerAnswer {
        case_id,
        round,
        answer,
        ..
    } = first
    else {
        panic!()
    };
    let stale = Command::CustomerAnswer {
        case_id,
        round,
        nonce: "another-link-of-round-1".into(),
        answer,
    };
    assert_eq!(
        app.submit(stale).verdict,
        Verdict::LinkRefused {
            refusal: LinkRefusal::MovedOn
        }
    );
    assert_eq!(case(&app, &id).state, CaseState::ResolvedAwaitingCustomer);
    let unknown = Command::CustomerAnswer {
        case_id: "gone".into(),
        round: 1,
        nonce: "n".into(),
        answer: answer_yes(),
    };
    assert_eq!(
        app.submit(unknown).verdict,
        Verdict::LinkRefused {
            refusal: LinkRefusal::UnknownCase
        }
    );
}

fn answer_yes() -> CustomerAnswer {
    answer(true, None)
}

#[test]
fn a_link_used_many_times_at_once_gives_one_answer() {
    let app = App::new();
    let id = opened(&app, "c-3");
    let command = resolved(&app, &id, false);
    let threads: Vec<_> = (0..8)
        .map(|i| app.submit_on_thread(&format!("customer-{i}"), command.clone()))
        .collect();
    let verdicts: Vec<Verdict> = (threads.into_iter())
        .map(|t| t.join().unwrap().verdict)
        .collect();
    let answered = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::CaseChanged { .. }))
        .count();
    let spent = verdicts
        .iter()
        .filter(|v| {
            **v == Verdict::LinkRefused {
                refusal: LinkRefusal::Used,
            }
        })
        .count();
    assert_eq!((answered, spent), (1, 7));
    let c = case(&app, &id);
    assert_eq!((c.state, c.reopen_count), (CaseState::Reopened, 1));
    assert_eq!(
        crate::fold::change::tests::notices(&app, &id)
            .iter()
            .filter(|n| n.kind == NoticeKind::CaseReopened)
            .count(),
        1,
        "the owner is alerted once"
    );
}
