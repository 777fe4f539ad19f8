//! Qualtrics: an event subscription to `surveyengine.completedResponse.{SurveyID}` posts
//! `application/x-www-form-urlencoded` fields: `Topic`, `MSG` (a JSON string with `Status`,
//! `SurveyID`, `ResponseID`, `CompletedDate`, `BrandID`) and, when the subscription has a
//! shared key, `HMAC` (hex HMAC-SHA512 of the `MSG` value under it). Ids only: the response is
//! fetched with the connection's API token from
//! `GET /API/v3/surveys/{SurveyID}/responses/{ResponseID}`. The connection's URL carries a
//! secret token; with the shared key as the connection's signing secret, `HMAC` is required.
//! The same fields as top-level form fields (older subscriptions) are read too.
//!
//! Sources: https://api.qualtrics.com/docs/create-subscription ("the publicationUrl ... will be
//! receiving x-www-form-urlencoded data not JSON"; `sharedKey` and the `HMAC` field) and
//! https://api.qualtrics.com/ (Survey Responses: "Get Response").

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::response::{Answer, AnswerKind, SourceResponse, value_text};
use super::verify::{AuthError, hmac_sha512, require_hex};
use super::{Delivery, FetchRequest, Parsed, json, time};
use crate::problem::{Problem, ProblemKind};

fn path_safe(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The event's fields, from `MSG` or from the form itself.
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "SurveyID")]
    survey: Option<String>,
    #[serde(rename = "ResponseID")]
    response: Option<String>,
    #[serde(rename = "CompletedDate")]
    completed: Option<String>,
}

fn field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn sign(secret: &str, msg: &str) -> String {
    hex::encode(hmac_sha512(secret.as_bytes(), msg.as_bytes()))
}

/// Checks the `HMAC` field against `MSG` under the subscription's shared key.
pub fn verify(secret: &str, d: &Delivery) -> Result<(), AuthError> {
    let msg = field(d.body, "MSG").ok_or(AuthError::MissingField("MSG"))?;
    let hmac = field(d.body, "HMAC").ok_or(AuthError::MissingField("HMAC"))?;
    require_hex(&hmac, &hmac_sha512(secret.as_bytes(), msg.as_bytes()))
}

pub fn parse(d: &Delivery) -> Result<Parsed, Problem> {
    super::require_media_type(d, "application/x-www-form-urlencoded", "Qualtrics")?;
    let topic = field(d.body, "Topic");
    if topic
        .as_deref()
        .is_some_and(|t| !t.contains("completedResponse"))
    {
        return Ok(Parsed::Ignored {
            reason: "the Qualtrics event is not a completed response".into(),
        });
    }
    let event = match field(d.body, "MSG") {
        Some(msg) => serde_json::from_str::<Event>(&msg).map_err(|e| {
            Problem::new(
                ProblemKind::MalformedForm,
                format!("the Qualtrics MSG field is not the event's JSON: {e}"),
            )
        })?,
        None => Event {
            survey: field(d.body, "SurveyID"),
            response: field(d.body, "ResponseID"),
            completed: field(d.body, "CompletedDate"),
        },
    };
    let (Some(survey), Some(response)) = (event.survey, event.response) else {
        return Err(Problem::new(
            ProblemKind::MalformedForm,
            "a Qualtrics completedResponse event carries SurveyID and ResponseID (in MSG)",
        ));
    };
    if !path_safe(&survey) || !path_safe(&response) {
        return Err(Problem::new(
            ProblemKind::MalformedForm,
            "SurveyID and ResponseID must be plain ids",
        ));
    }
    Ok(Parsed::Fetch(FetchRequest {
        event_id: format!("completed:{response}"),
        path: format!("/API/v3/surveys/{survey}/responses/{response}"),
        response_id: response,
        sequence: time(event.completed.as_deref()).map_or(0, |t| t.timestamp()),
    }))
}

#[derive(Deserialize)]
struct Envelope {
    result: Option<Result_>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Result_ {
    response_id: Option<String>,
    #[serde(default)]
    values: Map<String, Value>,
    #[serde(default)]
    labels: Map<String, Value>,
}

/// Fields of `values` that describe the response rather than answer a question.
const SYSTEM_FIELDS: [&str; 14] = [
    "startDate",
    "endDate",
    "status",
    "ipAddress",
    "progress",
    "duration",
    "finished",
    "recordedDate",
    "locationLatitude",
    "locationLongitude",
    "distributionChannel",
    "userLanguage",
    "_recordId",
    "responseId",
];

pub fn parse_response(f: &FetchRequest, body: &[u8]) -> Result<SourceResponse, Problem> {
    let e: Envelope = json("Qualtrics response", body)?;
    let res = e
        .result
        .ok_or_else(|| super::malformed("the Qualtrics API answer has no `result`"))?;
    let mut r = SourceResponse::new(
        f.event_id.clone(),
        res.response_id.unwrap_or_else(|| f.response_id.clone()),
    );
    r.sequence = f.sequence;
    let mut values = res.values;
    let take = |v: &mut Map<String, Value>, k: &str| v.remove(k).as_ref().and_then(value_text);
    r.submitted_at = time(take(&mut values, "endDate").as_deref())
        .or_else(|| time(take(&mut values, "recordedDate").as_deref()));
    r.person.email = take(&mut values, "recipientEmail");
    r.person.id = take(&mut values, "externalDataReference");
    r.person.name = match (
        take(&mut values, "recipientFirstName"),
        take(&mut values, "recipientLastName"),
    ) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (f, l) => f.or(l),
    };
    for k in SYSTEM_FIELDS {
        values.remove(k);
    }
    // QIDn_NPS_GROUP marks QIDn as an NPS question; QIDn_TEXT is a text entry.
    let nps: Vec<String> = values
        .keys()
        .filter_map(|k| k.strip_suffix("_NPS_GROUP").map(str::to_owned))
        .collect();
    for (k, v) in values {
        if k.ends_with("_NPS_GROUP") {
            continue;
        }
        if !k.starts_with("QID") {
            r.fields.insert(k, v);
            continue;
        }
        let kind = if nps.contains(&k) {
            AnswerKind::Nps
        } else if k.ends_with("_TEXT") {
            AnswerKind::LongText
        } else if v.is_number() {
            AnswerKind::Scale
        } else {
            AnswerKind::Other
        };
        let label = res.labels.get(&k).and_then(value_text);
        let (min, max) = if kind == AnswerKind::Nps {
            (Some(0), Some(10))
        } else {
            (None, None)
        };
        let mut a = Answer::new(k, kind, v).scale(min, max);
        a.label = label.filter(|_| kind == AnswerKind::Other);
        r.answers.push(a);
    }
    r.metadata
        .insert("platform_response_id".into(), json!(r.response_id));
    Ok(r)
}
