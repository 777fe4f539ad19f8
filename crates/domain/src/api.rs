//! The agent API's inputs (strict: unknown fields refused) and its views of cases.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::case::{
    Action, Case, CaseEvent, CaseState, EventKind, MAX_TEXT_CHARS, OutreachChannel,
    OutreachOutcome, RootCause,
};
use crate::feedback::Feedback;
use crate::problem::FieldError;
use crate::projection::index::IndexEntry;
use crate::triage::Priority;

/// The longest agent name accepted in `by`.
pub const MAX_AGENT_CHARS: usize = 100;
/// The largest agent API request body.
pub const MAX_BODY_BYTES: usize = 32 * 1024;
/// The longest comment excerpt in a case list.
pub const EXCERPT_CHARS: usize = 140;
/// Cases listed when `limit` is not given.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// The most cases one list returns.
pub const MAX_LIST_LIMIT: usize = 500;

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
    /// True when the text is more feedback the customer gave (recorded as such, and erased
    /// with the customer's data).
    #[serde(default)]
    pub from_customer: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignInput {
    pub by: Option<String>,
    pub to: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutreachInput {
    pub by: Option<String>,
    pub channel: Option<String>,
    pub outcome: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseInput {
    pub by: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchInput {
    pub by: Option<String>,
    pub watcher: Option<String>,
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
    /// The author, the note's text, and whether it is a note or the customer's feedback.
    pub fn validate(self) -> Result<(String, String, EventKind), Vec<FieldError>> {
        let mut errors = Vec::new();
        let by = agent(&mut errors, self.by);
        let text = text(&mut errors, "/text", self.text, true);
        let kind = if self.from_customer {
            EventKind::CustomerFeedback
        } else {
            EventKind::Note
        };
        match text {
            Some(text) if errors.is_empty() => Ok((by, text, kind)),
            _ => Err(errors),
        }
    }
}

/// A person's name in `to` or `watcher`: the same rule as `by`.
fn person(errors: &mut Vec<FieldError>, pointer: &str, value: Option<String>) -> Option<String> {
    let value = value.map(|v| v.trim().to_owned()).unwrap_or_default();
    if value.is_empty()
        || value.chars().count() > MAX_AGENT_CHARS
        || value.chars().any(char::is_control)
    {
        errors.push(FieldError::new(
            pointer,
            format!("is required: a name of 1 to {MAX_AGENT_CHARS} printable characters"),
        ));
        return None;
    }
    Some(value)
}

/// A kebab-case choice from a fixed list.
fn choice<T: Copy>(
    errors: &mut Vec<FieldError>,
    pointer: &str,
    value: Option<String>,
    all: &[T],
    name: impl Fn(T) -> &'static str,
) -> Option<T> {
    let list = all.iter().map(|&v| name(v)).collect::<Vec<_>>().join(", ");
    match value.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(FieldError::new(
                pointer,
                format!("is required (one of {list})"),
            ));
            None
        }
        Some(v) => all.iter().copied().find(|&c| name(c) == v).or_else(|| {
            errors.push(FieldError::new(
                pointer,
                format!("`{v}` is not one of {list}"),
            ));
            None
        }),
    }
}

impl AssignInput {
    pub fn into_action(self) -> Result<Action, Vec<FieldError>> {
        let mut errors = Vec::new();
        let by = agent(&mut errors, self.by);
        let to = person(&mut errors, "/to", self.to);
        let note = text(&mut errors, "/note", self.note, false);
        match to {
            Some(to) if errors.is_empty() => Ok(Action::Assign { by, to, note }),
            _ => Err(errors),
        }
    }
}

impl OutreachInput {
    pub fn into_action(self) -> Result<Action, Vec<FieldError>> {
        let mut errors = Vec::new();
        let by = agent(&mut errors, self.by);
        let channel = choice(
            &mut errors,
            "/channel",
            self.channel,
            OutreachChannel::ALL,
            OutreachChannel::as_str,
        );
        let outcome = choice(
            &mut errors,
            "/outcome",
            self.outcome,
            OutreachOutcome::ALL,
            OutreachOutcome::as_str,
        );
        let note = text(&mut errors, "/note", self.note, false);
        match (channel, outcome) {
            (Some(channel), Some(outcome)) if errors.is_empty() => Ok(Action::LogOutreach {
                by,
                channel,
                outcome,
                note,
            }),
            _ => Err(errors),
        }
    }
}

impl CloseInput {
    pub fn into_action(self) -> Result<Action, Vec<FieldError>> {
        let mut errors = Vec::new();
        let by = agent(&mut errors, self.by);
        let reason = text(&mut errors, "/reason", self.reason, true);
        match reason {
            Some(reason) if errors.is_empty() => Ok(Action::CloseWithoutContact { by, reason }),
            _ => Err(errors),
        }
    }
}

impl WatchInput {
    pub fn into_action(self) -> Result<Action, Vec<FieldError>> {
        let mut errors = Vec::new();
        let by = agent(&mut errors, self.by);
        let watcher = person(&mut errors, "/watcher", self.watcher);
        match watcher {
            Some(watcher) if errors.is_empty() => Ok(Action::AddWatcher { by, watcher }),
            _ => Err(errors),
        }
    }
}

/// Which cases `GET /v1/cases` lists: `state` (`open`, `all` or a state), `priority`, `team`,
/// `owner`, `overdue=true`, `limit`. Unknown parameters are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFilter {
    pub state: String,
    pub priority: Option<String>,
    pub team: Option<String>,
    pub owner: Option<String>,
    pub overdue: bool,
    pub limit: usize,
}

