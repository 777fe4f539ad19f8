//! closeloop's fold: what every command does to the records, decided in plain code over the
//! fold's unit of work and written by the log in one `set-many`.
//!
//! The fold is the only writer of feedback, cases, case files, notices, the read models and
//! the fold's own records (new deliveries too; dispatch then only updates a delivery it holds
//! a lease on). So a command reads the current records, decides, and puts the outcome back:
//! nothing else can change them meanwhile, and two commands about one case are applied one
//! after the other, in ticket order.
//!
//! After the commands of a batch, the read models (day aggregates, the case index) are
//! recomputed for every feedback the batch touched ([`projections`]), in the same write.
//!
//! - [`arrival`]: new feedback is stored once, triaged, and opens (or joins) a case.
//! - [`notices`]: a notice is planned into deliveries (directory, alert fatigue, digests),
//!   and those due now are leased to the folding request, which hands them to dispatch.
//! - [`outbox`]: when tick must look at a delivery again.
//! - [`reconcile`]: what tick saw on the outbox, settled: dropped, rescheduled, the first
//!   alert recorded, a dead letter told to operations.
//! - [`escalation`], [`digests`]: the notices tick asks for: escalations of unacknowledged
//!   cases, and each recipient's daily digest.
//! - [`records`]: the fold's own records.
//! - [`sources`]: a survey platform's events about one response make or update one feedback.
//! - [`retriage`]: feedback that changed is triaged again; its case keeps its state and alert.
//! - [`change`]: a change of a case's state and what it sends (the contact rules included).
//! - [`incidents`]: PagerDuty follows the case: where its triggers went is noted as they are
//!   planned, and the change that takes the case up or out of the team's hands plans the
//!   `acknowledge` or `resolve` to exactly those endpoints.
//! - [`agent`]: agents' actions and notes; [`customer`]: the customer's answer through the
//!   confirmation link; [`replies`]: the customer's reply to a follow-up by email or SMS, and
//!   where an SMS reply goes; [`sweep`]: tick's reminders and unconfirmed closes; [`privacy`]:
//!   a customer's erasure.

pub mod agent;
pub mod arrival;
pub mod change;
pub mod customer;
pub mod digests;
pub mod escalation;
pub mod incidents;
pub mod notices;
pub mod outbox;
pub mod privacy;
pub mod projections;
pub mod reconcile;
pub mod records;
pub mod replies;
pub mod retriage;
pub mod sources;
pub mod sweep;

use std::collections::{BTreeMap, BTreeSet};

use closeloop_domain::case::{Action, Case, CaseEvent, CustomerAnswer, EventKind};
use closeloop_domain::contact::QuietHours;
use closeloop_domain::delivery::{ConfiguredChannels, Delivery, first_attempt_lease};
use closeloop_domain::dispatch::store as dispatch_store;
use closeloop_domain::feedback::Feedback;
use closeloop_domain::followup::FollowUpPolicy;
use closeloop_domain::link::LinkKey;
use closeloop_domain::privacy::ErasureRecord;
use closeloop_domain::problem::{Problem, ProblemKind};
use closeloop_domain::reply::CustomerReply;
use closeloop_domain::sources::SourceEvent;
use closeloop_domain::triage::config::{self, CustomTopics, TeamCalendars};
use closeloop_domain::triage::routing::RuleSet;
use closeloop_domain::triage::{TriageConfig, TriagePolicy};
use closeloop_domain::{Timestamp, keys};
use serde::{Deserialize, Serialize};

use crate::env::Env;
use crate::log::Fold;
use crate::store::StoreError;
use crate::tx::Tx;

/// What the fold needs from the operator's configuration (Spin variables).
#[derive(Clone)]
pub struct Context {
    pub policy: TriagePolicy,
    pub channels: ConfiguredChannels,
    pub follow_up: FollowUpPolicy,
    pub customer_quiet_hours: Option<QuietHours>,
    /// Signs customers' confirmation links; `None` when not configured.
    pub link_key: Option<LinkKey>,
    pub link_ttl_hours: i64,
    /// closeloop's public URL, without a trailing slash.
    pub public_base_url: String,
    /// How long one provider call may take (`delivery_timeout_ms`): first attempts are leased
    /// for the hand-over's calls ([`first_attempt_lease`]).
    pub delivery_timeout: std::time::Duration,
}

