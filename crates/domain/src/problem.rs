//! RFC 9457 problem details: every error closeloop answers with, with a stable `type`.
//!
//! A client can branch on `type`; a person reads `detail`. Internals (store errors, upstream
//! replies, secrets) never reach either: the components log them and answer a generic problem.

use serde::Serialize;

/// The media type of every error body.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// One invalid field of a request, located by a JSON pointer (RFC 6901).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub pointer: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

/// The kinds of problem, each with its status and stable type (serialized as its slug).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    MalformedJson,
    MalformedForm,
    UnsupportedMediaType,
    PayloadTooLarge,
    InvalidRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    InvalidTransition,
    Conflict,
    StoreUnavailable,
    /// A provider's API did not answer usably (ingest fetches survey responses from some
    /// platforms, and received emails from Resend).
    UpstreamUnavailable,
    Internal,
}

impl ProblemKind {
    pub fn status(self) -> u16 {
        match self {
            Self::MalformedJson | Self::MalformedForm => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::InvalidTransition | Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::InvalidRequest => 422,
            Self::Internal => 500,
            Self::StoreUnavailable | Self::UpstreamUnavailable => 503,
        }
    }

    /// The stable slug that ends the problem's `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed-json",
            Self::MalformedForm => "malformed-form",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::PayloadTooLarge => "payload-too-large",
            Self::InvalidRequest => "invalid-request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::InvalidTransition => "invalid-transition",
            Self::Conflict => "conflict",
            Self::StoreUnavailable => "store-unavailable",
            Self::UpstreamUnavailable => "upstream-unavailable",
            Self::Internal => "internal",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::MalformedJson => "The body is not valid JSON",
            Self::MalformedForm => "The form could not be read",
            Self::UnsupportedMediaType => "Unsupported content type",
            Self::PayloadTooLarge => "The body is too large",
            Self::InvalidRequest => "The request is invalid",
            Self::Unauthorized => "Missing or wrong credentials",
            Self::Forbidden => "This credential may not do that",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::InvalidTransition => "The case cannot make that change now",
            Self::Conflict => "Someone else changed this first",
            Self::StoreUnavailable => "Storage is unavailable; try again",
            Self::UpstreamUnavailable => "A provider's API did not answer; try again",
            Self::Internal => "Internal error",
        }
    }
}

/// A problem to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub detail: String,
    pub errors: Vec<FieldError>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// A 500 for a setting the operator left out: it names no variable (the caller may answer
    /// an outside provider); the caller logs which one.
    pub fn not_configured() -> Self {
        Self::new(
            ProblemKind::Internal,
            "closeloop is not fully configured; the operator has been told",
        )
    }

    /// A 422 listing each invalid field.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.pointer, one.detail),
            many => format!("{} fields are invalid; see `errors`", many.len()),
        };
        Self {
            kind: ProblemKind::InvalidRequest,
            detail,
            errors,
        }
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    pub fn type_uri(&self) -> String {
        format!("urn:closeloop:problem:{}", self.kind.slug())
    }

    /// The `application/problem+json` body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&Body {
            type_uri: self.type_uri(),
            title: self.kind.title(),
            status: self.status(),
            detail: &self.detail,
            errors: &self.errors,
        })
        .expect("a problem always serializes")
    }
}

/// Turns a JSON parse failure of a strict API body into the right problem: a syntax error is
/// a malformed body (400); a well-formed body of the wrong shape (unknown field, wrong type)
/// is an invalid request (422) whose detail is serde's own, which names the field.
pub fn from_json_error(error: &serde_json::Error) -> Problem {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => Problem::new(
            ProblemKind::MalformedJson,
            format!("the body is not valid JSON: {error}"),
        ),
        Category::Data => Problem::new(ProblemKind::InvalidRequest, error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc9457_fields() {
        let p = Problem::invalid(vec![FieldError::new("/score/value", "must be 0 to 10")]);
        let v: serde_json::Value = serde_json::from_slice(&p.to_json()).unwrap();
        assert_eq!(v["type"], "urn:closeloop:problem:invalid-request");
        assert_eq!(v["status"], 422);
        assert_eq!(v["detail"], "/score/value: must be 0 to 10");
        assert_eq!(v["errors"][0]["pointer"], "/score/value");
    }

    #[test]
    fn classifies_json_errors() {
        let syntax = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        assert_eq!(from_json_error(&syntax).status(), 400);
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            a: u8,
        }
        let data = serde_json::from_str::<S>(r#"{"a":1,"b":2}"#).unwrap_err();
        let p = from_json_error(&data);
        assert_eq!(p.status(), 422);
        assert!(p.detail.contains("unknown field `b`"), "{}", p.detail);
    }
}
