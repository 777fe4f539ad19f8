//! Fetching a response from a platform's API (SurveyMonkey, Qualtrics), whose webhooks carry
//! only ids: what to ask with which credential, and what each answer means for the webhook.
//!
//! The component sends the request (Spin's outbound HTTP) before it submits anything, so a
//! failed fetch stores nothing. An API that is down, slow or refuses the token answers `503`
//! to the webhook, so the platform retries it later; a response the API no longer has, or one
//! too large to take, is refused for good (`422`): retrying cannot help.

use std::time::Duration;

use super::{Connection, FetchRequest, MAX_FETCHED_BYTES, Platform, SourceResponse};
use crate::problem::{Problem, ProblemKind};

/// How long a platform's API may take to return a response; well inside every platform's own
/// webhook timeout (Formbricks waits 5 s, Tally 10 s, Typeform 30 s).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(4);

/// A GET to send to the platform's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
}

/// Why a fetch gave no response: the problem to answer, and what went wrong, for the log
/// (never a secret).
#[derive(Debug, Clone, PartialEq)]
pub struct FetchFailure {
    pub problem: Problem,
    pub why: String,
}

/// The request that returns the response `f` points at, with the connection's credential.
pub fn request(c: &Connection, f: &FetchRequest) -> Result<ApiRequest, Problem> {
    let api = c.api.as_ref().ok_or_else(|| {
        Problem::new(
            ProblemKind::Internal,
            "the connection has no API access configured",
        )
    })?;
    let credential = match c.platform {
        Platform::Qualtrics => ("x-api-token", api.token.clone()),
        _ => ("authorization", format!("Bearer {}", api.token)),
    };
    Ok(ApiRequest {
        url: format!("{}{}", api.base_url, f.path),
        headers: vec![credential, ("accept", "application/json".to_owned())],
    })
}

/// Reads the API's answer: its status and body (at most [`MAX_FETCHED_BYTES`] + 1 bytes
/// read), or why the request got none.
pub fn read_answer(
    c: &Connection,
    f: &FetchRequest,
    answer: Result<(u16, Vec<u8>), String>,
) -> Result<SourceResponse, FetchFailure> {
    let title = c.platform.title();
    let retry = |why: String| FetchFailure {
        problem: Problem::new(
            ProblemKind::UpstreamUnavailable,
            format!("{title}'s API did not return the response; the platform will retry"),
        ),
        why,
    };
    let refuse = |status: u16, detail: String| FetchFailure {
        problem: Problem::new(ProblemKind::InvalidRequest, detail),
        why: format!("status {status}"),
    };
    match answer {
        Err(e) => Err(retry(e)),
        Ok((status @ 200..=299, body)) if body.len() <= MAX_FETCHED_BYTES => {
            super::parse_fetched(c, f, &body).map_err(|problem| FetchFailure {
                problem,
                why: format!("status {status} with an unreadable body"),
            })
        }
        Ok((status @ 200..=299, _)) => Err(refuse(
            status,
            format!("the fetched response is larger than {MAX_FETCHED_BYTES} bytes"),
        )),
        Ok((status @ (404 | 410), _)) => Err(refuse(
            status,
            format!("{title} no longer has response {}", f.response_id),
        )),
        Ok((status @ (401 | 403), _)) => Err(retry(format!(
            "the API refused the connection's token ({status}); rotate it"
        ))),
        Ok((status, _)) => Err(retry(format!("status {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::connection::ApiAccess;

    fn connection(platform: Platform) -> Connection {
        let at = chrono::DateTime::UNIX_EPOCH;
        Connection {
            id: "c1".into(),
            platform,
            name: "n".into(),
            source: platform.as_str().into(),
            signing_secret: None,
            api_key: None,
            url_token: None,
            api: Some(ApiAccess {
                base_url: "https://api.example.com".into(),
                token: "tok-0123456789abcdef".into(),
            }),
            mapping: Default::default(),
            created_at: at,
            updated_at: at,
        }
    }

    fn fetch() -> FetchRequest {
        FetchRequest {
            event_id: "e1".into(),
            response_id: "R_1".into(),
            path: "/API/v3/surveys/SV_1/responses/R_1".into(),
            sequence: 0,
        }
    }

    #[test]
    fn each_platform_gets_its_credential_header() {
        let q = request(&connection(Platform::Qualtrics), &fetch()).unwrap();
        assert_eq!(
            q.url,
            "https://api.example.com/API/v3/surveys/SV_1/responses/R_1"
        );
        assert!(
            q.headers
                .contains(&("x-api-token", "tok-0123456789abcdef".into()))
        );
        let s = request(&connection(Platform::Surveymonkey), &fetch()).unwrap();
        assert!(
            s.headers
                .contains(&("authorization", "Bearer tok-0123456789abcdef".into()))
        );
        let mut none = connection(Platform::Qualtrics);
        none.api = None;
        assert_eq!(request(&none, &fetch()).unwrap_err().status(), 500);
    }

    #[test]
    fn answers_the_platform_may_retry_are_503_and_the_others_422() {
        let c = connection(Platform::Qualtrics);
        let failure = |answer| read_answer(&c, &fetch(), answer).unwrap_err();
        for (answer, why) in [
            (Err("connection refused".to_owned()), "connection refused"),
            (Ok((500, b"{}".to_vec())), "status 500"),
            (
                Ok((401, vec![])),
                "refused the connection's token (401); rotate it",
            ),
            (Ok((403, vec![])), "(403); rotate it"),
            (Ok((429, vec![])), "status 429"),
        ] {
            let f = failure(answer.clone());
            assert_eq!(f.problem.status(), 503, "{answer:?}");
            assert!(f.why.contains(why), "{}", f.why);
        }
        for status in [404, 410] {
            let f = failure(Ok((status, vec![])));
            assert_eq!(f.problem.status(), 422, "{status}");
            assert!(f.problem.detail.contains("no longer has response R_1"));
        }
        // An answer that is not the platform's: refused, not retried (JSON of another shape
        // is 422, not JSON at all 400).
        let f = failure(Ok((200, b"[]".to_vec())));
        assert_eq!(f.problem.status(), 422);
        assert!(f.why.contains("unreadable"), "{}", f.why);
        let f = failure(Ok((200, b"<html>".to_vec())));
        assert_eq!(f.problem.status(), 400);
    }

    #[test]
    fn fetched_bodies_at_and_past_the_limit() {
        let c = connection(Platform::Qualtrics);
        let at_limit = vec![b' '; MAX_FETCHED_BYTES];
        let f = read_answer(&c, &fetch(), Ok((200, at_limit))).unwrap_err();
        assert!(
            !f.problem.detail.contains("larger than"),
            "at the limit it is read: {}",
            f.problem.detail
        );
        let past = vec![b' '; MAX_FETCHED_BYTES + 1];
        let f = read_answer(&c, &fetch(), Ok((200, past))).unwrap_err();
        assert!(
            f.problem.detail.contains("larger than"),
            "{}",
            f.problem.detail
        );
        assert_eq!(f.problem.status(), 422);
    }
}
