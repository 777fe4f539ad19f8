//! Measuring the loop: volume, scores, response and resolution times, closure, confirmation,
//! reopen and SLA breach rates, recovered detractors, topic trends and root causes.
//!
//! The numbers come from day aggregates, one record per UTC day holding a [`Cell`] per
//! dimension (`all`, each team, source and topic, and each team's topics). The projector
//! (`crate::projection`) keeps them up to date: it takes a feedback's old [`Contribution`] out
//! and puts its new one in whenever the feedback or its case changes, so a request reads one
//! record per day of its period, however many cases the store holds. Durations are kept as
//! histograms with 5% wide buckets: medians and 90th percentiles are exact to within 2.5%.

pub mod cell;
pub mod contribution;
pub mod report;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use cell::Cell;
pub use contribution::Contribution;
pub use report::{MetricsQuery, Report, report};

use crate::envelope::Record;

/// The aggregates of the feedback received on one UTC day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayAggregate {
    pub date: NaiveDate,
    pub cells: BTreeMap<String, Cell>,
    /// How many feedback ids the day's id lists hold (`projection::DayIds`).
    #[serde(default)]
    pub listed: u64,
}

impl Record for DayAggregate {
    const SCHEMA: &'static str = "metrics-day/1";
}

impl DayAggregate {
    pub fn new(date: NaiveDate) -> Self {
        DayAggregate {
            date,
            cells: BTreeMap::new(),
            listed: 0,
        }
    }

    /// Adds (`sign` 1) or takes away (`sign` -1) one feedback's contribution.
    pub fn apply(&mut self, contribution: &Contribution, sign: i64) {
        for dim in &contribution.dims {
            let cell = self.cells.entry(dim.clone()).or_default();
            cell.apply(&contribution.cell_for(dim), sign);
            if cell.is_empty() {
                self.cells.remove(dim);
            }
        }
    }
}
