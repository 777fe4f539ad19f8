//! The outbox: one delivery per notice and channel, recorded before anything is sent.
//!
//! A delivery is pending until a send succeeds (delivered) or the retries run out or the
//! provider refuses it for good (dead-lettered). Failed attempts are retried by tick: webhooks
//! on the Standard Webhooks schedule, people's channels with exponential backoff, all with
//! jitter, honouring `Retry-After`. A retry sends the message the first attempt rendered
//! ([`Delivery::rendered`]), never one rendered again. Each attempt is made under a lease on
//! the delivery record (`closeloop_workflow::attempt`), so a tick racing the first send never
//! sends twice.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::notice::{Notice, NoticeKind};

/// Attempts before a delivery is dead-lettered.
pub const MAX_ATTEMPTS: u32 = 8;
/// The wait after the first failure; doubled after each further one (channels other than
/// webhooks: people's channels, where an alert days late is no alert).
pub const BASE_BACKOFF_SECS: i64 = 30;
/// The waits after each failed attempt of a webhook (the alert webhook and the customer
/// webhook), as the Standard Webhooks spec recommends: "Immediately, 5 seconds, 5 minutes,
/// 30 minutes, 2 hours, 5 hours, 10 hours, 10 hours (in addition to the previous)", so that
/// a receiver down for a day still gets every message. Its eight attempts are
/// [`MAX_ATTEMPTS`]; tick makes each retry at its first run after the wait.
pub const WEBHOOK_RETRY_WAITS_SECS: [i64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
/// The longest wait between two attempts.
pub const MAX_BACKOFF_SECS: i64 = 3_600;
/// The largest `Retry-After` honoured; a provider asking for longer gets this.
pub const MAX_RETRY_AFTER_SECS: i64 = 6 * 3_600;
/// The longest error text kept on a delivery.
const MAX_ERROR_CHARS: usize = 300;

/// Where a delivery goes. Each channel speaks its provider's documented API (see
/// `dispatch::providers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// A Slack incoming webhook (Block Kit).
    Slack,
    /// A generic JSON webhook for alerts, signed with Standard Webhooks.
    Webhook,
    /// The webhook that forwards messages to customers (email or SMS gateway).
    CustomerWebhook,
    /// A Microsoft Teams Workflows webhook (Adaptive Card).
    Teams,
    /// Email through the configured provider (Postmark or Resend).
    Email,
    /// SMS through Twilio's Messages API.
    Sms,
    /// PagerDuty Events API v2, for top-priority cases.
    #[serde(rename = "pagerduty")]
    PagerDuty,
}

impl Channel {
    pub const ALL: [Channel; 7] = [
        Self::Slack,
        Self::Webhook,
        Self::CustomerWebhook,
        Self::Teams,
        Self::Email,
        Self::Sms,
        Self::PagerDuty,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Webhook => "webhook",
            Self::CustomerWebhook => "customer-webhook",
            Self::Teams => "teams",
            Self::Email => "email",
            Self::Sms => "sms",
            Self::PagerDuty => "pagerduty",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// Who a delivery is for. Deliveries keep only this reference, never an address or secret:
/// the endpoint is looked up (in the directory or the variables) when it is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    /// The channels configured in variables (`slack_webhook_url`, ...): teams not in the
    /// directory, and every delivery recorded before the directory existed.
    #[default]
    Configured,
    /// A team's shared endpoints (its channel).
    Team { team: String },
    /// One person of a team.
    Member { team: String, member: String },
    /// The customer of the case (their email or phone is on the feedback).
    Customer,
    /// The operations channel (`ops_slack_webhook_url`).
    Operations,
}

impl Target {
    /// A short, key-safe name of the target.
    pub fn key(&self) -> String {
        match self {
            Self::Configured => "configured".to_owned(),
            Self::Team { team } => format!("team.{team}"),
            Self::Member { team, member } => format!("member.{team}.{member}"),
            Self::Customer => "customer".to_owned(),
            Self::Operations => "operations".to_owned(),
        }
    }
}

/// Which channels are configured (their URLs are secrets and stay in variables).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConfiguredChannels {
    pub slack: bool,
    pub webhook: bool,
    pub customer_webhook: bool,
    pub teams: bool,
    pub pagerduty: bool,
    /// An email provider is set up (customer messages by email).
    pub email: bool,
    /// Twilio is set up (customer messages by SMS).
    pub sms: bool,
    /// The operations channel (`ops_slack_webhook_url`) is set up.
    pub ops: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    DeadLettered,
    /// Identical to an alert the recipient just got: not sent again.
    Folded,
    /// Put in the recipient's digest instead of sent on its own.
    Digested,
    /// No longer wanted (the case moved on before it could be sent).
    Cancelled,
}

