//! Role checks on every agent and admin route: no credential or a wrong one is 401, a role too
//! low is 403, and personal keys are stored only as hashes, act under their holder's name,
//! and stop working when revoked.

use closeloop_e2e::{AGENT_TOKEN, Closeloop, Runtime, on_host_and_spin};
use serde_json::{Value, json};

use crate::open_case;

/// Every agent and admin route, with a body it accepts, and the least role it needs.
fn routes(case_id: &str) -> Vec<(&'static str, String, Option<Value>, &'static str)> {
    let c = |a: &str| format!("/v1/cases/{case_id}{a}");
    vec![
        ("GET", "/v1/cases".into(), None, "agent"),
        ("GET", c(""), None, "agent"),
        (
            "POST",
            c("/watchers"),
            Some(json!({"watcher": "GM"})),
            "agent",
        ),
        ("POST", c("/notes"), Some(json!({"text": "n"})), "agent"),
        (
            "POST",
            c("/assign"),
            Some(json!({"to": "Dana"})),
            "team-lead",
        ),
        ("POST", c("/acknowledge"), Some(json!({})), "agent"),
        (
            "POST",
            c("/outreach"),
            Some(json!({"channel": "sms", "outcome": "no-answer"})),
            "agent",
        ),
        (
            "POST",
            c("/resolve"),
            Some(json!({"resolution": "r", "root_cause": "other"})),
            "agent",
        ),
        ("POST", c("/close"), Some(json!({"reason": "r"})), "agent"),
        ("GET", "/v1/admin/keys".into(), None, "admin"),
        (
            "POST",
            "/v1/admin/keys".into(),
            Some(json!({"name": "X", "role": "agent"})),
            "admin",
        ),
        ("DELETE", "/v1/admin/keys/no-such-key".into(), None, "admin"),
        (
            "PUT",
            "/v1/admin/do-not-contact".into(),
            Some(json!({"email": "x@example.com"})),
            "admin",
        ),
        (
            "DELETE",
            "/v1/admin/do-not-contact".into(),
            Some(json!({"email": "x@example.com"})),
            "admin",
        ),
        (
            "POST",
            "/v1/admin/customers/export".into(),
            Some(json!({"email": "x@example.com"})),
            "admin",
        ),
        (
            "POST",
            "/v1/admin/customers/erase".into(),
            Some(json!({"email": "x@example.com"})),
            "admin",
        ),
    ]
}

fn rank(role: &str) -> u8 {
    match role {
        "agent" => 1,
        "team-lead" => 2,
        "admin" => 3,
        other => panic!("{other}"),
    }
}

on_host_and_spin!(every_route_checks_the_callers_role);
async fn every_route_checks_the_callers_role(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, case_id) = open_case(&cl, "roles-1", 3, "noisy").await;
    let agent = cl.new_key("Ann Agent", "agent").await;
    let lead = cl.new_key("Lee Lead", "team-lead").await;
    let admin = cl.new_key("Ada Admin", "admin").await;
    let credentials = [
        ("agent", agent.as_str()),
        ("agent", AGENT_TOKEN),
        ("team-lead", lead.as_str()),
        ("admin", admin.as_str()),
        ("admin", closeloop_e2e::ADMIN_TOKEN),
    ];
    for (method, path, body, needed) in routes(&case_id) {
        // No credential, or a wrong one: 401.
        let r = closeloop_e2e::client::request(method, &cl.url(&path), &[], Vec::new()).await;
        r.problem(401);
        for wrong in [
            "nope",
            "clk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            closeloop_e2e::TICK_TOKEN,
        ] {
            cl.call_as(wrong, method, &path, body.clone())
                .await
                .problem(401);
        }
        for (role, token) in credentials {
            let r = cl.call_as(token, method, &path, body.clone()).await;
            if rank(role) < rank(needed) {
                let p = r.problem(403);
                assert!(
                    p["detail"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("needs the {needed} role")),
                    "{p}"
                );
            } else {
                assert!(
                    ![401, 403].contains(&r.status),
                    "{role} on {method} {path}: {}",
                    r.text()
                );
            }
        }
    }
}

on_host_and_spin!(keys_are_shown_once_stored_hashed_attributed_and_revocable);
async fn keys_are_shown_once_stored_hashed_attributed_and_revocable(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, case_id) = open_case(&cl, "roles-2", 3, "noisy").await;
    let r = cl
        .admin(
            "POST",
            "/v1/admin/keys",
            Some(json!({"name": "Dana", "role": "agent"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("clk_") && key.len() > 40, "{key}");
    let secret_part = &key["clk_".len()..];
    assert!(
        !cl.store_snapshot()
            .iter()
            .any(|(k, v)| k.contains(secret_part)
                || String::from_utf8_lossy(v).contains(secret_part)),
        "the key is never stored"
    );
    let listed = cl.admin("GET", "/v1/admin/keys", None).await.json();
    assert_eq!(listed["keys"][0]["name"], "Dana");
    assert!(!listed.to_string().contains(secret_part) && !listed.to_string().contains("hash"));

    // A personal key acts under its holder's name, whatever `by` says.
    let r = cl
        .call_as(
            &key,
            "POST",
            &format!("/v1/cases/{case_id}/acknowledge"),
            Some(json!({"by": "Somebody Else"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let view = cl.case(&case_id).await;
    let ack = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "acknowledged")
        .unwrap()
        .clone();
    assert_eq!(ack["actor"], "Dana");

    // Invalid requests are explained.
    let p = cl
        .admin(
            "POST",
            "/v1/admin/keys",
            Some(json!({"name": "X", "role": "owner"})),
        )
        .await
        .problem(422);
    assert_eq!(p["errors"][0]["pointer"], "/role");
    cl.admin("DELETE", "/v1/admin/keys/unknown", None)
        .await
        .problem(404);

    // Revoked: refused from then on, still listed for the audit.
    let id = created["id"].as_str().unwrap();
    let r = cl
        .admin("DELETE", &format!("/v1/admin/keys/{id}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["revoked_at"].is_string());
    let p = cl
        .call_as(&key, "GET", "/v1/cases", None)
        .await
        .problem(401);
    assert!(p["detail"].as_str().unwrap().contains("revoked"), "{p}");
    assert!(
        cl.admin("GET", "/v1/admin/keys", None).await.json()["keys"][0]["revoked_at"].is_string()
    );
}

on_host_and_spin!(every_admin_api_takes_personal_admin_keys_and_refuses_other_roles);
async fn every_admin_api_takes_personal_admin_keys_and_refuses_other_roles(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let admin_key = cl.new_key("Ola (ops)", "admin").await;
    let lead_key = cl.new_key("Lee (lead)", "team-lead").await;
    for path in [
        "/v1/admin/connections",
        "/v1/admin/teams",
        "/v1/admin/deliveries",
        "/v1/admin/triage/rules",
        "/v1/admin/keys",
    ] {
        let ok = cl.call_as(&admin_key, "GET", path, None).await;
        assert_eq!(
            ok.status,
            200,
            "{path} with a personal admin key: {}",
            ok.text()
        );
        for (who, token) in [
            ("a team lead", lead_key.as_str()),
            ("the shared agent token", AGENT_TOKEN),
        ] {
            let r = cl.call_as(token, "GET", path, None).await;
            assert_eq!(r.status, 403, "{path} for {who}: {}", r.text());
            let p = r.problem(403);
            assert!(
                p["detail"].as_str().unwrap().contains("admin role"),
                "{path} for {who}: {p}"
            );
        }
        cl.call_as("not-a-credential", "GET", path, None)
            .await
            .problem(401);
    }
}
