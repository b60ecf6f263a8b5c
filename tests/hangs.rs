//! Servers that stop answering, on the real Dovecot behind a loopback relay that the
//! test can freeze (it forwards bytes to Dovecot and, once frozen, forwards nothing:
//! the gateway sees a live TCP connection and a silent server). The gateway notices
//! within its timeouts, says so in the log, reconnects when the server answers again,
//! and SIGTERM completes within 10 s.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::gateway::{report, wait_mail, Gateway, Wire};
use common::mailbox::send_smtp;
use common::stack::MailStack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP relay to `target` on loopback; `frozen` stops it forwarding anything.
struct Relay {
    port: u16,
    frozen: Arc<AtomicBool>,
}

impl Relay {
    async fn start(target: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let port = listener.local_addr().expect("addr").port();
        let frozen = Arc::new(AtomicBool::new(false));
        let f = frozen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, f.clone()));
                tokio::spawn(pipe(sr, cw, f.clone()));
            }
        });
        Relay { port, frozen }
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if frozen.load(Ordering::SeqCst) {
            // Hold the connection open and say nothing, as a hung server does.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let n = match tokio::time::timeout(Duration::from_millis(100), from.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => n,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn stop_within_10s(gw: &mut Gateway) {
    let t = Instant::now();
    assert!(gw.terminate().success());
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "SIGTERM took {took:?}:\n{}",
        gw.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_imap_server_is_noticed_and_does_not_hold_up_shutdown() {
    let stack = MailStack::shared();
    let relay = Relay::start(stack.imap_port).await;
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    let port = relay.port.to_string();
    let env = [
        ("IGW_IMAP__PORT", port.as_str()),
        ("IGW_IMAP__IDLE_RENEW_SECS", "10"),
    ];
    gw.start(&env);
    gw.wait_log("IMAP intake connected", Duration::from_secs(30));
    let who = format!("hung-{}@agency.test", uuid::Uuid::new_v4().simple());
    let (_, raw) = report(&who, &gw.soc, "Phishing email", "A phish.");
    send_smtp(stack, &who, &[gw.soc.as_str()], &raw).await;
    wait_mail(stack, &gw, &who, 1).await;

    // The server goes silent while the gateway is in IDLE: noticed at the renewal on
    // our clock (10 s) plus the command timeout (30 s), not at the server's whim.
    relay.frozen.store(true, Ordering::SeqCst);
    let t = Instant::now();
    gw.wait_log("IMAP intake interrupted", Duration::from_secs(60));
    eprintln!("silent IMAP server noticed after {:?}", t.elapsed());
    // It answers again: intake resumes by itself.
    relay.frozen.store(false, Ordering::SeqCst);
    let who2 = format!("hung2-{}@agency.test", uuid::Uuid::new_v4().simple());
    let (_, raw) = report(&who2, &gw.soc, "Phishing again", "Another phish.");
    send_smtp(stack, &who2, &[gw.soc.as_str()], &raw).await;
    wait_mail(stack, &gw, &who2, 1).await;

    // Silent again, and a shutdown in the middle of it.
    relay.frozen.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_within_10s(&mut gw);
}