impl DeliveryStatus {
    /// Whether nothing more will happen to the delivery.
    pub fn is_final(self) -> bool {
        self != Self::Pending
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub notice_id: String,
    pub case_id: String,
    pub kind: NoticeKind,
    pub channel: Channel,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub next_attempt_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub last_error: Option<String>,
    #[serde(default)]
    pub to: Target,
    /// Why the delivery did not go at once (quiet hours, folded, digest), for the timeline.
    #[serde(default)]
    pub note: Option<String>,
    /// Who may make the next attempt, until when. The fold that plans a delivery leases its
    /// first attempt to the request that folded; later attempts are leased by a
    /// compare-and-swap on this record. An expired lease is free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// Every attempt made, oldest first (the case timeline shows them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<AttemptRecord>,
    /// The message the first attempt sent, kept while retries follow: every retry sends the
    /// same bytes (a provider's idempotency key promises the same message; Resend answers 409
    /// to another body under the same key), whatever the case became since. Dropped once the
    /// delivery is final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered: Option<serde_json::Value>,
}

/// A failed attempt: why, and the message it rendered (if it got that far), which the
/// retries send again.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub error: AttemptError,
    pub rendered: Option<serde_json::Value>,
}

impl From<AttemptError> for Failure {
    fn from(error: AttemptError) -> Self {
        Failure {
            error,
            rendered: None,
        }
    }
}

/// The provider timeout when the operator sets none (`delivery_timeout_ms`).
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// What a first attempt's lease allows beyond the provider calls themselves: the hand-over to
/// dispatch and its instance.
pub const FIRST_ATTEMPT_MARGIN_SECS: i64 = 10;

/// Until when the request that planned `handed_over` deliveries may make their first attempts
/// (one after the other, each at most `timeout`) before tick may make them instead. Short
/// when few are handed over, so a requester that died holds nothing up for long.
pub fn first_attempt_lease(
    now: Timestamp,
    handed_over: usize,
    timeout: std::time::Duration,
) -> Timestamp {
    let calls = Duration::from_std(timeout).unwrap_or(Duration::zero()) * handed_over as i32;
    now + Duration::seconds(FIRST_ATTEMPT_MARGIN_SECS) + calls
}

/// An exclusive right to attempt a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub token: String,
    pub until: Timestamp,
}

/// One attempt of a delivery and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub at: Timestamp,
    pub status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptError {
    /// The provider answered with a non-success status.
    Status {
        status: u16,
        retry_after_secs: Option<i64>,
    },
    /// No answer in time.
    Timeout,
    /// The connection could not be made or broke.
    Connection(String),
    /// The channel is no longer configured.
    NotConfigured,
    /// The message is no longer wanted (the case moved on before it could be sent).
    Obsolete(String),
    /// The provider refused the message for good, with its reason (no secrets in it).
    Refused { status: u16, reason: String },
    /// The provider is busy with the same request (an idempotency key in flight): retry.
    Busy { status: u16 },
}

impl AttemptError {
    /// Whether trying again can help. A 4xx other than 408 and 429 means the request itself
    /// is wrong (a revoked webhook, a bad payload): retrying would only repeat it.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => {
                !(400..500).contains(status) || matches!(status, 408 | 429)
            }
            Self::Timeout | Self::Connection(_) | Self::Busy { .. } => true,
            Self::NotConfigured | Self::Obsolete(_) | Self::Refused { .. } => false,
        }
    }

    pub fn describe(&self) -> String {
        let text = match self {
            Self::Status { status, .. } => format!("the provider answered HTTP {status}"),
            Self::Timeout => "the provider did not answer in time".to_owned(),
            Self::Connection(e) => format!("connection failed: {e}"),
            Self::NotConfigured => "the channel is not configured".to_owned(),
            Self::Obsolete(why) => format!("no longer needed: {why}"),
            Self::Refused { status, reason } => {
                format!("the provider refused it for good (HTTP {status}: {reason})")
            }
            Self::Busy { status } => {
                format!("the provider is still processing the same request (HTTP {status})")
            }
        };
        text.chars().take(MAX_ERROR_CHARS).collect()
    }
}

