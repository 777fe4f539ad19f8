//! One piece of feedback travels the whole loop, confirmed or reopened by the customer.

use closeloop_e2e::{Closeloop, Runtime, on_host_and_spin};

use crate::{answer, link_path, open_case, resolve_and_get_link, timeline_kinds};

on_host_and_spin!(a_detractor_is_alerted_followed_up_and_confirmed);
async fn a_detractor_is_alerted_followed_up_and_confirmed(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let comment = "The room by the lift was noisy all night";
    let (feedback_id, case_id) = open_case(&cl, "stay-1001", 3, comment).await;

    // Exactly one Slack message, carrying the comment and the priority.
    let slack = cl.slack.wait_for_delivered(1).await;
    assert_eq!(slack.len(), 1);
    assert_eq!(slack[0].method, "POST");
    assert_eq!(slack[0].path, "/services/T000/B000/XXXX");
    assert_eq!(slack[0].header("content-type"), Some("application/json"));
    let message = slack[0].json();
    let text = message.to_string();
    assert!(text.contains(comment), "{text}");
    assert!(text.contains("P1"), "{text}");
    assert!(
        text.contains(&format!("http://closeloop.test/console/cases/{case_id}")),
        "{text}"
    );
    assert!(message["blocks"].as_array().is_some_and(|b| !b.is_empty()));
    assert!(
        !text.contains("guest42@example.com"),
        "no email in a shared channel"
    );
    // The generic webhook gets the alert too, with an idempotency key.
    let hook = cl.webhook.wait_for_delivered(1).await;
    assert_eq!(hook[0].json()["type"], "closeloop.case-opened");
    assert!(hook[0].header("idempotency-key").is_some());

    // The case is open, most urgent, with its due times.
    let cases = cl.open_cases().await;
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["id"], case_id.as_str());
    assert_eq!(cases[0]["priority"], "P1");
    assert_eq!(cases[0]["state"], "new");
    let view = cl.case(&case_id).await;
    assert_eq!(view["feedback"]["id"], feedback_id.as_str());
    assert!(view["case"]["triage"]["first_response_due"].is_string());
    assert!(view["case"]["triage"]["resolution_due"].is_string());

    // Acknowledge, note, resolve: the customer gets a message with a signed link.
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case_id}/notes"),
            Some(serde_json::json!({"text": "Guest says the lift pinged all night"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let link = resolve_and_get_link(&cl, &case_id, 0).await;
    assert!(
        link.starts_with("http://closeloop.test/v1/confirm/"),
        "{link}"
    );
    let to = &cl.customer.delivered()[0].json()["to"];
    assert_eq!(to["email"], "guest42@example.com");
    let view = cl.case(&case_id).await;
    assert!(view["case"]["first_response_at"].is_string());

    // The customer's page asks the question without JavaScript.
    let page = cl.get(&link_path(&link), &[]).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.header("content-security-policy").is_some());
    let html = page.text();
    assert!(html.contains("Is the problem resolved for you?"));
    assert!(html.contains("Moved the guest to a quiet room"));
    assert!(!html.contains("<script"));

    // Yes: closed as confirmed, the new score kept, every step on the timeline.
    let r = answer(
        &cl,
        &link,
        "resolved=yes&score=9&comment=Much+better%2C+thanks",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let view = cl.wait_for_state(&case_id, "closed-confirmed").await;
    assert_eq!(view["case"]["customer_answer"]["score"]["value"], 9);
    let kinds = timeline_kinds(&view);
    for expected in [
        "feedback-received",
        "opened",
        "delivered",
        "note",
        "acknowledged",
        "resolved",
        "customer-confirmed",
    ] {
        assert!(
            kinds.contains(&expected.to_owned()),
            "{expected} missing from {kinds:?}"
        );
    }
    let delivered = kinds.iter().filter(|k| *k == "delivered").count();
    assert_eq!(
        delivered, 3,
        "slack, webhook and customer message: {kinds:?}"
    );
    assert!(cl.open_cases().await.is_empty());
    assert_eq!(cl.slack.delivered().len(), 1, "no further alert");
}

on_host_and_spin!(not_resolved_reopens_the_case_and_alerts_the_owner_again);
async fn not_resolved_reopens_the_case_and_alerts_the_owner_again(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, case_id) = open_case(&cl, "stay-2002", 2, "Breakfast was cold").await;
    cl.slack.wait_for_delivered(1).await;
    let link = resolve_and_get_link(&cl, &case_id, 0).await;

    let r = answer(&cl, &link, "resolved=no&comment=Still+cold+today").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("We are on it"));
    let view = cl.wait_for_state(&case_id, "reopened").await;
    assert_eq!(view["case"]["reopen_count"], 1);

    let slack = cl.slack.wait_for_delivered(2).await;
    let again = slack[1].json().to_string();
    assert!(again.contains("reopened"), "{again}");
    assert!(again.contains("Alex Guest"), "{again}");
    let kinds = timeline_kinds(&cl.case(&case_id).await);
    assert!(kinds.contains(&"reopened".to_owned()), "{kinds:?}");
    assert_eq!(
        cl.open_cases().await.len(),
        1,
        "the case is back in the inbox"
    );

    // The reopened case can be worked and resolved again, with a fresh link.
    let second = resolve_and_get_link(&cl, &case_id, 1).await;
    assert_ne!(second, link);
    let r = answer(&cl, &second, "resolved=yes").await;
    assert_eq!(r.status, 200, "{}", r.text());
    cl.wait_for_state(&case_id, "closed-confirmed").await;
}

