//! Hostile mail on a real Postfix + Dovecot: a subject and display name written as
//! Markdown links, images and HTML come back in the acknowledgement as dead text; a
//! `%`- or `!`-routed address is held, never delivered; DMARC reports, no-reply senders,
//! list mail and empty messages are quarantined unanswered.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::gateway::{report, wait_mail, wait_until, Gateway, Wire};
use common::mailbox::send_smtp;
use common::stack::MailStack;

fn address(prefix: &str) -> String {
    format!("{prefix}-{}@agency.test", uuid::Uuid::new_v4().simple())
}

/// The decoded text/plain and text/html parts of a message.
fn parts(raw: &[u8]) -> (String, String) {
    let msg = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("parse mail");
    let text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    let html = msg.body_html(0).map(|t| t.into_owned()).unwrap_or_default();
    (text, html)
}

/// `ingest` with `raw` on standard input, as an MTA's pipe would run it.
fn ingest(gw: &Gateway, raw: &[u8]) -> Output {
    let path = gw
        .data_dir()
        .join(format!("in-{}.eml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, raw).expect("write message");
    let stdin = std::fs::File::open(&path).expect("open message");
    Command::new(env!("CARGO_BIN_EXE_incident-gateway"))
        .arg("--config")
        .arg(&gw.config)
        .arg("ingest")
        .env("RUST_LOG", "warn")
        .stdin(stdin)
        .output()
        .expect("run ingest")
}

fn list(gw: &Gateway, args: &[&str]) -> Vec<serde_json::Value> {
    gw.cli_json(args).as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_subject_and_name_come_back_as_dead_text() {
    let stack = MailStack::shared();
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    gw.start(&[]);
    let who = address("jane");
    let subject = "[Reset your password](https://evil.example/reset) ![x](https://evil.example/p.gif) <a href=\"javascript:alert(1)\">www.evil.example</a>";
    let name = "<img src=https://evil.example/q.gif> [Help desk](http://evil.example/)";
    let (_, raw) = report(
        &who,
        &gw.soc,
        subject,
        "A user got this phish and clicked.\nJane",
    );
    let raw = String::from_utf8(raw).expect("utf-8").replacen(
        "From: Test Reporter",
        &format!("From: \"{name}\""),
        1,
    );
    send_smtp(stack, &who, &[gw.soc.as_str()], raw.as_bytes()).await;

    let ack = wait_mail(stack, &gw, &who, 1).await.remove(0);
    let (text, html) = parts(&ack);
    assert!(!html.is_empty(), "the acknowledgement has an HTML part");

    // HTML: only the tags our own Markdown makes; no attribute but our two.
    let ours = [
        "!doctype", "html", "head", "meta", "body", "p", "strong", "ul", "li", "pre", "code",
    ];
    for tag in html.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        let tag_name = tag
            .trim_start_matches('/')
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        assert!(ours.contains(&tag_name.as_str()), "tag <{tag}> in:\n{html}");
        assert!(
            !tag.contains("href") && !tag.contains("src"),
            "<{tag}> in:\n{html}"
        );
    }
    assert!(!html.to_ascii_lowercase().contains("javascript:"), "{html}");
    // The reporter still sees what they wrote, as text.
    assert!(html.contains("[Reset your password]"), "{html}");
    assert!(html.contains("&lt;img src"), "{html}");

    // Plain part: nothing a mail client would turn into a link.
    let lower = text.to_ascii_lowercase();
    for bad in ["http://", "https://", "www.", "javascript:", "evil.example"] {
        assert!(!lower.contains(bad), "{bad} in the plain part:\n{text}");
    }
    assert!(
        text.contains("[Reset your password](hxxps://evil[.]example/reset)"),
        "{text}"
    );
    assert!(
        text.contains("Hello <img src=hxxps://evil[.]example/q[.]gif>"),
        "{text}"
    );
    gw.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percent_and_bang_routed_addresses_are_held_not_delivered() {
    let stack = MailStack::shared();
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    gw.start(&[]);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    // The relay reads these as mail for outside.test; the domain check sees agency.test.
    let carl = format!("carl{tag}%outside.test@agency.test");
    let dana = format!("dana-{tag}@agency.test");
    let dana_reply_to = format!("outside.test!dana{tag}@agency.test");
    let (_, from_percent) = report(&carl, &gw.soc, "Phishing email", "A phish.\nCarl");
    send_smtp(stack, &dana, &[gw.soc.as_str()], &from_percent).await;
    let (_, reply_to_bang) = report(&dana, &gw.soc, "Lost laptop", "A laptop.\nDana");
    let reply_to_bang = String::from_utf8(reply_to_bang).expect("utf-8").replacen(
        "To: ",
        &format!("Reply-To: <{dana_reply_to}>\r\nTo: "),
        1,
    );
    send_smtp(stack, &dana, &[gw.soc.as_str()], reply_to_bang.as_bytes()).await;
    // A plain report after them: once its acknowledgement is in the mailbox, the worker
    // has had every chance to send the two before it.
    let erin = address("erin");
    let (_, plain) = report(&erin, &gw.soc, "Malware", "Malware.\nErin");
    send_smtp(stack, &erin, &[gw.soc.as_str()], &plain).await;
    wait_mail(stack, &gw, &erin, 1).await;

    let held = wait_until("two held acknowledgements", Duration::from_secs(30), || {
        let held = list(&gw, &["outbound", "list", "--status", "held", "--json"]);
        (held.len() == 2).then_some(held)
    });
    let rows = serde_json::to_string(&held).expect("json");
    for (who, mark) in [(&carl, "'%'"), (&dana_reply_to, "'!'")] {
        let row = held
            .iter()
            .find(|r| {
                r["recipient"]
                    .as_str()
                    .is_some_and(|r| r.contains(who.as_str()))
            })
            .unwrap_or_else(|| panic!("no held row for {who}: {rows}"));
        assert_eq!(row["kind"], "ack", "{row}");
        let reason = row["hold_reason"].as_str().unwrap_or("");
        assert!(reason.contains(mark), "the reason names {mark}: {row}");
    }
    // Nothing went out to those addresses: Postfix, which logs every recipient it is
    // handed (erin's acknowledgement is there), never saw them.
    // Dovecot may file erin's acknowledgement a moment before Postfix logs it.
    let log_path = stack.base.join("log/postfix.log");
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    wait_until(
        "Postfix to log erin's acknowledgement",
        Duration::from_secs(10),
        || read_log().contains(&format!("to=<{erin}>")).then_some(()),
    );
    let log = read_log();
    assert!(
        !log.contains(&format!("carl{tag}")),
        "Postfix saw carl: {log}"
    );
    assert!(
        !log.contains(&format!("dana{tag}")),
        "Postfix saw dana: {log}"
    );
    gw.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_and_empty_mail_is_quarantined_unanswered() {
    let stack = MailStack::shared();
    let gw = Gateway::new(stack, Wire::Plain, "");
    let google = format!(
        "From: noreply-dmarc-support@google.com\r\nTo: {soc}\r\nSubject: Report domain: agency.test Submitter: google.com Report-ID: 1234567890\r\nMessage-ID: <dmarc-1@google.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate report from google.com.\r\n--b\r\nContent-Type: application/zip; name=\"google.com!agency.test!1764460800!1764547199.zip\"\r\nContent-Disposition: attachment; filename=\"google.com!agency.test!1764460800!1764547199.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBAo=\r\n--b--\r\n",
        soc = gw.soc
    );
    let (_, noreply) = report(
        "do-not-reply@agency.test",
        &gw.soc,
        "Your password expires",
        "Automated notice.",
    );
    let (_, newsletter) = report(
        "news@agency.test",
        &gw.soc,
        "Security newsletter",
        "This month.",
    );
    let newsletter = String::from_utf8(newsletter).expect("utf-8").replacen(
        "To: ",
        "List-Unsubscribe: <mailto:leave@agency.test>\r\nTo: ",
        1,
    );
    let headers_only = b"Delivered-To: soc@mass.gov\r\nMessage-ID: <empty-1@x>\r\n\r\n";
    // Zero bytes and white space are no message either; stored all the same (nothing
    // is lost, and the MTA gets no reason to bounce), and quarantined.
    for raw in [
        google.as_bytes(),
        &noreply,
        newsletter.as_bytes(),
        headers_only,
        b"",
        b"\r\n  \n",
    ] {
        let out = ingest(&gw, raw);
        let said = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{said}");
        assert!(said.contains("quarantined"), "{said}");
    }
    let quarantine = list(&gw, &["quarantine", "list", "--json"]);
    let reasons: Vec<String> = quarantine
        .iter()
        .map(|q| q["quarantine_reason"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(quarantine.len(), 6, "{reasons:?}");
    for (want, n) in [
        ("DMARC aggregate report", 1),
        ("no-reply address", 1),
        ("List-Unsubscribe", 1),
        ("empty message", 3),
    ] {
        let seen = reasons.iter().filter(|r| r.contains(want)).count();
        assert_eq!(seen, n, "{want}: {reasons:?}");
    }
    assert!(gw.cases().is_empty(), "no case for any of them");
    assert!(gw.outbox().is_empty(), "no answer to any of them");
}