/// The deliveries a notice needs on the configured channels.
pub fn plan(notice: &Notice, channels: ConfiguredChannels) -> Vec<Delivery> {
    // An incident update goes only to the PagerDuty endpoints paged (`dispatch::plan`).
    if notice.kind.is_incident_update() {
        return Vec::new();
    }
    let wanted: &[(Channel, bool)] = if notice.kind.is_alert() {
        &[
            (Channel::Slack, channels.slack),
            (Channel::Webhook, channels.webhook),
            (Channel::Teams, channels.teams),
        ]
    } else {
        &[(Channel::CustomerWebhook, channels.customer_webhook)]
    };
    wanted
        .iter()
        .filter(|(_, on)| *on)
        .map(|&(channel, _)| Delivery::new(notice, Target::Configured, channel))
        .collect()
}

impl Delivery {
    /// A pending delivery of `notice` to `to` on `channel`. Its id is derived from all three,
    /// so planning twice records the same delivery.
    pub fn new(notice: &Notice, to: Target, channel: Channel) -> Self {
        let id = match &to {
            // The form deliveries had before targets existed: their ids stay stable.
            Target::Configured => crate::ids::derived(
                notice.created_at,
                &["delivery", &notice.id, channel.as_str()],
            ),
            other => crate::ids::derived(
                notice.created_at,
                &["delivery", &notice.id, &other.key(), channel.as_str()],
            ),
        };
        Delivery {
            id: id.to_string(),
            notice_id: notice.id.clone(),
            case_id: notice.case_id.clone(),
            kind: notice.kind,
            channel,
            status: DeliveryStatus::Pending,
            attempts: 0,
            created_at: notice.created_at,
            next_attempt_at: notice.not_before.unwrap_or(notice.created_at),
            delivered_at: None,
            last_error: None,
            to,
            note: None,
            lease: None,
            history: Vec::new(),
            rendered: None,
        }
    }

    /// Whether `token` may attempt the delivery at `now`.
    pub fn leased_to(&self, token: &str, now: Timestamp) -> bool {
        self.lease
            .as_ref()
            .is_some_and(|l| l.token == token && l.until > now)
    }

    /// Whether nobody holds a lease on the delivery at `now`.
    pub fn lease_free(&self, now: Timestamp) -> bool {
        self.lease.as_ref().is_none_or(|l| l.until <= now)
    }
}

/// The wait before attempt `attempts + 1` on `channel`, after `attempts` failures: webhooks
/// follow [`WEBHOOK_RETRY_WAITS_SECS`], other channels double from [`BASE_BACKOFF_SECS`] up to
/// [`MAX_BACKOFF_SECS`]. `jitter` in 0..1 adds up to 20% so that many deliveries failing
/// together do not retry together.
pub fn backoff(channel: Channel, attempts: u32, jitter: f64) -> Duration {
    let secs = match channel {
        Channel::Webhook | Channel::CustomerWebhook => {
            let i = (attempts.max(1) as usize - 1).min(WEBHOOK_RETRY_WAITS_SECS.len() - 1);
            WEBHOOK_RETRY_WAITS_SECS[i]
        }
        _ => {
            let exp = attempts.saturating_sub(1).min(20);
            (BASE_BACKOFF_SECS << exp).min(MAX_BACKOFF_SECS)
        }
    };
    let extra = (secs as f64 * 0.2 * jitter.clamp(0.0, 1.0)) as i64;
    Duration::seconds(secs + extra)
}

impl Delivery {
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.status == DeliveryStatus::Pending && self.next_attempt_at <= now
    }

    pub fn record_success(&mut self, now: Timestamp) {
        self.rendered = None;
        self.attempts += 1;
        self.status = DeliveryStatus::Delivered;
        self.delivered_at = Some(now);
        self.last_error = None;
    }

    /// Records a failed attempt: schedules the next one (keeping the message it sent, for the
    /// retries to send again), or dead-letters the delivery when the error is permanent or
    /// the attempts are used up.
    pub fn record_failure(&mut self, failure: &Failure, now: Timestamp, jitter: f64) {
        let error = &failure.error;
        self.attempts += 1;
        self.last_error = Some(error.describe());
        if let AttemptError::Obsolete(_) = error {
            self.status = DeliveryStatus::Cancelled;
            self.rendered = None;
            return;
        }
        if !error.is_retryable() || self.attempts >= MAX_ATTEMPTS {
            self.status = DeliveryStatus::DeadLettered;
            self.rendered = None;
            return;
        }
        if self.rendered.is_none() {
            self.rendered = failure.rendered.clone();
        }
        let mut wait = backoff(self.channel, self.attempts, jitter);
        if let AttemptError::Status {
            retry_after_secs: Some(secs),
            ..
        } = error
        {
            wait = wait.max(Duration::seconds((*secs).clamp(0, MAX_RETRY_AFTER_SECS)));
        }
        self.next_attempt_at = now + wait;
    }
}

