//! Tally: `FORM_RESPONSE` webhooks, signed with `Tally-Signature: <base64>`, the HMAC-SHA256 of
//! the raw JSON body under the webhook's signing secret (no timestamp is signed).
//!
//! Source: https://tally.so/help/webhooks (payload and signature). Tally waits 10 seconds for
//! an answer and retries failures; ingest answers before handing over.

use serde::Deserialize;
use serde_json::{Value, json};

use super::response::{Answer, AnswerKind, SourceResponse};
use super::{AuthError, Delivery, Parsed, json, time, verify as v};
use crate::problem::Problem;

pub const SIGNATURE_HEADER: &str = "Tally-Signature";

pub fn sign(secret: &str, body: &[u8]) -> String {
    v::b64(&v::hmac_sha256(secret.as_bytes(), &[body]))
}

pub fn verify(secret: &str, d: &Delivery) -> Result<(), AuthError> {
    let sig = d.require(SIGNATURE_HEADER)?;
    v::require_base64(sig, &v::hmac_sha256(secret.as_bytes(), &[d.body]))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    event_id: Option<String>,
    event_type: Option<String>,
    data: Option<Data>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    response_id: Option<String>,
    respondent_id: Option<String>,
    form_id: Option<String>,
    created_at: Option<String>,
    #[serde(default)]
    fields: Vec<TallyField>,
}

#[derive(Deserialize)]
struct TallyField {
    key: Option<String>,
    label: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    options: Vec<TallyOption>,
}

#[derive(Deserialize)]
struct TallyOption {
    id: Option<String>,
    text: Option<String>,
}

pub fn parse(body: &[u8]) -> Result<Parsed, Problem> {
    let p: Payload = json("Tally", body)?;
    if p.event_type
        .as_deref()
        .is_some_and(|t| t != "FORM_RESPONSE")
    {
        return Ok(Parsed::Ignored {
            reason: format!(
                "Tally event {} is not a form response",
                p.event_type.unwrap_or_default()
            ),
        });
    }
    let data = p
        .data
        .ok_or_else(|| super::malformed("a Tally webhook carries `data`"))?;
    let response_id = data
        .response_id
        .ok_or_else(|| super::malformed("the Tally response has no `responseId`"))?;
    let mut r = SourceResponse::new(
        p.event_id.unwrap_or_else(|| response_id.clone()),
        response_id,
    );
    r.submitted_at = time(data.created_at.as_deref());
    r.sequence = r.submitted_at.map_or(0, |t| t.timestamp());
    r.person.id = data.respondent_id;
    if let Some(form) = data.form_id {
        r.metadata.insert("form_id".into(), json!(form));
    }
    for f in data.fields {
        let Some(key) = f.key else { continue };
        let kind = match f.kind.as_deref().unwrap_or("") {
            "HIDDEN_FIELDS" => {
                if let Some(label) = f.label {
                    r.fields.insert(label, f.value);
                }
                continue;
            }
            "RATING" => AnswerKind::Rating,
            "LINEAR_SCALE" => AnswerKind::Scale,
            "TEXTAREA" => AnswerKind::LongText,
            "INPUT_TEXT" => AnswerKind::Text,
            "INPUT_EMAIL" => AnswerKind::Email,
            "INPUT_PHONE_NUMBER" => AnswerKind::Phone,
            _ => AnswerKind::Other,
        };
        // Choice answers carry option ids; the option texts are what people read.
        let value = match &f.value {
            Value::Array(ids) if !f.options.is_empty() => Value::Array(
                ids.iter()
                    .map(|id| {
                        f.options
                            .iter()
                            .find(|o| o.id.as_deref() == id.as_str())
                            .and_then(|o| o.text.clone())
                            .map_or_else(|| id.clone(), Value::String)
                    })
                    .collect(),
            ),
            v => v.clone(),
        };
        let max = (kind == AnswerKind::Rating).then_some(5);
        r.answers.push(
            Answer::new(key, kind, value)
                .label(f.label.as_deref())
                .scale(None, max),
        );
    }
    Ok(Parsed::Response(r))
}
