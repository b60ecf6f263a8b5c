//! Campaigns on a real Postfix + Dovecot: staff of two agencies report the same phish
//! (attached by the report-phishing button, or forwarded inline by hand) and it becomes
//! one case. Each reporter gets one acknowledgement with the campaign's tracking ID;
//! the first agency's SCIO has the case's thread and the second agency's SCIO hears
//! once; another phish opens its own case; an analyst's answer reaches later
//! reporters; a report split out becomes a case of its own.

mod common;

use std::time::Duration;

use common::gateway::{wait_mail, wait_until, Gateway, Wire};
use common::mailbox::{fetch_all, send_smtp};
use common::stack::MailStack;

struct People {
    reporters: Vec<String>,
    scio_a: String,
    scio_b: String,
    oncall: String,
}

impl People {
    fn new() -> Self {
        let u = uuid::Uuid::new_v4().simple().to_string();
        let u = &u[..10];
        Self {
            reporters: (1..=7).map(|i| format!("r{i}-{u}@agency.test")).collect(),
            scio_a: format!("scio-a-{u}@state.ma.us"),
            scio_b: format!("scio-b-{u}@state.ma.us"),
            oncall: format!("oncall-{u}@mass.gov"),
        }
    }

    fn directory(&self) -> String {
        format!(
            r#"[[secretariats]]
id = "TST"
name = "Executive Office of Testing"
scio = "Ann Scio <{a}>"

[[secretariats]]
id = "SMP"
name = "Executive Office of Samples"
scio = "Ben Scio <{b}>"

[[agencies]]
name = "Department of Testing"
aliases = ["DTST"]
domains = ["agency.test"]
secretariat = "TST"

[[agencies]]
name = "Office of Samples"
aliases = ["OSMP"]
secretariat = "SMP"

[lists]
soc_oncall = ["{oncall}"]
"#,
            a = self.scio_a,
            b = self.scio_b,
            oncall = self.oncall,
        )
    }
}

const PHISH_BODY: &str = "Your mailbox is almost full and will be closed today.\r\nKeep it open here: https://mailbox-keep.example.net/verify?u=1\r\n\r\nIT Service Desk\r\n";

/// A report with the suspect message attached, as Outlook's "Report phishing" sends it.
fn attached_report(from: &str, to: &str, agency: &str, phish_id: &str, subject: &str) -> Vec<u8> {
    attached_with(from, to, agency, phish_id, subject, PHISH_BODY)
}

fn attached_with(
    from: &str,
    to: &str,
    agency: &str,
    phish_id: &str,
    subject: &str,
    body: &str,
) -> Vec<u8> {
    let mid = uuid::Uuid::new_v4().simple();
    format!(
        "From: Staff <{from}>\r\nTo: {to}\r\nSubject: FW: {subject}\r\nMessage-ID: <{mid}@agency.test>\r\nDate: {date}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThis looks like phishing. I did not click anything.\r\nAgency: {agency}\r\nPhone: 617-555-0100\r\n--b\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=phish.eml\r\n\r\nFrom: IT Service Desk <helpdesk@mailbox-keep.example.net>\r\nTo: {from}\r\nSubject: {subject}\r\nMessage-ID: <{phish_id}>\r\nDate: Mon, 30 Nov 2026 08:00:00 -0500\r\n\r\n{body}--b--\r\n",
        date = chrono::Utc::now().to_rfc2822(),
    )
    .into_bytes()
}

/// A report forwarding the suspect message inline, as someone's mail client does.
fn inline_report(from: &str, to: &str, agency: &str, subject: &str) -> Vec<u8> {
    let mid = uuid::Uuid::new_v4().simple();
    let quoted: String = PHISH_BODY.lines().map(|l| format!("> {l}\r\n")).collect();
    format!(
        "From: Staff <{from}>\r\nTo: {to}\r\nSubject: Fwd: {subject}\r\nMessage-ID: <{mid}@agency.test>\r\nDate: {date}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGot this one too, please check it.\r\nAgency: {agency}\r\n\r\n---------- Forwarded message ---------\r\nFrom: IT Service Desk <helpdesk@mailbox-keep.example.net>\r\nDate: Mon, Nov 30, 2026 at 8:00 AM\r\nSubject: {subject}\r\nTo: <{from}>\r\n\r\n{quoted}",
        date = chrono::Utc::now().to_rfc2822(),
    )
    .into_bytes()
}

/// The decoded subject and text/plain part (its lines joined: the text is wrapped).
fn read(raw: &[u8]) -> (String, String) {
    let msg = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("parse mail");
    let text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    (
        msg.subject().unwrap_or_default().to_string(),
        text.split_whitespace().collect::<Vec<_>>().join(" "),
    )
}

async fn send(stack: &MailStack, gw: &Gateway, from: &str, raw: &[u8]) {
    send_smtp(stack, from, &[gw.soc.as_str()], raw).await;
}

