//! AskNicely: a webhook when a contact scores and again whenever they change the score or
//! comment; `count` goes up by one each time, so `(response id, count)` is the event and the
//! count orders them. AskNicely does not sign (it can add custom headers), so the connection's
//! URL carries a secret token.
//!
//! Source: https://asknicely.zendesk.com/hc/en-us/articles/47782734299540-Triggering-Webhooks-in-AskNicely

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::response::{Answer, AnswerKind, SourceResponse, value_number, value_text};
use super::{Parsed, json, unix_time};
use crate::problem::Problem;

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    count: Value,
    #[serde(default)]
    person: Map<String, Value>,
    question: Option<Question>,
}

#[derive(Deserialize)]
struct Question {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    score: Value,
    comment: Option<String>,
    #[serde(default)]
    responded: Value,
    #[serde(rename = "type")]
    kind: Option<String>,
    segment: Option<String>,
}

pub fn parse(body: &[u8]) -> Result<Parsed, Problem> {
    let p: Payload = json("AskNicely", body)?;
    let q = p
        .question
        .ok_or_else(|| super::malformed("an AskNicely webhook carries `question`"))?;
    let response_id =
        value_text(&q.id).ok_or_else(|| super::malformed("the AskNicely question has no `id`"))?;
    let count = value_number(&p.count).unwrap_or(1);
    let mut r = SourceResponse::new(format!("{response_id}:{count}"), response_id);
    r.sequence = count;
    r.submitted_at = unix_time(&q.responded);
    let mut person = p.person;
    let text = |m: &mut Map<String, Value>, k: &str| m.remove(k).as_ref().and_then(value_text);
    r.person.id = text(&mut person, "id");
    r.person.email = text(&mut person, "email");
    r.person.name = text(&mut person, "name");
    for k in ["firstname", "lastname", "created"] {
        person.remove(k);
    }
    r.fields = person;
    if let Some(segment) = q.segment {
        r.metadata.insert("segment".into(), json!(segment));
    }
    let (kind, min, max) = match q.kind.as_deref().unwrap_or("nps") {
        "csat" => (AnswerKind::Csat, 1, 5),
        "ces" => (AnswerKind::Ces, 1, 7),
        "5star" | "five_star" => (AnswerKind::Rating, 1, 5),
        _ => (AnswerKind::Nps, 0, 10),
    };
    r.answers
        .push(Answer::new("score", kind, q.score).scale(Some(min), Some(max)));
    r.answers.push(Answer::new(
        "comment",
        AnswerKind::LongText,
        q.comment.map_or(Value::Null, Value::String),
    ));
    Ok(Parsed::Response(r))
}
