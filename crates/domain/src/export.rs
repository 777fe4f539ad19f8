//! Exports of feedback and cases, as CSV or JSON, with the metrics' period and filters.
//!
//! An export walks the period's days through the projector's per-day lists of feedback, so it
//! reads only what it returns; a page holds at most [`MAX_EXPORT_ROWS`] rows and names the
//! cursor of the next. CSV cells that a spreadsheet would run as a formula are prefixed with
//! an apostrophe (OWASP's advice on CSV injection).

use chrono::NaiveDate;
use serde::Serialize;

use crate::case::Case;
use crate::feedback::Feedback;
use crate::metrics::MetricsQuery;
use crate::metrics::contribution::Contribution;
use crate::problem::FieldError;

/// The most rows one export request returns.
pub const MAX_EXPORT_ROWS: usize = 10_000;

/// What is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    Feedback,
    Cases,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Json => "application/json",
        }
    }
}

/// `cases.csv`, `feedback.json`, ...
pub fn parse_name(name: &str) -> Option<(Dataset, Format)> {
    let (dataset, format) = name.split_once('.')?;
    let dataset = match dataset {
        "feedback" => Dataset::Feedback,
        "cases" => Dataset::Cases,
        _ => return None,
    };
    let format = match format {
        "csv" => Format::Csv,
        "json" => Format::Json,
        _ => return None,
    };
    Some((dataset, format))
}

/// Where an export page starts: a day and a position in its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub date: NaiveDate,
    pub offset: usize,
}

impl Cursor {
    pub fn parse(s: &str) -> Option<Self> {
        let (date, offset) = s.split_once('.')?;
        Some(Cursor {
            date: NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?,
            offset: offset.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.date, self.offset)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportQuery {
    pub period: MetricsQuery,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl ExportQuery {
    pub fn parse(query: &str, today: NaiveDate) -> Result<Self, Vec<FieldError>> {
        let (mut limit, mut cursor) = (MAX_EXPORT_ROWS, None);
        let period =
            MetricsQuery::parse_with(query, today, &["limit", "cursor"], |name, value, errors| {
                match name {
                    "limit" => match value.parse::<usize>() {
                        Ok(n) if (1..=MAX_EXPORT_ROWS).contains(&n) => limit = n,
                        _ => errors.push(FieldError::new(
                            "/query/limit",
                            format!("use a whole number from 1 to {MAX_EXPORT_ROWS}"),
                        )),
                    },
                    _ => match Cursor::parse(value) {
                        Some(c) => cursor = Some(c),
                        None => errors.push(FieldError::new(
                            "/query/cursor",
                            "use the cursor a previous export page gave",
                        )),
                    },
                }
                true
            })?;
        Ok(ExportQuery {
            period,
            limit,
            cursor,
        })
    }

    /// Whether a feedback with this contribution is in the filter.
    pub fn selects(&self, contribution: &Contribution) -> bool {
        let dim = self.period.dim();
        contribution.dims.contains(&dim)
    }

    /// The query string of the page starting at `next`.
    pub fn next_query(&self, next: Cursor) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("from", &self.period.from.to_string());
        q.append_pair("to", &self.period.to.to_string());
        if let Some((kind, value)) = &self.period.filter {
            q.append_pair(kind.as_str(), value);
        }
        q.append_pair("limit", &self.limit.to_string());
        q.append_pair("cursor", &next.to_string());
        q.finish()
    }
}

/// One row of the feedback export.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedbackRow {
    pub feedback_id: String,
    pub received_at: String,
    pub source: String,
    pub external_id: String,
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub score_kind: Option<&'static str>,
    pub score: Option<i64>,
    pub scale: Option<i64>,
    pub comment: Option<String>,
    pub team: Option<String>,
    pub topics: Vec<String>,
    pub sentiment: Option<f64>,
    pub case_id: Option<String>,
    pub case_state: Option<&'static str>,
}

impl FeedbackRow {
    pub const HEADER: [&'static str; 16] = [
        "feedback_id",
        "received_at",
        "source",
        "external_id",
        "customer_id",
        "customer_name",
        "customer_email",
        "score_kind",
        "score",
        "scale",
        "comment",
        "team",
        "topics",
        "sentiment",
        "case_id",
        "case_state",
    ];

    pub fn new(feedback: &Feedback, case: Option<&Case>) -> Self {
        let analysis = case.map(|c| &c.triage.analysis);
        FeedbackRow {
            feedback_id: feedback.id.clone(),
            received_at: feedback.received_at.to_rfc3339(),
            source: feedback.source.clone(),
            external_id: feedback.external_id.clone(),
            customer_id: feedback.customer.id.clone(),
            customer_name: feedback.customer.name.clone(),
            customer_email: feedback.customer.email.clone(),
            score_kind: feedback.score.map(|s| s.kind.as_str()),
            score: feedback.score.map(|s| s.value),
            scale: feedback.score.map(|s| s.scale),
            comment: feedback.comment.clone(),
            team: case.map(|c| c.triage.team.clone()),
            topics: analysis
                .map(|a| a.topics.iter().map(|t| t.topic.clone()).collect())
                .unwrap_or_default(),
            sentiment: analysis.and_then(|a| a.sentiment.as_ref()).map(|s| s.score),
            case_id: case.map(|c| c.id.clone()),
            case_state: case.map(|c| c.state.as_str()),
        }
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.feedback_id.clone(),
            self.received_at.clone(),
            self.source.clone(),
            self.external_id.clone(),
            opt(&self.customer_id),
            opt(&self.customer_name),
            opt(&self.customer_email),
            self.score_kind.unwrap_or_default().to_owned(),
            num(self.score),
            num(self.scale),
            opt(&self.comment),
            opt(&self.team),
            self.topics.join(";"),
            self.sentiment
                .map(|s| format!("{s:.3}"))
                .unwrap_or_default(),
            opt(&self.case_id),
            self.case_state.unwrap_or_default().to_owned(),
        ]
    }
}

/// One row of the case export.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseRow {
    pub case_id: String,
    pub feedback_id: String,
    pub received_at: String,
    pub opened_at: String,
    pub state: &'static str,
    pub priority: &'static str,
    pub team: String,
    pub owner: Option<String>,
    pub score: Option<String>,
    pub first_response_at: Option<String>,
    pub resolved_at: Option<String>,
    pub root_cause: Option<&'static str>,
    pub resolution: Option<String>,
    pub closed_at: Option<String>,
    pub reopen_count: u32,
    pub customer_confirmed: Option<bool>,
    pub recovered_detractor: bool,
    pub first_response_due: String,
    pub resolution_due: String,
}

