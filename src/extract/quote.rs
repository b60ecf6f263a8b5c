//! The new text of a message: quoted history, signatures and legal footers removed.
//!
//! Recognised, line-based (HTML bodies arrive here already as text, Gmail/Apple
//! `<blockquote>` as `> ` lines and Outlook's reply divider as a header block):
//! - `>` quoting, and everything after an attribution line `On … wrote:` (also when the
//!   client wrapped it over two lines, and `Le … a écrit :`-style variants ending in `wrote:`);
//! - Outlook's `From: … Sent: … To: … Subject:` block and `-----Original Message-----`
//!   (see [`super::body::find_divider`]);
//! - signatures after a `-- ` delimiter, mobile taglines (`Sent from my iPhone`,
//!   `Get Outlook for iOS`) and legal footers (`CONFIDENTIALITY NOTICE`, `This e-mail
//!   and any attachments …`).

use super::body;

/// The new text and what was taken away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewText {
    pub text: String,
    /// Which quoting style cut the history off, if any.
    pub quote_style: Option<&'static str>,
    pub signature_removed: bool,
}

const TAGLINES: &[&str] = &[
    "sent from my iphone",
    "sent from my ipad",
    "sent from my android",
    "sent from my samsung",
    "get outlook for ios",
    "get outlook for android",
    "sent from outlook",
    "sent from mail for windows",
    "sent from yahoo mail",
];
const FOOTERS: &[&str] = &[
    "confidentiality notice",
    "this e-mail and any attachments",
    "this email and any attachments",
    "this email message, including any attachments",
    "the information contained in this",
    "this message and any attachments",
    "caution: this email originated",
];

fn is_attribution(line: &str, next: Option<&str>) -> bool {
    let l = line.trim().to_ascii_lowercase();
    if !l.starts_with("on ") {
        return false;
    }
    l.ends_with("wrote:") || next.is_some_and(|n| n.trim().to_ascii_lowercase().ends_with("wrote:"))
}

/// Removes quoted history (always) and the signature and footer (when `drop_signature`).
pub fn new_text(body: &str, drop_signature: bool) -> NewText {
    let lines: Vec<&str> = body.lines().collect();
    let mut end = lines.len();
    let mut style = None;
    for (i, l) in lines.iter().enumerate() {
        if is_attribution(l, lines.get(i + 1).copied()) {
            end = i;
            style = Some("attribution");
            break;
        }
    }
    if let Some(d) = body::find_divider(body) {
        if d.line < end {
            end = d.line;
            style = Some(d.style);
        }
    }
    let mut kept: Vec<&str> = lines[..end].to_vec();
    if kept.iter().any(|l| l.trim_start().starts_with('>')) {
        kept.retain(|l| !l.trim_start().starts_with('>'));
        style.get_or_insert("quoted-lines");
    }
    let mut signature_removed = false;
    if drop_signature {
        if let Some(i) = kept.iter().position(|l| {
            let t = l.trim_end();
            let low = t.trim().to_ascii_lowercase();
            t == "--"
                || t == "-- "
                || TAGLINES.iter().any(|x| low.starts_with(x))
                || FOOTERS.iter().any(|x| low.starts_with(x))
        }) {
            kept.truncate(i);
            signature_removed = true;
        }
    }
    let text = kept.join("\n").trim().to_string();
    NewText {
        text,
        quote_style: style,
        signature_removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_and_plain_quoting() {
        let t = "Phone: 617-555-0142\nAgency: DOR\n\nOn Tue, Mar 10, 2026 at 9:50 AM SOC <soc@mass.gov>\nwrote:\n> Agency:\n> Phone:\n";
        let n = new_text(t, true);
        assert_eq!(n.text, "Phone: 617-555-0142\nAgency: DOR");
        assert_eq!(n.quote_style, Some("attribution"));
        let n = new_text(
            "yes, police called\n> Law enforcement contacted:\n> old\n",
            true,
        );
        assert_eq!(n.text, "yes, police called");
        assert_eq!(n.quote_style, Some("quoted-lines"));
    }

    #[test]
    fn outlook_reply_with_empty_labels_below() {
        let t = "Agency: Department of Revenue\nActions taken: reset the password\n\nJane Doe | DOR\n\n________________________________\nFrom: SOC <soc@mass.gov>\nSent: Tuesday, March 10, 2026 9:50 AM\nTo: Jane Doe <jane@dor.state.ma.us>\nSubject: [SOC-2026-000001] Received: Phish\n\nAgency:\nPhone:\nActions taken:\n";
        let n = new_text(t, false);
        assert!(n.text.starts_with("Agency: Department of Revenue"));
        assert!(!n.text.contains("Phone:"), "{}", n.text);
        assert_eq!(n.quote_style, Some("outlook-header-block"));
    }

    #[test]
    fn signatures_taglines_and_footers() {
        let n = new_text("Laptop stolen.\n\nSent from my iPhone", true);
        assert_eq!(n.text, "Laptop stolen.");
        assert!(n.signature_removed);
        let n = new_text("Server down.\n-- \nBob\n617-555-0100", true);
        assert_eq!(n.text, "Server down.");
        let n = new_text(
            "Details below.\nCONFIDENTIALITY NOTICE: This e-mail is for the intended recipient",
            true,
        );
        assert_eq!(n.text, "Details below.");
        assert!(!new_text("Server down.\n-- \nBob", false).text.is_empty());
    }
}
