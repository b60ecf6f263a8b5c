//! SCIO threads, rhythm, escalation and disclosure on a real Postfix + Dovecot: the
//! SCIO's mailbox holds one unbroken thread per case; a periodic update fires at the
//! severity's interval on a driven clock and never twice, across a restart too; an
//! update copied to an outside address waits for an analyst and is delivered once
//! when released; each escalation notice goes once; the directory reloads on SIGHUP.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::gateway::{report, wait_mail, Gateway, Wire};
use common::mailbox::{fetch_all, header, send_smtp};
use common::stack::MailStack;

struct People {
    reporter: String,
    scio: String,
    iso: String,
    deputy: String,
    leadership: String,
    oncall: String,
    analyst: String,
    outsider: String,
}

impl People {
    fn new() -> Self {
        let u = uuid::Uuid::new_v4().simple().to_string();
        let u = &u[..10];
        Self {
            reporter: format!("reporter-{u}@agency.test"),
            scio: format!("scio-{u}@state.ma.us"),
            iso: format!("iso-{u}@agency.test"),
            deputy: format!("deputy-{u}@state.ma.us"),
            leadership: format!("leadership-{u}@mass.gov"),
            oncall: format!("oncall-{u}@mass.gov"),
            analyst: format!("analyst-{u}@mass.gov"),
            outsider: format!("outsider-{u}@vendor.test"),
        }
    }

    fn directory(&self, with_deputy: bool) -> String {
        format!(
            r#"[[secretariats]]
id = "TST"
name = "Executive Office of Testing"
scio = "Sam Scio <{scio}>"
designees = ["gone@unrouted.test", {deputy}]

[[agencies]]
name = "Department of Testing"
aliases = ["DTST"]
domains = ["agency.test"]
secretariat = "TST"
iso = "{iso}"

[lists]
leadership = ["{leadership}"]
soc_oncall = ["{oncall}"]
"#,
            scio = self.scio,
            iso = self.iso,
            leadership = self.leadership,
            oncall = self.oncall,
            deputy = if with_deputy {
                format!("\"{}\"", self.deputy)
            } else {
                String::new()
            },
        )
    }
}

/// The decoded subject and text/plain part.
fn read(raw: &[u8]) -> (String, String) {
    let msg = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("parse mail");
    (
        msg.subject().unwrap_or_default().to_string(),
        msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
    )
}

