//! Acting from where the alert landed: Slack's buttons, posted to the interactivity route as
//! Slack documents them (signed `block_actions` payloads, the answer through `response_url`),
//! and one-click links in a member's email that act on `POST` only.

use std::time::Duration;

use closeloop_e2e::client::request;
use closeloop_e2e::mock::{MockReceiver, Mode};
use closeloop_e2e::{Closeloop, Runtime, on_host_and_spin};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::*;

const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const DANA_SLACK: &str = "U024BE7LH";

/// The providers' team, with Dana's Slack user id.
fn team(p: &Providers) -> Value {
    let mut team = p.team();
    team["members"][0]["slack_user_id"] = json!(DANA_SLACK);
    team
}

async fn start_with_slack_app(rt: Runtime, p: &Providers) -> Closeloop {
    let cl = Closeloop::start_with(rt, |o| {
        p.options(o)
            .variable("slack_signing_secret", SLACK_SECRET)
            .variable("slack_response_url_prefix", "http://127.0.0.1:")
    })
    .await;
    put_team(&cl, TEAM, &team(p)).await;
    cl
}

/// Slack's `block_actions` payload for a press of `action_id` by `user` on `alert`, as a form
/// (<https://api.slack.com/reference/interaction-payloads/block-actions>).
fn press(alert: &Value, user: &str, action_id: &str, case_id: &str, response_url: &str) -> Vec<u8> {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0001"},
        "api_app_id": "A0001",
        "container": {"type": "message", "message_ts": "1700000000.000100"},
        "trigger_id": "1.2.3",
        "team": {"id": "T0001", "domain": "hotel"},
        "channel": {"id": "C0001", "name": "front-desk"},
        "message": {"type": "message", "text": alert["text"], "blocks": alert["blocks"]},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "b1", "value": case_id,
                     "type": "button", "action_ts": "1700000001.000200",
                     "text": {"type": "plain_text", "text": "x"}}]
    });
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
        .into_bytes()
}

/// Signs as Slack does: `v0=` hex HMAC-SHA256 of `v0:{timestamp}:{body}`
/// (<https://api.slack.com/authentication/verifying-requests-from-slack>).
async fn post_signed(
    cl: &Closeloop,
    body: Vec<u8>,
    secret: &str,
    at: i64,
) -> closeloop_e2e::client::Response {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{at}:").as_bytes());
    mac.update(&body);
    let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
    let at = at.to_string();
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-slack-request-timestamp", at.as_str()),
        ("x-slack-signature", signature.as_str()),
    ];
    request("POST", &cl.url("/v1/slack/interactions"), &headers, body).await
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

