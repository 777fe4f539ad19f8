//! SMS length: how many segments a text costs, and cutting it to fit.
//!
//! A text that only uses the GSM 03.38 alphabet is sent in GSM-7: 160 characters in one
//! segment, 153 per segment once it is split (the rest carries the concatenation header); the
//! characters of the extension table (`^ { } \ [ ~ ] | €`) cost two. Any other character switches
//! the whole message to UCS-2: 70 UTF-16 units in one segment, 67 per segment once split.
//! Carriers bill per segment and some phones mangle long chains, so alerts are cut to
//! [`MAX_SMS_SEGMENTS`] and always end with the case link, which is never cut.
//! See Twilio's "What the heck is a segment?" and 3GPP TS 23.038.

/// The most segments one SMS alert may cost.
pub const MAX_SMS_SEGMENTS: usize = 3;

const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{c}";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// The encoding a text needs and the units it costs in it (septets or UTF-16 units).
pub fn measure(text: &str) -> (Encoding, usize) {
    let mut septets = 0;
    for c in text.chars() {
        if GSM_BASIC.contains(c) {
            septets += 1;
        } else if GSM_EXTENSION.contains(c) {
            septets += 2;
        } else {
            return (Encoding::Ucs2, text.encode_utf16().count());
        }
    }
    (Encoding::Gsm7, septets)
}

fn limits(encoding: Encoding) -> (usize, usize) {
    match encoding {
        Encoding::Gsm7 => (160, 153),
        Encoding::Ucs2 => (70, 67),
    }
}

/// How many segments `text` is sent as (0 for an empty text).
pub fn segments(text: &str) -> usize {
    let (encoding, units) = measure(text);
    let (single, multi) = limits(encoding);
    match units {
        0 => 0,
        n if n <= single => 1,
        n => n.div_ceil(multi),
    }
}

/// `body` cut so that `body` + `suffix` fits in `max_segments`, with an ellipsis where it was
/// cut. The suffix (the link) is kept whole.
pub fn fit(body: &str, suffix: &str, max_segments: usize) -> String {
    let whole = format!("{body}{suffix}");
    if segments(&whole) <= max_segments {
        return whole;
    }
    let (encoding, _) = measure(&whole);
    // "..." stays in GSM-7; "…" would switch the message to UCS-2.
    let ellipsis = match encoding {
        Encoding::Gsm7 => "...",
        Encoding::Ucs2 => "…",
    };
    let (_, multi) = limits(encoding);
    let budget = multi * max_segments;
    let cost = |s: &str| match encoding {
        Encoding::Gsm7 => measure(s).1,
        Encoding::Ucs2 => s.encode_utf16().count(),
    };
    let fixed = cost(ellipsis) + cost(suffix);
    let mut kept = String::new();
    let mut used = 0;
    for c in body.chars() {
        let mut buf = [0u8; 4];
        let c_cost = cost(c.encode_utf8(&mut buf));
        if used + c_cost + fixed > budget {
            break;
        }
        used += c_cost;
        kept.push(c);
    }
    format!("{}{ellipsis}{suffix}", kept.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_limits_at_and_past_the_edge() {
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"a".repeat(153 * 3)), 3);
        assert_eq!(segments(&"a".repeat(153 * 3 + 1)), 4);
        // Extension characters cost two septets.
        assert_eq!(measure("€[]"), (Encoding::Gsm7, 6));
        assert_eq!(segments(&"€".repeat(80)), 1);
        assert_eq!(segments(&"€".repeat(81)), 2);
    }

    #[test]
    fn ucs2_limits_at_and_past_the_edge() {
        assert_eq!(measure("Zoë → ok").0, Encoding::Ucs2);
        assert_eq!(segments(&"ж".repeat(70)), 1);
        assert_eq!(segments(&"ж".repeat(71)), 2);
        assert_eq!(segments(&"ж".repeat(67 * 3)), 3);
        assert_eq!(segments(&"ж".repeat(67 * 3 + 1)), 4);
        // An emoji is two UTF-16 units.
        assert_eq!(measure("😀").1, 2);
    }

    #[test]
    fn fit_keeps_the_link_and_the_limit() {
        let link = " https://cl.example/console/cases/123";
        let short = fit("Short alert", link, MAX_SMS_SEGMENTS);
        assert_eq!(short, format!("Short alert{link}"));
        let long = fit(&"noisy ".repeat(200), link, MAX_SMS_SEGMENTS);
        assert!(long.ends_with(&format!("...{link}")), "{long}");
        assert_eq!(segments(&long), MAX_SMS_SEGMENTS);
        let long = fit(&"шумно ".repeat(200), link, MAX_SMS_SEGMENTS);
        assert!(long.ends_with(&format!("…{link}")), "{long}");
        assert_eq!(segments(&long), MAX_SMS_SEGMENTS);
        assert_eq!(segments(&fit(&"x".repeat(1000), link, 1)), 1);
    }
}
