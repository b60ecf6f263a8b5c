//! A message that kills intake every time it is read (a parser crash, an out-of-memory
//! kill) must not stop the mailbox: on the real Postfix + Dovecot, after
//! `[imap] max_attempts` deaths the message is stored raw and unread, quarantined with
//! the reason, moved out of the inbox, and the report behind it gets its case.

mod common;

use std::time::Duration;

use common::gateway::{report, wait_mail, Gateway, Wire};
use common::mailbox::{append, fetch_all, wait_for_count};
use common::stack::MailStack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_kills_intake_is_quarantined_after_three_tries() {
    let stack = MailStack::shared();
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    let who = format!("rita-{}@agency.test", uuid::Uuid::new_v4().simple());
    let (_, poison) = report(&who, &gw.soc, "Poison", "This one kills the reader.");
    let poison = String::from_utf8(poison).unwrap().replacen(
        "\r\n\r\n",
        "\r\nX-IGW-Test-Poison: abort\r\n\r\n",
        1,
    );
    append(stack, &gw.soc, "INBOX", poison.as_bytes()).await;
    let (_, good) = report(
        &who,
        &gw.soc,
        "Phishing email",
        "A phish, reported normally.",
    );
    append(stack, &gw.soc, "INBOX", &good).await;

    // As a service manager would: start it again each time it dies.
    let mut deaths = 0;
    for _ in 0..3 {
        gw.start(&[("IGW_FAILPOINT", "abort-on-marker")]);
        let status = gw
            .wait_exit(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("intake did not die on the poison:\n{}", gw.log_text()));
        assert!(!status.success());
        deaths += 1;
    }
    assert_eq!(deaths, 3);
    assert!(gw.cases().is_empty(), "nothing stored by the dead runs");

    // The fourth start reads it no more: stored unread, quarantined, moved on.
    gw.start(&[("IGW_FAILPOINT", "abort-on-marker")]);
    let acks = wait_mail(stack, &gw, &who, 1).await;
    assert_eq!(
        acks.len(),
        1,
        "the report behind it got its acknowledgement"
    );
    wait_for_count(stack, &gw.soc, "Processed", 2, Duration::from_secs(30)).await;
    assert!(fetch_all(stack, &gw.soc, "INBOX").await.is_empty());
    let q = gw.cli_json(&["quarantine", "list", "--json"]);
    let q = q.as_array().unwrap();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["kind"], "unparseable");
    let reason = q[0]["quarantine_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("stopped 3 times"), "{reason}");
    let cases = gw.cases();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["subject"], "Phishing email");
    assert!(gw.log_text().contains("poison message"));
    assert!(gw.terminate().success());
}