impl CaseFilter {
    /// Parses a raw query string (`state=open&priority=P1`).
    pub fn from_query(query: &str) -> Result<Self, Vec<FieldError>> {
        Self::parse(
            form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())),
        )
    }

    pub fn parse(
        params: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut f = CaseFilter {
            state: "open".into(),
            priority: None,
            team: None,
            owner: None,
            overdue: false,
            limit: DEFAULT_LIST_LIMIT,
        };
        let mut errors = Vec::new();
        for (name, value) in params {
            let pointer = format!("/query/{name}");
            match name.as_str() {
                "state" => {
                    let known = value == "open"
                        || value == "all"
                        || serde_json::from_value::<CaseState>(serde_json::json!(value)).is_ok();
                    if known {
                        f.state = value;
                    } else {
                        errors.push(FieldError::new(
                            pointer,
                            "use open, all, or a case state such as acknowledged",
                        ));
                    }
                }
                "priority" => match value.as_str() {
                    "P1" | "P2" | "P3" | "P4" => f.priority = Some(value),
                    _ => errors.push(FieldError::new(pointer, "use P1, P2, P3 or P4")),
                },
                "team" => f.team = Some(value),
                "owner" => f.owner = Some(value),
                "overdue" => match value.as_str() {
                    "true" => f.overdue = true,
                    "false" => f.overdue = false,
                    _ => errors.push(FieldError::new(pointer, "use true or false")),
                },
                "limit" => match value.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => f.limit = n,
                    _ => errors.push(FieldError::new(
                        pointer,
                        format!("use a whole number from 1 to {MAX_LIST_LIMIT}"),
                    )),
                },
                _ => errors.push(FieldError::new(
                    pointer,
                    "is not a filter; use state, priority, team, owner, overdue or limit",
                )),
            }
        }
        if errors.is_empty() {
            Ok(f)
        } else {
            Err(errors)
        }
    }

    /// Whether the filter selects open cases only, which the case index lists first.
    pub fn open_only(&self) -> bool {
        match self.state.as_str() {
            "open" => true,
            "all" => false,
            s => serde_json::from_value::<CaseState>(serde_json::json!(s))
                .is_ok_and(CaseState::is_open),
        }
    }

    /// Whether the filter asks for every open case, which the index counts without reading.
    pub fn all_open(&self) -> bool {
        self.state == "open"
            && self.priority.is_none()
            && self.team.is_none()
            && self.owner.is_none()
            && !self.overdue
    }

    /// Whether the case the index `entry` stands for passes the filter.
    pub fn matches(&self, entry: &IndexEntry, now: Timestamp) -> bool {
        let open = entry.state.is_open();
        let state = match self.state.as_str() {
            "open" => open,
            "all" => true,
            s => entry.state.as_str() == s,
        };
        state
            && self
                .priority
                .as_deref()
                .is_none_or(|p| entry.key.priority == p)
            && self.team.as_deref().is_none_or(|t| entry.team == t)
            && self
                .owner
                .as_deref()
                .is_none_or(|o| entry.owner.as_deref() == Some(o))
            && (!self.overdue || (open && entry.key.due < now))
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseSummary {
    pub id: String,
    pub state: CaseState,
    pub priority: Priority,
    pub team: String,
    pub owner: Option<String>,
    pub next_due: Timestamp,
    pub overdue: bool,
    pub score: Option<String>,
    pub customer: String,
    pub comment_excerpt: Option<String>,
    pub opened_at: Timestamp,
    /// The score the customer gave when answering the follow-up, if any.
    pub new_score: Option<String>,
    pub recovered_detractor: bool,
}

impl CaseSummary {
    pub fn new(case: &Case, feedback: Option<&Feedback>, now: Timestamp) -> Self {
        CaseSummary {
            id: case.id.clone(),
            state: case.state,
            priority: case.triage.priority,
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
            new_score: case
                .customer_answer
                .as_ref()
                .and_then(|a| a.score)
                .map(|s| s.label()),
            recovered_detractor: case.recovered_detractor(feedback.and_then(|f| f.score)),
        }
    }
}

/// Sorts a timeline by time, keeping the order events were recorded in where their times are
/// equal (a case opened and assigned by one fold): ids are derived from what the events are
/// about, so ordering ties by id would order them by a hash.
pub fn sort_timeline(events: &mut [CaseEvent]) {
    events.sort_by_key(|e| e.at);
}

/// A case with everything needed to work on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseView {
    pub case: Case,
    pub feedback: Option<Feedback>,
    pub timeline: Vec<CaseEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_timeline_keeps_the_recorded_order_of_events_at_one_time() {
        let at = |s: &str| s.parse::<crate::Timestamp>().unwrap();
        let event = |id: &str, when: &str, kind: crate::case::EventKind| CaseEvent {
            id: id.into(),
            case_id: "c".into(),
            at: at(when),
            actor: "triage".into(),
            kind,
            from: None,
            to: None,
            detail: String::new(),
        };
        use crate::case::EventKind::{Assigned, FeedbackReceived, Opened};
        // Ids that sort against the recorded order.
        let mut events = vec![
            event("z", "2026-12-02T10:00:01Z", Opened),
            event("a", "2026-12-02T10:00:01Z", Assigned),
            event("m", "2026-12-02T10:00:00Z", FeedbackReceived),
        ];
        sort_timeline(&mut events);
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [FeedbackReceived, Opened, Assigned]);
    }

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
    fn filters_are_strict_and_limited() {
        let parse = |q: &str| {
            CaseFilter::parse(
                form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())),
            )
        };
        let f = parse("state=all&priority=P1&owner=Dana&overdue=true").unwrap();
        assert_eq!(
            (f.state.as_str(), f.priority.as_deref(), f.overdue),
            ("all", Some("P1"), true)
        );
        assert_eq!(parse("").unwrap().limit, DEFAULT_LIST_LIMIT);
        assert_eq!(
            parse(&format!("limit={MAX_LIST_LIMIT}")).unwrap().limit,
            MAX_LIST_LIMIT
        );
        assert!(parse(&format!("limit={}", MAX_LIST_LIMIT + 1)).is_err());
        assert!(parse("limit=0").is_err());
        let errs = parse("state=done&priority=P9&sort=x").unwrap_err();
        assert_eq!(
            errs.iter().map(|e| e.pointer.as_str()).collect::<Vec<_>>(),
            ["/query/state", "/query/priority", "/query/sort"]
        );
    }

    #[test]
    fn assign_outreach_close_and_watch_inputs() {
        fn errs<T: serde::de::DeserializeOwned>(
            v: serde_json::Value,
            f: impl Fn(T) -> Result<Action, Vec<FieldError>>,
        ) -> Vec<String> {
            match f(serde_json::from_value(v).unwrap()) {
                Ok(_) => vec![],
                Err(e) => e.into_iter().map(|e| e.pointer).collect(),
            }
        }
        assert_eq!(errs(json!({}), AssignInput::into_action), ["/to"]);
        assert!(errs(json!({"to": "Bo"}), AssignInput::into_action).is_empty());
        assert_eq!(
            errs(json!({"channel": "fax"}), OutreachInput::into_action),
            ["/channel", "/outcome"]
        );
        assert!(
            errs(
                json!({"channel": "phone", "outcome": "reached"}),
                OutreachInput::into_action
            )
            .is_empty()
        );
        assert_eq!(
            errs(json!({"reason": " "}), CloseInput::into_action),
            ["/reason"]
        );
        assert_eq!(
            errs(
                json!({"reason": "r".repeat(MAX_TEXT_CHARS + 1)}),
                CloseInput::into_action
            ),
            ["/reason"]
        );
        assert!(
            errs(
                json!({"reason": "r".repeat(MAX_TEXT_CHARS)}),
                CloseInput::into_action
            )
            .is_empty()
        );
        assert_eq!(
            errs(
                json!({"watcher": "w".repeat(MAX_AGENT_CHARS + 1)}),
                WatchInput::into_action
            ),
            ["/watcher"]
        );
        assert!(
            errs(
                json!({"watcher": "w".repeat(MAX_AGENT_CHARS)}),
                WatchInput::into_action
            )
            .is_empty()
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
        assert_eq!(
            parse(json!({"text": "also the towels", "from_customer": true}))
                .unwrap()
                .2,
            EventKind::CustomerFeedback
        );
        assert!(parse(json!({"text": "x", "by": "a".repeat(MAX_AGENT_CHARS + 1)})).is_err());
    }
}
