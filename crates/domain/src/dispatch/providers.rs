//! Each provider's HTTP request, as its documentation specifies, and how its answers are read.
//!
//! Built here as plain values ([`ProviderRequest`]) so the exact method, path, headers,
//! authentication and body are tested natively; the component only sends them. Secrets enter
//! as arguments and leave only in the request: nothing here is stored or logged.
//!
//! | channel | request | auth | idempotency | docs |
//! |---|---|---|---|---|
//! | Slack | `POST <webhook URL>`, JSON Block Kit | the URL | none | <https://api.slack.com/messaging/webhooks> |
//! | Teams | `POST <workflow URL>`, JSON message + Adaptive Card | the URL (signed) | none | <https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook> |
//! | Postmark | `POST /email`, JSON | `X-Postmark-Server-Token` | none | <https://postmarkapp.com/developer/user-guide/send-email-with-api> |
//! | Resend | `POST /emails`, JSON | `Authorization: Bearer` | `Idempotency-Key` | <https://resend.com/docs/api-reference/emails/send-email> |
//! | Twilio | `POST /2010-04-01/Accounts/{sid}/Messages.json`, form | HTTP basic (SID:token) | none | <https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource> |
//! | webhook | `POST <url>`, JSON | Standard Webhooks signature | `webhook-id` | <https://www.standardwebhooks.com/> |
//! | PagerDuty | `POST /v2/enqueue`, JSON: `trigger`, then `acknowledge` and `resolve` as the case goes | `routing_key` in the body | `dedup_key` (the case) | <https://developer.pagerduty.com/docs/events-api-v2/trigger-events/> |

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::render::Email;
use super::signing::WebhookSecret;
use crate::delivery::AttemptError;

/// A request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ProviderRequest {
    fn json(url: String, body: &Value) -> Self {
        ProviderRequest {
            url,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(body).expect("JSON values serialize"),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The email provider and its account credentials (from variables).
#[derive(Clone, PartialEq, Eq)]
pub enum EmailProvider {
    Postmark {
        api_url: String,
        server_token: String,
        from: String,
    },
    Resend {
        api_url: String,
        api_key: String,
        from: String,
    },
}

impl std::fmt::Debug for EmailProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl EmailProvider {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Postmark { .. } => "postmark",
            Self::Resend { .. } => "resend",
        }
    }
}

/// Twilio's account credentials and sender (from variables).
#[derive(Clone, PartialEq, Eq)]
pub struct Twilio {
    pub api_url: String,
    pub account_sid: String,
    pub auth_token: String,
    /// A Twilio phone number in E.164, or a Messaging Service SID (`MG...`).
    pub from: String,
}

impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Twilio(..)")
    }
}

fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

pub fn slack(webhook_url: &str, message: &Value) -> ProviderRequest {
    ProviderRequest::json(webhook_url.to_owned(), message)
}

pub fn teams(webhook_url: &str, message: &Value) -> ProviderRequest {
    ProviderRequest::json(webhook_url.to_owned(), message)
}

