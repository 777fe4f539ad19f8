//! The console as a client of closeloop's HTTP API: what it calls and the views it reads.
//!
//! The console never touches the store and never decides what a case may do: every read and
//! every action is a call to the agent API (`{cases_url}/v1/cases...`) or the metrics API
//! (`{metrics_url}/v1/metrics`) with the signed-in user's key. Its answers are read as the
//! domain's own types ([`CaseSummary`], [`CaseView`], [`Report`]), the ones the API writes them
//! from, so the console cannot drift from the API; fields it does not know are ignored.

use closeloop_domain::api::{CaseSummary, CaseView};
use closeloop_domain::metrics::report::Report;
use serde::Deserialize;
use serde_json::Value;

/// How many open cases the inbox shows.
pub const INBOX_LIMIT: usize = 200;

/// An answer from the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiReply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl ApiReply {
    /// The `detail` of a problem answer, or a generic sentence.
    pub fn detail(&self) -> String {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| {
                let detail = v.get("detail")?.as_str()?.to_owned();
                let fields: Vec<String> = v
                    .get("errors")
                    .and_then(Value::as_array)
                    .map(|errors| {
                        errors
                            .iter()
                            .filter_map(|e| {
                                Some(format!(
                                    "{} {}",
                                    e.get("pointer")?.as_str()?.trim_start_matches('/'),
                                    e.get("detail")?.as_str()?
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Some(if fields.is_empty() {
                    detail
                } else {
                    format!("{detail}: {}", fields.join("; "))
                })
            })
            .unwrap_or_else(|| format!("the API answered {}", self.status))
    }

    fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::Unreachable(format!("an unreadable answer: {e}")))
    }
}

/// Why a call did not give what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The API refused the key (401) or the role (403); `detail` says why.
    Refused { status: u16, detail: String },
    /// The API answered with another error status; `detail` is its problem's detail.
    Failed { status: u16, detail: String },
    /// No usable answer: connection, timeout, not JSON.
    Unreachable(String),
}

impl ApiError {
    fn from_reply(reply: &ApiReply) -> Self {
        let detail = reply.detail();
        match reply.status {
            401 | 403 => ApiError::Refused {
                status: reply.status,
                detail,
            },
            status => ApiError::Failed { status, detail },
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            ApiError::Refused { detail, .. } | ApiError::Failed { detail, .. } => detail,
            ApiError::Unreachable(d) => d,
        }
    }
}

/// How the console reaches the API: service chaining in the component, a fake in tests.
pub trait Backend {
    /// Sends `method url` with `Authorization: Bearer <key>` and, when given, a JSON body.
    fn send(
        &self,
        method: &str,
        url: &str,
        key: &str,
        body: Option<&Value>,
    ) -> Result<ApiReply, String>;
}

/// The API with one user's credential: the key at sign-in, the session token after.
pub struct Api<'a> {
    pub backend: &'a dyn Backend,
    pub cases_url: &'a str,
    pub metrics_url: &'a str,
    pub key: &'a str,
    /// Whether the console is served over https (cookies it clears are `Secure`).
    pub secure: bool,
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl Api<'_> {
    fn call(&self, method: &str, url: &str, body: Option<&Value>) -> Result<ApiReply, ApiError> {
        let reply = self
            .backend
            .send(method, url, self.key, body)
            .map_err(ApiError::Unreachable)?;
        if (200..300).contains(&reply.status) {
            Ok(reply)
        } else {
            Err(ApiError::from_reply(&reply))
        }
    }

    /// A console session for the key (`POST /v1/sessions`): its token, or why not (401: the
    /// key is not accepted).
    pub fn open_session(&self) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct Opened {
            token: String,
        }
        let opened: Opened = self
            .call("POST", &format!("{}/v1/sessions", self.cases_url), None)?
            .parse()?;
        Ok(opened.token)
    }

    /// Ends every console session of the session's credential (`POST /v1/sessions/sign-out`).
    pub fn sign_out(&self) -> Result<(), ApiError> {
        let url = format!("{}/v1/sessions/sign-out", self.cases_url);
        self.call("POST", &url, None).map(|_| ())
    }

    /// The open cases, most urgent first, optionally of one team.
    pub fn inbox(&self, team: Option<&str>) -> Result<CaseList, ApiError> {
        let mut url = format!("{}/v1/cases?state=open&limit={INBOX_LIMIT}", self.cases_url);
        if let Some(team) = team {
            url.push_str(&format!("&team={}", encode(team)));
        }
        self.call("GET", &url, None)?.parse()
    }

    pub fn case(&self, id: &str) -> Result<CaseView, ApiError> {
        self.call(
            "GET",
            &format!("{}/v1/cases/{}", self.cases_url, encode(id)),
            None,
        )?
        .parse()
    }

    /// `POST /v1/cases/{id}/{action}` with `body`.
    pub fn act(&self, id: &str, action: &str, body: &Value) -> Result<(), ApiError> {
        self.call(
            "POST",
            &format!("{}/v1/cases/{}/{action}", self.cases_url, encode(id)),
            Some(body),
        )
        .map(|_| ())
    }

    /// `GET /v1/metrics` for the inclusive UTC days `from..=to`, optionally of one team.
    pub fn metrics(&self, from: &str, to: &str, team: Option<&str>) -> Result<Report, ApiError> {
        let mut url = format!(
            "{}/v1/metrics?from={}&to={}",
            self.metrics_url,
            encode(from),
            encode(to)
        );
        if let Some(team) = team {
            url.push_str(&format!("&team={}", encode(team)));
        }
        self.call("GET", &url, None)?.parse()
    }
}