/// Parses a `Retry-After` header: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<i64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<i64>() {
        return Some(secs.max(0));
    }
    chrono::DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|t| (t.with_timezone(&chrono::Utc) - now).num_seconds().max(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Case;
    use crate::triage::{Priority, Triage};
    use chrono::TimeZone;

    fn t0() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    #[test]
    fn a_first_attempt_lease_covers_each_handed_over_call_and_the_margin() {
        let timeout = std::time::Duration::from_millis(2_500);
        let margin = Duration::seconds(FIRST_ATTEMPT_MARGIN_SECS);
        assert_eq!(first_attempt_lease(t0(), 0, timeout), t0() + margin);
        let three = first_attempt_lease(t0(), 3, timeout);
        assert_eq!(three, t0() + margin + Duration::milliseconds(7_500));
    }

    fn case() -> Case {
        Case::open(
            "fb",
            t0(),
            Triage {
                class: None,
                priority: Priority::P1,
                team: "cs".into(),
                first_response_due: t0(),
                resolution_due: t0(),
                alert: true,
                routing: crate::triage::Routing::to_team("cs", true),
                reasons: vec![],
                triaged_at: t0(),
                analysis: Default::default(),
            },
        )
    }

    fn all() -> ConfiguredChannels {
        ConfiguredChannels {
            slack: true,
            webhook: true,
            customer_webhook: true,
            ..Default::default()
        }
    }

    #[test]
    fn plans_one_delivery_per_configured_channel_with_stable_ids() {
        let n = Notice::case_opened(&case(), t0());
        let d = plan(&n, all());
        assert_eq!(
            d.iter().map(|d| d.channel).collect::<Vec<_>>(),
            [Channel::Slack, Channel::Webhook]
        );
        assert_eq!(
            plan(&n, all()),
            d,
            "the same notice plans the same deliveries"
        );
        let only_slack = ConfiguredChannels {
            slack: true,
            ..Default::default()
        };
        assert_eq!(plan(&n, only_slack).len(), 1);
        let f = Notice::customer_follow_up(&case(), "https://x".into(), t0());
        assert_eq!(plan(&f, all())[0].channel, Channel::CustomerWebhook);
        assert!(plan(&f, ConfiguredChannels::default()).is_empty());
    }

    #[test]
    fn held_notices_are_not_due_before_their_time() {
        let c = case();
        let held = Notice::customer_follow_up(&c, "L".into(), t0())
            .hold_until(Some(t0() + Duration::hours(9)));
        let planned = plan(&held, all());
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0].channel, Channel::CustomerWebhook);
        assert!(!planned[0].is_due(t0() + Duration::hours(9) - Duration::seconds(1)));
        assert!(planned[0].is_due(t0() + Duration::hours(9)));
        let reminder = Notice::customer_reminder(&c, "L".into(), t0());
        assert_eq!(plan(&reminder, all())[0].channel, Channel::CustomerWebhook);
        assert_eq!(plan(&Notice::case_closed(&c, t0()), all()).len(), 2);
        let resolved = Notice::incident_update(
            &c,
            NoticeKind::IncidentResolved,
            vec![Target::Configured],
            t0(),
        );
        assert!(
            plan(&resolved, all()).is_empty(),
            "never on Slack or a webhook"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = |n, jitter| backoff(Channel::Slack, n, jitter);
        assert_eq!(b(1, 0.0), Duration::seconds(30));
        assert_eq!(b(2, 0.0), Duration::seconds(60));
        assert_eq!(b(3, 0.0), Duration::seconds(120));
        assert_eq!(b(30, 0.0), Duration::seconds(MAX_BACKOFF_SECS));
        assert_eq!(b(1, 1.0), Duration::seconds(36));
    }

    /// Standard Webhooks, "Retry schedule": "Immediately, 5 seconds, 5 minutes, 30 minutes, 2
    /// hours, 5 hours, 10 hours, 10 hours (in addition to the previous)"
    /// (<https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>).
    #[test]
    fn webhooks_retry_on_the_standard_webhooks_schedule_for_more_than_a_day() {
        let waits: Vec<i64> = (1..MAX_ATTEMPTS)
            .map(|n| backoff(Channel::Webhook, n, 0.0).num_seconds())
            .collect();
        let (s, m, h) = (1, 60, 3_600);
        assert_eq!(
            waits,
            [5 * s, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h],
            "after attempts 1 to 7"
        );
        assert_eq!(
            backoff(Channel::CustomerWebhook, 3, 0.0),
            Duration::minutes(30)
        );
        let mut d = plan(&Notice::case_opened(&case(), t0()), all())
            .into_iter()
            .find(|d| d.channel == Channel::Webhook)
            .unwrap();
        let down = AttemptError::Status {
            status: 503,
            retry_after_secs: None,
        };
        let mut at = t0();
        for _ in 1..MAX_ATTEMPTS {
            d.record_failure(&down.clone().into(), at, 0.0);
            assert_eq!(d.status, DeliveryStatus::Pending);
            at = d.next_attempt_at;
        }
        assert!(
            at - t0() > Duration::hours(27),
            "a receiver down a day is still reached"
        );
        d.record_failure(&down.into(), at, 0.0);
        assert_eq!(
            (d.status, d.attempts),
            (DeliveryStatus::DeadLettered, MAX_ATTEMPTS)
        );
        // 3xx is a failure (a webhook is never redirected), 410 Gone is final.
        let mut d = plan(&Notice::case_opened(&case(), t0()), all()).remove(0);
        let moved = AttemptError::Status {
            status: 301,
            retry_after_secs: None,
        };
        d.record_failure(&moved.into(), t0(), 0.0);
        assert_eq!(d.status, DeliveryStatus::Pending);
        let gone = AttemptError::Status {
            status: 410,
            retry_after_secs: None,
        };
        d.record_failure(&gone.into(), t0(), 0.0);
        assert_eq!(d.status, DeliveryStatus::DeadLettered);
    }

    #[test]
    fn the_first_rendered_message_is_kept_for_the_retries_and_dropped_when_final() {
        let mut d = plan(&Notice::case_opened(&case(), t0()), all()).remove(0);
        let down = |rendered: serde_json::Value| Failure {
            error: AttemptError::Timeout,
            rendered: Some(rendered),
        };
        d.record_failure(&down(serde_json::json!({"text": "first"})), t0(), 0.0);
        d.record_failure(&down(serde_json::json!({"text": "second"})), t0(), 0.0);
        assert_eq!(d.rendered, Some(serde_json::json!({"text": "first"})));
        let stored = serde_json::to_value(&d).unwrap();
        assert_eq!(stored["rendered"]["text"], "first");
        d.record_success(t0());
        assert_eq!(d.rendered, None);
        assert!(serde_json::to_value(&d).unwrap().get("rendered").is_none());
    }

    #[test]
    fn retries_then_dead_letters() {
        let mut d = plan(&Notice::case_opened(&case(), t0()), all()).remove(0);
        let err: Failure = AttemptError::Status {
            status: 500,
            retry_after_secs: None,
        }
        .into();
        for n in 1..MAX_ATTEMPTS {
            d.record_failure(&err, t0(), 0.0);
            assert_eq!(d.status, DeliveryStatus::Pending, "attempt {n}");
            assert!(!d.is_due(t0()));
        }
        d.record_failure(&err, t0(), 0.0);
        assert_eq!(d.status, DeliveryStatus::DeadLettered);
        assert_eq!(d.attempts, MAX_ATTEMPTS);
    }

    #[test]
    fn honours_retry_after_and_permanent_errors() {
        let mut d = plan(&Notice::case_opened(&case(), t0()), all()).remove(0);
        d.record_failure(
            &AttemptError::Status {
                status: 429,
                retry_after_secs: Some(600),
            }
            .into(),
            t0(),
            0.0,
        );
        assert_eq!(d.next_attempt_at, t0() + Duration::seconds(600));
        d.record_failure(
            &AttemptError::Status {
                status: 404,
                retry_after_secs: None,
            }
            .into(),
            t0(),
            0.0,
        );
        assert_eq!(d.status, DeliveryStatus::DeadLettered);
        assert!(d.last_error.unwrap().contains("404"));
    }

    #[test]
    fn parses_retry_after_forms() {
        assert_eq!(parse_retry_after("120", t0()), Some(120));
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 09:01:00 GMT", t0()),
            Some(60)
        );
        assert_eq!(parse_retry_after("soon", t0()), None);
    }
}
