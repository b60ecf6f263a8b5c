//! Who may learn about a case, on a real Postfix + Dovecot: only the case's own people
//! (its reporter, its agency's and secretariat's contacts) may change it; another
//! agency's contact, another secretariat's SCIO, a vendor of another agency and forged
//! `Authentication-Results` or From headers change nothing and learn nothing; only a
//! bounce that comes back to a message's own envelope sender marks its recipient
//! undeliverable; "New incident" notices are rate-limited and say when the sender was
//! not authenticated.

mod common;

use std::time::Duration;

use common::gateway::{report, wait_mail, wait_until, Gateway, Wire};
use common::mailbox::{fetch_all, header, send_smtp};
use common::stack::MailStack;

struct People {
    reporter: String,
    iso: String,
    scio: String,
    other_iso: String,
    other_scio: String,
    vendor: String,
}

impl People {
    fn new() -> Self {
        let u = uuid::Uuid::new_v4().simple().to_string();
        let u = &u[..10];
        Self {
            reporter: format!("reporter-{u}@agency.test"),
            iso: format!("iso-{u}@agency.test"),
            scio: format!("scio-{u}@state.ma.us"),
            other_iso: format!("other-iso-{u}@state.ma.us"),
            other_scio: format!("other-scio-{u}@state.ma.us"),
            vendor: format!("support-{u}@vendor.test"),
        }
    }

    fn directory(&self) -> String {
        format!(
            r#"[[secretariats]]
id = "TST"
name = "Executive Office of Testing"
scio = "Sam Scio <{scio}>"

[[secretariats]]
id = "OTH"
name = "Executive Office of Others"
scio = "Olga Other <{other_scio}>"

[[agencies]]
name = "Department of Testing"
aliases = ["DTST"]
domains = ["agency.test"]
secretariat = "TST"
iso = "{iso}"

[[agencies]]
name = "Office of Others"
aliases = ["OOO"]
domains = ["others.state.ma.us"]
secretariat = "OTH"
iso = "{other_iso}"

[[vendors]]
name = "Acme Support"
domains = ["vendor.test"]
serves = ["Office of Others"]
contacts = ["{vendor}"]
"#,
            scio = self.scio,
            other_scio = self.other_scio,
            iso = self.iso,
            other_iso = self.other_iso,
            vendor = self.vendor,
        )
    }
}

/// A gateway that trusts `mx.mass.gov`'s Authentication-Results, with `p`'s directory.
fn gateway(stack: &MailStack, p: &People, env: &[(&str, &str)]) -> Gateway {
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    let dir_file = gw.data_dir().join("directory.toml");
    std::fs::write(&dir_file, p.directory()).unwrap();
    gw.set_gateway_keys(&format!(
        "directory = \"{}\"\ntrusted_authserv_id = \"mx.mass.gov\"",
        dir_file.display()
    ));
    gw.start(env);
    gw
}

fn pass_for(domain: &str) -> String {
    format!("Authentication-Results: mx.mass.gov; spf=pass smtp.mailfrom={domain}; dmarc=pass header.from={domain}\r\n")
}

/// A message with the given header lines (From and Authentication-Results among them).
fn mail(headers: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "{headers}To: {to}\r\nSubject: {subject}\r\nMessage-ID: <{}@agency.test>\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        uuid::Uuid::new_v4().simple(),
        chrono::Utc::now().to_rfc2822()
    )
    .into_bytes()
}

fn text(raw: &[u8]) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("parse mail");
    format!(
        "{}\n{}",
        msg.subject().unwrap_or_default(),
        msg.body_text(0).unwrap_or_default()
    )
}

fn case(gw: &Gateway, tid: &str) -> serde_json::Value {
    gw.cli_json(&["case", "show", tid, "--json"])
}

