//! Agents acting on the same case at the same moment: exactly one change wins, every other
//! gets 409, and no note or event is lost.

use closeloop_e2e::{Closeloop, Options, Runtime, on_host_and_spin};
use futures::future::join_all;
use serde_json::json;

use crate::{open_case, timeline_kinds};

/// Concurrent requests per race: enough to overlap on two cores.
const RACERS: usize = 24;

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

on_host_and_spin!(
    of_many_agents_acknowledging_and_resolving_at_once_one_wins,
    flavor = "multi_thread",
    worker_threads = 8
);
/// Multi-threaded and on SQLite, so that the racing requests' components run truly in parallel
/// with real store I/O between them (on the default single-threaded runtime with the in-memory
/// store each request runs to completion alone, and this test could not fail). The log orders
/// the commands: the first acknowledgement in ticket order wins, the rest find it acknowledged.
async fn of_many_agents_acknowledging_and_resolving_at_once_one_wins(rt: Runtime) {
    let cl = Closeloop::start_with(rt, Options::on_sqlite).await;
    let (_, case_id) = open_case(&cl, "race-1", 3, "noisy").await;

    let path_acknowledge = format!("/v1/cases/{case_id}/acknowledge");
    let path_notes = format!("/v1/cases/{case_id}/notes");
    let path_resolve = format!("/v1/cases/{case_id}/resolve");

    // Acknowledgements racing each other and a stream of notes.
    let acks = (0..RACERS).map(|i| {
        cl.agent(
            "POST",
            &path_acknowledge,
            Some(json!({"by": format!("agent {i}"), "note": format!("ack {i}")})),
        )
    });
    let notes = (0..RACERS).map(|i| {
        cl.agent(
            "POST",
            &path_notes,
            Some(json!({"by": format!("agent {i}"), "text": format!("note {i}")})),
        )
    });
    let (acks, notes) = tokio::join!(join_all(acks), join_all(notes));
    let won: Vec<_> = acks.iter().filter(|r| r.status == 200).collect();
    assert_eq!(won.len(), 1, "exactly one acknowledgement wins");
    for r in acks.iter().filter(|r| r.status != 200) {
        let p = r.problem(409);
        assert!(
            [
                "urn:closeloop:problem:conflict",
                "urn:closeloop:problem:invalid-transition"
            ]
            .contains(&p["type"].as_str().unwrap()),
            "{p}"
        );
    }
    assert!(notes.iter().all(|r| r.status == 201), "every note is kept");
    let view = cl.case(&case_id).await;
    let kinds = timeline_kinds(&view);
    assert_eq!(count(&kinds, "acknowledged"), 1, "{kinds:?}");
    assert_eq!(count(&kinds, "note"), RACERS, "{kinds:?}");
    let winner = won[0].json();
    assert_eq!(view["case"]["owner"], winner["owner"]);
    assert_eq!(view["case"]["version"], 2);
    let ack = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "acknowledged")
        .unwrap();
    assert_eq!(
        Some(ack["actor"].as_str().unwrap()),
        winner["owner"].as_str(),
        "the winner's event"
    );

    // Resolutions racing: one resolution, one customer message.
    let resolves = (0..RACERS).map(|i| {
        cl.agent(
            "POST",
            &path_resolve,
            Some(json!({"by": format!("agent {i}"), "resolution": format!("fix {i}"), "root_cause": "facilities"})),
        )
    });
    let resolves = join_all(resolves).await;
    assert_eq!(resolves.iter().filter(|r| r.status == 200).count(), 1);
    assert!(
        resolves
            .iter()
            .filter(|r| r.status != 200)
            .all(|r| r.status == 409)
    );
    cl.settle().await;
    let view = cl.case(&case_id).await;
    let kinds = timeline_kinds(&view);
    assert_eq!(count(&kinds, "resolved"), 1, "{kinds:?}");
    assert_eq!(view["case"]["round"], 1);
    assert_eq!(cl.customer.delivered().len(), 1, "one customer message");
    assert_eq!(
        cl.records("notice:").len(),
        2,
        "the alert and one follow-up"
    );
}
