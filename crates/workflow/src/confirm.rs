//! The customer's confirmation pages: `GET /v1/confirm/{token}` asks "is it resolved?",
//! `POST` answers it.
//!
//! Everything before the answer is a read: the link's signature and expiry, its case, and
//! whether it was used or its case moved on ([`link_status`](crate::fold::customer::link_status)),
//! so a refused link or a bad form writes nothing. A good answer becomes the
//! `CustomerAnswer` command, which the fold checks again (two answers racing through one
//! link: one counts). Every refusal is a page a customer can understand.

use closeloop_domain::Timestamp;
use closeloop_domain::case::{Case, CustomerAnswer};
use closeloop_domain::feedback::Feedback;
use closeloop_domain::link::{LinkClaims, LinkError};
use closeloop_domain::page;
use closeloop_domain::problem::Problem;
use closeloop_domain::{keys, score::Score};

use crate::fold::customer::{LinkRefusal, link_status};
use crate::fold::records::{self, CaseFile};
use crate::fold::{Command, Context, Verdict, change};
use crate::store::{Store, get_record};

/// An HTML page and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub status: u16,
    pub html: String,
}

fn refusal(status: u16, heading: &str, explanation: &str) -> Page {
    Page {
        status,
        html: page::error_page(heading, explanation),
    }
}

fn link_refusal(error: LinkError) -> Page {
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

/// The page for a link that cannot be answered.
pub fn refused(why: LinkRefusal) -> Page {
    match why {
        LinkRefusal::UnknownCase => refusal(
            404,
            "We could not find this request",
            "It may have been removed.",
        ),
        LinkRefusal::Used => refusal(
            410,
            "This link has already been used",
            "Thank you: we already have your answer.",
        ),
        LinkRefusal::MovedOn => refusal(
            410,
            "This question has already been answered",
            "The request this link was for has moved on since it was sent.",
        ),
    }
}

/// A link that may be answered: its claims, its case, and the feedback the case is about.
struct Open {
    claims: LinkClaims,
    case: Case,
    feedback: Option<Feedback>,
}

/// Checks `token` and that its case still awaits this answer.
fn check(
    store: &dyn Store,
    ctx: &Context,
    token: &str,
    now: Timestamp,
) -> Result<Result<Open, Page>, Problem> {
    let Some(key) = &ctx.link_key else {
        return Err(change::not_configured().problem().expect("a refusal"));
    };
    let claims = match key.verify::<LinkClaims>(token, now) {
        Ok(claims) => claims,
        Err(error) => return Ok(Err(link_refusal(error))),
    };
    let Some(case) = get_record::<Case, _>(store, &keys::case(&claims.case_id))? else {
        return Ok(Err(refused(LinkRefusal::UnknownCase)));
    };
    let file: Option<CaseFile> = get_record(store, &records::case_file(&case.id))?;
    if let Err(why) = link_status(&case, file.as_ref(), claims.round, &claims.nonce) {
        return Ok(Err(refused(why)));
    }
    let feedback = get_record(store, &keys::feedback(&case.feedback_id))?;
    Ok(Ok(Open {
        claims,
        case,
        feedback,
    }))
}

/// `GET`: the question, or why the link cannot be answered.
pub fn question(
    store: &dyn Store,
    ctx: &Context,
    token: &str,
    now: Timestamp,
) -> Result<Page, Problem> {
    let open = match check(store, ctx, token, now)? {
        Ok(open) => open,
        Err(refused) => return Ok(refused),
    };
    let summary = open
        .case
        .resolution
        .as_ref()
        .map_or("", |r| r.summary.as_str());
    let action = format!("/v1/confirm/{token}");
    Ok(Page {
        status: 200,
        html: page::confirm_page(&action, summary, original_score(&open)),
    })
}

fn original_score(open: &Open) -> Option<Score> {
    open.feedback.as_ref().and_then(|f| f.score)
}

/// `POST`: the command answering the link (`form` is the body, `None` when it is not a form),
/// or the page refusing it.
pub fn answer(
    store: &dyn Store,
    ctx: &Context,
    token: &str,
    form: Option<&[u8]>,
    now: Timestamp,
) -> Result<Result<Command, Page>, Problem> {
    let open = match check(store, ctx, token, now)? {
        Ok(open) => open,
        Err(refused) => return Ok(Err(refused)),
    };
    let Some(body) = form else {
        return Ok(Err(refusal(
            415,
            "Please use the form",
            "Your answer could not be read.",
        )));
    };
    let form = match page::parse_answer_form(body) {
        Ok(form) => form,
        Err(why) => return Ok(Err(refusal(400, "Please check your answer", &why))),
    };
    let score = match (form.score, original_score(&open)) {
        (Some(value), Some(original)) => match original.answered_again(value) {
            Some(score) => Some(score),
            None => {
                return Ok(Err(refusal(
                    400,
                    "Please check your answer",
                    "The score must be one of the numbers shown.",
                )));
            }
        },
        _ => None,
    };
    Ok(Ok(Command::CustomerAnswer {
        case_id: open.case.id,
        round: open.claims.round,
        nonce: open.claims.nonce,
        answer: CustomerAnswer {
            resolved: form.resolved,
            score,
            comment: form.comment,
            answered_at: now,
        },
    }))
}

/// The page answering a folded `CustomerAnswer`.
pub fn answered(verdict: &Verdict) -> Result<Page, Problem> {
    match verdict {
        Verdict::CaseChanged { case } => Ok(Page {
            status: 200,
            html: page::answered_page(case.customer_answer.as_ref().is_some_and(|a| a.resolved)),
        }),
        Verdict::LinkRefused { refusal } => Ok(refused(*refusal)),
        other => Err(other.problem().unwrap_or_else(|| {
            Problem::new(
                closeloop_domain::problem::ProblemKind::Internal,
                "unexpected verdict",
            )
        })),
    }
}

#[cfg(test)]
mod tests;
