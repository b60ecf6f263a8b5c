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

/// Decides the kind of a message. `raw` is the message as received (only its header
/// block is read, for headers [`InboundEmail`] does not carry). `own` holds our
/// addresses: mail from them is never answered. Whether a report is in fact a reply to
/// an existing case is decided later, by the store.
pub fn classify(email: &InboundEmail, raw: &[u8], own: &[EmailAddress]) -> Classification {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Classification::no(MessageKind::Unparseable, "empty message: no bytes");
    }
    if !email.parsed {
        return Classification::no(MessageKind::Unparseable, "the message could not be parsed");
    }
    if email.from.is_none() && is_empty(email) {
        return Classification::no(
            MessageKind::Unparseable,
            "empty message: no sender, no text and no attachment",
        );
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
    // A service desk forwarding a ticket marks it auto-generated: it is a report to
    // store and assess, but never answered (the desk would file our answer back).
    if let Some(desk) = ticket_system(email, raw) {
        return Classification::no(
            MessageKind::Report,
            format!("a ticket notification from {desk}: stored as a report, not answered"),
        );
    }
    // A web form's relay ("A new submission from the Incident Report form") is marked
    // auto-generated too: a report, not an out-of-office, and not answered (its sender
    // is a no-reply address).
    if email.auto_submitted.is_some() && web_form(email) {
        return Classification::no(
            MessageKind::Report,
            "a web form's submission: stored as a report, not answered",
        );
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
    // Exchange and Gmail out-of-office replies without RFC 3834 headers.
    if let Some(p) = auto_reply_subject(&email.subject) {
        return Classification::no(MessageKind::AutoReply, format!("subject begins \"{p}\""));
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
    if has_header(raw, "List-Unsubscribe") {
        return Classification::no(
            MessageKind::Bulk,
            "list or newsletter mail (List-Unsubscribe)",
        );
    }
    if is_dmarc_aggregate(email) {
        return Classification::no(MessageKind::AutoReply, "DMARC aggregate report");
    }
    // The address an answer would go to: a web form sending from noreply@ with the
    // reporter in Reply-To is still a report.
    if let Some(to) = email
        .reply_address()
        .filter(|m| is_no_reply(m.address.local_part()))
    {
        return Classification::no(
            MessageKind::Bulk,
            format!("sent from a no-reply address ({})", to.address),
        );
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

/// Subject prefixes of automatic replies (Exchange, Gmail, Apple; en, es, pt).
const AUTO_REPLY_SUBJECTS: &[&str] = &[
    "automatic reply:",
    "auto reply:",
    "autoreply:",
    "auto-reply:",
    "out of office:",
    "out of office reply",
    "out of the office",
    "respuesta automática:",
    "respuesta automatica:",
    "fuera de la oficina",
    "resposta automática:",
    "resposta automatica:",
    "ausente:",
    "fora do escritório",
];

fn auto_reply_subject(subject: &str) -> Option<&'static str> {
    let s = subject.trim().to_lowercase();
    AUTO_REPLY_SUBJECTS
        .iter()
        .find(|p| s.starts_with(*p))
        .copied()
}

/// The service desk whose ticket notification this is, by its own headers or domain.
fn ticket_system(email: &InboundEmail, raw: &[u8]) -> Option<&'static str> {
    let domain = email
        .from
        .as_ref()
        .map(|m| m.address.domain().to_ascii_lowercase())
        .unwrap_or_default();
    if has_header(raw, "X-JIRA-FingerPrint") || domain.ends_with("atlassian.net") {
        Some("Jira")
    } else if has_header(raw, "X-ServiceNow-Generated")
        || has_header(raw, "X-ServiceNow-Source")
        || domain.ends_with("service-now.com")
    {
        Some("ServiceNow")
    } else if domain.ends_with("topdesk.net") {
        Some("TOPdesk")
    } else {
        None
    }
}

/// A form service relaying a submission: its subject or first lines say so.
fn web_form(email: &InboundEmail) -> bool {
    let head: String = email.text_body.chars().take(300).collect();
    let says = |t: &str| {
        let t = t.to_lowercase();
        (t.contains("submission") || t.contains("submitted")) && t.contains("form")
            || t.contains("formulario") && (t.contains("envío") || t.contains("enviado"))
            || t.contains("formulário") && (t.contains("envio") || t.contains("enviado"))
    };
    says(&email.subject) || says(&head)
}

/// No text and no attachment: nothing to read beyond the headers.
fn is_empty(email: &InboundEmail) -> bool {
    email.text_body.trim().is_empty()
        && email.html_body.as_deref().is_none_or(no_text_in_html)
        && email.attachments.is_empty()
}

/// True when `html` has nothing but tags and white space (mail-parser gives an empty
/// text part an `<html><body></body></html>` twin). One pass, no parsing.
fn no_text_in_html(html: &str) -> bool {
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag && !c.is_whitespace() => return false,
            _ => {}
        }
    }
    true
}

