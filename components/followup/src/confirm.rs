//! The customer's side: `GET /v1/confirm/{token}` shows the question, `POST` records the
//! answer. Every refusal is a page a customer can understand, and changes nothing.

use closeloop_edge::domain::case::{Action, Case, CaseState, CustomerAnswer};
use closeloop_edge::domain::feedback::Feedback;
use closeloop_edge::domain::link::{LinkClaims, LinkError};
use closeloop_edge::domain::problem::Problem;
use closeloop_edge::domain::{keys, page};
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::{clock, projection, stage};
use spin_sdk::http::Method;

use crate::{COMPONENT, link_key, transition};

/// A refusal: status and the page explaining it.
fn refusal(status: u16, heading: &str, explanation: &str) -> Reply {
    Reply::html(status, page::error_page(heading, explanation))
}

fn link_refusal(error: LinkError) -> Reply {
    match error {
        LinkError::Expired => refusal(
            410,
            "This link has expired",
            "Links to confirm a fix are valid for a limited time, and this one is past it.",
        ),
        LinkError::Malformed | LinkError::BadSignature => {
            refusal(400, "This link is not valid", &error.to_string())
        }
    }
}

/// Checks the token and that its case is still waiting for this answer.
fn check(kv: &Kv, token: &str) -> Result<Result<(LinkClaims, Case), Reply>, Problem> {
    let claims = match link_key()?.verify(token, clock::now()) {
        Ok(claims) => claims,
        Err(error) => return Ok(Err(link_refusal(error))),
    };
    let Some(case) = kv.get::<Case>(&keys::case(&claims.case_id))? else {
        return Ok(Err(refusal(
            404,
            "We could not find this request",
            "It may have been removed.",
        )));
    };
    if kv.exists(&keys::link_claim(&claims.nonce))? {
        return Ok(Err(refusal(
            410,
            "This link has already been used",
            "Thank you: we already have your answer.",
        )));
    }
    if case.round != claims.round || case.state != CaseState::ResolvedAwaitingCustomer {
        return Ok(Err(refusal(
            410,
            "This question has already been answered",
            "The request this link was for has moved on since it was sent.",
        )));
    }
    Ok(Ok((claims, case)))
}

pub fn handle(req: &Incoming, token: &str) -> Result<Handled, Problem> {
    let kv = Kv::open()?;
    let (claims, case) = match check(&kv, token)? {
        Ok(valid) => valid,
        Err(refused) => return Ok(refused.into()),
    };
    let feedback = kv.get::<Feedback>(&keys::feedback(&case.feedback_id))?;
    let original_score = feedback.as_ref().and_then(|f| f.score);
    match req.method {
        Method::Get => {
            let summary = case
                .resolution
                .as_ref()
                .map(|r| r.summary.as_str())
                .unwrap_or("");
            let action = format!("/v1/confirm/{token}");
            Ok(Reply::html(200, page::confirm_page(&action, summary, original_score)).into())
        }
        Method::Post => {
            if req
                .require_content_type("application/x-www-form-urlencoded")
                .is_err()
            {
                return Ok(
                    refusal(415, "Please use the form", "Your answer could not be read.").into(),
                );
            }
            let form = match page::parse_answer_form(&req.body) {
                Ok(form) => form,
                Err(why) => return Ok(refusal(400, "Please check your answer", &why).into()),
            };
            let score = match (form.score, original_score) {
                (None, _) => None,
                (Some(value), Some(original)) => match original.answered_again(value) {
                    Some(score) => Some(score),
                    None => {
                        return Ok(refusal(
                            400,
                            "Please check your answer",
                            "The score must be one of the numbers shown.",
                        )
                        .into());
                    }
                },
                (Some(_), None) => None,
            };
            if !kv.claim(&keys::link_claim(&claims.nonce))? {
                return Ok(refusal(
                    410,
                    "This link has already been used",
                    "Thank you: we already have your answer.",
                )
                .into());
            }
            let now = clock::now();
            let answer = CustomerAnswer {
                resolved: form.resolved,
                score,
                comment: form.comment,
                answered_at: now,
            };
            let (_, notice) = transition(&kv, &case.id, Action::CustomerAnswer(answer), now)?;
            let reply = Reply::html(200, page::answered_page(form.resolved));
            Ok(Handled::then(reply, move || {
                if let Some(notice) = notice {
                    stage::notify_dispatch(COMPONENT, &notice.id);
                }
                projection::catch_up_logged(COMPONENT);
            }))
        }
        _ => Err(http::method_not_allowed("GET or POST")),
    }
}
