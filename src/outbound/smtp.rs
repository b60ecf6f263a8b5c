//! The SMTP client: our own TCP connection with TCP_NODELAY (lettre writes the final
//! `\r\n.\r\n` of a message as a write of its own; with Nagle's algorithm and the
//! server's delayed ACK it waited ~40 ms), lettre's protocol code over it, and a time
//! limit on every step and on the whole send.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism, DEFAULT_MECHANISMS};
#[allow(deprecated)]
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::net::{await_plain_greeting, error_chain, explain_tls};
use crate::config::Security;

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpFailure {
    /// 5xx: the server refused it for good.
    Permanent(String),
    /// A 4xx for this message (a recipient, its size): try it again later.
    Temporary(String),
    /// The server could not be reached or stopped answering (no connection, a
    /// timeout, 421, a broken connection): try again later, and as soon as any
    /// other message gets through.
    Unreachable(String),
}

impl SmtpFailure {
    pub fn text(&self) -> &str {
        match self {
            SmtpFailure::Permanent(e) | SmtpFailure::Temporary(e) | SmtpFailure::Unreachable(e) => {
                e
            }
        }
    }

    /// Before a message is under way, any temporary failure is the server's.
    fn server_wide(self) -> Self {
        match self {
            SmtpFailure::Temporary(e) => SmtpFailure::Unreachable(e),
            other => other,
        }
    }
}

/// Connections kept open for the next send: a burst of acknowledgements goes over a
/// few connections instead of a new one (TCP, TLS, EHLO, AUTH) per message.
#[derive(Default)]
struct Pool {
    idle: std::sync::Mutex<Vec<Idle>>,
}

/// An open connection between sends.
struct Idle {
    conn: AsyncSmtpConnection,
    since: Instant,
    /// Messages sent over it so far.
    used: u32,
}

/// Most connections kept open between sends.
const POOL_MAX_IDLE: usize = 8;
/// A connection unused for this long is closed rather than used again (servers time
/// idle clients out; Postfix after 300 s, Exchange Online sooner).
const POOL_IDLE_FOR: Duration = Duration::from_secs(20);
/// Messages sent over one connection before it is closed and a new one opened.
const POOL_MAX_USES: u32 = 100;

impl Pool {
    /// The most recently used open connection that is not too old, if any; the stale
    /// ones are closed.
    fn take(&self, step: Duration) -> Option<Idle> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(i) = idle.pop() {
            if i.since.elapsed() < POOL_IDLE_FOR {
                return Some(i);
            }
            quit_later(i.conn, step);
        }
        None
    }

    fn put(&self, conn: AsyncSmtpConnection, used: u32, step: Duration) {
        if used >= POOL_MAX_USES {
            return quit_later(conn, step);
        }
        match self.idle.lock() {
            Ok(mut idle) if idle.len() < POOL_MAX_IDLE => idle.push(Idle {
                conn,
                since: Instant::now(),
                used,
            }),
            _ => quit_later(conn, step),
        }
    }
}

/// Says QUIT in the background (nothing waits for a goodbye).
fn quit_later(mut conn: AsyncSmtpConnection, step: Duration) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(step, conn.quit()).await;
    });
}

/// Connection settings for one SMTP server, and the connections kept open between
/// sends (clones share them).
#[derive(Clone)]
pub struct SmtpClient {
    host: String,
    port: u16,
    security: Security,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    /// AUTH XOAUTH2 as this mailbox with tokens from this source (instead of a password).
    oauth2: Option<(String, std::sync::Arc<crate::oauth2::TokenSource>)>,
    /// The limit of each step: connect, greeting and EHLO, TLS, AUTH, each command.
    step: Duration,
    hello: ClientId,
    pool: std::sync::Arc<Pool>,
}

/// An accepted message: the server's reply, and the connection it went over.
pub struct Accepted {
    pub reply: String,
    conn: AsyncSmtpConnection,
    used: u32,
    step: Duration,
    pool: std::sync::Arc<Pool>,
}

impl Accepted {
    /// Keeps the connection open for the next send (or closes it in the background
    /// when it has carried enough): the message is already accepted, and nothing may
    /// stand between the server's acceptance and marking it sent.
    pub fn keep(self) {
        self.pool.put(self.conn, self.used, self.step);
    }
}

impl SmtpClient {
    pub fn new(
        host: &str,
        port: u16,
        security: Security,
        tls: Option<TlsParameters>,
        credentials: Option<Credentials>,
        step: Duration,
    ) -> Self {
        Self {
            host: host.to_string(),
            port,
            security,
            tls,
            credentials,
            oauth2: None,
            step: step.max(Duration::from_secs(1)),
            hello: ClientId::default(),
            pool: std::sync::Arc::default(),
        }
    }

