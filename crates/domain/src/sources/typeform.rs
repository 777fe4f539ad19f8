//! Typeform: `form_response` webhooks, signed with `Typeform-Signature: sha256=<base64>`, the
//! HMAC-SHA256 of the raw body under the webhook's secret (no timestamp is signed).
//!
//! Source: https://www.typeform.com/developers/webhooks/secure-your-webhooks/ and
//! https://www.typeform.com/developers/webhooks/example-payload/ . Typeform disables a webhook
//! that answers 404 or 410, so ingest never answers those for anything transient.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::response::{Answer, AnswerKind, SourceResponse};
use super::{AuthError, Delivery, Parsed, json, time, verify as v};
use crate::problem::Problem;

pub const SIGNATURE_HEADER: &str = "Typeform-Signature";

pub fn sign(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        v::b64(&v::hmac_sha256(secret.as_bytes(), &[body]))
    )
}

pub fn verify(secret: &str, d: &Delivery) -> Result<(), AuthError> {
    let header = d.require(SIGNATURE_HEADER)?;
    let sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(AuthError::MalformedHeader(SIGNATURE_HEADER))?;
    let expected = v::hmac_sha256(secret.as_bytes(), &[d.body]);
    v::require_base64(sig, &expected)
}

#[derive(Deserialize)]
struct Payload {
    event_id: Option<String>,
    event_type: Option<String>,
    form_response: Option<FormResponse>,
}

#[derive(Deserialize)]
struct FormResponse {
    form_id: Option<String>,
    token: Option<String>,
    submitted_at: Option<String>,
    #[serde(default)]
    hidden: Map<String, Value>,
    definition: Option<Definition>,
    #[serde(default)]
    answers: Vec<TfAnswer>,
}

#[derive(Deserialize)]
struct Definition {
    #[serde(default)]
    fields: Vec<Field>,
}

#[derive(Deserialize)]
struct Field {
    id: Option<String>,
    title: Option<String>,
    #[serde(default)]
    properties: Map<String, Value>,
}

#[derive(Deserialize)]
struct TfAnswer {
    #[serde(rename = "type")]
    kind: Option<String>,
    field: Option<AnswerField>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize)]
struct AnswerField {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
}

pub fn parse(body: &[u8]) -> Result<Parsed, Problem> {
    let p: Payload = json("Typeform", body)?;
    if p.event_type
        .as_deref()
        .is_some_and(|t| t != "form_response")
    {
        return Ok(Parsed::Ignored {
            reason: format!(
                "Typeform event {} is not a form response",
                p.event_type.unwrap_or_default()
            ),
        });
    }
    let fr = p
        .form_response
        .ok_or_else(|| super::malformed("a Typeform webhook carries `form_response`"))?;
    let token = fr
        .token
        .ok_or_else(|| super::malformed("the Typeform response has no `token`"))?;
    let event_id = p.event_id.unwrap_or_else(|| token.clone());
    let mut r = SourceResponse::new(event_id, token);
    r.submitted_at = time(fr.submitted_at.as_deref());
    r.sequence = r.submitted_at.map_or(0, |t| t.timestamp());
    r.fields = fr.hidden;
    if let Some(form) = fr.form_id {
        r.metadata.insert("form_id".into(), json!(form));
    }
    let fields = fr.definition.map(|d| d.fields).unwrap_or_default();
    for a in fr.answers {
        let Some(field) = a.field else { continue };
        let Some(id) = field.id else { continue };
        let def = fields.iter().find(|f| f.id.as_deref() == Some(id.as_str()));
        let props = def.map(|d| &d.properties);
        let steps = props.and_then(|p| p.get("steps")).and_then(Value::as_i64);
        let from_one = props
            .and_then(|p| p.get("start_at_one"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let (kind, min, max) = match field.kind.as_deref().unwrap_or("") {
            "nps" => (AnswerKind::Nps, Some(0), Some(10)),
            "rating" => (AnswerKind::Rating, Some(1), Some(steps.unwrap_or(5))),
            "opinion_scale" => {
                let min = i64::from(from_one);
                (
                    AnswerKind::Scale,
                    Some(min),
                    Some(min + steps.unwrap_or(11) - 1),
                )
            }
            "long_text" => (AnswerKind::LongText, None, None),
            "short_text" => (AnswerKind::Text, None, None),
            "email" => (AnswerKind::Email, None, None),
            "phone_number" => (AnswerKind::Phone, None, None),
            _ => (AnswerKind::Other, None, None),
        };
        // The value sits under the answer's own type: {"type":"number","number":7}.
        let value = match a.kind.as_deref() {
            Some("choice") => a.rest.get("choice").and_then(|c| c.get("label")).cloned(),
            Some("choices") => a.rest.get("choices").and_then(|c| c.get("labels")).cloned(),
            Some(t) => a.rest.get(t).cloned(),
            None => None,
        }
        .unwrap_or(Value::Null);
        let mut answer = Answer::new(id, kind, value)
            .label(def.and_then(|d| d.title.as_deref()))
            .scale(min, max);
        answer.alt_id = field.reference;
        r.answers.push(answer);
    }
    Ok(Parsed::Response(r))
}
