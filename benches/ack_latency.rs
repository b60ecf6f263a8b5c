//! Benchmark: time from the SMTP submission of a report to its acknowledgement in
//! the reporter's mailbox, through a real Postfix + Dovecot and the real gateway.
//!
//! Run as root (it starts a private mail stack): `cargo bench --bench ack_latency`
//! (`IGW_BENCH_REPORTS=N` for another count than 20). Under `cargo test` it does nothing.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::gateway::{report, Gateway, Wire};
use common::mailbox::{fetch_all, send_smtp};
use common::stack::MailStack;

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("ack_latency: a benchmark; run it with `cargo bench --bench ack_latency`");
        return;
    }
    let n: usize = std::env::var("IGW_BENCH_REPORTS")
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or(20)
        .max(1);
    let stack = MailStack::start();
    let mut gw = Gateway::new(&stack, Wire::Plain, "");
    gw.start(&[]);
    // One warm-up report, so the first measurement is not the gateway's start-up.
    let warm = format!("warm-{}@agency.test", uuid::Uuid::new_v4().simple());
    let (_, raw) = report(&warm, &gw.soc, "warm-up", "warm-up");
    send_smtp(&stack, &warm, &[gw.soc.as_str()], &raw).await;
    wait_one(&stack, &warm, Duration::from_secs(60)).await;

    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let who = format!("bench-{}@agency.test", uuid::Uuid::new_v4().simple());
        let (_, raw) = report(
            &who,
            &gw.soc,
            &format!("Benchmark report {i}"),
            "A user clicked a link.",
        );
        let start = Instant::now();
        send_smtp(&stack, &who, &[gw.soc.as_str()], &raw).await;
        wait_one(&stack, &who, Duration::from_secs(60)).await;
        let t = start.elapsed();
        println!("report {i:>2}: {:>7.1} ms", t.as_secs_f64() * 1000.0);
        times.push(t);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = if n % 2 == 1 {
        ms(times[n / 2])
    } else {
        (ms(times[n / 2 - 1]) + ms(times[n / 2])) / 2.0
    };
    println!(
        "{n} reports: SMTP submit -> acknowledgement in the reporter's INBOX: median {median:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(times[0]),
        ms(times[n - 1])
    );
    gw.terminate();
}

async fn wait_one(stack: &MailStack, who: &str, timeout: Duration) {
    let start = Instant::now();
    // Poll quickly: the poll interval bounds the measurement's resolution.
    while fetch_all(stack, who, "INBOX").await.is_empty() {
        assert!(
            start.elapsed() < timeout,
            "no acknowledgement for {who} within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
