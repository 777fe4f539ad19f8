//! The words of a reply: the quoted history under it cut off, HTML read as text, clipped.
//!
//! Postmark strips the quoted history itself (`StrippedTextReply`, "if the inbound email was a
//! reply to another email, Postmark may be able to strip out the information for only the
//! reply"); Resend returns the whole `text`, and either may have only HTML. [`strip_quoted`]
//! cuts at the first line that starts the history: an attribution (`On <date>, <sender>
//! wrote:`, possibly wrapped over two lines), Outlook's `-----Original Message-----` or its
//! `From:`/`Sent:` header block and the rule of underscores above it, or a `-- ` signature;
//! `>` quoted lines are dropped wherever they are. It errs on the side of keeping words: a
//! reply written below the quote keeps the part above it only if the client put it there.

use super::MAX_REPLY_CHARS;

/// `text` without the quoted history a mail client put under the reply.
pub fn strip_quoted(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let next = lines.get(i + 1).map(|l| l.trim());
        if starts_history(trimmed, next) {
            break;
        }
        if trimmed.starts_with('>') {
            continue;
        }
        kept.push(line.trim_end());
    }
    kept.join("\n").trim().to_owned()
}

fn starts_history(line: &str, next: Option<&str>) -> bool {
    let wrote = |l: &str| l.ends_with("wrote:");
    let attribution = line.starts_with("On ") && (wrote(line) || next.is_some_and(wrote));
    let original =
        line.starts_with("-----") && line.to_ascii_lowercase().contains("original message");
    let rule = line.chars().count() >= 10 && line.chars().all(|c| c == '_');
    let outlook = line.starts_with("From: ")
        && next.is_some_and(|n| n.starts_with("Sent: ") || n.starts_with("Date: "));
    attribution || original || rule || outlook || line == "--"
}

/// The text of an HTML body: tags dropped, block ends as line breaks, quoted blocks
/// (`<blockquote>`, where clients put the history) left out, entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    // Inside an element whose content is not text (style, script, head) or is history
    // (blockquote): its name and how deep.
    let mut skipping: Option<(String, usize)> = None;
    while let Some(open) = rest.find('<') {
        if skipping.is_none() {
            out.push_str(&decode_entities(&rest[..open]));
        }
        let Some(close) = rest[open..].find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some((skipped, depth)) = &mut skipping {
            if *skipped == name {
                if closing {
                    *depth -= 1;
                } else if !tag.ends_with('/') {
                    *depth += 1;
                }
                if *depth == 0 {
                    skipping = None;
                }
            }
            continue;
        }
        match name.as_str() {
            "style" | "script" | "head" | "blockquote" if !closing => {
                skipping = Some((name, 1));
            }
            "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "table" => out.push('\n'),
            _ => {}
        }
    }
    if skipping.is_none() {
        out.push_str(&decode_entities(rest));
    }
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    collapse_blank_lines(&lines.join("\n"))
}

fn decode_entities(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| match &after[..e] {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" | "#39" => Some('\''),
            "nbsp" => Some(' '),
            n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                .ok()
                .and_then(char::from_u32),
            n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        });
        match (decoded, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::new();
    let mut blanks = 0;
    for line in text.trim().lines() {
        if line.trim().is_empty() {
            blanks += 1;
            if blanks > 1 {
                continue;
            }
        } else {
            blanks = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_owned()
}

/// The reply as kept: blank runs collapsed, at most [`MAX_REPLY_CHARS`] characters (a longer
/// one is cut and ends with `…`).
pub fn clip(text: &str) -> String {
    crate::dispatch::render::truncate(&collapse_blank_lines(text), MAX_REPLY_CHARS)
}

/// The words of an email reply: the first that is not empty of the provider's own `stripped`
/// reply (trimmed), the `text` body and the `html` body (read as text), their history cut off.
/// Each is read only if those before it gave nothing: a large HTML body is never converted
/// when the stripped reply or the text has the words.
pub fn email_words(stripped: Option<&str>, text: Option<&str>, html: Option<&str>) -> String {
    let some = |words: Option<String>| words.filter(|w| !w.is_empty());
    some(stripped.map(|t| t.trim().to_owned()))
        .or_else(|| some(text.map(strip_quoted)))
        .or_else(|| some(html.map(|h| strip_quoted(&html_to_text(h)))))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_under_a_reply_is_cut_off() {
        let gmail = "Still noisy, and nobody called.\r\n\r\nOn Mon, 23 Nov 2026 at 10:02, \
                     Harbour Hotel <care@hotel.example> wrote:\r\n> Hello Alex,\r\n> Is it \
                     resolved?\r\n";
        assert_eq!(strip_quoted(gmail), "Still noisy, and nobody called.");
        let wrapped = "No.\n\nOn Mon, 23 Nov 2026 at 10:02, Harbour Hotel\n<care@hotel.example> \
                       wrote:\n> Is it resolved?";
        assert_eq!(strip_quoted(wrapped), "No.");
        let outlook = "It is better now, thanks\n\n________________________________\nFrom: \
                       Harbour Hotel\nSent: Monday\nSubject: Did we fix it?";
        assert_eq!(strip_quoted(outlook), "It is better now, thanks");
        let old_outlook = "Thanks\n-----Original Message-----\nFrom: x";
        assert_eq!(strip_quoted(old_outlook), "Thanks");
        let headers = "Thanks\n\nFrom: Harbour Hotel <care@hotel.example>\nDate: Monday";
        assert_eq!(strip_quoted(headers), "Thanks");
        let signed = "Fine now.\n-- \nAlex Guest\n+44 7700 900123";
        assert_eq!(strip_quoted(signed), "Fine now.");
        let interleaved = "> Is it resolved?\nNo, the lift still chimes.\n> Anything else?\nNo.";
        assert_eq!(strip_quoted(interleaved), "No, the lift still chimes.\nNo.");
        // Words that merely look like the start of history stay.
        let plain = "On Monday the lift was quiet.\nFrom: the guest in 412";
        assert_eq!(strip_quoted(plain), plain);
        assert_eq!(strip_quoted("> only a quote"), "");
    }

    #[test]
    fn html_is_read_as_text_without_the_quoted_block() {
        let html = "<html><head><style>p{color:red}</style></head><body><div dir=\"ltr\">Still \
                    noisy &amp; nobody called.<br>Room 412</div><div class=\"gmail_quote\">On \
                    Mon wrote:<blockquote class=\"gmail_quote\"><p>Is it <b>resolved</b>?</p>\
                    <blockquote>older</blockquote>still quoted</blockquote></div>\
                    <p>&lt;3 &#8212; A&#x2e;</p></body></html>";
        let text = html_to_text(html);
        assert_eq!(
            text,
            "Still noisy & nobody called.\nRoom 412\n\nOn Mon wrote:\n\n<3 — A."
        );
        assert_eq!(
            strip_quoted(&text),
            "Still noisy & nobody called.\nRoom 412"
        );
        assert_eq!(html_to_text("a &unknown; b & c"), "a &unknown; b & c");
        assert_eq!(html_to_text("cut <b"), "cut");
    }

    #[test]
    fn replies_are_clipped_at_the_limit() {
        let at = "x".repeat(MAX_REPLY_CHARS);
        assert_eq!(clip(&at), at);
        let past = clip(&"é".repeat(MAX_REPLY_CHARS + 1));
        assert_eq!(past.chars().count(), MAX_REPLY_CHARS);
        assert!(past.ends_with('…'));
        assert_eq!(clip("  a\n\n\n\nb  "), "a\n\nb");
    }
}
