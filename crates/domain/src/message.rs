//! What each channel receives: Slack Block Kit, the generic JSON webhook, the customer message.
//!
//! Each renderer escapes for its medium: Slack mrkdwn needs `&`, `<` and `>` escaped (or a
//! customer could write `<!channel>`); JSON is escaped by serde.

use serde_json::{Value, json};

use crate::case::Case;
use crate::feedback::Feedback;
use crate::notice::{Notice, NoticeKind};

/// The longest comment quoted in an alert; the case page has the rest.
pub const MAX_QUOTED_COMMENT_CHARS: usize = 1_500;

/// Everything an alert or customer message is rendered from.
pub struct MessageContext<'a> {
    pub notice: &'a Notice,
    pub case: &'a Case,
    pub feedback: &'a Feedback,
    /// closeloop's public base URL, for links (no trailing slash).
    pub base_url: &'a str,
}

/// The console's page for a case: where every alert's case link leads a person (signed out,
/// through the sign-in form and back).
pub fn case_page_url(base_url: &str, case_id: &str) -> String {
    format!("{base_url}/console/cases/{case_id}")
}

/// The agent API's address of a case, for programs (the webhook's `api_url`).
pub fn case_api_url(base_url: &str, case_id: &str) -> String {
    format!("{base_url}/v1/cases/{case_id}")
}

impl MessageContext<'_> {
    /// The case's console page.
    pub fn case_url(&self) -> String {
        case_page_url(self.base_url, &self.case.id)
    }

    pub(crate) fn quoted_comment(&self) -> Option<String> {
        self.feedback.comment.as_deref().map(|c| {
            let mut q: String = c.chars().take(MAX_QUOTED_COMMENT_CHARS).collect();
            if q.len() < c.len() {
                q.push('…');
            }
            q
        })
    }
}

/// Escapes text for Slack mrkdwn and plain_text fields.
pub fn slack_escape(text: &str) -> String {
    crate::dispatch::render::slack_escape(text)
}

/// A Slack incoming-webhook message in Block Kit, with `text` as the notification fallback
/// and buttons to open and to acknowledge the case.
pub fn slack_alert(ctx: &MessageContext) -> Value {
    use crate::dispatch::render;
    render::slack(&render::case_alert(
        ctx,
        ctx.notice.level,
        &Default::default(),
    ))
}

/// Everyone told when the case closes: the routing's watchers and those added on the case.
pub fn watchers(case: &Case) -> Vec<String> {
    let mut all = case.triage.routing.watchers.clone();
    for w in &case.watchers {
        if !all.contains(w) {
            all.push(w.clone());
        }
    }
    all
}

/// The generic alert webhook's JSON body.
pub fn webhook_alert(ctx: &MessageContext) -> Value {
    let triage = &ctx.case.triage;
    json!({
        "type": format!("closeloop.{}", ctx.notice.kind.as_str()),
        "notice_id": ctx.notice.id,
        "case": {
            "id": ctx.case.id,
            "url": ctx.case_url(),
            "api_url": case_api_url(ctx.base_url, &ctx.case.id),
            "state": ctx.case.state.as_str(),
            "priority": triage.priority.as_str(),
            "team": triage.team,
            "first_response_due": triage.first_response_due,
            "resolution_due": triage.resolution_due,
            "reasons": triage.reasons,
            "watchers": watchers(ctx.case),
        },
        "feedback": {
            "id": ctx.feedback.id,
            "source": ctx.feedback.source,
            "submitted_at": ctx.feedback.submitted_at,
            "score": ctx.feedback.score,
            "class": triage.class,
            "comment": ctx.feedback.comment,
            "customer": {"id": ctx.feedback.customer.id, "name": ctx.feedback.customer.name},
        },
    })
}

/// The message asking the customer to confirm the fix, for the customer-messaging webhook
/// (which sends it by email or SMS). It carries the contact details that gateway needs.
pub fn customer_follow_up(ctx: &MessageContext) -> Value {
    let customer = &ctx.feedback.customer;
    let (greeting, summary, link) = follow_up_text(ctx);
    let reminder = ctx.notice.kind == NoticeKind::CustomerReminder;
    let text = if reminder {
        format!(
            "{greeting}\n\nA short reminder: we worked on the problem you told us about \
             ({summary}). Is it resolved for you? One click tells us: {link}\n"
        )
    } else {
        format!(
            "{greeting}\n\nThank you for telling us about your experience. Here is what we did: \
             {summary}\n\nIs it resolved for you? Let us know here: {link}\n"
        )
    };
    json!({
        "type": format!("closeloop.{}", ctx.notice.kind.as_str()),
        "notice_id": ctx.notice.id,
        "case_id": ctx.case.id,
        "to": {"id": customer.id, "name": customer.name, "email": customer.email, "phone": customer.phone},
        "subject": if reminder { "A reminder: did we fix it?" } else { "Did we fix it?" },
        "text": text,
        "link": link,
    })
}

