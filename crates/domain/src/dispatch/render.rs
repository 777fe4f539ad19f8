//! Templates: what each channel says, escaped for its medium, in the team's own words.
//!
//! An [`Alert`] holds the plain facts (headline, score, comment, links); one function per
//! channel turns it into that medium, escaping every value it inserts: Slack mrkdwn (`& < >`,
//! or a customer could write `<!channel>`), HTML for email (with a plain-text part), Adaptive
//! Card text (Markdown subset: the card's `TextBlock`s are marked as plain where they quote
//! the customer), SMS cut to its segment limit. A team may override the headline, the email
//! subject and the SMS text with `{placeholders}`; the template text is the team's, the values
//! are escaped.

use serde_json::{Value, json};

use super::directory::Templates;
use super::sms;
use crate::Timestamp;
use crate::alert_action::QuickAction;
use crate::message::MessageContext;
use crate::notice::NoticeKind;

/// The placeholders a team template may use.
pub const PLACEHOLDERS: [&str; 8] = [
    "priority", "score", "customer", "team", "due", "case_url", "comment", "headline",
];
/// The longest comment quoted in an SMS before the link.
pub const MAX_SMS_COMMENT_CHARS: usize = 120;

/// One line of a digest.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestItem {
    pub headline: String,
    pub url: String,
}

/// The facts of one alert, unescaped.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub kind: NoticeKind,
    pub headline: String,
    pub priority: String,
    pub score: String,
    pub team: String,
    pub due: String,
    pub customer: String,
    pub comment: Option<String>,
    pub reasons: Vec<String>,
    pub case_id: String,
    pub case_url: Option<String>,
    /// Where "Acknowledge" leads: the case page's form, or a member's one-click link.
    pub ack_url: Option<String>,
    /// Slack's buttons act in place ("Acknowledge", "Assign to me" post to closeloop's Slack
    /// interactivity route) instead of opening the case page: set when the Slack app's
    /// signing secret is configured.
    pub slack_actions: bool,
    pub items: Vec<DigestItem>,
    /// A line of context (the watchers of a closed case).
    pub extra: Option<String>,
    pub at: Timestamp,
    /// The team's wording, if any.
    pub templates: Templates,
}

/// Checks a template: balanced braces, known placeholders, a sane length.
pub fn check_template(t: &str) -> Result<(), String> {
    if t.chars().count() > super::directory::MAX_TEMPLATE_CHARS {
        return Err(format!(
            "at most {} characters",
            super::directory::MAX_TEMPLATE_CHARS
        ));
    }
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| "a { is not closed".to_owned())?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}}; use one of {}",
                PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(" ")
            ));
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err("a } has no {".to_owned());
    }
    Ok(())
}

impl Alert {
    fn value(&self, name: &str) -> String {
        match name {
            "priority" => self.priority.clone(),
            "score" => self.score.clone(),
            "customer" => self.customer.clone(),
            "team" => self.team.clone(),
            "due" => self.due.clone(),
            "case_url" => self.case_url.clone().unwrap_or_default(),
            "comment" => self.comment.clone().unwrap_or_default(),
            "headline" => self.headline.clone(),
            _ => String::new(),
        }
    }

