//! The command line without mail servers: pipe mode, exit codes, rate limit, demo,
//! held mail and its release.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_incident-gateway"));
    c.env_remove("IGW_CONFIG").env("RUST_LOG", "warn");
    c
}

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let p = dir.join("gateway.toml");
    std::fs::write(
        &p,
        format!("[gateway]\ndata_dir = \"{}\"\n{extra}", dir.display()),
    )
    .expect("write config");
    p
}

fn ingest(config: &Path, raw: &[u8]) -> Output {
    let mut child = bin()
        .args(["ingest", "--config"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ingest");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(raw)
        .expect("write stdin");
    child.wait_with_output().expect("wait ingest")
}

/// Runs a subcommand and returns its output whatever the exit status.
fn try_run(config: &Path, args: &[&str]) -> Output {
    bin()
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run")
}

fn run(config: &Path, args: &[&str]) -> Output {
    let out = try_run(config, args);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(config: &Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&run(config, args).stdout).expect("JSON output")
}

fn report(from: &str, n: usize) -> Vec<u8> {
    format!(
        "From: Reporter <{from}>\r\nTo: soc@mass.gov\r\nSubject: Report {n}\r\nMessage-ID: <r{n}-{from}>\r\nDate: Tue, 10 Mar 2026 09:45:00 -0400\r\n\r\nSomething happened ({n}).\r\n"
    )
    .into_bytes()
}

#[test]
fn ingest_stores_and_exits_0_then_recognises_the_duplicate() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "");
    let raw = report("jane@dor.state.ma.us", 1);
    let out = ingest(&cfg, &raw);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("in case SOC-"));
    let again = ingest(&cfg, &raw);
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already stored"));
    let cases = json(&cfg, &["cases", "list", "--json"]);
    assert_eq!(cases.as_array().unwrap().len(), 1);
    let id = cases[0]["tracking_id"].as_str().unwrap();
    let detail = json(&cfg, &["case", "show", id, "--json"]);
    assert_eq!(detail["messages"].as_array().unwrap().len(), 1);
    assert_eq!(detail["outbox"][0]["status"], "pending");
    // The case carries the reading of the report, with where each value came from.
    assert_eq!(
        detail["fields"]["reporter_email"]["value"],
        "jane@dor.state.ma.us"
    );
    assert_eq!(
        detail["fields"]["reporter_email"]["source"]["part"],
        "header:From"
    );
    assert_eq!(
        detail["fields"]["reporter_email"]["source"]["message"],
        detail["messages"][0]["id"]
    );
    let missing: Vec<&str> = detail["missing"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert!(
        missing.contains(&"reporter_phone") && !missing.contains(&"reporter_email"),
        "{missing:?}"
    );
    assert!(detail["category"].is_string());
    // The human view names the case and its events.
    let text = String::from_utf8(run(&cfg, &["case", "show", id]).stdout).unwrap();
    assert!(
        text.contains(id) && text.contains("case_opened") && text.contains("ack_queued"),
        "{text}"
    );
}

#[test]
fn ingest_exits_75_when_storage_is_unavailable() {
    let tmp = tempfile::tempdir().unwrap();
    // A database path under a regular file cannot be created.
    std::fs::write(tmp.path().join("not-a-dir"), b"x").unwrap();
    let cfg = write_config(
        tmp.path(),
        &format!(
            "[database]\nurl = \"sqlite://{}/not-a-dir/gateway.db\"\n",
            tmp.path().display()
        ),
    );
    let out = ingest(&cfg, &report("jane@dor.state.ma.us", 1));
    assert_eq!(
        out.status.code(),
        Some(75),
        "EX_TEMPFAIL so the MTA retries"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not stored") && err.contains("retry"), "{err}");
}

#[test]
fn a_bad_config_is_named_and_exits_78() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[imap]\nhost = \"x\"\nusername = \"u\"\npassword = \"p\"\nsecurity = \"ssl\"\n",
    )
    .unwrap();
    let out = try_run(&cfg, &["cases", "list"]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("ssl"), "{err}");
}

