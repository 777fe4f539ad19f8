//! metrics: measuring the loop, and exporting what it holds.
//!
//! - `GET /v1/metrics` (an agent key or better): volume, NPS, CSAT, CES, alert latency,
//!   first-response time and time to resolve (median and 90th percentile), closure, SLA
//!   breach, confirmation and reopen rates, recovered detractors, promoter follow-ups, root
//!   causes, a daily series and topic trends against the previous period, by period and by
//!   team, source or topic (`closeloop_domain::metrics`), and how far the fold is behind the
//!   log (`projection.behind`).
//! - `GET /v1/exports/{feedback,cases}.{csv,json}` (a team lead or better: exports carry
//!   customers' details), with the same period and filters, a page of at most 10,000 rows and
//!   a `Link: rel="next"` to the rest.
//!
//! Both only read (`closeloop_workflow::reads`): the fold keeps the day aggregates current in
//! every fold, so a request reads one record per day of its period, whatever the store holds.

use closeloop_edge::access::authenticate;
use closeloop_edge::clock;
use closeloop_edge::domain::access::Role;
use closeloop_edge::domain::export::{self, ExportQuery, Format};
use closeloop_edge::domain::metrics::MetricsQuery;
use closeloop_edge::domain::problem::Problem;
use closeloop_edge::flow::reads;
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use spin_sdk::http_component;

const COMPONENT: &str = "metrics";
/// Requests carry no body; anything larger than this is refused.
const MAX_BODY_BYTES: usize = 1024;

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
    let now = clock::now();
    match segments.as_slice() {
        ["v1", "exports", name] => export(&kv, req, name),
        _ => {
            let query =
                MetricsQuery::parse(&req.query, now.date_naive()).map_err(Problem::invalid)?;
            let report = reads::metrics::report(kv.store(), &query, now)?;
            log.field("projection_behind", report.projection.behind);
            Ok(Reply::json(200, &report).into())
        }
    }
}

fn export(kv: &Kv, req: &Incoming, name: &str) -> Result<Handled, Problem> {
    let Some((dataset, format)) = export::parse_name(name) else {
        return Err(http::not_found(&req.path));
    };
    let today = clock::now().date_naive();
    let query = ExportQuery::parse(&req.query, today).map_err(Problem::invalid)?;
    let (rows, next) = reads::exports::rows(kv.store(), &query, dataset)?;
    let next_query = next.map(|c| query.next_query(c));
    let body = match format {
        Format::Csv => rows.to_csv(),
        Format::Json => rows.to_json(next_query.clone()),
    };
    let disposition = format!("attachment; filename=\"closeloop-{name}\"");
    let mut reply = Reply::new(200, format.content_type(), body)
        .with_header("content-disposition", &disposition);
    if let Some(q) = next_query {
        reply = reply.with_header("link", &format!("</v1/exports/{name}?{q}>; rel=\"next\""));
    }
    Ok(reply.into())
}