    /// Fills `template`, passing each value through `escape`.
    pub fn fill(&self, template: &str, escape: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    out.push_str(&escape(&self.value(&after[..close])));
                    rest = &after[close + 1..];
                }
                None => {
                    rest = &rest[open..];
                    break;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The headline, in the team's words for a new case if it has some.
    pub fn title(&self, escape: impl Fn(&str) -> String) -> String {
        match (&self.templates.headline, self.kind) {
            (Some(t), NoticeKind::CaseOpened) => self.fill(t, escape),
            _ => escape(&self.headline),
        }
    }
}

/// The alert for a case notice (opened, reopened, escalated).
pub fn case_alert(ctx: &MessageContext, level: u32, templates: &Templates) -> Alert {
    let triage = &ctx.case.triage;
    let who = ctx.feedback.customer.display_name().to_owned();
    let score = ctx
        .feedback
        .score
        .map(|s| s.label())
        .unwrap_or_else(|| "no score".to_owned());
    let p = triage.priority.as_str();
    let due = if ctx.case.first_response_at.is_none() {
        format!(
            "first response by {}",
            triage.first_response_due.format("%Y-%m-%d %H:%M UTC")
        )
    } else {
        format!(
            "resolve by {}",
            triage.resolution_due.format("%Y-%m-%d %H:%M UTC")
        )
    };
    let headline = match ctx.notice.kind {
        NoticeKind::CaseReopened => format!("{p} reopened: {who} says it is not resolved"),
        NoticeKind::CustomerReplied => {
            format!("{p} reply: {who} answered our follow-up (read it on the case)")
        }
        NoticeKind::Escalation => format!(
            "Escalation to the {}: {p} case from {who} is not acknowledged ({due})",
            if level <= 1 { "team lead" } else { "manager" }
        ),
        NoticeKind::CaseClosed => {
            format!("{p} case {}: feedback from {who}", ctx.case.state.as_str())
        }
        _ => format!("{p} feedback from {who}: {score}"),
    };
    let extra = (ctx.notice.kind == NoticeKind::CaseClosed).then(|| {
        format!(
            "Watchers: {}",
            crate::message::watchers(ctx.case).join(", ")
        )
    });
    Alert {
        kind: ctx.notice.kind,
        headline,
        priority: p.to_owned(),
        score,
        team: triage.team.clone(),
        due,
        customer: who,
        comment: ctx.quoted_comment(),
        reasons: triage.reasons.clone(),
        case_id: ctx.case.id.clone(),
        case_url: Some(ctx.case_url()),
        // The case page's acknowledge form (one click there, signed in).
        ack_url: Some(format!("{}#acknowledge", ctx.case_url())),
        slack_actions: false,
        items: Vec::new(),
        extra,
        at: ctx.notice.created_at,
        templates: templates.clone(),
    }
}

/// A digest of several cases.
pub fn digest(items: Vec<DigestItem>, at: Timestamp) -> Alert {
    Alert {
        kind: NoticeKind::Digest,
        headline: format!(
            "Your closeloop digest: {} case{}",
            items.len(),
            if items.len() == 1 { "" } else { "s" }
        ),
        priority: String::new(),
        score: String::new(),
        team: String::new(),
        due: String::new(),
        customer: String::new(),
        comment: None,
        reasons: Vec::new(),
        case_id: String::new(),
        case_url: None,
        ack_url: None,
        slack_actions: false,
        items,
        extra: None,
        at,
        templates: Templates::default(),
    }
}

/// The operations notice that a delivery was given up.
pub fn operations(about: &str, case_url: Option<String>, at: Timestamp) -> Alert {
    let mut a = digest(Vec::new(), at);
    a.kind = NoticeKind::DeliveryFailed;
    a.headline = "closeloop could not deliver an alert".to_owned();
    a.comment = Some(about.to_owned());
    a.case_url = case_url;
    a
}

/// Escapes text for Slack mrkdwn and plain_text fields.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escapes text for HTML.
pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Text shown exactly as typed on an Adaptive Card: a `RichTextBlock` of one `TextRun`, which
/// Adaptive Cards never read as Markdown ("RichTextBlock does not support Markdown", Adaptive
/// Cards text features); backslash escapes in a `TextBlock` are not supported and show.
fn teams_text(text: &str, style: Value) -> Value {
    let mut run = json!({"type": "TextRun", "text": text});
    if let (Some(run), Some(style)) = (run.as_object_mut(), style.as_object()) {
        run.extend(style.clone());
    }
    json!({"type": "RichTextBlock", "inlines": [run]})
}

/// A Slack incoming-webhook message in Block Kit, `text` as the notification fallback, with
/// buttons to the case and to acknowledge it.
/// Format: <https://api.slack.com/messaging/webhooks>, <https://api.slack.com/reference/block-kit/blocks>.
pub fn slack(a: &Alert) -> Value {
    let title = a.title(slack_escape);
    // Slack decodes `&amp;`, `&lt;` and `&gt;` in every text, the header's too: escaped,
    // then cut to the header's 150 characters between whole escaped characters.
    let mut buf = [0u8; 4];
    let header = a.title(|s| s.to_owned());
    let header = fit(
        header
            .chars()
            .map(|c| slack_escape(c.encode_utf8(&mut buf))),
        SLACK_HEADER_MAX,
    );
    let mut blocks = vec![json!({"type": "header", "text": {"type": "plain_text",
        "text": header, "emoji": true}})];
    if a.kind == NoticeKind::Digest || a.kind == NoticeKind::DeliveryFailed {
        let mut lines: Vec<String> = a
            .items
            .iter()
            .map(|i| format!("• <{}|{}>", i.url, slack_escape(&i.headline)))
            .collect();
        if let Some(c) = &a.comment {
            lines.push(slack_escape(c));
        }
        if let Some(url) = &a.case_url {
            lines.push(format!("<{url}|Open the case>"));
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": whole_lines(&lines, SLACK_TEXT_MAX)}}));
        return json!({"text": title, "blocks": blocks});
    }
    blocks.push(json!({"type": "section", "fields": [
        {"type": "mrkdwn", "text": format!("*Score*\n{}", slack_escape(&a.score))},
        {"type": "mrkdwn", "text": format!("*Priority*\n{}", a.priority)},
        {"type": "mrkdwn", "text": format!("*Team*\n{}", slack_escape(&a.team))},
        {"type": "mrkdwn", "text": format!("*Due*\n{}", a.due)},
    ]}));
    if let Some(comment) = &a.comment {
        // Each line quoted; the escaped characters are the pieces the cut may not split.
        let mut buf = [0u8; 4];
        let pieces = comment.lines().enumerate().flat_map(|(i, line)| {
            let start = if i == 0 { "> " } else { "\n> " };
            std::iter::once(start.to_owned()).chain(
                line.chars()
                    .map(|c| slack_escape(c.encode_utf8(&mut buf)))
                    .collect::<Vec<_>>(),
            )
        });
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": fit(pieces, SLACK_TEXT_MAX)}}),
        );
    }
    if !a.reasons.is_empty() {
        blocks.push(json!({"type": "context", "elements": [
            {"type": "mrkdwn", "text": slack_escape(&a.reasons.join(" · "))}
        ]}));
    }
    if let Some(extra) = &a.extra {
        blocks.push(json!({"type": "context", "elements": [
            {"type": "mrkdwn", "text": slack_escape(extra)}
        ]}));
    }
    let mut buttons = Vec::new();
    if let Some(url) = &a.case_url {
        buttons.push(json!({"type": "button", "style": "primary", "text": {"type": "plain_text", "text": "Open case"},
            "url": url, "action_id": "open_case"}));
    }
    if a.slack_actions && !a.case_id.is_empty() {
        for action in [QuickAction::Acknowledge, QuickAction::AssignToMe] {
            buttons.push(json!({"type": "button",
                "text": {"type": "plain_text", "text": action.label()},
                "action_id": action.action_id(), "value": a.case_id}));
        }
    } else if let Some(url) = &a.ack_url {
        buttons.push(
            json!({"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"},
            "url": url, "action_id": "acknowledge_page", "value": a.case_id}),
        );
    }
    blocks.push(json!({"type": "actions", "elements": buttons}));
    let fallback = match &a.case_url {
        Some(url) => format!("{title}: {url}"),
        None => title,
    };
    json!({"text": fallback, "blocks": blocks})
}