impl CaseRow {
    pub const HEADER: [&'static str; 19] = [
        "case_id",
        "feedback_id",
        "received_at",
        "opened_at",
        "state",
        "priority",
        "team",
        "owner",
        "score",
        "first_response_at",
        "resolved_at",
        "root_cause",
        "resolution",
        "closed_at",
        "reopen_count",
        "customer_confirmed",
        "recovered_detractor",
        "first_response_due",
        "resolution_due",
    ];

    pub fn new(case: &Case, feedback: &Feedback) -> Self {
        let time = |t: Option<crate::Timestamp>| t.map(|t| t.to_rfc3339());
        CaseRow {
            case_id: case.id.clone(),
            feedback_id: feedback.id.clone(),
            received_at: feedback.received_at.to_rfc3339(),
            opened_at: case.opened_at.to_rfc3339(),
            state: case.state.as_str(),
            priority: case.triage.priority.as_str(),
            team: case.triage.team.clone(),
            owner: case.owner.clone(),
            score: feedback.score.map(|s| s.label()),
            first_response_at: time(case.first_response_at),
            resolved_at: time(case.resolution.as_ref().map(|r| r.resolved_at)),
            root_cause: case.resolution.as_ref().map(|r| r.root_cause.as_str()),
            resolution: case.resolution.as_ref().map(|r| r.summary.clone()),
            closed_at: time(case.closed_at),
            reopen_count: case.reopen_count,
            customer_confirmed: case.customer_answer.as_ref().map(|a| a.resolved),
            recovered_detractor: case.recovered_detractor(feedback.score),
            first_response_due: case.triage.first_response_due.to_rfc3339(),
            resolution_due: case.triage.resolution_due.to_rfc3339(),
        }
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.case_id.clone(),
            self.feedback_id.clone(),
            self.received_at.clone(),
            self.opened_at.clone(),
            self.state.to_owned(),
            self.priority.to_owned(),
            self.team.clone(),
            opt(&self.owner),
            opt(&self.score),
            opt(&self.first_response_at),
            opt(&self.resolved_at),
            self.root_cause.unwrap_or_default().to_owned(),
            opt(&self.resolution),
            opt(&self.closed_at),
            self.reopen_count.to_string(),
            self.customer_confirmed
                .map(|b| b.to_string())
                .unwrap_or_default(),
            self.recovered_detractor.to_string(),
            self.first_response_due.clone(),
            self.resolution_due.clone(),
        ]
    }
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn num(n: Option<i64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

/// A cell a spreadsheet would read as a formula gets a leading apostrophe.
fn defuse(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// Rows of either export.
pub enum Rows {
    Feedback(Vec<FeedbackRow>),
    Cases(Vec<CaseRow>),
}

impl Rows {
    pub fn len(&self) -> usize {
        match self {
            Self::Feedback(r) => r.len(),
            Self::Cases(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows as CSV with a header line.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut out = csv::Writer::from_writer(Vec::new());
        let (header, rows): (&[&str], Vec<Vec<String>>) = match self {
            Self::Feedback(r) => (
                &FeedbackRow::HEADER,
                r.iter().map(FeedbackRow::cells).collect(),
            ),
            Self::Cases(r) => (&CaseRow::HEADER, r.iter().map(CaseRow::cells).collect()),
        };
        // Writing to a Vec cannot fail.
        let _ = out.write_record(header);
        for row in rows {
            let _ = out.write_record(row.into_iter().map(defuse));
        }
        out.into_inner().unwrap_or_default()
    }

    /// The rows as JSON, with the next page's cursor.
    pub fn to_json(&self, next: Option<String>) -> Vec<u8> {
        let rows = match self {
            Self::Feedback(r) => serde_json::to_value(r),
            Self::Cases(r) => serde_json::to_value(r),
        }
        .unwrap_or_default();
        serde_json::to_vec(&serde_json::json!({"rows": rows, "count": self.len(), "next": next}))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cursors_and_limits() {
        assert_eq!(parse_name("cases.csv"), Some((Dataset::Cases, Format::Csv)));
        assert_eq!(
            parse_name("feedback.json"),
            Some((Dataset::Feedback, Format::Json))
        );
        assert_eq!(parse_name("cases.xlsx"), None);
        assert_eq!(parse_name("people.csv"), None);
        let c = Cursor::parse("2026-11-03.120").unwrap();
        assert_eq!(c.to_string(), "2026-11-03.120");
        assert_eq!(Cursor::parse("yesterday.1"), None);
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let q = ExportQuery::parse("team=support&limit=10000", today).unwrap();
        assert_eq!(q.limit, MAX_EXPORT_ROWS);
        let next = q.next_query(Cursor {
            date: today,
            offset: 3,
        });
        assert_eq!(
            ExportQuery::parse(&next, today).unwrap().cursor,
            Some(Cursor {
                date: today,
                offset: 3
            })
        );
        let err = ExportQuery::parse("limit=10001&cursor=x&group_by=team", today).unwrap_err();
        let pointers: Vec<_> = err.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/query/limit", "/query/cursor", "/query/group_by"]
        );
        assert!(ExportQuery::parse("limit=0", today).is_err());
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let row = FeedbackRow {
            feedback_id: "f1".into(),
            received_at: "2026-11-23T09:00:00+00:00".into(),
            source: "api".into(),
            external_id: "x".into(),
            customer_id: None,
            customer_name: Some("=HYPERLINK(\"http://evil\")".into()),
            customer_email: None,
            score_kind: Some("nps"),
            score: Some(3),
            scale: Some(10),
            comment: Some("late, \"again\"\nand rude".into()),
            team: Some("support".into()),
            topics: vec!["delivery".into(), "staff".into()],
            sentiment: Some(-0.5),
            case_id: None,
            case_state: None,
        };
        let csv = String::from_utf8(Rows::Feedback(vec![row]).to_csv()).unwrap();
        let mut lines = csv.splitn(2, '\n');
        assert_eq!(lines.next().unwrap(), FeedbackRow::HEADER.join(","));
        let body = lines.next().unwrap();
        assert!(
            body.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
            "{body}"
        );
        assert!(body.contains("\"late, \"\"again\"\"\nand rude\""), "{body}");
        assert!(body.contains("delivery;staff"));
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(reader.records().count(), 1);
    }
}
