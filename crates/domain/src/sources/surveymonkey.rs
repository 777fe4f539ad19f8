//! SurveyMonkey: webhooks carry ids only. `Sm-Signature` is the base64 HMAC-SHA1 of the raw
//! body under `{client id}&{client secret}`, and `Sm-Apikey` names the client id. The response
//! itself is then fetched from `GET /v3/surveys/{survey_id}/responses/{id}/details?simple=true`
//! with the connection's access token. `response_created`, `response_updated` and
//! `response_completed` all update one feedback.
//!
//! Sources: https://api.surveymonkey.com/v3/docs#webhooks (webhook callbacks and signature;
//! "Webhook callbacks" section) and https://api.surveymonkey.com/v3/docs#survey-responses
//! (`/responses/{id}/details`, `simple=true` adds question headings and answer texts).

use serde::Deserialize;
use serde_json::{Value, json};

use super::response::{Answer, AnswerKind, SourceResponse, value_text};
use super::{AuthError, Delivery, FetchRequest, Parsed, json, time, verify as v};
use crate::problem::Problem;

pub const SIGNATURE_HEADER: &str = "Sm-Signature";
pub const API_KEY_HEADER: &str = "Sm-Apikey";

pub fn sign(api_key: &str, secret: &str, body: &[u8]) -> String {
    v::b64(&v::hmac_sha1(
        format!("{api_key}&{secret}").as_bytes(),
        &[body],
    ))
}

pub fn verify(api_key: &str, secret: &str, d: &Delivery) -> Result<(), AuthError> {
    let sig = d.require(SIGNATURE_HEADER)?;
    if let Some(given) = d.header(API_KEY_HEADER)
        && !v::equal(given.trim().as_bytes(), api_key.as_bytes())
    {
        return Err(AuthError::BadSignature);
    }
    let expected = v::hmac_sha1(format!("{api_key}&{secret}").as_bytes(), &[d.body]);
    v::require_base64(sig, &expected)
}

#[derive(Deserialize)]
struct Payload {
    event_type: Option<String>,
    event_id: Option<Value>,
    object_type: Option<String>,
    object_id: Option<Value>,
    event_datetime: Option<String>,
    resources: Option<Resources>,
}

#[derive(Deserialize)]
struct Resources {
    survey_id: Option<Value>,
}

/// Ids must be plain tokens before they go into an API path.
fn path_safe(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub fn parse(body: &[u8]) -> Result<Parsed, Problem> {
    let p: Payload = json("SurveyMonkey", body)?;
    let event = p.event_type.unwrap_or_default();
    if p.object_type.as_deref() != Some("response")
        || !matches!(
            event.as_str(),
            "response_created" | "response_updated" | "response_completed"
        )
    {
        return Ok(Parsed::Ignored {
            reason: format!("SurveyMonkey event {event} is not a new or changed response"),
        });
    }
    let response_id = p
        .object_id
        .as_ref()
        .and_then(value_text)
        .unwrap_or_default();
    let survey_id = p
        .resources
        .and_then(|r| r.survey_id)
        .as_ref()
        .and_then(value_text)
        .unwrap_or_default();
    if !path_safe(&response_id) || !path_safe(&survey_id) {
        return Err(super::malformed(
            "the SurveyMonkey event needs `object_id` and `resources.survey_id` as plain ids",
        ));
    }
    let event_id = p
        .event_id
        .as_ref()
        .and_then(value_text)
        .unwrap_or_else(|| format!("{response_id}:{event}"));
    Ok(Parsed::Fetch(FetchRequest {
        event_id,
        path: format!("/v3/surveys/{survey_id}/responses/{response_id}/details?simple=true"),
        response_id,
        sequence: time(p.event_datetime.as_deref()).map_or(0, |t| t.timestamp_millis()),
    }))
}

#[derive(Deserialize)]
struct Details {
    id: Option<Value>,
    date_created: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    email_address: Option<String>,
    survey_id: Option<Value>,
    response_status: Option<String>,
    #[serde(default)]
    custom_variables: serde_json::Map<String, Value>,
    #[serde(default)]
    pages: Vec<Page>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    questions: Vec<Question>,
}

#[derive(Deserialize)]
struct Question {
    id: Option<Value>,
    family: Option<String>,
    subtype: Option<String>,
    heading: Option<String>,
    #[serde(default)]
    answers: Vec<Value>,
}

pub fn parse_details(f: &FetchRequest, body: &[u8]) -> Result<SourceResponse, Problem> {
    let d: Details = json("SurveyMonkey response", body)?;
    let id =
        d.id.as_ref()
            .and_then(value_text)
            .unwrap_or_else(|| f.response_id.clone());
    let mut r = SourceResponse::new(f.event_id.clone(), id);
    r.sequence = f.sequence;
    r.submitted_at = time(d.date_created.as_deref());
    r.person.email = d.email_address.filter(|e| !e.is_empty());
    r.person.name = match (
        d.first_name.filter(|s| !s.is_empty()),
        d.last_name.filter(|s| !s.is_empty()),
    ) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (f, l) => f.or(l),
    };
    r.fields = d.custom_variables;
    if let Some(s) = d.survey_id.as_ref().and_then(value_text) {
        r.metadata.insert("survey_id".into(), json!(s));
    }
    if let Some(s) = d.response_status {
        r.metadata.insert("response_status".into(), json!(s));
    }
    for q in d.pages.into_iter().flat_map(|p| p.questions) {
        let Some(qid) = q.id.as_ref().and_then(value_text) else {
            continue;
        };
        let heading = q.heading.unwrap_or_default();
        let lower = heading.to_lowercase();
        let kind = match (q.family.as_deref(), q.subtype.as_deref()) {
            (_, Some("nps")) => AnswerKind::Nps,
            (Some("matrix"), Some("rating")) if lower.contains("recommend") => AnswerKind::Nps,
            (Some("matrix"), Some("rating")) => AnswerKind::Rating,
            (Some("open_ended"), Some("essay")) => AnswerKind::LongText,
            (Some("open_ended"), _) if lower.contains("email") => AnswerKind::Email,
            (Some("open_ended"), _) => AnswerKind::Text,
            _ => AnswerKind::Other,
        };
        // simple=true gives each answer a `simple_text`; open answers carry `text`.
        let value = q
            .answers
            .iter()
            .find_map(|a| {
                a.get("simple_text")
                    .or_else(|| a.get("text"))
                    .and_then(value_text)
            })
            .map_or(Value::Null, |t| {
                t.parse::<i64>().map_or(Value::String(t), |n| json!(n))
            });
        let (min, max) = match kind {
            AnswerKind::Nps => (Some(0), Some(10)),
            AnswerKind::Rating => (Some(1), Some(5)),
            _ => (None, None),
        };
        r.answers.push(
            Answer::new(qid, kind, value)
                .label(Some(&heading))
                .scale(min, max),
        );
    }
    Ok(r)
}