/// A Teams Workflows webhook body: a message with one Adaptive Card attachment.
/// Format: <https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook>
/// and <https://adaptivecards.io/explorer/AdaptiveCard.html>.
pub fn teams(a: &Alert) -> Value {
    let mut body = vec![teams_text(
        &a.title(|s| s.to_owned()),
        json!({"size": "Large", "weight": "Bolder"}),
    )];
    if a.kind != NoticeKind::Digest && a.kind != NoticeKind::DeliveryFailed {
        // Fact values are Markdown; these are closeloop's own words and the team's slug.
        body.push(json!({"type": "FactSet", "facts": [
            {"title": "Score", "value": a.score},
            {"title": "Priority", "value": a.priority},
            {"title": "Team", "value": a.team},
            {"title": "Due", "value": a.due},
        ]}));
    }
    for item in &a.items {
        let open = json!({"selectAction": {"type": "Action.OpenUrl", "url": item.url}});
        body.push(teams_text(&item.headline, open));
    }
    if let Some(c) = &a.comment {
        body.push(teams_text(c, json!({"isSubtle": true})));
    }
    let mut actions = Vec::new();
    if let Some(url) = &a.case_url {
        actions.push(json!({"type": "Action.OpenUrl", "title": "Open case", "url": url}));
    }
    if let Some(url) = &a.ack_url {
        actions.push(json!({"type": "Action.OpenUrl", "title": "Acknowledge", "url": url}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            }
        }]
    })
}

