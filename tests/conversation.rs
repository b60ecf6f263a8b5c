//! The conversation on a real Postfix + Dovecot: the acknowledgement asks for what is
//! missing, an Outlook-style reply fills some of it, the next message asks only for the
//! rest; replies find their case without a tag; strangers and failed authentication
//! change nothing and learn nothing; auto-replies get no answer.

mod common;

use std::time::Duration;

use common::gateway::{report, wait_mail, Gateway, Wire};
use common::mailbox::{fetch_all, header, send_smtp};
use common::stack::MailStack;

fn address(prefix: &str) -> String {
    format!("{prefix}-{}@agency.test", uuid::Uuid::new_v4().simple())
}

/// The decoded text/plain part of a message.
fn plain_text(raw: &[u8]) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("parse mail");
    msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default()
}

fn reply(
    from: &str,
    to: &str,
    subject: &str,
    in_reply_to: &str,
    extra_headers: &str,
    body: &str,
) -> Vec<u8> {
    format!(
        "From: Jane Reporter <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{}@agency.test>\r\nIn-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\nDate: {}\r\n{extra_headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        uuid::Uuid::new_v4().simple(),
        chrono::Utc::now().to_rfc2822()
    )
    .into_bytes()
}

fn field<'a>(case: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    &case["fields"][name]["value"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_details_are_asked_for_and_filled_by_replies() {
    let stack = MailStack::shared();
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    gw.start(&[("IGW_GATEWAY__TRUST_INTAKE_SERVER", "true")]);
    let who = address("jane");
    let (_, raw) = report(
        &who,
        &gw.soc,
        "Phishing email",
        "A user clicked a link in a phishing email.\nJane",
    );
    send_smtp(stack, &who, &[gw.soc.as_str()], &raw).await;

    // 1. The acknowledgement asks for exactly the missing fields.
    let ack = wait_mail(stack, &gw, &who, 1).await.remove(0);
    let ack_text = plain_text(&ack);
    for label in [
        "Agency:",
        "Phone:",
        "Detected at:",
        "Systems affected:",
        "Actions taken:",
    ] {
        assert!(
            ack_text.contains(label),
            "ack asks for {label}:\n{ack_text}"
        );
    }
    let ack_mid = header(&ack, "Message-ID").expect("ack Message-ID");
    let ack_subject = header(&ack, "Subject").expect("ack subject");
    let tid = gw.cases()[0]["tracking_id"].as_str().unwrap().to_string();

    // 2. An Outlook-style reply: answers on top, the quoted original with empty labels below.
    let body = format!(
        "Phone: 617-555-0142\r\nAgency: Department of Revenue\r\n\r\nJane\r\n\r\n________________________________\r\nFrom: SOC <{soc}>\r\nSent: Tuesday, March 10, 2026 9:50 AM\r\nTo: Jane Reporter <{who}>\r\nSubject: {ack_subject}\r\n\r\n    Agency:\r\n    Phone:\r\n    Detected at:\r\n    Actions taken:\r\n",
        soc = gw.soc
    );
    let r1 = reply(
        &who,
        &gw.soc,
        &format!("RE: {ack_subject}"),
        &ack_mid,
        "",
        &body,
    );
    send_smtp(stack, &who, &[gw.soc.as_str()], &r1).await;
    let mails = wait_mail(stack, &gw, &who, 2).await;
    let followup = mails
        .iter()
        .find(|m| header(m, "Message-ID") != Some(ack_mid.clone()))
        .expect("follow-up");
    let text = plain_text(followup);
    assert!(header(followup, "Subject")
        .unwrap()
        .contains(&format!("[{tid}]")));
    assert!(
        text.contains("Detected at:") && text.contains("Actions taken:"),
        "{text}"
    );
    assert!(
        !text.contains("Phone:") && !text.contains("Agency:"),
        "asks only for the rest:\n{text}"
    );

    let case = gw.cli_json(&["case", "show", &tid, "--json"]);
    assert_eq!(field(&case, "reporter_phone"), "+16175550142");
    assert_eq!(field(&case, "agency"), "Department of Revenue");
    assert_eq!(
        case["fields"]["reporter_phone"]["source"]["message"],
        case["messages"][1]["id"]
    );
    let changes: Vec<&serde_json::Value> = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "field_changed")
        .collect();
    assert_eq!(changes.len(), 2, "one event per field: {changes:?}");
    assert!(changes
        .iter()
        .all(|e| e["detail"]["old"].is_null() && e["message_row_id"] == case["messages"][1]["id"]));
    let missing = case["missing"].as_array().unwrap();
    assert!(!missing
        .iter()
        .any(|m| m == "reporter_phone" || m == "agency"));

    // 3. A reply with In-Reply-To but no tag still lands on the same case.
    let fu_mid = header(followup, "Message-ID").unwrap();
    let r2 = reply(
        &who,
        &gw.soc,
        "more info",
        &fu_mid,
        "",
        "Actions taken: we reset the user's password",
    );
    send_smtp(stack, &who, &[gw.soc.as_str()], &r2).await;
    wait_mail(stack, &gw, &who, 3).await;
    assert_eq!(gw.cases().len(), 1, "a reply never opens a second case");
    let case = gw.cli_json(&["case", "show", &tid, "--json"]);
    assert!(field(&case, "actions_taken")
        .as_str()
        .unwrap()
        .contains("reset"));

    // 4. A stranger using the tag changes nothing and learns nothing.
    let stranger = address("mallory");
    let (_, raw) = report(
        &stranger,
        &gw.soc,
        &format!("Re: [{tid}] update"),
        "Phone: 202-555-0100\nAgency: Department of Correction",
    );
    send_smtp(stack, &stranger, &[gw.soc.as_str()], &raw).await;
    let receipt = wait_mail(stack, &gw, &stranger, 1).await.remove(0);
    let receipt_all = String::from_utf8_lossy(&receipt).to_string();
    assert!(!receipt_all.contains(&tid), "the receipt names no case");
    assert!(!receipt_all.contains("Revenue") && !receipt_all.contains("617-555"));
    let case = gw.cli_json(&["case", "show", &tid, "--json"]);
    assert_eq!(field(&case, "reporter_phone"), "+16175550142", "unchanged");
    assert!(case["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "unverified_correspondence"));

    // 5. An out-of-office answer to our follow-up gets nothing back.
    let before = gw.outbox().len();
    let ooo = reply(
        &who,
        &gw.soc,
        &format!("Automatic reply: {ack_subject}"),
        &fu_mid,
        "Auto-Submitted: auto-replied\r\n",
        "I am out of the office.",
    );
    send_smtp(stack, &who, &[gw.soc.as_str()], &ooo).await;
    common::gateway::wait_until(
        "the auto-reply to be stored",
        Duration::from_secs(30),
        || {
            let case = gw.cli_json(&["case", "show", &tid, "--json"]);
            case["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["kind"] == "auto_reply")
                .then_some(())
        },
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(gw.outbox().len(), before, "nothing sent to an auto-reply");
    assert_eq!(fetch_all(stack, &who, "INBOX").await.len(), 3);

    // 6. Silence: the reminder fires once the delay has passed (time driven, no sleeping).
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert!(
        String::from_utf8_lossy(&gw.cli(&["remind", "--now", &soon]).stdout)
            .starts_with("0 reminder")
    );
    let later = (chrono::Utc::now() + chrono::Duration::hours(5)).to_rfc3339();
    assert!(
        String::from_utf8_lossy(&gw.cli(&["remind", "--now", &later]).stdout)
            .starts_with("1 reminder")
    );
    let mails = wait_mail(stack, &gw, &who, 4).await;
    let reminder = mails
        .iter()
        .find(|m| header(m, "Subject").is_some_and(|s| s.contains("Reminder")))
        .expect("the reminder in the reporter's mailbox");
    assert!(
        plain_text(reminder).contains("Detected at:"),
        "it asks for what is still missing"
    );
    assert!(gw.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_results_decide_whether_a_reply_counts() {
    let stack = MailStack::shared();
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    gw.start(&[("IGW_GATEWAY__TRUSTED_AUTHSERV_ID", "mx.mass.gov")]);
    let who = address("rita");
    let (_, raw) = report(&who, &gw.soc, "Lost laptop", "My laptop was stolen.");
    send_smtp(stack, &who, &[gw.soc.as_str()], &raw).await;
    let ack = wait_mail(stack, &gw, &who, 1).await.remove(0);
    let ack_mid = header(&ack, "Message-ID").unwrap();
    let tid = gw.cases()[0]["tracking_id"].as_str().unwrap().to_string();

    // DMARC fail from our server: unverified, nothing changes, a neutral receipt.
    let fail = reply(
        &who,
        &gw.soc,
        &format!("RE: [{tid}] Received"),
        &ack_mid,
        "Authentication-Results: mx.mass.gov; dmarc=fail header.from=agency.test\r\n",
        "Phone: 617-555-0199",
    );
    send_smtp(stack, &who, &[gw.soc.as_str()], &fail).await;
    let mails = wait_mail(stack, &gw, &who, 2).await;
    let receipt = mails
        .iter()
        .find(|m| header(m, "Subject").is_some_and(|s| s.contains("Your message")))
        .expect("receipt");
    assert!(!String::from_utf8_lossy(receipt).contains(&tid));
    let case = gw.cli_json(&["case", "show", &tid, "--json"]);
    assert!(
        case["fields"]["reporter_phone"].is_null(),
        "no field changed"
    );
    let ev = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "unverified_correspondence")
        .expect("event");
    assert!(ev["detail"]["reason"]
        .as_str()
        .unwrap()
        .contains("dmarc=fail"));

    // A header claiming a pass from another server does not count either.
    let forged = reply(
        &who,
        &gw.soc,
        &format!("RE: [{tid}] Received"),
        &ack_mid,
        "Authentication-Results: evil.example; dmarc=pass header.from=agency.test\r\n",
        "Phone: 617-555-0188",
    );
    send_smtp(stack, &who, &[gw.soc.as_str()], &forged).await;
    wait_mail(stack, &gw, &who, 3).await;
    assert!(gw.cli_json(&["case", "show", &tid, "--json"])["fields"]["reporter_phone"].is_null());

    // DMARC pass from our server: the reply counts.
    let pass = reply(
        &who,
        &gw.soc,
        &format!("RE: [{tid}] Received"),
        &ack_mid,
        "Authentication-Results: mx.mass.gov; dmarc=pass header.from=agency.test\r\n",
        "Phone: 617-555-0177",
    );
    send_smtp(stack, &who, &[gw.soc.as_str()], &pass).await;
    wait_mail(stack, &gw, &who, 4).await;
    let case = gw.cli_json(&["case", "show", &tid, "--json"]);
    assert_eq!(field(&case, "reporter_phone"), "+16175550177");
    assert!(gw.terminate().success());
}
