//! The directory: who is on which team, where each person is reached, and when not.
//!
//! A team is one record (`team:{id}`), written whole by the admin API (`PUT
//! /v1/admin/teams/{id}`), so there is one writer per key and nothing to merge. Endpoint
//! secrets (Slack and Teams webhook URLs, webhook signing secrets, PagerDuty routing keys) are
//! stored write-only: [`Team::redacted`] is the only view the API returns, and deliveries keep
//! just the team, member and channel, resolving the endpoint when they send. Provider account
//! credentials (email and SMS API keys) are not here at all: they are Spin variables.

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Timestamp;
use crate::delivery::Channel;
use crate::problem::FieldError;

/// The most members a team may have.
pub const MAX_MEMBERS: usize = 100;
/// The most shared endpoints a team may have (one per channel).
pub const MAX_TEAM_ENDPOINTS: usize = 6;
/// The longest team or member id.
pub const MAX_ID_CHARS: usize = 64;
/// The longest name, address or URL.
pub const MAX_TEXT_CHARS: usize = 500;
/// The longest template.
pub const MAX_TEMPLATE_CHARS: usize = 1_000;
/// Immediate alerts a person gets per hour unless their record says otherwise; the rest wait
/// in their digest.
pub const DEFAULT_MAX_ALERTS_PER_HOUR: u32 = 10;
/// The local hour at which digests are sent.
pub const DEFAULT_DIGEST_HOUR: u32 = 9;

/// A secret stored with the directory and never shown again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Where a person or a team is reached on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Endpoint {
    /// A Slack incoming webhook URL (a secret: anyone holding it can post).
    Slack { webhook_url: Secret },
    /// A Microsoft Teams Workflows "post to a channel when a webhook request is received" URL.
    Teams { webhook_url: Secret },
    /// An email address; the provider is the app's (`email_provider`).
    Email { address: String },
    /// A phone number in E.164; sent through Twilio.
    Sms { phone: String },
    /// A generic webhook signed with the Standard Webhooks scheme (`whsec_` secret).
    Webhook { url: String, secret: Secret },
    /// A PagerDuty Events v2 integration's routing key; used for P1 cases only.
    #[serde(rename = "pagerduty")]
    PagerDuty { routing_key: Secret },
}

impl Endpoint {
    pub fn channel(&self) -> Channel {
        match self {
            Self::Slack { .. } => Channel::Slack,
            Self::Teams { .. } => Channel::Teams,
            Self::Email { .. } => Channel::Email,
            Self::Sms { .. } => Channel::Sms,
            Self::Webhook { .. } => Channel::Webhook,
            Self::PagerDuty { .. } => Channel::PagerDuty,
        }
    }

    fn redacted(&self) -> Value {
        let set = "(set; never shown)";
        match self {
            Self::Slack { .. } => json!({"channel": "slack", "webhook_url": set}),
            Self::Teams { .. } => json!({"channel": "teams", "webhook_url": set}),
            Self::Email { address } => json!({"channel": "email", "address": address}),
            Self::Sms { phone } => json!({"channel": "sms", "phone": phone}),
            Self::Webhook { url, .. } => {
                // The URL may carry a token in its query: show only where it goes.
                let origin: String = url.split(['?', '#']).next().unwrap_or("").to_owned();
                json!({"channel": "webhook", "url": origin, "secret": set})
            }
            Self::PagerDuty { .. } => json!({"channel": "pagerduty", "routing_key": set}),
        }
    }
}

/// Hours in the person's time zone when only P1 alerts reach them (`"22:00"` to `"07:00"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub id: String,
    pub name: String,
    /// An IANA time zone such as `Europe/London`.
    #[serde(default = "utc")]
    pub time_zone: String,
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Whether case alerts reach this person (a manager may only want escalations).
    #[serde(default = "yes")]
    pub alerts: bool,
    #[serde(default)]
    pub max_alerts_per_hour: Option<u32>,
    /// Their Slack user id (`U024BE7LH`): who they are when they press an alert's button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_user_id: Option<String>,
}

fn utc() -> String {
    "UTC".to_owned()
}

fn yes() -> bool {
    true
}

