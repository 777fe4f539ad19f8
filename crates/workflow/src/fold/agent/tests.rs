//! Agents' actions and notes through the log: the write budget, refusals, attribution, and
//! agents racing each other, step by step and for real.

use closeloop_domain::access::{Principal, Role};
use closeloop_domain::case::{Action, CaseState, EventKind};
use closeloop_domain::problem::ProblemKind;
use closeloop_domain::projection::index::{IndexChunk, IndexRoot};
use closeloop_domain::projection::keys as index_keys;

use super::{command, precheck, route};
use crate::fold::change::tests::{
    ack, act, case, file, kinds, opened, resolve, two_acknowledging_at_once,
};
use crate::fold::tests::{App, t0};
use crate::fold::{Command, Verdict};
use crate::reads;

fn note(case_id: &str, text: &str, event_id: &str) -> Command {
    Command::CaseNote {
        case_id: case_id.into(),
        by: "Dana".into(),
        text: text.into(),
        kind: EventKind::Note,
        event_id: event_id.into(),
    }
}

#[test]
fn an_action_costs_the_ticket_and_the_fold_and_moves_the_inbox() {
    let app = App::new();
    let id = opened(&app, "a-1");
    let writes = app.store.writes();
    let v = act(&app, &id, ack("Dana"));
    assert_eq!(app.store.writes() - writes, 2, "the ticket and the fold");
    let Verdict::CaseChanged { case: acked } = v else {
        panic!("{v:?}")
    };
    assert_eq!(
        (acked.state, acked.owner.as_deref()),
        (CaseState::Acknowledged, Some("Dana"))
    );
    assert_eq!(acked.first_response_at, Some(t0()));
    assert_eq!(case(&app, &id), *acked);
    // The case index follows in the same write.
    let root: IndexRoot = app.record(index_keys::INDEX_ROOT).unwrap();
    let chunk: IndexChunk = app
        .record(&index_keys::index_chunk(root.chunks[0].id))
        .unwrap();
    assert_eq!(chunk.entries[0].state, CaseState::Acknowledged);
    assert_eq!(chunk.entries[0].owner.as_deref(), Some("Dana"));

    // A note: the same two writes, and its event.
    let writes = app.store.writes();
    let v = app.submit(note(&id, "called back", "note-1")).verdict;
    assert_eq!(app.store.writes() - writes, 2);
    let Verdict::Noted { event } = v else {
        panic!("{v:?}")
    };
    assert_eq!(
        (event.kind, event.detail.as_str()),
        (EventKind::Note, "called back")
    );
    assert_eq!(file(&app, &id).events.last(), Some(&*event));

    // Reads write nothing.
    let writes = app.store.writes();
    reads::cases::view(app.store.as_ref(), &id)
        .unwrap()
        .unwrap();
    assert_eq!(app.store.writes(), writes);
}

#[test]
fn a_forbidden_action_is_refused_with_its_reason_and_the_precheck_spares_the_writes() {
    let app = App::new();
    let id = opened(&app, "a-2");
    act(&app, &id, resolve("Dana"));
    let before = (case(&app, &id), file(&app, &id));
    let command = Command::CaseAction {
        case_id: id.clone(),
        action: ack("Bo"),
    };
    let writes = app.store.writes();
    let early = precheck(app.store.as_ref(), &command, t0())
        .unwrap()
        .expect("refused");
    assert_eq!(app.store.writes(), writes, "a precheck is a read");
    let folded = app.submit(command).verdict;
    assert_eq!(early, folded, "the fold refuses the same way");
    let Verdict::Refused { kind, detail } = folded else {
        panic!()
    };
    assert_eq!(kind, ProblemKind::InvalidTransition);
    assert_eq!(
        detail,
        "cannot acknowledge a case that is resolved-awaiting-customer; acknowledge is allowed from: new, assigned, reopened"
    );
    assert_eq!((case(&app, &id), file(&app, &id)), before);

    for unknown in [
        Command::CaseAction {
            case_id: "nope".into(),
            action: ack("Bo"),
        },
        note("nope", "x", "n"),
    ] {
        let v = precheck(app.store.as_ref(), &unknown, t0())
            .unwrap()
            .unwrap();
        assert_eq!(v.problem().unwrap().status(), 404);
        assert_eq!(app.submit(unknown).verdict, v);
    }
    // Actions that are not an agent's are refused.
    let v = act(&app, &id, Action::ExpireUnconfirmed { after_days: 1 });
    assert_eq!(v.problem().unwrap().kind, ProblemKind::InvalidRequest);
    assert_eq!(case(&app, &id).state, CaseState::ResolvedAwaitingCustomer);
}

