//! The directory's admin API: strict input with pointers to what is wrong, secrets written
//! but never shown, the token, the methods and the body limit.

use closeloop_e2e::client::request;
use closeloop_e2e::{Runtime, on_host_and_spin};
use serde_json::json;

use super::*;

/// The dispatch component's body limit (`MAX_BODY_BYTES` in components/dispatch).
const MAX_BODY_BYTES: usize = 256 * 1024;

on_host_and_spin!(teams_are_validated_stored_redacted_and_deleted);
async fn teams_are_validated_stored_redacted_and_deleted(rt: Runtime) {
    let p = Providers::start("postmark").await;
    let cl = Closeloop::start_with(rt, |o| p.options(o)).await;

    // No token, a wrong token.
    let r = request("GET", &cl.url("/v1/admin/teams"), &[], Vec::new()).await;
    r.problem(401);
    let r = request(
        "GET",
        &cl.url("/v1/admin/teams"),
        &[("authorization", "Bearer nope")],
        Vec::new(),
    )
    .await;
    r.problem(401);

    // Invalid input: every problem at once, each with its JSON pointer.
    let mut bad = p.team();
    bad["members"][0]["time_zone"] = json!("Atlantis/Capital");
    bad["members"][0]["endpoints"][1]["phone"] = json!("07700 900001");
    bad["endpoints"][2]["secret"] = json!("not-a-whsec");
    bad["escalation"] = json!(["ghost"]);
    let r = cl
        .admin("PUT", "/v1/admin/teams/front-desk", Some(bad))
        .await;
    let problem = r.problem(422);
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        [
            "/endpoints/2/secret",
            "/members/0/time_zone",
            "/members/0/endpoints/1/phone",
            "/escalation/0"
        ]
    );
    assert!(!r.text().contains("not-a-whsec"), "a secret is not echoed");
    let mut unknown = p.team();
    unknown["members"][0]["pager"] = json!("yes");
    cl.admin("PUT", "/v1/admin/teams/front-desk", Some(unknown))
        .await
        .problem(422);
    cl.admin("PUT", "/v1/admin/teams/Front%20Desk", Some(p.team()))
        .await
        .problem(422);
    // A team nobody could be alerted in, as `[]` or `{}` would make, is refused.
    for empty in [json!([]), json!({})] {
        let r = cl
            .admin("PUT", "/v1/admin/teams/empty", Some(empty.clone()))
            .await;
        let detail = r.problem(422)["detail"].as_str().unwrap().to_owned();
        assert!(
            detail.contains("at least one of endpoints or members"),
            "{empty}: {detail}"
        );
    }
    cl.admin("GET", "/v1/admin/teams/empty", None)
        .await
        .problem(404);
    let r = request(
        "PUT",
        &cl.url("/v1/admin/teams/front-desk"),
        &[
            (
                "authorization",
                &format!("Bearer {}", closeloop_e2e::ADMIN_TOKEN),
            ),
            ("content-type", "text/plain"),
        ],
        b"{}".to_vec(),
    )
    .await;
    r.problem(415);
    assert!(
        !cl.store_snapshot().keys().any(|k| k.starts_with("team:")),
        "nothing stored"
    );

    // Created, then replaced; shown without secrets.
    let r = cl
        .admin("PUT", "/v1/admin/teams/front-desk", Some(p.team()))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = cl
        .admin("PUT", "/v1/admin/teams/front-desk", Some(p.team()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let listed = cl.admin("GET", "/v1/admin/teams", None).await;
    assert_eq!(listed.status, 200);
    let text = listed.text();
    assert!(text.contains("\"id\":\"front-desk\""), "{text}");
    for secret in ["secretpart", "teamssig", WEBHOOK_SECRET, PAGERDUTY_KEY] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    assert!(text.contains("(set; never shown)"));

    // Methods and unknown teams.
    cl.admin("POST", "/v1/admin/teams/front-desk", Some(json!({})))
        .await
        .problem(405);
    cl.admin("GET", "/v1/admin/teams/nobody", None)
        .await
        .problem(404);
    let r = cl.admin("DELETE", "/v1/admin/teams/front-desk", None).await;
    assert_eq!(r.status, 204);
    cl.admin("GET", "/v1/admin/teams/front-desk", None)
        .await
        .problem(404);
    cl.admin("GET", "/v1/admin/deliveries?status=lost", None)
        .await
        .problem(422);
}

on_host_and_spin!(the_admin_body_limit_is_256_kib);
async fn the_admin_body_limit_is_256_kib(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let auth = format!("Bearer {}", closeloop_e2e::ADMIN_TOKEN);
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let team = json!({"members": [{"id": "a", "name": "A"}]}).to_string();
    // Padded with whitespace to exactly the limit: accepted.
    let mut at = team.clone().into_bytes();
    at.resize(MAX_BODY_BYTES, b' ');
    let r = request("PUT", &cl.url("/v1/admin/teams/t"), &headers, at).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let mut past = team.into_bytes();
    past.resize(MAX_BODY_BYTES + 1, b' ');
    let r = request("PUT", &cl.url("/v1/admin/teams/t"), &headers, past).await;
    r.problem(413);
}
