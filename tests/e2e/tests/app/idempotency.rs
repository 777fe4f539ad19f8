//! The same feedback posted twice: one feedback, one case, one alert.

use std::time::Duration;

use closeloop_e2e::{Closeloop, Runtime, feedback, on_host_and_spin};

on_host_and_spin!(a_repeat_returns_the_same_id_and_changes_nothing);
async fn a_repeat_returns_the_same_id_and_changes_nothing(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let body = feedback("resp-77", 4, "Implementation took far too long");
    let first = cl.post_feedback(&body).await;
    assert_eq!(first.status, 202, "{}", first.text());
    let id = first.json()["feedback_id"].clone();
    cl.settle().await;
    cl.slack.wait_for_delivered(1).await;
    // Tick settles the outbox (the delivered alert leaves its schedule); from then on, a tick
    // that finds nothing due writes nothing, so the snapshot below holds still.
    cl.tick().await;
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

on_host_and_spin!(concurrent_repeats_still_make_one_case_and_one_alert);
async fn concurrent_repeats_still_make_one_case_and_one_alert(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
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

/// How many connections post each answer at once, as a platform's retries and redeliveries
/// do (issue "Real Spin 4.0.2 is the reference": the duplicate-post race showed with 16).
const CONNECTIONS: usize = 16;
/// How many different answers they post.
const ANSWERS: usize = 12;

on_host_and_spin!(
    sixteen_connections_posting_the_same_answers_make_one_of_everything,
    flavor = "multi_thread",
    worker_threads = 4
);
/// Every connection posts every answer in the same order, so each answer arrives sixteen times
/// at once: exactly one 202 per answer, one feedback, one case and one alert per channel.
async fn sixteen_connections_posting_the_same_answers_make_one_of_everything(rt: Runtime) {
    let cl = std::sync::Arc::new(Closeloop::start(rt).await);
    let bodies: Vec<_> = (0..ANSWERS)
        .map(|i| {
            let mut body = feedback(&format!("dup-{i}"), 2, "Nobody answered the phone");
            body["customer"]["id"] = format!("guest-dup-{i}").into();
            body
        })
        .collect();
    let connections = (0..CONNECTIONS).map(|_| {
        let (cl, bodies) = (cl.clone(), bodies.clone());
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for body in &bodies {
                let r = cl.post_feedback(body).await;
                assert!(r.status == 202 || r.status == 200, "{}", r.text());
                answers.push((
                    body["external_id"].as_str().unwrap().to_owned(),
                    r.status,
                    r.json()["feedback_id"].as_str().unwrap().to_owned(),
                ));
            }
            answers
        })
    });
    let answers: Vec<_> = futures::future::join_all(connections)
        .await
        .into_iter()
        .flat_map(|r| r.expect("a connection"))
        .collect();
    for i in 0..ANSWERS {
        let external = format!("dup-{i}");
        let of: Vec<_> = answers.iter().filter(|(e, ..)| *e == external).collect();
        assert_eq!(of.len(), CONNECTIONS);
        let accepted = of.iter().filter(|(_, s, _)| *s == 202).count();
        assert_eq!(
            accepted, 1,
            "{external}: one 202, the rest duplicates: {of:?}"
        );
        let ids: std::collections::BTreeSet<_> = of.iter().map(|(.., id)| id).collect();
        assert_eq!(ids.len(), 1, "{external}: one feedback id");
    }
    cl.settle().await;
    cl.tick().await;
    cl.settle().await;
    assert_eq!(cl.records("feedback:").len(), ANSWERS);
    let cases = cl.records("case:");
    assert_eq!(cases.len(), ANSWERS);
    for (name, mock) in [("slack", &cl.slack), ("webhook", &cl.webhook)] {
        let alerts = mock.wait_for_delivered(ANSWERS).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(mock.received().len(), ANSWERS, "one {name} alert per case");
        for case in &cases {
            let id = case["id"].as_str().unwrap();
            let n = alerts
                .iter()
                .filter(|a| String::from_utf8_lossy(&a.body).contains(id))
                .count();
            assert_eq!(n, 1, "{name}: one alert for case {id}");
        }
    }
}
