//! The metrics API: its query (period, filter, grouping) and its answer, read from day
//! aggregates only.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::DayAggregate;
use super::cell::{Cell, Example, count, hist};
use super::contribution::dim;
use crate::Timestamp;
use crate::problem::FieldError;

/// The longest period one request may ask for, in days.
pub const MAX_PERIOD_DAYS: i64 = 366;
/// The period when none is given: the last 30 days, today included.
pub const DEFAULT_PERIOD_DAYS: i64 = 30;
/// How many topics a report lists.
pub const MAX_TOPICS: usize = 20;
/// How many example comments each topic shows.
pub const EXAMPLES_PER_TOPIC: usize = 3;

/// The dimensions a report may be filtered or grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Team,
    Source,
    Topic,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Team => "team",
            Self::Source => "source",
            Self::Topic => "topic",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Team, Self::Source, Self::Topic]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub filter: Option<(Kind, String)>,
    pub group_by: Option<Kind>,
}

impl MetricsQuery {
    /// Parses `from=2026-11-01&to=2026-11-30&team=support&group_by=topic`; `today` sets the
    /// default period.
    pub fn parse(query: &str, today: NaiveDate) -> Result<Self, Vec<FieldError>> {
        Self::parse_with(query, today, &["group_by"], |_, _, _| false)
    }

    /// Parses the period and filter, and the parameters named in `more`: `group_by` here,
    /// the others by `extra` (which returns whether it took the name).
    pub fn parse_with(
        query: &str,
        today: NaiveDate,
        more: &[&str],
        mut extra: impl FnMut(&str, &str, &mut Vec<FieldError>) -> bool,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let (mut from, mut to, mut filter, mut group_by) = (None, None, None, None);
        let date = |name: &str, value: &str, errors: &mut Vec<FieldError>| {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map_err(|_| {
                    errors.push(FieldError::new(
                        format!("/query/{name}"),
                        "use a date as YYYY-MM-DD",
                    ))
                })
                .ok()
        };
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let pointer = format!("/query/{name}");
            match name.as_ref() {
                "from" => from = date("from", &value, &mut errors),
                "to" => to = date("to", &value, &mut errors),
                "team" | "source" | "topic" => {
                    let kind = Kind::parse(&name).unwrap_or(Kind::Team);
                    if value.trim().is_empty() {
                        errors.push(FieldError::new(pointer, "must not be empty"));
                    } else if filter.is_some() {
                        errors.push(FieldError::new(
                            pointer,
                            "filter by one of team, source or topic at a time",
                        ));
                    } else {
                        filter = Some((kind, value.trim().to_owned()));
                    }
                }
                "group_by" if more.contains(&"group_by") => match Kind::parse(&value) {
                    Some(kind) => group_by = Some(kind),
                    None => errors.push(FieldError::new(pointer, "use team, source or topic")),
                },
                other => {
                    if !(more.contains(&other) && extra(other, &value, &mut errors)) {
                        let mut names = vec!["from", "to", "team", "source", "topic"];
                        names.extend(more);
                        errors.push(FieldError::new(
                            pointer,
                            format!("is not a parameter; use {}", names.join(", ")),
                        ));
                    }
                }
            }
        }
        let to = to.unwrap_or(today);
        let from = from.unwrap_or(to - Duration::days(DEFAULT_PERIOD_DAYS - 1));
        if from > to {
            errors.push(FieldError::new("/query/from", "must not be after to"));
        } else if (to - from).num_days() + 1 > MAX_PERIOD_DAYS {
            errors.push(FieldError::new(
                "/query/from",
                format!("a period is at most {MAX_PERIOD_DAYS} days"),
            ));
        }
        if let (Some((kind, _)), Some(group)) = (&filter, group_by) {
            errors.push(FieldError::new(
                "/query/group_by",
                format!(
                    "grouping by {} within one {} is not kept; group without a filter",
                    group.as_str(),
                    kind.as_str()
                ),
            ));
        }
        if errors.is_empty() {
            Ok(MetricsQuery {
                from,
                to,
                filter,
                group_by,
            })
        } else {
            Err(errors)
        }
    }

    pub fn days(&self) -> Vec<NaiveDate> {
        days(self.from, self.to)
    }

    /// The period of the same length just before this one.
    pub fn previous(&self) -> (NaiveDate, NaiveDate) {
        let len = (self.to - self.from).num_days() + 1;
        (
            self.from - Duration::days(len),
            self.from - Duration::days(1),
        )
    }

    /// The dimension the filter selects (`all` without one).
    pub fn dim(&self) -> String {
        match &self.filter {
            None => dim::ALL.to_owned(),
            Some((kind, value)) => format!("{}:{value}", kind.as_str()),
        }
    }

    /// The prefix of the cells holding the topics within the filter: topics are kept per
    /// team, and overall.
    fn topic_prefix(&self) -> String {
        match &self.filter {
            Some((Kind::Team, team)) => format!("{}|topic:", dim::team(team)),
            _ => "topic:".to_owned(),
        }
    }
}

