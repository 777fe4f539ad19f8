//! The console's pages, rendered with maud: every interpolated value is escaped, no page has a
//! script, and styles come from the console's own stylesheet.

use closeloop_domain::Timestamp;
use closeloop_domain::api::CaseView;
use closeloop_domain::case::RootCause;
use closeloop_domain::metrics::report::{Durations, Report, Summary};
use maud::{DOCTYPE, Markup, html};

use crate::charts;
use crate::client::CaseList;
use crate::forms::DashboardQuery;

/// The stylesheet's path (served by the console itself: `style-src 'self'`).
pub const STYLESHEET: &str = "/console/assets/console.css";

/// What the header shows for a signed-in user: the sign-out form needs the CSRF token.
pub struct Chrome<'a> {
    pub csrf: Option<&'a str>,
    pub active: &'a str,
}

fn layout(title: &str, chrome: &Chrome, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · closeloop" }
                link rel="stylesheet" href=(STYLESHEET);
            }
            body {
                header class="top" {
                    a class="brand" href="/console" { "closeloop" }
                    @if let Some(csrf) = chrome.csrf {
                        nav {
                            a href="/console" class=[(chrome.active == "inbox").then_some("active")] { "Inbox" }
                            a href="/console/dashboard" class=[(chrome.active == "dashboard").then_some("active")] { "Dashboard" }
                        }
                        form method="post" action="/console/sign-out" class="sign-out" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" class="secondary" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// `2026-11-23 09:30 UTC`.
pub fn when(t: Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `in 3 h`, `25 min ago`.
pub fn relative(t: Timestamp, now: Timestamp) -> String {
    let secs = (t - now).num_seconds();
    let span = charts::duration(secs.unsigned_abs() as f64);
    if secs >= 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

fn flash_and_error(flash: Option<&str>, error: Option<&str>) -> Markup {
    html! {
        @if let Some(f) = flash { p class="flash" role="status" { (f) } }
        @if let Some(e) = error { p class="error" role="alert" { (e) } }
    }
}

/// The sign-in form, protected by the double-submit `login_token`.
/// The sign-in form; `next` is the console page to land on once signed in.
pub fn sign_in(login_token: &str, next: Option<&str>, error: Option<&str>) -> String {
    let chrome = Chrome {
        csrf: None,
        active: "",
    };
    layout(
        "Sign in",
        &chrome,
        html! {
            section class="narrow" {
                h1 { "Sign in" }
                p { "Use your personal API key (" code { "clk_…" } ") or your team's agent token." }
                (flash_and_error(None, error))
                form method="post" action="/console/sign-in" {
                    input type="hidden" name="login" value=(login_token);
                    @if let Some(next) = next {
                        input type="hidden" name="next" value=(next);
                    }
                    label for="key" { "API key" }
                    input id="key" name="key" type="password" autocomplete="off" required autofocus;
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// A page with a heading and a sentence (errors, 404, 403).
pub fn message(title: &str, text: &str, csrf: Option<&str>) -> String {
    layout(
        title,
        &Chrome { csrf, active: "" },
        html! {
            section class="narrow" {
                h1 { (title) }
                p { (text) }
                p { a href="/console" { "Back to the inbox" } }
            }
        },
    )
}

/// The inbox: open cases most urgent first, as the API sorts them; overdue rows say so in
/// words and carry the `overdue` class.
pub fn inbox(
    list: &CaseList,
    team: Option<&str>,
    csrf: &str,
    now: Timestamp,
    error: Option<&str>,
) -> String {
    let overdue = list.cases.iter().filter(|c| c.overdue).count();
    layout(
        "Inbox",
        &Chrome {
            csrf: Some(csrf),
            active: "inbox",
        },
        html! {
            div class="title-row" {
                h1 { "Inbox" }
                form method="get" action="/console" class="filter" {
                    label for="team" { "Team" }
                    input id="team" name="team" value=[team] placeholder="all teams";
                    button type="submit" class="secondary" { "Filter" }
                }
            }
            (flash_and_error(None, error))
            p class="summary" {
                (list.total) " open case" @if list.total != 1 { "s" }
                @if let Some(t) = team { " of team " strong { (t) } }
                ", most urgent first"
                @if overdue > 0 { " · " span class="badge overdue-badge" { (overdue) " overdue" } }
                @if list.cases.len() < list.total { " · showing the first " (list.cases.len()) }
            }
            @if list.cases.is_empty() {
                p class="empty" { "No open cases. Every loop is closed." }
            } @else {
                table class="inbox" {
                    thead { tr {
                        th { "Due" } th { "Priority" } th { "State" } th { "Customer" } th { "Score" }
                        th { "Comment" } th { "Team" } th { "Owner" }
                    } }
                    tbody {
                        @for c in &list.cases {
                            tr class=[c.overdue.then_some("overdue")] data-case-id=(c.id) {
                                td class="due" {
                                    @if c.overdue { span class="badge overdue-badge" { "Overdue" } " " }
                                    span title=(when(c.next_due)) { (relative(c.next_due, now)) }
                                }
                                td { span class={"priority p-" (c.priority.as_str().to_lowercase())} { (c.priority.as_str()) } }
                                td { (c.state.as_str()) }
                                td { a class="case-link" href={"/console/cases/" (c.id)} { (if c.customer.is_empty() { "(anonymous)" } else { &c.customer }) } }
                                td { (c.score.as_deref().unwrap_or("—")) }
                                td class="comment" { (c.comment_excerpt.as_deref().unwrap_or("")) }
                                td { (c.team) }
                                td { (c.owner.as_deref().unwrap_or("unassigned")) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A case: the feedback, why triage ranked it, its actions, and its timeline.
pub fn case(
    view: &CaseView,
    csrf: &str,
    now: Timestamp,
    flash: Option<&str>,
    error: Option<&str>,
) -> String {
    let case = &view.case;
    let open = case.state.is_open();
    let customer = view
        .feedback
        .as_ref()
        .map(|f| f.customer.display_name().to_owned())
        .unwrap_or_else(|| "(feedback not found)".into());
    let action = |a: &str| format!("/console/cases/{}/{a}", case.id);
    layout(
        &format!("Case: {customer}"),
        &Chrome {
            csrf: Some(csrf),
            active: "inbox",
        },
        html! {
            p { a href="/console" { "← Inbox" } }
            h1 { (customer) " " span class={"priority p-" (case.triage.priority.as_str().to_lowercase())} { (case.triage.priority.as_str()) } }
            p class="summary" {
                "State " strong id="case-state" { (case.state.as_str()) }
                " · team " (case.triage.team)
                " · owner " (case.owner.as_deref().unwrap_or("unassigned"))
                " · opened " (when(case.opened_at))
            }
            (flash_and_error(flash, error))
            div class="columns" {
                section {
                    h2 { "Feedback" }
                    @if let Some(f) = &view.feedback {
                        p class="score" { (f.score.map(|s| s.label()).unwrap_or_else(|| "no score".into())) " · " (f.source) " · " (when(f.submitted_at)) }
                        blockquote class="customer-comment" { (f.comment.as_deref().unwrap_or("(no comment)")) }
                        dl {
                            @if let Some(e) = &f.customer.email { dt { "Email" } dd { (e) } }
                            @if let Some(p) = &f.customer.phone { dt { "Phone" } dd { (p) } }
                        }
                        @if case.anonymous {
                            p class="anonymous" { "Anonymous answer: nobody can confirm the fix, so resolving closes the case." }
                        }
                    } @else {
                        p { "The feedback of this case is not available." }
                    }
                    h2 { "Triage" }
                    dl {
                        dt { "First response due" } dd { (when(case.triage.first_response_due)) " (" (relative(case.triage.first_response_due, now)) ")" }
                        dt { "Resolution due" } dd { (when(case.triage.resolution_due)) " (" (relative(case.triage.resolution_due, now)) ")" }
                        @if let Some(t) = case.first_response_at { dt { "First response" } dd { (when(t)) } }
                        @if !case.triage.analysis.topics.is_empty() {
                            dt { "Topics" }
                            dd { @for (i, t) in case.triage.analysis.topics.iter().enumerate() { @if i > 0 { ", " } (t.topic) } }
                        }
                        dt { "Churn risk" } dd { (charts::percent(case.triage.analysis.churn_risk)) }
                    }
                    @if !case.triage.reasons.is_empty() {
                        h3 { "Why this priority" }
                        ul class="reasons" { @for r in &case.triage.reasons { li { (r) } } }
                    }
                    @if let Some(r) = &case.resolution {
                        h2 { "Resolution" }
                        p { (r.summary) }
                        p class="muted" { "Root cause " (r.root_cause.as_str()) " · by " (r.resolved_by) " · " (when(r.resolved_at)) }
                    }
                    @if let Some(reason) = &case.close_reason {
                        p class="muted" { "Closed without contact: " (reason) }
                    }
                }
                section class="actions" {
                    h2 { "Actions" }
                    @if open {
                        form method="post" action=(action("acknowledge")) {
                            input type="hidden" name="csrf" value=(csrf);
                            label for="ack-note" { "Acknowledge (optional note)" }
                            input id="ack-note" name="note" maxlength="5000";
                            button type="submit" id="acknowledge" { "Acknowledge" }
                        }
                        form method="post" action=(action("resolve")) {
                            input type="hidden" name="csrf" value=(csrf);
                            label for="resolution" { "Resolve: what was done" }
                            textarea id="resolution" name="resolution" maxlength="5000" required {}
                            label for="root_cause" { "Root cause" }
                            select id="root_cause" name="root_cause" required {
                                option value="" { "Choose…" }
                                @for c in RootCause::ALL { option value=(c.as_str()) { (c.as_str()) } }
                            }
                            button type="submit" id="resolve" { "Resolve" }
                        }
                        form method="post" action=(action("assign")) {
                            input type="hidden" name="csrf" value=(csrf);
                            label for="to" { "Reassign to (team leads)" }
                            input id="to" name="to" maxlength="100" required;
                            button type="submit" class="secondary" { "Reassign" }
                        }
                    } @else {
                        p class="muted" { "This case is " (case.state.as_str()) "; nothing is left to do but notes." }
                    }
                    form method="post" action=(action("note")) {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="text" { "Add a note" }
                        textarea id="text" name="text" maxlength="5000" required {}
                        label class="check" { input type="checkbox" name="from_customer"; " More feedback from the customer" }
                        button type="submit" class="secondary" { "Add note" }
                    }
                }
            }
            h2 { "Timeline" }
            ol class="timeline" {
                @for e in &view.timeline {
                    li {
                        span class="when" { (when(e.at)) }
                        " " strong { (e.kind.as_str()) }
                        @if let (Some(from), Some(to)) = (e.from, e.to) { " " span class="muted" { (from.as_str()) " → " (to.as_str()) } }
                        " · " (e.actor)
                        @if !e.detail.is_empty() { div class="detail" { (e.detail) } }
                    }
                }
            }
        },
    )
}

fn latency(l: &Durations) -> String {
    match l.median {
        Some(m) => format!("{} median", charts::duration(m)),
        None => "—".into(),
    }
}

fn kpi(id: &str, name: &str, value: String, count: Option<i64>, previous: String) -> Markup {
    html! {
        div class="kpi" id={"kpi-" (id)} {
            div class="kpi-name" { (name) }
            div class="kpi-value" { (value) }
            @if let Some(n) = count { div class="kpi-count" { "n = " span class="count" { (n) } } }
            div class="kpi-previous" { "previous period: " (previous) }
        }
    }
}

fn score(v: Option<f64>, suffix: &str) -> String {
    v.map(|v| format!("{v:.1}{suffix}"))
        .unwrap_or_else(|| "—".into())
}

fn rate(r: Option<f64>) -> String {
    r.map(charts::percent).unwrap_or_else(|| "—".into())
}

fn kpis(t: &Summary, p: &Summary) -> Markup {
    html! {
        div class="kpis" {
            (kpi("volume", "Feedback", t.volume.to_string(), None, p.volume.to_string()))
            (kpi("cases", "Cases opened", t.cases.to_string(), None, p.cases.to_string()))
            (kpi("nps", "NPS", score(t.nps.score, ""), Some(t.nps.responses), score(p.nps.score, "")))
            (kpi("csat", "CSAT", score(t.csat.score, "%"), Some(t.csat.responses), score(p.csat.score, "%")))
            (kpi("ces", "CES (average)", score(t.ces.average, ""), Some(t.ces.responses), score(p.ces.average, "")))
            (kpi("first-response", "First response", latency(&t.first_response_seconds), Some(t.first_response_seconds.count), latency(&p.first_response_seconds)))
            (kpi("time-to-resolve", "Time to resolve", latency(&t.time_to_resolve_seconds), Some(t.time_to_resolve_seconds.count), latency(&p.time_to_resolve_seconds)))
            (kpi("closed", "Closed", t.closed.to_string(), None, p.closed.to_string()))
            (kpi("sla-breaches", "SLA breaches", t.sla_breaches.to_string(), None, p.sla_breaches.to_string()))
            (kpi("recovered", "Recovered detractors", t.recovered_detractors.to_string(), None, p.recovered_detractors.to_string()))
            (kpi("reopened", "Reopened", t.reopened.to_string(), None, p.reopened.to_string()))
            (kpi("promoter-followups", "Promoter follow-ups", t.promoter_followups.to_string(), None, p.promoter_followups.to_string()))
        }
    }
}

/// The dashboard: the period's numbers against the previous period, charts, and the topics
/// that are rising. `metrics` is the API's answer, or the sentence saying why there is none.
pub fn dashboard(
    query: &DashboardQuery,
    metrics: Option<Result<&Report, &str>>,
    csrf: &str,
    input_error: Option<&str>,
) -> String {
    layout(
        "Dashboard",
        &Chrome {
            csrf: Some(csrf),
            active: "dashboard",
        },
        html! {
            div class="title-row" {
                h1 { "Dashboard" }
                form method="get" action="/console/dashboard" class="filter" {
                    label for="from" { "From" } input id="from" name="from" type="date" value=(query.from_str());
                    label for="to" { "To" } input id="to" name="to" type="date" value=(query.to_str());
                    label for="team" { "Team" } input id="team" name="team" value=[query.team.as_deref()] placeholder="all teams";
                    button type="submit" class="secondary" { "Show" }
                }
            }
            (flash_and_error(None, input_error))
            @match metrics {
                None => {}
                Some(Err(why)) => {
                    p class="error" role="alert" id="metrics-unavailable" { "The metrics are not available: " (why) }
                }
                Some(Ok(m)) => {
                    p class="summary" {
                        (m.period.from) " to " (m.period.to)
                        @if let Some(t) = &query.team { " · team " strong { (t) } }
                        " · compared with " (m.previous_period.from) " to " (m.previous_period.to)
                        " · as of " (when(m.as_of))
                    }
                    (kpis(&m.totals, &m.previous))
                    div class="charts" {
                        figure {
                            figcaption { "Feedback per day" }
                            (charts::bars("Feedback per day", &m.series.iter().map(|d| (d.date.to_string(), d.volume as f64)).collect::<Vec<_>>()))
                        }
                        figure {
                            figcaption { "NPS per day (−100 to 100)" }
                            (charts::line("NPS per day", &m.series.iter().map(|d| (d.date.to_string(), d.nps)).collect::<Vec<_>>(), -100.0, 100.0))
                        }
                        figure {
                            figcaption { "Response times: median and 90th percentile" }
                            (charts::median_p90("Response times", &[
                                ("Alert latency", m.totals.alert_latency_seconds.median, m.totals.alert_latency_seconds.p90),
                                ("First response", m.totals.first_response_seconds.median, m.totals.first_response_seconds.p90),
                                ("Time to resolve", m.totals.time_to_resolve_seconds.median, m.totals.time_to_resolve_seconds.p90),
                            ]))
                        }
                        figure {
                            figcaption { "Rates" }
                            (charts::rates("Rates", &[
                                ("Closure", m.totals.closure_rate),
                                ("Confirmed by customer", m.totals.confirmation_rate),
                                ("SLA breach", m.totals.sla_breach_rate),
                                ("Reopened", m.totals.reopen_rate),
                            ]))
                            p class="muted" { "Closure " (rate(m.totals.closure_rate)) " · confirmed " (m.totals.confirmed) " of " (m.totals.asked) " asked" }
                        }
                        @if !m.totals.root_causes.is_empty() {
                            figure {
                                figcaption { "Root causes" }
                                (charts::bars("Root causes", &m.totals.root_causes.iter().map(|(k, v)| (k.clone(), *v as f64)).collect::<Vec<_>>()))
                                ul class="inline" { @for (k, v) in &m.totals.root_causes { li { (k) ": " (v) } } }
                            }
                        }
                    }
                    h2 { "Topic trends" }
                    @if m.topics.is_empty() {
                        p class="empty" { "No topics in this period." }
                    } @else {
                        table class="topics" {
                            thead { tr { th { "Topic" } th { "This period" } th { "Previous" } th { "Change" } th { "Examples" } } }
                            tbody {
                                @for t in &m.topics {
                                    tr class=[t.rising.then_some("rising")] {
                                        td { (t.topic) }
                                        td { (t.count) }
                                        td { (t.previous) }
                                        td {
                                            @if t.rising { span class="badge rising-badge" { "▲ rising" } " " }
                                            (if t.change > 0 { format!("+{}", t.change) } else { t.change.to_string() })
                                        }
                                        td {
                                            ul class="examples" {
                                                // An example without its comment (erased) has nothing to show.
                                                @for (e, comment) in t.examples.iter().filter_map(|e| Some((e, e.comment.as_deref()?))).take(3) {
                                                    li {
                                                        @if let Some(case) = &e.case_id {
                                                            a href={"/console/cases/" (case)} { "“" (comment) "”" }
                                                        } @else { "“" (comment) "”" }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
