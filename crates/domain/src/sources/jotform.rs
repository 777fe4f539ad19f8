//! Jotform: a `multipart/form-data` POST per submission with `formID`, `submissionID`,
//! `formTitle`, `pretty` and `rawRequest`, a JSON string of the answers keyed
//! `q{n}_{fieldName}` (e.g. `q3_howLikely`). Jotform does not sign its webhooks, so the
//! connection's URL carries a secret token; `submissionID` is the idempotency key.
//!
//! Sources: https://www.jotform.com/help/245-how-to-setup-a-webhook-with-jotform/ and
//! https://www.jotform.com/developers/webhooks/ (the posted fields, `rawRequest`).
//! Jotform does not say which field is what kind of question: names tell (`email`,
//! `recommend`/`nps`, `rating`/`scale`, `comment`/`feedback`), or map the fields explicitly.

use serde_json::{Map, Value, json};

use super::response::{Answer, AnswerKind, SourceResponse, value_number, value_text};
use super::{Delivery, Parsed};
use crate::problem::{Problem, ProblemKind};

/// The most parts read from one form (Jotform sends a dozen).
pub const MAX_PARTS: usize = 200;

fn form_error(detail: impl Into<String>) -> Problem {
    Problem::new(ProblemKind::MalformedForm, detail)
}

/// Reads the text fields of a multipart body (file parts are skipped).
pub fn multipart_fields(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, Problem> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| form_error("Jotform posts multipart/form-data with a boundary"))?;
    let bytes = bytes_of(body);
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    futures::executor::block_on(async {
        let mut out = Vec::new();
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| form_error(format!("the multipart body is malformed: {e}")))?
        {
            if out.len() >= MAX_PARTS {
                return Err(form_error(format!(
                    "the form has more than {MAX_PARTS} parts"
                )));
            }
            let name = field.name().unwrap_or_default().to_owned();
            let is_file = field.file_name().is_some();
            let text = field
                .text()
                .await
                .map_err(|e| form_error(format!("a form part could not be read: {e}")))?;
            if !is_file {
                out.push((name, text));
            }
        }
        Ok(out)
    })
}

fn bytes_of(body: &[u8]) -> multer::bytes::Bytes {
    multer::bytes::Bytes::copy_from_slice(body)
}

fn kind_by_name(name: &str, value: &Value) -> AnswerKind {
    let n = name.to_ascii_lowercase();
    let numeric = value_number(value).is_some();
    if n.contains("email") {
        AnswerKind::Email
    } else if n.contains("phone") {
        AnswerKind::Phone
    } else if numeric && (n.contains("recommend") || n.contains("nps") || n.contains("likely")) {
        AnswerKind::Nps
    } else if numeric
        && (n.contains("rating")
            || n.contains("rate")
            || n.contains("scale")
            || n.contains("satisf"))
    {
        AnswerKind::Rating
    } else if n.contains("comment")
        || n.contains("feedback")
        || n.contains("why")
        || n.contains("message")
    {
        AnswerKind::LongText
    } else if value.is_string() && !numeric {
        AnswerKind::Text
    } else {
        AnswerKind::Other
    }
}

pub fn parse(d: &Delivery) -> Result<Parsed, Problem> {
    let ct = d.content_type();
    if !ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        return Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            "Jotform webhooks post multipart/form-data",
        ));
    }
    let fields = multipart_fields(ct, d.body)?;
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let submission = get("submissionID")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| form_error("a Jotform webhook carries `submissionID`"))?
        .trim()
        .to_owned();
    let raw: Map<String, Value> = match get("rawRequest") {
        Some(raw) => serde_json::from_str(raw)
            .map_err(|e| form_error(format!("Jotform's `rawRequest` is not a JSON object: {e}")))?,
        None => Map::new(),
    };
    let mut r = SourceResponse::new(submission.clone(), submission);
    if let Some(form) = get("formID") {
        r.metadata.insert("form_id".into(), json!(form));
    }
    if let Some(title) = get("formTitle") {
        r.metadata.insert("form_title".into(), json!(title));
    }
    for (key, value) in raw {
        // Answers are `q{n}_{name}`; the rest (slug, event_id, timestamps) describe the post.
        let Some(rest) = key.strip_prefix('q') else {
            if key == "event_id" {
                r.event_id = value_text(&value).unwrap_or(r.event_id);
            }
            continue;
        };
        let Some((num, name)) = rest.split_once('_') else {
            continue;
        };
        if !num.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        // Composite answers ({first, last}, {area, phone}) read as their joined parts.
        let value = match value {
            Value::Object(parts) => {
                let joined: Vec<String> = parts.values().filter_map(value_text).collect();
                Value::String(joined.join(" "))
            }
            v => v,
        };
        let kind = kind_by_name(name, &value);
        if kind == AnswerKind::Other && name.to_ascii_lowercase().contains("name") {
            r.person.name = value_text(&value);
        }
        let max = match kind {
            AnswerKind::Nps => Some(10),
            AnswerKind::Rating => Some(5),
            _ => None,
        };
        let min = (kind == AnswerKind::Nps).then_some(0);
        let mut a = Answer::new(key.clone(), kind, value)
            .label(Some(name))
            .scale(min, max);
        a.alt_id = Some(name.to_owned());
        r.answers.push(a);
    }
    // Jotform's own event id is per post; a resubmission of the same submission is a repeat.
    r.event_id = r.response_id.clone();
    Ok(Parsed::Response(r))
}
