//! Dispatch end to end: every channel against a mock of its provider on loopback, failure
//! modes, alert-fatigue controls, escalation and the admin API, with the injected clock.

mod actions;
mod admin;
mod channels;
mod failures;
mod fatigue;

use std::time::Duration;

use closeloop_e2e::mock::{MockReceiver, Mode};
use closeloop_e2e::{Closeloop, Options, Runtime};
use serde_json::{Value, json};

/// A Standard Webhooks secret (the reference libraries' test secret).
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const PAGERDUTY_KEY: &str = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12";
pub const POSTMARK_TOKEN: &str = "pm-server-token-for-tests";
pub const RESEND_KEY: &str = "re_resend_key_for_tests";
pub const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_TOKEN: &str = "twilio-auth-token-for-tests";
pub const TWILIO_FROM: &str = "+15005550006";
pub const EMAIL_FROM: &str = "alerts@closeloop.test";
/// The team triage routes every case to (the `default_team` default).
pub const TEAM: &str = "customer-success";

/// What each provider answers when it takes a message, as its docs show.
pub const SLACK_OK: Mode = Mode::Status(200, "ok");
pub const TEAMS_OK: Mode = Mode::Status(202, "");
pub const WEBHOOK_OK: Mode = Mode::Status(204, "");
pub const PAGERDUTY_OK: Mode = Mode::Status(
    202,
    r#"{"status":"success","message":"Event processed","dedup_key":"x"}"#,
);
pub const POSTMARK_OK: Mode = Mode::Status(
    200,
    r#"{"To":"x","SubmittedAt":"2026-11-23T09:00:00Z","MessageID":"b7bc2f4a","ErrorCode":0,"Message":"OK"}"#,
);
pub const RESEND_OK: Mode = Mode::Status(200, r#"{"id":"49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}"#);
pub const TWILIO_OK: Mode = Mode::Status(201, r#"{"sid":"SM123","status":"queued"}"#);

/// A mock per provider.
pub struct Providers {
    pub slack: MockReceiver,
    pub teams: MockReceiver,
    pub webhook: MockReceiver,
    pub pagerduty: MockReceiver,
    pub email: MockReceiver,
    pub twilio: MockReceiver,
    pub ops: MockReceiver,
    pub email_provider: &'static str,
}

impl Providers {
    pub async fn start(email_provider: &'static str) -> Self {
        let p = Providers {
            slack: MockReceiver::start().await,
            teams: MockReceiver::start().await,
            webhook: MockReceiver::start().await,
            pagerduty: MockReceiver::start().await,
            email: MockReceiver::start().await,
            twilio: MockReceiver::start().await,
            ops: MockReceiver::start().await,
            email_provider,
        };
        p.all_ok();
        p
    }

    pub fn all_ok(&self) {
        self.slack.set_mode(SLACK_OK);
        self.teams.set_mode(TEAMS_OK);
        self.webhook.set_mode(WEBHOOK_OK);
        self.pagerduty.set_mode(PAGERDUTY_OK);
        self.email.set_mode(if self.email_provider == "resend" {
            RESEND_OK
        } else {
            POSTMARK_OK
        });
        self.twilio.set_mode(TWILIO_OK);
    }

    /// Every mock a team alert reaches, with its name.
    pub fn channels(&self) -> [(&'static str, &MockReceiver); 6] {
        [
            ("slack", &self.slack),
            ("teams", &self.teams),
            ("webhook", &self.webhook),
            ("pagerduty", &self.pagerduty),
            ("email", &self.email),
            ("sms", &self.twilio),
        ]
    }

    /// Waits until every channel has delivered its first alert, then for the app to settle
    /// (the last send's outcome is recorded after its provider answered).
    pub async fn first_alert_everywhere(&self, cl: &Closeloop) {
        for (_, m) in self.channels() {
            m.wait_for_delivered(1).await;
        }
        crate::quiet(cl).await;
    }

    pub fn set_all(&self, mode: Mode) {
        for (_, m) in self.channels() {
            m.set_mode(mode.clone());
        }
    }

    /// The app's variables pointing every provider at its mock.
    pub fn options(&self, o: Options) -> Options {
        let o = o
            .variable("email_provider", self.email_provider)
            .variable("email_from", EMAIL_FROM)
            .variable("twilio_account_sid", TWILIO_SID)
            .variable("twilio_auth_token", TWILIO_TOKEN)
            .variable("twilio_from", TWILIO_FROM)
            .variable("twilio_api_url", &self.twilio.url(""))
            .variable("pagerduty_events_url", &self.pagerduty.url(""))
            .variable(
                "ops_slack_webhook_url",
                &self.ops.url("/services/TOPS/BOPS/ops"),
            );
        if self.email_provider == "resend" {
            o.variable("resend_api_key", RESEND_KEY)
                .variable("resend_api_url", &self.email.url(""))
        } else {
            o.variable("postmark_server_token", POSTMARK_TOKEN)
                .variable("postmark_api_url", &self.email.url(""))
        }
    }

    /// A team whose shared endpoints are Slack, Teams, a signed webhook and PagerDuty, and
    /// whose one alerted member, Dana, has email and SMS.
    pub fn team(&self) -> Value {
        json!({
            "endpoints": [
                {"channel": "slack", "webhook_url": self.slack.url("/services/T1/B1/secretpart")},
                {"channel": "teams", "webhook_url": self.teams.url("/workflows/abc/triggers/manual/paths/invoke?sig=teamssig")},
                {"channel": "webhook", "url": self.webhook.url("/hooks/closeloop"), "secret": WEBHOOK_SECRET},
                {"channel": "pagerduty", "routing_key": PAGERDUTY_KEY}
            ],
            "members": [
                {"id": "dana", "name": "Dana Desk", "time_zone": "Europe/London",
                 "endpoints": [{"channel": "email", "address": "dana@hotel.test"},
                               {"channel": "sms", "phone": "+447700900001"}]}
            ]
        })
    }
}

/// Starts the app with every provider mocked, and puts `team` in the directory.
pub async fn start(rt: Runtime, p: &Providers, team: &Value) -> Closeloop {
    let cl = Closeloop::start_with(rt, |o| p.options(o)).await;
    put_team(&cl, TEAM, team).await;
    cl
}

pub async fn put_team(cl: &Closeloop, id: &str, team: &Value) {
    let r = cl
        .admin("PUT", &format!("/v1/admin/teams/{id}"), Some(team.clone()))
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text());
}

/// Feedback from customer `customer` (distinct customers are never folded together).
pub fn feedback_from(customer: &str, external_id: &str, score: i64, comment: &str) -> Value {
    let mut body = closeloop_e2e::feedback(external_id, score, comment);
    body["customer"]["id"] = json!(customer);
    body["customer"]["name"] = json!(format!("Guest {customer}"));
    body
}

/// Posts feedback and waits until its case exists: the command folded, its notice planned
/// (not until its deliveries are sent: quiet hours may hold them). Returns the case id.
pub async fn open(cl: &Closeloop, body: &Value) -> String {
    let r = cl.post_feedback(body).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let feedback_id = r.json()["feedback_id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + closeloop_e2e::SETTLE_WITHIN;
    while std::time::Instant::now() < deadline {
        let case = cl
            .records("case:")
            .into_iter()
            .find(|c| c["feedback_id"] == feedback_id.as_str());
        if let (0, Some(case)) = (cl.log_behind(), case) {
            return case["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no case for {feedback_id}");
}

/// The seconds of the outbox's schedule that still hold deliveries (tick looks at them then).
pub fn scheduled(cl: &Closeloop) -> Vec<Value> {
    cl.records("outbox:slots")
        .first()
        .and_then(|s| s["seconds"].as_array().cloned())
        .unwrap_or_default()
}

/// Waits until no delivery is being attempted for the first time right now.
pub async fn quiet(cl: &Closeloop) {
    let deadline = std::time::Instant::now() + closeloop_e2e::SETTLE_WITHIN;
    while std::time::Instant::now() < deadline {
        let now = cl.now();
        let busy = cl.records("delivery:").iter().any(|d| {
            d["status"] == "pending"
                && d["attempts"] == 0
                && d["next_attempt_at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| std::time::SystemTime::from(t) <= now)
        });
        if !busy {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("deliveries never went out");
}

pub fn deliveries(cl: &Closeloop) -> Vec<Value> {
    cl.records("delivery:")
}

/// Everything the store holds, as text, to search for things that must not be there.
pub fn store_text(cl: &Closeloop) -> String {
    cl.store_snapshot()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("team:"))
        .map(|(k, v)| format!("{k}={}\n", String::from_utf8_lossy(&v)))
        .collect()
}