/// An email: subject, HTML and plain-text parts, and where replies go.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Email {
    pub subject: String,
    pub html: String,
    pub text: String,
    /// The `Reply-To` address: a customer follow-up's signed reply address
    /// (`crate::reply::token`), so the customer's answer comes back to closeloop. Absent from
    /// messages kept before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

/// The email for an alert.
pub fn email(a: &Alert) -> Email {
    let plain_title = a.title(|s| s.to_owned());
    let subject = match &a.templates.email_subject {
        Some(t) => a.fill(t, |s| s.replace(['\r', '\n'], " ")),
        None => format!("[closeloop] {plain_title}"),
    };
    let subject = truncate(&subject.replace(['\r', '\n'], " "), 200);
    let mut text = vec![plain_title.clone(), String::new()];
    let mut html = vec![format!("<h2>{}</h2>", a.title(html_escape))];
    if !a.priority.is_empty() {
        text.push(format!(
            "Score: {}\nPriority: {}\nTeam: {}\nDue: {}",
            a.score, a.priority, a.team, a.due
        ));
        html.push(format!(
            "<table><tr><th align=\"left\">Score</th><td>{}</td></tr><tr><th align=\"left\">Priority</th><td>{}</td></tr><tr><th align=\"left\">Team</th><td>{}</td></tr><tr><th align=\"left\">Due</th><td>{}</td></tr></table>",
            html_escape(&a.score), html_escape(&a.priority), html_escape(&a.team), html_escape(&a.due)
        ));
    }
    if let Some(x) = &a.extra {
        text.push(x.clone());
        html.push(format!("<p>{}</p>", html_escape(x)));
    }
    if let Some(c) = &a.comment {
        text.push(format!("\n\"{c}\""));
        html.push(format!(
            "<blockquote>{}</blockquote>",
            html_escape(c).replace('\n', "<br>")
        ));
    }
    if !a.items.is_empty() {
        html.push("<ul>".to_owned());
        for i in &a.items {
            text.push(format!("- {}: {}", i.headline, i.url));
            html.push(format!(
                "<li><a href=\"{}\">{}</a></li>",
                html_escape(&i.url),
                html_escape(&i.headline)
            ));
        }
        html.push("</ul>".to_owned());
    }
    if let Some(url) = &a.case_url {
        text.push(format!("\nOpen the case: {url}"));
        html.push(format!(
            "<p><a href=\"{}\">Open the case</a></p>",
            html_escape(url)
        ));
    }
    if let Some(url) = &a.ack_url {
        text.push(format!("Acknowledge: {url}"));
        html.push(format!(
            "<p><a href=\"{}\">Acknowledge</a></p>",
            html_escape(url)
        ));
    }
    Email {
        subject,
        html: format!(
            "<!doctype html><html><body>{}</body></html>",
            html.join("\n")
        ),
        text: text.join("\n"),
        reply_to: None,
    }
}

/// The SMS for an alert: the team's text or the headline and a short quote, cut to
/// [`sms::MAX_SMS_SEGMENTS`], ending with the case link.
pub fn sms_text(a: &Alert) -> String {
    let body = match &a.templates.sms {
        Some(t) => a.fill(t, |s| s.to_owned()),
        None => {
            let mut b = a.title(|s| s.to_owned());
            if let Some(c) = &a.comment {
                b.push_str(&format!(": \"{}\"", truncate(c, MAX_SMS_COMMENT_CHARS)));
            }
            b
        }
    };
    let suffix = a
        .case_url
        .as_ref()
        .map(|u| format!(" {u}"))
        .unwrap_or_default();
    sms::fit(&body, &suffix, sms::MAX_SMS_SEGMENTS)
}

