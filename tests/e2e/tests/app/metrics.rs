//! The metrics API and the exports over HTTP: numbers that follow the loop as it moves
//! (including a reopen), filters, paging, and every bad request.

use std::time::Duration;

use closeloop_e2e::{AGENT_TOKEN, Closeloop, Runtime, on_host_and_spin, on_host_only};
use serde_json::{Value, json};

use crate::{answer, metrics, open_case, resolve_and_get_link};

fn near(value: &Value, want: f64) -> bool {
    value
        .as_f64()
        .is_some_and(|v| (v - want).abs() <= 0.025 * want.max(1.0))
}

on_host_only!(
    the_numbers_follow_the_loop_through_a_reopen,
    "needs the movable clock"
);
async fn the_numbers_follow_the_loop_through_a_reopen() {
    let cl = Closeloop::start(Runtime::Host).await;
    let (_, late) = open_case(
        &cl,
        "m-1",
        2,
        "The delivery was late and the box was broken",
    )
    .await;
    open_case(&cl, "m-2", 10, "Great staff, thank you").await;
    open_case(&cl, "m-3", 5, "I was charged twice, billing never answered").await;
    cl.slack.wait_for_delivered(2).await;
    // The first delivered alert of each case is recorded when tick settles the outbox.
    cl.settle().await;
    cl.tick().await;

    let m = metrics(&cl, "").await;
    let t = &m["totals"];
    assert_eq!(t["volume"], 3);
    assert_eq!(t["cases"], 3);
    assert_eq!(t["nps"]["promoters"], 1);
    assert_eq!(t["nps"]["detractors"], 2);
    assert_eq!(t["nps"]["score"], -33.3);
    assert_eq!(
        t["alert_latency_seconds"]["count"], 2,
        "two detractors alerted"
    );
    assert_eq!(t["first_response_seconds"]["count"], 0);
    assert_eq!(t["closed"], 0);
    let today = &m["series"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(today["volume"], 3);
    assert_eq!(m["series"].as_array().unwrap().len(), 30);
    let topics: Vec<&str> = m["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topic"].as_str().unwrap())
        .collect();
    assert!(topics.contains(&"delivery"), "{topics:?}");
    let delivery = m["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == "delivery")
        .unwrap();
    assert_eq!(delivery["rising"], true);
    assert!(
        delivery["examples"][0]["comment"]
            .as_str()
            .unwrap()
            .contains("late")
    );

    // Ten minutes to acknowledge, an hour more to resolve.
    cl.clock().advance(Duration::from_secs(600));
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{late}/acknowledge"),
            Some(json!({"by": "Dana"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let t = metrics(&cl, "").await["totals"].clone();
    assert_eq!(t["first_response_seconds"]["count"], 1);
    assert!(near(&t["first_response_seconds"]["median"], 600.0), "{t}");

    cl.clock().advance(Duration::from_secs(3600));
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{late}/resolve"),
            Some(json!({"by": "Dana", "resolution": "Replaced the parcel", "root_cause": "facilities"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let message = cl.customer.wait_for_delivered(1).await[0].json();
    let link = message["link"].as_str().expect("a link").to_owned();
    let t = metrics(&cl, "").await["totals"].clone();
    assert_eq!(t["time_to_resolve_seconds"]["count"], 1);
    assert!(near(&t["time_to_resolve_seconds"]["median"], 4200.0), "{t}");
    assert_eq!(t["asked"], 1);
    assert_eq!(t["root_causes"]["facilities"], 1);

    // The customer says no: the case reopens and is no longer resolved.
    assert_eq!(answer(&cl, &link, "resolved=no&score=3").await.status, 200);
    cl.wait_for_state(&late, "reopened").await;
    let t = metrics(&cl, "").await["totals"].clone();
    assert_eq!(t["reopened"], 1);
    assert_eq!(t["reopen_rate"], 1.0);
    assert_eq!(t["time_to_resolve_seconds"]["count"], 0, "{t}");
    assert_eq!(t["confirmed"], 0);
    assert_eq!(t["confirmation_rate"], 0.0);

    // Resolved again and confirmed, with a better score: a recovered detractor.
    let link = resolve_and_get_link(&cl, &late, 1).await;
    assert_eq!(answer(&cl, &link, "resolved=yes&score=9").await.status, 200);
    cl.wait_for_state(&late, "closed-confirmed").await;
    let t = metrics(&cl, "").await["totals"].clone();
    assert_eq!(t["closed"], 1);
    assert_eq!(t["confirmed"], 1);
    assert_eq!(t["recovered_detractors"], 1);
    assert_eq!(t["time_to_resolve_seconds"]["count"], 1);
    assert_eq!(t["closure_rate"], 0.3333);

    // By team and source, and filtered.
    let m = metrics(&cl, "group_by=source").await;
    assert_eq!(m["groups"]["source"]["hotel-survey"]["volume"], 3);
    let m = metrics(&cl, "topic=delivery").await;
    assert_eq!(m["totals"]["volume"], 1);
    assert_eq!(m["filter"]["topic"], "delivery");
    // Yesterday's period holds nothing.
    let yesterday = (cl_today(&cl) - chrono::Duration::days(1)).to_string();
    let m = metrics(&cl, &format!("from={yesterday}&to={yesterday}")).await;
    assert_eq!(m["totals"]["volume"], 0);
    assert_eq!(m["totals"]["nps"]["score"], Value::Null);
}

fn cl_today(cl: &Closeloop) -> chrono::NaiveDate {
    chrono::DateTime::<chrono::Utc>::from(cl.now()).date_naive()
}

on_host_and_spin!(exports_page_through_cases_and_feedback_as_csv_and_json);
async fn exports_page_through_cases_and_feedback_as_csv_and_json(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    for i in 0..3 {
        open_case(
            &cl,
            &format!("x-{i}"),
            3,
            "=cmd|' /C calc'!A0 the room was cold",
        )
        .await;
    }
    let lead = cl.new_key("Lee Lead", "team-lead").await;
    let get = |path: String| {
        let lead = lead.clone();
        let cl = &cl;
        async move { cl.call_as(&lead, "GET", &path, None).await }
    };

    let r = get("/v1/exports/cases.json?limit=2".into()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.json();
    assert_eq!(page["count"], 2);
    let next = page["next"].as_str().expect("a next page").to_owned();
    let link = r.header("link").expect("a Link header").to_owned();
    assert!(link.contains("rel=\"next\""), "{link}");
    let r = get(format!("/v1/exports/cases.json?{next}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let rest = r.json();
    assert_eq!(rest["count"], 1);
    assert_eq!(rest["next"], Value::Null);
    let mut ids: Vec<String> = page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["rows"].as_array().unwrap())
        .map(|r| r["case_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "every case once");

    let r = get("/v1/exports/feedback.csv".into()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    assert!(
        r.header("content-disposition")
            .unwrap()
            .contains("attachment")
    );
    let csv = r.text();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("feedback_id,received_at,source"));
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(csv.contains("'=cmd|"), "a formula is defused: {csv}");
    assert!(csv.contains("guest42@example.com"));

    // Filters: a team that has nothing, and the one that has all.
    let r = get("/v1/exports/cases.json?team=nobody".into()).await;
    assert_eq!(r.json()["count"], 0);
    let r = get("/v1/exports/cases.json?team=customer-success".into()).await;
    assert_eq!(r.json()["count"], 3);

    // Exports carry customers' details: not for the shared agent token.
    let r = cl.agent("GET", "/v1/exports/cases.csv", None).await;
    r.problem(403);
}

on_host_and_spin!(bad_metrics_and_export_requests_are_refused_clearly);
async fn bad_metrics_and_export_requests_are_refused_clearly(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let r = cl.get("/v1/metrics", &[]).await;
    r.problem(401);
    let p = cl
        .agent("GET", "/v1/metrics?from=2026-02-30&group_by=channel", None)
        .await
        .problem(422);
    let pointers: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/query/from", "/query/group_by"]);
    let p = cl
        .agent("GET", "/v1/metrics?from=2020-01-01&to=2026-01-01", None)
        .await
        .problem(422);
    assert!(p.to_string().contains("at most 366 days"), "{p}");
    cl.agent("GET", "/v1/metrics?team=a&source=b", None)
        .await
        .problem(422);
    cl.admin("GET", "/v1/exports/people.xlsx", None)
        .await
        .problem(404);
    cl.admin("GET", "/v1/exports/cases.csv?limit=10001", None)
        .await
        .problem(422);
    cl.admin("GET", "/v1/exports/cases.csv?cursor=yesterday", None)
        .await
        .problem(422);
    cl.call_as(AGENT_TOKEN, "POST", "/v1/metrics", Some(json!({})))
        .await
        .problem(405);
}

on_host_only!(
    reads_and_agent_actions_never_list_the_store,
    "needs the host's count of store listings"
);
/// The acceptance's "no full scan of the store per request": the metrics, the exports, the
/// inbox, a case page, the console's pages, an agent's actions and tick never list the
/// store's keys (Spin's only listing is all keys at once). An admin's listing of the API keys
/// does, which shows the count works.
async fn reads_and_agent_actions_never_list_the_store() {
    let cl = Closeloop::start(Runtime::Host).await;
    let (_, case_id) = open_case(&cl, "scan-1", 2, "The delivery was late").await;
    open_case(&cl, "scan-2", 9, "Lovely stay").await;
    cl.slack.wait_for_delivered(1).await;
    cl.settle().await;
    let kv = cl.app.kv("default");
    let before = kv.listings();

    for path in [
        "/v1/metrics".to_owned(),
        "/v1/metrics?group_by=team".to_owned(),
        "/v1/cases".to_owned(),
        "/v1/cases?state=all".to_owned(),
        format!("/v1/cases/{case_id}"),
    ] {
        let r = cl.agent("GET", &path, None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    let r = cl.admin("GET", "/v1/exports/cases.csv", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let signed_in = cl.console_sign_in(AGENT_TOKEN).await;
    let cookie = signed_in.cookie("closeloop_session").expect("a session");
    for path in [
        "/console".to_owned(),
        format!("/console/cases/{case_id}"),
        "/console/dashboard".to_owned(),
    ] {
        let r = cl.get(&path, &[("cookie", &cookie)]).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    for (action, body) in [
        ("acknowledge", json!({"by": "Dana"})),
        ("notes", json!({"text": "called the customer"})),
    ] {
        let r = cl
            .agent("POST", &format!("/v1/cases/{case_id}/{action}"), Some(body))
            .await;
        assert!(r.status < 300, "{action}: {}", r.text());
    }
    cl.tick().await;
    cl.settle().await;
    assert_eq!(
        kv.listings(),
        before,
        "a read, an agent action or tick listed the store"
    );

    let r = cl.admin("GET", "/v1/admin/keys", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(kv.listings() > before, "an admin's listing is counted");
}
