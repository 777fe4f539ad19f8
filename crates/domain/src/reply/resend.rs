//! Resend's inbound email (`POST /v1/inbound/resend`): the `email.received` webhook, then the
//! email's text from Resend's API.
//!
//! Resend signs webhooks with Svix: "Each webhook call includes three headers ... `svix-id`:
//! the unique message identifier ... the same when the same webhook is being resent,
//! `svix-timestamp`: timestamp in seconds since epoch, `svix-signature`: the Base64 encoded
//! list of signatures (space delimited)", over "`${svix_id}.${svix_timestamp}.${body}`" with
//! HMAC-SHA256 (Svix, "Verifying Webhooks Manually"): the Standard Webhooks scheme, checked by
//! `crate::sources::verify::standard_webhooks` under `resend_webhook_secret` (`whsec_...`, the
//! webhook's signing secret in Resend's dashboard).
//!
//! The event carries metadata only: "Webhooks do not include the email body, headers, or
//! attachments, only their metadata. You must call the Received emails API" (Resend,
//! "email.received"). Its `data` has `email_id`, `from`, `to`, `cc`, `bcc`, `message_id`,
//! `subject`. The token is looked for in `to`, `cc`, `bcc` first; only a reply to a follow-up
//! is fetched, with `GET /emails/receiving/{email_id}` (`Authorization: Bearer
//! <resend_api_key>`), whose `text` (else `html`) is the email ("Retrieve Received Email").
//! `html_format=cid` keeps inline images as `cid:` references rather than base64 in the
//! answer. The `email_id` is the idempotency key.

use std::time::Duration;

use serde::Deserialize;

use super::{InboundAuthError, InboundEmail, text};
use crate::Timestamp;
use crate::problem::{Problem, ProblemKind};
use crate::sources::Delivery;
use crate::sources::fetch::FetchFailure;
use crate::sources::verify as v;

pub const ID_HEADER: &str = "svix-id";
pub const TIMESTAMP_HEADER: &str = "svix-timestamp";
pub const SIGNATURE_HEADER: &str = "svix-signature";
/// The event type of an inbound email.
const RECEIVED: &str = "email.received";
/// The largest received email read back from Resend's API (text and HTML of one email).
pub const MAX_FETCHED_BYTES: usize = 4 * 1024 * 1024;
/// How long Resend's API may take to return the email: Svix waits 15 s for the webhook.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks the Svix headers of delivery `d` against `secret` and its raw body.
pub fn verify(secret: &str, d: &Delivery, now: Timestamp) -> Result<(), InboundAuthError> {
    let headers = [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER];
    Ok(v::standard_webhooks_delivery(secret, d, headers, now)?)
}

/// What a Resend webhook is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An inbound email, without its text yet.
    Received(InboundEmail),
    /// Any other event type (sent, delivered, bounced, ...): acknowledged, nothing done.
    Other(String),
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: Option<String>,
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    email_id: Option<String>,
    #[serde(default)]
    to: Option<Vec<String>>,
    #[serde(default)]
    cc: Option<Vec<String>>,
    #[serde(default)]
    bcc: Option<Vec<String>>,
}

/// Reads a webhook's JSON (leniently).
pub fn parse_event(body: &[u8]) -> Result<Event, Problem> {
    let p: Payload = serde_json::from_slice(body).map_err(|e| {
        Problem::new(
            ProblemKind::MalformedJson,
            format!("the body is not a Resend webhook event: {e}"),
        )
    })?;
    let kind = p.kind.unwrap_or_default();
    if kind != RECEIVED {
        return Ok(Event::Other(kind));
    }
    let data = p.data.ok_or_else(|| {
        Problem::new(
            ProblemKind::InvalidRequest,
            "the email.received event has no data",
        )
    })?;
    let message_id = super::message_id(data.email_id, "data.email_id", "Resend")?;
    if !message_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Problem::new(
            ProblemKind::InvalidRequest,
            "data.email_id must be Resend's id (letters, digits, - and _)",
        ));
    }
    let recipients = [data.to, data.cc, data.bcc]
        .into_iter()
        .flatten()
        .flatten()
        .filter(|r| !r.trim().is_empty())
        .collect();
    Ok(Event::Received(InboundEmail {
        message_id,
        recipients,
        text: None,
    }))
}

/// The URL that returns received email `email_id` (checked by [`parse_event`]).
pub fn fetch_url(api_url: &str, email_id: &str) -> String {
    format!(
        "{}/emails/receiving/{email_id}?html_format=cid",
        api_url.trim_end_matches('/')
    )
}

