//! A customer exported, then erased: no stored value anywhere names them or quotes them
//! afterwards, and the counts stay.

use closeloop_domain::case::{Action, CaseState, CustomerAnswer, EventKind, RootCause};
use closeloop_domain::feedback::{Customer, Feedback};
use closeloop_domain::keys;
use closeloop_domain::notice::NoticeKind;
use closeloop_domain::privacy::CustomerSelector;

use crate::fold::change::tests::{act, case, claims, customer_message, file, resolve};
use crate::fold::records::{self, EVENTS_PER_PAGE};
use crate::fold::tests::{App, arrival, feedback, t0};
use crate::fold::{Command, Verdict};
use crate::log::{self, Entry};
use crate::reads::{self, customers};

fn accepted(app: &App, fb: Feedback) -> String {
    match app.submit(arrival(fb)).verdict {
        Verdict::Accepted {
            case_id: Some(id), ..
        } => id,
        other => panic!("{other:?}"),
    }
}

fn note(case_id: &str, text: &str, kind: EventKind, event_id: &str) -> Command {
    Command::CaseNote {
        case_id: case_id.into(),
        by: "Dana".into(),
        text: text.into(),
        kind,
        event_id: event_id.into(),
    }
}

/// Every key and value in the store that mentions `needle`, case-insensitively.
fn traces(app: &App, needle: &str) -> Vec<String> {
    let needle = needle.to_lowercase();
    app.store
        .keys()
        .into_iter()
        .filter_map(|k| {
            let v = String::from_utf8_lossy(&app.store.peek(&k)?).to_lowercase();
            (k.to_lowercase().contains(&needle) || v.contains(&needle)).then_some(k)
        })
        .collect()
}

fn feedback_keys(app: &App) -> Vec<String> {
    app.store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(keys::FEEDBACK))
        .collect()
}

#[test]
fn an_erased_customer_leaves_no_trace_and_the_counts_stay() {
    let app = App::new();
    let first = accepted(&app, feedback("p-1", 3, "Alex here: the room was noisy"));
    let second = accepted(&app, feedback("p-2", 9, "Fine"));
    let mut sam = feedback("p-3", 2, "Cold breakfast");
    sam.customer = Customer {
        id: Some("guest-77".into()),
        email: Some("sam@example.com".into()),
        name: Some("Sam Other".into()),
        phone: None,
        attributes: Default::default(),
    };
    let other = accepted(&app, sam);
    // Enough notes that older events move to a page.
    for i in 0..2 * EVENTS_PER_PAGE {
        let text = format!("Called Alex Guest on guest42@example.com ({i})");
        app.submit(note(&first, &text, EventKind::Note, &format!("n-{i}")));
    }
    app.submit(note(
        &first,
        "The kettle is broken too",
        EventKind::CustomerFeedback,
        "cf",
    ));
    act(&app, &first, resolve("Dana"));
    let c = claims(&customer_message(&app, &first, NoticeKind::CustomerFollowUp).unwrap());
    let no = Command::CustomerAnswer {
        case_id: first.clone(),
        round: c.round,
        nonce: c.nonce,
        answer: CustomerAnswer {
            resolved: false,
            score: None,
            comment: Some("Still noisy, Alex".into()),
            answered_at: t0(),
        },
    };
    let answered = app.submit(no.clone());
    assert!(file(&app, &first).pages >= 1, "a page of older events");
    // A command about the customer left in the log's ring, as a waiting submitter leaves it.
    let seq = reads::progress(app.store.as_ref()).unwrap().folded;
    let entry: Entry<Command, Verdict> = Entry {
        seq,
        written_at: t0(),
        command: Some(no),
        verdict: Some(answered.verdict),
    };
    app.store.seed(
        &log::entry_key(seq),
        closeloop_domain::envelope::encode(&entry),
    );
    for needle in [
        "Alex",
        "guest42@example.com",
        "guest-42",
        "kettle",
        "Still noisy",
    ] {
        assert!(
            !traces(&app, needle).is_empty(),
            "{needle} is stored before"
        );
    }

    // The export: everything about Alex, nothing about Sam; found without reading a case list.
    let selector = CustomerSelector {
        id: None,
        email: Some("GUEST42@example.com".into()),
    };
    let writes = app.store.writes();
    let found = customers::find(app.store.as_ref(), &feedback_keys(&app), &selector).unwrap();
    assert_eq!(found.len(), 2);
    let held = customers::export(app.store.as_ref(), found.clone()).unwrap();
    assert_eq!(app.store.writes(), writes, "an export is a read");
    assert_eq!((held.feedback.len(), held.cases.len()), (2, 2));
    assert!(
        held.events.len() > EVENTS_PER_PAGE,
        "the pages are exported too"
    );
    assert!(!held.notices.is_empty() && !held.deliveries.is_empty());
    let text = serde_json::to_string(&held).unwrap();
    assert!(text.contains("The kettle is broken too") && text.contains("Still noisy"));
    assert!(!text.contains("Sam Other"));

    // The erasure.
    let ids: Vec<String> = found.iter().map(|f| f.id.clone()).collect();
    let done = app.submit(Command::EraseCustomer {
        feedback_ids: ids,
        by: "admin".into(),
        erasure_id: "erasure-1".into(),
    });
    let Verdict::Erased { record } = done.verdict else {
        panic!("{:?}", done.verdict)
    };
    assert_eq!((record.feedback, record.cases), (2, 2));
    assert!(record.events > EVENTS_PER_PAGE);
    for needle in [
        "Alex",
        "guest42@example.com",
        "guest-42",
        "kettle",
        "Still noisy",
        "the room was noisy",
    ] {
        let found = traces(&app, needle);
        assert!(found.is_empty(), "{needle} survived in {found:?}");
    }
    // The counts and the other customer stay; the erased case can still be worked.
    assert!(!traces(&app, "Sam Other").is_empty());
    let list = reads::cases::list(
        app.store.as_ref(),
        &closeloop_domain::api::CaseFilter::from_query("state=all").unwrap(),
        t0(),
    )
    .unwrap();
    assert_eq!(list.total, 3);
    let kept: Feedback = app.record(&keys::feedback(&found[1].id)).unwrap();
    assert_eq!(kept.score.unwrap().value, 9);
    assert_eq!(case(&app, &first).state, CaseState::Reopened);
    assert!(
        file(&app, &first)
            .events
            .iter()
            .any(|e| e.kind == EventKind::CustomerErased)
    );
    let page: records::EventPage = app.record(&records::case_file_page(&first, 1)).unwrap();
    assert!(page.events.iter().all(|e| !e.detail.contains("Alex")));
    let ring: Entry<Command, Verdict> = app.record(&log::entry_key(seq)).unwrap();
    assert!(ring.command.is_none() && ring.verdict.is_some());
    assert!(matches!(
        act(&app, &first, resolve("Dana")),
        Verdict::CaseChanged { .. }
    ));
    assert_eq!(case(&app, &other).state, CaseState::New);
    assert_eq!(
        case(&app, &second).version,
        2,
        "erased: a change of its own"
    );
}

