//! The shape of a reporter's text: their own note, and what they forwarded (evidence).
//!
//! Recognised forward/quote dividers, line-based and case-insensitive:
//! - Gmail: `---------- Forwarded message ---------`
//! - Outlook desktop: `-----Original Message-----`, or a header block
//!   `From: … / Sent: … / To: … / Subject: …` (often after a `____` rule)
//! - Apple Mail: `Begin forwarded message:`
//! - Thunderbird: `-------- Forwarded Message --------` / `-------- Original Message --------`

/// A divider found in a text: where it starts (0-based line index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Divider {
    pub line: usize,
    pub style: &'static str,
}

/// Finds the first forward/original-message divider.
pub fn find_divider(text: &str) -> Option<Divider> {
    let lines: Vec<&str> = text.lines().collect();
    for (i, raw) in lines.iter().enumerate() {
        let l = raw.trim().trim_start_matches('>').trim();
        let lower = l.to_ascii_lowercase();
        let dashed = lower.trim_matches(|c: char| c == '-' || c.is_whitespace());
        let has_dashes = lower.starts_with("--") && lower.len() > dashed.len() + 3;
        if has_dashes && (dashed == "forwarded message" || dashed == "original message") {
            let style = if lower.starts_with("-----original") {
                "outlook-original-message"
            } else if dashed == "forwarded message" && lower.starts_with("----------") {
                "gmail-forward"
            } else {
                "thunderbird"
            };
            return Some(Divider { line: i, style });
        }
        if lower == "begin forwarded message:" {
            return Some(Divider {
                line: i,
                style: "apple-forward",
            });
        }
        if is_header_block(&lines, i) {
            // Outlook puts a rule of underscores above its block; start the evidence there.
            let start = if i > 0
                && lines[i - 1].trim().chars().all(|c| c == '_')
                && lines[i - 1].trim().len() >= 8
            {
                i - 1
            } else {
                i
            };
            return Some(Divider {
                line: start,
                style: "outlook-header-block",
            });
        }
    }
    None
}

/// `From:` followed within the next four lines by `Sent:`/`Date:` and by `To:` or `Subject:`.
fn is_header_block(lines: &[&str], i: usize) -> bool {
    let label = |s: &str| -> String {
        let t = s
            .trim()
            .trim_start_matches('>')
            .trim()
            .trim_start_matches('*')
            .to_ascii_lowercase();
        t.split(':')
            .next()
            .unwrap_or("")
            .trim()
            .trim_end_matches('*')
            .to_string()
    };
    if label(lines[i]) != "from" || !lines[i].contains(':') {
        return false;
    }
    let next: Vec<String> = lines.iter().skip(i + 1).take(4).map(|l| label(l)).collect();
    let dated = next.iter().any(|l| l == "sent" || l == "date");
    let addressed = next.iter().any(|l| l == "to" || l == "subject");
    dated && addressed
}

/// The reporter's own note and the forwarded part (with its header block), if any.
pub fn split_forward(text: &str) -> (String, Option<String>) {
    match find_divider(text) {
        None => (text.to_string(), None),
        Some(d) => {
            let lines: Vec<&str> = text.lines().collect();
            let note = lines[..d.line].join("\n");
            let fwd = lines[d.line..].join("\n");
            (note.trim_end().to_string(), Some(fwd))
        }
    }
}

/// The first line after line `i` that is not blank, with its index.
pub(super) fn next_text_line<'a>(lines: &[&'a str], i: usize) -> Option<(usize, &'a str)> {
    lines
        .iter()
        .enumerate()
        .skip(i + 1)
        .find(|(_, l)| !l.trim().is_empty())
        .map(|(j, l)| (j, *l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_forward() {
        let t = "Please look at this.\n\nJane\n\n---------- Forwarded message ---------\nFrom: Bad <x@evil.test>\nDate: Mon\nSubject: Pay now\n\nClick hxxp://evil[.]test\n";
        let (note, fwd) = split_forward(t);
        assert_eq!(note, "Please look at this.\n\nJane");
        assert!(fwd.unwrap().contains("evil[.]test"));
        assert_eq!(find_divider(t).unwrap().style, "gmail-forward");
    }

    #[test]
    fn outlook_header_block_with_rule() {
        let t = "FYI, user reported this.\n\n________________________________\nFrom: IT Helpdesk <help@evil.test>\nSent: Tuesday, March 10, 2026 9:02 AM\nTo: Jane Doe <jane@dor.state.ma.us>\nSubject: Password expiry\n\nReset here.";
        let d = find_divider(t).unwrap();
        assert_eq!(d.style, "outlook-header-block");
        assert_eq!(d.line, 2);
        let (note, fwd) = split_forward(t);
        assert_eq!(note, "FYI, user reported this.");
        assert!(fwd.unwrap().starts_with("____"));
    }

    #[test]
    fn outlook_original_message_and_apple() {
        assert_eq!(
            find_divider("x\n-----Original Message-----\nFrom: a\n")
                .unwrap()
                .style,
            "outlook-original-message"
        );
        assert_eq!(
            find_divider("x\nBegin forwarded message:\n\nFrom: a")
                .unwrap()
                .style,
            "apple-forward"
        );
        assert_eq!(
            find_divider("x\n-------- Forwarded Message --------\nSubject: a")
                .unwrap()
                .style,
            "thunderbird"
        );
    }

    #[test]
    fn a_from_line_alone_is_not_a_divider() {
        assert!(
            find_divider("From: the SOC team we learned\nthat the server was down.\n").is_none()
        );
        assert!(find_divider("").is_none());
    }
}