fn follow_up_text(ctx: &MessageContext) -> (String, String, String) {
    let customer = &ctx.feedback.customer;
    let link = ctx.notice.link.clone().unwrap_or_default();
    let greeting = customer
        .name
        .as_deref()
        .map(|n| format!("Hello {n},"))
        .unwrap_or_else(|| "Hello,".to_owned());
    let summary = ctx
        .case
        .resolution
        .as_ref()
        .map(|r| r.summary.clone())
        .unwrap_or_else(|| "we have worked on it".to_owned());
    (greeting, summary, link)
}

/// The follow-up (or its reminder) as an email to the customer, with HTML and plain text.
pub fn customer_email(ctx: &MessageContext) -> crate::dispatch::render::Email {
    use crate::dispatch::render::html_escape;
    let (greeting, summary, link) = follow_up_text(ctx);
    let reminder = ctx.notice.kind == NoticeKind::CustomerReminder;
    let (subject, intro) = if reminder {
        (
            "A reminder: did we fix it?",
            "A short reminder: we worked on the problem you told us about.",
        )
    } else {
        (
            "Did we fix it?",
            "Thank you for telling us about your experience.",
        )
    };
    crate::dispatch::render::Email {
        subject: subject.to_owned(),
        text: format!(
            "{greeting}\n\n{intro} Here is what we did: {summary}\n\nIs it resolved for you? \
             Let us know here: {link}\n"
        ),
        html: format!(
            "<!doctype html><html><body><p>{}</p><p>{} Here is what we did: {}</p>\
             <p><a href=\"{}\">Is it resolved for you? Let us know.</a></p></body></html>",
            html_escape(&greeting),
            html_escape(intro),
            html_escape(&summary),
            html_escape(&link)
        ),
        reply_to: None,
    }
}

/// What a follow-up says when it can be answered by replying.
pub const REPLY_INVITATION: &str = "Or simply reply to this email: we read every answer.";

/// The follow-up email answerable by replying: `Reply-To` is the case's signed reply address
/// (`crate::reply::token::address`), and the text says a reply is read. Without an address,
/// the email as it was.
pub fn reply_by_email(
    mut email: crate::dispatch::render::Email,
    reply_to: Option<String>,
) -> crate::dispatch::render::Email {
    if let Some(address) = reply_to {
        email.text.push_str(&format!("\n{REPLY_INVITATION}\n"));
        email.html = email
            .html
            .replace("</body>", &format!("<p>{REPLY_INVITATION}</p></body>"));
        email.reply_to = Some(address);
    }
    email
}

/// The customer-messaging webhook's follow-up with the case's reply address (`reply_to`), for
/// a gateway that sends it by email: its replies come back like closeloop's own.
pub fn reply_by_gateway(mut message: Value, reply_to: Option<String>) -> Value {
    if let (Some(address), Some(fields)) = (reply_to, message.as_object_mut()) {
        fields.insert("reply_to".into(), Value::String(address));
    }
    message
}