/// Issue 17: the customer's first name alone, their phone written another way, and the order
/// numbers they wrote (in the comment, the metadata, or later to an agent) leave the notes and
/// the resolution; the agents' ordinary words stay.
#[test]
fn free_text_loses_the_first_name_and_the_customer_s_order_numbers() {
    let app = App::new();
    let mut fb = feedback("p-9", 2, "Order ORD-10442 arrived broken");
    fb.customer.phone = Some("+44 7700 900123".into());
    fb.metadata = serde_json::from_value(serde_json::json!({"booking": "BK7F2Q"})).unwrap();
    let feedback_id = fb.id.clone();
    let case_id = accepted(&app, fb);
    for (i, (text, kind)) in [
        (
            "called Alex about ORD-10442 on 07700900123, booking bk7f2q; will call again",
            EventKind::Note,
        ),
        (
            "my other order 55310 is missing too",
            EventKind::CustomerFeedback,
        ),
        ("Alex's refund for 55310 is on its way", EventKind::Note),
    ]
    .into_iter()
    .enumerate()
    {
        app.submit(note(&case_id, text, kind, &format!("n-{i}")));
    }
    let resolved = act(
        &app,
        &case_id,
        Action::Resolve {
            by: "Dana".into(),
            summary: "refunded alex for order 10442 and sent the guest a voucher".into(),
            root_cause: RootCause::BillingError,
        },
    );
    assert!(
        matches!(resolved, Verdict::CaseChanged { .. }),
        "{resolved:?}"
    );
    for needle in ["Alex", "10442", "bk7f2q", "55310", "07700900123"] {
        assert!(
            !traces(&app, needle).is_empty(),
            "{needle} is stored before"
        );
    }

    let done = app.submit(Command::EraseCustomer {
        feedback_ids: vec![feedback_id],
        by: "admin".into(),
        erasure_id: "erasure-9".into(),
    });
    assert!(
        matches!(done.verdict, Verdict::Erased { .. }),
        "{:?}",
        done.verdict
    );
    for needle in [
        "Alex",
        "ORD-10442",
        "bk7f2q",
        "55310",
        "07700900123",
        "7700 900123",
    ] {
        let found = traces(&app, needle);
        assert!(found.is_empty(), "{needle} survived in {found:?}");
    }
    let after = case(&app, &case_id);
    assert_eq!(
        after.resolution.unwrap().summary,
        "refunded [erased] for order [erased] and sent the guest a voucher"
    );
    let notes: Vec<String> = file(&app, &case_id)
        .events
        .into_iter()
        .filter(|e| e.kind == EventKind::Note)
        .map(|e| e.detail)
        .collect();
    assert_eq!(
        notes,
        [
            "called [erased] about [erased] on [erased], booking [erased]; will call again",
            "[erased]'s refund for [erased] is on its way",
        ]
    );
}
