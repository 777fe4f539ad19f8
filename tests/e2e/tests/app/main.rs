//! End-to-end tests: the real components on the test host, mocks on loopback.

mod bad_input;
mod budget;
mod concurrency;
mod connections;
mod console;
mod contact_rules;
mod delivery_failures;
mod dispatch;
mod followup_tick;
mod idempotency;
mod lifecycle;
mod links;
mod metrics;
mod privacy;
mod replies;
mod roles;
mod sources;
mod the_loop;
mod triage;

use closeloop_e2e::Closeloop;
use serde_json::{Value, json};

/// Posts NPS `score` feedback, waits for its case, and returns (feedback id, case id).
pub async fn open_case(
    cl: &Closeloop,
    external_id: &str,
    score: i64,
    comment: &str,
) -> (String, String) {
    let r = cl
        .post_feedback(&closeloop_e2e::feedback(external_id, score, comment))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let feedback_id = r.json()["feedback_id"].as_str().expect("an id").to_owned();
    cl.settle().await;
    let cases = cl.records("case:");
    let case = cases
        .iter()
        .find(|c| c["feedback_id"] == feedback_id.as_str())
        .unwrap_or_else(|| panic!("no case for {feedback_id}: {cases:?}"));
    (feedback_id, case["id"].as_str().unwrap().to_owned())
}

/// Acknowledges and resolves a case, returning the confirmation link the customer received.
pub async fn resolve_and_get_link(cl: &Closeloop, case_id: &str, messages_before: usize) -> String {
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case_id}/acknowledge"),
            Some(json!({"by": "Dana (front desk)", "note": "calling the guest"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case_id}/resolve"),
            Some(json!({"by": "Dana (front desk)", "resolution": "Moved the guest to a quiet room away from the lift", "root_cause": "facilities"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "resolved-awaiting-customer");
    let messages = cl.customer.wait_for_delivered(messages_before + 1).await;
    let message = messages.last().unwrap().json();
    assert_eq!(message["case_id"], case_id);
    message["link"].as_str().expect("a link").to_owned()
}

/// The path of a confirmation link (the app's public base URL is not where the test reaches it).
pub fn link_path(link: &str) -> String {
    let at = link.find("/v1/confirm/").expect("a confirmation link");
    link[at..].to_owned()
}

/// Posts the customer's answer form.
pub async fn answer(cl: &Closeloop, link: &str, form: &str) -> closeloop_e2e::client::Response {
    cl.post_raw(
        &link_path(link),
        "application/x-www-form-urlencoded",
        form.as_bytes().to_vec(),
    )
    .await
}

pub fn timeline_kinds(view: &Value) -> Vec<String> {
    view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until nothing is in flight (every command folded, every handed-over first attempt
/// recorded), for tests that compare snapshots of the store.
pub async fn quiet(cl: &Closeloop) {
    cl.settle().await;
}

/// `GET /v1/metrics?{query}` as an agent, checked to be read with every command folded.
pub async fn metrics(cl: &Closeloop, query: &str) -> Value {
    let r = cl.agent("GET", &format!("/v1/metrics?{query}"), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["projection"]["behind"], 0, "read after catching up");
    body
}
