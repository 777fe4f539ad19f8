//! The customer's confirmation pages (and a team member's one-click pages): server-rendered
//! HTML, no JavaScript, readable on a phone.
//!
//! Everything interpolated is escaped with [`escape_html`]. The components send these pages
//! with a strict content security policy ([`CONTENT_SECURITY_POLICY`]).

use crate::case::MAX_TEXT_CHARS;
use crate::score::{Score, ScoreKind};

/// No scripts, no remote resources; forms post back to us only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}}
fieldset{{border:1px solid #999;border-radius:.5rem;margin:1rem 0;padding:1rem}}
label{{display:inline-block;margin:.25rem .75rem .25rem 0}}
textarea{{width:100%;min-height:6rem;font:inherit}}
button{{font:inherit;padding:.6rem 1.2rem;border-radius:.4rem;border:0;background:#1d4ed8;color:#fff}}
button:focus,input:focus,textarea:focus{{outline:3px solid #f59e0b}}
</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"#,
        title = escape_html(title)
    )
}

/// The question page: resolved yes or no, an optional new score on the original scale, and a
/// comment.
pub fn confirm_page(
    action_path: &str,
    resolution_summary: &str,
    score_scale: Option<Score>,
) -> String {
    let score_field = score_scale
        .map(|s| {
            let options: String = (s.kind.min()..=s.scale)
                .map(|v| {
                    format!(r#"<label><input type="radio" name="score" value="{v}"> {v}</label>"#)
                })
                .collect();
            let question = match s.kind {
                ScoreKind::Nps => {
                    "How likely are you now to recommend us to a friend or colleague?"
                }
                _ => "How would you rate your experience now?",
            };
            format!(r#"<fieldset><legend>{question} (optional)</legend>{options}</fieldset>"#)
        })
        .unwrap_or_default();
    let body = format!(
        r#"<h1>Is it resolved?</h1>
<p>Thank you for your feedback. Here is what we did:</p>
<blockquote>{summary}</blockquote>
<form method="post" action="{action}">
<fieldset><legend>Is the problem resolved for you?</legend>
<label><input type="radio" name="resolved" value="yes" required> Yes, it is resolved</label>
<label><input type="radio" name="resolved" value="no"> No, it is not</label>
</fieldset>
{score_field}
<p><label for="comment">Anything else you would like to tell us? (optional)</label>
<textarea id="comment" name="comment" maxlength="{max}"></textarea></p>
<p><button type="submit">Send</button></p>
</form>"#,
        summary = escape_html(resolution_summary),
        action = escape_html(action_path),
        max = MAX_TEXT_CHARS,
    );
    layout("Is it resolved?", &body)
}

/// The page after the customer answered.
pub fn answered_page(resolved: bool) -> String {
    let body = if resolved {
        "<h1>Thank you</h1><p>We are glad it is resolved. Thank you for helping us improve.</p>"
    } else {
        "<h1>We are on it</h1><p>Sorry it is not resolved yet. The person looking after your \
         case has been told and will be in touch.</p>"
    };
    layout("Thank you", body)
}

/// A page explaining why a link cannot be used, and what to do instead.
pub fn error_page(heading: &str, explanation: &str) -> String {
    let body = format!(
        "<h1>{}</h1><p>{}</p><p>If you still need help, reply to our message and we will get back to you.</p>",
        escape_html(heading),
        escape_html(explanation)
    );
    layout(heading, &body)
}

/// A team member's page for a one-click link from an alert: what it is about, the form that
/// acts (a `POST` to `form.0` with the button `form.1`; opening the link changes nothing), and
/// a link onward.
pub fn member_page(
    heading: &str,
    lines: &[String],
    form: Option<(&str, &str)>,
    link: Option<(&str, &str)>,
) -> String {
    let mut body = format!("<h1>{}</h1>", escape_html(heading));
    for line in lines {
        body.push_str(&format!("<p>{}</p>", escape_html(line)));
    }
    if let Some((action, button)) = form {
        body.push_str(&format!(
            r#"<form method="post" action="{}"><button type="submit" id="act">{}</button></form>"#,
            escape_html(action),
            escape_html(button)
        ));
    }
    if let Some((href, text)) = link {
        body.push_str(&format!(
            r#"<p><a href="{}">{}</a></p>"#,
            escape_html(href),
            escape_html(text)
        ));
    }
    layout(heading, &body)
}

/// The customer's answer as posted by the form, before it is checked against the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerForm {
    pub resolved: bool,
    pub score: Option<i64>,
    pub comment: Option<String>,
}

/// Parses the posted form (`application/x-www-form-urlencoded`). Errors are sentences for the
/// customer.
pub fn parse_answer_form(body: &[u8]) -> Result<AnswerForm, String> {
    let mut resolved = None;
    let mut score = None;
    let mut comment = None;
    for (name, value) in form_urlencoded::parse(body) {
        match name.as_ref() {
            "resolved" => {
                resolved = Some(match value.as_ref() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err("Please choose yes or no.".to_owned()),
                })
            }
            "score" if !value.trim().is_empty() => {
                score = Some(
                    value
                        .trim()
                        .parse::<i64>()
                        .map_err(|_| "The score must be one of the numbers shown.".to_owned())?,
                )
            }
            "comment" => {
                let text = value.trim();
                if text.chars().count() > MAX_TEXT_CHARS {
                    return Err(format!(
                        "Please keep your comment under {MAX_TEXT_CHARS} characters."
                    ));
                }
                comment = (!text.is_empty()).then(|| text.to_owned());
            }
            _ => {}
        }
    }
    Ok(AnswerForm {
        resolved: resolved.ok_or("Please choose whether the problem is resolved.")?,
        score,
        comment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_interpolated() {
        let page = confirm_page("/v1/confirm/t\"x", "<script>alert(1)</script>", None);
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("/v1/confirm/t&quot;x"));
    }

    #[test]
    fn offers_the_original_scale() {
        let nps = Score {
            kind: ScoreKind::Nps,
            value: 3,
            scale: 10,
        };
        let page = confirm_page("/p", "fixed", Some(nps));
        assert!(page.contains(r#"value="0""#) && page.contains(r#"value="10""#));
        let csat = Score {
            kind: ScoreKind::Csat,
            value: 2,
            scale: 5,
        };
        let page = confirm_page("/p", "fixed", Some(csat));
        assert!(!page.contains(r#"name="score" value="0""#) && !page.contains(r#"value="6""#));
    }

    #[test]
    fn parses_answers() {
        assert_eq!(
            parse_answer_form(b"resolved=no&score=8&comment=still+noisy%21").unwrap(),
            AnswerForm {
                resolved: false,
                score: Some(8),
                comment: Some("still noisy!".into())
            }
        );
        assert_eq!(
            parse_answer_form(b"resolved=yes&score=&comment=").unwrap(),
            AnswerForm {
                resolved: true,
                score: None,
                comment: None
            }
        );
        assert!(parse_answer_form(b"score=8").is_err());
        assert!(parse_answer_form(b"resolved=maybe").is_err());
        assert!(parse_answer_form(b"resolved=yes&score=ten").is_err());
        let long = format!("resolved=yes&comment={}", "a".repeat(MAX_TEXT_CHARS + 1));
        assert!(parse_answer_form(long.as_bytes()).is_err());
    }
}
