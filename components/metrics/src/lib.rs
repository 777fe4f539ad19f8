//! metrics: measuring the loop, and exporting what it holds.
//!
//! - `GET /v1/metrics` (an agent key or better): volume, NPS, CSAT, CES, alert latency,
//!   first-response time and time to resolve (median and 90th percentile), closure, SLA
//!   breach, confirmation and reopen rates, recovered detractors, promoter follow-ups, root
//!   causes, a daily series and topic trends against the previous period, by period and by
//!   team, source or topic (`closeloop_domain::metrics`).
//! - `GET /v1/exports/{feedback,cases}.{csv,json}` (a team lead or better: exports carry
//!   customers' details), with the same period and filters, a page of at most 10,000 rows and
//!   a `Link: rel="next"` to the rest.
//!
//! Both read only the projections (`closeloop_edge::projection`), which they first bring up to
//! date: a request reads one record per day of its period, whatever the store holds.

use closeloop_edge::access::authenticate;
use closeloop_edge::domain::access::Role;
use closeloop_edge::domain::case::Case;
use closeloop_edge::domain::export::{
    self, CaseRow, Cursor, Dataset, ExportQuery, FeedbackRow, Format, Rows,
};
use closeloop_edge::domain::feedback::Feedback;
use closeloop_edge::domain::keys;
use closeloop_edge::domain::metrics::{self, MetricsQuery};
use closeloop_edge::domain::problem::Problem;
use closeloop_edge::domain::projection::{Projected, keys as projection_keys};
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use closeloop_edge::{clock, projection};
use serde_json::Value;
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use spin_sdk::http_component;

const COMPONENT: &str = "metrics";
/// Requests carry no body; anything larger than this is refused.
const MAX_BODY_BYTES: usize = 1024;
/// How much of a comment a topic example shows.
const EXAMPLE_CHARS: usize = 240;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    http::serve(COMPONENT, req, out, MAX_BODY_BYTES, route);
}

fn route(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    let segments = req.segments();
    let (route, needed, what): (&'static str, Role, &str) = match segments.as_slice() {
        ["v1", "metrics"] => ("/v1/metrics", Role::Agent, "the metrics"),
        ["v1", "exports", _] => ("/v1/exports/:name", Role::TeamLead, "exports"),
        _ => return Err(http::not_found(&req.path)),
    };
    log.route(route);
    if req.method != Method::Get {
        return Err(http::method_not_allowed("GET"));
    }
    let kv = Kv::open()?;
    let principal = authenticate(req, &kv)?;
    log.field("role", principal.role.as_str());
    principal.require(needed, what)?;
    let progress = projection::catch_up(&kv, projection::READ_WAIT)?;
    log.field("projection_behind", progress.behind());
    match segments.as_slice() {
        ["v1", "exports", name] => export(&kv, req, name),
        _ => {
            let today = clock::now().date_naive();
            let query = MetricsQuery::parse(&req.query, today).map_err(Problem::invalid)?;
            let report = report(&kv, &query, progress)?;
            Ok(Reply::json(200, &report).into())
        }
    }
}

/// The report, with each topic example's comment read from its feedback (an erased
/// customer's comment is gone from there, and so from here).
fn report(kv: &Kv, query: &MetricsQuery, progress: projection::Progress) -> Result<Value, Problem> {
    let current = projection::days(kv, query.from, query.to)?;
    let (from, to) = query.previous();
    let previous = projection::days(kv, from, to)?;
    let mut report = metrics::report(query, &current, &previous, clock::now());
    for topic in &mut report.topics {
        for example in &mut topic.examples {
            example.comment = kv
                .get::<Feedback>(&keys::feedback(&example.feedback_id))?
                .and_then(|f| f.comment)
                .map(|c| c.chars().take(EXAMPLE_CHARS).collect());
        }
        topic.examples.retain(|e| e.comment.is_some());
    }
    let mut body = serde_json::to_value(&report).unwrap_or_default();
    body["projection"] = progress.to_json();
    Ok(body)
}

fn export(kv: &Kv, req: &Incoming, name: &str) -> Result<Handled, Problem> {
    let Some((dataset, format)) = export::parse_name(name) else {
        return Err(http::not_found(&req.path));
    };
    let today = clock::now().date_naive();
    let query = ExportQuery::parse(&req.query, today).map_err(Problem::invalid)?;
    let (rows, next) = rows(kv, &query, dataset)?;
    let next_query = next.map(|c| query.next_query(c));
    let body = match format {
        Format::Csv => rows.to_csv(),
        Format::Json => rows.to_json(next_query.clone()),
    };
    let mut reply = Reply::new(200, format.content_type(), body).with_header(
        "content-disposition",
        &format!("attachment; filename=\"closeloop-{name}\""),
    );
    if let Some(q) = next_query {
        reply = reply.with_header("link", &format!("</v1/exports/{name}?{q}>; rel=\"next\""));
    }
    Ok(reply.into())
}

/// The page of rows from the query's cursor on, and the cursor of the next page.
fn rows(kv: &Kv, query: &ExportQuery, dataset: Dataset) -> Result<(Rows, Option<Cursor>), Problem> {
    let (mut feedback_rows, mut case_rows) = (Vec::new(), Vec::new());
    let start = query.cursor;
    for day in projection::days(kv, query.period.from, query.period.to)? {
        if start.is_some_and(|c| day.date < c.date) {
            continue;
        }
        let skip = start.filter(|c| c.date == day.date).map_or(0, |c| c.offset);
        for (offset, id) in projection::day_ids(kv, &day)?.iter().enumerate().skip(skip) {
            if feedback_rows.len() + case_rows.len() >= query.limit {
                return Ok((
                    collect(dataset, feedback_rows, case_rows),
                    Some(Cursor {
                        date: day.date,
                        offset,
                    }),
                ));
            }
            let selected = kv
                .get::<Projected>(&projection_keys::projected(id))?
                .is_some_and(|p| query.selects(&p.contribution));
            if !selected {
                continue;
            }
            let Some(feedback) = kv.get::<Feedback>(&keys::feedback(id))? else {
                continue;
            };
            let case = kv.get::<Case>(&keys::case(&Case::id_for(id, feedback.received_at)))?;
            match (dataset, case) {
                (Dataset::Feedback, case) => {
                    feedback_rows.push(FeedbackRow::new(&feedback, case.as_ref()))
                }
                (Dataset::Cases, Some(case)) => case_rows.push(CaseRow::new(&case, &feedback)),
                (Dataset::Cases, None) => {}
            }
        }
    }
    Ok((collect(dataset, feedback_rows, case_rows), None))
}

fn collect(dataset: Dataset, feedback: Vec<FeedbackRow>, cases: Vec<CaseRow>) -> Rows {
    match dataset {
        Dataset::Feedback => Rows::Feedback(feedback),
        Dataset::Cases => Rows::Cases(cases),
    }
}
