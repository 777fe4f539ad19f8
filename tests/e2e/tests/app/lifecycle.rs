//! The case lifecycle over HTTP: every agent action, the 409s that name the reason, the list's
//! filters, watchers told when a case closes, and promoters' cases worked like any other.

use closeloop_e2e::{Closeloop, Runtime, on_host_and_spin};
use serde_json::json;

use crate::{answer, open_case, resolve_and_get_link, timeline_kinds};

async fn post(
    cl: &Closeloop,
    token: &str,
    path: String,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = cl.call_as(token, "POST", &path, Some(body)).await;
    let status = r.status;
    (status, r.json())
}

on_host_and_spin!(a_case_is_assigned_worked_and_its_watchers_told_when_it_closes);
async fn a_case_is_assigned_worked_and_its_watchers_told_when_it_closes(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let lead = cl.new_key("Lee (lead)", "team-lead").await;
    let dana = cl.new_key("Dana", "agent").await;
    let (_, case_id) = open_case(&cl, "life-1", 3, "Noisy room").await;
    cl.webhook.wait_for_delivered(1).await;
    let p = |action: &str| format!("/v1/cases/{case_id}/{action}");

    let (s, case) = post(&cl, &lead, p("assign"), json!({"to": "Dana"})).await;
    assert_eq!(
        (s, case["state"].as_str(), case["owner"].as_str()),
        (200, Some("assigned"), Some("Dana"))
    );
    let (s, _) = post(&cl, &dana, p("acknowledge"), json!({"note": "on it"})).await;
    assert_eq!(s, 200);
    let (s, case) = post(
        &cl,
        &dana,
        p("outreach"),
        json!({"channel": "phone", "outcome": "reached", "note": "apologised"}),
    )
    .await;
    assert_eq!((s, case["state"].as_str()), (200, Some("in-progress")));
    let (s, event) = post(
        &cl,
        &dana,
        p("notes"),
        json!({"text": "Also the towels were old", "from_customer": true}),
    )
    .await;
    assert_eq!(
        (s, event["kind"].as_str()),
        (201, Some("customer-feedback"))
    );
    let (s, _) = post(
        &cl,
        &dana,
        p("watchers"),
        json!({"watcher": "General Manager"}),
    )
    .await;
    assert_eq!(s, 200);

    // The inbox filters.
    let list = |q: &str| {
        let q = q.to_owned();
        let cl = &cl;
        async move {
            let r = cl.agent("GET", &format!("/v1/cases?{q}"), None).await;
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()["cases"].as_array().unwrap().len()
        }
    };
    assert_eq!(list("owner=Dana").await, 1);
    assert_eq!(list("owner=Bo").await, 0);
    assert_eq!(list("priority=P1&state=in-progress").await, 1);
    assert_eq!(list("priority=P4").await, 0);
    assert_eq!(list("overdue=true").await, 0);
    let bad = cl
        .agent("GET", "/v1/cases?sort=oldest", None)
        .await
        .problem(422);
    assert_eq!(bad["errors"][0]["pointer"], "/query/sort");

    let link = resolve_and_get_link_from_progress(&cl, &dana, &case_id).await;
    assert_eq!(answer(&cl, &link, "resolved=yes&score=9").await.status, 200);
    let view = cl.wait_for_state(&case_id, "closed-confirmed").await;

    // The watchers are told, on the alert channels.
    let hooks = cl.webhook.wait_for_delivered(2).await;
    let closed = hooks[1].json();
    assert_eq!(closed["type"], "closeloop.case-closed");
    assert_eq!(closed["case"]["watchers"], json!(["General Manager"]));
    assert_eq!(closed["case"]["state"], "closed-confirmed");

    // Every change is on the timeline with who, from and to; the key holders are the actors.
    let timeline = view["timeline"].as_array().unwrap();
    let find = |kind: &str| {
        timeline
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind} in {timeline:?}"))
    };
    assert_eq!(find("assigned")["actor"], "Lee (lead)");
    assert_eq!(find("assigned")["from"], "new");
    assert_eq!(find("assigned")["to"], "assigned");
    assert_eq!(find("outreach")["actor"], "Dana");
    assert_eq!(
        find("outreach")["detail"],
        "phone outreach: reached; apologised"
    );
    assert_eq!(
        find("customer-confirmed")["from"],
        "resolved-awaiting-customer"
    );
    assert_eq!(
        view["case"]["customer_answer"]["score"]["value"], 9,
        "the new score is kept"
    );
    let all = cl.agent("GET", "/v1/cases?state=all", None).await.json();
    assert_eq!(all["recovered_detractors"], 1, "{all}");
    assert_eq!(all["cases"][0]["new_score"], "NPS 9/10");
}