    /// Logs in with AUTH XOAUTH2 as `user` (the mailbox address) instead of a password.
    pub fn with_oauth2(
        mut self,
        user: &str,
        tokens: std::sync::Arc<crate::oauth2::TokenSource>,
    ) -> Self {
        self.oauth2 = Some((user.to_string(), tokens));
        self
    }

    fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The time to transmit `size` bytes at a slow 256 KiB/s.
    fn transmit_allowance(size: usize) -> Duration {
        Duration::from_secs((size / (256 * 1024)) as u64)
    }

    /// Sends one message. `Ok` only on the server's 250 to the final dot.
    pub async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<Accepted, SmtpFailure> {
        // Every step of the connection, MAIL, RCPT, DATA and the message: a last
        // bound in case a step's own limit were ever missed.
        let steps = 10 + envelope.to().len() as u32;
        let limit = self.step * steps + Self::transmit_allowance(raw.len());
        let attempt = async {
            // An open connection first. One the server has closed meanwhile fails
            // before the message is under way, so the message then goes over a new one;
            // so does one that failed for this message's envelope (a fresh connection
            // gives the server's own answer).
            let (mut conn, used) = match self.pool.take(self.step) {
                Some(mut idle) => match self.begin(&mut idle.conn, envelope, raw).await {
                    Ok(()) => (idle.conn, idle.used),
                    Err(e) => {
                        tracing::debug!(error = %e.text(), "an open SMTP connection failed before the message; a new one is used");
                        quit_later(idle.conn, self.step);
                        let mut conn = self.connect().await?;
                        self.begin(&mut conn, envelope, raw).await?;
                        (conn, 0)
                    }
                },
                None => {
                    let mut conn = self.connect().await?;
                    self.begin(&mut conn, envelope, raw).await?;
                    (conn, 0)
                }
            };
            let resp = self.message(&mut conn, raw).await?;
            Ok(Accepted {
                reply: format!(
                    "{} {}",
                    resp.code(),
                    resp.message().collect::<Vec<_>>().join(" ")
                ),
                conn,
                used: used + 1,
                step: self.step,
                pool: self.pool.clone(),
            })
        };
        match tokio::time::timeout(limit, attempt).await {
            Ok(r) => r,
            Err(_) => Err(SmtpFailure::Unreachable(format!(
                "sending through SMTP server {} took over {} s; given up for now",
                self.addr(),
                limit.as_secs()
            ))),
        }
    }