/// `noreply`, `no-reply`, `no_reply`, `do-not-reply`, `donotreply`… anywhere in the local
/// part (`noreply-dmarc-support`, `alerts.noreply`): a sender that reads no answers.
fn is_no_reply(local: &str) -> bool {
    let squeezed: String = local
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | '+'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    squeezed.contains("noreply") || squeezed.contains("donotreply")
}

/// A DMARC aggregate report (RFC 7489 §7.2.1.1): the subject `Report Domain: … Submitter:
/// …`, or an attachment named `receiver!policy-domain!begin!end[!id].xml[.gz]` / `.zip`.
fn is_dmarc_aggregate(email: &InboundEmail) -> bool {
    let subject = email.subject.to_ascii_lowercase();
    if subject.contains("report domain:") && subject.contains("submitter:") {
        return true;
    }
    email.attachments.iter().any(|a| {
        let Some(name) = a.name.as_deref() else {
            return false;
        };
        let name = name.to_ascii_lowercase();
        let archive = [".xml", ".xml.gz", ".gz", ".zip"]
            .iter()
            .any(|ext| name.ends_with(ext));
        // The begin and end of the reporting period are Unix timestamps.
        let fields: Vec<&str> = name.split('!').collect();
        let stamp = |i: usize| {
            fields.get(i).is_some_and(|f| {
                let f = f.split('.').next().unwrap_or("");
                !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())
            })
        };
        archive && fields.len() >= 4 && stamp(2) && stamp(3)
    })
}