#[test]
fn requests_become_commands_acted_by_the_key_holder() {
    let dana = Principal {
        name: Some("Dana".into()),
        role: Role::Agent,
    };
    let shared = Principal {
        name: None,
        role: Role::Agent,
    };
    let lead = Principal {
        name: Some("Lee".into()),
        role: Role::TeamLead,
    };
    let body = br#"{"by": "Somebody Else", "note": "on it"}"#;
    let Command::CaseAction { action, .. } =
        command("c", "acknowledge", body, &dana, "e".into()).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        action,
        Action::Acknowledge {
            by: "Dana".into(),
            note: Some("on it".into())
        }
    );
    let Command::CaseAction { action, .. } =
        command("c", "acknowledge", body, &shared, "e".into()).unwrap()
    else {
        panic!()
    };
    assert!(matches!(action, Action::Acknowledge { ref by, .. } if by == "Somebody Else"));

    let assign = br#"{"to": "Bo"}"#;
    let p = command("c", "assign", assign, &dana, "e".into()).unwrap_err();
    assert_eq!(p.status(), 403);
    assert!(
        p.detail.contains("needs the team-lead role"),
        "{}",
        p.detail
    );
    assert!(command("c", "assign", assign, &lead, "e".into()).is_ok());

    let Command::CaseNote {
        by, kind, event_id, ..
    } = command(
        "c",
        "notes",
        br#"{"text": "towels", "from_customer": true}"#,
        &dana,
        "e-9".into(),
    )
    .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (by.as_str(), kind, event_id.as_str()),
        ("Dana", EventKind::CustomerFeedback, "e-9")
    );

    assert_eq!(
        command("c", "notes", b"{", &dana, "e".into())
            .unwrap_err()
            .status(),
        400
    );
    let p = command("c", "resolve", br#"{"resolution": "x"}"#, &dana, "e".into()).unwrap_err();
    assert_eq!(p.errors[0].pointer, "/root_cause");
    assert_eq!(
        command("c", "delete", b"{}", &dana, "e".into())
            .unwrap_err()
            .status(),
        404
    );
    assert_eq!(route("notes"), Some("/v1/cases/:id/notes"));
    assert_eq!(route("delete"), None);
}

/// Both agents take their tickets before either folds: the first ticket wins, the second is
/// refused by the state the first left, and one event is recorded.
#[test]
fn of_two_agents_acknowledging_at_once_the_first_ticket_wins() {
    let app = App::new();
    let id = opened(&app, "a-3");
    let (a, b) = two_acknowledging_at_once(&app, &id);
    assert!(b.seq < a.seq);
    assert!(
        matches!(b.verdict, Verdict::CaseChanged { ref case } if case.owner.as_deref() == Some("b"))
    );
    assert_eq!(
        a.verdict.problem().unwrap().kind,
        ProblemKind::InvalidTransition
    );
    let acks = kinds(&app, &id)
        .into_iter()
        .filter(|k| *k == EventKind::Acknowledged)
        .count();
    assert_eq!(acks, 1);
    assert_eq!(case(&app, &id).version, 2);
}

#[test]
fn agents_racing_for_real_one_acknowledgement_wins_and_every_note_is_kept() {
    let app = App::new();
    let id = opened(&app, "a-4");
    let threads: Vec<_> = (0..24)
        .map(|i| {
            let command = if i % 2 == 0 {
                Command::CaseAction {
                    case_id: id.clone(),
                    action: ack(&format!("agent {i}")),
                }
            } else {
                note(&id, &format!("note {i}"), &format!("note-{i}"))
            };
            app.submit_on_thread(&format!("agent-{i}"), command)
        })
        .collect();
    let verdicts: Vec<Verdict> = (threads.into_iter())
        .map(|t| t.join().unwrap().verdict)
        .collect();
    let won = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::CaseChanged { .. }))
        .count();
    let refused = verdicts
        .iter()
        .filter(|v| {
            v.problem()
                .is_some_and(|p| p.kind == ProblemKind::InvalidTransition)
        })
        .count();
    let noted = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Noted { .. }))
        .count();
    assert_eq!((won, refused, noted), (1, 11, 12));
    let kinds = kinds(&app, &id);
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == EventKind::Acknowledged)
            .count(),
        1
    );
    assert_eq!(kinds.iter().filter(|k| **k == EventKind::Note).count(), 12);
    let winner = verdicts.iter().find_map(|v| match v {
        Verdict::CaseChanged { case } => case.owner.clone(),
        _ => None,
    });
    assert_eq!(case(&app, &id).owner, winner);
}
