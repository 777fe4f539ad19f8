//! What people do from an alert, over HTTP: Slack's buttons (`POST /v1/slack/interactions`)
//! and one-click links (`GET|POST /v1/act/{token}`). The rules are
//! `closeloop_domain::alert_action`; this reads the case and its team, submits the action as
//! a command like the agent API does, and answers Slack or the person.

use std::time::Duration;

use closeloop_domain::Timestamp;
use closeloop_domain::alert_action::{self, ActionClaims, Actor};
use closeloop_domain::case::Case;
use closeloop_domain::dispatch::directory::Team;
use closeloop_domain::dispatch::store;
use closeloop_domain::feedback::Feedback;
use closeloop_domain::keys;
use closeloop_domain::link::LinkError;
use closeloop_domain::message;
use closeloop_domain::page;
use closeloop_domain::problem::{Problem, ProblemKind};
use closeloop_workflow::fold::{Command, Verdict};
use spin_sdk::http::Method;

use crate::http::{self, Handled, Incoming, Reply};
use crate::kv::Kv;
use crate::log::RequestLog;
use crate::{clock, config, outbound, workflow};

/// How long the update of a Slack message may take.
const SLACK_UPDATE_TIMEOUT: Duration = Duration::from_secs(5);
/// Where Slack's `response_url`s live, unless `slack_response_url_prefix` says otherwise.
const SLACK_RESPONSE_PREFIX: &str = "https://hooks.slack.com/";

/// The case and, if it is in the directory, its team: one read of each.
fn case_and_team(kv: &Kv, case_id: &str) -> Result<(Option<Case>, Option<Team>), Problem> {
    let Some(case) = kv.get::<Case>(&keys::case(case_id))? else {
        return Ok((None, None));
    };
    let team = kv.get::<Team>(&store::case_team(&case))?;
    Ok((Some(case), team))
}

/// Submits the action: done, or why not (the fold checks the case's state again).
fn submit(
    kv: &Kv,
    case_id: &str,
    action: closeloop_domain::case::Action,
) -> Result<(Result<(), String>, workflow::Done), Problem> {
    let command = Command::CaseAction {
        case_id: case_id.to_owned(),
        action,
    };
    let done = workflow::submit(kv, command)?;
    let result = match &done.verdict {
        Verdict::CaseChanged { .. } => Ok(()),
        refused => Err(refused
            .problem()
            .map_or_else(|| "not done".to_owned(), |p| p.detail)),
    };
    Ok((result, done))
}

fn when(at: Timestamp) -> String {
    at.format("%H:%M UTC on %-d %b").to_string()
}

/// `POST /v1/slack/interactions`: a button pressed on an alert. Answers Slack at once (its
/// limit is 3 seconds) and then updates the alert, or tells only the person why not, through
/// the request's `response_url`.
pub fn slack(
    req: &Incoming,
    kv: &Kv,
    log: &mut RequestLog,
    component: &'static str,
) -> Result<Handled, Problem> {
    log.route("/v1/slack/interactions");
    if req.method != Method::Post {
        return Err(http::method_not_allowed("POST"));
    }
    let secret = config::optional("slack_signing_secret").ok_or_else(|| {
        Problem::new(
            ProblemKind::NotFound,
            "Slack interactivity is not configured: set slack_signing_secret to the Slack app's signing secret",
        )
    })?;
    req.require_body_at_most(alert_action::MAX_SLACK_BODY)?;
    let now = clock::now();
    alert_action::verify_slack(
        &secret,
        req.header("x-slack-request-timestamp"),
        req.header("x-slack-signature"),
        &req.body,
        now,
    )
    .map_err(|r| Problem::new(ProblemKind::Unauthorized, r.detail()))?;
    let press = alert_action::parse_slack_press(&req.body)
        .map_err(|why| Problem::new(ProblemKind::InvalidRequest, why))?;
    let ok = || Reply::new(200, "text/plain", Vec::new());
    let Some(action) = press.action else {
        return Ok(ok().into());
    };
    let prefix = config::optional("slack_response_url_prefix")
        .unwrap_or_else(|| SLACK_RESPONSE_PREFIX.to_owned());
    if !press.response_url.starts_with(&prefix) {
        return Err(Problem::new(
            ProblemKind::InvalidRequest,
            format!("response_url is not under {prefix}"),
        ));
    }
    log.field("case_id", press.case_id.as_str());
    log.field("action", action.action_id());
    let (case, team) = case_and_team(kv, &press.case_id)?;
    let decided = alert_action::decide(
        case.as_ref(),
        team.as_ref(),
        Actor::Slack(&press.user_id),
        action,
        now,
    );
    let (message, done) = match decided {
        Err(why) => (
            alert_action::slack_ephemeral(&format!("Not done: {why}")),
            None,
        ),
        Ok(act) => {
            let by = act.clone().actor_mut().cloned().unwrap_or_default();
            match submit(kv, &press.case_id, act)? {
                (Ok(_), done) => {
                    let line = format!("{} by {by} at {}", action.done(), when(now));
                    (
                        alert_action::slack_acted(&press.message_blocks, &line),
                        Some(done),
                    )
                }
                (Err(why), done) => (
                    alert_action::slack_ephemeral(&format!("Not done: {why}")),
                    Some(done),
                ),
            }
        }
    };
    log.field("outcome", message["text"].clone());
    let url = press.response_url;
    Ok(Handled::then(ok(), move || {
        let body = serde_json::to_vec(&message).expect("JSON values serialize");
        let headers = [("content-type", "application/json")];
        let sent = outbound::send_limited(
            Method::Post,
            &url,
            &headers,
            &body,
            SLACK_UPDATE_TIMEOUT,
            outbound::MAX_RESPONSE_BYTES,
        );
        if let Err(e) = sent {
            crate::log::event(
                component,
                "slack update failed",
                serde_json::json!({"error": e.to_string()}),
            );
        }
        if let Some(done) = done {
            workflow::hand_over(component, &done);
        }
    }))
}

