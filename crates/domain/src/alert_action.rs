//! Acting on a case from where its alert landed: Slack's buttons, and one-click links in
//! Teams, email and SMS.
//!
//! The person acting is a member of the case's team in the directory: on Slack, the member
//! whose `slack_user_id` is the Slack user who pressed the button (Slack signs the request,
//! [`verify_slack`]); elsewhere, the member the alert was sent to, named by the signed link
//! itself ([`ActionClaims`]). The action is recorded under that member's name, and refused
//! with the case's own reason when its state no longer allows it.
//!
//! A one-click link is signed with `link_signing_key` under a context of its own (no customer
//! link or session can pass as one), expires with the customer links' lifetime, and is bound
//! to one member, one action and one round of the case (`reopen_count`): acknowledging is
//! possible once per round, so a link used once, or kept from before a reopening, does nothing
//! more. Opening it (`GET`) only asks; mail scanners that open links change nothing. Only the
//! form it shows (`POST`) acts.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::Timestamp;
use crate::case::{Action, Case};
use crate::dispatch::directory::{Member, Team};
use crate::feedback::Feedback;
use crate::link::{Claims, LinkKey};

/// What a person may do from an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuickAction {
    Acknowledge,
    /// Take the case: the member becomes its owner (only themselves, only on their team).
    AssignToMe,
}

impl QuickAction {
    /// Slack's `action_id` of the button.
    pub fn action_id(self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledge",
            Self::AssignToMe => "assign_to_me",
        }
    }

    pub fn from_action_id(id: &str) -> Option<Self> {
        [Self::Acknowledge, Self::AssignToMe]
            .into_iter()
            .find(|a| a.action_id() == id)
    }

    /// The button's words.
    pub fn label(self) -> &'static str {
        match self {
            Self::Acknowledge => "Acknowledge",
            Self::AssignToMe => "Assign to me",
        }
    }

    /// What happened, for the updated alert ("Acknowledged by Dana").
    pub fn done(self) -> &'static str {
        match self {
            Self::Acknowledge => "Acknowledged",
            Self::AssignToMe => "Taken",
        }
    }

    /// The case action, by `member`, saying where it came from.
    pub fn action(self, member: &Member, via: &str) -> Action {
        match self {
            Self::Acknowledge => Action::Acknowledge {
                by: member.name.clone(),
                note: Some(format!("from the alert in {via}")),
            },
            Self::AssignToMe => Action::Assign {
                by: member.name.clone(),
                to: member.id.clone(),
                note: Some(format!("took it from the alert in {via}")),
            },
        }
    }
}

/// A one-click link's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionClaims {
    pub case_id: String,
    pub team: String,
    pub member: String,
    pub action: QuickAction,
    /// The case's round: a link from before a reopening is refused.
    pub reopen_count: u32,
    /// Unix seconds.
    pub expires_at: i64,
}