fn events(case: &serde_json::Value, kind: &str) -> Vec<serde_json::Value> {
    case["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

/// Opens a case for the Department of Testing from `p.reporter`; returns its tag.
async fn open_case(stack: &MailStack, gw: &Gateway, p: &People) -> String {
    let raw = mail(
        &format!("From: Rita Reporter <{}>\r\n{}", p.reporter, pass_for("agency.test")),
        &gw.soc,
        "Suspicious login on the payroll server",
        "We saw a suspicious login on the payroll server this morning.\r\nAgency: Department of Testing\r\nRita",
    );
    send_smtp(stack, &p.reporter, &[gw.soc.as_str()], &raw).await;
    wait_mail(stack, gw, &p.reporter, 1).await;
    gw.cases()[0]["tracking_id"].as_str().unwrap().to_string()
}

/// Sends `raw` from `sender` and waits until the case records it as unverified.
async fn send_unverified(stack: &MailStack, gw: &Gateway, tid: &str, sender: &str, raw: &[u8]) {
    let before = events(&case(gw, tid), "unverified_correspondence").len();
    send_smtp(stack, sender, &[gw.soc.as_str()], raw).await;
    wait_until(
        "the message recorded as unverified correspondence",
        Duration::from_secs(30),
        || (events(&case(gw, tid), "unverified_correspondence").len() > before).then_some(()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_cases_own_people_may_change_it() {
    let stack = MailStack::shared();
    let p = People::new();
    let mut gw = gateway(stack, &p, &[]);
    let tid = open_case(stack, &gw, &p).await;
    let body = "Agency: Office of Others\r\nPhone: 617-555-0101\r\nSystems affected: everything";

    // Another agency's ISO, another secretariat's SCIO and a vendor serving another
    // agency: each authenticated, each in the directory, none of them this case's.
    for (who, domain) in [
        (&p.other_iso, "state.ma.us"),
        (&p.other_scio, "state.ma.us"),
        (&p.vendor, "vendor.test"),
    ] {
        let raw = mail(
            &format!("From: Someone <{who}>\r\n{}", pass_for(domain)),
            &gw.soc,
            &format!("RE: [{tid}] Received: Suspicious login"),
            body,
        );
        send_unverified(stack, &gw, &tid, who, &raw).await;
        // What they get back names no case and no reporter.
        let got = wait_mail(stack, &gw, who, 1).await;
        let t = text(&got[0]);
        assert!(!t.contains(&tid), "{who} learns no tracking ID:\n{t}");
        assert!(!t.contains("Rita"), "{who} learns no reporter:\n{t}");
        assert!(
            !t.contains("payroll"),
            "{who} learns nothing of the case:\n{t}"
        );
    }
    let c = case(&gw, &tid);
    assert_eq!(c["fields"]["agency"]["value"], "Department of Testing");
    assert!(c["fields"]["reporter_phone"].is_null(), "no field changed");
    let reasons: Vec<String> = events(&c, "unverified_correspondence")
        .iter()
        .map(|e| e["detail"]["reason"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons.iter().all(|r| r.contains("not a participant")),
        "{reasons:?}"
    );
    // The case's own agency ISO, authenticated, may add what is missing.
    let raw = mail(
        &format!("From: Ivy Iso <{}>\r\n{}", p.iso, pass_for("agency.test")),
        &gw.soc,
        &format!("RE: [{tid}] Received: Suspicious login"),
        "Phone: 617-555-0102",
    );
    send_smtp(stack, &p.iso, &[gw.soc.as_str()], &raw).await;
    wait_until("the ISO's answer applied", Duration::from_secs(30), || {
        (case(&gw, &tid)["fields"]["reporter_phone"]["value"] == "+16175550102").then_some(())
    });
    assert!(gw.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_authentication_and_from_headers_change_nothing() {
    let stack = MailStack::shared();
    let p = People::new();
    let mut gw = gateway(stack, &p, &[]);
    let tid = open_case(stack, &gw, &p).await;
    let subject = format!("RE: [{tid}] Received: Suspicious login");
    let r = &p.reporter;
    let variants = [
        // Our server's verdict (topmost) is a fail; the sender wrote a pass below it.
        format!("Authentication-Results: mx.mass.gov; dmarc=fail header.from=agency.test\r\nFrom: Rita <{r}>\r\nAuthentication-Results: mx.mass.gov; dmarc=pass header.from=agency.test\r\n"),
        // A pass, but for another domain than the From's.
        format!("Authentication-Results: mx.mass.gov; dmarc=pass header.from=evil.test\r\nFrom: Rita <{r}>\r\n"),
        // Two From headers.
        format!("{}From: Mallory <mallory@evil.test>\r\nFrom: Rita <{r}>\r\n", pass_for("agency.test")),
        // Two addresses in one From.
        format!("{}From: Rita <{r}>, Mallory <mallory@evil.test>\r\n", pass_for("agency.test")),
    ];
    for (i, headers) in variants.iter().enumerate() {
        let raw = mail(
            headers,
            &gw.soc,
            &subject,
            &format!("Phone: 617-555-010{i}\r\nAgency: Office of Others"),
        );
        send_unverified(stack, &gw, &tid, r, &raw).await;
    }
    let c = case(&gw, &tid);
    assert!(c["fields"]["reporter_phone"].is_null(), "no field changed");
    assert_eq!(c["fields"]["agency"]["value"], "Department of Testing");
    let reasons: Vec<String> = events(&c, "unverified_correspondence")
        .iter()
        .map(|e| e["detail"]["reason"].to_string())
        .collect();
    assert!(reasons[0].contains("dmarc=fail"), "{reasons:?}");
    assert!(reasons[1].contains("not the From domain"), "{reasons:?}");
    assert!(reasons[2].contains("From headers"), "{reasons:?}");
    assert!(reasons[3].contains("addresses"), "{reasons:?}");
    // Nothing that reached the reporter's mailbox since the acknowledgement names the case.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while fetch_all(stack, r, "INBOX").await.len() < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "the receipts did not arrive:\n{}",
            gw.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for m in &fetch_all(stack, r, "INBOX").await[1..] {
        assert!(
            !text(m).contains(&tid),
            "a receipt names no case:\n{}",
            text(m)
        );
    }
    // The genuine article still counts.
    let raw = mail(
        &format!("From: Rita <{r}>\r\n{}", pass_for("agency.test")),
        &gw.soc,
        &subject,
        "Phone: 617-555-0109",
    );
    send_smtp(stack, r, &[gw.soc.as_str()], &raw).await;
    wait_until("the genuine reply applied", Duration::from_secs(30), || {
        (case(&gw, &tid)["fields"]["reporter_phone"]["value"] == "+16175550109").then_some(())
    });
    assert!(gw.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_bounce_to_the_messages_own_envelope_sender_counts() {
    let stack = MailStack::shared();
    let p = People::new();
    let mut gw = gateway(stack, &p, &[]);
    let tid = open_case(stack, &gw, &p).await;
    let ack = fetch_all(stack, &p.reporter, "INBOX").await.remove(0);
    let ack_mid = header(&ack, "Message-ID").expect("ack Message-ID");
    let return_path = header(&ack, "Return-Path").expect("Return-Path");
    assert!(
        return_path.contains("+bounce-"),
        "the acknowledgement went out with its own envelope sender: {return_path}"
    );

    // A forged bounce quoting the acknowledgement's Message-ID, sent to the SOC address.
    let forged = format!(
        "From: Mail Delivery System <MAILER-DAEMON@agency.test>\r\nTo: {soc}\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{u}@agency.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n<{r}>: user unknown\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; {r}\r\nAction: failed\r\nStatus: 5.1.1\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {ack_mid}\r\nTo: {r}\r\n--b--\r\n",
        soc = gw.soc,
        r = p.reporter,
        u = uuid::Uuid::new_v4().simple(),
    );
    send_smtp(stack, "", &[gw.soc.as_str()], forged.as_bytes()).await;
    wait_until("the forged bounce stored", Duration::from_secs(30), || {
        let q = gw.cli_json(&["quarantine", "list", "--json"]);
        q.as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "bounce")
            .then_some(())
    });
    let c = case(&gw, &tid);
    assert_eq!(c["reporter_undeliverable"], false, "{c}");

    // A report from an address whose mail bounces: Postfix writes the DSN to the
    // acknowledgement's envelope sender, and that marks the reporter undeliverable.
    let gone = "gone@agency.test";
    let (_, raw) = report(
        gone,
        &gw.soc,
        "Lost badge",
        "I lost my badge.\nAgency: Department of Testing",
    );
    send_smtp(stack, gone, &[gw.soc.as_str()], &raw).await;
    wait_until(
        "the real bounce to mark the reporter undeliverable",
        Duration::from_secs(60),
        || {
            gw.cases()
                .iter()
                .find(|c| c["reporter_email"] == gone)
                .filter(|c| c["reporter_undeliverable"] == true)
                .map(|_| ())
        },
    );
    assert!(gw.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_incident_notices_are_rate_limited_and_flag_unauthenticated_senders() {
    let stack = MailStack::shared();
    let p = People::new();
    let mut gw = gateway(
        stack,
        &p,
        &[("IGW_UPDATES__NEW_CASE_NOTICES_PER_AGENCY_PER_HOUR", "4")],
    );
    let u = uuid::Uuid::new_v4().simple().to_string();
    let (a, b) = (
        format!("loop-a-{u}@agency.test"),
        format!("loop-b-{u}@agency.test"),
    );
    // Five reports from one sender whose mail failed DMARC, then two from another.
    for (i, who) in [&a, &a, &a, &a, &a, &b, &b].iter().enumerate() {
        let raw = mail(
            &format!("From: <{who}>\r\nAuthentication-Results: mx.mass.gov; dmarc=fail header.from=agency.test\r\n"),
            &gw.soc,
            &format!("Urgent incident {i}"),
            "Ransomware on the file server.\r\nAgency: Department of Testing",
        );
        send_smtp(stack, who, &[gw.soc.as_str()], &raw).await;
    }
    wait_until("seven cases", Duration::from_secs(60), || {
        (gw.cases().len() == 7).then_some(())
    });
    // Three for the first sender (per sender), one more for the second (per agency: 4).
    let notices = wait_mail(stack, &gw, &p.scio, 4).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fetch_all(stack, &p.scio, "INBOX").await.len(), 4);
    for n in &notices {
        let t = text(n);
        assert!(t.contains("Sender not verified"), "flagged:\n{t}");
        assert!(t.contains("dmarc=fail"), "says why:\n{t}");
    }
    let limited: Vec<serde_json::Value> = gw
        .cases()
        .iter()
        .map(|c| case(&gw, c["tracking_id"].as_str().unwrap()))
        .filter(|c| !events(c, "scio_notice_rate_limited").is_empty())
        .collect();
    assert_eq!(limited.len(), 3, "three cases wait for an analyst");
    assert!(limited.iter().all(|c| c["needs_review"] == true));
    assert!(gw.terminate().success());
}