#[test]
fn a_postgres_url_is_refused_and_nothing_is_stored_anywhere() {
    // Before: ingest exited 0 and wrote a SQLite file "./postgres:/igw@…/igw".
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(
        tmp.path(),
        "[database]\nurl = \"postgres://igw@127.0.0.1:15432/igw\"\n",
    );
    let mut child = bin()
        .args(["ingest", "--config"])
        .arg(&cfg)
        .current_dir(tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ingest");
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&report("a@agency.test", 1));
    let out = child.wait_with_output().expect("wait ingest");
    let err = String::from_utf8_lossy(&out.stderr);
    // A configuration error, not "try again later" (75): the MTA must not keep retrying.
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("PostgreSQL is not supported yet"), "{err}");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n != "gateway.toml")
        .collect();
    assert!(left.is_empty(), "something was stored: {left:?}");
}

#[test]
fn acknowledgements_are_rate_limited_per_sender() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "ack_rate_limit_per_hour = 3\n");
    for n in 0..5 {
        assert!(ingest(&cfg, &report("busy@dor.state.ma.us", n))
            .status
            .success());
    }
    assert!(ingest(&cfg, &report("other@dor.state.ma.us", 9))
        .status
        .success());
    let rows = json(&cfg, &["outbound", "list", "--json"]);
    let to_busy = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["recipient"] == "busy@dor.state.ma.us")
        .count();
    assert_eq!(to_busy, 3, "only 3 acknowledgements to one sender per hour");
    assert_eq!(
        rows.as_array().unwrap().len(),
        4,
        "the other sender is not affected"
    );
    let cases = json(&cfg, &["cases", "list", "--json"]);
    assert_eq!(
        cases.as_array().unwrap().len(),
        6,
        "every report is still a case"
    );
    let newest = cases[1]["tracking_id"].as_str().unwrap();
    let detail = json(&cfg, &["case", "show", newest, "--json"]);
    let suppressed = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "ack_suppressed")
        .expect("event");
    assert!(suppressed["detail"]["reason"]
        .as_str()
        .unwrap()
        .contains("rate limit"));
}

#[test]
fn mail_to_outside_domains_is_held_until_released() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "");
    assert!(ingest(&cfg, &report("someone@example.com", 1))
        .status
        .success());
    let rows = json(&cfg, &["outbound", "list", "--status", "held", "--json"]);
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let id = rows[0]["id"].as_i64().unwrap().to_string();
    run(&cfg, &["outbound", "release", &id, "--by", "alice"]);
    let rows = json(&cfg, &["outbound", "list", "--json"]);
    assert_eq!(rows[0]["status"], "pending");
    // Releasing twice is refused with a reason.
    let out = try_run(&cfg, &["outbound", "release", &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not held"));
    let case = json(&cfg, &["cases", "list", "--json"])[0]["tracking_id"]
        .as_str()
        .unwrap()
        .to_string();
    let detail = json(&cfg, &["case", "show", &case, "--json"]);
    let ev = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "outbound_released")
        .expect("release event");
    assert_eq!(ev["actor"], "analyst:alice");
}

#[test]
fn demo_runs_on_the_embedded_default_and_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = tmp.path().join("fx");
    std::fs::create_dir(&fixtures).unwrap();
    std::fs::write(fixtures.join("a.eml"), report("jane@dor.state.ma.us", 1)).unwrap();
    std::fs::write(
        fixtures.join("b.eml"),
        b"From: x@agency.test\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\naway\r\n",
    )
    .unwrap();
    let demo = |dir: &Path| {
        let out = bin()
            .current_dir(dir)
            .args(["demo", "--fixtures"])
            .arg(&fixtures)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = demo(tmp.path());
    assert!(first.contains("acknowledgement queued"), "{first}");
    assert!(first.contains("quarantined"), "{first}");
    let written: Vec<_> = std::fs::read_dir(tmp.path().join("data/outbox"))
        .unwrap()
        .collect();
    assert_eq!(written.len(), 1, "one acknowledgement file");
    assert!(
        tmp.path().join("data/gateway.db").exists(),
        "embedded default database"
    );
    let second = demo(tmp.path());
    assert!(second.contains("already stored"), "{second}");
    assert_eq!(
        std::fs::read_dir(tmp.path().join("data/outbox"))
            .unwrap()
            .count(),
        1,
        "nothing sent twice"
    );
}