/// True when the header block of `raw` has a field `name` (case-insensitive). Reads at
/// most the first 256 KiB: a header block is never larger in practice.
fn has_header(raw: &[u8], name: &str) -> bool {
    let head = &raw[..raw.len().min(256 * 1024)];
    for line in head.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return false;
        }
        if line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            && line[name.len()..].trim_ascii_start().starts_with(b":")
        {
            return true;
        }
    }
    false
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
        classify(&parse_inbound(raw.as_bytes()), raw.as_bytes(), &own())
    }

    #[test]
    fn out_of_office_without_rfc3834_headers_and_ticket_notifications() {
        let own = [EmailAddress::parse("soc@mass.gov").expect("address")];
        let raw = b"From: Ana <ana@dia.state.ma.us>\r\nTo: soc@mass.gov\r\nSubject: Automatic reply: [SOC-2026-000402] Re: Phish\r\nX-Auto-Response-Suppress: All\r\n\r\nI am out of the office until Monday.\r\n";
        let e = crate::extract::parse_inbound(raw);
        let c = classify(&e, raw, &own);
        assert_eq!(c.kind, MessageKind::AutoReply);
        assert!(!c.acknowledge);
        let raw = b"From: \"Keith (Jira)\" <jira@eec-it.atlassian.net>\r\nTo: soc@mass.gov\r\nSubject: EEC-SEC-412 Vendor notice\r\nAuto-Submitted: auto-generated\r\nX-JIRA-FingerPrint: 3c1a\r\n\r\nKeith shared a request with you.\r\n";
        let e = crate::extract::parse_inbound(raw);
        let c = classify(&e, raw, &own);
        assert_eq!(c.kind, MessageKind::Report);
        assert!(!c.acknowledge, "a ticket system is never answered");
    }

    #[test]
    fn a_plain_report_is_acknowledged() {
        let c = verdict("From: a@agency.test");
        assert_eq!(c.kind, MessageKind::Report);
        assert!(c.acknowledge);
        assert!(verdict("From: a@agency.test\r\nAuto-Submitted: no").acknowledge);
        let raw = b"From: \"Mass.gov Forms\" <no-reply@forms.mass.gov>\r\nTo: soc@mass.gov\r\nSubject: A new submission from the Incident Report form\r\nAuto-Submitted: auto-generated\r\n\r\nName: Ann Lee\r\nWhat happened: ransom note on my PC\r\n";
        let form = classify(&parse_inbound(raw), raw, &own());
        assert_eq!(form.kind, MessageKind::Report, "{:?}", form);
        assert!(!form.acknowledge, "a form's no-reply relay is not answered");
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
            classify(&parse_inbound(raw), raw, &own()).kind,
            MessageKind::Bounce
        );
    }

    #[test]
    fn no_reply_senders_are_not_answered() {
        for from in [
            "noreply@agency.test",
            "no-reply@agency.test",
            "No_Reply@agency.test",
            "do-not-reply@agency.test",
            "DoNotReply@agency.test",
            "do.not.reply@agency.test",
            "alerts-noreply@vendor.test",
            "noreply-dmarc-support@google.com",
        ] {
            let c = verdict(&format!("From: Notifications <{from}>"));
            assert_eq!(c.kind, MessageKind::Bulk, "{from}");
            assert!(!c.acknowledge, "{from}");
            assert!(c.reason.is_some_and(|r| r.contains("no-reply")), "{from}");
        }
        // A person whose name merely contains "reply" is still answered.
        assert!(verdict("From: replyman@agency.test").acknowledge);
        assert!(verdict("From: nora.eply@agency.test").acknowledge);
        // A web form sends from noreply@ with the reporter in Reply-To: a report.
        let form = verdict("From: noreply@forms.agency.test\r\nReply-To: jane@agency.test");
        assert_eq!(form.kind, MessageKind::Report);
        assert!(form.acknowledge);
        // And the other way round: a person's From, answers aimed at a no-reply box.
        let c = verdict("From: jane@agency.test\r\nReply-To: no-reply@agency.test");
        assert_eq!(c.kind, MessageKind::Bulk);
    }

    #[test]
    fn list_unsubscribe_mail_is_bulk() {
        for h in [
            "From: news@agency.test\r\nList-Unsubscribe: <mailto:u@agency.test>",
            "From: news@agency.test\r\nlist-unsubscribe : <https://x.test/u>",
        ] {
            let c = verdict(h);
            assert_eq!(c.kind, MessageKind::Bulk, "{h}");
            assert!(!c.acknowledge, "{h}");
        }
        // The header's name in the body does not count.
        let raw = b"From: a@agency.test\r\nSubject: s\r\n\r\nList-Unsubscribe: <mailto:x@y>\r\n";
        assert!(classify(&parse_inbound(raw), raw, &own()).acknowledge);
    }

    #[test]
    fn dmarc_aggregate_reports_are_not_answered() {
        // Google's own: the subject of RFC 7489 and a zipped XML report.
        let google = b"From: noreply-dmarc-support@google.com\r\nSubject: Report domain: agency.test Submitter: google.com Report-ID: 1234567890\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate report from google.com.\r\n--b\r\nContent-Type: application/zip; name=\"google.com!agency.test!1764460800!1764547199.zip\"\r\nContent-Disposition: attachment; filename=\"google.com!agency.test!1764460800!1764547199.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBAo=\r\n--b--\r\n";
        let c = classify(&parse_inbound(google), google, &own());
        assert_eq!(c.kind, MessageKind::AutoReply);
        assert!(!c.acknowledge);
        assert_eq!(c.reason.as_deref(), Some("DMARC aggregate report"));
        // Another reporter's address, the subject alone.
        let ms = b"From: dmarcreport@microsoft.test\r\nSubject: Report Domain: agency.test Submitter: enterprise.protection.outlook.com Report-ID: <abc>\r\n\r\nreport attached\r\n";
        let c = classify(&parse_inbound(ms), ms, &own());
        assert_eq!(c.kind, MessageKind::AutoReply);
        // Only the attachment, gzipped XML.
        let gz = b"From: dmarc@reports.test\r\nSubject: DMARC\r\nMIME-Version: 1.0\r\nContent-Type: application/gzip; name=\"reports.test!agency.test!1764460800!1764547199!42.xml.gz\"\r\nContent-Disposition: attachment; filename=\"reports.test!agency.test!1764460800!1764547199!42.xml.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\nH4sIAAAAAAAA\r\n";
        let c = classify(&parse_inbound(gz), gz, &own());
        assert_eq!(c.kind, MessageKind::AutoReply, "{c:?}");
        assert!(!c.acknowledge);
        // A report that attaches an ordinary zip is still a report.
        let zip = b"From: a@agency.test\r\nSubject: Suspicious attachment\r\nMIME-Version: 1.0\r\nContent-Type: application/zip; name=\"invoice.zip\"\r\nContent-Disposition: attachment; filename=\"invoice.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBAo=\r\n";
        assert!(classify(&parse_inbound(zip), zip, &own()).acknowledge);
        let bangs = b"From: a@agency.test\r\nSubject: Odd file\r\nMIME-Version: 1.0\r\nContent-Type: application/zip; name=\"why!so!many!bangs.zip\"\r\nContent-Disposition: attachment; filename=\"why!so!many!bangs.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBAo=\r\n";
        assert!(classify(&parse_inbound(bangs), bangs, &own()).acknowledge);
    }

    #[test]
    fn an_empty_message_is_not_a_report() {
        for raw in [
            &b"Delivered-To: soc@mass.gov\r\n\r\n"[..],
            b"Subject: x\r\nMessage-ID: <e@x>\r\n\r\n  \r\n",
            b"",
            b"\r\n \n",
        ] {
            let c = classify(&parse_inbound(raw), raw, &own());
            assert_eq!(c.kind, MessageKind::Unparseable, "{raw:?}");
            assert!(!c.acknowledge);
            assert!(c.reason.is_some_and(|r| r.starts_with("empty message")));
        }
        // Without a sender but with text: still a report (unanswered).
        let raw = b"Subject: x\r\n\r\nOur file server is encrypted.\r\n";
        let c = classify(&parse_inbound(raw), raw, &own());
        assert_eq!(c.kind, MessageKind::Report);
        assert!(!c.acknowledge);
    }

    #[test]
    fn no_sender_means_no_answer() {
        let c = verdict("To: soc@mass.gov");
        assert_eq!(c.kind, MessageKind::Report);
        assert!(!c.acknowledge);
    }
}
