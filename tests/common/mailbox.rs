//! Test-side mail: submit through Postfix, read and append over IMAP.

use std::time::Duration;

use async_imap::Session;
use futures::TryStreamExt;
use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::net::TcpStream;

use super::stack::MailStack;

/// Submits raw bytes through Postfix; `from = ""` sends with the null sender `<>`.
pub async fn send_smtp(stack: &MailStack, from: &str, to: &[&str], raw: &[u8]) {
    let from = if from.is_empty() {
        None
    } else {
        Some(from.parse().expect("valid sender"))
    };
    let to = to
        .iter()
        .map(|t| t.parse().expect("valid recipient"))
        .collect();
    let envelope = Envelope::new(from, to).expect("envelope");
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(stack.smtp_port)
        .timeout(Some(Duration::from_secs(10)))
        .build();
    if let Err(e) = smtp.send_raw(&envelope, raw).await {
        panic!("Postfix refused the test message: {e:?}");
    }
}

pub type TestSession = Session<TcpStream>;

/// Plain IMAP login as `user` (any user works with the stack's password).
pub async fn imap_session(stack: &MailStack, user: &str) -> TestSession {
    let tcp = TcpStream::connect(("127.0.0.1", stack.imap_port))
        .await
        .expect("connect IMAP");
    tcp.set_nodelay(true).expect("nodelay");
    let mut client = async_imap::Client::new(tcp);
    client
        .read_response()
        .await
        .expect("IMAP greeting")
        .expect("IMAP greeting");
    client
        .login(user, &stack.password)
        .await
        .map_err(|(e, _)| e)
        .expect("IMAP login")
}

/// Every message of a folder, raw (empty if the folder does not exist yet).
pub async fn fetch_all(stack: &MailStack, user: &str, mailbox: &str) -> Vec<Vec<u8>> {
    let mut s = imap_session(stack, user).await;
    let out = match s.examine(mailbox).await {
        Ok(mb) if mb.exists > 0 => {
            let fetches: Vec<_> = s
                .uid_fetch("1:*", "(UID BODY.PEEK[])")
                .await
                .expect("UID FETCH")
                .try_collect()
                .await
                .expect("fetch stream");
            fetches
                .iter()
                .filter_map(|f| f.body().map(|b| b.to_vec()))
                .collect()
        }
        _ => Vec::new(),
    };
    let _ = s.logout().await;
    out
}

/// Polls every 100 ms until the folder holds at least `n` messages.
pub async fn wait_for_count(
    stack: &MailStack,
    user: &str,
    mailbox: &str,
    n: usize,
    timeout: Duration,
) -> Vec<Vec<u8>> {
    match try_wait_for_count(stack, user, mailbox, n, timeout).await {
        Ok(msgs) => msgs,
        Err(seen) => panic!("{user}/{mailbox}: {seen} message(s) after {timeout:?}, wanted {n}"),
    }
}

/// As [`wait_for_count`]; `Err(count seen)` on timeout, for callers that add context.
pub async fn try_wait_for_count(
    stack: &MailStack,
    user: &str,
    mailbox: &str,
    n: usize,
    timeout: Duration,
) -> Result<Vec<Vec<u8>>, usize> {
    let start = tokio::time::Instant::now();
    loop {
        let msgs = fetch_all(stack, user, mailbox).await;
        if msgs.len() >= n {
            return Ok(msgs);
        }
        if start.elapsed() > timeout {
            return Err(msgs.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stores a message straight into a folder (as if delivered).
pub async fn append(stack: &MailStack, user: &str, mailbox: &str, raw: &[u8]) {
    let mut s = imap_session(stack, user).await;
    s.append(mailbox, None, None, raw)
        .await
        .expect("IMAP APPEND");
    let _ = s.logout().await;
}

/// A header's unfolded value.
pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let head = head.split("\n\n").next().unwrap_or("");
    let unfolded = head
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ")
        .replace("\n ", " ")
        .replace("\n\t", " ");
    let prefix = format!("{}:", name.to_ascii_lowercase());
    unfolded
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_string())
}
