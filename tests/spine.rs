//! The spine, end to end on a real Postfix + Dovecot: reports sent through Postfix,
//! read by the gateway from Dovecot, acknowledgements read back from the reporter's
//! mailbox over IMAP.

mod common;

use std::time::Duration;

use common::gateway::{report, wait_mail, Gateway, Wire};
use common::mailbox::{append, fetch_all, header, send_smtp, wait_for_count};
use common::stack::MailStack;

fn reporter() -> String {
    format!("r-{}@agency.test", uuid::Uuid::new_v4().simple())
}

/// Polls an async check every 100 ms.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for every outbox row to be sent, then a little more, then returns the
/// reporter's messages: a second acknowledgement would have arrived by then.
async fn settled_acks(stack: &MailStack, gw: &Gateway, who: &str) -> Vec<Vec<u8>> {
    eventually("outbox all sent", Duration::from_secs(30), || async {
        let rows = gw.outbox();
        (!rows.is_empty() && rows.iter().all(|r| r["status"] == "sent")).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fetch_all(stack, who, "INBOX").await
}

fn ny_year() -> i32 {
    use chrono::Datelike;
    chrono::Utc::now()
        .with_timezone(&chrono_tz::America::New_York)
        .year()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_gets_one_threaded_acknowledgement_over_tls() {
    let stack = MailStack::shared();
    let mut gw = Gateway::new(stack, Wire::Tls, "");
    gw.start(&[]);
    let who = reporter();
    let (mid, raw) = report(
        &who,
        &gw.soc,
        "Suspicious email clicked",
        "A user clicked a phishing link at 9:40.",
    );
    send_smtp(stack, &who, &[gw.soc.as_str()], &raw).await;

    let acks = wait_mail(stack, &gw, &who, 1).await;
    let ack = &acks[0];
    let subject = header(ack, "Subject").expect("ack has a subject");
    let prefix = format!("[SOC-{}-", ny_year());
    assert!(subject.starts_with(&prefix), "subject {subject:?}");
    assert!(
        subject.ends_with("] Received: Suspicious email clicked"),
        "subject {subject:?}"
    );
    assert_eq!(
        header(ack, "In-Reply-To").as_deref(),
        Some(format!("<{mid}>").as_str())
    );
    assert!(header(ack, "References")
        .unwrap_or_default()
        .contains(&format!("<{mid}>")));
    assert_eq!(
        header(ack, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert!(header(ack, "From").unwrap_or_default().contains(&gw.soc));
    assert!(header(ack, "Message-ID").is_some());
    let text = String::from_utf8_lossy(ack);
    assert!(
        text.contains("multipart/alternative"),
        "ack is multipart/alternative"
    );
    assert!(text.contains("text/plain") && text.contains("text/html"));
    // The report gave no phone and no agency: the acknowledgement asks for them.
    assert!(
        text.contains("Phone:") && text.contains("Agency:"),
        "the acknowledgement asks for the missing details"
    );

    // The report left the intake folder for the processed one.
    let processed = wait_for_count(stack, &gw.soc, "Processed", 1, Duration::from_secs(10)).await;
    assert_eq!(
        header(&processed[0], "Message-ID").as_deref(),
        Some(format!("<{mid}>").as_str())
    );
    assert!(
        fetch_all(stack, &gw.soc, "INBOX").await.is_empty(),
        "INBOX emptied"
    );

    // Exactly one case and one acknowledgement.
    let acks = settled_acks(stack, &gw, &who).await;
    assert_eq!(acks.len(), 1, "exactly one acknowledgement");
    let cases = gw.cases();
    assert_eq!(cases.len(), 1);
    let tid = cases[0]["tracking_id"]
        .as_str()
        .expect("tracking id")
        .to_string();
    assert!(subject.contains(&tid));
    let detail = gw.cli_json(&["case", "show", &tid, "--json"]);
    assert_eq!(detail["reporter_email"], who.as_str());
    assert_eq!(detail["outbox"][0]["status"], "sent");
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    // No directory in this test: the case records that no SCIO was told.
    assert_eq!(
        kinds,
        vec![
            "case_opened",
            "ack_queued",
            "scio_unrouted",
            "outbound_sent"
        ]
    );

    let status = gw.terminate();
    assert!(
        status.success(),
        "SIGTERM exits 0, got {status:?}:\n{}",
        gw.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_commit_before_move_still_one_case_one_ack() {
    let stack = MailStack::shared();
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    // The worker may have leased the acknowledgement when the process is killed: a
    // short lease lets the restarted gateway settle it (from the sent folder) well
    // within the wait below, however loaded the machine.
    gw.start(&[
        ("IGW_FAILPOINT", "after-commit"),
        ("IGW_OUTBOX__LEASE_SECS", "5"),
    ]);
    let who = reporter();
    let (_, raw) = report(
        &who,
        &gw.soc,
        "Ransom note on a file server",
        "Files encrypted.",
    );
    send_smtp(stack, &who, &[gw.soc.as_str()], &raw).await;
    gw.wait_log(
        "IGW_FAILPOINT after-commit reached",
        Duration::from_secs(30),
    );
    gw.kill();

    // Committed but not moved: the case exists and the message is still in the INBOX.
    assert_eq!(gw.cases().len(), 1);
    assert_eq!(
        fetch_all(stack, &gw.soc, "INBOX").await.len(),
        1,
        "message not moved before the crash"
    );

    gw.start(&[]);
    wait_for_count(stack, &gw.soc, "Processed", 1, Duration::from_secs(30)).await;
    eventually("INBOX empty", Duration::from_secs(10), || async {
        fetch_all(stack, &gw.soc, "INBOX")
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    let acks = settled_acks(stack, &gw, &who).await;
    assert_eq!(
        acks.len(),
        1,
        "exactly one acknowledgement after the restart"
    );
    assert_eq!(gw.cases().len(), 1, "no second case after the restart");
    assert_eq!(gw.outbox().len(), 1, "no second outbox row");
    assert!(gw.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgement_waits_for_smtp_and_is_delivered_once() {
    // Its own mail stack: this test stops Postfix.
    let stack = MailStack::start();
    let mut gw = Gateway::new(&stack, Wire::Plain, "");
    stack.stop_postfix();
    gw.start(&[]);
    let who = reporter();
    let (_, raw) = report(
        &who,
        &gw.soc,
        "Laptop stolen from car",
        "Encrypted laptop stolen.",
    );
    // Postfix is down, so the report arrives as Dovecot would have stored it.
    append(&stack, &gw.soc, "INBOX", &raw).await;

    // The worker tried and is waiting to retry.
    let row = eventually(
        "a failed delivery attempt",
        Duration::from_secs(30),
        || async {
            gw.outbox()
                .into_iter()
                .find(|r| r["attempts"].as_i64().unwrap_or(0) >= 1 && r["status"] == "pending")
        },
    )
    .await;
    assert!(
        row["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{row}"
    );
    assert!(fetch_all(&stack, &who, "INBOX").await.is_empty());

    stack.start_postfix();
    let acks = wait_mail(&stack, &gw, &who, 1).await;
    assert_eq!(acks.len(), 1);
    let acks = settled_acks(&stack, &gw, &who).await;
    assert_eq!(acks.len(), 1, "delivered once after SMTP returned");
    assert!(gw.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_replies_bounces_and_bulk_are_stored_never_answered() {
    let stack = MailStack::shared();
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    gw.start(&[]);
    let ooo = reporter();
    let bulk = reporter();
    let daemon = format!("MAILER-DAEMON@{}", "agency.test");
    let (_, auto) = report(
        &ooo,
        &gw.soc,
        "Automatic reply: out of office",
        "Away until Monday.",
    );
    let auto = String::from_utf8(auto).unwrap().replacen(
        "\r\n\r\n",
        "\r\nAuto-Submitted: auto-replied\r\n\r\n",
        1,
    );
    let (_, list) = report(&bulk, &gw.soc, "Weekly newsletter", "News.");
    let list = String::from_utf8(list).unwrap().replacen(
        "\r\n\r\n",
        "\r\nPrecedence: bulk\r\nList-Id: <news.agency.test>\r\n\r\n",
        1,
    );
    let (_, bounce) = report(
        &daemon,
        &gw.soc,
        "Undelivered Mail Returned to Sender",
        "Delivery failed.",
    );
    send_smtp(stack, &ooo, &[gw.soc.as_str()], auto.as_bytes()).await;
    send_smtp(stack, &bulk, &[gw.soc.as_str()], list.as_bytes()).await;
    send_smtp(stack, &daemon, &[gw.soc.as_str()], &bounce).await;

    wait_for_count(stack, &gw.soc, "Processed", 3, Duration::from_secs(30)).await;
    let q = gw.cli_json(&["quarantine", "list", "--json"]);
    let mut kinds: Vec<String> = q
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    assert_eq!(kinds, vec!["auto_reply", "bounce", "bulk"]);
    assert!(gw.cases().is_empty(), "no case for any of them");
    assert!(gw.outbox().is_empty(), "nothing queued to send");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(fetch_all(stack, &ooo, "INBOX").await.is_empty());
    assert!(fetch_all(stack, &bulk, "INBOX").await.is_empty());
    assert!(gw.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_without_idle_and_reconnect_after_imap_restart() {
    // Its own mail stack: this test restarts Dovecot.
    let stack = MailStack::start();
    let mut gw = Gateway::new(&stack, Wire::Plain, "");
    gw.start(&[
        ("IGW_IMAP__DISABLE_IDLE", "true"),
        ("IGW_IMAP__POLL_INTERVAL_SECS", "1"),
    ]);
    let first = reporter();
    let (_, raw) = report(
        &first,
        &gw.soc,
        "Web page defaced",
        "Our homepage shows a hacker banner.",
    );
    send_smtp(&stack, &first, &[gw.soc.as_str()], &raw).await;
    wait_mail(&stack, &gw, &first, 1).await;

    stack.stop_dovecot();
    gw.wait_log(
        "IMAP intake interrupted; reconnecting",
        Duration::from_secs(30),
    );
    stack.start_dovecot();
    let second = reporter();
    let (_, raw) = report(&second, &gw.soc, "DDoS on the portal", "Traffic flood.");
    send_smtp(&stack, &second, &[gw.soc.as_str()], &raw).await;
    wait_mail(&stack, &gw, &second, 1).await;
    assert_eq!(gw.cases().len(), 2);
    assert!(gw.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uidvalidity_change_is_survived_without_a_second_case() {
    let stack = MailStack::shared();
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    // Read from a folder we can delete and recreate (INBOX cannot be).
    let intake = "Intake";
    let mut s = common::mailbox::imap_session(stack, &gw.soc).await;
    s.create(intake).await.expect("create intake folder");
    let before = s
        .select(intake)
        .await
        .expect("select")
        .uid_validity
        .expect("uidvalidity");
    let who = reporter();
    let (_, raw) = report(
        &who,
        &gw.soc,
        "Account compromise",
        "Mailbox rule forwarding to gmail.",
    );
    s.append(intake, None, None, &raw).await.expect("append");
    s.logout().await.ok();

    gw.start(&[
        ("IGW_FAILPOINT", "after-commit"),
        ("IGW_IMAP__MAILBOX", intake),
        // As in the crash test above: a send the kill interrupts is settled soon.
        ("IGW_OUTBOX__LEASE_SECS", "5"),
    ]);
    gw.wait_log(
        "IGW_FAILPOINT after-commit reached",
        Duration::from_secs(30),
    );
    gw.kill();
    assert_eq!(gw.cases().len(), 1);

    // Recreate the folder: same message, new UIDVALIDITY.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut s = common::mailbox::imap_session(stack, &gw.soc).await;
    s.delete(intake).await.expect("delete intake folder");
    s.create(intake).await.expect("recreate intake folder");
    s.append(intake, None, None, &raw)
        .await
        .expect("append again");
    let after = s
        .select(intake)
        .await
        .expect("select")
        .uid_validity
        .expect("uidvalidity");
    s.logout().await.ok();
    assert_ne!(before, after, "the test needs a real UIDVALIDITY change");

    gw.start(&[("IGW_IMAP__MAILBOX", intake)]);
    wait_for_count(stack, &gw.soc, "Processed", 1, Duration::from_secs(30)).await;
    let acks = settled_acks(stack, &gw, &who).await;
    assert_eq!(acks.len(), 1, "one acknowledgement");
    assert_eq!(
        gw.cases().len(),
        1,
        "recognised by Message-ID and content, no second case"
    );
    assert!(gw.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_says_plainly_what_is_wrong() {
    let stack = MailStack::shared();
    let check = |gw: &Gateway, env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_incident-gateway"));
        cmd.arg("--config").arg(&gw.config).arg("check-config");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run check-config");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let good = Gateway::new(stack, Wire::Tls, "");
    let (ok, text) = check(&good, &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains("imap      ok") && text.contains("smtp      ok"),
        "{text}"
    );

    // STARTTLS on the plain IMAP port works as well.
    let imap_port = stack.imap_port.to_string();
    let (ok, text) = check(
        &good,
        &[
            ("IGW_IMAP__SECURITY", "starttls"),
            ("IGW_IMAP__PORT", &imap_port),
        ],
    );
    assert!(ok, "{text}");
    assert!(text.contains("imap      ok"), "{text}");

    let (ok, text) = check(&good, &[("IGW_IMAP__PASSWORD", "wrong")]);
    assert!(!ok);
    assert!(
        text.contains("refused the login") && text.contains("username and password"),
        "{text}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (ok, text) = check(
        &good,
        &[
            ("IGW_IMAP__PORT", &closed.to_string()),
            ("IGW_SMTP__PORT", &closed.to_string()),
        ],
    );
    assert!(!ok);
    assert!(
        text.contains("cannot connect to IMAP server") && text.contains("host and port"),
        "{text}"
    );
    assert!(text.contains("smtp      FAIL"), "{text}");

    let (ok, text) = check(&good, &[("IGW_IMAP__MAILBOX", "NoSuchFolder")]);
    assert!(!ok);
    assert!(text.contains("'NoSuchFolder' cannot be opened"), "{text}");

    // Without our CA the server's certificate is not trusted.
    let untrusted = Gateway::new(stack, Wire::Tls, "");
    let cfg = std::fs::read_to_string(&untrusted.config).unwrap();
    let ca_line = format!("ca_file = \"{}\"\n", stack.ca_cert.display());
    std::fs::write(&untrusted.config, cfg.replace(&ca_line, "")).unwrap();
    let (ok, text) = check(&untrusted, &[]);
    assert!(!ok);
    assert!(
        text.contains("TLS with IMAP server") && text.contains("ca_file"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_smtp_refusal_marks_the_acknowledgement_failed() {
    let stack = MailStack::shared();
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    gw.start(&[]);
    // Postfix takes mail only for its three domains: a subdomain gets 554 5.7.1.
    let who = format!("r-{}@sub.agency.test", uuid::Uuid::new_v4().simple());
    let (_, raw) = report(&who, &gw.soc, "Suspicious login", "Odd sign-in.");
    send_smtp(stack, &who, &[gw.soc.as_str()], &raw).await;
    let row = eventually(
        "the acknowledgement to fail",
        Duration::from_secs(30),
        || async { gw.outbox().into_iter().find(|r| r["status"] == "failed") },
    )
    .await;
    assert_eq!(row["attempts"], 1, "a 5xx is not retried");
    let err = row["last_error"].as_str().unwrap_or_default();
    assert!(err.contains("554") || err.contains("5.7.1"), "{err}");
    let tid = gw.cases()[0]["tracking_id"].as_str().unwrap().to_string();
    let detail = gw.cli_json(&["case", "show", &tid, "--json"]);
    let failed = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "outbound_failed");
    assert!(failed, "the analyst sees the failure in the case's events");
    assert!(gw.terminate().success());
}
