//! Bad input gets a clear problem and leaves the store as it was.

use closeloop_e2e::client::{Response, request};
use closeloop_e2e::{ADMIN_TOKEN, Closeloop, Options, Runtime, feedback, on_host_and_spin};
use serde_json::json;

/// Asserts the 400 problem a body that does not parse as JSON gets.
fn refused_as_malformed_json(r: &Response) {
    let p = r.problem(400);
    let detail = p["detail"].as_str().expect("a detail");
    assert!(detail.contains("not valid JSON"), "{detail}");
}

on_host_and_spin!(invalid_feedback_is_refused_with_a_problem_and_nothing_stored);
async fn invalid_feedback_is_refused_with_a_problem_and_nothing_stored(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let before = cl.store_snapshot();
    let valid = feedback("bad-1", 3, "noisy");

    let r = cl
        .post_raw(
            "/v1/feedback",
            "application/json",
            b"{\"source\": ".to_vec(),
        )
        .await;
    refused_as_malformed_json(&r);

    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("score");
    let p = cl.post_feedback(&missing).await.problem(422);
    assert_eq!(p["errors"][0]["pointer"], "/score");

    for (score, pointer) in [
        (json!({"kind": "nps", "value": 11}), "/score/value"),
        (json!({"kind": "nps", "value": -1}), "/score/value"),
        (
            json!({"kind": "csat", "value": 6, "scale": 5}),
            "/score/value",
        ),
        (json!({"kind": "stars", "value": 3}), "/score/kind"),
    ] {
        let mut body = valid.clone();
        body["score"] = score.clone();
        let p = cl.post_feedback(&body).await.problem(422);
        assert_eq!(p["errors"][0]["pointer"], pointer, "{score}: {p}");
    }

    let mut unknown = valid.clone();
    unknown["priority"] = json!("P1");
    let p = cl.post_feedback(&unknown).await.problem(422);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `priority`"),
        "{p}"
    );

    let r = cl
        .post_raw("/v1/feedback", "text/plain", valid.to_string().into_bytes())
        .await;
    assert!(
        r.problem(415)["detail"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );

    let r = request("GET", &cl.url("/v1/feedback"), &[], Vec::new()).await;
    r.problem(405);

    assert_eq!(cl.store_snapshot(), before, "nothing was stored");
    assert!(cl.slack.received().is_empty());
}

on_host_and_spin!(the_body_limit_is_64_kib);
async fn the_body_limit_is_64_kib(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    const LIMIT: usize = 64 * 1024;
    // Pad the metadata so the whole body is exactly at, then one byte past, the limit.
    let sized = |external_id: &str, size: usize| {
        let mut body = feedback(external_id, 9, "great");
        body["metadata"] = json!({"pad": ""});
        let base = body.to_string().len();
        body["metadata"]["pad"] = json!("x".repeat(size - base));
        let bytes = body.to_string().into_bytes();
        assert_eq!(bytes.len(), size);
        bytes
    };
    let r = cl
        .post_raw("/v1/feedback", "application/json", sized("at-limit", LIMIT))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    cl.settle().await;
    crate::quiet(&cl).await;
    let before = cl.store_snapshot();
    let r = cl
        .post_raw(
            "/v1/feedback",
            "application/json",
            sized("past-limit", LIMIT + 1),
        )
        .await;
    assert!(r.problem(413)["detail"].as_str().unwrap().contains("65536"));
    assert_eq!(cl.store_snapshot(), before);
}

on_host_and_spin!(the_agent_api_and_tick_need_their_tokens);
async fn the_agent_api_and_tick_need_their_tokens(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, case_id) = crate::open_case(&cl, "tok-1", 3, "noisy").await;
    crate::quiet(&cl).await;
    let before = cl.store_snapshot();
    for (method, path) in [
        ("GET", "/v1/cases".to_owned()),
        ("GET", format!("/v1/cases/{case_id}")),
        ("POST", format!("/v1/cases/{case_id}/acknowledge")),
        ("POST", format!("/v1/cases/{case_id}/resolve")),
        ("POST", "/v1/tick".to_owned()),
        ("POST", "/v1/internal/dispatch/tick".to_owned()),
    ] {
        let none = request(
            method,
            &cl.url(&path),
            &[("content-type", "application/json")],
            b"{}".to_vec(),
        )
        .await;
        none.problem(401);
        let wrong = request(
            method,
            &cl.url(&path),
            &[
                ("authorization", "Bearer not-the-token"),
                ("content-type", "application/json"),
            ],
            b"{}".to_vec(),
        )
        .await;
        wrong.problem(401);
    }
    // The tick token is not an agent token, and the other way round.
    let tick_as_agent = request(
        "GET",
        &cl.url("/v1/cases"),
        &[(
            "authorization",
            &format!("Bearer {}", closeloop_e2e::TICK_TOKEN),
        )],
        Vec::new(),
    )
    .await;
    tick_as_agent.problem(401);
    // Triage happens in the fold: its old hand-over route is gone, not merely protected.
    let gone = request(
        "POST",
        &cl.url("/v1/internal/triage/tick"),
        &[(
            "authorization",
            &format!("Bearer {}", closeloop_e2e::INTERNAL_TOKEN),
        )],
        Vec::new(),
    )
    .await;
    assert_eq!(gone.status, 404, "{}", gone.text());
    assert_eq!(cl.store_snapshot(), before);
}

