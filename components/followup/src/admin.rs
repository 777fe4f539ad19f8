//! The admin API (admin role): API keys, the do-not-contact list, and a customer's data.
//!
//! - `POST /v1/admin/keys` `{"name", "role"}` creates a key and shows it once; `GET` lists keys
//!   (never a key or its hash); `DELETE /v1/admin/keys/{id}` revokes one (kept for the audit).
//! - `PUT`/`DELETE /v1/admin/do-not-contact` `{"customer_id" | "email" | "phone"}`.
//! - `POST /v1/admin/customers/export` and `.../erase` `{"customer_id"?, "email"?}`: the
//!   customer is named in the body, never in the URL, so no log line or proxy sees the email.

use std::collections::BTreeSet;

use closeloop_edge::domain::access::{self, ApiKey, KeyView, NewKeyInput, Principal};
use closeloop_edge::domain::case::{Case, CaseEvent, EventKind};
use closeloop_edge::domain::contact::{self, ContactInput, DncEntry};
use closeloop_edge::domain::delivery::Delivery;
use closeloop_edge::domain::feedback::Feedback;
use closeloop_edge::domain::keys;
use closeloop_edge::domain::notice::Notice;
use closeloop_edge::domain::privacy::{
    self, CustomerSelector, CustomerSelectorInput, ErasureRecord,
};
use closeloop_edge::domain::problem::{Problem, ProblemKind};
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use closeloop_edge::{clock, timeline};
use serde_json::json;
use spin_sdk::http::Method;

/// How often an erasure retries a case that an agent changed at the same moment.
const ERASE_CASE_ATTEMPTS: usize = 5;

