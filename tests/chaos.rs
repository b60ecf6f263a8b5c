//! Exactly one acknowledgement per report under random SIGKILLs, on a private Postfix +
//! Dovecot: N reports wait in the SOC inbox, the gateway drains them while it is killed
//! K times at random moments (during intake and during sending) and started again, as
//! a service manager would. Then every reporter's mailbox is counted over IMAP.
//!
//! `IGW_CHAOS_REPORTS` and `IGW_CHAOS_KILLS` set the size (defaults 200 and 10 so CI
//! stays quick; the full run is 1000 and 50), `IGW_CHAOS_SEED` the schedule.

mod common;

use std::time::{Duration, Instant};

use common::gateway::{report, Gateway, Wire};
use common::mailbox::imap_session;
use common::rng::Rng;
use common::stack::MailStack;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn list(gw: &Gateway, what: &str) -> Vec<serde_json::Value> {
    gw.cli_json(&[what, "list", "--json", "--limit", "100000"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_acknowledgement_each_under_random_sigkills() {
    let n = env_or("IGW_CHAOS_REPORTS", 200) as usize;
    let kills = env_or("IGW_CHAOS_KILLS", 10);
    let mut rng = Rng(env_or("IGW_CHAOS_SEED", 0x5eed_1234).max(1));
    let stack = &MailStack::start();
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    // A sender killed mid-send leaves its lease; a short one keeps the test short.
    let env = [("IGW_OUTBOX__LEASE_SECS", "5")];

    let u = uuid::Uuid::new_v4().simple().to_string();
    let reporters: Vec<String> = (0..n)
        .map(|i| format!("chaos{i}-{}@agency.test", &u[..8]))
        .collect();
    let mut s = imap_session(stack, &gw.soc).await;
    for (i, who) in reporters.iter().enumerate() {
        let (_, raw) = report(
            who,
            &gw.soc,
            &format!("Phishing report {i}"),
            "A phishing email reached several staff.\nAgency: Department of Revenue",
        );
        s.append("INBOX", None, None, &raw).await.expect("append");
    }
    let _ = s.logout().await;

    // Kill it at random moments while it drains the inbox and sends the answers.
    let started = Instant::now();
    for _ in 0..kills {
        gw.start(&env);
        tokio::time::sleep(Duration::from_millis(rng.between(150, 900))).await;
        gw.kill();
    }
    gw.start(&env);
    let killed_for = started.elapsed();

    // Then let it finish.
    common::gateway::wait_until("every report stored", Duration::from_secs(600), || {
        (list(&gw, "cases").len() == n).then_some(())
    });
    common::gateway::wait_until(
        "every acknowledgement sent",
        Duration::from_secs(600),
        || {
            let rows = list(&gw, "outbound");
            (rows.len() >= n && rows.iter().all(|r| r["status"] == "sent")).then_some(())
        },
    );
    // Give a late duplicate time to arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (mut lost, mut doubled) = (Vec::new(), Vec::new());
    for who in &reporters {
        let mut s = imap_session(stack, who).await;
        let exists = match s.examine("INBOX").await {
            Ok(mb) => mb.exists,
            Err(_) => 0,
        };
        let _ = s.logout().await;
        match exists {
            0 => lost.push(who.clone()),
            1 => {}
            k => doubled.push(format!("{who}: {k}")),
        }
    }
    let log = gw.log_text();
    eprintln!(
        "chaos: {n} reports, {kills} SIGKILLs over {killed_for:?}: {} without an acknowledgement, {} with more than one; interrupted sends found in the sent folder: {}, sent again: {}",
        lost.len(),
        doubled.len(),
        log.matches("interrupted send was accepted").count(),
        log.matches("interrupted send not in the sent folder").count(),
    );
    assert!(lost.is_empty(), "no acknowledgement: {lost:?}");
    assert!(
        doubled.is_empty(),
        "more than one acknowledgement: {doubled:?}"
    );
    assert_eq!(list(&gw, "cases").len(), n, "one case per report");
    assert!(gw.terminate().success());
}