impl Claims for ActionClaims {
    const CONTEXT: &'static [u8] = b"closeloop-alert-action-v1.";
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

/// The one-click link by which `member` of `team` does `action` on `case`, valid for
/// `ttl_hours` from `now`.
pub fn one_click_link(
    key: &LinkKey,
    base_url: &str,
    case: &Case,
    (team, member): (&str, &str),
    action: QuickAction,
    now: Timestamp,
    ttl_hours: i64,
) -> String {
    let claims = ActionClaims {
        case_id: case.id.clone(),
        team: team.to_owned(),
        member: member.to_owned(),
        action,
        reopen_count: case.reopen_count,
        expires_at: (now + chrono::Duration::hours(ttl_hours)).timestamp(),
    };
    format!("{base_url}/v1/act/{}", key.sign(&claims))
}

/// Who is acting, as the request names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// The Slack user who pressed a button (Slack signed the request).
    Slack(&'a str),
    /// The member a one-click link was made for, and the case's round then.
    Linked {
        team: &'a str,
        member: &'a str,
        reopen_count: u32,
    },
}

/// The case action `actor` asks for, recorded under the member's name, or why not: a
/// sentence for the person, saying what to do instead. `team` is the case's team as the
/// directory holds it. The fold checks the case's state again when it applies the action.
pub fn decide(
    case: Option<&Case>,
    team: Option<&Team>,
    actor: Actor<'_>,
    action: QuickAction,
    now: Timestamp,
) -> Result<Action, String> {
    let case = case.ok_or("closeloop has no such case (it may have been erased)")?;
    let case_team = &case.triage.team;
    let not_listed = || {
        format!("team {case_team} is not in closeloop's directory: act on the case in the console")
    };
    let (member, via) = match actor {
        Actor::Slack(user) => {
            let team = team.ok_or_else(not_listed)?;
            let member = team.slack_member(user).ok_or_else(|| {
                format!(
                    "your Slack account ({user}) is not a member of team {case_team} in closeloop's directory: ask an admin to add your slack_user_id, or act in the console"
                )
            })?;
            (member, "Slack")
        }
        Actor::Linked {
            team: linked_team,
            member,
            reopen_count,
        } => {
            if linked_team != case_team {
                return Err(format!(
                    "the case has moved to team {case_team}: this link was for team {linked_team}"
                ));
            }
            if reopen_count != case.reopen_count {
                return Err(
                    "the case was reopened since this link was sent: use the newest alert"
                        .to_owned(),
                );
            }
            let team = team.ok_or_else(not_listed)?;
            let member = team.member(member).ok_or_else(|| {
                format!(
                    "{member} is no longer a member of team {case_team} in closeloop's directory"
                )
            })?;
            (member, "a one-click link")
        }
    };
    let action = action.action(member, via);
    case.apply(action.clone(), String::new(), now)
        .map_err(|e| e.to_string())?;
    Ok(action)
}

/// The longest comment a one-click page quotes.
const MAX_QUOTED_CHARS: usize = 200;

/// What a case is, in the words of its alert, for the page a one-click link opens: priority,
/// customer, score, the comment (quoted, cut), the team and the state.
pub fn describe(case: &Case, feedback: Option<&Feedback>) -> String {
    let (who, score, comment) = match feedback {
        Some(f) => (
            f.customer.display_name().to_owned(),
            f.score
                .map(|s| s.label())
                .unwrap_or_else(|| "no score".into()),
            f.comment.as_deref().map(|c| {
                let quoted: String = c.chars().take(MAX_QUOTED_CHARS).collect();
                let cut = if quoted.len() < c.len() { "…" } else { "" };
                format!(": \"{quoted}{cut}\"")
            }),
        ),
        None => ("the customer".to_owned(), "no score".to_owned(), None),
    };
    let t = &case.triage;
    format!(
        "{} feedback from {who} ({score}){}. The case (team {}) is {}.",
        t.priority.as_str(),
        comment.unwrap_or_default(),
        t.team,
        case.state.as_str()
    )
}

/// The longest Slack request body looked at (an interaction payload carries the message).
pub const MAX_SLACK_BODY: usize = 64 * 1024;
/// How far a Slack request's timestamp may be from now: Slack's own advice, 5 minutes.
pub const SLACK_MAX_SKEW_SECS: i64 = 5 * 60;

/// Why a request that says it is from Slack is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackRefusal {
    Missing,
    Stale,
    Forged,
}

impl SlackRefusal {
    pub fn detail(&self) -> &'static str {
        match self {
            Self::Missing => {
                "send X-Slack-Request-Timestamp and X-Slack-Signature: this route takes Slack's signed interaction requests only"
            }
            Self::Stale => {
                "X-Slack-Request-Timestamp is more than 5 minutes from now (a replayed request, or a clock to fix)"
            }
            Self::Forged => "X-Slack-Signature does not match the body under the signing secret",
        }
    }
}