/// Resolves an in-progress case (no acknowledge: it is past that) and returns the link.
async fn resolve_and_get_link_from_progress(cl: &Closeloop, key: &str, case_id: &str) -> String {
    let (s, case) = post(
        cl,
        key,
        format!("/v1/cases/{case_id}/resolve"),
        json!({"resolution": "Moved to a quiet room", "root_cause": "facilities"}),
    )
    .await;
    assert_eq!(
        (s, case["state"].as_str()),
        (200, Some("resolved-awaiting-customer"))
    );
    let messages = cl.customer.wait_for_delivered(1).await;
    messages[0].json()["link"].as_str().unwrap().to_owned()
}

on_host_and_spin!(forbidden_transitions_are_409_with_the_reason_and_change_nothing);
async fn forbidden_transitions_are_409_with_the_reason_and_change_nothing(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, case_id) = open_case(&cl, "life-2", 3, "Noisy room").await;
    let p = |action: &str| format!("/v1/cases/{case_id}/{action}");
    let resolve = json!({"resolution": "Fixed", "root_cause": "facilities"});

    // Resolve awaits the customer: acknowledging, logging an outreach or resolving again is refused.
    let _link = resolve_and_get_link(&cl, &case_id, 0).await;
    cl.settle().await;
    let before = cl.store_snapshot();
    for (action, body, reason) in [
        (
            "acknowledge",
            json!({}),
            "cannot acknowledge a case that is resolved-awaiting-customer; acknowledge is allowed from: new, assigned, reopened",
        ),
        (
            "outreach",
            json!({"channel": "email", "outcome": "no-answer"}),
            "cannot log an outreach on a case that is resolved-awaiting-customer",
        ),
        (
            "resolve",
            resolve.clone(),
            "cannot resolve a case that is resolved-awaiting-customer",
        ),
    ] {
        let problem = cl.agent("POST", &p(action), Some(body)).await.problem(409);
        assert_eq!(problem["type"], "urn:closeloop:problem:invalid-transition");
        assert!(
            problem["detail"].as_str().unwrap().starts_with(reason),
            "{problem}"
        );
    }
    assert_eq!(
        cl.store_snapshot(),
        before,
        "a refused change writes nothing"
    );

    // Closing without contact needs a reason; with one, the case is closed for good.
    let problem = cl
        .agent("POST", &p("close"), Some(json!({})))
        .await
        .problem(422);
    assert_eq!(problem["errors"][0]["pointer"], "/reason");
    let r = cl
        .agent(
            "POST",
            &p("close"),
            Some(json!({"by": "Dana", "reason": "the guest asked us not to follow up"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "closed-unconfirmed");
    assert_eq!(
        r.json()["close_reason"],
        "the guest asked us not to follow up"
    );
    for (action, body) in [
        ("assign", json!({"to": "Bo"})),
        ("acknowledge", json!({})),
        (
            "outreach",
            json!({"channel": "phone", "outcome": "reached"}),
        ),
        ("resolve", resolve.clone()),
        ("close", json!({"reason": "again"})),
        ("watchers", json!({"watcher": "GM"})),
    ] {
        let r = cl.admin("POST", &p(action), Some(body)).await;
        let problem = r.problem(409);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("a case that is closed-unconfirmed"),
            "{problem}"
        );
    }
    let kinds = timeline_kinds(&cl.case(&case_id).await);
    assert!(
        kinds.contains(&"closed-without-contact".to_owned()),
        "{kinds:?}"
    );
}

on_host_and_spin!(a_promoters_thank_you_case_is_tracked_like_any_case);
async fn a_promoters_thank_you_case_is_tracked_like_any_case(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, case_id) = open_case(&cl, "life-3", 10, "Lovely stay").await;
    let view = cl.case(&case_id).await;
    assert_eq!(view["case"]["state"], "new");
    assert_eq!(view["case"]["triage"]["priority"], "P4");
    assert_eq!(
        cl.agent("GET", "/v1/cases?priority=P4", None).await.json()["cases"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = cl
        .agent("POST", &format!("/v1/cases/{case_id}/outreach"), Some(json!({"by": "Dana", "channel": "email", "outcome": "reached", "note": "thanked, invited to review"})))
        .await;
    assert_eq!(r.json()["state"], "in-progress", "{}", r.text());
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case_id}/close"),
            Some(json!({"by": "Dana", "reason": "thanked; nothing to fix"})),
        )
        .await;
    assert_eq!(r.json()["state"], "closed-unconfirmed", "{}", r.text());
    assert!(
        cl.customer.delivered().is_empty(),
        "no confirmation asked of a promoter"
    );
}