#[derive(Deserialize)]
struct Received {
    text: Option<String>,
    html: Option<String>,
}

/// The reply's words from the API's answer (its status and at most [`MAX_FETCHED_BYTES`] + 1
/// bytes of body), or why there are none: `503` while the API is down, slow or refuses the key
/// (Resend retries the webhook), `422` when it no longer has the email or it is too large.
pub fn read_answer(answer: Result<(u16, Vec<u8>), String>) -> Result<String, FetchFailure> {
    let retry = |why: String| FetchFailure {
        problem: Problem::new(
            ProblemKind::UpstreamUnavailable,
            "Resend's API did not return the received email; Resend will retry the webhook",
        ),
        why,
    };
    let refuse = |detail: String, why: String| FetchFailure {
        problem: Problem::new(ProblemKind::InvalidRequest, detail),
        why,
    };
    match answer {
        Err(e) => Err(retry(e)),
        Ok((200..=299, body)) if body.len() > MAX_FETCHED_BYTES => Err(refuse(
            format!("the received email is larger than {MAX_FETCHED_BYTES} bytes"),
            "too large".into(),
        )),
        Ok((status @ 200..=299, body)) => {
            let r: Received = serde_json::from_slice(&body)
                .map_err(|e| retry(format!("status {status} with an unreadable body: {e}")))?;
            Ok(text::email_words(
                None,
                r.text.as_deref(),
                r.html.as_deref(),
            ))
        }
        Ok((status @ (404 | 410), _)) => Err(refuse(
            "Resend no longer has the received email".into(),
            format!("status {status}"),
        )),
        Ok((status @ (401 | 403), _)) => Err(retry(format!(
            "Resend refused resend_api_key ({status}); it needs access to received emails"
        ))),
        Ok((status, _)) => Err(retry(format!("status {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_email_received_events_are_read() {
        let other = br#"{"type": "email.delivered", "data": {"email_id": "x"}}"#;
        assert_eq!(
            parse_event(other).unwrap(),
            Event::Other("email.delivered".into())
        );
        let no_id = br#"{"type": "email.received", "data": {"to": ["a@b.c"]}}"#;
        assert_eq!(
            parse_event(no_id).unwrap_err().kind,
            ProblemKind::InvalidRequest
        );
        let path_like = br#"{"type": "email.received", "data": {"email_id": "../keys"}}"#;
        assert!(
            parse_event(path_like)
                .unwrap_err()
                .detail
                .contains("email_id")
        );
        assert_eq!(
            parse_event(b"nope").unwrap_err().kind,
            ProblemKind::MalformedJson
        );
        assert_eq!(
            fetch_url("https://api.resend.com/", "56761188-7520"),
            "https://api.resend.com/emails/receiving/56761188-7520?html_format=cid"
        );
    }

    #[test]
    fn the_api_s_answers_are_read_or_retried() {
        let ok = |body: &str| read_answer(Ok((200, body.as_bytes().to_vec())));
        assert_eq!(
            ok(r#"{"text": "No.\n\nOn Mon, Hotel wrote:\n> Is it?", "html": "<p>x</p>"}"#).unwrap(),
            "No."
        );
        assert_eq!(
            ok(r#"{"text": null, "html": "<p>Better now</p>"}"#).unwrap(),
            "Better now"
        );
        assert_eq!(ok(r#"{"text": "", "html": null}"#).unwrap(), "");
        let status = |kind| read_answer(Ok((kind, b"{}".to_vec()))).unwrap_err();
        assert_eq!(status(500).problem.kind, ProblemKind::UpstreamUnavailable);
        assert_eq!(status(401).problem.kind, ProblemKind::UpstreamUnavailable);
        assert_eq!(status(404).problem.kind, ProblemKind::InvalidRequest);
        let down = read_answer(Err("timed out".into())).unwrap_err();
        assert_eq!(down.problem.status(), 503);
        assert!(
            !down.problem.detail.contains("timed out"),
            "the reason is logged"
        );
        let at = vec![b' '; MAX_FETCHED_BYTES];
        assert!(read_answer(Ok((200, at))).is_err(), "not JSON, retried");
        let past = vec![b' '; MAX_FETCHED_BYTES + 1];
        assert_eq!(
            read_answer(Ok((200, past))).unwrap_err().problem.kind,
            ProblemKind::InvalidRequest
        );
    }
}