/// `GET /v1/cases`: the domain's own case summaries (the answer's other fields, such as
/// `recovered_detractors` and `projection`, are not shown by the inbox and are ignored).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CaseList {
    pub cases: Vec<CaseSummary>,
    pub total: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_details_reach_the_user() {
        let reply = ApiReply {
            status: 422,
            body: br#"{"type":"x","status":422,"detail":"the input is not valid","errors":[{"pointer":"/root_cause","detail":"is required"}]}"#.to_vec(),
        };
        assert_eq!(
            reply.detail(),
            "the input is not valid: root_cause is required"
        );
        let reply = ApiReply {
            status: 502,
            body: b"<html>".to_vec(),
        };
        assert_eq!(reply.detail(), "the API answered 502");
    }

    #[test]
    fn the_metrics_contract_parses() {
        let zero = r#"{"volume":0,"cases":0,"nps":{"score":null,"responses":0,"promoters":0,"passives":0,"detractors":0},
              "csat":{"score":null,"responses":0,"satisfied":0},"ces":{"average":null,"responses":0},
              "alert_latency_seconds":{"count":0,"median":null,"p90":null},
              "first_response_seconds":{"count":0,"median":null,"p90":null},
              "time_to_resolve_seconds":{"count":0,"median":null,"p90":null},
              "closed":0,"closure_rate":null,"sla_breaches":0,"sla_breach_rate":null,"asked":0,"confirmed":0,
              "confirmation_rate":null,"reopened":0,"reopen_rate":null,"recovered_detractors":0,"promoter_followups":0,
              "root_causes":{}}"#;
        let m: Report = serde_json::from_str(
            &r#"{"period":{"from":"2026-11-01","to":"2026-11-30"},
            "previous_period":{"from":"2026-10-02","to":"2026-10-31"},
            "filter":{"team":null,"source":null,"topic":null},
            "as_of":"2026-11-23T15:00:00Z",
            "totals":{"volume":3,"cases":3,"nps":{"score":-33.3,"responses":3,"promoters":0,"passives":1,"detractors":2},
              "csat":{"score":null,"responses":0,"satisfied":0},"ces":{"average":null,"responses":0},
              "alert_latency_seconds":{"count":2,"median":1.5,"p90":2.0},
              "first_response_seconds":{"count":1,"median":60.0,"p90":60.0},
              "time_to_resolve_seconds":{"count":0,"median":null,"p90":null},
              "closed":1,"closure_rate":0.33,"sla_breaches":0,"sla_breach_rate":0.0,"asked":1,"confirmed":0,
              "confirmation_rate":0.0,"reopened":0,"reopen_rate":null,"recovered_detractors":0,"promoter_followups":0,
              "root_causes":{"facilities":1}},
            "previous":ZERO,
            "groups":{},
            "series":[{"date":"2026-11-01","volume":3,"nps":-33.3,"csat":null,"cases":3,"closed":1,"alerts":2}],
            "topics":[{"topic":"billing","count":12,"previous":4,"change":8,"rising":true,
              "examples":[{"feedback_id":"f1","case_id":"c1","sentiment":-0.8,"comment":"charged twice"}]}],
            "projection":{"behind":0}}"#
                .replace("ZERO", zero),
        )
        .unwrap();
        assert_eq!(m.totals.nps.detractors, 2);
        assert_eq!(m.totals.root_causes["facilities"], 1);
        assert_eq!(m.series[0].nps, Some(-33.3));
        assert!(m.topics[0].rising);
        assert_eq!(
            m.topics[0].examples[0].comment.as_deref(),
            Some("charged twice")
        );
        assert_eq!(m.previous.volume, 0);
    }
}