/// Slack's request signing: `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256 under the
/// app's signing secret of `v0:{X-Slack-Request-Timestamp}:{body}`; the timestamp must be
/// within [`SLACK_MAX_SKEW_SECS`] of now. Compared in constant time.
pub fn verify_slack(
    signing_secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), SlackRefusal> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SlackRefusal::Missing);
    };
    let at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SlackRefusal::Missing)?;
    if (now.timestamp() - at).abs() > SLACK_MAX_SKEW_SECS {
        return Err(SlackRefusal::Stale);
    }
    let hex_sig = signature
        .trim()
        .strip_prefix("v0=")
        .ok_or(SlackRefusal::Forged)?;
    let presented = hex::decode(hex_sig).map_err(|_| SlackRefusal::Forged)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(signing_secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("v0:{}:", timestamp.trim()).as_bytes());
    mac.update(body);
    mac.verify_slice(&presented)
        .map_err(|_| SlackRefusal::Forged)
}

/// A button press from Slack (`block_actions`), as much of it as closeloop uses.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackPress {
    pub user_id: String,
    /// `None` for a button closeloop does not act on ("Open case" is a link, and Slack tells
    /// of its presses too).
    pub action: Option<QuickAction>,
    pub case_id: String,
    pub response_url: String,
    /// The alert as it is in Slack, to update.
    pub message_blocks: Vec<Value>,
}

/// Reads Slack's interaction request: a form with one field, `payload`, holding the JSON.
pub fn parse_slack_press(body: &[u8]) -> Result<SlackPress, String> {
    let payload = form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or("the form has no payload field")?;
    let v: Value =
        serde_json::from_str(&payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
    if v["type"] != "block_actions" {
        return Err(format!(
            "closeloop answers block_actions only, not {}",
            v["type"]
        ));
    }
    let text = |v: &Value, what: &str| {
        v.as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("the payload has no {what}"))
    };
    let action = &v["actions"][0];
    Ok(SlackPress {
        user_id: text(&v["user"]["id"], "user.id")?,
        action: action["action_id"]
            .as_str()
            .and_then(QuickAction::from_action_id),
        case_id: action["value"].as_str().unwrap_or_default().to_owned(),
        response_url: text(&v["response_url"], "response_url")?,
        message_blocks: v["message"]["blocks"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    })
}

/// The alert once someone acted on it: the same blocks, the action buttons replaced by who
/// did what and when (the case link stays).
pub fn slack_acted(blocks: &[Value], line: &str) -> Value {
    let mut kept: Vec<Value> = blocks
        .iter()
        .filter(|b| b["type"] != "actions")
        .cloned()
        .collect();
    kept.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}));
    if let Some(open) = blocks
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_id"] == "open_case")
    {
        kept.push(json!({"type": "actions", "elements": [open]}));
    }
    json!({"replace_original": true, "text": line, "blocks": kept})
}

/// A message only the person who pressed sees (a refusal), leaving the alert as it was.
pub fn slack_ephemeral(text: &str) -> Value {
    json!({"response_type": "ephemeral", "replace_original": false, "text": text})
}