/// The follow-up as an SMS to the customer: short, in at most three segments, link last.
pub fn customer_sms(ctx: &MessageContext) -> String {
    let (_, summary, link) = follow_up_text(ctx);
    let body = format!("We worked on your feedback: {summary}. Is it resolved? Tell us:");
    crate::dispatch::sms::fit(
        &body,
        &format!(" {link}"),
        crate::dispatch::sms::MAX_SMS_SEGMENTS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::Customer;
    use crate::score::{Score, ScoreKind};
    use crate::triage::{TriagePolicy, triage};
    use chrono::TimeZone;

    fn fixture(comment: &str) -> (Feedback, Case) {
        let t = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let feedback = Feedback {
            id: "fb-1".into(),
            source: "test".into(),
            external_id: "1".into(),
            submitted_at: t,
            received_at: t,
            customer: Customer {
                id: Some("c-1".into()),
                email: Some("ann@example.com".into()),
                name: Some("Ann".into()),
                phone: None,
                attributes: Default::default(),
            },
            score: Some(Score {
                kind: ScoreKind::Nps,
                value: 3,
                scale: 10,
            }),
            comment: Some(comment.into()),
            metadata: Default::default(),
        };
        let t = triage(
            &feedback,
            &TriagePolicy {
                default_team: "front-desk".into(),
            },
            t,
        );
        let case = Case::open(&feedback.id, feedback.received_at, t);
        (feedback, case)
    }

    #[test]
    fn slack_alert_carries_comment_priority_and_link_escaped() {
        let (feedback, case) = fixture("Noisy room <!channel> & lift");
        let notice = Notice::case_opened(&case, case.opened_at);
        let ctx = MessageContext {
            notice: &notice,
            case: &case,
            feedback: &feedback,
            base_url: "https://cl.example",
        };
        let v = slack_alert(&ctx);
        let all = v.to_string();
        assert!(
            all.contains("Noisy room &lt;!channel&gt; &amp; lift"),
            "{all}"
        );
        assert!(!all.contains("<!channel>"));
        assert!(all.contains("*Priority*\\nP1"));
        assert!(all.contains(&format!("https://cl.example/console/cases/{}", case.id)));
        assert!(
            !all.contains("ann@example.com"),
            "no email in a shared channel"
        );
        assert!(
            v["text"]
                .as_str()
                .unwrap()
                .starts_with("P1 feedback from Ann: NPS 3/10")
        );
    }

    #[test]
    fn long_comments_are_cut_in_alerts() {
        let (feedback, case) = fixture(&"x".repeat(MAX_QUOTED_COMMENT_CHARS + 10));
        let notice = Notice::case_opened(&case, case.opened_at);
        let ctx = MessageContext {
            notice: &notice,
            case: &case,
            feedback: &feedback,
            base_url: "",
        };
        assert!(ctx.quoted_comment().unwrap().ends_with('…'));
    }

    #[test]
    fn customer_message_carries_link_and_contact() {
        let (feedback, case) = fixture("noisy");
        let notice = Notice::customer_follow_up(
            &case,
            "https://cl.example/v1/confirm/t".into(),
            case.opened_at,
        );
        let ctx = MessageContext {
            notice: &notice,
            case: &case,
            feedback: &feedback,
            base_url: "",
        };
        let v = customer_follow_up(&ctx);
        assert_eq!(v["link"], "https://cl.example/v1/confirm/t");
        assert_eq!(v["to"]["email"], "ann@example.com");
        assert!(
            v["text"]
                .as_str()
                .unwrap()
                .contains("https://cl.example/v1/confirm/t")
        );
        assert!(v.get("reply_to").is_none());
        let v = reply_by_gateway(v, Some("reply+t0k@in.cl.example".into()));
        assert_eq!(v["reply_to"], "reply+t0k@in.cl.example");
        // By email: Reply-To is the signed address and the text invites a reply.
        let plain = customer_email(&ctx);
        assert_eq!(plain.reply_to, None);
        assert!(!plain.text.contains(REPLY_INVITATION));
        assert_eq!(reply_by_email(plain.clone(), None), plain);
        let answerable = reply_by_email(plain, Some("reply+t0k@in.cl.example".into()));
        assert_eq!(
            answerable.reply_to.as_deref(),
            Some("reply+t0k@in.cl.example")
        );
        assert!(answerable.text.contains(REPLY_INVITATION));
        assert!(
            answerable
                .html
                .ends_with(&format!("<p>{REPLY_INVITATION}</p></body></html>"))
        );
    }

    #[test]
    fn reminders_and_closures_say_what_they_are() {
        let (feedback, mut case) = fixture("noisy");
        let notice = Notice::customer_reminder(&case, "L".into(), case.opened_at);
        let ctx = MessageContext {
            notice: &notice,
            case: &case,
            feedback: &feedback,
            base_url: "",
        };
        let v = customer_follow_up(&ctx);
        assert_eq!(v["type"], "closeloop.customer-reminder");
        assert_eq!(v["subject"], "A reminder: did we fix it?");
        case.watchers = vec!["gm <@U1>".into()];
        case.state = crate::case::CaseState::ClosedConfirmed;
        let notice = Notice::case_closed(&case, case.opened_at);
        let ctx = MessageContext {
            notice: &notice,
            case: &case,
            feedback: &feedback,
            base_url: "",
        };
        assert_eq!(webhook_alert(&ctx)["case"]["watchers"][0], "gm <@U1>");
        let slack = slack_alert(&ctx).to_string();
        assert!(slack.contains("P1 case closed-confirmed"), "{slack}");
        assert!(slack.contains("Watchers: gm &lt;@U1&gt;"), "{slack}");
    }

    #[test]
    fn webhook_alert_names_the_event() {
        let (feedback, case) = fixture("noisy");
        let notice = Notice::case_reopened(&case, case.opened_at);
        let ctx = MessageContext {
            notice: &notice,
            case: &case,
            feedback: &feedback,
            base_url: "",
        };
        let v = webhook_alert(&ctx);
        assert_eq!(v["type"], "closeloop.case-reopened");
        // A reply's alert says so and sends the owner to the case, where the words are: the
        // notice holds no customer text.
        let notice = Notice::customer_replied(&case, 1, case.opened_at);
        let ctx = MessageContext {
            notice: &notice,
            case: &case,
            feedback: &feedback,
            base_url: "https://cl.example",
        };
        assert_eq!(webhook_alert(&ctx)["type"], "closeloop.customer-replied");
        let slack = slack_alert(&ctx);
        assert_eq!(
            slack["text"].as_str().unwrap(),
            format!(
                "P1 reply: Ann answered our follow-up (read it on the case): \
                 https://cl.example/console/cases/{}",
                case.id
            )
        );
        assert_eq!(v["case"]["priority"], "P1");
        assert!(v["feedback"]["customer"].get("email").is_none());
    }
}