on_host_and_spin!(an_anonymous_answer_is_triaged_alerted_counted_and_closed_by_its_resolution);
/// Most answers are anonymous: stored, triaged, alerted and counted like any other; the case
/// is worked as usual, and resolving it closes it, since nobody can confirm the fix.
async fn an_anonymous_answer_is_triaged_alerted_counted_and_closed_by_its_resolution(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let comment = "The breakfast room was filthy";
    let mut body = closeloop_e2e::feedback("anon-1", 2, comment);
    body.as_object_mut().unwrap().remove("customer");
    let r = cl.post_feedback(&body).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let slack = cl.slack.wait_for_delivered(1).await;
    let text = slack[0].json().to_string();
    assert!(text.contains(comment), "{text}");
    let cases = cl.open_cases().await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    let case_id = cases[0]["id"].as_str().unwrap().to_owned();
    let view = cl.case(&case_id).await;
    assert_eq!(view["case"]["anonymous"], true, "{view}");
    assert!(view["feedback"]["customer"]["id"].is_null(), "{view}");
    // A name alone identifies nobody to follow up with either.
    let mut named_nobody = closeloop_e2e::feedback("anon-2", 9, "Fine");
    named_nobody["customer"] = serde_json::json!({"name": "Guest in 12"});
    assert_eq!(cl.post_feedback(&named_nobody).await.status, 202);

    cl.settle().await;
    cl.tick().await;
    let m = crate::metrics(&cl, "").await;
    assert_eq!(m["totals"]["volume"], 2, "{m}");
    assert_eq!(m["totals"]["nps"]["detractors"], 1, "{m}");

    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case_id}/resolve"),
            Some(
                serde_json::json!({"by": "Dana", "resolution": "Deep-cleaned the room",
                "root_cause": "facilities"}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let view = cl.case(&case_id).await;
    let case = &view["case"];
    assert_eq!(case["state"], "closed-unconfirmed", "{case}");
    assert!(
        case["close_reason"].as_str().unwrap().contains("anonymous"),
        "{case}"
    );
    assert_eq!(case["resolution"]["root_cause"], "facilities");
    cl.settle().await;
    cl.tick().await;
    assert!(
        cl.customer.received().is_empty(),
        "no follow-up for a customer nobody can reach"
    );
}
