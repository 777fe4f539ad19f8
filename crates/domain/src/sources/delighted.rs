//! Delighted: `survey_response.created` when a person scores, `survey_response.updated` when
//! they add or change the comment or score; both update one feedback. The connection's URL
//! carries a secret token; when the connection also has Delighted's webhook signing key, the
//! `X-Delighted-Webhook-Signature: sha256=<hex HMAC-SHA256 of the body>` header is required.
//!
//! Source: https://app.delighted.com/docs/api/webhooks (event types and example payload).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::response::{Answer, AnswerKind, SourceResponse};
use super::verify::{AuthError, hmac_sha256, require_hex};
use super::{Delivery, Parsed, json, unix_time};
use crate::problem::Problem;

#[derive(Deserialize)]
struct Payload {
    event_type: Option<String>,
    event_id: Option<String>,
    event_data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    id: Option<Value>,
    person: Option<Person>,
    survey_type: Option<String>,
    #[serde(default)]
    score: Value,
    comment: Option<String>,
    #[serde(default)]
    created_at: Value,
    #[serde(default)]
    updated_at: Value,
    person_properties: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct Person {
    id: Option<Value>,
    email: Option<String>,
    name: Option<String>,
    phone_number: Option<String>,
}

fn id_text(v: Option<Value>) -> Option<String> {
    v.as_ref().and_then(super::response::value_text)
}

pub const SIGNATURE_HEADER: &str = "x-delighted-webhook-signature";

pub fn sign(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &[body]))
    )
}

pub fn verify(secret: &str, d: &Delivery) -> Result<(), AuthError> {
    let header = d.require(SIGNATURE_HEADER)?;
    let hex = header
        .strip_prefix("sha256=")
        .ok_or(AuthError::MalformedHeader(SIGNATURE_HEADER))?;
    require_hex(hex, &hmac_sha256(secret.as_bytes(), &[d.body]))
}

pub fn parse(d: &Delivery) -> Result<Parsed, Problem> {
    super::require_media_type(d, "application/json", "Delighted")?;
    let p: Payload = json("Delighted", d.body)?;
    let event_type = p
        .event_type
        .ok_or_else(|| super::malformed("a Delighted webhook names its `event_type`"))?;
    if !event_type.starts_with("survey_response.") {
        return Ok(Parsed::Ignored {
            reason: format!("Delighted event {event_type:?} is not a survey response"),
        });
    }
    let d = p
        .event_data
        .ok_or_else(|| super::malformed("a Delighted webhook carries `event_data`"))?;
    let response_id =
        id_text(d.id).ok_or_else(|| super::malformed("the Delighted response has no `id`"))?;
    let event_id = p
        .event_id
        .unwrap_or_else(|| format!("{response_id}:{event_type}"));
    let mut r = SourceResponse::new(event_id, response_id);
    r.submitted_at = unix_time(&d.created_at);
    r.sequence = super::response::value_number(&d.updated_at)
        .or_else(|| super::response::value_number(&d.created_at))
        .unwrap_or(0);
    if let Some(person) = d.person {
        r.person.id = id_text(person.id);
        r.person.email = person.email;
        r.person.name = person.name;
        r.person.phone = person.phone_number;
    }
    r.fields = d.person_properties.unwrap_or_default();
    let survey_type = d.survey_type.unwrap_or_else(|| "nps".into());
    r.metadata.insert("survey_type".into(), json!(survey_type));
    r.metadata.insert("event_type".into(), json!(event_type));
    let (kind, min, max) = match survey_type.as_str() {
        "nps" | "enps" => (AnswerKind::Nps, 0, 10),
        "csat" => (AnswerKind::Csat, 1, 5),
        "ces" => (AnswerKind::Ces, 1, 7),
        "five_star" | "smileys" => (AnswerKind::Rating, 1, 5),
        _ => (AnswerKind::Other, 0, 0),
    };
    r.answers
        .push(Answer::new("score", kind, d.score).scale(Some(min), Some(max)));
    r.answers.push(Answer::new(
        "comment",
        AnswerKind::LongText,
        d.comment.map_or(Value::Null, Value::String),
    ));
    Ok(Parsed::Response(r))
}
