//! What one piece of feedback (with its case) adds to the aggregates, computed from its
//! current records alone.
//!
//! Because a contribution depends only on the records as they are now, the aggregates stay
//! right whatever order changes are seen in, and however often: the projector takes the old
//! contribution away and adds the new one.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::cell::{Cell, Example, count, hist};
use crate::Timestamp;
use crate::case::{Case, CaseState};
use crate::feedback::Feedback;
use crate::score::{ScoreClass, ScoreKind};

/// Dimension names: every contribution goes to `all`, its team, its source and its topics.
pub mod dim {
    pub const ALL: &str = "all";
    /// The team of feedback not triaged yet (or joined to another customer's open case).
    pub const UNTRIAGED: &str = "untriaged";

    pub fn team(team: &str) -> String {
        format!("team:{team}")
    }
    pub fn source(source: &str) -> String {
        format!("source:{source}")
    }
    pub fn topic(topic: &str) -> String {
        format!("topic:{topic}")
    }
    /// Topics are also kept per team (volume and examples only), so a team's dashboard shows
    /// its own trends.
    pub fn team_topic(team: &str, topic: &str) -> String {
        format!("team:{team}|topic:{topic}")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// The UTC day the feedback arrived: periods are cohorts of received feedback, so a case
    /// resolved next week still counts in the week its customer wrote.
    pub day: NaiveDate,
    pub dims: Vec<String>,
    pub cell: Cell,
    /// Cited under the topic dimensions.
    #[serde(default)]
    pub example: Option<Example>,
}

impl Contribution {
    /// The contribution of `feedback`, its case if triage opened one, and the time its alert
    /// was first delivered.
    pub fn of(feedback: &Feedback, case: Option<&Case>, alerted_at: Option<Timestamp>) -> Self {
        let received = feedback.received_at;
        let secs_since = |t: Timestamp| (t - received).num_seconds().max(0);
        let mut cell = Cell::default();
        cell.bump(count::VOLUME, 1);
        if let Some(score) = feedback.score {
            match score.kind {
                ScoreKind::Nps => {
                    cell.bump(count::NPS_RESPONSES, 1);
                    cell.bump(
                        match score.class() {
                            ScoreClass::Promoter => count::PROMOTERS,
                            ScoreClass::Passive => count::PASSIVES,
                            ScoreClass::Detractor => count::DETRACTORS,
                        },
                        1,
                    );
                }
                ScoreKind::Csat => {
                    cell.bump(count::CSAT_RESPONSES, 1);
                    if score.class() == ScoreClass::Promoter {
                        cell.bump(count::CSAT_SATISFIED, 1);
                    }
                }
                ScoreKind::Ces => {
                    cell.bump(count::CES_RESPONSES, 1);
                    cell.bump(count::CES_SUM, score.value);
                }
                ScoreKind::Rating => {}
            }
        }
        if let Some(at) = alerted_at {
            cell.bump(count::ALERTS, 1);
            cell.observe(hist::ALERT_LATENCY, secs_since(at));
        }
        let mut dims = vec![dim::ALL.to_owned(), dim::source(&feedback.source)];
        let mut example = None;
        match case {
            None => dims.push(dim::team(dim::UNTRIAGED)),
            Some(case) => {
                dims.push(dim::team(&case.triage.team));
                for topic in &case.triage.analysis.topics {
                    for d in [
                        dim::topic(&topic.topic),
                        dim::team_topic(&case.triage.team, &topic.topic),
                    ] {
                        if !dims.contains(&d) {
                            dims.push(d);
                        }
                    }
                }
                if feedback.comment.is_some() && !case.triage.analysis.topics.is_empty() {
                    example = Some(Example {
                        feedback_id: feedback.id.clone(),
                        case_id: Some(case.id.clone()),
                        sentiment: case
                            .triage
                            .analysis
                            .sentiment
                            .as_ref()
                            .map(|s| s.score)
                            .unwrap_or(0.0),
                        comment: None,
                    });
                }
                add_case(&mut cell, feedback, case, secs_since);
            }
        }
        Contribution {
            day: received.date_naive(),
            dims,
            cell,
            example,
        }
    }

    /// The cell this contribution adds under dimension `dim`. A team's topics keep only what
    /// topic trends read (volume and examples), which keeps a day's record small however many
    /// teams and topics there are.
    pub fn cell_for(&self, dim: &str) -> Cell {
        let mut cell = if dim.contains('|') {
            let mut trend = Cell::default();
            trend.bump(count::VOLUME, self.cell.count(count::VOLUME));
            trend
        } else {
            self.cell.clone()
        };
        if dim.contains("topic:") {
            cell.examples.extend(self.example.clone());
        }
        cell
    }
}

fn add_case(
    cell: &mut Cell,
    feedback: &Feedback,
    case: &Case,
    secs_since: impl Fn(Timestamp) -> i64,
) {
    cell.bump(count::CASES, 1);
    if let Some(at) = case.first_response_at {
        cell.observe(hist::FIRST_RESPONSE, secs_since(at));
    }
    // Resolved means resolved now: a reopened case leaves time-to-resolve until it is
    // resolved again, and then counts with its latest resolution.
    let resolved = matches!(
        case.state,
        CaseState::ResolvedAwaitingCustomer
            | CaseState::ClosedConfirmed
            | CaseState::ClosedUnconfirmed
    );
    if let Some(resolution) = case.resolution.as_ref().filter(|_| resolved) {
        cell.observe(hist::TIME_TO_RESOLVE, secs_since(resolution.resolved_at));
        cell.bump(
            &format!("{}{}", count::ROOT_CAUSE, resolution.root_cause.as_str()),
            1,
        );
    }
    if case.state.is_closed() {
        cell.bump(count::CLOSED, 1);
    }
    let late_response = case
        .first_response_at
        .is_some_and(|t| t > case.triage.first_response_due);
    let late_resolution = case
        .resolution
        .as_ref()
        .filter(|_| resolved)
        .is_some_and(|r| r.resolved_at > case.triage.resolution_due);
    if late_response || late_resolution {
        cell.bump(count::SLA_BREACHES, 1);
    }
    if case.round > 0 {
        cell.bump(count::ASKED, 1);
    }
    if case.state == CaseState::ClosedConfirmed {
        cell.bump(count::CONFIRMED, 1);
    }
    if case.reopen_count > 0 {
        cell.bump(count::REOPENED, 1);
    }
    if case.recovered_detractor(feedback.score) {
        cell.bump(count::RECOVERED, 1);
    }
    let promoter = feedback
        .score
        .is_some_and(|s| s.class() == ScoreClass::Promoter);
    if promoter && case.first_response_at.is_some() {
        cell.bump(count::PROMOTER_FOLLOWUPS, 1);
    }
}
