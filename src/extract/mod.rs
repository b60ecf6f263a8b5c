//! Turning raw message bytes into our own owned types, and deciding what a message is.
//!
//! `mail_parser::Message` borrows the raw bytes; it is converted once, here, into
//! [`InboundEmail`] so nothing downstream depends on its lifetime.

pub mod actions;
pub mod alerts;
pub mod answers;
pub mod auth;
pub mod body;
pub mod bounds;
pub mod campaign;
mod classify;
pub mod docx;
pub mod dsn;
pub mod extractors;
pub mod fields;
pub mod html;
pub mod iocs;
pub mod pdf;
pub mod quote;
pub mod report;
pub mod rules;
pub mod tnef;
pub mod when;

pub use classify::{classify, Classification};

use chrono::{DateTime, FixedOffset, TimeZone};
use mail_parser::{Addr, HeaderValue, MessageParser, MimeHeaders};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::EmailAddress;

/// A display name and address, as found in a header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: EmailAddress,
}

/// An attachment as recorded (its bytes are kept in the raw message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentInfo {
    pub name: Option<String>,
    pub media_type: String,
    pub size: usize,
    pub sha256: String,
}

/// Everything the gateway needs from one inbound message, owned.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InboundEmail {
    /// `Message-ID` without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub subject: String,
    pub from: Option<Mailbox>,
    /// Set when the sender is ambiguous (several From headers, or several addresses in
    /// one): such a message is never taken as a verified participant's.
    pub from_ambiguous: Option<String>,
    pub reply_to: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub date: Option<DateTime<FixedOffset>>,
    /// `Some("")` for the null reverse path `<>` (a bounce).
    pub return_path: Option<String>,
    pub auto_submitted: Option<String>,
    pub precedence: Option<String>,
    pub list_id: Option<String>,
    /// Other autoresponder markers (`X-Autoreply`, `X-Autorespond`, `X-Auto-Response-Suppress`…).
    pub autoresponder_headers: Vec<String>,
    /// `Authentication-Results` values, newest first (see [`auth::verify`]).
    pub authentication_results: Vec<String>,
    /// `multipart/report` with a delivery-status or disposition report.
    pub report_type: Option<String>,
    pub text_body: String,
    pub html_body: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
    /// Problems met while reading the message; the analyst sees them.
    pub parse_notes: Vec<String>,
    /// False when mail-parser could not make a message of the bytes at all.
    pub parsed: bool,
}

impl InboundEmail {
    /// Where an answer goes: Reply-To, else From.
    pub fn reply_address(&self) -> Option<&Mailbox> {
        self.reply_to.as_ref().or(self.from.as_ref())
    }
}

/// Parses raw bytes. Never fails: unreadable input yields `parsed = false` and a note.
pub fn parse_inbound(raw: &[u8]) -> InboundEmail {
    match MessageParser::default().parse(raw) {
        Some(msg) => inbound_from(&msg),
        None => unreadable(),
    }
}

/// What is known of bytes that are not a message.
pub(crate) fn unreadable() -> InboundEmail {
    InboundEmail {
        parse_notes: vec![
            "the bytes could not be read as an email message (no headers found)".into(),
        ],
        ..InboundEmail::default()
    }
}

