//! Survey platforms: their webhooks, verified and read into canonical feedback.
//!
//! A team connects a platform once through the admin API ([`connection`]); the platform then
//! posts to `/v1/sources/{connection_id}` (plus `/{url_token}` for platforms that do not sign).
//! For each delivery, ingest
//!
//! 1. verifies it exactly as the platform signs ([`verify`], one adapter per platform), before
//!    reading a byte of it as data;
//! 2. parses it leniently into a [`SourceResponse`] (unknown fields ignored), or, for
//!    platforms whose webhooks carry only ids (SurveyMonkey, Qualtrics), into a
//!    [`FetchRequest`] that the component sends with the connection's API credentials;
//! 3. maps it with the connection's [`Mapping`] ([`response::to_feedback`]) into a
//!    [`SourceEvent`]; the feedback is the [`merge`] of every event of the same response, so a
//!    comment that arrives after the score updates one feedback. Fetching is [`fetch`]; keeping
//!    the events and the feedback is the fold's (`closeloop_workflow::fold::sources`).
//!
//! Adapters: [`typeform`], [`delighted`], [`formbricks`], [`tally`], [`surveymonkey`],
//! [`qualtrics`], [`jotform`], [`asknicely`], [`google_forms`].

pub mod asknicely;
pub mod connection;
pub mod delighted;
pub mod fetch;
pub mod formbricks;
pub mod google_forms;
pub mod jotform;
pub mod qualtrics;
pub mod response;
pub mod surveymonkey;
pub mod tally;
pub mod typeform;
pub mod verify;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Timestamp;
use crate::feedback::{Feedback, SourcedFeedback};
use crate::problem::{Problem, ProblemKind};

pub use connection::Connection;
pub use response::{Mapping, SourceResponse};
pub use verify::AuthError;

/// The largest webhook body accepted from a platform (Jotform's multipart bodies are the
/// biggest; file uploads are sent as links).
pub const MAX_WEBHOOK_BYTES: usize = 256 * 1024;
/// The largest response fetched back from a platform's API.
pub const MAX_FETCHED_BYTES: usize = 256 * 1024;
/// The most events one response may collect (later ones are refused: a loop, not feedback).
pub const MAX_EVENTS_PER_RESPONSE: usize = 100;
/// The longest platform event or response id used in keys (hashed, but bounded).
pub const MAX_PLATFORM_ID_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    Typeform,
    Delighted,
    Formbricks,
    Tally,
    Surveymonkey,
    Qualtrics,
    Jotform,
    Asknicely,
    GoogleForms,
}

impl Platform {
    pub const ALL: [Platform; 9] = [
        Self::Typeform,
        Self::Delighted,
        Self::Formbricks,
        Self::Tally,
        Self::Surveymonkey,
        Self::Qualtrics,
        Self::Jotform,
        Self::Asknicely,
        Self::GoogleForms,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Typeform => "typeform",
            Self::Delighted => "delighted",
            Self::Formbricks => "formbricks",
            Self::Tally => "tally",
            Self::Surveymonkey => "surveymonkey",
            Self::Qualtrics => "qualtrics",
            Self::Jotform => "jotform",
            Self::Asknicely => "asknicely",
            Self::GoogleForms => "google-forms",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Typeform => "Typeform",
            Self::Delighted => "Delighted",
            Self::Formbricks => "Formbricks",
            Self::Tally => "Tally",
            Self::Surveymonkey => "SurveyMonkey",
            Self::Qualtrics => "Qualtrics",
            Self::Jotform => "Jotform",
            Self::Asknicely => "AskNicely",
            Self::GoogleForms => "Google Forms",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether the platform signs its webhooks (else the URL carries a secret token).
    pub fn signs(self) -> bool {
        matches!(
            self,
            Self::Typeform
                | Self::Formbricks
                | Self::Tally
                | Self::Surveymonkey
                | Self::GoogleForms
        )
    }

    /// Whether its webhooks carry only ids, so the response is fetched from its API.
    pub fn fetches(self) -> bool {
        matches!(self, Self::Surveymonkey | Self::Qualtrics)
    }

    pub fn default_api_base(self) -> Option<&'static str> {
        match self {
            Self::Surveymonkey => Some("https://api.surveymonkey.com"),
            _ => None,
        }
    }
}

/// A webhook delivery as received.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub headers: &'a [(String, Vec<u8>)],
    pub body: &'a [u8],
    /// The token in the URL, if any.
    pub url_token: Option<&'a str>,
}