#[test]
fn an_unknown_tag_gets_the_same_neutral_receipt_as_a_strangers_reply() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "");
    assert!(ingest(&cfg, &report("jane@dor.state.ma.us", 1))
        .status
        .success());
    let tid = json(&cfg, &["cases", "list", "--json"])[0]["tracking_id"]
        .as_str()
        .unwrap()
        .to_string();
    let with_subject = |from: &str, subject: &str| {
        format!("From: {from}\r\nTo: soc@mass.gov\r\nSubject: {subject}\r\nMessage-ID: <{}@x>\r\n\r\nPhone: 617-555-0100\r\n", uuid::Uuid::new_v4()).into_bytes()
    };
    // A stranger replying to a real case, and someone quoting a tag that does not exist.
    assert!(ingest(
        &cfg,
        &with_subject("eve@dor.state.ma.us", &format!("Re: [{tid}] hi"))
    )
    .status
    .success());
    let year = tid.split('-').nth(1).unwrap();
    let out = ingest(
        &cfg,
        &with_subject(
            "eve@dor.state.ma.us",
            &format!("Re: [SOC-{year}-999999] hi"),
        ),
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("matches no case"));
    assert_eq!(
        json(&cfg, &["cases", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1,
        "no case opened"
    );
    let receipts: Vec<serde_json::Value> = json(&cfg, &["outbound", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "receipt")
        .cloned()
        .collect();
    assert_eq!(receipts.len(), 2);
    assert_eq!(
        receipts[0]["subject"], receipts[1]["subject"],
        "the same answer either way"
    );
    let q = json(&cfg, &["quarantine", "list", "--json"]);
    assert!(q[0]["quarantine_reason"]
        .as_str()
        .unwrap()
        .contains("matches no case"));
}

#[test]
fn reminders_follow_the_schedule_and_stop_after_the_maximum() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "");
    assert!(ingest(&cfg, &report("jane@dor.state.ma.us", 1))
        .status
        .success());
    // An auto-reply is stored but never reminded.
    let auto = b"From: ooo@dor.state.ma.us\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\naway\r\n";
    assert!(ingest(&cfg, auto).status.success());
    let at = |hours: i64| (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339();
    let remind = |hours: i64| -> String {
        String::from_utf8(run(&cfg, &["remind", "--now", &at(hours)]).stdout).unwrap()
    };
    assert!(remind(3).starts_with("0 reminder"), "not before 4 hours");
    assert!(remind(5).starts_with("1 reminder"), "first after 4 hours");
    assert!(
        remind(6).starts_with("0 reminder"),
        "4 hours after the last request"
    );
    assert!(remind(10).starts_with("1 reminder"), "second");
    assert!(remind(20).starts_with("0 reminder"), "at most 2");
    let rows = json(&cfg, &["outbound", "list", "--json"]);
    let reminders: Vec<&serde_json::Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "reminder")
        .collect();
    assert_eq!(reminders.len(), 2);
    assert!(reminders
        .iter()
        .all(|r| r["recipient"] == "jane@dor.state.ma.us"));
    assert!(reminders[0]["subject"]
        .as_str()
        .unwrap()
        .contains("Reminder"));
}