/// Waits until the gateway has stored `n` messages (so the order of reports is known).
fn wait_stored(gw: &Gateway, n: usize) {
    wait_until("the reports stored", Duration::from_secs(30), || {
        let cases = gw.cases();
        let stored: usize = cases
            .iter()
            .map(|c| {
                let d =
                    gw.cli_json(&["case", "show", c["tracking_id"].as_str().unwrap(), "--json"]);
                d["messages"].as_array().map_or(0, |m| m.len())
            })
            .sum();
        (stored >= n).then_some(())
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_phish_reported_by_many_is_one_case() {
    let stack = MailStack::shared();
    let p = People::new();
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    let dir_file = gw.data_dir().join("directory.toml");
    std::fs::write(&dir_file, p.directory()).unwrap();
    // Mail from the intake server counts as authenticated: a participant's reply would
    // change the case, so a later reporter's must be seen not to.
    gw.set_gateway_keys(&format!(
        "directory = \"{}\"\ntrust_intake_server = true",
        dir_file.display()
    ));
    gw.start(&[]);
    let r = &p.reporters;
    let phish = format!("{}@mailbox-keep.example.net", uuid::Uuid::new_v4().simple());
    let subject = "Action required: mailbox quota";

    // The first report opens the case; its agency's SCIO thread opens.
    let dtst = "Department of Testing";
    let osmp = "Office of Samples";
    send(
        stack,
        &gw,
        &r[0],
        &attached_report(&r[0], &gw.soc, dtst, &phish, subject),
    )
    .await;
    let ack = wait_mail(stack, &gw, &r[0], 1).await;
    let tid = gw.cases()[0]["tracking_id"].as_str().unwrap().to_string();
    let (s, text) = read(&ack[0]);
    assert!(s.starts_with(&format!("[{tid}] Received:")), "{s}");
    assert!(!text.contains("joins case"), "{text}");
    let thread = wait_mail(stack, &gw, &p.scio_a, 1).await;
    assert!(
        read(&thread[0]).0.contains("New incident"),
        "{}",
        read(&thread[0]).0
    );

    // The same phish forwarded inline by a colleague (another client, no attachment):
    // it joins by its sender, subject and words.
    send(
        stack,
        &gw,
        &r[1],
        &inline_report(&r[1], &gw.soc, dtst, subject),
    )
    .await;
    let ack = wait_mail(stack, &gw, &r[1], 1).await;
    let (s, text) = read(&ack[0]);
    assert!(s.starts_with(&format!("[{tid}] Received:")), "{s}");
    assert!(
        text.contains(&format!("joins case **{tid}**"))
            || text.contains(&format!("joins case {tid}")),
        "{text}"
    );
    assert!(text.contains("2 reports so far"), "{text}");
    // A later reporter is not asked for the case's details (the case is the first
    // report's).
    assert!(!text.contains("we still need a few details"), "{text}");
    assert!(text.contains("Nothing more is needed from you"), "{text}");

    // Their answer to it changes nothing on the case (it names another agency, which
    // would reroute the SCIO thread) and gets no answer; the analysts see it.
    let ack_id = common::mailbox::header(&ack[0], "Message-ID").unwrap();
    let reply = format!(
        "From: Staff <{}>\r\nTo: {}\r\nSubject: Re: {s}\r\nMessage-ID: <{}@agency.test>\r\nIn-Reply-To: {ack_id}\r\nReferences: {ack_id}\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nAgency: {osmp}\r\nI clicked the link before I saw it was fake.\r\n",
        r[1],
        gw.soc,
        uuid::Uuid::new_v4().simple(),
        chrono::Utc::now().to_rfc2822(),
    );
    send(stack, &gw, &r[1], reply.as_bytes()).await;
    wait_stored(&gw, 3);
    let d = gw.cli_json(&["case", "show", &tid, "--json"]);
    assert_eq!(
        d["agency"], dtst,
        "a later reporter's reply does not move the case"
    );
    assert_eq!(d["needs_review"], true, "the analysts are asked to read it");

    // Staff of a second agency: they join too, and their SCIO hears once.
    send(
        stack,
        &gw,
        &r[2],
        &attached_report(&r[2], &gw.soc, osmp, &phish, subject),
    )
    .await;
    wait_mail(stack, &gw, &r[2], 1).await;
    let b = wait_mail(stack, &gw, &p.scio_b, 1).await;
    let (s, text) = read(&b[0]);
    assert_eq!(s, format!("[{tid}] Campaign reported by staff of {osmp}"));
    assert!(text.contains("once for your agency"), "{text}");
    assert!(text.contains(subject), "{text}");
    send(
        stack,
        &gw,
        &r[3],
        &attached_report(&r[3], &gw.soc, osmp, &phish, subject),
    )
    .await;
    wait_mail(stack, &gw, &r[3], 1).await;
    // The same person reporting it again is not acknowledged twice.
    send(
        stack,
        &gw,
        &r[1],
        &attached_report(&r[1], &gw.soc, dtst, &phish, subject),
    )
    .await;
    wait_stored(&gw, 6);

    // Another phish is another case.
    let other = format!("{}@parcel.example.org", uuid::Uuid::new_v4().simple());
    let raw = attached_with(
        &r[4],
        &gw.soc,
        dtst,
        &other,
        "Your parcel is waiting",
        "A parcel could not be delivered.\r\nPay the fee: https://parcel-track.example.org/pay\r\n",
    );
    send(stack, &gw, &r[4], &raw).await;
    let ack = wait_mail(stack, &gw, &r[4], 1).await;
    let (s, _) = read(&ack[0]);
    assert!(
        !s.contains(&tid),
        "another phish got the campaign's ID: {s}"
    );
    assert_eq!(gw.cases().len(), 2, "two cases, not one per report");

    // The analyst writes the answer once; a later reporter gets it.
    gw.cli(&[
        "case",
        "campaign-answer",
        &tid,
        "Known phishing. Delete it and do not click its link.",
        "--by",
        "ana",
    ]);
    send(
        stack,
        &gw,
        &r[5],
        &inline_report(&r[5], &gw.soc, dtst, subject),
    )
    .await;
    let ack = wait_mail(stack, &gw, &r[5], 1).await;
    let (_, text) = read(&ack[0]);
    assert!(text.contains("Known phishing. Delete it"), "{text}");
    assert!(!text.contains("we still need a few details"), "{text}");

    // The case as the analyst sees it.
    let d = gw.cli_json(&["case", "show", &tid, "--json"]);
    let c = &d["campaign"];
    assert_eq!(c["reports"], 6, "{c}");
    assert_eq!(c["people"], 5, "{c}");
    let agencies: Vec<&str> = c["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a[0].as_str().unwrap())
        .collect();
    assert_eq!(agencies, [dtst, osmp], "{c}");
    let urls = d["iocs"]["urls"].as_array().unwrap();
    assert!(
        urls.iter().any(|u| u
            .as_str()
            .unwrap()
            .contains("mailbox-keep.example.net/verify")),
        "{urls:?}"
    );
    assert!(
        d["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "ack_suppressed"
                && e["detail"]["reason"]
                    .as_str()
                    .unwrap_or("")
                    .contains("acknowledged for this campaign before")),
        "the second report of the same person is recorded as not acknowledged"
    );
    let text = String::from_utf8_lossy(&gw.cli(&["case", "show", &tid]).stdout).to_string();
    assert!(
        text.contains("campaign    6 reports by 5 people in 2 agencies"),
        "{text}"
    );

    // Split out r[3]'s report: it becomes its own case; r[3] is told the new ID.
    let row = c["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["reporter"] == r[3].to_lowercase())
        .unwrap()["message_row"]
        .as_i64()
        .unwrap();
    let first = c["first_row"].as_i64().unwrap();
    let refused = gw.try_cli(&["case", "split", &tid, &first.to_string()]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("first report"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let out = gw.cli(&[
        "case",
        "split",
        &tid,
        &format!("#{row}"),
        "--ack",
        "--by",
        "ana",
    ]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains("split out"), "{said}");
    let acks = wait_mail(stack, &gw, &r[3], 2).await;
    let (s, _) = read(&acks[1]);
    assert!(!s.contains(&tid) && s.contains("Received"), "{s}");
    let d = gw.cli_json(&["case", "show", &tid, "--json"]);
    assert_eq!(d["campaign"]["reports"], 5);
    assert!(d["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "report_split_out"));
    assert_eq!(gw.cases().len(), 3);
    // The split case does not draw later reports of the phish away from the campaign.
    send(
        stack,
        &gw,
        &r[6],
        &attached_report(&r[6], &gw.soc, dtst, &phish, subject),
    )
    .await;
    let ack = wait_mail(stack, &gw, &r[6], 1).await;
    let (s, _) = read(&ack[0]);
    assert!(s.starts_with(&format!("[{tid}] Received:")), "{s}");
    assert_eq!(gw.cases().len(), 3);

    // Every reporter was acknowledged exactly once (r[3] twice: the split told it the
    // new ID); the second agency's SCIO heard of the campaign once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (i, who) in r.iter().enumerate().take(6) {
        let n = fetch_all(stack, who, "INBOX").await.len();
        assert_eq!(n, if i == 3 { 2 } else { 1 }, "{who}");
    }
    let b = fetch_all(stack, &p.scio_b, "INBOX").await;
    let campaign_notices = b
        .iter()
        .filter(|m| read(m).0.contains("Campaign reported"))
        .count();
    assert_eq!(campaign_notices, 1, "the second agency's SCIO heard once");
    gw.terminate();
}