/// Our owned reading of a message mail-parser has already parsed (so the analysis
/// parses the bytes once).
pub(crate) fn inbound_from(msg: &mail_parser::Message<'_>) -> InboundEmail {
    let mut notes = Vec::new();
    let text = |name: &str| msg.header_raw(name).map(clean_header);

    let from = first_mailbox(msg.from(), "From", &mut notes);
    let from_headers = msg
        .headers_raw()
        .filter(|(name, _)| name.eq_ignore_ascii_case("From"))
        .count();
    let from_addresses = msg.from().map(|a| a.iter().count()).unwrap_or(0);
    let from_ambiguous = if from_headers > 1 {
        Some(format!("the message has {from_headers} From headers"))
    } else if from_addresses > 1 {
        Some(format!("the From header names {from_addresses} addresses"))
    } else {
        None
    };
    if let Some(why) = &from_ambiguous {
        notes.push(format!("{why}; the sender cannot be verified"));
    }
    let reply_to = first_mailbox(msg.reply_to(), "Reply-To", &mut notes);
    let to = all_mailboxes(msg.to());
    let cc = all_mailboxes(msg.cc());

    let date = msg.date().and_then(|d| {
        let secs = (d.tz_hour as i32) * 3600 + (d.tz_minute as i32) * 60;
        let offset = FixedOffset::east_opt(if d.tz_before_gmt { -secs } else { secs })?;
        offset.timestamp_opt(d.to_timestamp(), 0).single()
    });
    if date.is_none() && msg.header_raw("Date").is_some() {
        notes.push("the Date header could not be read".into());
    }

    let return_path = msg.header_raw("Return-Path").map(|v| {
        let v = clean_header(v);
        v.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .to_string()
    });

    let autoresponder_headers = [
        "X-Autoreply",
        "X-Autorespond",
        "X-Autoresponse",
        "X-Auto-Response",
        "X-AutoReply-From",
        "X-Mail-Autoreply",
        "X-MS-Exchange-Organization-AutoReply",
    ]
    .iter()
    .filter(|h| msg.header_raw(**h).is_some())
    .map(|h| h.to_string())
    .collect();

    let report_type = msg
        .root_part()
        .content_type()
        .filter(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
        .map(|ct| {
            ct.attribute("report-type")
                .unwrap_or("")
                .to_ascii_lowercase()
        });

    // The bodies as mail-parser reads them, cut at the analysis ceiling (the raw
    // message keeps everything).
    let limit = report::MAX_TEXT_BYTES;
    let mut text_body = String::new();
    for part in msg.text_bodies() {
        if text_body.len() >= limit {
            break;
        }
        // HTML-only parts through our bounded converter, not mail-parser's.
        let t = match &part.body {
            mail_parser::PartType::Text(t) => std::borrow::Cow::Borrowed(&**t),
            mail_parser::PartType::Html(h) => std::borrow::Cow::Owned(html::html_to_text(h)),
            _ => continue,
        };
        if !text_body.is_empty() {
            text_body.push_str("\n\n");
        }
        text_body.push_str(prefix_of(&t, limit - text_body.len().min(limit)));
    }
    // Only a real HTML part: mail-parser would otherwise convert the whole text body.
    let html_body = msg
        .html_part(0)
        .filter(|p| p.is_text_html())
        .and_then(|_| msg.body_html(0))
        .map(|h| prefix_of(&h, limit).to_string());
    for part in msg.parts.iter() {
        if part.is_encoding_problem {
            notes.push(format!(
                "a part ({}) could not be decoded and is kept as raw bytes",
                part.content_type()
                    .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
                    .unwrap_or_else(|| "text/plain".into())
            ));
        }
    }

    let attachments = msg
        .attachments()
        .map(|part| {
            let bytes = part.contents();
            let media_type = part
                .content_type()
                .map(|c| {
                    format!("{}/{}", c.ctype(), c.subtype().unwrap_or("octet-stream"))
                        .to_ascii_lowercase()
                })
                .unwrap_or_else(|| "application/octet-stream".into());
            AttachmentInfo {
                name: part.attachment_name().map(clean_header),
                media_type,
                size: bytes.len(),
                sha256: hex::encode(Sha256::digest(bytes)),
            }
        })
        .collect();

    InboundEmail {
        message_id: msg.message_id().map(clean_msgid).filter(|m| !m.is_empty()),
        in_reply_to: id_list(msg.in_reply_to()),
        references: id_list(msg.references()),
        subject: msg.subject().map(clean_header).unwrap_or_default(),
        from,
        from_ambiguous,
        reply_to,
        to,
        cc,
        date,
        return_path,
        auto_submitted: text("Auto-Submitted"),
        precedence: text("Precedence"),
        list_id: text("List-Id"),
        autoresponder_headers,
        authentication_results: msg
            .headers_raw()
            .filter(|(name, _)| name.eq_ignore_ascii_case("Authentication-Results"))
            .map(|(_, v)| clean_header(v))
            .collect(),
        report_type,
        text_body,
        html_body,
        attachments,
        parse_notes: notes,
        parsed: true,
    }
}

fn to_mailbox(a: &Addr<'_>) -> Option<Mailbox> {
    let address = EmailAddress::parse(a.address.as_deref()?).ok()?;
    let name = a
        .name
        .as_deref()
        .map(clean_header)
        .filter(|n| !n.is_empty());
    Some(Mailbox { name, address })
}

fn first_mailbox(
    addr: Option<&mail_parser::Address<'_>>,
    header: &str,
    notes: &mut Vec<String>,
) -> Option<Mailbox> {
    let a = addr?;
    let found = a.iter().find_map(to_mailbox);
    if found.is_none() {
        notes.push(format!("the {header} header holds no usable address"));
    }
    found
}

fn all_mailboxes(addr: Option<&mail_parser::Address<'_>>) -> Vec<Mailbox> {
    addr.map(|a| a.iter().filter_map(to_mailbox).collect())
        .unwrap_or_default()
}

fn id_list(v: &HeaderValue<'_>) -> Vec<String> {
    let ids: Vec<String> = match v {
        HeaderValue::Text(t) => vec![clean_msgid(t)],
        HeaderValue::TextList(l) => l.iter().map(|t| clean_msgid(t)).collect(),
        _ => Vec::new(),
    };
    ids.into_iter().filter(|i| !i.is_empty()).collect()
}

pub use crate::domain::{prefix_of, suffix_of};

/// Header text as one line without control characters (folding, stray CR/LF, NUL).
pub fn clean_header(v: &str) -> String {
    let s: String = v
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn clean_msgid(v: &str) -> String {
    clean_header(v)
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

/// SHA-256 of the message as the sender wrote it: the trace header block that each
/// delivery prepends (`Return-Path`, `Received`, `Delivered-To`, `X-Original-To`) is skipped,
/// so the same message fetched over IMAP and piped from the MTA hashes the same.
pub fn content_hash(raw: &[u8]) -> String {
    let mut pos = 0;
    let trace = [
        "return-path:",
        "received:",
        "delivered-to:",
        "x-original-to:",
        "x-delivered-to:",
    ];
    loop {
        let rest = &raw[pos..];
        let line_end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(rest.len());
        let line = &rest[..line_end];
        let lower: Vec<u8> = line
            .iter()
            .take(20)
            .map(|b| b.to_ascii_lowercase())
            .collect();
        let is_trace = trace.iter().any(|t| lower.starts_with(t.as_bytes()));
        if !is_trace || line_end == 0 {
            break;
        }
        pos += line_end;
        // continuation lines of the same header
        while pos < raw.len() && (raw[pos] == b' ' || raw[pos] == b'\t') {
            let rest = &raw[pos..];
            pos += rest
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| i + 1)
                .unwrap_or(rest.len());
        }
    }
    hex::encode(Sha256::digest(&raw[pos..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &[u8] = b"From: \"Jane Doe\" <jane@dor.state.ma.us>\r\nTo: soc@mass.gov\r\nSubject: Phishing\r\n =?utf-8?q?_email?=\r\nMessage-ID: <abc@dor>\r\nIn-Reply-To: <x@y>\r\nReferences: <a@b> <x@y>\r\nDate: Tue, 10 Mar 2026 09:45:00 -0400\r\n\r\nWe got a phish.\r\n";

    #[test]
    fn reads_the_headers_we_need() {
        let e = parse_inbound(PLAIN);
        assert!(e.parsed);
        assert_eq!(e.message_id.as_deref(), Some("abc@dor"));
        assert_eq!(e.subject, "Phishing email");
        let from = e.from.as_ref().unwrap();
        assert_eq!(from.name.as_deref(), Some("Jane Doe"));
        assert_eq!(from.address.as_str(), "jane@dor.state.ma.us");
        assert_eq!(e.in_reply_to, vec!["x@y"]);
        assert_eq!(e.references, vec!["a@b", "x@y"]);
        assert_eq!(e.date.unwrap().to_rfc3339(), "2026-03-10T09:45:00-04:00");
        assert!(e.text_body.contains("We got a phish."));
        let with_ar = b"Authentication-Results: mx.mass.gov;\r\n dmarc=pass header.from=dor\r\nFrom: a@dor\r\n\r\nx";
        assert_eq!(
            parse_inbound(with_ar).authentication_results,
            vec!["mx.mass.gov; dmarc=pass header.from=dor"]
        );
    }

    #[test]
    fn several_senders_are_ambiguous() {
        assert_eq!(parse_inbound(PLAIN).from_ambiguous, None);
        let two_headers =
            b"From: mallory@evil.test\r\nFrom: jane@dor.state.ma.us\r\nSubject: x\r\n\r\nbody";
        let e = parse_inbound(two_headers);
        assert!(e.from_ambiguous.is_some(), "{:?}", e.from);
        let two_addresses =
            b"From: jane@dor.state.ma.us, mallory@evil.test\r\nSubject: x\r\n\r\nbody";
        assert!(parse_inbound(two_addresses).from_ambiguous.is_some());
    }

    #[test]
    fn garbage_is_not_a_panic() {
        for raw in [
            &b""[..],
            b"\0\0\0",
            b"no colon here",
            b"\xff\xfe:\xff\r\n\r\n\xff",
        ] {
            let e = parse_inbound(raw);
            assert!(e.message_id.is_none());
        }
    }

    #[test]
    fn content_hash_ignores_delivery_trace() {
        let a = b"Return-Path: <x@y>\nReceived: from a\n  by b; Tue\nDelivered-To: soc@mass.gov\nFrom: x@y\n\nbody\n";
        let b = b"Received: from c\n\tby d\nFrom: x@y\n\nbody\n";
        assert_eq!(content_hash(a), content_hash(b));
        assert_ne!(content_hash(a), content_hash(b"From: x@y\n\nbody2\n"));
    }
}