/// Per-team wording, with `{placeholders}` (see `render::PLACEHOLDERS`); values are escaped
/// for each medium, the template text itself is the team's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    /// The headline of a new-case alert (Slack header, Teams title, email subject, SMS start).
    #[serde(default)]
    pub headline: Option<String>,
    /// The email subject of every alert.
    #[serde(default)]
    pub email_subject: Option<String>,
    /// The whole SMS text before the link.
    #[serde(default)]
    pub sms: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    #[serde(default)]
    pub id: String,
    /// Shared endpoints of the whole team (its Slack channel, its PagerDuty service).
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    #[serde(default)]
    pub members: Vec<Member>,
    /// Member ids to escalate to in order: the team lead, then the manager.
    #[serde(default)]
    pub escalation: Vec<String>,
    #[serde(default)]
    pub templates: Templates,
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn valid_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= MAX_TEXT_CHARS
        && !url.contains(char::is_whitespace)
}

/// `+` and 8 to 15 digits, the first not 0 (ITU-T E.164).
pub fn is_e164(phone: &str) -> bool {
    phone.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

/// A plausible address: one `@`, something either side, no spaces, a dot in the domain.
pub fn is_email(address: &str) -> bool {
    has_email_shape(address) && address.len() <= 254 && !address.contains(char::is_whitespace)
}

/// Something before one `@` and a dot after it: an address's shape, whatever its length
/// (`crate::privacy` erases an overlong address the customer wrote all the same).
pub(crate) fn has_email_shape(s: &str) -> bool {
    s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.contains('@')
    })
}

/// Parses `"HH:MM"`.
pub fn parse_clock(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

fn validate_endpoints(endpoints: &[Endpoint], at: &str, errors: &mut Vec<FieldError>) {
    let mut seen = Vec::new();
    for (i, e) in endpoints.iter().enumerate() {
        let p = format!("{at}/{i}");
        if seen.contains(&e.channel()) {
            errors.push(FieldError::new(
                &p,
                format!("only one {} endpoint is allowed here", e.channel().as_str()),
            ));
        }
        seen.push(e.channel());
        match e {
            Endpoint::Slack { webhook_url } | Endpoint::Teams { webhook_url } => {
                if !valid_url(webhook_url.expose()) {
                    errors.push(FieldError::new(
                        format!("{p}/webhook_url"),
                        "use the https URL the provider gave you",
                    ));
                }
            }
            Endpoint::Email { address } => {
                if !is_email(address) {
                    errors.push(FieldError::new(
                        format!("{p}/address"),
                        "use an email address such as dana@example.com",
                    ));
                }
            }
            Endpoint::Sms { phone } => {
                if !is_e164(phone) {
                    errors.push(FieldError::new(
                        format!("{p}/phone"),
                        "use E.164: + and the country code, 8 to 15 digits",
                    ));
                }
            }
            Endpoint::Webhook { url, secret } => {
                if !valid_url(url) {
                    errors.push(FieldError::new(format!("{p}/url"), "use an http(s) URL"));
                }
                if let Err(e) = super::signing::WebhookSecret::parse(secret.expose()) {
                    errors.push(FieldError::new(format!("{p}/secret"), e));
                }
            }
            Endpoint::PagerDuty { routing_key } => {
                let k = routing_key.expose();
                if k.len() != 32 || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    errors.push(FieldError::new(
                        format!("{p}/routing_key"),
                        "use the 32-character integration key of a PagerDuty Events v2 integration",
                    ));
                }
            }
        }
    }
}

