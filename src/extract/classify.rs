//! RFC 3834 loop and backscatter rules: what a message is, and whether it may be answered.

use serde::Serialize;

use super::InboundEmail;
use crate::domain::{EmailAddress, MessageKind};

/// The verdict on one inbound message before any case logic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub kind: MessageKind,
    /// May this message get an automatic answer at all?
    pub acknowledge: bool,
    /// Why not, when it may not (shown to analysts).
    pub reason: Option<String>,
}

impl Classification {
    fn no(kind: MessageKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            acknowledge: false,
            reason: Some(reason.into()),
        }
    }
}

/// Decides the kind of a message. `own` holds our addresses: mail from them is never answered.
/// Whether a report is in fact a reply to an existing case is decided later, by the store.
pub fn classify(email: &InboundEmail, own: &[EmailAddress]) -> Classification {
    if !email.parsed {
        return Classification::no(MessageKind::Unparseable, "the message could not be parsed");
    }
    let from = email.from.as_ref().map(|m| &m.address);
    let sender_local = from
        .map(|a| a.local_part().to_ascii_lowercase())
        .unwrap_or_default();

    if let Some(rt) = &email.report_type {
        if rt == "delivery-status" || rt.is_empty() {
            return Classification::no(
                MessageKind::Bounce,
                "delivery status notification (multipart/report)",
            );
        }
        return Classification::no(
            MessageKind::AutoReply,
            format!("automatic report (report-type={rt})"),
        );
    }
    if sender_local == "mailer-daemon" || sender_local == "postmaster" {
        return Classification::no(MessageKind::Bounce, format!("sent by {sender_local}"));
    }
    if email.return_path.as_deref() == Some("") {
        return Classification::no(MessageKind::Bounce, "empty Return-Path (null sender)");
    }
    if let Some(a) = from {
        if own.iter().any(|o| o.same_mailbox(a)) {
            return Classification::no(
                MessageKind::AutoReply,
                format!("sent from our own address {a}"),
            );
        }
    }
    if let Some(v) = &email.auto_submitted {
        let token = v
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if token != "no" && !token.is_empty() {
            return Classification::no(MessageKind::AutoReply, format!("Auto-Submitted: {token}"));
        }
    }
    if let Some(h) = email.autoresponder_headers.first() {
        return Classification::no(MessageKind::AutoReply, format!("autoresponder header {h}"));
    }
    if let Some(p) = &email.precedence {
        let p = p.trim().to_ascii_lowercase();
        if ["bulk", "junk", "list"].contains(&p.as_str()) {
            return Classification::no(MessageKind::Bulk, format!("Precedence: {p}"));
        }
        if p == "auto_reply" {
            return Classification::no(MessageKind::AutoReply, "Precedence: auto_reply");
        }
    }
    if email.list_id.is_some() {
        return Classification::no(MessageKind::Bulk, "mailing-list message (List-Id)");
    }
    if email.reply_address().is_none() {
        return Classification::no(MessageKind::Report, "no usable sender address to answer");
    }
    Classification {
        kind: MessageKind::Report,
        acknowledge: true,
        reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::parse_inbound;

    fn own() -> Vec<EmailAddress> {
        vec![EmailAddress::parse("soc@mass.gov").unwrap()]
    }

    fn verdict(headers: &str) -> Classification {
        let raw = format!("{headers}\r\nSubject: s\r\nMessage-ID: <m@x>\r\n\r\nbody\r\n");
        classify(&parse_inbound(raw.as_bytes()), &own())
    }

    #[test]
    fn a_plain_report_is_acknowledged() {
        let c = verdict("From: a@agency.test");
        assert_eq!(c.kind, MessageKind::Report);
        assert!(c.acknowledge);
        assert!(verdict("From: a@agency.test\r\nAuto-Submitted: no").acknowledge);
    }

    #[test]
    fn rfc3834_cases_are_not_answered() {
        let cases = [
            (
                "From: a@agency.test\r\nAuto-Submitted: auto-replied",
                MessageKind::AutoReply,
            ),
            (
                "From: a@agency.test\r\nAuto-Submitted: auto-generated; owner-email=x",
                MessageKind::AutoReply,
            ),
            ("From: a@agency.test\r\nPrecedence: bulk", MessageKind::Bulk),
            ("From: a@agency.test\r\nPrecedence: JUNK", MessageKind::Bulk),
            ("From: a@agency.test\r\nPrecedence: list", MessageKind::Bulk),
            (
                "From: a@agency.test\r\nList-Id: <x.lists.test>",
                MessageKind::Bulk,
            ),
            (
                "Return-Path: <>\r\nFrom: a@agency.test",
                MessageKind::Bounce,
            ),
            ("From: MAILER-DAEMON@agency.test", MessageKind::Bounce),
            ("From: postmaster@agency.test", MessageKind::Bounce),
            ("From: SOC@Mass.gov", MessageKind::AutoReply),
            (
                "From: a@agency.test\r\nX-Autoreply: yes",
                MessageKind::AutoReply,
            ),
        ];
        for (h, kind) in cases {
            let c = verdict(h);
            assert_eq!(c.kind, kind, "{h}");
            assert!(!c.acknowledge, "{h}");
            assert!(c.reason.is_some(), "{h}");
        }
    }

    #[test]
    fn delivery_reports_are_bounces() {
        let raw = b"From: x@agency.test\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n";
        assert_eq!(
            classify(&parse_inbound(raw), &own()).kind,
            MessageKind::Bounce
        );
    }

    #[test]
    fn no_sender_means_no_answer() {
        let c = verdict("To: soc@mass.gov");
        assert_eq!(c.kind, MessageKind::Report);
        assert!(!c.acknowledge);
    }
}
