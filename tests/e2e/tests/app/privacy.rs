//! A customer's data: exported whole, then erased so that no stored value anywhere holds their
//! name, email, phone or id, while the anonymous counts stay.

use closeloop_e2e::{Closeloop, Runtime, on_host_and_spin};
use serde_json::json;

use crate::{answer, open_case, resolve_and_get_link};

const NAME: &str = "Alex Guest";
const EMAIL: &str = "guest42@example.com";
const PHONE: &str = "+447700900123";
const ID: &str = "guest-42";

/// Every place in the store (keys and values) that mentions `needle`, case-insensitively.
fn traces(cl: &Closeloop, needle: &str) -> Vec<String> {
    let needle = needle.to_lowercase();
    cl.store_snapshot()
        .into_iter()
        .filter(|(k, v)| {
            k.to_lowercase().contains(&needle)
                || String::from_utf8_lossy(v).to_lowercase().contains(&needle)
        })
        .map(|(k, v)| format!("{k} = {}", String::from_utf8_lossy(&v)))
        .collect()
}

on_host_and_spin!(export_then_erase_leaves_no_trace_and_keeps_the_counts);
async fn export_then_erase_leaves_no_trace_and_keeps_the_counts(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    // Two answers from Alex, one worked through a reopening with notes that name them.
    let (_, first) = open_case(&cl, "priv-1", 3, "Alex here: the room was noisy").await;
    let (_, second) = open_case(&cl, "priv-2", 9, "Fine").await;
    let p = |a: &str| format!("/v1/cases/{first}/{a}");
    let r = cl
        .agent(
            "POST",
            &p("notes"),
            Some(json!({"by": "Dana", "text": format!("Called {NAME} on {PHONE}")})),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = cl
        .agent(
            "POST",
            &p("notes"),
            Some(json!({"by": "Dana", "text": "The kettle is broken too", "from_customer": true})),
        )
        .await;
    assert_eq!(r.status, 201);
    let link = resolve_and_get_link(&cl, &first, 0).await;
    assert_eq!(
        answer(&cl, &link, "resolved=no&comment=Still+noisy%2C+Alex")
            .await
            .status,
        200
    );
    cl.wait_for_state(&first, "reopened").await;
    // Someone else's feedback, which must survive.
    let mut other = closeloop_e2e::feedback("priv-3", 2, "Cold breakfast");
    other["customer"] = json!({"id": "guest-77", "email": "sam@example.com", "name": "Sam Other"});
    assert_eq!(cl.post_feedback(&other).await.status, 202);
    cl.settle().await;
    cl.settle().await;
    for needle in [NAME, EMAIL, PHONE, ID] {
        assert!(!traces(&cl, needle).is_empty(), "{needle} is stored before");
    }

    // Export: everything held about Alex, and nothing about Sam.
    let p = cl
        .admin("POST", "/v1/admin/customers/export", Some(json!({})))
        .await
        .problem(422);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("customer_id or the email"),
        "{p}"
    );
    let r = cl
        .admin(
            "POST",
            "/v1/admin/customers/export",
            Some(json!({"email": "GUEST42@example.com"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let export = r.json();
    assert_eq!(export["feedback"].as_array().unwrap().len(), 2);
    assert_eq!(export["cases"].as_array().unwrap().len(), 2);
    assert!(export["events"].as_array().unwrap().len() >= 8);
    assert!(!export["notices"].as_array().unwrap().is_empty());
    assert!(!export["deliveries"].as_array().unwrap().is_empty());
    let text = export.to_string();
    assert!(text.contains("The kettle is broken too") && text.contains("Still noisy"));
    assert!(!text.contains("Sam Other"));

    // Erase by id: no trace of Alex anywhere in the store.
    let r = cl
        .admin(
            "POST",
            "/v1/admin/customers/erase",
            Some(json!({"customer_id": ID})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["feedback"], 2);
    assert_eq!(r.json()["cases"], 2);
    for needle in [
        NAME,
        EMAIL,
        PHONE,
        ID,
        "Alex",
        "kettle",
        "Still noisy",
        "the room was noisy",
    ] {
        let found = traces(&cl, needle);
        assert!(
            found.is_empty(),
            "{needle} survived the erasure: {found:#?}"
        );
    }
    // No component ever logged the customer's contact details or name. Triage is not on the
    // loop's path any more (the fold triages), so it need not have logged at all.
    for component in [
        "ingest", "triage", "dispatch", "followup", "metrics", "console",
    ] {
        let log = cl.app.component_log(component);
        if ["ingest", "dispatch", "followup"].contains(&component) {
            assert!(!log.is_empty(), "{component} logs");
        }
        for needle in [NAME, EMAIL, PHONE] {
            assert!(!log.contains(needle), "{needle} in the {component} log");
        }
    }
    // The counts and the other customer stay.
    let all = cl.agent("GET", "/v1/cases?state=all", None).await.json();
    assert_eq!(all["total"], 3);
    assert!(!traces(&cl, "Sam Other").is_empty());
    let view = cl.case(&second).await;
    assert_eq!(
        view["feedback"]["score"]["value"], 9,
        "scores are kept for the measures"
    );
    let view = cl.case(&first).await;
    assert_eq!(view["case"]["state"], "reopened");
    assert!(
        view["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "customer-erased")
    );
    // The erased case can still be worked.
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{first}/close"),
            Some(json!({"reason": "customer asked to be forgotten"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

// Issue 17: an agent's note kept the customer's first name, and a resolution the order number
// the customer wrote in their comment. Both go, wherever they are written and however cased.
on_host_and_spin!(erase_takes_the_first_name_and_the_order_number_out_of_free_text);
async fn erase_takes_the_first_name_and_the_order_number_out_of_free_text(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    // The customer is "Alex Guest" (the e2e feedback's customer).
    let (_, case_id) = open_case(&cl, "priv-order", 2, "My order ORD-10442 arrived broken").await;
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case_id}/notes"),
            Some(json!({"by": "Dana", "text": "called Alex about ORD-10442"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case_id}/resolve"),
            Some(json!({
                "by": "Dana",
                "resolution": "Refunded alex for order 10442 and sent the guest a voucher",
                "root_cause": "billing-error"
            })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    cl.settle().await;
    let before = cl.case(&case_id).await.to_string().to_lowercase();
    assert!(
        before.contains("alex") && before.contains("10442"),
        "{before}"
    );

    let r = cl
        .admin(
            "POST",
            "/v1/admin/customers/erase",
            Some(json!({"customer_id": ID})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["cases"], 1);

    let view = cl.case(&case_id).await;
    let text = view.to_string().to_lowercase();
    for needle in ["alex", "10442"] {
        assert!(
            !text.contains(needle),
            "{needle} survived the erasure: {view:#}"
        );
    }
    // The store holds digests too, where five digits in a row can occur by chance: look for
    // the order number as the customer wrote it.
    for needle in ["alex", "ORD-10442"] {
        let found = traces(&cl, needle);
        assert!(
            found.is_empty(),
            "{needle} survived in the store: {found:#?}"
        );
    }
    // What the agents wrote that does not identify the customer stays.
    assert_eq!(
        view["case"]["resolution"]["summary"],
        "Refunded [erased] for order [erased] and sent the guest a voucher"
    );
    assert!(
        view["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "note" && e["detail"] == "called [erased] about [erased]"),
        "{view:#}"
    );
}