fn ids(raw: &[u8], name: &str) -> Vec<String> {
    header(raw, name)
        .unwrap_or_default()
        .split_whitespace()
        .map(|s| s.trim_matches(|c| c == '<' || c == '>').to_string())
        .collect()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Waits `secs` and checks that `who` still has exactly `n` messages.
async fn still(stack: &MailStack, who: &str, n: usize, secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
    assert_eq!(
        fetch_all(stack, who, "INBOX").await.len(),
        n,
        "{who} must still have {n} message(s)"
    );
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scio_thread_rhythm_escalation_and_review() {
    let stack = MailStack::shared();
    let p = People::new();
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    let dir_file = gw.data_dir().join("directory.toml");
    std::fs::write(&dir_file, p.directory(false)).unwrap();
    gw.set_gateway_keys(&format!("directory = \"{}\"", dir_file.display()));
    gw.start(&[]);

    // A report that names law enforcement: the SCIO thread opens, on-call hears once.
    let (_, raw) = report(
        &p.reporter,
        &gw.soc,
        "Phishing email at the front desk",
        "A user clicked a link in a phishing email and entered her password.\n\
         Agency: Department of Testing\n\
         Law enforcement contacted: yes, State Police\n\
         Jane",
    );
    let t0 = Utc::now();
    send_smtp(stack, &p.reporter, &[gw.soc.as_str()], &raw).await;
    wait_mail(stack, &gw, &p.reporter, 1).await;
    let first = wait_mail(stack, &gw, &p.scio, 1).await;
    let tid = gw.cases()[0]["tracking_id"].as_str().unwrap().to_string();
    let (root_subject, root_text) = read(&first[0]);
    assert_eq!(
        root_subject,
        format!("[{tid}] New incident: Department of Testing – Phishing")
    );
    assert!(
        root_text.contains("SENSITIVE - FOR OFFICIAL COMMONWEALTH USE ONLY"),
        "banner:\n{root_text}"
    );
    assert!(root_text.contains("Next update due:"), "{root_text}");
    assert!(root_text.contains("TST SCIO"), "{root_text}");
    // A stale address in the directory (a domain our server refuses to relay to) does
    // not stop the rest of the audience; the refusal is on record.
    let opened = common::gateway::wait_until(
        "the first SCIO message marked sent",
        Duration::from_secs(30),
        || {
            gw.outbox()
                .into_iter()
                .find(|r| r["kind"] == "scio_new" && r["status"] == "sent")
        },
    );
    assert!(
        opened["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("gone@unrouted.test")),
        "{opened}"
    );
    let iso = wait_mail(stack, &gw, &p.iso, 1).await;
    assert_eq!(
        read(&iso[0]).0,
        root_subject,
        "the ISO is on the same thread"
    );
    let oncall = wait_mail(stack, &gw, &p.oncall, 1).await;
    let (subject, text) = read(&oncall[0]);
    assert!(
        subject.contains("Law enforcement contacted") && subject.contains(&tid),
        "{subject}"
    );
    assert!(text.contains("SOC on-call"), "{text}");

    // Three changes: three replies in the thread. The internal note goes nowhere.
    gw.cli(&["case", "set-status", &tid, "triage", "--by", "ana"]);
    wait_mail(stack, &gw, &p.scio, 2).await;
    gw.cli(&["case", "note", &tid, "internal: the user may be an insider"]);
    gw.cli(&["case", "set-severity", &tid, "critical", "--by", "ana"]);
    wait_mail(stack, &gw, &p.scio, 3).await;
    // Critical reaches [soc] notify_new_case_at (default): on-call hears once.
    let oncall = wait_mail(stack, &gw, &p.oncall, 2).await;
    let (subject, text) = read(&oncall[1]);
    assert!(
        subject.starts_with(&format!("[{tid}] New case for the SOC")),
        "{subject}"
    );
    assert!(text.contains("Triage due:"), "{text}");
    assert!(text.contains("Triage it within 15 min."), "{text}");
    // An assignment tells the analyst assigned, once per case and analyst; assigning
    // oneself tells nobody.
    gw.cli(&["case", "assign", &tid, &p.analyst, "--by", "ana"]);
    let told = wait_mail(stack, &gw, &p.analyst, 1).await;
    let (subject, text) = read(&told[0]);
    assert!(
        subject.starts_with(&format!("[{tid}] Case assigned to you")),
        "{subject}"
    );
    assert!(
        text.contains("analyst:ana assigned this case to you"),
        "{text}"
    );
    gw.cli(&["case", "assign", &tid, "", "--by", "ana"]);
    gw.cli(&["case", "assign", &tid, &p.analyst, "--by", "ana"]);
    gw.cli(&["case", "assign", &tid, "ana", "--by", "ana"]);
    gw.cli(&[
        "case",
        "update",
        &tid,
        "--message",
        "We reset the user's password and revoked her sessions.",
        "--by",
        "ana",
    ]);
    let thread = wait_mail(stack, &gw, &p.scio, 4).await;
    let t_updates = Utc::now();

    println!("--- the SCIO thread of {tid}, as Dovecot delivered it:");
    for (i, m) in thread.iter().enumerate() {
        println!(
            "#{}\n  Subject: {}\n  Message-ID: {}\n  In-Reply-To: {}\n  References: {}",
            i + 1,
            read(m).0,
            header(m, "Message-ID").unwrap_or_default(),
            header(m, "In-Reply-To").unwrap_or_default(),
            header(m, "References").unwrap_or_default()
        );
    }
    let raw_last = String::from_utf8_lossy(&thread[3]);
    println!(
        "--- the raw header block of #4:\n{}",
        raw_last.split("\r\n\r\n").next().unwrap_or("")
    );
    let mut chain: Vec<String> = Vec::new();
    for (i, m) in thread.iter().enumerate() {
        let (subject, text) = read(m);
        assert!(subject.contains(&format!("[{tid}]")), "#{i}: {subject}");
        assert!(
            !text.contains("insider"),
            "an internal note leaked:\n{text}"
        );
        let mid = ids(m, "Message-ID");
        assert_eq!(mid.len(), 1);
        if i == 0 {
            assert!(header(m, "In-Reply-To").is_none());
        } else {
            assert_eq!(subject, format!("Re: {root_subject}"));
            assert_eq!(ids(m, "In-Reply-To"), vec![chain[i - 1].clone()], "#{i}");
            assert_eq!(
                ids(m, "References"),
                chain,
                "#{i}: the whole chain, in order"
            );
        }
        assert_eq!(
            header(m, "Auto-Submitted").as_deref(),
            Some("auto-generated")
        );
        chain.push(mid[0].clone());
    }
    let texts: Vec<String> = thread.iter().map(|m| read(m).1).collect();
    assert!(texts[1].contains("Status: New → Triage"), "{}", texts[1]);
    assert!(
        texts[2].contains("Severity: High (suggested) → Critical"),
        "{}",
        texts[2]
    );
    assert!(texts[2].contains("Severity: critical"), "{}", texts[2]);
    assert!(
        texts[3].contains("We reset the user's password"),
        "{}",
        texts[3]
    );

    // The rhythm: critical → every 4 hours, on a driven clock, never twice.
    let none = gw.cli(&[
        "updates",
        "--now",
        &at(t_updates + chrono::Duration::hours(3)),
    ]);
    assert!(stdout(&none).starts_with("0 status"), "{}", stdout(&none));
    let due = t_updates + chrono::Duration::minutes(4 * 60 + 5);
    let one = gw.cli(&["updates", "--now", &at(due)]);
    assert!(stdout(&one).starts_with("1 status"), "{}", stdout(&one));
    let again = gw.cli(&["updates", "--now", &at(due)]);
    assert!(stdout(&again).starts_with("0 status"), "{}", stdout(&again));
    let thread = wait_mail(stack, &gw, &p.scio, 5).await;
    let (subject, text) = read(&thread[4]);
    assert_eq!(subject, format!("Re: {root_subject}"));
    assert!(text.contains("No change since"), "{text}");
    assert_eq!(ids(&thread[4], "In-Reply-To"), vec![chain[3].clone()]);

    // A restart between two updates sends nothing twice.
    assert!(gw.terminate().success());
    gw.start(&[]);
    gw.wait_log("incident-gateway running", Duration::from_secs(20));
    let after = gw.cli(&["updates", "--now", &at(due + chrono::Duration::minutes(1))]);
    assert!(stdout(&after).starts_with("0 status"), "{}", stdout(&after));
    still(stack, &p.scio, 5, 3).await;

    // An update copied outside the allowed domains waits for an analyst.
    let out = gw.cli(&[
        "case",
        "update",
        &tid,
        "--message",
        "Vendor: please confirm how long you keep the proxy logs.",
        "--cc",
        &p.outsider,
    ]);
    assert!(stdout(&out).contains("held for review"), "{}", stdout(&out));
    wait_mail(stack, &gw, &p.scio, 6).await;
    let held: Vec<serde_json::Value> = gw
        .cli_json(&["outbound", "list", "--status", "held", "--json"])
        .as_array()
        .cloned()
        .unwrap();
    let copy = held
        .iter()
        .find(|r| r["recipient"] == p.outsider.as_str())
        .expect("the copy is held");
    assert!(copy["hold_reason"]
        .as_str()
        .unwrap()
        .contains("outside the allowed domains"));
    still(stack, &p.outsider, 0, 2).await;
    let id = copy["id"].as_i64().unwrap().to_string();
    gw.cli(&["outbound", "release", &id, "--by", "ana"]);
    let got = wait_mail(stack, &gw, &p.outsider, 1).await;
    assert!(read(&got[0]).1.contains("proxy logs"));
    let twice = gw.try_cli(&["outbound", "release", &id]);
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("not held"));
    still(stack, &p.outsider, 1, 2).await;

    // Escalations: once per case and cause, however often a flag is set.
    gw.cli(&["case", "flag", &tid, "major_incident"]);
    let lead = wait_mail(stack, &gw, &p.leadership, 1).await;
    assert!(
        read(&lead[0]).0.contains("MAJOR INCIDENT"),
        "{}",
        read(&lead[0]).0
    );
    gw.cli(&["case", "flag", &tid, "major_incident", "--off"]);
    // Cleared after its notice went out: the same list hears it is withdrawn, once.
    let lead = wait_mail(stack, &gw, &p.leadership, 2).await;
    let (subject, text) = read(&lead[1]);
    assert!(
        subject.contains("Withdrawn: Major incident declared"),
        "{subject}"
    );
    assert!(text.contains("Disregard that notice"), "{text}");
    gw.cli(&["case", "flag", &tid, "major_incident"]);
    gw.cli(&["case", "flag", &tid, "major_incident", "--off"]);
    gw.cli(&["case", "flag", &tid, "personal_information"]);
    let lead = wait_mail(stack, &gw, &p.leadership, 3).await;
    assert!(
        read(&lead[2])
            .0
            .contains("Personal information or data loss"),
        "{}",
        read(&lead[2]).0
    );
    gw.cli(&["case", "flag", &tid, "external_communications"]);
    wait_mail(stack, &gw, &p.oncall, 3).await;
    let refused = gw.try_cli(&["case", "flag", &tid, "law_enforcement_contacted"]);
    assert!(!refused.status.success(), "set from the report already");
    still(stack, &p.leadership, 3, 2).await;
    assert_eq!(fetch_all(stack, &p.oncall, "INBOX").await.len(), 3);
    assert_eq!(
        fetch_all(stack, &p.analyst, "INBOX").await.len(),
        1,
        "the assignee is told once"
    );
    let case = gw.cli_json(&["case", "show", &tid, "--json"]);
    let events = case["events"].as_array().unwrap();
    let causes: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "escalation_queued")
        .map(|e| {
            e["detail"]["cause"]
                .as_str()
                .or(e["detail"]["withdrawn"].as_str().map(|_| "withdrawn"))
                .unwrap()
        })
        .collect();
    assert_eq!(
        causes,
        [
            "law_enforcement",
            "major_incident",
            "withdrawn",
            "data_loss",
            "external_communications"
        ]
    );
    assert!(events.iter().any(|e| e["kind"] == "note_added"
        && e["detail"]["text"] == "internal: the user may be an insider"));
    assert!(events.iter().any(|e| e["kind"] == "outbound_released"));

    // The SCIO answers in the thread: the analysts see it; no automatic answer.
    let answer = format!(
        "From: Sam Scio <{scio}>\r\nTo: {soc}\r\nSubject: Re: {root_subject}\r\nMessage-ID: <answer-{tid}@state.ma.us>\r\nIn-Reply-To: <{last}>\r\nReferences: <{root}> <{last}>\r\nDate: {date}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThanks. Agency: Department of Revenue\r\nPlease call me before you close it.\r\n",
        scio = p.scio,
        soc = gw.soc,
        last = chain[3],
        root = chain[0],
        date = Utc::now().to_rfc2822(),
    );
    send_smtp(stack, &p.scio, &[gw.soc.as_str()], answer.as_bytes()).await;
    let case = common::gateway::wait_until(
        "the SCIO's answer on the case",
        Duration::from_secs(30),
        || {
            let c = gw.cli_json(&["case", "show", &tid, "--json"]);
            c["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == "correspondence_received")
                .then_some(c)
        },
    );
    let got = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "correspondence_received")
        .unwrap();
    assert_eq!(got["detail"]["matched_by"], "scio_thread");
    assert_eq!(case["needs_review"], true);
    assert_eq!(
        case["agency"], "Department of Testing",
        "the SCIO's text changes no field"
    );
    still(stack, &p.scio, 6, 2).await;

    // The directory: a broken file is refused with its line; a fixed one is used.
    std::fs::write(&dir_file, "[[secretariats]]\nid = \"TST\"\n").unwrap();
    gw.signal(libc::SIGHUP);
    gw.wait_log("directory not reloaded", Duration::from_secs(10));
    assert!(
        gw.log_text().contains("line 1, column 1"),
        "{}",
        gw.log_text()
    );
    std::fs::write(&dir_file, p.directory(true)).unwrap();
    gw.signal(libc::SIGHUP);
    gw.wait_log("directory reloaded", Duration::from_secs(10));
    gw.cli(&["case", "set-status", &tid, "resolved"]);
    let deputy = wait_mail(stack, &gw, &p.deputy, 1).await;
    let (subject, text) = read(&deputy[0]);
    assert_eq!(subject, format!("Re: {root_subject}"));
    assert!(text.contains("no further scheduled updates"), "{text}");
    wait_mail(stack, &gw, &p.scio, 7).await;
    // Leadership, told of the major incident, is kept apprised in the thread.
    let lead = wait_mail(stack, &gw, &p.leadership, 4).await;
    assert_eq!(read(&lead[3]).0, format!("Re: {root_subject}"));
    // Resolved: the rhythm stops.
    let later = gw.cli(&["updates", "--now", &at(t0 + chrono::Duration::days(3))]);
    assert!(stdout(&later).starts_with("0 status"), "{}", stdout(&later));
    assert!(gw.terminate().success());
}
