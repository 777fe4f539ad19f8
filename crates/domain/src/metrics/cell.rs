//! A cell: the counters, duration histograms and example comments of one (day, dimension).
//!
//! A cell is a sum of subjects' contributions; every field adds and subtracts, so a subject
//! whose case moves on is taken out with its old contribution and put back with its new one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counter names.
pub mod count {
    pub const VOLUME: &str = "volume";
    pub const CASES: &str = "cases";
    pub const NPS_RESPONSES: &str = "nps_responses";
    pub const PROMOTERS: &str = "nps_promoters";
    pub const PASSIVES: &str = "nps_passives";
    pub const DETRACTORS: &str = "nps_detractors";
    pub const CSAT_RESPONSES: &str = "csat_responses";
    pub const CSAT_SATISFIED: &str = "csat_satisfied";
    pub const CES_RESPONSES: &str = "ces_responses";
    pub const CES_SUM: &str = "ces_sum";
    pub const ALERTS: &str = "alerts";
    pub const CLOSED: &str = "closed";
    pub const SLA_BREACHES: &str = "sla_breaches";
    pub const ASKED: &str = "asked";
    pub const CONFIRMED: &str = "confirmed";
    pub const REOPENED: &str = "reopened";
    pub const RECOVERED: &str = "recovered_detractors";
    pub const PROMOTER_FOLLOWUPS: &str = "promoter_followups";
    /// Prefix of one counter per root-cause category.
    pub const ROOT_CAUSE: &str = "root_cause:";
}

/// Histogram names (durations in seconds).
pub mod hist {
    pub const ALERT_LATENCY: &str = "alert_latency";
    pub const FIRST_RESPONSE: &str = "first_response";
    pub const TIME_TO_RESOLVE: &str = "time_to_resolve";
}

/// How many example comments a cell keeps (the most negative first).
pub const MAX_EXAMPLES: usize = 5;

/// Each bucket is this much wider than the one before: a value read back from its bucket is
/// within `BUCKET_GROWTH.sqrt() - 1` (2.5%) of the true value.
pub const BUCKET_GROWTH: f64 = 1.05;

/// The bucket of a duration of `secs` seconds: 0 for under a second, then logarithmic.
pub fn bucket(secs: i64) -> u16 {
    if secs < 1 {
        return 0;
    }
    let b = ((secs as f64).ln() / BUCKET_GROWTH.ln()).floor() as i64 + 1;
    b.clamp(1, i64::from(u16::MAX)) as u16
}

/// The value a bucket stands for: the geometric middle of its bounds (0 for bucket 0).
pub fn bucket_value(bucket: u16) -> f64 {
    if bucket == 0 {
        return 0.0;
    }
    let lower = BUCKET_GROWTH.powi(i32::from(bucket) - 1);
    lower * BUCKET_GROWTH.sqrt()
}

/// A feedback item cited as an example of a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub feedback_id: String,
    pub case_id: Option<String>,
    /// The comment's sentiment, -1 to 1: the most negative examples are kept.
    pub sentiment: f64,
    /// The comment itself, filled in when a report is served (the aggregates keep only ids,
    /// so an erased customer's words are never kept there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, i64>,
    /// Histogram name to bucket to count.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hists: BTreeMap<String, BTreeMap<u16, i64>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Example>,
}

impl Cell {
    pub fn count(&self, name: &str) -> i64 {
        self.counts.get(name).copied().unwrap_or(0)
    }

    pub fn bump(&mut self, name: &str, by: i64) {
        let slot = self.counts.entry(name.to_owned()).or_insert(0);
        *slot += by;
        if *slot == 0 {
            self.counts.remove(name);
        }
    }

    /// Records one duration of `secs` seconds in histogram `name`.
    pub fn observe(&mut self, name: &str, secs: i64) {
        *self
            .hists
            .entry(name.to_owned())
            .or_default()
            .entry(bucket(secs))
            .or_insert(0) += 1;
    }