impl<'a> Delivery<'a> {
    /// The last value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    fn require(&self, name: &'static str) -> Result<&'a str, AuthError> {
        self.header(name).ok_or(AuthError::MissingHeader(name))
    }

    pub fn content_type(&self) -> &'a str {
        self.header("content-type").unwrap_or("")
    }
}

/// What a delivery asks closeloop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A response to store.
    Response(SourceResponse),
    /// A response to fetch from the platform's API first.
    Fetch(FetchRequest),
    /// An event closeloop does not act on (an unsubscribe, a test ping): acknowledged.
    Ignored { reason: String },
}

/// A GET to the platform's API that returns the response a webhook pointed at.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchRequest {
    pub event_id: String,
    pub response_id: String,
    /// Appended to the connection's API base URL.
    pub path: String,
    /// Orders this event among the response's others.
    pub sequence: i64,
}

/// Refuses another event for a response that already has `prior` events.
pub fn check_event_count(prior: usize, response_id: &str) -> Result<(), Problem> {
    if prior >= MAX_EVENTS_PER_RESPONSE {
        return Err(Problem::new(
            ProblemKind::InvalidRequest,
            format!(
                "response {response_id} already has {MAX_EVENTS_PER_RESPONSE} events; no more are taken"
            ),
        ));
    }
    Ok(())
}

/// Requires the media type `expected` (parameters such as charset allowed): 415 naming what
/// `platform` sends otherwise.
pub(crate) fn require_media_type(
    d: &Delivery,
    expected: &str,
    platform: &str,
) -> Result<(), Problem> {
    let essence = d.content_type().split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case(expected) {
        return Ok(());
    }
    let got = match essence {
        "" => "no content type".to_owned(),
        other => other.to_owned(),
    };
    Err(Problem::new(
        ProblemKind::UnsupportedMediaType,
        format!("{platform} webhooks post {expected} (got {got})"),
    ))
}

/// A well-formed payload that is not what the platform sends (a missing id, no event type):
/// 422 naming what is missing; the platform may retry (harmless).
pub fn malformed(detail: impl Into<String>) -> Problem {
    Problem::new(ProblemKind::InvalidRequest, detail)
}

/// Checks a delivery's signature (or URL token) as the connection's platform signs.
pub fn verify(c: &Connection, d: &Delivery, now: Timestamp) -> Result<(), AuthError> {
    // A URL token, when the connection has one, is always checked; signing platforms may use
    // one as well.
    if c.url_token.is_some() || !c.platform.signs() {
        verify::url_token(d.url_token, c.url_token.as_deref())?;
    }
    if !c.platform.signs() {
        // Platforms that sign only when the connection has their shared key.
        return match (c.platform, c.signing_secret.as_deref()) {
            (Platform::Delighted, Some(secret)) => delighted::verify(secret, d),
            (Platform::Qualtrics, Some(secret)) => qualtrics::verify(secret, d),
            _ => Ok(()),
        };
    }
    let secret = c.signing_secret.as_deref().ok_or(AuthError::NoSecret)?;
    match c.platform {
        Platform::Typeform => typeform::verify(secret, d),
        Platform::Formbricks => formbricks::verify(secret, d, now),
        Platform::Tally => tally::verify(secret, d),
        Platform::Surveymonkey => {
            surveymonkey::verify(c.api_key.as_deref().unwrap_or(""), secret, d)
        }
        Platform::GoogleForms => google_forms::verify(secret, d, now),
        _ => Ok(()),
    }
}

/// Reads a verified delivery.
pub fn parse(c: &Connection, d: &Delivery) -> Result<Parsed, Problem> {
    let parsed = match c.platform {
        Platform::Typeform => typeform::parse(d.body),
        Platform::Delighted => delighted::parse(d),
        Platform::Formbricks => formbricks::parse(d),
        Platform::Tally => tally::parse(d.body),
        Platform::Surveymonkey => surveymonkey::parse(d.body),
        Platform::Qualtrics => qualtrics::parse(d),
        Platform::Jotform => jotform::parse(d),
        Platform::Asknicely => asknicely::parse(d.body),
        Platform::GoogleForms => google_forms::parse(d.body),
    }?;
    check_ids(&parsed)?;
    Ok(parsed)
}

/// Reads what a platform's API answered to a [`FetchRequest`].
pub fn parse_fetched(
    c: &Connection,
    f: &FetchRequest,
    body: &[u8],
) -> Result<SourceResponse, Problem> {
    match c.platform {
        Platform::Surveymonkey => surveymonkey::parse_details(f, body),
        Platform::Qualtrics => qualtrics::parse_response(f, body),
        p => Err(malformed(format!(
            "{} responses are not fetched",
            p.title()
        ))),
    }
}

