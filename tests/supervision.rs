//! `run` supervises its tasks: one that panics is logged, shown in `/healthz` and
//! `/metrics`, and started again, and the mail it was to send still goes out once.

mod common;

use std::time::Duration;

use common::gateway::{report, wait_mail, Gateway, Wire};
use common::mailbox::send_smtp;
use common::stack::MailStack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_panics_is_restarted_and_reported() {
    let stack = MailStack::shared();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut gw = Gateway::new(
        stack,
        Wire::Plain,
        &format!("[web]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    gw.start(&[("IGW_FAILPOINT", "panic-once:outbox")]);
    let who = format!("sup-{}@agency.test", uuid::Uuid::new_v4().simple());
    let (_, raw) = report(&who, &gw.soc, "Phishing email", "A phish.");
    send_smtp(stack, &who, &[gw.soc.as_str()], &raw).await;
    assert_eq!(wait_mail(stack, &gw, &who, 1).await.len(), 1);
    gw.wait_log(
        "task stopped unexpectedly; restarting it",
        Duration::from_secs(10),
    );
    assert!(gw.log_text().contains("panic-once:outbox"));

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let health = loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            let status = r.status();
            break (status, r.text().await.expect("body"));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the UI never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health.0, 200, "{}", health.1);
    assert!(
        health
            .1
            .contains("task outbox: running, 1 restart(s); last error: it panicked"),
        "{}",
        health.1
    );
    assert!(
        health.1.contains("task imap: running, 0 restart(s)"),
        "{}",
        health.1
    );
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert!(
        metrics.contains("igw_task_restarts_total{task=\"outbox\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("igw_task_up{task=\"outbox\"} 1"),
        "{metrics}"
    );
    assert!(gw.terminate().success());
}