/// A PagerDuty Events v2 trigger. `dedup_key` is the case, so repeated alerts about one case
/// join one incident, and a reopened case's alert opens a new one once the first was
/// resolved. Format: <https://developer.pagerduty.com/docs/events-api-v2/trigger-events/>.
/// Without its `routing_key`, a secret: [`super::providers::pagerduty`] puts it in the
/// request only, so the message a retry keeps on the delivery holds none.
pub fn pagerduty(a: &Alert) -> Value {
    let severity = match a.priority.as_str() {
        "P1" => "critical",
        "P2" => "error",
        "P3" => "warning",
        _ => "info",
    };
    let mut links = Vec::new();
    if let Some(url) = &a.case_url {
        links.push(json!({"href": url, "text": "Open the case in closeloop"}));
    }
    json!({
        "event_action": "trigger",
        "dedup_key": super::incident::dedup_key(&a.case_id),
        "payload": {
            "summary": truncate(&a.title(|s| s.to_owned()), 1024),
            "source": "closeloop",
            "severity": severity,
            "timestamp": a.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "component": a.team,
            "group": a.team,
            "class": a.kind.as_str(),
            "custom_details": {
                "score": a.score, "priority": a.priority, "due": a.due,
                "comment": a.comment, "reasons": a.reasons,
            },
        },
        "links": links,
        "client": "closeloop",
        "client_url": a.case_url,
    })
}

/// A PagerDuty Events v2 `acknowledge` or `resolve` of the incident case `case_id` triggered,
/// for a notice `kind` that is an incident update ([`NoticeKind::is_incident_update`]; any
/// other kind is a caller's bug and panics). PagerDuty documents these bodies as exactly
/// `routing_key`, `dedup_key` and `event_action`: no payload. Without the `routing_key`, like
/// [`pagerduty`].
pub fn pagerduty_update(kind: NoticeKind, case_id: &str) -> Value {
    let action = match kind {
        NoticeKind::IncidentAcknowledged => "acknowledge",
        NoticeKind::IncidentResolved => "resolve",
        other => unreachable!("{} is not an incident update", other.as_str()),
    };
    json!({
        "dedup_key": super::incident::dedup_key(case_id),
        "event_action": action,
    })
}

/// The generic webhook's body for notices that are not about one case.
pub fn webhook(a: &Alert, notice_id: &str) -> Value {
    json!({
        "type": format!("closeloop.{}", a.kind.as_str()),
        "notice_id": notice_id,
        "headline": a.headline,
        "detail": a.comment,
        "case_url": a.case_url,
        "items": a.items.iter().map(|i| json!({"headline": i.headline, "url": i.url})).collect::<Vec<_>>(),
    })
}

/// The most characters of a Slack header block's text.
const SLACK_HEADER_MAX: usize = 150;
/// The most characters of a Slack section's text.
const SLACK_TEXT_MAX: usize = 3000;

/// The `pieces` joined, cut (with "…") to at most `max` characters between pieces, never
/// inside one: an escaped character (`&amp;`) or a line's quote mark stays whole.
fn fit(pieces: impl IntoIterator<Item = String>, max: usize) -> String {
    let pieces: Vec<String> = pieces.into_iter().collect();
    let total: usize = pieces.iter().map(|p| p.chars().count()).sum();
    if total <= max {
        return pieces.concat();
    }
    let mut out = String::new();
    let mut len = 0;
    for piece in pieces {
        let n = piece.chars().count();
        if len + n > max - 1 {
            break;
        }
        out.push_str(&piece);
        len += n;
    }
    out.push('…');
    out
}

