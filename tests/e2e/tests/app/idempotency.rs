//! The same feedback posted twice: one feedback, one case, one alert.

use std::time::Duration;

use closeloop_e2e::{Closeloop, feedback};

#[tokio::test]
async fn a_repeat_returns_the_same_id_and_changes_nothing() {
    let cl = Closeloop::start().await;
    let body = feedback("resp-77", 4, "Implementation took far too long");
    let first = cl.post_feedback(&body).await;
    assert_eq!(first.status, 202, "{}", first.text());
    let id = first.json()["feedback_id"].clone();
    cl.settle().await;
    cl.slack.wait_for_delivered(1).await;
    let before = cl.store_snapshot();

    let mut changed = body.clone();
    changed["comment"] = "a different comment in a redelivery".into();
    for repeat in [&body, &changed] {
        let again = cl.post_feedback(repeat).await;
        assert_eq!(again.status, 200, "{}", again.text());
        assert_eq!(again.json()["feedback_id"], id);
        assert_eq!(again.json()["status"], "duplicate");
    }
    cl.tick().await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(cl.store_snapshot(), before, "a repeat changes nothing");
    assert_eq!(cl.records("feedback:").len(), 1);
    assert_eq!(cl.records("case:").len(), 1);
    assert_eq!(cl.slack.received().len(), 1, "one alert");
}

#[tokio::test]
async fn concurrent_repeats_still_make_one_case_and_one_alert() {
    let cl = Closeloop::start().await;
    let body = feedback("resp-race", 1, "Rude staff at check-in");
    let posts = (0..6).map(|_| cl.post_feedback(&body));
    let responses = futures::future::join_all(posts).await;
    let ids: std::collections::BTreeSet<_> = responses
        .iter()
        .map(|r| {
            assert!(r.status == 202 || r.status == 200, "{}", r.text());
            r.json()["feedback_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every post got the same id");
    cl.settle().await;
    cl.slack.wait_for_delivered(1).await;
    cl.tick().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cl.records("feedback:").len(), 1);
    assert_eq!(cl.records("case:").len(), 1);
    assert_eq!(cl.slack.received().len(), 1, "one alert");
}