/// Whether `user_id` looks like a Slack user id (`U…` or `W…`, capitals and digits).
pub fn is_slack_user_id(user_id: &str) -> bool {
    let mut chars = user_id.chars();
    matches!(chars.next(), Some('U' | 'W'))
        && (3..=20).contains(&user_id.len())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::link::LinkError;

    fn now() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap()
    }

    /// Slack's documented example: signing secret `8f742231b10e8888abcd99yyyzzz85a5`,
    /// timestamp 1531420618 and the body below give
    /// `v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503`
    /// (<https://api.slack.com/authentication/verifying-requests-from-slack>).
    #[test]
    fn slacks_documented_signature_verifies_and_forgeries_do_not() {
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let ts = "1531420618";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let then = chrono::Utc.timestamp_opt(1531420618 + 60, 0).unwrap();
        assert_eq!(
            verify_slack(secret, Some(ts), Some(sig), body, then),
            Ok(())
        );
        let mut altered = body.to_vec();
        altered[6] = b'X';
        assert_eq!(
            verify_slack(secret, Some(ts), Some(sig), &altered, then),
            Err(SlackRefusal::Forged)
        );
        assert_eq!(
            verify_slack("another-secret", Some(ts), Some(sig), body, then),
            Err(SlackRefusal::Forged)
        );
        let late = chrono::Utc.timestamp_opt(1531420618 + 301, 0).unwrap();
        assert_eq!(
            verify_slack(secret, Some(ts), Some(sig), body, late),
            Err(SlackRefusal::Stale)
        );
        assert_eq!(
            verify_slack(secret, None, Some(sig), body, then),
            Err(SlackRefusal::Missing)
        );
        assert_eq!(
            verify_slack(secret, Some(ts), Some("a2114d57"), body, then),
            Err(SlackRefusal::Forged)
        );
    }

    #[test]
    fn a_button_press_is_read_from_slacks_block_actions_payload() {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": "U024BE7LH", "username": "dana", "team_id": "T0"},
            "response_url": "https://hooks.slack.com/actions/T0/1/abc",
            "message": {"blocks": [{"type": "header"}, {"type": "actions", "elements": [
                {"type": "button", "action_id": "open_case", "url": "https://cl/x"},
                {"type": "button", "action_id": "acknowledge", "value": "case-1"}]}]},
            "actions": [{"action_id": "acknowledge", "block_id": "b", "value": "case-1",
                         "type": "button", "action_ts": "1"}]
        });
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        let press = parse_slack_press(body.as_bytes()).unwrap();
        assert_eq!(press.user_id, "U024BE7LH");
        assert_eq!(press.action, Some(QuickAction::Acknowledge));
        assert_eq!(press.case_id, "case-1");
        let acted = slack_acted(&press.message_blocks, "Acknowledged by Dana");
        let blocks = acted["blocks"].as_array().unwrap();
        assert_eq!(blocks[1]["type"], "context");
        assert_eq!(blocks[2]["elements"][0]["action_id"], "open_case");
        assert_eq!(blocks.len(), 3, "{acted}");
        assert!(parse_slack_press(b"payload=%7B%7D").is_err());
        assert!(parse_slack_press(b"nothing=1").is_err());
    }

    #[test]
    fn one_click_claims_are_their_own_kind_of_link() {
        let key = LinkKey::new("link-signing-key-for-tests-0123456789").unwrap();
        let claims = ActionClaims {
            case_id: "c1".into(),
            team: "front-desk".into(),
            member: "dana".into(),
            action: QuickAction::Acknowledge,
            reopen_count: 0,
            expires_at: (now() + chrono::Duration::days(7)).timestamp(),
        };
        let token = key.sign(&claims);
        assert_eq!(key.verify::<ActionClaims>(&token, now()), Ok(claims));
        assert_eq!(
            key.verify::<crate::link::LinkClaims>(&token, now()),
            Err(LinkError::BadSignature),
            "never a customer's link"
        );
        assert_eq!(
            key.verify::<ActionClaims>(&token, now() + chrono::Duration::days(8)),
            Err(LinkError::Expired)
        );
    }

    fn team() -> Team {
        serde_json::from_value(json!({
            "members": [
                {"id": "dana", "name": "Dana Desk", "slack_user_id": "U024BE7LH"},
                {"id": "lee", "name": "Lee Lead"}
            ]
        }))
        .unwrap()
    }

    fn case() -> Case {
        let feedback: crate::feedback::Feedback = serde_json::from_value(json!({
            "id": "f1", "source": "s", "external_id": "e1",
            "submitted_at": "2026-12-02T09:00:00Z", "received_at": "2026-12-02T09:00:00Z",
            "customer": {"id": "guest-1"},
            "score": {"kind": "nps", "value": 2, "scale": 10}
        }))
        .unwrap();
        let policy = crate::triage::TriagePolicy {
            default_team: "front-desk".into(),
        };
        let triaged = crate::triage::triage(&feedback, &policy, now());
        Case::open(&feedback.id, now(), triaged)
    }

    #[test]
    fn a_one_click_page_says_what_the_case_is() {
        let mut feedback: crate::feedback::Feedback = serde_json::from_value(json!({
            "id": "f1", "source": "s", "external_id": "e1",
            "submitted_at": "2026-12-02T09:00:00Z", "received_at": "2026-12-02T09:00:00Z",
            "customer": {"id": "guest-1", "name": "Robin Urgent"},
            "score": {"kind": "nps", "value": 2, "scale": 10},
            "comment": "The lift is broken"
        }))
        .unwrap();
        let said = describe(&case(), Some(&feedback));
        assert!(
            said.contains("feedback from Robin Urgent (NPS 2/10): \"The lift is broken\""),
            "{said}"
        );
        assert!(
            said.ends_with("The case (team front-desk) is new."),
            "{said}"
        );
        feedback.comment = Some("x".repeat(MAX_QUOTED_CHARS + 1));
        assert!(describe(&case(), Some(&feedback)).contains("x…\""));
        assert!(describe(&case(), None).contains("from the customer (no score)."));
    }

    #[test]
    fn a_slack_user_acts_as_the_directory_member_they_are() {
        let (case, team) = (case(), team());
        let ack = QuickAction::Acknowledge;
        let done = decide(
            Some(&case),
            Some(&team),
            Actor::Slack("U024BE7LH"),
            ack,
            now(),
        );
        assert_eq!(
            done,
            Ok(Action::Acknowledge {
                by: "Dana Desk".into(),
                note: Some("from the alert in Slack".into())
            })
        );
        let take = QuickAction::AssignToMe;
        let taken = decide(
            Some(&case),
            Some(&team),
            Actor::Slack("U024BE7LH"),
            take,
            now(),
        );
        assert!(
            matches!(taken, Ok(Action::Assign { ref to, .. }) if to == "dana"),
            "{taken:?}"
        );
        let stranger = decide(Some(&case), Some(&team), Actor::Slack("U999"), ack, now());
        assert!(
            stranger
                .unwrap_err()
                .contains("not a member of team front-desk")
        );
        let unlisted = decide(Some(&case), None, Actor::Slack("U024BE7LH"), ack, now());
        assert!(
            unlisted
                .unwrap_err()
                .contains("not in closeloop's directory")
        );
        assert!(decide(None, Some(&team), Actor::Slack("U024BE7LH"), ack, now()).is_err());
    }

    #[test]
    fn a_link_acts_once_per_round_for_its_member_and_team() {
        let (mut case, team) = (case(), team());
        let ack = QuickAction::Acknowledge;
        let linked = |team, member, reopen_count| Actor::Linked {
            team,
            member,
            reopen_count,
        };
        let lee = linked("front-desk", "lee", 0);
        assert!(decide(Some(&case), Some(&team), lee, ack, now()).is_ok());
        // Used: the case is acknowledged, so the same link has nothing left to do.
        let action = decide(Some(&case), Some(&team), lee, ack, now()).unwrap();
        case = case.apply(action, "e1".into(), now()).unwrap().0;
        let again = decide(Some(&case), Some(&team), lee, ack, now());
        assert!(again.is_err(), "{again:?}");
        let moved = decide(
            Some(&case),
            Some(&team),
            linked("billing", "lee", 0),
            ack,
            now(),
        );
        assert!(moved.unwrap_err().contains("moved to team front-desk"));
        case.reopen_count = 1;
        let old = decide(Some(&case), Some(&team), lee, ack, now());
        assert!(old.unwrap_err().contains("reopened"));
        let gone = decide(
            Some(&case),
            Some(&team),
            linked("front-desk", "sam", 1),
            ack,
            now(),
        );
        assert!(gone.unwrap_err().contains("no longer a member"));
    }

    #[test]
    fn slack_user_ids_are_checked() {
        assert!(is_slack_user_id("U024BE7LH") && is_slack_user_id("W012A3CDE"));
        assert!(
            !is_slack_user_id("u024be7lh")
                && !is_slack_user_id("U")
                && !is_slack_user_id("C024BE7LH")
        );
    }
}