/// `GET /v1/act/{token}` asks, `POST` acts: a member's one-click action from an alert.
pub fn one_click(
    req: &Incoming,
    kv: &Kv,
    token: &str,
    log: &mut RequestLog,
    component: &'static str,
) -> Result<Handled, Problem> {
    log.route("/v1/act/:token");
    let page = |status: u16, heading: &str, lines: &[String], form, link| {
        Reply::html(status, page::member_page(heading, lines, form, link))
    };
    if req.method != Method::Get && req.method != Method::Post {
        return Err(http::method_not_allowed("GET, POST"));
    }
    let key = config::link_key();
    let now = clock::now();
    let claims = match key.map(|k| k.verify::<ActionClaims>(token, now)) {
        Some(Ok(claims)) => claims,
        Some(Err(LinkError::Expired)) => {
            let why = ["This link has expired. Open the case in the console instead.".to_owned()];
            return Ok(page(410, "Link expired", &why, None, None).into());
        }
        _ => {
            let why = [
                "This link is not valid: use the link from the alert exactly as sent.".to_owned(),
            ];
            return Ok(page(404, "Link not valid", &why, None, None).into());
        }
    };
    log.field("case_id", claims.case_id.as_str());
    let base = config::public_base_url();
    let case_page = message::case_page_url(&base, &claims.case_id);
    let open = Some((case_page.as_str(), "Open the case in closeloop"));
    let (case, team) = case_and_team(kv, &claims.case_id)?;
    let actor = Actor::Linked {
        team: &claims.team,
        member: &claims.member,
        reopen_count: claims.reopen_count,
    };
    let action = claims.action;
    let decided = alert_action::decide(case.as_ref(), team.as_ref(), actor, action, now);
    let about = match &case {
        Some(c) => {
            let feedback = kv.get::<Feedback>(&keys::feedback(&c.feedback_id))?;
            alert_action::describe(c, feedback.as_ref())
        }
        None => String::new(),
    };
    let act = match decided {
        Err(why) => {
            let lines = [about, format!("Nothing to do: {why}.")];
            return Ok(page(409, "Nothing to do", &lines, None, open).into());
        }
        Ok(act) => act,
    };
    let by = act.clone().actor_mut().cloned().unwrap_or_default();
    if req.method == Method::Get {
        // Opening the link (a mail scanner may) only asks.
        let lines = [about, format!("{} it as {by}?", action.label())];
        let here = format!("/v1/act/{token}");
        let form = Some((here.as_str(), action.label()));
        return Ok(page(200, action.label(), &lines, form, open).into());
    }
    let (result, done) = submit(kv, &claims.case_id, act)?;
    let reply = match result {
        Ok(_) => {
            let lines = [format!("{} by {by} at {}.", action.done(), when(now))];
            page(200, action.done(), &lines, None, open)
        }
        Err(why) => page(
            409,
            "Nothing to do",
            &[format!("Not done: {why}.")],
            None,
            open,
        ),
    };
    Ok(Handled::then(reply, move || {
        workflow::hand_over(component, &done)
    }))
}