/// Every day from `from` to `to`, both included.
pub fn days(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    from.iter_days().take_while(|d| *d <= to).collect()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Nps {
    pub score: Option<f64>,
    pub responses: i64,
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Csat {
    /// The share of satisfied answers (top box), in percent.
    pub score: Option<f64>,
    pub responses: i64,
    pub satisfied: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ces {
    pub average: Option<f64>,
    pub responses: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Durations {
    pub count: i64,
    pub median: Option<f64>,
    pub p90: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub volume: i64,
    pub cases: i64,
    pub nps: Nps,
    pub csat: Csat,
    pub ces: Ces,
    pub alert_latency_seconds: Durations,
    pub first_response_seconds: Durations,
    pub time_to_resolve_seconds: Durations,
    pub closed: i64,
    pub closure_rate: Option<f64>,
    pub sla_breaches: i64,
    pub sla_breach_rate: Option<f64>,
    pub asked: i64,
    pub confirmed: i64,
    pub confirmation_rate: Option<f64>,
    pub reopened: i64,
    pub reopen_rate: Option<f64>,
    pub recovered_detractors: i64,
    pub promoter_followups: i64,
    pub root_causes: BTreeMap<String, i64>,
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| round(part as f64 / whole as f64, 4))
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn nps_score(cell: &Cell) -> Option<f64> {
    let n = cell.count(count::NPS_RESPONSES);
    (n > 0).then(|| {
        round(
            100.0 * (cell.count(count::PROMOTERS) - cell.count(count::DETRACTORS)) as f64
                / n as f64,
            1,
        )
    })
}

fn csat_score(cell: &Cell) -> Option<f64> {
    ratio(
        cell.count(count::CSAT_SATISFIED),
        cell.count(count::CSAT_RESPONSES),
    )
    .map(|r| round(r * 100.0, 1))
}

impl Summary {
    pub fn of(cell: &Cell) -> Self {
        let c = |name| cell.count(name);
        let durations = |name| Durations {
            count: cell.observations(name),
            median: cell.percentile(name, 0.5).map(|v| round(v, 1)),
            p90: cell.percentile(name, 0.9).map(|v| round(v, 1)),
        };
        let root_causes = cell
            .counts
            .iter()
            .filter_map(|(k, n)| Some((k.strip_prefix(count::ROOT_CAUSE)?.to_owned(), *n)))
            .collect();
        Summary {
            volume: c(count::VOLUME),
            cases: c(count::CASES),
            nps: Nps {
                score: nps_score(cell),
                responses: c(count::NPS_RESPONSES),
                promoters: c(count::PROMOTERS),
                passives: c(count::PASSIVES),
                detractors: c(count::DETRACTORS),
            },
            csat: Csat {
                score: csat_score(cell),
                responses: c(count::CSAT_RESPONSES),
                satisfied: c(count::CSAT_SATISFIED),
            },
            ces: Ces {
                average: (c(count::CES_RESPONSES) > 0)
                    .then(|| round(c(count::CES_SUM) as f64 / c(count::CES_RESPONSES) as f64, 2)),
                responses: c(count::CES_RESPONSES),
            },
            alert_latency_seconds: durations(hist::ALERT_LATENCY),
            first_response_seconds: durations(hist::FIRST_RESPONSE),
            time_to_resolve_seconds: durations(hist::TIME_TO_RESOLVE),
            closed: c(count::CLOSED),
            closure_rate: ratio(c(count::CLOSED), c(count::CASES)),
            sla_breaches: c(count::SLA_BREACHES),
            sla_breach_rate: ratio(c(count::SLA_BREACHES), c(count::CASES)),
            asked: c(count::ASKED),
            confirmed: c(count::CONFIRMED),
            confirmation_rate: ratio(c(count::CONFIRMED), c(count::ASKED)),
            reopened: c(count::REOPENED),
            reopen_rate: ratio(c(count::REOPENED), c(count::ASKED)),
            recovered_detractors: c(count::RECOVERED),
            promoter_followups: c(count::PROMOTER_FOLLOWUPS),
            root_causes,
        }
    }
}

/// One day of the period, for charts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DayPoint {
    pub date: NaiveDate,
    pub volume: i64,
    pub nps: Option<f64>,
    pub csat: Option<f64>,
    pub cases: i64,
    pub closed: i64,
    pub alerts: i64,
}

/// A topic in this period against the previous one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopicTrend {
    pub topic: String,
    pub count: i64,
    pub previous: i64,
    pub change: i64,
    pub rising: bool,
    /// The most negative comments on it: ids in the aggregates, their comments read from the
    /// feedback when the report is served.
    pub examples: Vec<Example>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Filter {
    pub team: Option<String>,
    pub source: Option<String>,
    pub topic: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub period: Period,
    pub previous_period: Period,
    pub filter: Filter,
    pub as_of: Timestamp,
    pub totals: Summary,
    pub previous: Summary,
    pub groups: BTreeMap<String, BTreeMap<String, Summary>>,
    pub series: Vec<DayPoint>,
    pub topics: Vec<TopicTrend>,
}

/// The sum of the cells under `dim` in `days`.
fn total(days: &[DayAggregate], dim: &str) -> Cell {
    let mut sum = Cell::default();
    for day in days {
        if let Some(cell) = day.cells.get(dim) {
            sum.apply(cell, 1);
        }
    }
    sum
}

/// The sums of every cell whose dimension starts with `prefix`, by the rest of its name.
fn totals_under(days: &[DayAggregate], prefix: &str) -> BTreeMap<String, Cell> {
    let mut out: BTreeMap<String, Cell> = BTreeMap::new();
    for day in days {
        for (dim, cell) in &day.cells {
            if let Some(name) = dim.strip_prefix(prefix).filter(|n| !n.contains('|')) {
                out.entry(name.to_owned()).or_default().apply(cell, 1);
            }
        }
    }
    out
}

/// The report of `query` from the day aggregates of its period (`current`, missing days are
/// days without feedback) and of the period before (`previous`).
pub fn report(
    query: &MetricsQuery,
    current: &[DayAggregate],
    previous: &[DayAggregate],
    as_of: Timestamp,
) -> Report {
    let dim = query.dim();
    let series = query
        .days()
        .into_iter()
        .map(|date| {
            let cell = current
                .iter()
                .find(|d| d.date == date)
                .and_then(|d| d.cells.get(&dim))
                .cloned()
                .unwrap_or_default();
            DayPoint {
                date,
                volume: cell.count(count::VOLUME),
                nps: nps_score(&cell),
                csat: csat_score(&cell),
                cases: cell.count(count::CASES),
                closed: cell.count(count::CLOSED),
                alerts: cell.count(count::ALERTS),
            }
        })
        .collect();
    let mut groups = BTreeMap::new();
    if let Some(kind) = query.group_by {
        groups.insert(
            kind.as_str().to_owned(),
            totals_under(current, &format!("{}:", kind.as_str()))
                .iter()
                .map(|(name, cell)| (name.clone(), Summary::of(cell)))
                .collect(),
        );
    }
    let topics = topic_trends(query, current, previous);
    let (prev_from, prev_to) = query.previous();
    let filter = |kind| {
        query
            .filter
            .as_ref()
            .filter(|(k, _)| *k == kind)
            .map(|(_, v)| v.clone())
    };
    Report {
        period: Period {
            from: query.from,
            to: query.to,
        },
        previous_period: Period {
            from: prev_from,
            to: prev_to,
        },
        filter: Filter {
            team: filter(Kind::Team),
            source: filter(Kind::Source),
            topic: filter(Kind::Topic),
        },
        as_of,
        totals: Summary::of(&total(current, &dim)),
        previous: Summary::of(&total(previous, &dim)),
        groups,
        series,
        topics,
    }
}

/// Topics of this period against the previous one, the fastest rising first.
fn topic_trends(
    query: &MetricsQuery,
    current: &[DayAggregate],
    previous: &[DayAggregate],
) -> Vec<TopicTrend> {
    let prefix = query.topic_prefix();
    let now = totals_under(current, &prefix);
    let before = totals_under(previous, &prefix);
    let only = match &query.filter {
        Some((Kind::Topic, topic)) => Some(topic.as_str()),
        _ => None,
    };
    let mut names: Vec<&String> = now.keys().chain(before.keys()).collect();
    names.sort();
    names.dedup();
    let mut trends: Vec<TopicTrend> = names
        .into_iter()
        .filter(|name| only.is_none_or(|o| o == name.as_str()))
        .map(|name| {
            let cell = now.get(name).cloned().unwrap_or_default();
            let count = cell.count(count::VOLUME);
            let previous = before
                .get(name)
                .map(|c| c.count(count::VOLUME))
                .unwrap_or(0);
            let mut examples = cell.examples;
            examples.truncate(EXAMPLES_PER_TOPIC);
            TopicTrend {
                topic: name.clone(),
                count,
                previous,
                change: count - previous,
                rising: count > previous,
                examples,
            }
        })
        .collect();
    trends.sort_by(|a, b| {
        b.change
            .cmp(&a.change)
            .then(b.count.cmp(&a.count))
            .then(a.topic.cmp(&b.topic))
    });
    trends.truncate(MAX_TOPICS);
    trends
}
