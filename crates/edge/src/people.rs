//! The admin API about people (admin role): API keys, the do-not-contact list, and a
//! customer's data. The logic is `closeloop_workflow::admin` (keys, the list: direct writes)
//! and the `EraseCustomer` command; this is their Spin side: reading the request, and the
//! listings only an admin route may make (Spin lists every key of the store at once).
//!
//! - `POST /v1/admin/keys` `{"name", "role"}` creates a key and shows it once; `GET` lists
//!   keys (never a key or its hash); `DELETE /v1/admin/keys/{id}` revokes one.
//! - `PUT`/`DELETE /v1/admin/do-not-contact` `{"customer_id" | "email" | "phone"}`.
//! - `POST /v1/admin/customers/export` and `.../erase` `{"customer_id"?, "email"?}`: the
//!   customer is named in the body, never in the URL, so no log line or proxy sees the email.

use closeloop_domain::access::NewKeyInput;
use closeloop_domain::contact::ContactInput;
use closeloop_domain::feedback::Feedback;
use closeloop_domain::keys;
use closeloop_domain::privacy::CustomerSelectorInput;
use closeloop_domain::problem::Problem;
use closeloop_workflow::fold::{Command, Verdict};
use closeloop_workflow::{admin, reads};
use serde_json::Value;
use spin_sdk::http::Method;

use crate::http::{self, Handled, Incoming, Reply};
use crate::kv::Kv;
use crate::log::RequestLog;
use crate::{clock, workflow};

/// Serves `/v1/admin/{rest}` for an admin acting as `by`.
pub fn handle(
    req: &Incoming,
    kv: &mut Kv,
    by: &str,
    rest: &[&str],
    log: &mut RequestLog,
) -> Result<Handled, Problem> {
    let now = clock::now();
    let (route, status, body) = match (&req.method, rest) {
        (Method::Post, ["keys"]) => {
            let input = req.json::<NewKeyInput>()?;
            let input = input.validate().map_err(Problem::invalid)?;
            let id = clock::new_id(now);
            let key = admin::create_key(kv.store(), id, input, clock::entropy(), by, now)?;
            ("/v1/admin/keys", 201, key)
        }
        (Method::Get, ["keys"]) => {
            let listed = kv.keys_with_prefix(keys::API_KEY)?;
            (
                "/v1/admin/keys",
                200,
                admin::list_keys(kv.store(), &listed)?,
            )
        }
        (Method::Delete, ["keys", id]) => {
            let listed = kv.keys_with_prefix(keys::API_KEY)?;
            let revoked = admin::revoke_key(kv.store(), &listed, id, now)?;
            ("/v1/admin/keys/:id", 200, revoked)
        }
        (Method::Put | Method::Delete, ["do-not-contact"]) => {
            let contact = req.json::<ContactInput>()?;
            let contact = contact.validate().map_err(Problem::invalid)?;
            let listed = req.method == Method::Put;
            let done = admin::do_not_contact(kv.store(), contact, listed, by, now)?;
            ("/v1/admin/do-not-contact", 200, done)
        }
        (Method::Post, ["customers", "export"]) => {
            let found = customer(req, kv)?;
            let held = reads::customers::export(kv.store(), found)?;
            ("/v1/admin/customers/export", 200, to_value(held))
        }
        (Method::Post, ["customers", "erase"]) => {
            let feedback_ids = customer(req, kv)?.into_iter().map(|f| f.id).collect();
            let erase = Command::EraseCustomer {
                feedback_ids,
                by: by.to_owned(),
                erasure_id: clock::new_id(now),
            };
            match workflow::submit(kv, erase)?.verdict {
                Verdict::Erased { record } => ("/v1/admin/customers/erase", 200, to_value(record)),
                refused => return Err(refused.problem().expect("a refusal")),
            }
        }
        (_, ["keys"]) => return Err(http::method_not_allowed("GET or POST")),
        (_, ["keys", _]) => return Err(http::method_not_allowed("DELETE")),
        (_, ["do-not-contact"]) => return Err(http::method_not_allowed("PUT or DELETE")),
        (_, ["customers", "export" | "erase"]) => return Err(http::method_not_allowed("POST")),
        _ => return Err(http::not_found(&req.path)),
    };
    log.route(route);
    Ok(Reply::json(status, &body).into())
}

fn to_value(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("API answers serialize")
}

/// The feedback of the customer the body names.
fn customer(req: &Incoming, kv: &mut Kv) -> Result<Vec<Feedback>, Problem> {
    let selector = req.json::<CustomerSelectorInput>()?;
    let selector = selector.validate().map_err(Problem::invalid)?;
    let listed = kv.keys_with_prefix(keys::FEEDBACK)?;
    Ok(reads::customers::find(kv.store(), &listed, &selector)?)
}