    /// Adds `other` (`sign` 1) or takes it away (`sign` -1).
    pub fn apply(&mut self, other: &Cell, sign: i64) {
        for (name, n) in &other.counts {
            self.bump(name, sign * n);
        }
        for (name, buckets) in &other.hists {
            let mine = self.hists.entry(name.clone()).or_default();
            for (b, n) in buckets {
                let slot = mine.entry(*b).or_insert(0);
                *slot += sign * n;
                if *slot == 0 {
                    mine.remove(b);
                }
            }
            if mine.is_empty() {
                self.hists.remove(name);
            }
        }
        for example in &other.examples {
            self.examples
                .retain(|e| e.feedback_id != example.feedback_id);
            if sign > 0 {
                self.examples.push(example.clone());
            }
        }
        self.examples
            .sort_by(|a, b| a.sentiment.total_cmp(&b.sentiment));
        self.examples.truncate(MAX_EXAMPLES);
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.hists.is_empty() && self.examples.is_empty()
    }

    /// How many durations histogram `name` holds.
    pub fn observations(&self, name: &str) -> i64 {
        self.hists.get(name).map(|h| h.values().sum()).unwrap_or(0)
    }

    /// The nearest-rank percentile `p` (0 to 1) of histogram `name`, read back from its bucket
    /// (within 2.5%); `None` without observations.
    pub fn percentile(&self, name: &str, p: f64) -> Option<f64> {
        let hist = self.hists.get(name)?;
        let total: i64 = hist.values().sum();
        if total <= 0 {
            return None;
        }
        let rank = ((p * total as f64).ceil() as i64).max(1);
        let mut seen = 0;
        for (b, n) in hist {
            seen += n;
            if seen >= rank {
                return Some(bucket_value(*b));
            }
        }
        hist.keys().next_back().map(|b| bucket_value(*b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_reads_back_within_two_and_a_half_percent() {
        for secs in [1_i64, 2, 7, 59, 60, 61, 3_599, 86_400, 31_536_000] {
            let back = bucket_value(bucket(secs));
            let error = (back - secs as f64).abs() / secs as f64;
            assert!(error <= 0.0247, "{secs}: {back} ({error})");
        }
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(-5), 0);
        assert!(bucket(2) > bucket(1));
    }

    #[test]
    fn adding_then_taking_away_leaves_nothing() {
        let mut subject = Cell::default();
        subject.bump(count::VOLUME, 1);
        subject.observe(hist::FIRST_RESPONSE, 600);
        subject.examples.push(Example {
            feedback_id: "f".into(),
            case_id: None,
            sentiment: -0.5,
            comment: None,
        });
        let mut cell = Cell::default();
        cell.apply(&subject, 1);
        assert_eq!(cell.count(count::VOLUME), 1);
        assert_eq!(cell.observations(hist::FIRST_RESPONSE), 1);
        cell.apply(&subject, -1);
        assert!(cell.is_empty(), "{cell:?}");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut cell = Cell::default();
        for secs in 1..=10 {
            cell.observe(hist::TIME_TO_RESOLVE, secs * 100);
        }
        let median = cell.percentile(hist::TIME_TO_RESOLVE, 0.5).unwrap();
        assert!((median - 500.0).abs() / 500.0 <= 0.025, "{median}");
        let p90 = cell.percentile(hist::TIME_TO_RESOLVE, 0.9).unwrap();
        assert!((p90 - 900.0).abs() / 900.0 <= 0.025, "{p90}");
        assert_eq!(cell.percentile(hist::ALERT_LATENCY, 0.5), None);
    }

    #[test]
    fn examples_keep_the_most_negative() {
        let mut cell = Cell::default();
        for i in 0..8 {
            let mut one = Cell::default();
            one.examples.push(Example {
                feedback_id: format!("f{i}"),
                case_id: None,
                sentiment: -(i as f64) / 10.0,
                comment: None,
            });
            cell.apply(&one, 1);
        }
        let ids: Vec<_> = cell
            .examples
            .iter()
            .map(|e| e.feedback_id.as_str())
            .collect();
        assert_eq!(ids, ["f7", "f6", "f5", "f4", "f3"]);
    }
}
