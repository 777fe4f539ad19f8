//! Google Forms: no webhooks of its own, so `scripts/google-forms/closeloop.gs`, an Apps Script
//! bound to the form, posts each submission (and each edit) to closeloop. It signs like
//! Standard Webhooks but in hex: `X-Closeloop-Timestamp: <unix seconds>` and
//! `X-Closeloop-Signature: v1=<hex HMAC-SHA256 of "{timestamp}.{body}">` under the
//! connection's signing secret; the timestamp must be within five minutes.
//!
//! Source: the script in this repository, written against
//! https://developers.google.com/apps-script/reference/forms/form-response and
//! https://developers.google.com/apps-script/reference/utilities/utilities#computeHmacSha256Signature(String,String)

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::response::{Answer, AnswerKind, SourceResponse, value_number};
use super::{AuthError, Delivery, Parsed, json, time, verify as v};
use crate::Timestamp;
use crate::problem::Problem;

pub const TIMESTAMP_HEADER: &str = "X-Closeloop-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Closeloop-Signature";

pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = v::hmac_sha256(secret.as_bytes(), &[ts.as_bytes(), b".", body]);
    format!("v1={}", hex::encode(mac))
}

pub fn verify(secret: &str, d: &Delivery, now: Timestamp) -> Result<(), AuthError> {
    let ts = d.require(TIMESTAMP_HEADER)?;
    let sig = d.require(SIGNATURE_HEADER)?;
    v::fresh(ts, TIMESTAMP_HEADER, now)?;
    let sig = sig
        .trim()
        .strip_prefix("v1=")
        .ok_or(AuthError::MalformedHeader(SIGNATURE_HEADER))?;
    let expected = v::hmac_sha256(secret.as_bytes(), &[ts.trim().as_bytes(), b".", d.body]);
    v::require_hex(sig, &expected)
}

#[derive(Deserialize)]
struct Payload {
    event_id: Option<String>,
    response_id: Option<String>,
    form_id: Option<String>,
    submitted_at: Option<String>,
    respondent_email: Option<String>,
    #[serde(default)]
    answers: Vec<GfAnswer>,
    #[serde(default)]
    fields: Map<String, Value>,
}

#[derive(Deserialize)]
struct GfAnswer {
    id: Option<Value>,
    title: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    min: Value,
    #[serde(default)]
    max: Value,
}

pub fn parse(body: &[u8]) -> Result<Parsed, Problem> {
    let p: Payload = json("closeloop Google Forms script", body)?;
    let response_id = p
        .response_id
        .ok_or_else(|| super::malformed("the script's payload has no `response_id`"))?;
    let submitted_at = time(p.submitted_at.as_deref());
    let event_id = p.event_id.unwrap_or_else(|| {
        format!(
            "{response_id}:{}",
            submitted_at.map_or(0, |t| t.timestamp())
        )
    });
    let mut r = SourceResponse::new(event_id, response_id);
    r.submitted_at = submitted_at;
    r.sequence = submitted_at.map_or(0, |t| t.timestamp_millis());
    r.person.email = p.respondent_email.filter(|e| !e.is_empty());
    r.fields = p.fields;
    if let Some(form) = p.form_id {
        r.metadata.insert("form_id".into(), json!(form));
    }
    for a in p.answers {
        let Some(id) = a.id.as_ref().and_then(super::response::value_text) else {
            continue;
        };
        let (min, max) = (value_number(&a.min), value_number(&a.max));
        let kind = match a.kind.as_deref().unwrap_or("") {
            "RATING" => AnswerKind::Rating,
            "SCALE" => AnswerKind::Scale,
            "PARAGRAPH_TEXT" => AnswerKind::LongText,
            "TEXT" => AnswerKind::Text,
            _ => AnswerKind::Other,
        };
        r.answers.push(
            Answer::new(id, kind, a.value)
                .label(a.title.as_deref())
                .scale(min, max),
        );
    }
    Ok(Parsed::Response(r))
}