pub fn handle(
    req: &Incoming,
    kv: &Kv,
    principal: &Principal,
    rest: &[&str],
    log: &mut RequestLog,
) -> Result<Handled, Problem> {
    let now = clock::now();
    let admin = principal.actor("admin".into());
    match (&req.method, rest) {
        (Method::Post, ["keys"]) => {
            log.route("/v1/admin/keys");
            let (name, role) = req
                .json::<NewKeyInput>()?
                .validate()
                .map_err(Problem::invalid)?;
            let (secret, record) = access::issue(
                clock::new_id(now),
                name,
                role,
                clock::entropy(),
                &admin,
                now,
            );
            kv.put(&keys::api_key(&record.key_hash), &record)?;
            log.field("key_id", record.id.clone());
            let mut body = serde_json::to_value(KeyView::from(&record)).expect("serializes");
            body["key"] = json!(secret);
            body["note"] = json!("store this key now: it is shown only once");
            Ok(Reply::json(201, &body).into())
        }
        (Method::Get, ["keys"]) => {
            log.route("/v1/admin/keys");
            let mut all = kv.records_with_prefix::<ApiKey>(keys::API_KEY)?;
            all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            let views: Vec<KeyView> = all.iter().map(KeyView::from).collect();
            Ok(Reply::json(200, &json!({"keys": views})).into())
        }
        (Method::Delete, ["keys", id]) => {
            log.route("/v1/admin/keys/:id");
            let found = kv
                .keys_with_prefix(keys::API_KEY)?
                .into_iter()
                .find_map(|k| match kv.get::<ApiKey>(&k) {
                    Ok(Some(key)) if key.id == *id => Some(Ok((k, key))),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .transpose()?;
            let Some((store_key, mut key)) = found else {
                return Err(Problem::new(
                    ProblemKind::NotFound,
                    format!("there is no API key {id}"),
                ));
            };
            key.revoked_at.get_or_insert(now);
            kv.put(&store_key, &key)?;
            Ok(Reply::json(200, &KeyView::from(&key)).into())
        }
        (_, ["keys"]) => Err(http::method_not_allowed("GET or POST")),
        (_, ["keys", _]) => Err(http::method_not_allowed("DELETE")),
        (Method::Put | Method::Delete, ["do-not-contact"]) => {
            log.route("/v1/admin/do-not-contact");
            let (kind, value) = req
                .json::<ContactInput>()?
                .validate()
                .map_err(Problem::invalid)?;
            let key = keys::do_not_contact(&contact::dnc_digest(kind, &value));
            if req.method == Method::Put {
                if !kv.exists(&key)? {
                    let entry = DncEntry {
                        added_at: now,
                        added_by: admin,
                    };
                    kv.put(&key, &entry)?;
                }
                Ok(Reply::json(200, &json!({"do_not_contact": true})).into())
            } else {
                kv.delete(&key)?;
                Ok(Reply::json(200, &json!({"do_not_contact": false})).into())
            }
        }
        (_, ["do-not-contact"]) => Err(http::method_not_allowed("PUT or DELETE")),
        (Method::Post, ["customers", what @ ("export" | "erase")]) => {
            log.route(if *what == "export" {
                "/v1/admin/customers/export"
            } else {
                "/v1/admin/customers/erase"
            });
            let selector = req
                .json::<CustomerSelectorInput>()?
                .validate()
                .map_err(Problem::invalid)?;
            let held = Held::find(kv, &selector)?;
            if *what == "export" {
                held.export(kv).map(Handled::from)
            } else {
                held.erase(kv, &selector, &admin, now).map(Handled::from)
            }
        }
        (_, ["customers", "export" | "erase"]) => Err(http::method_not_allowed("POST")),
        _ => Err(http::not_found(&req.path)),
    }
}

/// Everything held about one customer: their feedback and the cases it opened.
struct Held {
    feedback: Vec<Feedback>,
    cases: Vec<Case>,
}

impl Held {
    fn find(kv: &Kv, selector: &CustomerSelector) -> Result<Self, Problem> {
        let feedback: Vec<Feedback> = kv
            .records_with_prefix::<Feedback>(keys::FEEDBACK)?
            .into_iter()
            .filter(|f| selector.matches(&f.customer))
            .collect();
        let ids: BTreeSet<&str> = feedback.iter().map(|f| f.id.as_str()).collect();
        let cases = kv
            .records_with_prefix::<Case>(keys::CASE)?
            .into_iter()
            .filter(|c| ids.contains(c.feedback_id.as_str()))
            .collect();
        Ok(Self { feedback, cases })
    }

    fn case_ids(&self) -> BTreeSet<&str> {
        self.cases.iter().map(|c| c.id.as_str()).collect()
    }

    fn export(&self, kv: &Kv) -> Result<Reply, Problem> {
        let case_ids = self.case_ids();
        let mut events = Vec::new();
        for case in &self.cases {
            events.extend(timeline::read(kv, &case.id)?);
        }
        let notices: Vec<Notice> = kv
            .records_with_prefix::<Notice>(keys::NOTICE)?
            .into_iter()
            .filter(|n| case_ids.contains(n.case_id.as_str()))
            .collect();
        let deliveries: Vec<Delivery> = kv
            .records_with_prefix::<Delivery>(keys::DELIVERY)?
            .into_iter()
            .filter(|d| case_ids.contains(d.case_id.as_str()))
            .collect();
        Ok(Reply::json(
            200,
            &json!({
                "feedback": self.feedback,
                "cases": self.cases,
                "events": events,
                "notices": notices,
                "deliveries": deliveries,
            }),
        ))
    }

    fn erase(
        &self,
        kv: &Kv,
        selector: &CustomerSelector,
        by: &str,
        now: closeloop_edge::domain::Timestamp,
    ) -> Result<Reply, Problem> {
        let mut identifiers: Vec<String> = self
            .feedback
            .iter()
            .flat_map(|f| privacy::identifiers(&f.customer))
            .chain(selector.id.clone())
            .chain(selector.email.clone())
            .collect();
        identifiers.sort();
        identifiers.dedup();
        for feedback in &self.feedback {
            let mut erased = feedback.clone();
            privacy::erase_feedback(&mut erased);
            kv.put(&keys::feedback(&feedback.id), &erased)?;
        }

        let mut events = 0;
        for case in &self.cases {
            erase_case(kv, &case.id, &identifiers, by, now)?;
            for key in timeline::event_keys(kv, &case.id)? {
                if let Some(mut event) = kv.get::<CaseEvent>(&key)? {
                    privacy::erase_event(&mut event, &identifiers);
                    kv.put(&key, &event)?;
                    events += 1;
                }
            }
        }
        let record = ErasureRecord {
            id: clock::new_id(now),
            at: now,
            by: by.to_owned(),
            feedback: self.feedback.len(),
            cases: self.cases.len(),
            events,
        };
        kv.put(&keys::erasure(&record.id), &record)?;
        // Recounted without the comments, which leave the topic examples.
        for feedback in &self.feedback {
            closeloop_edge::projection::record_change(kv, &feedback.id, now)?;
        }
        Ok(Reply::json(200, &record))
    }
}

/// Erases one case as a change of its own version, so an agent writing at the same moment
/// cannot put the customer's words back: whoever loses the claim reloads and retries.
fn erase_case(
    kv: &Kv,
    id: &str,
    identifiers: &[String],
    by: &str,
    now: closeloop_edge::domain::Timestamp,
) -> Result<(), Problem> {
    for _ in 0..ERASE_CASE_ATTEMPTS {
        let Some(case) = kv.get::<Case>(&keys::case(id))? else {
            return Ok(());
        };
        if !kv.claim(&keys::case_claim(id, case.version))? {
            continue;
        }
        let mut next = case.clone();
        privacy::erase_case(&mut next, identifiers);
        next.version += 1;
        let event = case.remark(
            EventKind::CustomerErased,
            by,
            "the customer's personal data was erased on request",
            clock::new_id(now),
            now,
        );
        timeline::append(kv, &event)?;
        kv.put(&keys::case(id), &next)?;
        return Ok(());
    }
    Err(Problem::new(
        ProblemKind::Conflict,
        "a case of this customer kept changing during the erasure; run the erasure again",
    ))
}