fn check_ids(p: &Parsed) -> Result<(), Problem> {
    let ids = match p {
        Parsed::Response(r) => [&r.event_id, &r.response_id],
        Parsed::Fetch(f) => [&f.event_id, &f.response_id],
        Parsed::Ignored { .. } => return Ok(()),
    };
    for id in ids {
        if id.trim().is_empty() || id.chars().count() > MAX_PLATFORM_ID_CHARS {
            return Err(Problem::new(
                ProblemKind::InvalidRequest,
                format!(
                    "the payload's event or response id is empty or longer than {MAX_PLATFORM_ID_CHARS} characters"
                ),
            ));
        }
    }
    Ok(())
}

/// Parses JSON leniently into `T`, as a 400 problem naming the platform when it is not JSON.
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    platform: &str,
    body: &[u8],
) -> Result<T, Problem> {
    serde_json::from_slice(body).map_err(|e| {
        // Valid JSON of the wrong shape (a missing field, a wrong type) is 422, not "not JSON".
        let kind = match e.classify() {
            serde_json::error::Category::Data => ProblemKind::InvalidRequest,
            _ => ProblemKind::MalformedJson,
        };
        Problem::new(
            kind,
            format!("this is not a {platform} webhook payload: {e}"),
        )
    })
}

/// Unix seconds (number or numeric string) as a time.
pub(crate) fn unix_time(v: &Value) -> Option<Timestamp> {
    let secs = response::value_number(v)?;
    chrono::DateTime::from_timestamp(secs, 0)
}

/// An RFC 3339 time, or a few common variants ("2026-11-23 09:30:00").
pub(crate) fn time(s: Option<&str>) -> Option<Timestamp> {
    let s = s?.trim();
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// One event of a response: the response as this event alone tells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceEvent {
    pub connection_id: String,
    pub event_id: String,
    pub sequence: i64,
    pub received_at: Timestamp,
    /// The response mapped on its own; `id` is the response's feedback id.
    pub feedback: Feedback,
}

impl SourceEvent {
    /// The event `r` delivered through connection `c`, mapped (`mapped`) and received at
    /// `now`. Its feedback id is derived as canonical feedback's is; the fold keeps the id of
    /// the feedback the response already has, if any.
    pub fn new(
        c: &Connection,
        r: &SourceResponse,
        mapped: SourcedFeedback,
        now: Timestamp,
    ) -> Self {
        let id =
            crate::feedback::derived_id(mapped.submitted_at, &mapped.source, &mapped.external_id);
        SourceEvent {
            connection_id: c.id.clone(),
            event_id: r.event_id.clone(),
            sequence: r.sequence,
            received_at: now,
            feedback: mapped.into_feedback(id, now),
        }
    }
}

impl crate::envelope::Record for Connection {
    const SCHEMA: &'static str = "connection/1";
}

/// The feedback of a response: `base` (the feedback as sent canonically before the first
/// event, if it was) or else its first event, updated by each later event in order (a later
/// event's score, comment and customer details replace earlier ones when it has them).
/// The result depends on the set of events, not on the order they arrived in.
pub fn merge(base: Option<&Feedback>, events: &[SourceEvent]) -> Option<Feedback> {
    let mut sorted: Vec<&SourceEvent> = events.iter().collect();
    sorted.sort_by(|a, b| {
        (a.sequence, a.received_at, &a.event_id).cmp(&(b.sequence, b.received_at, &b.event_id))
    });
    let (mut f, rest) = match base {
        Some(base) => (base.clone(), sorted.as_slice()),
        None => {
            let (first, rest) = sorted.split_first()?;
            (first.feedback.clone(), rest)
        }
    };
    for e in rest {
        let n = &e.feedback;
        f.score = n.score.or(f.score);
        if n.comment.is_some() {
            f.comment.clone_from(&n.comment);
        }
        let (c, nc) = (&mut f.customer, &n.customer);
        for (mine, theirs) in [
            (&mut c.id, &nc.id),
            (&mut c.email, &nc.email),
            (&mut c.name, &nc.name),
            (&mut c.phone, &nc.phone),
        ] {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
        for (k, v) in &nc.attributes {
            if c.attributes.len() < crate::feedback::MAX_MAP_ENTRIES || c.attributes.contains_key(k)
            {
                c.attributes.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in &n.metadata {
            if f.metadata.len() < crate::feedback::MAX_MAP_ENTRIES || f.metadata.contains_key(k) {
                f.metadata.insert(k.clone(), v.clone());
            }
        }
    }
    Some(f)
}

#[cfg(test)]
mod tests;