/// The email request; `idempotency_key` is the delivery id (Resend keeps it 24 hours).
pub fn email(
    provider: &EmailProvider,
    to: &str,
    email: &Email,
    tag: &str,
    idempotency_key: &str,
) -> ProviderRequest {
    match provider {
        EmailProvider::Postmark {
            api_url,
            server_token,
            from,
        } => ProviderRequest::json(
            format!("{}/email", base(api_url)),
            &with_reply_to(
                serde_json::json!({
                    "From": from, "To": to, "Subject": email.subject,
                    "HtmlBody": email.html, "TextBody": email.text,
                    "Tag": tag, "MessageStream": "outbound",
                }),
                "ReplyTo",
                email,
            ),
        )
        .header("accept", "application/json")
        .header("x-postmark-server-token", server_token),
        EmailProvider::Resend {
            api_url,
            api_key,
            from,
        } => ProviderRequest::json(
            format!("{}/emails", base(api_url)),
            &with_reply_to(
                serde_json::json!({
                    "from": from, "to": [to], "subject": email.subject,
                    "html": email.html, "text": email.text,
                    "tags": [{"name": "category", "value": tag.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-', "_")}],
                }),
                "reply_to",
                email,
            ),
        )
        .header("authorization", &format!("Bearer {api_key}"))
        .header("idempotency-key", idempotency_key),
    }
}

/// `body` with the email's reply address under `field` (Postmark's `ReplyTo`, Resend's
/// `reply_to`), when it has one.
fn with_reply_to(mut body: Value, field: &str, email: &Email) -> Value {
    if let (Some(address), Some(fields)) = (&email.reply_to, body.as_object_mut()) {
        fields.insert(field.to_owned(), Value::String(address.clone()));
    }
    body
}

/// Twilio's Messages API: form-encoded `To`, `From` (or `MessagingServiceSid`), `Body`.
pub fn sms(twilio: &Twilio, to: &str, body: &str) -> ProviderRequest {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("To", to);
    if twilio.from.starts_with("MG") {
        form.append_pair("MessagingServiceSid", &twilio.from);
    } else {
        form.append_pair("From", &twilio.from);
    }
    form.append_pair("Body", body);
    let basic = STANDARD.encode(format!("{}:{}", twilio.account_sid, twilio.auth_token));
    ProviderRequest {
        url: format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            base(&twilio.api_url),
            twilio.account_sid
        ),
        headers: vec![
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("accept".into(), "application/json".into()),
            ("authorization".into(), format!("Basic {basic}")),
        ],
        body: form.finish().into_bytes(),
    }
}

/// A Standard Webhooks request: `webhook-id` is the delivery id (stable across retries),
/// `idempotency-key` repeats it for receivers that look for that header.
pub fn webhook(
    url: &str,
    secret: Option<&WebhookSecret>,
    message_id: &str,
    timestamp: i64,
    body: &Value,
) -> ProviderRequest {
    let mut r = ProviderRequest::json(url.to_owned(), body)
        .header("webhook-id", message_id)
        .header("webhook-timestamp", &timestamp.to_string())
        .header("idempotency-key", message_id);
    if let Some(secret) = secret {
        let sig = secret.sign(message_id, timestamp, &r.body);
        r = r.header("webhook-signature", &sig);
    }
    r
}

/// A PagerDuty Events v2 event (`render::pagerduty`, `render::pagerduty_update`) under the
/// integration's `routing_key`, which PagerDuty reads from the body. The event is rendered
/// without it (a retry keeps the rendered event on the delivery, which must hold no secret),
/// and a kept event that has one gets the endpoint's current key.
pub fn pagerduty(events_url: &str, routing_key: &str, event: &Value) -> ProviderRequest {
    let mut event = event.clone();
    if let Some(fields) = event.as_object_mut() {
        fields.insert("routing_key".into(), Value::String(routing_key.to_owned()));
    }
    ProviderRequest::json(format!("{}/v2/enqueue", base(events_url)), &event)
}

/// Which provider answered, for reading its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Slack,
    Teams,
    Postmark,
    Resend,
    Twilio,
    Webhook,
    PagerDuty,
}