impl Team {
    /// Validates a team sent to the admin API for `id`; every problem is reported at once.
    pub fn validate(mut self, id: &str) -> Result<Team, Vec<FieldError>> {
        let mut errors = Vec::new();
        if !is_slug(id) {
            errors.push(FieldError::new(
                "/id",
                format!("a team id is 1 to {MAX_ID_CHARS} lowercase letters, digits, - or _"),
            ));
        }
        if !self.id.is_empty() && self.id != id {
            errors.push(FieldError::new(
                "/id",
                "the id must match the URL, or be left out",
            ));
        }
        self.id = id.to_owned();
        if self.endpoints.is_empty() && self.members.is_empty() {
            // Nobody could be alerted; also what a body of `[]` or `{}` would make.
            errors.push(FieldError::new(
                "",
                "a team needs an object with at least one of endpoints or members",
            ));
        }
        if self.endpoints.len() > MAX_TEAM_ENDPOINTS {
            errors.push(FieldError::new(
                "/endpoints",
                format!("at most {MAX_TEAM_ENDPOINTS} endpoints"),
            ));
        }
        validate_endpoints(&self.endpoints, "/endpoints", &mut errors);
        if self.members.len() > MAX_MEMBERS {
            errors.push(FieldError::new(
                "/members",
                format!("at most {MAX_MEMBERS} members per team"),
            ));
        }
        let mut ids: Vec<&str> = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            let p = format!("/members/{i}");
            if !is_slug(&m.id) {
                errors.push(FieldError::new(
                    format!("{p}/id"),
                    "a member id is lowercase letters, digits, - or _",
                ));
            } else if ids.contains(&m.id.as_str()) {
                errors.push(FieldError::new(
                    format!("{p}/id"),
                    "member ids must be unique",
                ));
            }
            ids.push(&m.id);
            if m.name.trim().is_empty() || m.name.chars().count() > MAX_TEXT_CHARS {
                errors.push(FieldError::new(format!("{p}/name"), "a name is required"));
            }
            if m.time_zone.parse::<chrono_tz::Tz>().is_err() {
                errors.push(FieldError::new(
                    format!("{p}/time_zone"),
                    "use an IANA time zone such as Europe/London",
                ));
            }
            if let Some(q) = &m.quiet_hours
                && (parse_clock(&q.start).is_none() || parse_clock(&q.end).is_none())
            {
                errors.push(FieldError::new(
                    format!("{p}/quiet_hours"),
                    "give start and end as HH:MM, such as 22:00 and 07:00",
                ));
            }
            if let Some(id) = &m.slack_user_id
                && !crate::alert_action::is_slack_user_id(id)
            {
                errors.push(FieldError::new(
                    format!("{p}/slack_user_id"),
                    "a Slack user id such as U024BE7LH (in Slack: the member's profile, \"Copy member ID\")",
                ));
            } else if let Some(id) = &m.slack_user_id
                && self.members[..i]
                    .iter()
                    .any(|o| o.slack_user_id.as_ref() == Some(id))
            {
                errors.push(FieldError::new(
                    format!("{p}/slack_user_id"),
                    "another member of the team has this Slack user id",
                ));
            }
            if m.max_alerts_per_hour == Some(0) {
                errors.push(FieldError::new(
                    format!("{p}/max_alerts_per_hour"),
                    "at least 1; to stop alerts set alerts to false",
                ));
            }
            if m.endpoints.len() > MAX_TEAM_ENDPOINTS {
                errors.push(FieldError::new(
                    format!("{p}/endpoints"),
                    format!("at most {MAX_TEAM_ENDPOINTS} endpoints"),
                ));
            }
            validate_endpoints(&m.endpoints, &format!("{p}/endpoints"), &mut errors);
        }
        for (i, e) in self.escalation.iter().enumerate() {
            if !self.members.iter().any(|m| &m.id == e) {
                errors.push(FieldError::new(
                    format!("/escalation/{i}"),
                    format!("{e} is not a member of this team"),
                ));
            }
        }
        for (name, t) in [
            ("headline", &self.templates.headline),
            ("email_subject", &self.templates.email_subject),
            ("sms", &self.templates.sms),
        ] {
            if let Some(t) = t
                && let Err(e) = super::render::check_template(t)
            {
                errors.push(FieldError::new(format!("/templates/{name}"), e));
            }
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// The member who is Slack user `user_id`.
    pub fn slack_member(&self, user_id: &str) -> Option<&Member> {
        (self.members.iter()).find(|m| m.slack_user_id.as_deref() == Some(user_id))
    }

    /// The team as the admin API shows it: every secret replaced.
    pub fn redacted(&self) -> Value {
        let eps = |e: &[Endpoint]| e.iter().map(Endpoint::redacted).collect::<Vec<_>>();
        json!({
            "id": self.id,
            "endpoints": eps(&self.endpoints),
            "members": self.members.iter().map(|m| json!({
                "id": m.id, "name": m.name, "time_zone": m.time_zone,
                "quiet_hours": m.quiet_hours, "alerts": m.alerts,
                "max_alerts_per_hour": m.max_alerts_per_hour,
                "endpoints": eps(&m.endpoints),
            })).collect::<Vec<_>>(),
            "escalation": self.escalation,
            "templates": self.templates,
        })
    }
}

impl Member {
    pub fn tz(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }

