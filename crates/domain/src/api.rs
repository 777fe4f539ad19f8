//! The agent API's inputs (strict: unknown fields refused) and its views of cases.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::case::{Action, Case, CaseEvent, MAX_TEXT_CHARS, RootCause};
use crate::feedback::Feedback;
use crate::problem::FieldError;

/// The longest agent name accepted in `by`.
pub const MAX_AGENT_CHARS: usize = 100;
/// The largest agent API request body.
pub const MAX_BODY_BYTES: usize = 32 * 1024;
/// The longest comment excerpt in a case list.
pub const EXCERPT_CHARS: usize = 140;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeInput {
    pub by: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    pub by: Option<String>,
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveInput {
    pub by: Option<String>,
    pub resolution: Option<String>,
    pub root_cause: Option<String>,
}

fn agent(errors: &mut Vec<FieldError>, by: Option<String>) -> String {
    match by.map(|b| b.trim().to_owned()) {
        None => "agent".to_owned(),
        Some(b)
            if b.is_empty()
                || b.chars().count() > MAX_AGENT_CHARS
                || b.chars().any(char::is_control) =>
        {
            errors.push(FieldError::new(
                "/by",
                format!("must be 1 to {MAX_AGENT_CHARS} printable characters"),
            ));
            String::new()
        }
        Some(b) => b,
    }
}

fn text(
    errors: &mut Vec<FieldError>,
    pointer: &str,
    value: Option<String>,
    required: bool,
) -> Option<String> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if v.chars().count() > MAX_TEXT_CHARS => {
            errors.push(FieldError::new(
                pointer,
                format!("is longer than {MAX_TEXT_CHARS} characters"),
            ));
            None
        }
        Some(v) if !v.is_empty() => Some(v),
        _ => {
            if required {
                errors.push(FieldError::new(pointer, "is required"));
            }
            None
        }
    }
}

impl AcknowledgeInput {
    pub fn into_action(self) -> Result<Action, Vec<FieldError>> {
        let mut errors = Vec::new();
        let by = agent(&mut errors, self.by);
        let note = text(&mut errors, "/note", self.note, false);
        if errors.is_empty() {
            Ok(Action::Acknowledge { by, note })
        } else {
            Err(errors)
        }
    }
}

impl NoteInput {
    /// The author and the note's text.
    pub fn validate(self) -> Result<(String, String), Vec<FieldError>> {
        let mut errors = Vec::new();
        let by = agent(&mut errors, self.by);
        let text = text(&mut errors, "/text", self.text, true);
        match text {
            Some(text) if errors.is_empty() => Ok((by, text)),
            _ => Err(errors),
        }
    }
}

impl ResolveInput {
    pub fn into_action(self) -> Result<Action, Vec<FieldError>> {
        let mut errors = Vec::new();
        let by = agent(&mut errors, self.by);
        let summary = text(&mut errors, "/resolution", self.resolution, true);
        let causes = RootCause::ALL.map(RootCause::as_str).join(", ");
        let root_cause = match self.root_cause.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(FieldError::new(
                    "/root_cause",
                    format!("is required (one of {causes})"),
                ));
                None
            }
            Some(c) => RootCause::parse(c).or_else(|| {
                errors.push(FieldError::new(
                    "/root_cause",
                    format!("`{c}` is not a root cause; use one of {causes}"),
                ));
                None
            }),
        };
        match (summary, root_cause) {
            (Some(summary), Some(root_cause)) if errors.is_empty() => Ok(Action::Resolve {
                by,
                summary,
                root_cause,
            }),
            _ => Err(errors),
        }
    }
}

/// A case in the inbox.
#[derive(Debug, Serialize)]
pub struct CaseSummary {
    pub id: String,
    pub state: &'static str,
    pub priority: &'static str,
    pub team: String,
    pub owner: Option<String>,
    pub next_due: Timestamp,
    pub overdue: bool,
    pub score: Option<String>,
    pub customer: String,
    pub comment_excerpt: Option<String>,
    pub opened_at: Timestamp,
}

impl CaseSummary {
    pub fn new(case: &Case, feedback: Option<&Feedback>, now: Timestamp) -> Self {
        CaseSummary {
            id: case.id.clone(),
            state: case.state.as_str(),
            priority: case.triage.priority.as_str(),
            team: case.triage.team.clone(),
            owner: case.owner.clone(),
            next_due: case.next_due(),
            overdue: case.state.is_open() && case.next_due() < now,
            score: feedback.and_then(|f| f.score).map(|s| s.label()),
            customer: feedback
                .map(|f| f.customer.display_name().to_owned())
                .unwrap_or_default(),
            comment_excerpt: feedback.and_then(|f| f.comment.as_deref()).map(|c| {
                let mut e: String = c.chars().take(EXCERPT_CHARS).collect();
                if e.len() < c.len() {
                    e.push('…');
                }
                e
            }),
            opened_at: case.opened_at,
        }
    }
}

/// Sorts the inbox: most urgent first (earliest due), then by priority, then oldest.
pub fn sort_by_urgency(cases: &mut [Case]) {
    cases.sort_by(|a, b| {
        a.next_due()
            .cmp(&b.next_due())
            .then(a.triage.priority.cmp(&b.triage.priority))
            .then(a.opened_at.cmp(&b.opened_at))
    });
}

/// Sorts a timeline: by time, then by id (ids are time-ordered too).
pub fn sort_timeline(events: &mut [CaseEvent]) {
    events.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
}

/// A case with everything needed to work on it.
#[derive(Debug, Serialize)]
pub struct CaseView<'a> {
    pub case: &'a Case,
    pub feedback: Option<&'a Feedback>,
    pub timeline: &'a [CaseEvent],
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolve_requires_resolution_and_a_known_root_cause() {
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<ResolveInput>(v)
                .unwrap()
                .into_action()
        };
        let errs = parse(json!({})).unwrap_err();
        assert_eq!(
            errs.iter().map(|e| e.pointer.as_str()).collect::<Vec<_>>(),
            ["/resolution", "/root_cause"]
        );
        let errs = parse(json!({"resolution": "moved room", "root_cause": "noise"})).unwrap_err();
        assert!(errs[0].detail.contains("facilities"), "{errs:?}");
        assert!(matches!(
            parse(json!({"resolution": "moved room", "root_cause": "facilities", "by": "Ann"}))
                .unwrap(),
            Action::Resolve {
                root_cause: RootCause::Facilities,
                ..
            }
        ));
        assert!(
            serde_json::from_value::<ResolveInput>(json!({"resolution": "x", "cause": "y"}))
                .is_err()
        );
    }

    #[test]
    fn notes_need_text_within_the_limit() {
        let parse =
            |v: serde_json::Value| serde_json::from_value::<NoteInput>(v).unwrap().validate();
        assert!(parse(json!({"text": "  "})).is_err());
        assert!(parse(json!({"text": "a".repeat(MAX_TEXT_CHARS)})).is_ok());
        assert!(parse(json!({"text": "a".repeat(MAX_TEXT_CHARS + 1)})).is_err());
        assert_eq!(parse(json!({"text": "called back"})).unwrap().0, "agent");
        assert!(parse(json!({"text": "x", "by": "a".repeat(MAX_AGENT_CHARS + 1)})).is_err());
    }
}