on_host_and_spin!(slack_buttons_act_as_the_directory_member_and_update_the_alert);
async fn slack_buttons_act_as_the_directory_member_and_update_the_alert(rt: Runtime) {
    let p = Providers::start("postmark").await;
    let cl = start_with_slack_app(rt, &p).await;
    let responses = MockReceiver::start().await;
    responses.set_mode(Mode::Status(200, "ok"));
    let case_id = open(&cl, &feedback_from("guest-s", "slack-1", 1, "No towels")).await;
    let alert = p.slack.wait_for_delivered(1).await[0].json();
    let buttons = alert["blocks"].as_array().unwrap().last().unwrap()["elements"].clone();
    let ids: Vec<&str> = (buttons.as_array().unwrap().iter())
        .map(|b| b["action_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["open_case", "acknowledge", "assign_to_me"], "{alert}");
    assert_eq!(buttons[1]["value"], case_id.as_str());
    assert!(buttons[1].get("url").is_none(), "the button acts in place");

    // Forged, stale and unsigned presses are refused and change nothing.
    let url = responses.url("/actions/T0001/1/abc");
    let body = press(&alert, DANA_SLACK, "acknowledge", &case_id, &url);
    let forged = post_signed(&cl, body.clone(), "not-the-secret", now_secs()).await;
    assert_eq!(forged.status, 401, "{}", forged.text());
    assert_eq!(
        forged.header("content-type"),
        Some("application/problem+json")
    );
    let stale = post_signed(&cl, body.clone(), SLACK_SECRET, now_secs() - 600).await;
    assert_eq!(stale.status, 401, "{}", stale.text());
    let unsigned = request(
        "POST",
        &cl.url("/v1/slack/interactions"),
        &[("content-type", "application/x-www-form-urlencoded")],
        body.clone(),
    )
    .await;
    assert_eq!(unsigned.status, 401);
    assert_eq!(cl.case(&case_id).await["case"]["state"], "new");

    // Someone Slack knows but the directory does not: told so, only them.
    let stranger = press(&alert, "U0STRANGER", "acknowledge", &case_id, &url);
    let r = post_signed(&cl, stranger, SLACK_SECRET, now_secs()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let told = responses.wait_for_requests(1).await[0].json();
    assert_eq!(told["response_type"], "ephemeral", "{told}");
    assert_eq!(told["replace_original"], false);
    assert!(
        told["text"]
            .as_str()
            .unwrap()
            .contains("not a member of team"),
        "{told}"
    );
    assert_eq!(cl.case(&case_id).await["case"]["state"], "new");

    // Dana acknowledges: answered at once, recorded under her name, the alert updated.
    let started = std::time::Instant::now();
    let r = post_signed(&cl, body, SLACK_SECRET, now_secs()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "Slack waits 3 seconds at most"
    );
    let updated = responses.wait_for_requests(2).await[1].json();
    assert_eq!(updated["replace_original"], true, "{updated}");
    assert!(
        updated["text"]
            .as_str()
            .unwrap()
            .starts_with("Acknowledged by Dana Desk"),
        "{updated}"
    );
    let blocks = updated["blocks"].as_array().unwrap();
    assert_eq!(blocks[0], alert["blocks"][0], "the alert itself stays");
    let view = cl.wait_for_state(&case_id, "acknowledged").await;
    let ack = (view["timeline"].as_array().unwrap().iter())
        .find(|e| e["kind"] == "acknowledged")
        .unwrap()
        .clone();
    assert_eq!(ack["actor"], "Dana Desk", "{ack}");

    // Pressed again: the case's own reason, to Dana only.
    let again = press(&alert, DANA_SLACK, "acknowledge", &case_id, &url);
    post_signed(&cl, again, SLACK_SECRET, now_secs()).await;
    let told = responses.wait_for_requests(3).await[2].json();
    assert_eq!(told["response_type"], "ephemeral", "{told}");
    assert!(
        told["text"].as_str().unwrap().starts_with("Not done:"),
        "{told}"
    );

    // "Assign to me" makes her the owner.
    let take = press(&alert, DANA_SLACK, "assign_to_me", &case_id, &url);
    post_signed(&cl, take, SLACK_SECRET, now_secs()).await;
    let updated = responses.wait_for_requests(4).await[3].json();
    assert!(
        updated["text"]
            .as_str()
            .unwrap()
            .starts_with("Taken by Dana Desk"),
        "{updated}"
    );
    let deadline = std::time::Instant::now() + closeloop_e2e::SETTLE_WITHIN;
    while cl.case(&case_id).await["case"]["owner"] != "dana" {
        assert!(std::time::Instant::now() < deadline, "not assigned to dana");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The "Open case" link button is told too, and does nothing.
    let open_press = press(&alert, DANA_SLACK, "open_case", &case_id, &url);
    let r = post_signed(&cl, open_press, SLACK_SECRET, now_secs()).await;
    assert_eq!(r.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(responses.received().len(), 4, "nothing to say about a link");
}

/// The one-click link in an email to a member: `{public_base_url}/v1/act/{token}`.
fn acknowledge_link(email: &Value) -> String {
    let text = email["TextBody"].as_str().unwrap();
    let line = (text.lines())
        .find(|l| l.starts_with("Acknowledge: "))
        .unwrap_or_else(|| panic!("no acknowledge line: {text}"));
    let url = line.trim_start_matches("Acknowledge: ");
    assert!(url.starts_with("http://closeloop.test/v1/act/"), "{url}");
    url.trim_start_matches("http://closeloop.test").to_owned()
}

on_host_and_spin!(a_members_one_click_link_asks_on_get_and_acts_once_on_post);
async fn a_members_one_click_link_asks_on_get_and_acts_once_on_post(rt: Runtime) {
    let p = Providers::start("postmark").await;
    let cl = start(rt, &p, &p.team()).await;
    let case_id = open(
        &cl,
        &feedback_from("guest-o", "one-click-1", 1, "Broken lift"),
    )
    .await;
    let email = p.email.wait_for_delivered(1).await[0].json();
    let path = acknowledge_link(&email);
    assert!(email["HtmlBody"].as_str().unwrap().contains(&path));

    // Opening the link (a mail scanner does) only asks.
    for _ in 0..2 {
        let page = cl.get(&path, &[]).await;
        assert_eq!(page.status, 200, "{}", page.text());
        assert!(
            page.text().contains("Acknowledge it as Dana Desk?"),
            "{}",
            page.text()
        );
        assert!(page.text().contains(&format!(r#"action="{path}""#)));
        assert!(page.header("content-security-policy").is_some());
    }
    assert_eq!(cl.case(&case_id).await["case"]["state"], "new");

    let r = request("POST", &cl.url(&path), &[], Vec::new()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("Acknowledged by Dana Desk"),
        "{}",
        r.text()
    );
    let view = cl.wait_for_state(&case_id, "acknowledged").await;
    assert!(view["case"]["first_response_at"].is_string(), "{view}");

    // Used: nothing more to do, on GET or POST.
    let r = request("POST", &cl.url(&path), &[], Vec::new()).await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("Nothing to do"));
    assert_eq!(cl.get(&path, &[]).await.status, 409);

    // A link that is not ours.
    let (payload, _) = path.rsplit_once('.').unwrap();
    let forged = format!("{payload}.AAAA");
    assert_eq!(cl.get(&forged, &[]).await.status, 404);
    assert_eq!(cl.get("/v1/act/garbage", &[]).await.status, 404);
}

on_host_and_spin!(racing_presses_and_clicks_act_once, flavor = "multi_thread");
/// Eight presses of one Slack button at once, then eight posts of one one-click link at once:
/// each acts once (one `acknowledged` event), the others are told there is nothing to do.
async fn racing_presses_and_clicks_act_once(rt: Runtime) {
    const RACERS: usize = 8;
    let p = Providers::start("postmark").await;
    let cl = std::sync::Arc::new(start_with_slack_app(rt, &p).await);
    let responses = MockReceiver::start().await;
    responses.set_mode(Mode::Status(200, "ok"));
    let acknowledged = |view: &Value| {
        (view["timeline"].as_array().unwrap().iter())
            .filter(|e| e["kind"] == "acknowledged")
            .count()
    };

    let slack_case = open(&cl, &feedback_from("guest-r1", "race-1", 1, "No towels")).await;
    let alert = p.slack.wait_for_delivered(1).await[0].json();
    let url = responses.url("/actions/T0001/1/race");
    let presses = (0..RACERS).map(|_| {
        let (cl, body) = (
            cl.clone(),
            press(&alert, DANA_SLACK, "acknowledge", &slack_case, &url),
        );
        tokio::spawn(async move {
            post_signed(&cl, body, SLACK_SECRET, now_secs())
                .await
                .status
        })
    });
    for status in futures::future::join_all(presses).await {
        assert_eq!(status.unwrap(), 200);
    }
    let told = responses.wait_for_requests(RACERS).await;
    let updated = (told.iter())
        .filter(|r| r.json()["replace_original"] == true)
        .count();
    assert_eq!(updated, 1, "one press acted, the others were told why not");
    let view = cl.wait_for_state(&slack_case, "acknowledged").await;
    assert_eq!(acknowledged(&view), 1, "{view}");

    let click_case = open(&cl, &feedback_from("guest-r2", "race-2", 1, "No water")).await;
    let emails = p.email.wait_for_delivered(2).await;
    let email = (emails.iter().map(|e| e.json()))
        .find(|e| e["TextBody"].as_str().unwrap().contains(&click_case))
        .expect("the second case's email");
    let path = acknowledge_link(&email);
    let clicks = (0..RACERS).map(|_| {
        let url = cl.url(&path);
        tokio::spawn(async move { request("POST", &url, &[], Vec::new()).await.status })
    });
    let mut statuses: Vec<u16> = futures::future::join_all(clicks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses[0], 200, "{statuses:?}");
    assert!(statuses[1..].iter().all(|s| *s == 409), "{statuses:?}");
    let view = cl.wait_for_state(&click_case, "acknowledged").await;
    assert_eq!(acknowledged(&view), 1, "{view}");
}

closeloop_e2e::on_host_only!(
    acting_from_an_alert_costs_what_an_agent_action_costs,
    "needs the host's count of write calls"
);
/// Write calls (the test host counts them): a press or a one-click post is an agent action,
/// its ticket and its fold; opening a one-click link writes nothing.
async fn acting_from_an_alert_costs_what_an_agent_action_costs() {
    const AGENT_ACTION: u64 = 2;
    let p = Providers::start("postmark").await;
    let cl = start_with_slack_app(Runtime::Host, &p).await;
    // Without PagerDuty, whose incident an acknowledgement updates (one delivery more).
    let mut without_paging = team(&p);
    without_paging["endpoints"] = json!(
        without_paging["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["channel"] != "pagerduty")
            .collect::<Vec<_>>()
    );
    put_team(&cl, TEAM, &without_paging).await;
    let responses = MockReceiver::start().await;
    responses.set_mode(Mode::Status(200, "ok"));
    let kv = cl.app.kv("default");

    let pressed = open(&cl, &feedback_from("guest-b1", "budget-a1", 1, "No towels")).await;
    let alert = p.slack.wait_for_delivered(1).await[0].json();
    quiet(&cl).await;
    let before = kv.writes();
    let url = responses.url("/actions/T0001/1/budget");
    let body = press(&alert, DANA_SLACK, "acknowledge", &pressed, &url);
    assert_eq!(
        post_signed(&cl, body, SLACK_SECRET, now_secs())
            .await
            .status,
        200
    );
    responses.wait_for_requests(1).await;
    cl.wait_for_state(&pressed, "acknowledged").await;
    assert_eq!(kv.writes() - before, AGENT_ACTION, "a Slack press");

    let clicked = open(&cl, &feedback_from("guest-b2", "budget-a2", 1, "No water")).await;
    let emails = p.email.wait_for_delivered(2).await;
    let email = (emails.iter().map(|e| e.json()))
        .find(|e| e["TextBody"].as_str().unwrap().contains(&clicked))
        .expect("the second case's email");
    let path = acknowledge_link(&email);
    quiet(&cl).await;
    let before = kv.writes();
    assert_eq!(cl.get(&path, &[]).await.status, 200);
    assert_eq!(kv.writes() - before, 0, "opening a one-click link");
    assert_eq!(
        request("POST", &cl.url(&path), &[], Vec::new())
            .await
            .status,
        200
    );
    cl.wait_for_state(&clicked, "acknowledged").await;
    assert_eq!(kv.writes() - before, AGENT_ACTION, "a one-click post");
}