    /// MAIL FROM, RCPT TO for each recipient and DATA, each within its limit.
    async fn begin(
        &self,
        conn: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        raw: &[u8],
    ) -> Result<(), SmtpFailure> {
        let mut params = Vec::new();
        let non_ascii = envelope
            .from()
            .into_iter()
            .chain(envelope.to())
            .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err(SmtpFailure::Temporary(format!(
                    "SMTP server {} does not offer SMTPUTF8, needed for a non-ASCII address",
                    self.addr()
                )));
            }
            params.push(MailParameter::SmtpUtfEight);
        }
        if !raw.is_ascii() {
            if !conn.server_info().supports_feature(Extension::EightBitMime) {
                return Err(SmtpFailure::Temporary(format!(
                    "SMTP server {} does not offer 8BITMIME, needed for this message",
                    self.addr()
                )));
            }
            params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        self.command(
            conn,
            "MAIL FROM",
            Mail::new(envelope.from().cloned(), params),
        )
        .await?;
        for to in envelope.to() {
            self.command(conn, "RCPT TO", Rcpt::new(to.clone(), Vec::new()))
                .await?;
        }
        self.command(conn, "DATA", Data).await?;
        Ok(())
    }

    /// The message after DATA, within the step limit plus time to transmit it.
    async fn message(
        &self,
        conn: &mut AsyncSmtpConnection,
        raw: &[u8],
    ) -> Result<Response, SmtpFailure> {
        let limit = self.step + Self::transmit_allowance(raw.len());
        match tokio::time::timeout(limit, conn.message(raw)).await {
            Ok(r) => r.map_err(|e| self.failure(&e)),
            Err(_) => Err(SmtpFailure::Unreachable(format!(
                "SMTP server {} did not answer the message within {} s (outcome unknown; it is sent again with the same Message-ID)",
                self.addr(),
                limit.as_secs()
            ))),
        }
    }

    async fn command<C: std::fmt::Display>(
        &self,
        conn: &mut AsyncSmtpConnection,
        what: &str,
        command: C,
    ) -> Result<Response, SmtpFailure> {
        self.timed(what, conn.command(command))
            .await?
            .map_err(|e| self.failure(&e))
    }

    /// Connects, says hello and NOOP, and QUIT (for `check-config`).
    pub async fn test_connection(&self) -> Result<(), String> {
        let check = async {
            let mut conn = self.connect().await.map_err(|f| f.text().to_string())?;
            let noop = self.timed("NOOP", conn.test_connected()).await;
            let _ = tokio::time::timeout(self.step, conn.quit()).await;
            match noop {
                Ok(true) => Ok(()),
                Ok(false) => Err("the server did not answer NOOP".to_string()),
                Err(f) => Err(f.text().to_string()),
            }
        };
        match tokio::time::timeout(self.step * 6, check).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no complete answer within {} s",
                (self.step * 6).as_secs()
            )),
        }
    }

    async fn timed<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = T>,
    ) -> Result<T, SmtpFailure> {
        tokio::time::timeout(self.step, fut).await.map_err(|_| {
            SmtpFailure::Unreachable(format!(
                "SMTP server {} did not answer {what} within {} s",
                self.addr(),
                self.step.as_secs()
            ))
        })
    }

    fn failure(&self, e: &lettre::transport::smtp::Error) -> SmtpFailure {
        let chain = error_chain(e);
        let text = format!(
            "SMTP server {}: {chain}{}",
            self.addr(),
            exchange_hint(&chain)
        );
        let text = if e.is_tls() || text.contains("certificate") {
            explain_tls(&text)
        } else {
            text
        };
        let code = e.status().map(|c| c.to_string());
        if e.is_permanent() {
            SmtpFailure::Permanent(text)
        } else if (e.is_transient() && code.as_deref() != Some("421")) || e.is_client() {
            SmtpFailure::Temporary(text)
        } else {
            SmtpFailure::Unreachable(text)
        }
    }

    /// TCP (no Nagle delay), TLS if `tls`, greeting and EHLO, STARTTLS if
    /// `starttls`, AUTH if credentials are set; each step within its limit.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SmtpFailure> {
        let addr = self.addr();
        let tcp = self
            .timed(
                "the connection",
                TcpStream::connect((self.host.as_str(), self.port)),
            )
            .await?
            .map_err(|e| {
                SmtpFailure::Unreachable(format!("cannot connect to SMTP server {addr}: {e}"))
            })?;
        tcp.set_nodelay(true).map_err(|e| {
            SmtpFailure::Unreachable(format!(
                "cannot set TCP_NODELAY on the connection to {addr}: {e}"
            ))
        })?;
        let stream: Box<dyn AsyncTokioStream> = match (&self.security, &self.tls) {
            (Security::Tls, Some(params)) => {
                #[allow(deprecated)]
                let mut s = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
                self.timed("the TLS handshake", s.upgrade_tls(params.clone()))
                    .await?
                    .map_err(|e| self.failure(&e).server_wide())?;
                Box::new(TlsOverTcp(s))
            }
            // STARTTLS begins in plain text too: a TLS port is recognised either way.
            (Security::None | Security::Starttls, _) => {
                await_plain_greeting(&tcp, &self.host, self.port, self.step)
                    .await
                    .map_err(|e| SmtpFailure::Unreachable(format!("SMTP server {addr}: {e}")))?;
                Box::new(tcp)
            }
            (Security::Tls, None) => Box::new(tcp),
        };
        let mut conn = self
            .timed(
                "the greeting and EHLO",
                AsyncSmtpConnection::connect_with_transport(stream, &self.hello),
            )
            .await?
            .map_err(|e| self.failure(&e).server_wide())?;
        if let (Security::Starttls, Some(params)) = (&self.security, &self.tls) {
            self.timed("STARTTLS", conn.starttls(params.clone(), &self.hello))
                .await?
                .map_err(|e| self.failure(&e).server_wide())?;
        }
        if let Some(credentials) = &self.credentials {
            self.timed("AUTH", conn.auth(DEFAULT_MECHANISMS, credentials))
                .await?
                .map_err(|e| self.failure(&e).server_wide())?;
        }
        if let Some((user, tokens)) = &self.oauth2 {
            self.xoauth2(&mut conn, user, tokens).await?;
        }
        Ok(conn)
    }

    /// AUTH XOAUTH2 written here rather than through lettre's `auth`, which cannot answer
    /// the server's JSON error challenge (and so loses the refusal's text). A refused
    /// token is replaced once by a fresh one.
    async fn xoauth2(
        &self,
        conn: &mut AsyncSmtpConnection,
        user: &str,
        tokens: &crate::oauth2::TokenSource,
    ) -> Result<(), SmtpFailure> {
        use base64::Engine as _;
        if !conn
            .server_info()
            .supports_auth_mechanism(Mechanism::Xoauth2)
        {
            return Err(SmtpFailure::Unreachable(format!(
                "SMTP server {} does not offer AUTH XOAUTH2 (with [smtp] auth = \"oauth2\"; Exchange Online: smtp.office365.com:587 with security = \"starttls\")",
                self.addr()
            )));
        }
        for attempt in 1..=2 {
            let token = tokens.token().await.map_err(|e| {
                SmtpFailure::Unreachable(format!("{e} (needed for the SMTP login)"))
            })?;
            let initial = base64::engine::general_purpose::STANDARD
                .encode(crate::oauth2::xoauth2(user, &token));
            let first = self
                .timed(
                    "AUTH",
                    conn.command(SaslLine(format!("AUTH XOAUTH2 {initial}"))),
                )
                .await?;
            let outcome: Result<(), String> = match first {
                // 334 and a JSON error: an empty line ends the exchange with the refusal.
                Ok(r) if r.has_code(334) => {
                    let detail = r.message().collect::<Vec<_>>().join(" ");
                    let detail = base64::engine::general_purpose::STANDARD
                        .decode(detail.trim())
                        .map(|d| String::from_utf8_lossy(&d).into_owned())
                        .unwrap_or(detail);
                    match self
                        .timed("AUTH", conn.command(SaslLine(String::new())))
                        .await?
                    {
                        Ok(_) => Err(format!("the server's error: {detail}")),
                        Err(e) => Err(format!(
                            "{} (the server's error: {detail})",
                            error_chain(&e)
                        )),
                    }
                }
                Ok(_) => return Ok(()),
                Err(e) => Err(error_chain(&e)),
            };
            let Err(reason) = outcome else { return Ok(()) };
            tokens.rejected(&token).await;
            let reason = format!(
                "SMTP server {} refused AUTH XOAUTH2 as {user}: {reason}{}",
                self.addr(),
                exchange_hint(&reason)
            );
            if attempt == 2 || token.is_fresh() {
                return Err(if reason.contains(" 4.") || reason.contains("421") {
                    SmtpFailure::Unreachable(reason)
                } else {
                    SmtpFailure::Permanent(reason)
                });
            }
            tracing::warn!(%reason, "SMTP refused the OAuth2 token; trying once more with a new token");
        }
        Ok(())
    }
}

