//! Campaign fingerprints: what identifies the suspect message a report forwards or
//! attaches, so that many staff reporting the same phish become one case. Pure.
//!
//! A report gets up to three fingerprints, one per way the same suspect message can be
//! recognised however it was forwarded:
//! - `mid:` the attached message's own Message-ID (the same mail sent to many people);
//! - `msg:` a hash of its sender, its subject (without `RE:`/`FW:`) and its words
//!   (letters and digits only, so line wrapping, quote marks and the forwarding
//!   client's header block do not count);
//! - `set:` a hash of the set of links in it and of the files attached to it (a mail
//!   merged per recipient, with the same links or payload).

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::report::{Attachment, Evidence};

/// Most characters of a suspect message's words that go into its `msg:` hash.
const MAX_WORDS: usize = 20_000;
/// A suspect message with fewer letters and digits than this and no sender or subject
/// says too little to be recognised by its words.
const MIN_WORDS: usize = 24;

/// The fingerprints of the suspect messages in `evidence`. `links` are the URLs found
/// in the evidence; `attachments` every attachment (those inside an attached message
/// count). Sorted, without repeats; empty when nothing was forwarded.
pub fn fingerprints(
    evidence: &[Evidence],
    links: &BTreeSet<String>,
    attachments: &[Attachment],
) -> Vec<String> {
    let mut out = BTreeSet::new();
    for e in evidence {
        if let Some(id) = e
            .message_id
            .as_deref()
            .map(normal_id)
            .filter(|i| !i.is_empty())
        {
            out.insert(format!("mid:{id}"));
        }
        if let Some(h) = words_hash(e) {
            out.insert(format!("msg:{h}"));
        }
    }
    let payload: BTreeSet<String> = attachments
        .iter()
        .filter(|a| a.from != "message")
        .map(|a| format!("file {}", a.sha256))
        .chain(
            links
                .iter()
                .map(|l| format!("link {}", l.to_ascii_lowercase())),
        )
        .collect();
    if !evidence.is_empty() && !payload.is_empty() {
        out.insert(format!("set:{}", hash(payload.into_iter())));
    }
    out.into_iter().collect()
}

/// What kind of match a fingerprint is, in words for the case's history.
pub fn describe(fingerprint: &str) -> &'static str {
    match fingerprint.split_once(':').map(|(k, _)| k) {
        Some("mid") => "the same Message-ID",
        Some("msg") => "the same sender, subject and text",
        Some("set") => "the same links and attachments",
        _ => "the same suspect message",
    }
}

fn normal_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_ascii_lowercase()
}

/// The sender's address, the subject and the words of one suspect message, hashed.
fn words_hash(e: &Evidence) -> Option<String> {
    let sender = e.from.as_deref().map(address_of).unwrap_or_default();
    let subject = e.subject.as_deref().map(normal_subject).unwrap_or_default();
    let words: String = body_of(e)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .take(MAX_WORDS)
        .collect();
    if words.chars().count() < MIN_WORDS && (sender.is_empty() || subject.is_empty()) {
        return None;
    }
    Some(hash([sender, subject, words].into_iter()))
}

/// The text of the suspect message without the header block an inline forward starts
/// with (its `To:` line names each recipient, so it differs between reporters).
fn body_of(e: &Evidence) -> &str {
    if e.origin == "attached-message" {
        return &e.text;
    }
    let mut rest = e.text.as_str();
    // The divider line, then `Key: value` lines up to the first blank line.
    for (i, line) in e.text.lines().enumerate().take(16) {
        let l = line.trim().trim_start_matches('>').trim().replace('*', "");
        let header_like = l
            .split_once(':')
            .is_some_and(|(k, _)| !k.is_empty() && k.len() <= 20 && !k.contains("//"));
        let divider = i == 0 && (l.starts_with('-') || l.is_empty());
        if header_like || divider || l.to_ascii_lowercase().starts_with("begin forwarded") {
            rest = after_line(&e.text, line);
            continue;
        }
        if l.is_empty() {
            continue;
        }
        break;
    }
    rest
}

/// `text` after `line` (a line of it, found by its address in `text`).
fn after_line<'a>(text: &'a str, line: &str) -> &'a str {
    let start = line.as_ptr() as usize - text.as_ptr() as usize + line.len();
    text.get(start..).unwrap_or("")
}

/// The address inside `Name <address>`, lower case.
fn address_of(from: &str) -> String {
    let a = match (from.rfind('<'), from.rfind('>')) {
        (Some(l), Some(r)) if l < r => &from[l + 1..r],
        _ => from,
    };
    a.trim()
        .trim_start_matches("mailto:")
        .trim_matches(|c: char| c == '[' || c == ']' || c == '"')
        .to_ascii_lowercase()
}