#[test]
fn a_bounce_of_our_acknowledgement_marks_the_reporter_undeliverable() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "");
    assert!(ingest(&cfg, &report("gone@dor.state.ma.us", 1))
        .status
        .success());
    let ack = json(&cfg, &["outbound", "list", "--json"])[0].clone();
    let ack_id = ack["message_id"].as_str().unwrap().to_string();
    let verp = ack["envelope_from"].as_str().unwrap().to_string();
    assert!(
        verp.starts_with("soc+bounce-") && verp.ends_with("@mass.gov"),
        "{verp}"
    );
    let dsn = |to: &str, n: u32| {
        format!(
            "From: MAILER-DAEMON@mail.dor.state.ma.us\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-{n}@mail.dor.state.ma.us>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe mail system: <gone@dor.state.ma.us>: user unknown\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; gone@dor.state.ma.us\r\nAction: failed\r\nStatus: 5.1.1\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: SOC <soc@mass.gov>\r\nTo: gone@dor.state.ma.us\r\nMessage-ID: <{ack_id}>\r\n--b--\r\n"
        )
    };
    // A forged bounce: it quotes our Message-ID but was not sent to the message's
    // envelope sender (nobody but the receiving server knows that address).
    assert!(ingest(&cfg, dsn("soc@mass.gov", 1).as_bytes())
        .status
        .success());
    let case = json(&cfg, &["cases", "list", "--json"])[0].clone();
    assert_eq!(case["reporter_undeliverable"], false, "a forged bounce");
    // A bounce sent to another message's envelope sender does not count either.
    assert!(ingest(
        &cfg,
        dsn("soc+bounce-0123456789abcdef@mass.gov", 2).as_bytes()
    )
    .status
    .success());
    let case = json(&cfg, &["cases", "list", "--json"])[0].clone();
    assert_eq!(case["reporter_undeliverable"], false, "a guessed token");
    // The real one comes back to the VERP address.
    let out = ingest(&cfg, dsn(&verp, 3).as_bytes());
    assert!(out.status.success());
    let case = json(&cfg, &["cases", "list", "--json"])[0].clone();
    assert_eq!(case["reporter_undeliverable"], true);
    let detail = json(
        &cfg,
        &[
            "case",
            "show",
            case["tracking_id"].as_str().unwrap(),
            "--json",
        ],
    );
    assert!(detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "reporter_undeliverable"));
    assert!(detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["kind"] == "bounce"));
    assert_eq!(
        json(&cfg, &["outbound", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing sent back"
    );
    // No reminders to an undeliverable address.
    let later = (chrono::Utc::now() + chrono::Duration::hours(5)).to_rfc3339();
    assert!(
        String::from_utf8(run(&cfg, &["remind", "--now", &later]).stdout)
            .unwrap()
            .starts_with("0 reminder")
    );
}

#[test]
fn an_analysts_value_survives_a_reply_and_directory_contacts_may_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("directory.toml");
    std::fs::write(
        &dir,
        "[[agencies]]\nname = \"Department of Revenue\"\naliases = [\"DOR\"]\ndomains = [\"dor.state.ma.us\"]\ncio = \"cio@dor.state.ma.us\"\ncontacts = [\"iso@dor.state.ma.us\"]\n",
    )
    .unwrap();
    let cfg = write_config(
        tmp.path(),
        &format!(
            "trust_intake_server = true\ndirectory = \"{}\"\n",
            dir.display()
        ),
    );
    assert!(ingest(&cfg, &report("jane@dor.state.ma.us", 1))
        .status
        .success());
    let tid = json(&cfg, &["cases", "list", "--json"])[0]["tracking_id"]
        .as_str()
        .unwrap()
        .to_string();
    let outbound = json(&cfg, &["outbound", "list", "--json"]);
    let ack = outbound
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "ack")
        .expect("an acknowledgement")["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    run(
        &cfg,
        &[
            "case",
            "set-field",
            &tid,
            "reporter_phone",
            "\"+16175550000\"",
            "--by",
            "alice",
        ],
    );
    let answer = |from: &str, body: &str| {
        format!(
            "From: {from}\r\nTo: soc@mass.gov\r\nSubject: RE: [{tid}] Received\r\nMessage-ID: <{}@x>\r\nIn-Reply-To: <{ack}>\r\n\r\n{body}\r\n",
            uuid::Uuid::new_v4()
        )
        .into_bytes()
    };
    assert!(ingest(
        &cfg,
        &answer("jane@dor.state.ma.us", "Phone: 617-555-0142\r\nAgency: DOR")
    )
    .status
    .success());
    assert!(ingest(
        &cfg,
        &answer("iso@dor.state.ma.us", "Actions taken: isolated the host")
    )
    .status
    .success());
    let case = json(&cfg, &["case", "show", &tid, "--json"]);
    assert_eq!(
        case["fields"]["reporter_phone"]["value"], "+16175550000",
        "the analyst's value stays"
    );
    assert_eq!(
        case["fields"]["reporter_phone"]["source"]["part"],
        "analyst"
    );
    assert_eq!(case["fields"]["agency"]["value"], "Department of Revenue");
    assert!(
        case["fields"]["actions_taken"]["value"]
            .as_str()
            .unwrap()
            .contains("isolated"),
        "a directory contact counts"
    );
    let events = case["events"].as_array().unwrap();
    let kept = events
        .iter()
        .find(|e| e["kind"] == "field_update_not_applied")
        .expect("an event says so");
    assert_eq!(kept["detail"]["proposed"], "+16175550142");
    assert!(events
        .iter()
        .any(|e| e["kind"] == "field_changed" && e["actor"] == "analyst:alice"));
}

