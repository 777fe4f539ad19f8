//! The customer's link: tampered, expired, reused or stale links are refused with a clear page
//! and change nothing.

use std::time::Duration;

use closeloop_e2e::{Closeloop, Runtime, on_host_and_spin, on_host_only};

use crate::{answer, link_path, open_case, resolve_and_get_link};

fn assert_refused(r: &closeloop_e2e::client::Response, status: u16, phrase: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains(phrase), "{phrase:?} not in {}", r.text());
}

on_host_and_spin!(tampered_links_are_refused);
async fn tampered_links_are_refused(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, case_id) = open_case(&cl, "link-1", 3, "noisy").await;
    let link = resolve_and_get_link(&cl, &case_id, 0).await;
    crate::quiet(&cl).await;
    let before = cl.store_snapshot();
    // Flip one character of the signed claims.
    let path = link_path(&link);
    let at = "/v1/confirm/".len() + 5;
    let mut bytes = path.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = format!("http://x{}", String::from_utf8(bytes).unwrap());
    assert_refused(
        &cl.get(&link_path(&tampered), &[]).await,
        400,
        "This link is not valid",
    );
    assert_refused(
        &answer(&cl, &tampered, "resolved=yes").await,
        400,
        "This link is not valid",
    );
    assert_refused(
        &cl.get("/v1/confirm/not-a-token", &[]).await,
        400,
        "This link is not valid",
    );
    assert_eq!(cl.store_snapshot(), before);
}

on_host_only!(expired_links_are_refused, "needs the movable clock");
async fn expired_links_are_refused() {
    let cl = Closeloop::start(Runtime::Host).await;
    let (_, case_id) = open_case(&cl, "link-2", 3, "noisy").await;
    let link = resolve_and_get_link(&cl, &case_id, 0).await;
    crate::quiet(&cl).await;
    cl.clock().advance(Duration::from_secs(168 * 3600 + 60));
    let before = cl.store_snapshot();
    assert_refused(&cl.get(&link_path(&link), &[]).await, 410, "expired");
    assert_refused(&answer(&cl, &link, "resolved=yes").await, 410, "expired");
    assert_eq!(cl.store_snapshot(), before);
    assert_eq!(
        cl.case(&case_id).await["case"]["state"],
        "resolved-awaiting-customer"
    );
}

on_host_and_spin!(a_link_works_once);
async fn a_link_works_once(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, case_id) = open_case(&cl, "link-3", 3, "noisy").await;
    let link = resolve_and_get_link(&cl, &case_id, 0).await;
    assert_eq!(answer(&cl, &link, "resolved=yes").await.status, 200);
    cl.wait_for_state(&case_id, "closed-confirmed").await;
    crate::quiet(&cl).await;
    let before = cl.store_snapshot();
    assert_refused(
        &answer(&cl, &link, "resolved=no").await,
        410,
        "already been used",
    );
    assert_refused(
        &cl.get(&link_path(&link), &[]).await,
        410,
        "already been used",
    );
    assert_eq!(cl.store_snapshot(), before);
    assert_eq!(cl.case(&case_id).await["case"]["state"], "closed-confirmed");
}

on_host_and_spin!(bad_answers_are_explained_and_change_nothing);
async fn bad_answers_are_explained_and_change_nothing(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, case_id) = open_case(&cl, "link-4", 3, "noisy").await;
    let link = resolve_and_get_link(&cl, &case_id, 0).await;
    crate::quiet(&cl).await;
    let before = cl.store_snapshot();
    assert_refused(
        &answer(&cl, &link, "score=8").await,
        400,
        "Please choose whether",
    );
    assert_refused(
        &answer(&cl, &link, "resolved=yes&score=11").await,
        400,
        "one of the numbers shown",
    );
    let r = cl
        .post_raw(&link_path(&link), "application/json", b"{}".to_vec())
        .await;
    assert_refused(&r, 415, "Please use the form");
    assert_eq!(cl.store_snapshot(), before);
    // The link still works after the refused attempts.
    assert_eq!(
        answer(&cl, &link, "resolved=yes&score=10").await.status,
        200
    );
}

on_host_and_spin!(a_link_for_another_case_is_refused);
async fn a_link_for_another_case_is_refused(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, a) = open_case(&cl, "link-5a", 3, "noisy").await;
    let (_, b) = open_case(&cl, "link-5b", 4, "cold").await;
    let link_a = link_path(&resolve_and_get_link(&cl, &a, 0).await);
    let link_b = link_path(&resolve_and_get_link(&cl, &b, 1).await);
    cl.settle().await;
    let before = cl.store_snapshot();
    // Case B's claims under case A's signature, and the other way round.
    let (claims_a, sig_a) = link_a.rsplit_once('.').unwrap();
    let (claims_b, sig_b) = link_b.rsplit_once('.').unwrap();
    for spliced in [format!("{claims_b}.{sig_a}"), format!("{claims_a}.{sig_b}")] {
        assert_refused(&cl.get(&spliced, &[]).await, 400, "This link is not valid");
        let r = cl
            .post_raw(
                &spliced,
                "application/x-www-form-urlencoded",
                b"resolved=no".to_vec(),
            )
            .await;
        assert_refused(&r, 400, "This link is not valid");
    }
    assert_eq!(cl.store_snapshot(), before);
    for id in [&a, &b] {
        assert_eq!(
            cl.case(id).await["case"]["state"],
            "resolved-awaiting-customer"
        );
    }
    // Answering A's link changes A only.
    assert_eq!(answer(&cl, &link_a, "resolved=yes").await.status, 200);
    cl.wait_for_state(&a, "closed-confirmed").await;
    assert_eq!(
        cl.case(&b).await["case"]["state"],
        "resolved-awaiting-customer"
    );
}
