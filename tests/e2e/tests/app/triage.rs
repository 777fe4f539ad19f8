//! Triage: the preview and the configuration API (the triage component), and triage in the
//! fold: routing, re-triage after an answer changed on its platform, contact frequency.

use closeloop_e2e::{Closeloop, Runtime, feedback, on_host_and_spin};
use serde_json::{Value, json};

use crate::{open_case, timeline_kinds};

fn customer(mut body: Value, id: &str, attributes: Value) -> Value {
    body["customer"]["id"] = json!(id);
    body["customer"]["attributes"] = attributes;
    body
}

on_host_and_spin!(preview_explains_a_triage_and_stores_nothing);
async fn preview_explains_a_triage_and_stores_nothing(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let before = cl.store_snapshot();
    let sample = feedback("preview-1", 3, "The room by the lift was noisy all night");
    let rules = json!({"rules": [
        {"name": "noise to facilities", "when": [{"field": "topics", "op": "contains", "value": "noise"}],
         "then": {"team": "facilities", "round_robin": ["sam", "kim"], "channels": ["slack"]}}
    ]});
    let r = cl
        .admin(
            "POST",
            "/v1/triage/preview",
            Some(json!({"feedback": sample, "rules": rules})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    let t = &body["triage"];
    assert_eq!(t["priority"], "P1");
    assert_eq!(t["team"], "facilities");
    assert_eq!(
        t["routing"]["matched_rules"],
        json!(["noise to facilities"])
    );
    assert_eq!(body["round_robin"], json!(["sam", "kim"]));
    assert_eq!(t["analysis"]["topics"][0]["topic"], "noise");
    assert_eq!(t["analysis"]["sentiment"]["polarity"], "negative");
    assert_eq!(t["analysis"]["score"]["scale"], 10);
    let reasons = t["reasons"].to_string();
    for want in [
        "NPS 3/10 is a detractor",
        "\\\"noisy\\\"",
        "topics: noise",
        "noise to facilities",
    ] {
        assert!(reasons.contains(want), "{want} in {reasons}");
    }
    assert_eq!(body["stored"], false);
    assert_eq!(cl.store_snapshot(), before, "a preview stores nothing");

    // Only with the admin token.
    let r = cl
        .post_raw("/v1/triage/preview", "application/json", b"{}".to_vec())
        .await;
    r.problem(401);
    // An invalid sample names the field under /feedback.
    let mut bad = feedback("preview-2", 3, "x");
    bad["score"]["value"] = json!(11);
    let p = cl
        .admin("POST", "/v1/triage/preview", Some(json!({"feedback": bad})))
        .await
        .problem(422);
    assert_eq!(p["errors"][0]["pointer"], "/feedback/score/value", "{p}");
}

on_host_and_spin!(invalid_rules_are_refused_with_their_json_path_and_never_matching_ones_reported);
async fn invalid_rules_are_refused_with_their_json_path_and_never_matching_ones_reported(
    rt: Runtime,
) {
    let cl = Closeloop::start(rt).await;
    let bad = json!({"rules": [
        {"name": "ok", "then": {"team": "a"}},
        {"name": "broken", "when": [{"field": "priority", "op": "eq", "value": "P7"}], "then": {"team": "b"}}
    ]});
    let p = cl
        .admin("PUT", "/v1/admin/triage/rules", Some(bad))
        .await
        .problem(422);
    assert_eq!(p["type"], "urn:closeloop:problem:invalid-request");
    assert_eq!(p["errors"][0]["pointer"], "/rules/1/when/0/value", "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("P1, P2, P3, P4"),
        "{p}"
    );
    // Nothing was stored: the rules are still the defaults.
    let r = cl.admin("GET", "/v1/admin/triage/rules", None).await;
    assert_eq!(r.json()["rules"], json!([]));

    let never = json!({"rules": [
        {"name": "parking", "when": [{"field": "topics", "op": "contains", "value": "parking"}], "then": {"team": "a"}},
        {"name": "impossible", "when": [{"field": "churn_risk", "op": "gt", "value": 1}], "then": {"team": "a"}}
    ]});
    let r = cl.admin("PUT", "/v1/admin/triage/rules", Some(never)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let warnings = r.json()["warnings"].clone();
    assert_eq!(
        warnings[0]["pointer"], "/rules/0/when/0/value",
        "{warnings}"
    );
    assert_eq!(
        warnings[1]["pointer"], "/rules/1/when/0/value",
        "{warnings}"
    );

    // Custom topics make the first rule reachable.
    let r = cl
        .admin(
            "PUT",
            "/v1/admin/triage/topics",
            Some(
                json!({"topics": [{"id": "parking", "name": "Parking", "phrases": ["car park"]}]}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = cl
        .admin(
            "PUT",
            "/v1/admin/triage/rules",
            Some(json!({"rules": [{"name": "parking", "when": [{"field": "topics", "op": "contains", "value": "parking"}], "then": {"team": "a"}}]})),
        )
        .await;
    assert_eq!(r.json()["warnings"], json!([]), "{}", r.text());
    // Wrong method, wrong token.
    cl.admin("DELETE", "/v1/admin/triage/rules", None)
        .await
        .problem(405);
    // An agent's credential is known but its role is too low.
    cl.agent("GET", "/v1/admin/triage/rules", None)
        .await
        .problem(403);
}

on_host_and_spin!(rules_route_real_cases_by_round_robin_in_the_teams_business_hours);
async fn rules_route_real_cases_by_round_robin_in_the_teams_business_hours(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let rules = json!({"rules": [
        {"name": "enterprise to the CSMs",
         "when": [{"field": "customer.tier", "op": "eq", "value": "enterprise"}],
         "then": {"team": "csm", "round_robin": ["ana", "ben"], "watchers": ["vp-cx"]}}
    ]});
    let r = cl.admin("PUT", "/v1/admin/triage/rules", Some(rules)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let calendars = json!({"teams": {"csm": {
        "time_zone": "America/New_York", "days": ["mon", "tue", "wed", "thu", "fri"],
        "open": "09:00", "close": "17:00", "holidays": ["2026-12-25"]
    }}});
    let r = cl
        .admin("PUT", "/v1/admin/triage/calendars", Some(calendars))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let mut owners = Vec::new();
    for (i, who) in ["acme", "globex"].iter().enumerate() {
        let body = customer(
            feedback(&format!("b2b-{i}"), 4, "Implementation took too long"),
            who,
            json!({"tier": "enterprise"}),
        );
        let r = cl.post_feedback(&body).await;
        assert_eq!(r.status, 202, "{}", r.text());
        let feedback_id = r.json()["feedback_id"].clone();
        cl.settle().await;
        let cases = cl.records("case:");
        let case = cases
            .iter()
            .find(|c| c["feedback_id"] == feedback_id)
            .unwrap_or_else(|| panic!("no case for {feedback_id}: {cases:?}"))
            .clone();
        let t = &case["triage"];
        assert_eq!(t["team"], "csm");
        assert_eq!(t["priority"], "P1", "enterprise raises the NPS 4 detractor");
        assert_eq!(t["routing"]["watchers"], json!(["vp-cx"]));
        assert!(t["reasons"].to_string().contains("America/New_York"), "{t}");
        // Business time is never shorter than calendar time.
        let opened: chrono::DateTime<chrono::Utc> =
            case["opened_at"].as_str().unwrap().parse().unwrap();
        let due: chrono::DateTime<chrono::Utc> =
            t["first_response_due"].as_str().unwrap().parse().unwrap();
        assert!(
            due >= opened + chrono::Duration::minutes(59),
            "{opened} {due}"
        );
        owners.push(t["routing"]["owner"].clone());
        // The routed owner owns the case: assigned by triage, in the owner's inbox.
        assert_eq!(case["owner"], t["routing"]["owner"]);
        assert_eq!(case["state"], "assigned");
        let owner = t["routing"]["owner"].as_str().unwrap();
        let inbox = cl
            .agent("GET", &format!("/v1/cases?owner={owner}"), None)
            .await
            .json();
        let ids: Vec<_> = inbox["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect();
        assert_eq!(ids, vec![case["id"].clone()], "{owner}'s inbox: {inbox}");
    }
    assert_eq!(owners, vec![json!("ana"), json!("ben")]);
}

on_host_and_spin!(a_legal_threat_alerts_at_once_even_from_a_promoter);
async fn a_legal_threat_alerts_at_once_even_from_a_promoter(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, case_id) = open_case(
        &cl,
        "legal-1",
        10,
        "Lovely hotel, but my lawyer will be in touch about the deposit",
    )
    .await;
    let slack = cl.slack.wait_for_delivered(1).await;
    assert!(slack[0].json().to_string().contains("P1"));
    let view = cl.case(&case_id).await;
    let t = &view["case"]["triage"];
    assert_eq!(t["priority"], "P1");
    assert!(
        t["analysis"]["signals"]
            .as_array()
            .unwrap()
            .contains(&json!("legal-threat"))
    );
    assert!(t["reasons"].to_string().contains("always P1"), "{t}");
}

on_host_and_spin!(feedback_triaged_again_updates_its_case_without_a_second_alert);
async fn feedback_triaged_again_updates_its_case_without_a_second_alert(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    // The customer edits their answer on the survey platform, whose webhook sends the change.
    const TOKEN: &str = "url-token-for-tests-0123456789";
    let r = cl
        .admin(
            "POST",
            "/v1/admin/connections",
            Some(json!({"platform": "delighted", "url_token": TOKEN})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let path = format!("/v1/sources/{}/{TOKEN}", r.json()["id"].as_str().unwrap());
    let created = chrono::Utc::now().timestamp() - 60;
    let answer = |event: &str, updated: i64, comment: &str| {
        json!({"event_type": "survey_response.updated", "event_id": event, "event_data": {
            "id": "edit-1", "survey_type": "nps", "score": 6, "comment": comment,
            "person": {"id": "guest-42", "email": "guest42@example.com", "name": "Alex Guest"},
            "person_properties": {"tier": "standard", "room": "412"},
            "created_at": created, "updated_at": updated}})
        .to_string()
        .into_bytes()
    };
    let r = cl
        .post_raw(
            &path,
            "application/json",
            answer("ev-1", created, "Room was fine"),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let feedback_id = r.json()["feedback_id"].clone();
    cl.settle().await;
    let cases = cl.records("case:");
    assert_eq!(cases.len(), 1, "{cases:?}");
    let case_id = cases[0]["id"].as_str().unwrap().to_owned();
    cl.slack.wait_for_delivered(1).await;
    assert_eq!(cl.case(&case_id).await["case"]["triage"]["priority"], "P2");

    let edit = "Actually I am cancelling, the staff were rude and I want my money back";
    let r = cl
        .post_raw(
            &path,
            "application/json",
            answer("ev-2", created + 30, edit),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "updated");
    assert_eq!(r.json()["feedback_id"], feedback_id);
    cl.settle().await;

    let view = cl.case(&case_id).await;
    let t = &view["case"]["triage"];
    assert_eq!(t["priority"], "P1", "{t}");
    let signals = t["analysis"]["signals"].as_array().unwrap();
    assert!(
        signals.contains(&json!("churn-threat")) && signals.contains(&json!("refund-request")),
        "{t}"
    );
    assert!(
        timeline_kinds(&view).contains(&"retriaged".to_owned()),
        "{view}"
    );
    assert_eq!(cl.records("case:").len(), 1);
    // Still exactly one alert.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(cl.slack.wait_for_delivered(1).await.len(), 1);
    assert_eq!(cl.records("notice:").len(), 1);
}

on_host_and_spin!(contact_frequency_joins_a_new_answer_to_the_open_case);
async fn contact_frequency_joins_a_new_answer_to_the_open_case(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let r = cl
        .admin(
            "PUT",
            "/v1/admin/triage/rules",
            Some(json!({"rules": [], "join_open_case": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (_, case_id) = open_case(&cl, "freq-1", 2, "Cold room").await;
    cl.slack.wait_for_delivered(1).await;
    let r = cl.post_feedback(&feedback("freq-2", 1, "Still cold")).await;
    assert_eq!(r.status, 202);
    cl.settle().await;
    assert_eq!(
        cl.records("case:").len(),
        1,
        "the second answer joined the open case"
    );
    let view = cl.case(&case_id).await;
    let received = timeline_kinds(&view)
        .iter()
        .filter(|k| *k == "feedback-received")
        .count();
    assert_eq!(received, 2, "{view}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        cl.slack.wait_for_delivered(1).await.len(),
        1,
        "no second alert"
    );
}