/// A change to closeloop, as the log carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Command {
    /// New canonical feedback (`POST /v1/feedback`), validated, with its id.
    Feedback { feedback: Box<Feedback> },
    /// What tick saw on the outbox's schedule, or the dead letters of a hand-over, settled
    /// against the deliveries as they are when folded.
    Reconcile { deliveries: Vec<reconcile::Seen> },
    /// Escalates the cases tick found past their first-response due time with a level not
    /// escalated yet.
    Escalate { cases: Vec<String> },
    /// Sends every recipient's digest whose local digest hour has passed today.
    Digests,
    /// An event of a survey platform's response (`POST /v1/sources/...`), verified, fetched
    /// where needed and mapped.
    SourceEvent { event: Box<SourceEvent> },
    /// An agent's action on a case (`POST /v1/cases/{id}/{action}`), attributed.
    CaseAction { case_id: String, action: Action },
    /// A note, or more feedback the customer gave (`kind`), on a case's timeline.
    CaseNote {
        case_id: String,
        by: String,
        text: String,
        kind: EventKind,
        event_id: String,
    },
    /// The customer's answer through the confirmation link of `round` with `nonce`.
    CustomerAnswer {
        case_id: String,
        round: u32,
        nonce: String,
        answer: CustomerAnswer,
    },
    /// Tick's follow-up sweep over the cases it found due.
    FollowUpSweep { case_ids: Vec<String> },
    /// The customer's reply to a follow-up (`POST /v1/inbound/...`), matched to its case.
    CustomerReply { reply: Box<CustomerReply> },
    /// A customer's erasure: their feedback, recorded as erasure `erasure_id` by `by`.
    EraseCustomer {
        feedback_ids: Vec<String>,
        by: String,
        erasure_id: String,
    },
}

/// What became of a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// The feedback is new and stored; `case_id` is the case it opened or joined.
    Accepted {
        feedback_id: String,
        case_id: Option<String>,
    },
    /// The feedback was stored before.
    Duplicate { feedback_id: String },
    /// The outbox's schedule is settled for the deliveries seen; `operations`: dead letters
    /// newly told to operations.
    Reconciled {
        rescheduled: u32,
        dropped: u32,
        operations: u32,
    },
    /// The escalation notices written.
    Escalated { notices: Vec<String> },
    /// The digest notices written.
    Digested { notices: Vec<String> },
    /// A later event of a response was recorded and its feedback updated (if it changed).
    Updated { feedback_id: String },
    /// The command cannot be applied, with the problem to answer.
    Refused { kind: ProblemKind, detail: String },
    /// The case after an agent's action or the customer's answer.
    CaseChanged { case: Box<Case> },
    /// The event a note added.
    Noted { event: Box<CaseEvent> },
    /// The confirmation link cannot be answered (nothing changed).
    LinkRefused { refusal: customer::LinkRefusal },
    /// What the follow-up sweep did.
    Swept {
        reminded: usize,
        closed_unconfirmed: usize,
    },
    /// The customer was erased.
    Erased { record: ErasureRecord },
    /// The customer's reply is on case `case_id` as event `event_id`; `duplicate`: it was
    /// recorded before (a redelivery).
    Replied {
        case_id: String,
        event_id: String,
        duplicate: bool,
    },
}

impl Verdict {
    pub fn refused(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Verdict::Refused {
            kind,
            detail: detail.into(),
        }
    }

    /// The problem to answer for a refusal.
    pub fn problem(&self) -> Option<Problem> {
        match self {
            Verdict::Refused { kind, detail } => Some(Problem::new(*kind, detail.clone())),
            _ => None,
        }
    }
}

/// The folding request's duty once the fold is written: attempt these deliveries, whose
/// first attempt is leased to `token`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Handover {
    pub token: String,
    pub deliveries: Vec<String>,
    /// What the deliveries are rendered from, as this fold leaves it (each one's notice,
    /// case, feedback and team; `None`: absent), so the sender need not read them again: on
    /// Redis every read is a round trip.
    pub records: BTreeMap<String, Option<Vec<u8>>>,
}

/// closeloop's [`Fold`].
pub struct Closeloop {
    pub ctx: Context,
}

impl Fold for Closeloop {
    type Command = Command;
    type Verdict = Verdict;
    type Output = Handover;

    fn fold(
        &self,
        tx: &mut Tx<'_>,
        env: &dyn Env,
        commands: &[(u64, Command)],
    ) -> Result<(Vec<Verdict>, Handover), StoreError> {
        let mut folder = Folder::new(tx, env, &self.ctx);
        let mut verdicts = Vec::with_capacity(commands.len());
        for (_, command) in commands {
            verdicts.push(folder.apply(command)?);
        }
        let handover = folder.finish()?;
        Ok((verdicts, handover))
    }
}