#[test]
fn linked_and_merged_cases_record_it_and_mail_follows_the_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "trust_intake_server = true\n");
    for n in [1, 2, 3] {
        assert!(ingest(&cfg, &report("jane@dor.state.ma.us", n))
            .status
            .success());
    }
    let ids: Vec<String> = json(&cfg, &["cases", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tracking_id"].as_str().unwrap().to_string())
        .collect();
    let (c3, c2, c1) = (&ids[0], &ids[1], &ids[2]);

    run(&cfg, &["case", "link", c1, c3, "--by", "ana"]);
    let again = try_run(&cfg, &["case", "link", c3, c1]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("linked already"));

    let out = run(&cfg, &["case", "merge", c2, "--into", c1, "--by", "ana"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 message(s) moved"));
    let source = json(&cfg, &["case", "show", c2, "--json"]);
    assert_eq!(source["status"], "closed");
    assert_eq!(source["merged_into"], c1.as_str());
    assert!(source["messages"].as_array().unwrap().is_empty());
    let target = json(&cfg, &["case", "show", c1, "--json"]);
    assert_eq!(target["links"], serde_json::json!([c3]));
    assert_eq!(target["messages"].as_array().unwrap().len(), 2);
    let kinds: Vec<&str> = target["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"case_linked") && kinds.contains(&"merged_from"));

    // A reply to the merged case's acknowledgement lands on the case it went into.
    let reply = format!(
        "From: Reporter <jane@dor.state.ma.us>\r\nTo: soc@mass.gov\r\nSubject: RE: [{c2}] Received: Report 2\r\nMessage-ID: <late-reply@dor.state.ma.us>\r\nIn-Reply-To: <r2-jane@dor.state.ma.us>\r\nDate: Tue, 10 Mar 2026 11:45:00 -0400\r\n\r\nOne more detail.\r\n"
    );
    let out = ingest(&cfg, reply.as_bytes());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("in case {c1}")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let merged_twice = try_run(&cfg, &["case", "merge", c2, "--into", c3]);
    assert!(String::from_utf8_lossy(&merged_twice.stderr).contains("merged already"));
}

#[test]
fn the_worker_holds_mail_the_disclosure_rule_no_longer_allows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("directory.toml");
    let directory = |cio: &str| {
        std::fs::write(
            &dir,
            format!("[[agencies]]\nname = \"Department of Revenue\"\naliases = [\"DOR\"]\ndomains = [\"dor.example\"]\ncio = \"{cio}\"\n"),
        )
        .unwrap()
    };
    directory("cio@dor.example");
    let cfg = write_config(
        tmp.path(),
        &format!("allowed_domains = []\ndirectory = \"{}\"\n", dir.display()),
    );
    assert!(ingest(&cfg, &report("jane@dor.example", 1))
        .status
        .success());
    let outbound = json(&cfg, &["outbound", "list", "--json"]);
    let rows = outbound.as_array().unwrap();
    // The reporter is outside every allowed domain: held at once. The CIO is in the
    // directory: queued.
    let ack = rows.iter().find(|r| r["kind"] == "ack").unwrap();
    assert_eq!(ack["status"], "held");
    let scio = rows.iter().find(|r| r["kind"] == "scio_new").unwrap();
    assert_eq!(scio["status"], "pending");
    assert_eq!(scio["recipient"], "cio@dor.example");

    // A preview shows the update as it would go, and sends nothing.
    let tid = json(&cfg, &["cases", "list", "--json"])[0]["tracking_id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run(
        &cfg,
        &[
            "case",
            "update",
            &tid,
            "-m",
            "Contained <b>now</b>.",
            "--preview",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("To: cio@dor.example\nSubject: Re: ["),
        "{text}"
    );
    assert!(text.contains("Contained <b>now</b>."), "{text}");
    assert_eq!(
        json(&cfg, &["outbound", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        rows.len()
    );

    // The directory changes before the worker runs: the old CIO no longer qualifies.
    directory("new-cio@dor.example");
    let out = run(&cfg, &["outbound", "flush"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "sent 0, held 1, failed 0, to retry 0"
    );
    let held = json(&cfg, &["outbound", "list", "--status", "held", "--json"]);
    let row = held
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "scio_new")
        .expect("held at send time");
    assert!(row["hold_reason"]
        .as_str()
        .unwrap()
        .contains("not an allowed recipient at send time"));
    assert!(std::fs::read_dir(tmp.path().join("outbox"))
        .map(|d| d.count() == 0)
        .unwrap_or(true));

    // An analyst's release is the decision: it goes.
    let id = row["id"].as_i64().unwrap().to_string();
    run(&cfg, &["outbound", "release", &id, "--by", "ana"]);
    let out = run(&cfg, &["outbound", "flush"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "sent 1, held 0, failed 0, to retry 0"
    );
    assert_eq!(
        std::fs::read_dir(tmp.path().join("outbox"))
            .unwrap()
            .count(),
        1
    );
}

/// A directory-style display name ("O'Brien, Kevin (DCF)") is greeted as a person is
/// named: the name read from the report, not the raw header.
#[test]
fn the_acknowledgement_greets_the_reporter_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "allowed_domains = [\"mass.gov\"]\n");
    let raw = "From: \"O'Brien, Kevin (DCF)\" <kevin.obrien@mass.gov>\r\nTo: soc@mass.gov\r\nSubject: Phishing email\r\nMessage-ID: <greet-1@mass.gov>\r\nDate: Tue, 10 Mar 2026 09:45:00 -0400\r\n\r\nA phishing email reached three of us this morning.\r\n";
    let out = ingest(&cfg, raw.as_bytes());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run(&cfg, &["outbound", "flush"]);
    let sent: Vec<String> = std::fs::read_dir(tmp.path().join("outbox"))
        .expect("outbox dir")
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace("=\r\n", "")
                .replace("=\n", "")
        })
        .collect();
    assert_eq!(sent.len(), 1, "one acknowledgement");
    assert!(sent[0].contains("Hello Kevin O'Brien,"), "{}", sent[0]);
    assert!(!sent[0].contains("Hello O'Brien, Kevin"), "{}", sent[0]);
}