/// Reads a provider's answer: `Ok` when it took the message, otherwise why not, keeping the
/// provider's own error code where it gives one (never the body, which may echo the request).
pub fn classify(
    provider: Provider,
    status: u16,
    retry_after_secs: Option<i64>,
    body: &[u8],
) -> Result<(), AttemptError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        json.as_ref().and_then(|j| j.get(name)).map(|v| match v {
            Value::String(s) => s.chars().take(80).collect::<String>(),
            other => other.to_string(),
        })
    };
    match (provider, status) {
        (_, 429) | (_, 408) | (_, 500..) => Err(AttemptError::Status {
            status,
            retry_after_secs,
        }),
        // Resend: another request with this idempotency key is still in flight.
        (Provider::Resend, 409)
            if field("name").as_deref() == Some("concurrent_idempotent_requests") =>
        {
            Err(AttemptError::Busy { status })
        }
        // Slack answers a short code in plain text (`invalid_payload`, `channel_is_archived`).
        (Provider::Slack, _) => Err(AttemptError::Refused {
            status,
            reason: String::from_utf8_lossy(body)
                .chars()
                .take(60)
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect(),
        }),
        (Provider::Postmark, _) => Err(AttemptError::Refused {
            status,
            reason: format!(
                "Postmark ErrorCode {}",
                field("ErrorCode").unwrap_or_else(|| "?".into())
            ),
        }),
        (Provider::Twilio, _) => Err(AttemptError::Refused {
            status,
            reason: format!(
                "Twilio error {}",
                field("code").unwrap_or_else(|| "?".into())
            ),
        }),
        // Their error code only: a `message` may quote the request (an address, say).
        (Provider::Resend | Provider::PagerDuty, _) => Err(AttemptError::Refused {
            status,
            reason: field("name")
                .or_else(|| field("status"))
                .unwrap_or_else(|| "no reason given".into()),
        }),
        (Provider::Teams | Provider::Webhook, _) => Err(AttemptError::Status {
            status,
            retry_after_secs,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email_fixture() -> Email {
        Email {
            subject: "S".into(),
            html: "<p>H</p>".into(),
            text: "T".into(),
            reply_to: None,
        }
    }

    #[test]
    fn postmark_request_as_documented() {
        let p = EmailProvider::Postmark {
            api_url: "https://api.postmarkapp.com/".into(),
            server_token: "pm-token".into(),
            from: "alerts@cl.example".into(),
        };
        let r = email(
            &p,
            "dana@example.com",
            &email_fixture(),
            "case-opened",
            "d1",
        );
        assert_eq!(r.url, "https://api.postmarkapp.com/email");
        assert_eq!(r.get_header("x-postmark-server-token"), Some("pm-token"));
        assert_eq!(r.get_header("accept"), Some("application/json"));
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(b["To"], "dana@example.com");
        assert_eq!(b["HtmlBody"], "<p>H</p>");
        assert_eq!(b["TextBody"], "T");
        assert_eq!(b["MessageStream"], "outbound");
        assert!(b.get("ReplyTo").is_none(), "the sender signature's own");
        // A customer follow-up names its signed reply address ("ReplyTo: Reply To override
        // email address", Postmark's Email API).
        let mut follow_up = email_fixture();
        follow_up.reply_to = Some("reply+abc@in.cl.example".into());
        let r = email(
            &p,
            "ann@example.com",
            &follow_up,
            "customer-follow-up",
            "d2",
        );
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(b["ReplyTo"], "reply+abc@in.cl.example");
    }

    #[test]
    fn resend_request_carries_the_idempotency_key() {
        let p = EmailProvider::Resend {
            api_url: "https://api.resend.com".into(),
            api_key: "re_123".into(),
            from: "alerts@cl.example".into(),
        };
        let r = email(
            &p,
            "dana@example.com",
            &email_fixture(),
            "case-opened",
            "d1",
        );
        assert_eq!(r.url, "https://api.resend.com/emails");
        assert_eq!(r.get_header("authorization"), Some("Bearer re_123"));
        assert_eq!(r.get_header("idempotency-key"), Some("d1"));
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(b["to"][0], "dana@example.com");
        assert_eq!(b["tags"][0]["value"], "case-opened");
        assert!(b.get("reply_to").is_none());
        // Resend's send-email body takes `reply_to`.
        let mut follow_up = email_fixture();
        follow_up.reply_to = Some("reply+abc@in.cl.example".into());
        let r = email(
            &p,
            "ann@example.com",
            &follow_up,
            "customer-follow-up",
            "d2",
        );
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(b["reply_to"], "reply+abc@in.cl.example");
    }

    #[test]
    fn twilio_request_is_form_encoded_with_basic_auth() {
        let t = Twilio {
            api_url: "https://api.twilio.com".into(),
            account_sid: "AC123".into(),
            auth_token: "tok".into(),
            from: "+15005550006".into(),
        };
        let r = sms(&t, "+447700900123", "P1 & more");
        assert_eq!(
            r.url,
            "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
        );
        assert_eq!(r.get_header("authorization"), Some("Basic QUMxMjM6dG9r"));
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            "To=%2B447700900123&From=%2B15005550006&Body=P1+%26+more"
        );
        let mg = Twilio {
            from: "MG0123".into(),
            ..t
        };
        assert!(
            String::from_utf8(sms(&mg, "+447700900123", "x").body)
                .unwrap()
                .contains("MessagingServiceSid=MG0123")
        );
    }

    #[test]
    fn webhook_is_signed_over_the_exact_body() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let r = webhook(
            "https://hooks.example/in",
            Some(&secret),
            "msg_1",
            1_700_000_000,
            &serde_json::json!({"a": 1}),
        );
        assert_eq!(r.get_header("webhook-id"), Some("msg_1"));
        assert_eq!(r.get_header("webhook-timestamp"), Some("1700000000"));
        assert_eq!(
            r.get_header("webhook-signature").unwrap(),
            secret.sign("msg_1", 1_700_000_000, &r.body)
        );
    }

    #[test]
    fn answers_are_read_per_provider() {
        assert!(classify(Provider::Postmark, 200, None, b"{}").is_ok());
        let e = classify(
            Provider::Postmark,
            422,
            None,
            br#"{"ErrorCode":406,"Message":"Inactive recipient"}"#,
        )
        .unwrap_err();
        assert!(!e.is_retryable());
        assert!(e.describe().contains("406"));
        let e = classify(
            Provider::Resend,
            409,
            None,
            br#"{"name":"concurrent_idempotent_requests"}"#,
        )
        .unwrap_err();
        assert!(e.is_retryable());
        let e = classify(
            Provider::Resend,
            409,
            None,
            br#"{"name":"invalid_idempotent_request"}"#,
        )
        .unwrap_err();
        assert!(!e.is_retryable());
        let e = classify(
            Provider::Twilio,
            400,
            None,
            br#"{"code":21211,"message":"Invalid 'To'"}"#,
        )
        .unwrap_err();
        assert!(e.describe().contains("21211"));
        let e = classify(Provider::Slack, 404, None, b"channel_not_found").unwrap_err();
        assert!(e.describe().contains("channel_not_found"));
        let e = classify(Provider::PagerDuty, 429, Some(30), b"").unwrap_err();
        assert_eq!(
            e,
            AttemptError::Status {
                status: 429,
                retry_after_secs: Some(30)
            }
        );
        assert!(
            classify(Provider::Teams, 502, None, b"")
                .unwrap_err()
                .is_retryable()
        );
    }

    /// PagerDuty's "Send an Alert Event" page
    /// (<https://developer.pagerduty.com/docs/events-api-v2/trigger-events/>, its Acknowledge
    /// and Resolve example payloads) shows these bodies as exactly
    /// `{"routing_key": "routingkeyhere", "dedup_key": "dedupkeyhere", "event_action":
    /// "acknowledge"}` (and `"resolve"`), and says under "Alert De-Duplication": "Subsequent
    /// acknowledge or resolve events sent via a different `routing_key` from the original
    /// will be dropped." So: the trigger's routing key, its `dedup_key`, nothing else.
    #[test]
    fn pagerduty_acknowledge_and_resolve_are_documented_shape() {
        use super::super::render;
        use crate::notice::NoticeKind;
        let key = "0123456789abcdef0123456789abcdef";
        for (kind, action) in [
            (NoticeKind::IncidentAcknowledged, "acknowledge"),
            (NoticeKind::IncidentResolved, "resolve"),
        ] {
            let event = render::pagerduty_update(kind, "c1");
            let r = pagerduty("https://events.pagerduty.com/", key, &event);
            assert_eq!(r.url, "https://events.pagerduty.com/v2/enqueue");
            assert_eq!(r.get_header("content-type"), Some("application/json"));
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(
                body,
                serde_json::json!({"routing_key": key, "dedup_key": "closeloop-case-c1",
                                   "event_action": action})
            );
        }
    }

    #[test]
    fn pagerduty_routing_key_is_put_in_the_request_only() {
        let event = serde_json::json!({"event_action": "trigger", "dedup_key": "closeloop-case-c1",
                                       "payload": {"summary": "P1"}});
        let r = pagerduty("https://events.pagerduty.com", "NEWKEY", &event);
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["routing_key"], "NEWKEY");
        assert_eq!(body["payload"], event["payload"]);
        assert!(
            event.get("routing_key").is_none(),
            "the kept event is untouched"
        );
        // An event kept with a key (before keys were left out) is sent with the current one.
        let mut old = event.clone();
        old["routing_key"] = Value::String("OLDKEY".into());
        let r = pagerduty("https://events.pagerduty.com", "NEWKEY", &old);
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["routing_key"], "NEWKEY");
    }
}