on_host_and_spin!(agent_actions_are_validated_and_the_state_machine_enforced);
async fn agent_actions_are_validated_and_the_state_machine_enforced(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, case_id) = crate::open_case(&cl, "sm-1", 3, "noisy").await;
    crate::quiet(&cl).await;
    let before = cl.store_snapshot();
    let p = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case_id}/resolve"),
            Some(json!({"resolution": "fixed"})),
        )
        .await
        .problem(422);
    assert_eq!(p["errors"][0]["pointer"], "/root_cause");
    let p = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case_id}/resolve"),
            Some(json!({"resolution": "fixed", "root_cause": "gremlins"})),
        )
        .await
        .problem(422);
    assert!(p["detail"].as_str().unwrap().contains("facilities"));
    cl.agent(
        "POST",
        &format!("/v1/cases/{case_id}/notes"),
        Some(json!({"text": ""})),
    )
    .await
    .problem(422);
    cl.agent(
        "GET",
        "/v1/cases/00000000-0000-7000-8000-000000000000",
        None,
    )
    .await
    .problem(404);
    cl.agent("GET", "/v1/cases?state=bogus", None)
        .await
        .problem(422);
    assert_eq!(cl.store_snapshot(), before, "nothing changed");

    let ok = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case_id}/acknowledge"),
            Some(json!({})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let p = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case_id}/acknowledge"),
            Some(json!({})),
        )
        .await
        .problem(409);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("cannot acknowledge a case that is acknowledged"),
        "{p}"
    );
}

on_host_and_spin!(
    two_agents_acknowledging_at_once_one_wins,
    flavor = "multi_thread",
    worker_threads = 4
);
/// Multi-threaded on SQLite: on the single-threaded runtime with the in-memory store each
/// request runs to completion alone and this test could not fail (see `concurrency`).
async fn two_agents_acknowledging_at_once_one_wins(rt: Runtime) {
    let cl = Closeloop::start_with(rt, Options::on_sqlite).await;
    let (_, case_id) = crate::open_case(&cl, "race-1", 3, "noisy").await;
    let path = format!("/v1/cases/{case_id}/acknowledge");
    let (a, b) = tokio::join!(
        cl.agent("POST", &path, Some(json!({"by": "Ann"}))),
        cl.agent("POST", &path, Some(json!({"by": "Bob"})))
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", a.text(), b.text());
    let view = cl.case(&case_id).await;
    let acks = crate::timeline_kinds(&view)
        .iter()
        .filter(|k| *k == "acknowledged")
        .count();
    assert_eq!(acks, 1);
}

on_host_and_spin!(deeply_nested_input_fits_the_components_stack);
/// The components run on a 128 KiB shadow stack (`.cargo/config.toml`): an answer nested as
/// deep as JSON parsing allows is stored, triaged, alerted, shown and previewed like any other;
/// deeper is refused with a 400, and nothing traps.
async fn deeply_nested_input_fits_the_components_stack(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let nested = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
    let with_metadata = |id: &str, levels: usize| {
        let mut body = feedback(id, 2, "the room was cold");
        body["metadata"] = json!({"deep": "NESTED"});
        body.to_string().replace("\"NESTED\"", &nested(levels))
    };

    // 124 levels inside the body's own two: near serde_json's limit of 128.
    let deep = with_metadata("deep-1", 124);
    let r = cl
        .post_raw(
            "/v1/feedback",
            "application/json",
            deep.clone().into_bytes(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    cl.settle().await;
    let cases = cl.records("case:");
    assert_eq!(cases.len(), 1, "the deep answer opened its case");
    let case_id = cases[0]["id"].as_str().expect("a case id");
    let r = cl.agent("GET", &format!("/v1/cases/{case_id}"), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(cl.slack.wait_for_delivered(1).await.len() == 1, "alerted");
    // The preview's body wraps the answer in one more level.
    let preview = format!(r#"{{"feedback": {}}}"#, with_metadata("deep-p", 123));
    let r = request(
        "POST",
        &cl.url("/v1/triage/preview"),
        &[
            ("authorization", &format!("Bearer {ADMIN_TOKEN}")),
            ("content-type", "application/json"),
        ],
        preview.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Past the limit: refused, nothing stored.
    let before = cl.store_snapshot();
    let r = cl
        .post_raw(
            "/v1/feedback",
            "application/json",
            with_metadata("deep-2", 400).into_bytes(),
        )
        .await;
    refused_as_malformed_json(&r);
    assert_eq!(cl.store_snapshot(), before);
}
