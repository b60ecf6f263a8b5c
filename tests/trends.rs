//! The routine trends report on a real Postfix + Dovecot: the service's schedules
//! queue each period's report once; `report --at` drives the clock to a later period;
//! a restart (and asking again) sends nothing twice; and no reporter's address or name
//! from the fixtures is in any part of any report.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::gateway::{wait_mail, Gateway, Wire};
use common::mailbox::fetch_all;
use common::stack::MailStack;
use mail_parser::MimeHeaders;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Every part of a message, decoded, as text (binary parts lossily).
fn parts_text(raw: &[u8]) -> Vec<(String, String)> {
    let msg = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("parse mail");
    msg.parts
        .iter()
        .map(|p| {
            let kind = p
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
                .unwrap_or_default();
            (kind, String::from_utf8_lossy(p.contents()).into_owned())
        })
        .collect()
}

fn subject(raw: &[u8]) -> String {
    mail_parser::MessageParser::default()
        .parse(raw)
        .and_then(|m| m.subject().map(String::from))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_report_per_period_none_twice_after_a_restart_and_no_reporter_in_it() {
    let stack = MailStack::shared();
    let lead = format!(
        "leadership-{}@mass.gov",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let mut gw = Gateway::new(
        stack,
        Wire::Plain,
        &format!("[reports]\nrecipients = [\"EOTSS Leadership <{lead}>\"]\n"),
    );
    // The demo data: the 40 fixtures, opened now (this week), in the gateway's database.
    let fixtures = format!("{}/fixtures", env!("CARGO_MANIFEST_DIR"));
    gw.cli(&["demo", "--fixtures", &fixtures]);
    let cases = gw.cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut personal: Vec<String> = Vec::new();
    for c in &cases {
        for key in ["reporter_email", "reporter_name"] {
            if let Some(v) = c[key].as_str().filter(|v| v.len() > 3) {
                personal.push(v.to_string());
            }
        }
    }
    assert!(personal.len() >= 40, "{personal:?}");

    // The schedules queue last week's and last month's reports as the service starts.
    gw.start(&[]);
    gw.wait_log("incident-gateway running", Duration::from_secs(20));
    let first = wait_mail(stack, &gw, &lead, 2).await;
    let subjects: Vec<String> = first.iter().map(|m| subject(m)).collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("Weekly trends report")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("Monthly trends report")),
        "{subjects:?}"
    );

    // The clock driven a week on: this week's report, with the 40 cases, once.
    let next_week = (Utc::now() + chrono::Duration::days(7)).to_rfc3339();
    let one = gw.cli(&["report", "--period", "week", "--at", &next_week]);
    assert!(
        stdout(&one).contains("queued (outbox #"),
        "{}",
        stdout(&one)
    );
    let again = gw.cli(&["report", "--period", "week", "--at", &next_week]);
    assert!(
        stdout(&again).contains("was queued before"),
        "{}",
        stdout(&again)
    );
    let all = wait_mail(stack, &gw, &lead, 3).await;

    // A restart: the schedules find every period's report queued already.
    assert!(gw.terminate().success());
    gw.start(&[]);
    gw.wait_log("incident-gateway running", Duration::from_secs(20));
    let now = gw.cli(&["report", "--period", "month"]);
    assert!(
        stdout(&now).contains("was queued before"),
        "{}",
        stdout(&now)
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = fetch_all(stack, &lead, "INBOX").await;
    assert_eq!(
        after.len(),
        3,
        "no report twice: {:?}",
        after.iter().map(|m| subject(m)).collect::<Vec<_>>()
    );
    assert_eq!(
        gw.outbox()
            .iter()
            .filter(|r| r["kind"] == "trends_report")
            .count(),
        3
    );

    // This week's report: the counts, PNG charts inline, the whole report attached.
    let this_week = all
        .iter()
        .find(|m| {
            parts_text(m).iter().any(|(k, t)| {
                k == "text/plain" && t.contains(&format!("Cases opened: {}", cases.len()))
            })
        })
        .expect("a report with this week's cases");
    let parts = parts_text(this_week);
    let kinds: Vec<&str> = parts.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        kinds.iter().filter(|k| **k == "image/png").count() >= 5,
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"multipart/related") && kinds.contains(&"multipart/mixed"),
        "{kinds:?}"
    );
    let raw = String::from_utf8_lossy(this_week);
    assert!(
        raw.contains("Content-ID: <chart-by-category-0@trends>"),
        "inline image"
    );
    assert!(raw.contains("filename=\"trends-week-"), "attachment");
    let html: Vec<&String> = parts
        .iter()
        .filter(|(k, _)| k == "text/html")
        .map(|(_, t)| t)
        .collect();
    assert_eq!(html.len(), 2, "the HTML body and the HTML attachment");
    assert!(
        html[0].contains("src=\"cid:chart-by-category-0@trends\""),
        "{}",
        html[0]
    );
    assert!(html[1].contains("<svg") && html[1].contains("id=\"t-by-category\""));

    // Aggregates only: no reporter's address or name in any part of any report.
    for m in &after {
        for (kind, text) in parts_text(m) {
            for p in &personal {
                assert!(
                    !text.contains(p.as_str()),
                    "'{p}' is in a {kind} part of '{}'",
                    subject(m)
                );
            }
        }
        let head = String::from_utf8_lossy(m);
        let head = head.split("\r\n\r\n").next().unwrap_or("");
        for p in &personal {
            assert!(
                !head.contains(p.as_str()),
                "'{p}' in the header of '{}'",
                subject(m)
            );
        }
    }
}