/// As many whole `lines` as fit in `max` characters (with "…" when some are left out), so
/// that no link (`<url|text>`) or entity is cut in half.
fn whole_lines(lines: &[String], max: usize) -> String {
    let mut out = String::new();
    for line in lines {
        let needed = out.chars().count() + usize::from(!out.is_empty()) + line.chars().count();
        if needed > max - 2 {
            out.push_str(if out.is_empty() { "…" } else { "\n…" });
            return out;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

/// `s` in at most `max` characters: a longer one is cut and ends with `…`.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn alert(comment: &str) -> Alert {
        Alert {
            kind: NoticeKind::CaseOpened,
            headline: "P1 feedback from Ann <ann>: NPS 3/10".into(),
            priority: "P1".into(),
            score: "NPS 3/10".into(),
            team: "front-desk".into(),
            due: "first response by 2026-11-23 10:00 UTC".into(),
            customer: "Ann <ann>".into(),
            comment: Some(comment.into()),
            reasons: vec!["NPS 3/10 is a detractor".into()],
            case_id: "c1".into(),
            case_url: Some("https://cl.example/console/cases/c1".into()),
            ack_url: Some("https://cl.example/console/cases/c1#acknowledge".into()),
            slack_actions: false,
            items: vec![],
            extra: None,
            at: chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
            templates: Templates::default(),
        }
    }

    #[test]
    fn slack_escapes_and_has_both_buttons() {
        let v = slack(&alert("<!channel> & *bold*"));
        let s = v.to_string();
        assert!(s.contains("&lt;!channel&gt; &amp; *bold*"), "{s}");
        assert!(!s.contains("<!channel>"));
        let actions = v["blocks"].as_array().unwrap().last().unwrap();
        assert_eq!(
            actions["elements"][0]["url"],
            "https://cl.example/console/cases/c1"
        );
        assert_eq!(
            actions["elements"][1]["url"],
            "https://cl.example/console/cases/c1#acknowledge"
        );
        assert_eq!(actions["elements"][1]["action_id"], "acknowledge_page");
    }

    /// Block Kit button elements: `action_id` names the action in the interaction payload and
    /// `value` is sent with it; a button with a `url` opens it (and Slack still tells the app)
    /// (<https://api.slack.com/reference/block-kit/block-elements#button>).
    /// "Escaping text: ... replace `&` with `&amp;`, `<` with `&lt;`, `>` with `&gt;`"
    /// (<https://api.slack.com/reference/surfaces/formatting#escaping>); a header block's text
    /// is at most 150 characters (<https://api.slack.com/reference/block-kit/blocks#header>).
    #[test]
    fn the_header_is_escaped_then_cut_between_whole_characters() {
        let mut a = alert("x");
        a.headline = "Ann & Bob <b>".to_owned();
        let v = slack(&a);
        let header = v["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(header.contains("Ann &amp; Bob &lt;b&gt;"), "{header}");
        a.headline = format!("{}&", "a".repeat(147));
        let v = slack(&a);
        let header = v["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(header.chars().count() <= 150, "{header}");
        assert!(
            !header.contains("&am…") && !header.ends_with("&…"),
            "{header}"
        );
    }

    #[test]
    fn with_slacks_interactivity_the_buttons_act_in_place() {
        let v = slack(&Alert {
            slack_actions: true,
            ..alert("cold room")
        });
        let actions = v["blocks"].as_array().unwrap().last().unwrap();
        let elements = actions["elements"].as_array().unwrap();
        assert_eq!(elements[0]["action_id"], "open_case");
        for (e, id) in elements[1..].iter().zip(["acknowledge", "assign_to_me"]) {
            assert_eq!(
                (e["action_id"].as_str(), e["value"].as_str()),
                (Some(id), Some("c1"))
            );
            assert!(e.get("url").is_none(), "{e}");
        }
        assert_eq!(elements.len(), 3);
    }

    #[test]
    fn email_has_escaped_html_and_a_plain_part() {
        let e = email(&alert("<script>alert(1)</script> \"quoted\""));
        assert!(
            e.html
                .contains("&lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot;")
        );
        assert!(!e.html.contains("<script>"));
        assert!(
            e.text.contains("<script>alert(1)</script>"),
            "plain text is not escaped"
        );
        assert!(e.subject.starts_with("[closeloop] P1 feedback"));
        assert!(e.text.contains("https://cl.example/console/cases/c1"));
    }

    #[test]
    fn slack_texts_are_cut_before_escaping_and_between_links() {
        // Slack counts the escaped text against its 3,000 characters; a cut after escaping
        // split "&amp;" into "&am…".
        let comment = "&".repeat(SLACK_TEXT_MAX);
        let v = slack(&alert(&comment));
        let quoted = v["blocks"][2]["text"]["text"].as_str().unwrap();
        assert!(quoted.chars().count() <= SLACK_TEXT_MAX, "{}", quoted.len());
        let body = quoted.strip_prefix("> ").expect("quoted");
        let body = body.strip_suffix('…').expect("cut");
        assert!(
            body.split("&amp;").all(str::is_empty),
            "an entity was cut: ...{}",
            &body[body.len() - 20..]
        );
        let v = slack(&alert("first <line>\nsecond & last"));
        assert_eq!(
            v["blocks"][2]["text"]["text"],
            "> first &lt;line&gt;\n> second &amp; last"
        );

        let lines: Vec<String> = (0..100)
            .map(|i| {
                format!(
                    "• <https://cl.example/console/cases/c{i}|case number {i:03} with a long headline>"
                )
            })
            .collect();
        let text = whole_lines(&lines, SLACK_TEXT_MAX);
        assert!(text.chars().count() <= SLACK_TEXT_MAX);
        assert!(text.ends_with("\n…"));
        for line in text.lines().filter(|l| *l != "…") {
            assert!(
                line.starts_with("• <") && line.ends_with('>'),
                "a link was cut: {line}"
            );
        }
    }

    #[test]
    fn teams_card_shows_customer_text_as_typed_never_as_markdown() {
        let v = teams(&alert("[click](http://evil) *now* guest-7"));
        let card = &v["attachments"][0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(
            v["attachments"][0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let comment = &card["body"][2];
        assert_eq!(comment["type"], "RichTextBlock", "{card}");
        assert_eq!(comment["inlines"][0]["type"], "TextRun");
        assert_eq!(
            comment["inlines"][0]["text"],
            "[click](http://evil) *now* guest-7"
        );
        assert_eq!(comment["inlines"][0]["isSubtle"], true);
        assert!(
            !card.to_string().contains('\\'),
            "no backslash escapes: {card}"
        );
        assert_eq!(card["body"][0]["inlines"][0]["weight"], "Bolder");
        let blocks = card["body"].as_array().unwrap();
        assert!(blocks.iter().all(|b| b["type"] != "TextBlock"), "{card}");
        assert_eq!(card["actions"][1]["title"], "Acknowledge");
    }

    #[test]
    fn team_templates_fill_escaped_values() {
        let mut a = alert("noisy");
        a.templates.headline = Some("{priority} call {customer} now".into());
        a.templates.sms = Some("{priority}: {customer} ({score})".into());
        a.templates.email_subject = Some("Case for {team}".into());
        assert_eq!(a.title(slack_escape), "P1 call Ann &lt;ann&gt; now");
        assert_eq!(
            sms_text(&a),
            "P1: Ann <ann> (NPS 3/10) https://cl.example/console/cases/c1"
        );
        assert_eq!(email(&a).subject, "Case for front-desk");
        // Reopened alerts keep their own headline.
        a.kind = NoticeKind::CaseReopened;
        assert_eq!(a.title(|s| s.to_owned()), a.headline);
    }

    #[test]
    fn templates_are_checked() {
        assert!(check_template("{priority} {case_url}").is_ok());
        assert!(
            check_template("{secret}")
                .unwrap_err()
                .contains("unknown placeholder")
        );
        assert!(check_template("{priority").is_err());
        assert!(check_template("priority}").is_err());
        let at = "x".repeat(super::super::directory::MAX_TEMPLATE_CHARS);
        assert!(check_template(&at).is_ok());
        assert!(check_template(&format!("{at}x")).is_err());
    }

    #[test]
    fn sms_fits_three_segments_and_keeps_the_link() {
        let s = sms_text(&alert(&"very noisy ".repeat(100)));
        assert!(sms::segments(&s) <= sms::MAX_SMS_SEGMENTS);
        assert!(s.ends_with(" https://cl.example/console/cases/c1"));
    }

    #[test]
    fn pagerduty_trigger_is_documented_shape() {
        let v = pagerduty(&alert("x"));
        assert_eq!(v["event_action"], "trigger");
        assert_eq!(v["payload"]["severity"], "critical");
        assert_eq!(v["payload"]["source"], "closeloop");
        assert_eq!(v["dedup_key"], "closeloop-case-c1");
        assert_eq!(v["payload"]["timestamp"], "2026-11-23T09:00:00Z");
        assert!(v.get("routing_key").is_none(), "added to the request only");
        // A reopened case's alert uses the same key: PagerDuty opens a new incident under it
        // once the first was resolved.
        let mut reopened = alert("x");
        reopened.kind = NoticeKind::CaseReopened;
        assert_eq!(pagerduty(&reopened)["dedup_key"], "closeloop-case-c1");
    }

    #[test]
    fn pagerduty_updates_name_the_triggers_incident() {
        let trigger = pagerduty(&alert("x"));
        for (kind, action) in [
            (NoticeKind::IncidentAcknowledged, "acknowledge"),
            (NoticeKind::IncidentResolved, "resolve"),
        ] {
            let v = pagerduty_update(kind, "c1");
            assert_eq!(
                v,
                json!({"dedup_key": "closeloop-case-c1", "event_action": action})
            );
            assert_eq!(v["dedup_key"], trigger["dedup_key"]);
        }
    }
}