/// One fold in progress: the unit of work, the time and token of the fold, and what the
/// batch has touched so far.
pub struct Folder<'f, 's> {
    pub tx: &'f mut Tx<'s>,
    pub env: &'f dyn Env,
    pub ctx: &'f Context,
    /// The fold's time: every command of the batch happens at it.
    pub now: Timestamp,
    /// Leases this fold grants (the first attempts it hands over) carry this token.
    pub token: String,
    touched: BTreeSet<String>,
    handover: Vec<String>,
    config: Option<TriageConfig>,
}

impl<'f, 's> Folder<'f, 's> {
    pub fn new(tx: &'f mut Tx<'s>, env: &'f dyn Env, ctx: &'f Context) -> Self {
        Self {
            tx,
            env,
            ctx,
            now: env.now(),
            token: env.token(),
            touched: BTreeSet::new(),
            handover: Vec::new(),
            config: None,
        }
    }

    pub fn apply(&mut self, command: &Command) -> Result<Verdict, StoreError> {
        match command {
            Command::Feedback { feedback } => arrival::arrive(self, feedback),
            Command::Reconcile { deliveries } => reconcile::reconcile(self, deliveries),
            Command::Escalate { cases } => escalation::escalate(self, cases),
            Command::Digests => digests::send(self),
            Command::SourceEvent { event } => sources::receive(self, event),
            Command::CaseAction { case_id, action } => agent::act(self, case_id, action),
            Command::CaseNote {
                case_id,
                by,
                text,
                kind,
                event_id,
            } => agent::note(self, case_id, by, text, *kind, event_id),
            Command::CustomerAnswer {
                case_id,
                round,
                nonce,
                answer,
            } => customer::answer(self, case_id, *round, nonce, answer),
            Command::FollowUpSweep { case_ids } => sweep::sweep(self, case_ids),
            Command::CustomerReply { reply } => replies::receive(self, reply),
            Command::EraseCustomer {
                feedback_ids,
                by,
                erasure_id,
            } => privacy::erase(self, feedback_ids, by, erasure_id),
        }
    }

    /// The read models of feedback `id` must be recomputed at the end of the fold.
    pub fn touch(&mut self, feedback_id: &str) {
        self.touched.insert(feedback_id.to_owned());
    }

    /// The request that folded attempts delivery `id` first (it holds its lease).
    pub fn hand_over(&mut self, delivery_id: &str) {
        self.handover.push(delivery_id.to_owned());
    }

    /// The stored triage configuration, read once per fold.
    pub fn triage_config(&mut self) -> Result<&TriageConfig, StoreError> {
        if self.config.is_none() {
            self.tx.prefetch(&[
                config::TOPICS_KEY.to_owned(),
                config::RULES_KEY.to_owned(),
                config::CALENDARS_KEY.to_owned(),
            ])?;
            let compiled = config::compile(
                self.tx.get::<CustomTopics>(config::TOPICS_KEY)?,
                self.tx.get::<RuleSet>(config::RULES_KEY)?,
                self.tx.get::<TeamCalendars>(config::CALENDARS_KEY)?,
            );
            self.config = Some(compiled);
        }
        Ok(self.config.as_ref().expect("just compiled"))
    }

    fn finish(self) -> Result<Handover, StoreError> {
        // Every first attempt this fold hands over is leased for the whole hand-over.
        let until = first_attempt_lease(self.now, self.handover.len(), self.ctx.delivery_timeout);
        let mut records = BTreeMap::new();
        for id in &self.handover {
            let key = keys::delivery(id);
            if let Some(mut d) = self.tx.get::<Delivery>(&key)? {
                if let Some(lease) = &mut d.lease {
                    lease.until = until;
                }
                self.tx.put(key, &d);
                rendered_from(self.tx, &d, &mut records)?;
            }
        }
        let ids: Vec<String> = self.touched.into_iter().collect();
        projections::project(self.tx, &ids)?;
        Ok(Handover {
            token: self.token,
            deliveries: self.handover,
            records,
        })
    }
}

/// Adds the records delivery `d` is rendered from, as `tx` sees them, to `records`.
fn rendered_from(
    tx: &mut Tx<'_>,
    d: &Delivery,
    records: &mut BTreeMap<String, Option<Vec<u8>>>,
) -> Result<(), StoreError> {
    let mut keys = vec![keys::notice(&d.notice_id)];
    if !d.case_id.is_empty() {
        let key = keys::case(&d.case_id);
        if let Some(case) = tx.get::<Case>(&key)? {
            keys.push(keys::feedback(&case.feedback_id));
            keys.push(dispatch_store::case_team(&case));
        }
        keys.push(key);
    }
    keys.extend(dispatch_store::target_team(&d.to));
    for key in keys {
        if let std::collections::btree_map::Entry::Vacant(slot) = records.entry(key) {
            let value = tx.get_raw(slot.key())?;
            slot.insert(value);
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