/// The subject without reply and forward prefixes, in lower case, spaces collapsed.
fn normal_subject(s: &str) -> String {
    let mut s = s.trim();
    loop {
        let lower = s.to_ascii_lowercase();
        let prefix = [
            "re:",
            "fw:",
            "fwd:",
            "aw:",
            "wg:",
            "rv:",
            "tr:",
            "[external]",
        ]
        .into_iter()
        .find(|p| lower.starts_with(p));
        match prefix {
            Some(p) => s = s[p.len()..].trim_start(),
            None => break,
        }
    }
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn hash(parts: impl Iterator<Item = String>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline(text: &str) -> Evidence {
        Evidence {
            origin: "inline-forward (outlook)".into(),
            from: None,
            subject: None,
            date: None,
            message_id: None,
            text: text.into(),
            headers: String::new(),
        }
    }

    fn attached(from: &str, subject: &str, id: Option<&str>, text: &str) -> Evidence {
        Evidence {
            origin: "attached-message".into(),
            from: Some(from.into()),
            subject: Some(subject.into()),
            date: None,
            message_id: id.map(String::from),
            text: text.into(),
            headers: String::new(),
        }
    }

    fn msg_of(f: &[String]) -> Option<&String> {
        f.iter().find(|f| f.starts_with("msg:"))
    }

    #[test]
    fn the_same_phish_forwarded_by_two_clients_has_the_same_words_fingerprint() {
        let mut a = inline("From: Payroll <pay@evil.test>\nSent: Monday, May 4, 2026 9:02 AM\nTo: Jane Doe <jane@dor.state.ma.us>\nSubject: Verify your account\n\nYour mailbox will be closed.\nClick here to keep it: hxxps://evil[.]test/keep\n");
        a.from = Some("Payroll <pay@evil.test>".into());
        a.subject = Some("Verify your account".into());
        let mut b = inline("---------- Forwarded message ---------\nFrom: Payroll <PAY@evil.test>\nDate: Mon, May 4, 2026 at 9:02 AM\nSubject: Verify your  account\nTo: <bob@eohhs.state.ma.us>\n\n> Your mailbox will be\n> closed. Click here to keep it: hxxps://evil[.]test/keep\n");
        b.from = Some("Payroll <PAY@evil.test>".into());
        b.subject = Some("FW: Verify your  account".into());
        let none = BTreeSet::new();
        let fa = fingerprints(&[a], &none, &[]);
        let fb = fingerprints(&[b], &none, &[]);
        assert!(msg_of(&fa).is_some(), "{fa:?}");
        assert_eq!(msg_of(&fa), msg_of(&fb));
    }

    #[test]
    fn another_message_from_the_same_sender_is_not_the_same() {
        let none = BTreeSet::new();
        let a = attached(
            "pay@evil.test",
            "Verify",
            None,
            "Your mailbox will be closed today unless you act",
        );
        let b = attached(
            "pay@evil.test",
            "Verify",
            None,
            "Your invoice is attached, please pay it this week",
        );
        assert_ne!(
            msg_of(&fingerprints(&[a], &none, &[])),
            msg_of(&fingerprints(&[b], &none, &[]))
        );
    }

    #[test]
    fn an_attached_message_gives_its_message_id_and_its_links() {
        let links: BTreeSet<String> = ["https://evil.test/x".to_string()].into();
        let e = attached("a@evil.test", "Hi", Some("<ABC@evil.test>"), "short");
        let f = fingerprints(&[e], &links, &[]);
        assert!(f.contains(&"mid:abc@evil.test".to_string()), "{f:?}");
        assert!(f.iter().any(|x| x.starts_with("set:")), "{f:?}");
        assert_eq!(describe(&f[0]), "the same Message-ID");
    }

    #[test]
    fn a_report_without_forwarded_mail_has_no_fingerprint() {
        let links: BTreeSet<String> = ["https://evil.test/x".to_string()].into();
        assert!(fingerprints(&[], &links, &[]).is_empty());
        // Too little to recognise: no sender, no subject, a few words.
        assert!(fingerprints(&[inline("see below")], &BTreeSet::new(), &[]).is_empty());
    }

    #[test]
    fn subjects_lose_their_prefixes() {
        assert_eq!(normal_subject("RE: Fwd: FW:  Pay  Now"), "pay now");
        assert_eq!(address_of("\"Pay\" <Pay@Evil.test>"), "pay@evil.test");
    }
}
