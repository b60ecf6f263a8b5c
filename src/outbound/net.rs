//! Connection helpers shared by the SMTP client and the IMAP intake: telling a TLS
//! port from a plain one, and explaining TLS failures to the person fixing them.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Why a plain-text server's greeting did not come.
#[derive(Debug, thiserror::Error)]
pub enum GreetingError {
    /// The port answers a TLS ClientHello: it expects TLS from the first byte.
    #[error("the server expects TLS from the first byte (it answered a TLS hello) instead of greeting in plain text: set security = \"tls\" for this port")]
    SpeaksTls,
    #[error(
        "no greeting within {0} s (is this the right port? a TLS port would have been recognised)"
    )]
    Silent(u64),
    #[error("the server closed the connection before its greeting")]
    Closed,
    #[error("reading the greeting failed: {0}")]
    Io(io::Error),
}

/// Does a record start like TLS (handshake 0x16 or alert 0x15, version 3.x)?
fn looks_like_tls(first: &[u8]) -> bool {
    matches!(first, [0x15 | 0x16, 0x03, ..] | [0x15 | 0x16])
}

/// Waits until a plain-text server has sent its first bytes on `tcp` (without
/// consuming them), for at most `wait`.
///
/// A TLS port says nothing until the client starts TLS, so a plain connection to it
/// would simply time out. After a short silence a second connection sends a TLS
/// ClientHello; an answer that starts like a TLS record (`0x16 0x03`) means the port
/// speaks TLS, and the caller hears so at once instead of a bare timeout.
pub async fn await_plain_greeting(
    tcp: &TcpStream,
    host: &str,
    port: u16,
    wait: Duration,
) -> Result<(), GreetingError> {
    let deadline = Instant::now() + wait;
    let mut first = [0u8; 2];
    let quick = Duration::from_secs(2).min(wait);
    if let Ok(r) = tokio::time::timeout(quick, tcp.peek(&mut first)).await {
        return judge(r, &first);
    }
    let probe_wait = Duration::from_secs(3).min(deadline.saturating_duration_since(Instant::now()));
    if speaks_tls(host, port, probe_wait).await {
        return Err(GreetingError::SpeaksTls);
    }
    match tokio::time::timeout_at(deadline, tcp.peek(&mut first)).await {
        Ok(r) => judge(r, &first),
        Err(_) => Err(GreetingError::Silent(wait.as_secs())),
    }
}

fn judge(read: io::Result<usize>, first: &[u8]) -> Result<(), GreetingError> {
    match read {
        Ok(0) => Err(GreetingError::Closed),
        Ok(n) if looks_like_tls(&first[..n.min(first.len())]) => Err(GreetingError::SpeaksTls),
        Ok(_) => Ok(()),
        Err(e) => Err(GreetingError::Io(e)),
    }
}

/// Connects once more and sends a TLS ClientHello: does the answer start like TLS?
async fn speaks_tls(host: &str, port: u16, wait: Duration) -> bool {
    let Some(hello) = client_hello(host) else {
        return false;
    };
    let attempt = async {
        let mut s = TcpStream::connect((host, port)).await.ok()?;
        s.write_all(&hello).await.ok()?;
        let mut answer = [0u8; 2];
        s.read_exact(&mut answer).await.ok()?;
        Some(looks_like_tls(&answer))
    };
    matches!(tokio::time::timeout(wait, attempt).await, Ok(Some(true)))
}

/// The bytes of a TLS ClientHello for `host` (no certificate is ever checked: the
/// connection is dropped after the server's first bytes).
fn client_hello(host: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::ServerName;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string())
        .or_else(|_| ServerName::try_from("localhost".to_string()))
        .ok()?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).ok()?;
    let mut out = Vec::new();
    conn.write_tls(&mut out).ok()?;
    Some(out)
}

/// A TLS failure in words, with what to do about the common ones.
pub fn explain_tls(text: &str) -> String {
    let hint = if text.contains("CaUsedAsEndEntity") {
        Some("the server presents a CA certificate (basicConstraints CA:TRUE, OpenSSL 3's default for a self-signed certificate) as its own; issue the server a leaf certificate (CA:FALSE) signed by that CA and put the CA in ca_file, or point ca_file at the CA that signed the server's certificate")
    } else if text.contains("UnknownIssuer") {
        Some("the server's certificate is not signed by a CA we trust; point ca_file at the CA that signed it (PEM)")
    } else if text.contains("NotValidForName") {
        Some("the server's certificate does not name the configured host; set host to a name in the certificate")
    } else if text.contains("Expired") {
        Some("the server's certificate has expired")
    } else {
        None
    };
    match hint {
        Some(h) => format!("{text} ({h})"),
        None => text.to_string(),
    }
}

/// An error and its causes as one line, each distinct cause once (libraries often
/// print their source inside their own message as well).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !t.is_empty() && !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_records_are_recognised_and_greetings_are_not() {
        assert!(looks_like_tls(&[0x16, 0x03]));
        assert!(looks_like_tls(&[0x15, 0x03]));
        assert!(!looks_like_tls(b"22"));
        assert!(!looks_like_tls(b"* "));
    }

    #[test]
    fn a_ca_certificate_as_the_servers_own_says_what_to_do() {
        let t = explain_tls("invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))");
        assert!(t.contains("leaf certificate"), "{t}");
        assert!(t.contains("ca_file"), "{t}");
    }

    #[test]
    fn a_repeated_cause_is_printed_once() {
        #[derive(Debug)]
        struct Outer(io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "Connection error: {}", self.0)
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
        assert_eq!(error_chain(&e), "Connection error: refused");
    }
}
