//! Formbricks: `responseCreated`, `responseUpdated` and `responseFinished`, signed per the
//! Standard Webhooks specification: `webhook-signature: v1,<base64>` (several, space-separated,
//! during a rotation), the HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` under the
//! base64-decoded part of the `whsec_...` secret; the timestamp must be within five minutes.
//! `webhook-id` is the message id, the same on every retry: the idempotency key.
//!
//! Sources: https://formbricks.com/docs/xm-and-surveys/core-features/integrations/webhooks and
//! https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md .
//! Formbricks waits 5 seconds for an answer.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::response::{Answer, AnswerKind, SourceResponse, value_number, value_text};
use super::{AuthError, Delivery, Parsed, json, time, verify as v};
use crate::Timestamp;
use crate::problem::Problem;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The `webhook-signature` value for a message (what Formbricks sends).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = v::hmac_sha256(
        &v::standard_webhooks_key(secret),
        &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    format!("v1,{}", v::b64(&mac))
}

pub fn verify(secret: &str, d: &Delivery, now: Timestamp) -> Result<(), AuthError> {
    let headers = [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER];
    v::standard_webhooks_delivery(secret, d, headers, now)
}

#[derive(Deserialize)]
struct Payload {
    event: Option<String>,
    data: Option<Data>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    id: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    survey_id: Option<String>,
    finished: Option<bool>,
    #[serde(default)]
    data: Map<String, Value>,
    contact: Option<Map<String, Value>>,
    contact_attributes: Option<Map<String, Value>>,
    #[serde(default)]
    meta: Map<String, Value>,
}

pub fn parse(d: &Delivery) -> Result<Parsed, Problem> {
    let p: Payload = json("Formbricks", d.body)?;
    let event = p.event.unwrap_or_default();
    if !event.starts_with("response") {
        return Ok(Parsed::Ignored {
            reason: format!("Formbricks event {event} is not about a response"),
        });
    }
    let data = p
        .data
        .ok_or_else(|| super::malformed("a Formbricks webhook carries `data`"))?;
    let response_id = data
        .id
        .ok_or_else(|| super::malformed("the Formbricks response has no `id`"))?;
    let event_id = d
        .header(ID_HEADER)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{response_id}:{event}"));
    let mut r = SourceResponse::new(event_id, response_id);
    r.submitted_at = time(data.created_at.as_deref());
    // Events of one response can share a second: finished sorts after updated after created.
    let rank = match event.as_str() {
        "responseCreated" => 0,
        "responseUpdated" => 1,
        _ => 2,
    };
    r.sequence = time(data.updated_at.as_deref())
        .or(r.submitted_at)
        .map_or(0, |t| t.timestamp_millis())
        * 4
        + rank;
    if let Some(survey) = data.survey_id {
        r.metadata.insert("survey_id".into(), json!(survey));
    }
    r.metadata.insert("event".into(), json!(event));
    if let Some(finished) = data.finished {
        r.metadata.insert("finished".into(), json!(finished));
    }
    if let Some(url) = data.meta.get("url").and_then(value_text) {
        r.metadata.insert("url".into(), json!(url));
    }
    let attrs = data.contact_attributes.unwrap_or_default();
    r.person.email = attrs.get("email").and_then(value_text);
    // The user id the site gave Formbricks, else Formbricks' own contact id (a contact may
    // carry only that); `contact: null` is an anonymous answer.
    r.person.id = attrs.get("userId").and_then(value_text).or_else(|| {
        let contact = data.contact.as_ref()?;
        (contact.get("userId").and_then(value_text))
            .or_else(|| contact.get("id").and_then(value_text))
    });
    r.person.name = match (
        attrs.get("firstName").and_then(value_text),
        attrs.get("lastName").and_then(value_text),
    ) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (f, l) => f.or(l),
    };
    r.fields = attrs;
    // Formbricks sends answers by question id without their types: numbers are scales of
    // unknown range (map the score question), text is free text.
    for (qid, value) in data.data {
        let kind = if value_number(&value).is_some() && !value.is_string() {
            AnswerKind::Scale
        } else if value.is_string() {
            AnswerKind::LongText
        } else {
            AnswerKind::Other
        };
        r.answers.push(Answer::new(qid, kind, value));
    }
    Ok(Parsed::Response(r))
}
