//! The customer's answer through the confirmation link: yes closes the case as confirmed, no
//! reopens it and alerts its owner again, with an optional new score and comment.
//!
//! A link works once and for one resolution round: the nonces of answered links are kept in
//! the case's file (so no claim key is written), and a link of an earlier round, or one for a
//! case that no longer awaits its customer, has moved on. Both are decided in the fold, so of
//! two answers through one link racing each other exactly one counts.

use closeloop_domain::case::{Action, Case, CaseState, CustomerAnswer};
use serde::{Deserialize, Serialize};

use super::change;
use super::records::CaseFile;
use super::{Folder, Verdict};
use crate::store::StoreError;

/// Why a confirmation link cannot be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkRefusal {
    /// Its case does not exist (any more).
    UnknownCase,
    /// It was answered before.
    Used,
    /// Its case moved on: answered through another link, resolved again, or closed.
    MovedOn,
}

/// Whether the link of `round` with `nonce` may answer `case` now.
pub fn link_status(
    case: &Case,
    file: Option<&CaseFile>,
    round: u32,
    nonce: &str,
) -> Result<(), LinkRefusal> {
    if file.is_some_and(|f| f.used_links.iter().any(|n| n == nonce)) {
        return Err(LinkRefusal::Used);
    }
    if case.round != round || case.state != CaseState::ResolvedAwaitingCustomer {
        return Err(LinkRefusal::MovedOn);
    }
    Ok(())
}

/// `CustomerAnswer`: the answer through the link of `round` with `nonce`.
pub fn answer(
    f: &mut Folder<'_, '_>,
    case_id: &str,
    round: u32,
    nonce: &str,
    answer: &CustomerAnswer,
) -> Result<Verdict, StoreError> {
    let Some((case, mut file)) = change::load(f, case_id)? else {
        return Ok(Verdict::LinkRefused {
            refusal: LinkRefusal::UnknownCase,
        });
    };
    if let Err(refusal) = link_status(&case, Some(&file), round, nonce) {
        return Ok(Verdict::LinkRefused { refusal });
    }
    let mut answer = answer.clone();
    answer.answered_at = f.now;
    Ok(
        match change::apply(f, &case, &mut file, Action::CustomerAnswer(answer))? {
            Ok(next) => {
                file.used_links.push(nonce.to_owned());
                change::save(f, &file);
                Verdict::CaseChanged {
                    case: Box::new(next),
                }
            }
            Err(refused) => refused,
        },
    )
}

#[cfg(test)]
pub(crate) mod tests;