    pub fn endpoint(&self, channel: Channel) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.channel() == channel)
    }

    /// When the quiet hours around `now` end, if `now` is inside them.
    pub fn quiet_until(&self, now: Timestamp) -> Option<Timestamp> {
        let q = self.quiet_hours.as_ref()?;
        super::fatigue::quiet_until(now, self.tz(), parse_clock(&q.start)?, parse_clock(&q.end)?)
    }

    pub fn max_alerts_per_hour(&self) -> u32 {
        self.max_alerts_per_hour
            .unwrap_or(DEFAULT_MAX_ALERTS_PER_HOUR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Value {
        json!({
            "endpoints": [{"channel": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/X"}],
            "members": [
                {"id": "dana", "name": "Dana", "time_zone": "Europe/London",
                 "quiet_hours": {"start": "22:00", "end": "07:00"},
                 "endpoints": [{"channel": "email", "address": "dana@example.com"},
                               {"channel": "sms", "phone": "+447700900001"}]},
                {"id": "lee", "name": "Lee", "alerts": false,
                 "endpoints": [{"channel": "pagerduty", "routing_key": "0123456789abcdef0123456789abcdef"}]}
            ],
            "escalation": ["dana", "lee"],
            "templates": {"headline": "{priority}: {customer} needs a call"}
        })
    }

    #[test]
    fn a_valid_team_is_accepted_and_shown_without_secrets() {
        let team: Team = serde_json::from_value(sample()).unwrap();
        let team = team.validate("front-desk").unwrap();
        assert_eq!(team.id, "front-desk");
        let shown = team.redacted().to_string();
        assert!(!shown.contains("hooks.slack.com"), "{shown}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains("dana@example.com"));
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused_with_pointers() {
        let mut v = sample();
        v["members"][0]["nickname"] = json!("D");
        assert!(serde_json::from_value::<Team>(v).is_err());
        let mut v = sample();
        v["members"][0]["time_zone"] = json!("Mars/Olympus");
        v["members"][0]["quiet_hours"]["start"] = json!("25:00");
        v["members"][0]["endpoints"][1]["phone"] = json!("07700 900001");
        v["escalation"] = json!(["nobody"]);
        v["templates"]["sms"] = json!("{nope}");
        let errors = serde_json::from_value::<Team>(v)
            .unwrap()
            .validate("Front Desk")
            .unwrap_err();
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/id",
                "/members/0/time_zone",
                "/members/0/quiet_hours",
                "/members/0/endpoints/1/phone",
                "/escalation/0",
                "/templates/sms"
            ]
        );
    }

    #[test]
    fn member_limit_at_and_past() {
        let member = |i: usize| json!({"id": format!("m{i}"), "name": "M"});
        let at: Vec<Value> = (0..MAX_MEMBERS).map(member).collect();
        let team: Team = serde_json::from_value(json!({"members": at})).unwrap();
        assert!(team.validate("t").is_ok());
        let past: Vec<Value> = (0..=MAX_MEMBERS).map(member).collect();
        let team: Team = serde_json::from_value(json!({"members": past})).unwrap();
        assert!(team.validate("t").is_err());
    }

    #[test]
    fn phones_and_addresses() {
        assert!(is_e164("+447700900123"));
        assert!(is_e164("+12345678"));
        assert!(!is_e164("+1234567"));
        assert!(is_e164(&format!("+1{}", "2".repeat(14))));
        assert!(!is_e164(&format!("+1{}", "2".repeat(15))));
        assert!(!is_e164("+0447700900123"));
        assert!(is_email("a@b.co"));
        assert!(!is_email("a@b"));
        assert!(!is_email("a b@c.de"));
    }
}