/// One line of a SASL exchange, sent as it is.
struct SaslLine(String);

impl std::fmt::Display for SaslLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\r\n", self.0)
    }
}

/// What an Exchange Online enhanced status code in a refusal means for the administrator.
pub fn exchange_hint(text: &str) -> &'static str {
    const HINTS: &[(&str, &str)] = &[
        ("5.7.139", " (Exchange Online: SMTP AUTH is disabled for this mailbox or the tenant: Set-CASMailbox -SmtpClientAuthenticationDisabled $false)"),
        ("5.7.3", " (Exchange Online: the token was not accepted: check the SMTP.SendAsApp permission with admin consent, the service principal and the mailbox permission)"),
        ("5.7.57", " (Exchange Online: the client was not authenticated: AUTH must succeed before MAIL FROM)"),
        ("5.7.60", " (Exchange Online: the app may not send as this From address: grant SendAs or use the mailbox's own address)"),
        ("5.7.708", " (Exchange Online: the tenant is restricted from sending: ask the Microsoft 365 administrator)"),
        ("5.2.252", " (Exchange Online: SendAsDenied: the mailbox may not send as this address)"),
        ("4.7.0", " (Exchange Online: temporary refusal, often throttling: retried later)"),
        ("4.3.2", " (Exchange Online: throttled or the service is busy: retried later)"),
        ("4.7.500", " (Exchange Online: too many connections or messages right now: retried later)"),
    ];
    HINTS
        .iter()
        .find(|(code, _)| text.contains(code))
        .map(|(_, hint)| *hint)
        .unwrap_or("")
}

/// lettre's TLS stream (futures-io) seen as a tokio stream, so that a connection we
/// opened and wrapped in TLS ourselves can be handed to lettre.
#[allow(deprecated)]
#[derive(Debug)]
struct TlsOverTcp(AsyncNetworkStream);

impl AsyncRead for TlsOverTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let dst = buf.initialize_unfilled();
        match futures::io::AsyncRead::poll_read(Pin::new(&mut self.get_mut().0), cx, dst) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for TlsOverTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures::io::AsyncWrite::poll_write(Pin::new(&mut self.get_mut().0), cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::io::AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().0), cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::io::AsyncWrite::poll_close(Pin::new(&mut self.get_mut().0), cx)
    }
}

impl AsyncTokioStream for TlsOverTcp {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}
