//! IMAP intake: connect (TLS, STARTTLS or plain), wait with IDLE (or poll), fetch each
//! message, ingest it, and only after the commit move it to the processed folder.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::{Client, Session};
use chrono::Utc;
use futures::TryStreamExt;
use rustls::pki_types::ServerName;
use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::client::TlsStream;

use super::Pipeline;
use crate::config::{AuthMethod, ImapConfig, SaslMechanism, Security};
use crate::store::attempts;
use crate::store::messages::{self, Origin};
use crate::store::outbox;
use crate::store::StoreError;

/// What can go wrong talking to the IMAP server, phrased for the person fixing it.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to IMAP server {addr}: {source} (check [imap] host and port)")]
    Connect { addr: String, source: io::Error },
    #[error("TLS with IMAP server {addr} failed: {reason} (check [imap] security and ca_file)")]
    Tls { addr: String, reason: String },
    #[error("IMAP server {addr} refused the login of user '{user}': {reason} (check [imap] username and password)")]
    Login {
        addr: String,
        user: String,
        reason: String,
    },
    #[error("IMAP server {addr} refused the token login of mailbox '{user}': {reason}")]
    TokenLogin {
        addr: String,
        user: String,
        reason: String,
    },
    #[error("IMAP folder '{folder}' cannot be opened: {reason} (check [imap] mailbox / processed_mailbox)")]
    Folder { folder: String, reason: String },
    #[error(
        "IMAP server {addr} sent no greeting; is it an IMAP port? (check [imap] port and security)"
    )]
    Greeting {
        addr: String,
        #[source]
        source: Option<io::Error>,
    },
    #[error("IMAP server does not report UIDVALIDITY for '{0}'; UID checkpoints are impossible")]
    NoUidValidity(String),
    #[error("{0} (needed for the IMAP login)")]
    Token(#[from] crate::oauth2::OAuthError),
    /// The access token the session logged in with is about to expire: a new session
    /// logs in with a fresh one (Exchange Online ends sessions whose token expired).
    #[error("the OAuth2 token of this IMAP session is about to expire")]
    TokenSpent,
    #[error("IMAP protocol error: {0}")]
    Protocol(#[from] async_imap::error::Error),
    #[error("storing a message failed: {0}")]
    Store(#[from] StoreError),
    #[error("timed out after {0:?} waiting for the IMAP server")]
    Timeout(Duration),
}

/// A plain or TLS connection, so one session type serves every `security` setting.
pub enum ImapStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl fmt::Debug for ImapStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImapStream::Plain(_) => "ImapStream::Plain",
            ImapStream::Tls(_) => "ImapStream::Tls",
        })
    }
}

impl AsyncRead for ImapStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ImapStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub type ImapSession = Session<ImapStream>;

/// Every IMAP command must be answered within this; a silent server is a dead session.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a shutdown waits for the message in hand before dropping the session.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

async fn timed<T, E>(fut: impl std::future::Future<Output = Result<T, E>>) -> Result<T, ImapError>
where
    ImapError: From<E>,
{
    match tokio::time::timeout(IO_TIMEOUT, fut).await {
        Ok(r) => r.map_err(ImapError::from),
        Err(_) => Err(ImapError::Timeout(IO_TIMEOUT)),
    }
}

fn tls_connector(cfg: &ImapConfig) -> Result<tokio_rustls::TlsConnector, ImapError> {
    crate::tls::connector(cfg.ca_file.as_deref()).map_err(|e| ImapError::Tls {
        addr: format!("{}:{}", cfg.host, cfg.port()),
        reason: e.to_string(),
    })
}

async fn wrap_tls(cfg: &ImapConfig, tcp: TcpStream) -> Result<ImapStream, ImapError> {
    let addr = format!("{}:{}", cfg.host, cfg.port());
    let connector = tls_connector(cfg)?;
    let name = ServerName::try_from(cfg.host.clone()).map_err(|e| ImapError::Tls {
        addr: addr.clone(),
        reason: format!("'{}' is not a valid server name: {e}", cfg.host),
    })?;
    match tokio::time::timeout(IO_TIMEOUT, connector.connect(name, tcp)).await {
        Ok(Ok(s)) => Ok(ImapStream::Tls(Box::new(s))),
        Ok(Err(e)) => Err(ImapError::Tls {
            addr,
            reason: e.to_string(),
        }),
        Err(_) => Err(ImapError::Timeout(IO_TIMEOUT)),
    }
}

/// Connects and logs in. Errors say which setting to check.
pub async fn connect(cfg: &ImapConfig) -> Result<ImapSession, ImapError> {
    connect_until(cfg).await.map(|(s, _)| s)
}

/// Connects and logs in; with OAuth2 also says until when the session's token is good.
pub async fn connect_until(
    cfg: &ImapConfig,
) -> Result<(ImapSession, Option<std::time::Instant>), ImapError> {
    let addr = format!("{}:{}", cfg.host, cfg.port());
    let tcp = match tokio::time::timeout(
        Duration::from_secs(15),
        TcpStream::connect((cfg.host.as_str(), cfg.port())),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(source)) => return Err(ImapError::Connect { addr, source }),
        Err(_) => {
            return Err(ImapError::Connect {
                addr,
                source: io::Error::new(io::ErrorKind::TimedOut, "no answer within 15 s"),
            })
        }
    };
    tcp.set_nodelay(true).ok();
    // A TLS failure says what to do about it (a CA certificate used as the server's own).
    let explained = |e: ImapError| match e {
        ImapError::Tls { addr, reason } => ImapError::Tls {
            addr,
            reason: crate::outbound::net::explain_tls(&reason),
        },
        other => other,
    };
    let stream = match cfg.security {
        Security::Tls => wrap_tls(cfg, tcp).await.map_err(explained)?,
        // STARTTLS begins in plain text too: a TLS port is recognised either way.
        Security::None | Security::Starttls => {
            use crate::outbound::net::{await_plain_greeting, GreetingError};
            match await_plain_greeting(&tcp, &cfg.host, cfg.port(), IO_TIMEOUT).await {
                Ok(()) => {}
                Err(e @ GreetingError::SpeaksTls) => {
                    return Err(ImapError::Tls {
                        addr,
                        reason: e.to_string(),
                    })
                }
                Err(GreetingError::Io(e)) => {
                    return Err(ImapError::Greeting {
                        addr,
                        source: Some(e),
                    })
                }
                Err(e) => {
                    return Err(ImapError::Greeting {
                        addr,
                        source: Some(io::Error::other(e.to_string())),
                    })
                }
            }
            ImapStream::Plain(tcp)
        }
    };
    let mut client = Client::new(stream);
    let greeting = tokio::time::timeout(IO_TIMEOUT, client.read_response())
        .await
        .map_err(|_| ImapError::Timeout(IO_TIMEOUT))?;
    match greeting {
        Ok(Some(_)) => {}
        Ok(None) => return Err(ImapError::Greeting { addr, source: None }),
        Err(e) => {
            return Err(if cfg.security == Security::None {
                ImapError::Greeting {
                    addr,
                    source: Some(e),
                }
            } else {
                ImapError::Tls {
                    addr,
                    reason: e.to_string(),
                }
            })
        }
    }
    if cfg.security == Security::Starttls {
        timed(client.run_command_and_check_ok("STARTTLS", None))
            .await
            .map_err(|e| ImapError::Tls {
                addr: addr.clone(),
                reason: format!("STARTTLS refused: {e}"),
            })?;
        let ImapStream::Plain(tcp) = client.into_inner() else {
            unreachable!("STARTTLS is only issued on a plain connection")
        };
        client = Client::new(wrap_tls(cfg, tcp).await.map_err(explained)?);
    }
    if cfg.auth == AuthMethod::Oauth2 {
        return oauth2_login(cfg, client, &addr).await;
    }
    let password = cfg
        .password
        .as_ref()
        .map(|p| p.expose_secret())
        .unwrap_or("");
    match tokio::time::timeout(IO_TIMEOUT, client.login(&cfg.username, password)).await {
        Ok(Ok(s)) => Ok((s, None)),
        Ok(Err((e, _))) => Err(ImapError::Login {
            addr,
            user: cfg.username.clone(),
            reason: e.to_string(),
        }),
        Err(_) => Err(ImapError::Timeout(IO_TIMEOUT)),
    }
}

/// The SASL exchange of XOAUTH2 / OAUTHBEARER: the initial response, then (on a
/// refusal) the server's JSON error challenge answered as each mechanism requires.
struct TokenSasl {
    initial: Option<String>,
    mechanism: SaslMechanism,
    failure: Option<String>,
}

impl async_imap::Authenticator for &mut TokenSasl {
    type Response = String;
    fn process(&mut self, challenge: &[u8]) -> String {
        if let Some(first) = self.initial.take() {
            return first;
        }
        self.failure = Some(String::from_utf8_lossy(challenge).into_owned());
        match self.mechanism {
            // RFC 7628 3.2.3: a single %x01 ends the failed exchange.
            SaslMechanism::Oauthbearer => "\x01".into(),
            SaslMechanism::Xoauth2 => String::new(),
        }
    }
}

/// The server's words from async-imap's `code: .., info: Some("..")` rendering.
fn server_text(t: &str) -> String {
    t.split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.rsplit_once("\")"))
        .map(|(info, _)| info.replace("\\\"", "\""))
        .unwrap_or_else(|| t.to_string())
}

/// CAPABILITY before login (Exchange and Gmail put none in the greeting).
async fn capabilities_before_login(
    client: &mut Client<ImapStream>,
) -> Result<Vec<String>, ImapError> {
    use async_imap::imap_proto::{Capability, Response};
    let (tx, rx) = async_channel::bounded(16);
    timed(client.run_command_and_check_ok("CAPABILITY", Some(tx))).await?;
    let mut caps = Vec::new();
    while let Ok(r) = rx.try_recv() {
        if let async_imap::types::UnsolicitedResponse::Other(r) = r {
            if let Response::Capabilities(list) = r.parsed() {
                caps.extend(list.iter().map(|c| match c {
                    Capability::Imap4rev1 => "IMAP4rev1".to_string(),
                    Capability::Auth(a) => format!("AUTH={a}"),
                    Capability::Atom(a) => a.to_string(),
                }));
            }
        }
    }
    Ok(caps)
}

/// AUTHENTICATE with an access token as the mailbox `username` (a shared mailbox's
/// address, not the app's); a refused token is replaced once by a fresh one.
async fn oauth2_login(
    cfg: &ImapConfig,
    mut client: Client<ImapStream>,
    addr: &str,
) -> Result<(ImapSession, Option<std::time::Instant>), ImapError> {
    let login_error = |reason: String| ImapError::TokenLogin {
        addr: addr.to_string(),
        user: cfg.username.clone(),
        reason,
    };
    let Some(o) = &cfg.oauth2 else {
        return Err(login_error(
            "auth = \"oauth2\" but no [oauth2] section".into(),
        ));
    };
    let source = crate::oauth2::shared(o);
    let mechanism = match cfg.sasl_mechanism {
        SaslMechanism::Xoauth2 => "XOAUTH2",
        SaslMechanism::Oauthbearer => "OAUTHBEARER",
    };
    let caps = capabilities_before_login(&mut client).await?;
    let wanted = format!("AUTH={mechanism}");
    if !caps.iter().any(|c| c.eq_ignore_ascii_case(&wanted)) {
        let offered: Vec<&str> = caps
            .iter()
            .filter(|c| c.len() > 5 && c[..5].eq_ignore_ascii_case("AUTH="))
            .map(String::as_str)
            .collect();
        return Err(login_error(format!(
            "the server does not offer {wanted} (it offers: {}); set [imap] sasl_mechanism to one it offers",
            if offered.is_empty() { "no SASL mechanism".to_string() } else { offered.join(" ") }
        )));
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let token = source.token().await?;
        let initial = match cfg.sasl_mechanism {
            SaslMechanism::Xoauth2 => crate::oauth2::xoauth2(&cfg.username, &token),
            SaslMechanism::Oauthbearer => {
                crate::oauth2::oauthbearer(&cfg.username, &cfg.host, cfg.port(), &token)
            }
        };
        let mut sasl = TokenSasl {
            initial: Some(initial),
            mechanism: cfg.sasl_mechanism,
            failure: None,
        };
        match tokio::time::timeout(IO_TIMEOUT, client.authenticate(mechanism, &mut sasl)).await {
            Ok(Ok(s)) => return Ok((s, Some(token.renew_at))),
            Ok(Err((e, c))) => {
                client = c;
                let detail = sasl
                    .failure
                    .map(|f| format!(" (server's error: {})", f.trim()))
                    .unwrap_or_default();
                let text = match &e {
                    async_imap::error::Error::No(t) | async_imap::error::Error::Bad(t) => {
                        server_text(t)
                    }
                    other => other.to_string(),
                };
                let reason = format!("AUTHENTICATE {mechanism} refused: {text}{detail}");
                source.rejected(&token).await;
                let fresh = token.is_fresh();
                if attempt >= 2 || fresh || matches!(e, async_imap::error::Error::Io(_)) {
                    return Err(login_error(format!(
                        "{reason} (check [imap] username, the mailbox address, and that the app may open it: Exchange Online needs the service principal and FullAccess on the mailbox)"
                    )));
                }
                tracing::warn!(%reason, "IMAP refused the OAuth2 token; trying once more with a new token");
            }
            Err(_) => return Err(ImapError::Timeout(IO_TIMEOUT)),
        }
    }
}

/// Makes sure `folder` exists (creating it if the server allows), for the processed folder.
pub async fn ensure_folder(s: &mut ImapSession, folder: &str) -> Result<(), ImapError> {
    let exists = {
        let names: Vec<_> = timed(async {
            s.list(None, Some(folder))
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        names.iter().any(|n| n.name() == folder)
    };
    if !exists {
        tracing::info!(folder, "creating the processed folder");
        timed(s.create(folder))
            .await
            .map_err(|e| ImapError::Folder {
                folder: folder.to_string(),
                reason: format!("it does not exist and could not be created: {e}"),
            })?;
    }
    Ok(())
}

/// Server features that change how we work.
#[derive(Debug, Clone, Copy)]
pub struct Features {
    pub idle: bool,
    pub mv: bool,
    pub uidplus: bool,
}

pub async fn features(s: &mut ImapSession) -> Result<Features, ImapError> {
    let caps = timed(s.capabilities()).await?;
    Ok(Features {
        idle: caps.has_str("IDLE"),
        mv: caps.has_str("MOVE"),
        uidplus: caps.has_str("UIDPLUS"),
    })
}

/// Test hook: with `IGW_FAILPOINT=<name>` the process stops dead at that point (it
/// announces itself on stderr and waits to be killed), so tests can crash it exactly there.
pub fn failpoint(name: &str) {
    if std::env::var("IGW_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("IGW_FAILPOINT {name} reached; waiting to be killed");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// Test hook: with `IGW_FAILPOINT=abort-on-marker` the process aborts while reading
/// any message carrying the header `X-IGW-Test-Poison: abort`, as a message that
/// crashes the parser would make it.
fn failpoint_on_marker(raw: &[u8]) {
    if std::env::var("IGW_FAILPOINT").is_ok_and(|v| v == "abort-on-marker")
        && raw
            .windows(b"X-IGW-Test-Poison: abort".len())
            .any(|w| w == b"X-IGW-Test-Poison: abort")
    {
        eprintln!("IGW_FAILPOINT abort-on-marker reached");
        std::process::abort();
    }
}

/// The IMAP intake task.
pub struct Poller {
    pipeline: Pipeline,
    cfg: ImapConfig,
    /// Attempts at a message (UIDVALIDITY, UID) that this process survived but could
    /// not take off the stored count (the database refused the write, as when the disk
    /// is full): they are not deaths, so they do not make a message poison.
    survived: std::sync::Mutex<std::collections::HashMap<(u32, u32), i64>>,
}

impl Poller {
    pub fn new(pipeline: Pipeline, cfg: ImapConfig) -> Self {
        Self {
            pipeline,
            cfg,
            survived: Default::default(),
        }
    }

    fn survived(&self, key: (u32, u32)) -> i64 {
        self.survived
            .lock()
            .map(|m| m.get(&key).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    fn note_survived(&self, key: (u32, u32), stored: bool) {
        if let Ok(mut m) = self.survived.lock() {
            if stored {
                m.remove(&key);
            } else {
                *m.entry(key).or_insert(0) += 1;
            }
        }
    }

    /// Runs until `shutdown`; reconnects with exponential back-off after any failure.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let max = Duration::from_secs(self.cfg.reconnect_max_secs.max(1));
        let mut delay = Duration::from_secs(1);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let started = tokio::time::Instant::now();
            // The message in hand is finished on shutdown, but a server that stopped
            // answering cannot hold the process: after a short grace the session is
            // dropped (an uncommitted message stays in the folder; nothing is lost).
            let mut stopping = shutdown.clone();
            let grace = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            };
            let outcome = tokio::select! {
                r = self.session(&mut shutdown) => r,
                _ = grace => {
                    tracing::warn!(grace_s = SHUTDOWN_GRACE.as_secs(), "IMAP intake did not stop in time after shutdown; connection dropped");
                    Ok(())
                }
            };
            match outcome {
                Ok(()) => break,
                Err(ImapError::TokenSpent) => {
                    tracing::info!("IMAP session's OAuth2 token about to expire; logging in again with a new token");
                    delay = Duration::from_secs(1);
                }
                Err(e) => {
                    if started.elapsed() > Duration::from_secs(60) {
                        delay = Duration::from_secs(1);
                    }
                    // Exchange Online's "throttled" refusals: wait the longest.
                    if e.to_string().to_ascii_lowercase().contains("throttl") {
                        delay = max;
                    }
                    tracing::error!(error = %e, retry_in_s = delay.as_secs(), "IMAP intake interrupted; reconnecting");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => {}
                    }
                    delay = (delay * 2).min(max);
                }
            }
        }
        tracing::info!("IMAP intake stopped");
    }

    /// One connection's life. `Ok` only when shutdown was requested.
    async fn session(&self, shutdown: &mut watch::Receiver<bool>) -> Result<(), ImapError> {
        let (mut s, token_until) = connect_until(&self.cfg).await?;
        let feats = features(&mut s).await?;
        ensure_folder(&mut s, &self.cfg.processed_mailbox).await?;
        let mb = timed(s.select(&self.cfg.mailbox))
            .await
            .map_err(|e| ImapError::Folder {
                folder: self.cfg.mailbox.clone(),
                reason: e.to_string(),
            })?;
        let uid_validity = mb
            .uid_validity
            .ok_or_else(|| ImapError::NoUidValidity(self.cfg.mailbox.clone()))?;
        tracing::info!(
            mailbox = %self.cfg.mailbox,
            uid_validity,
            exists = mb.exists,
            idle = feats.idle && !self.cfg.disable_idle,
            r#move = feats.mv,
            "IMAP intake connected"
        );
        // An announcement seen as IDLE begins is taken as new mail, but after one that
        // led to nothing the next such wake waits a moment first (a server announcing
        // an unchanged mailbox at each IDLE would otherwise keep intake searching
        // without a pause; one ignored outright cost a real straggler the renewal).
        let mut woke_early = false;
        loop {
            // Mail that arrives while we drain is announced (EXISTS) during that work and
            // not again: search once more until a pass finds nothing and nothing new was
            // announced, and only then wait.
            let mut found = 0;
            loop {
                let new = self.drain(&mut s, uid_validity, feats, shutdown).await?;
                found += new;
                let announced = take_announcements(&mut s);
                if (new == 0 && !announced) || *shutdown.borrow() {
                    break;
                }
            }
            let spurious = woke_early && found == 0;
            woke_early = false;
            if *shutdown.borrow() {
                let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
                return Ok(());
            }
            if let Err(e) = self.settle_in_doubt().await {
                tracing::warn!(error = %e, "interrupted sends could not be looked up in the sent folder; will try again");
            }
            // A session does not outlive its token: a new one logs in with a fresh token.
            if token_until.is_some_and(|t| std::time::Instant::now() >= t) {
                let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
                return Err(ImapError::TokenSpent);
            }
            let token_left = token_until
                .map(|t| t.saturating_duration_since(std::time::Instant::now()))
                .unwrap_or(Duration::MAX)
                .max(Duration::from_secs(1));
            if feats.idle && !self.cfg.disable_idle {
                // Mail that arrives just before IDLE begins is announced while IDLE
                // starts; async-imap queues that EXISTS with the unsolicited responses
                // instead of waking the wait, which would then sleep to the renewal
                // (a burst's stragglers waited a whole idle_renew_secs). So the queue
                // is looked at once IDLE has begun.
                let queued = s.unsolicited_responses.clone();
                let mut idle = s.idle();
                timed(idle.init()).await?;
                let renew = self.idle_wait().await.min(token_left);
                let early = std::iter::from_fn(|| queued.try_recv().ok()).any(|r| {
                    matches!(
                        r,
                        async_imap::types::UnsolicitedResponse::Exists(_)
                            | async_imap::types::UnsolicitedResponse::Recent(1..)
                    )
                });
                woke_early = early;
                let woke = if early && !spurious {
                    Some(None)
                } else {
                    let renew = if early {
                        renew.min(Duration::from_secs(2))
                    } else {
                        renew
                    };
                    let (wait, _stop) = idle.wait_with_timeout(renew);
                    // async-imap restarts its timeout at every response, keepalives
                    // (`* OK Still here`) included: the renewal runs on our own clock.
                    tokio::select! {
                        r = tokio::time::timeout(renew, wait) => Some(Some(r)),
                        _ = shutdown.changed() => None,
                    }
                };
                let Some(woke) = woke else {
                    // Stopping: a hung server must not hold the shutdown up.
                    let _ = tokio::time::timeout(Duration::from_secs(2), idle.done()).await;
                    return Ok(());
                };
                // DONE and the search that follows prove the session is alive; a
                // server that stopped answering is noticed here within IO_TIMEOUT.
                s = timed(idle.done()).await?;
                match woke {
                    Some(Ok(r)) => {
                        r?;
                    }
                    Some(Err(_)) => tracing::debug!("IDLE renewed"),
                    None => tracing::debug!("new mail announced as IDLE began"),
                }
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(self.cfg.poll_interval_secs.max(1)).min(token_left)) => {}
                    _ = shutdown.changed() => {}
                }
                timed(s.noop()).await?;
            }
        }
    }

    /// A database connection from the pool.
    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, ImapError> {
        Ok(self.pipeline.store().acquire().await?)
    }

    /// How long to stay in IDLE: the renewal interval, or less when an interrupted
    /// send's lease runs out sooner (it is then looked up in the sent folder).
    async fn idle_wait(&self) -> Duration {
        let renew = Duration::from_secs(self.cfg.idle_renew_secs.max(10));
        if self.cfg.sent_mailbox.is_none() {
            return renew;
        }
        let next = match self.pipeline.store().acquire().await {
            Ok(mut conn) => outbox::next_lease_end(&mut conn, Utc::now())
                .await
                .ok()
                .flatten(),
            Err(_) => None,
        };
        // A lease already run out is one the search could not settle (it is tried
        // again at the next renewal): only a lease still running shortens the wait.
        match next {
            Some(t) => {
                let secs = (t - Utc::now()).num_milliseconds().max(0) as u64 / 1000 + 1;
                renew.min(Duration::from_secs(secs))
            }
            None => renew,
        }
    }

    /// Sends interrupted mid-way (the outbox worker died before the server's answer was
    /// recorded) are looked up by Message-ID in `[imap] sent_mailbox`, where the SMTP
    /// server files what it accepted: found, it is marked sent and not sent again; not
    /// found, the worker sends it again. Exactly one copy either way.
    async fn settle_in_doubt(&self) -> Result<usize, ImapError> {
        let Some(folder) = self.cfg.sent_mailbox.as_deref() else {
            return Ok(0);
        };
        let store = self.pipeline.store();
        let rows = {
            let mut conn = self.conn().await?;
            outbox::in_doubt(&mut conn, Utc::now()).await?
        };
        if rows.is_empty() {
            return Ok(0);
        }
        let mut s = connect(&self.cfg).await?;
        timed(s.examine(folder))
            .await
            .map_err(|e| ImapError::Folder {
                folder: folder.to_string(),
                reason: e.to_string(),
            })?;
        for (id, message_id) in &rows {
            let query = format!(
                "HEADER Message-ID \"{}\"",
                message_id.replace(['"', '\\'], "")
            );
            let found = !timed(s.uid_search(&query)).await?.is_empty();
            let mut tx = store.begin_write().await?;
            outbox::settle_doubt(&mut tx, *id, found, Utc::now()).await?;
            tx.commit().await?;
            if found {
                tracing::warn!(outbox_id = id, %message_id, folder, "interrupted send was accepted (found in the sent folder); not sending it again");
            } else {
                tracing::warn!(outbox_id = id, %message_id, folder, "interrupted send not in the sent folder; sending it again");
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
        Ok(rows.len())
    }

    /// Ingests one fetched message, counting the attempt first: when earlier attempts
    /// at this message all ended with the process dying, it is stored unread and
    /// quarantined instead, so one message cannot stop the mailbox for good.
    async fn ingest_counted(
        &self,
        raw: Vec<u8>,
        origin: &Origin,
        uid_validity: u32,
        uid: u32,
    ) -> Result<i64, ImapError> {
        let mailbox = &self.cfg.mailbox;
        let store = self.pipeline.store();
        let started = {
            let mut tx = store.begin_write().await?;
            let n = attempts::begin(&mut tx, mailbox, uid_validity, uid, Utc::now()).await?;
            tx.commit().await?;
            n
        };
        let limit = i64::from(self.cfg.max_attempts.max(1));
        let key = (uid_validity, uid);
        let result = if started - self.survived(key) > limit {
            let reason = format!(
                "intake stopped {} times while reading this message (the process died each time: a crash, a kill or running out of memory); stored unread ([imap] max_attempts)",
                started - 1
            );
            tracing::error!(
                uid,
                uid_validity,
                attempts = started - 1,
                "poison message: storing it unread"
            );
            self.pipeline.ingest_unread(&raw, origin, &reason).await
        } else {
            failpoint_on_marker(&raw);
            self.pipeline.ingest_owned(raw, origin).await
        };
        let stored = result.is_ok();
        let ended = async {
            let mut conn = self.conn().await?;
            attempts::end(&mut conn, mailbox, uid_validity, uid, stored).await?;
            Ok::<(), ImapError>(())
        }
        .await;
        if ended.is_err() && !stored {
            self.note_survived(key, false);
        } else if stored {
            self.note_survived(key, true);
        }
        let row = result?.message_row;
        ended?;
        Ok(row)
    }

    /// Moves one stored message to the processed folder. Without MOVE: COPY (once,
    /// remembered, so a crash before the expunge does not copy it twice), flag it
    /// `\Deleted`, and UID EXPUNGE it alone when the server has UIDPLUS; a plain EXPUNGE
    /// would also remove what another client flagged, so without UIDPLUS that waits for
    /// [`Self::expunge_ours`] at the end of the drain.
    async fn move_to_processed(
        &self,
        s: &mut ImapSession,
        uid: u32,
        uid_validity: u32,
        feats: Features,
    ) -> Result<(), ImapError> {
        let set = uid.to_string();
        let folder = &self.cfg.processed_mailbox;
        if feats.mv {
            return timed(s.uid_mv(&set, folder)).await;
        }
        let store = self.pipeline.store();
        let mailbox = &self.cfg.mailbox;
        let copied = {
            let mut conn = self.conn().await?;
            attempts::was_copied(&mut conn, mailbox, uid_validity, uid).await?
        };
        if !copied {
            timed(s.uid_copy(&set, folder)).await?;
            let mut tx = store.begin_write().await?;
            attempts::mark_copied(&mut tx, mailbox, uid_validity, uid, Utc::now()).await?;
            tx.commit().await?;
            failpoint("after-copy");
        }
        timed(async {
            s.uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        if feats.uidplus {
            timed(async { s.uid_expunge(&set).await?.try_collect::<Vec<_>>().await }).await?;
        }
        Ok(())
    }

    /// Without UIDPLUS: a plain EXPUNGE, but only when every message flagged `\Deleted`
    /// in the folder is one we copied to the processed folder; a message another client
    /// flagged before we stored it is read first (the next drain), never expunged unread.
    async fn expunge_ours(&self, s: &mut ImapSession, uid_validity: u32) -> Result<(), ImapError> {
        let deleted: Vec<u32> = timed(s.uid_search("DELETED")).await?.into_iter().collect();
        if deleted.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        let mut not_ours = 0;
        for &uid in &deleted {
            if !attempts::was_copied(&mut conn, &self.cfg.mailbox, uid_validity, uid).await? {
                not_ours += 1;
            }
        }
        drop(conn);
        if not_ours > 0 {
            tracing::warn!(
                mailbox = %self.cfg.mailbox,
                not_ours,
                "not expunging yet: another client flagged message(s) \\Deleted that are not stored; the server has no UIDPLUS, so they are read first"
            );
            return Ok(());
        }
        timed(async { s.expunge().await?.try_collect::<Vec<_>>().await }).await?;
        Ok(())
    }

    /// Ingests and moves every message in the folder, a batch at a time; stops between
    /// batches on shutdown. Returns how many were new (stored by this pass).
    pub async fn drain(
        &self,
        s: &mut ImapSession,
        uid_validity: u32,
        feats: Features,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<usize, ImapError> {
        let mut uids: Vec<u32> = timed(s.uid_search("ALL")).await?.into_iter().collect();
        uids.sort_unstable();
        let mailbox = self.cfg.mailbox.clone();
        // Stored before but not moved (the process died in between): moved first.
        let (mut stored, mut fresh) = (Vec::new(), Vec::new());
        {
            let mut conn = self.conn().await?;
            for &uid in &uids {
                match messages::find_by_uid(&mut conn, &mailbox, uid_validity, uid).await? {
                    Some(row) => stored.push((uid, row)),
                    None => fresh.push(uid),
                }
            }
        }
        let mut moved = stored.len();
        self.move_stored(s, &stored, uid_validity, feats).await?;
        let mut new = 0;
        for batch in batches(&fresh, &sizes(s, &fresh).await?) {
            if *shutdown.borrow() {
                break;
            }
            let stored = self.ingest_uids(s, &batch, uid_validity).await?;
            new += stored.len();
            failpoint("after-commit");
            self.move_stored(s, &stored, uid_validity, feats).await?;
            moved += stored.len();
        }
        if !feats.mv && !feats.uidplus && moved > 0 {
            self.expunge_ours(s, uid_validity).await?;
        }
        let mut conn = self.conn().await?;
        let last = uids.last().copied().unwrap_or(0);
        if let Some(prev) =
            messages::checkpoint(&mut conn, &mailbox, uid_validity, last, Utc::now()).await?
        {
            tracing::warn!(mailbox = %mailbox, prev, uid_validity, "UIDVALIDITY changed; messages are recognised by Message-ID and content instead");
        }
        Ok(new)
    }

    /// Fetches and stores one batch: in one UID FETCH and one transaction when none of
    /// its messages was being read when the process last died; else (and when the
    /// batch cannot be stored whole) one message at a time, each attempt counted, so a
    /// message that kills intake is found and set aside ([`Self::ingest_counted`]).
    /// The stored messages' UIDs and rows.
    async fn ingest_uids(
        &self,
        s: &mut ImapSession,
        batch: &[u32],
        uid_validity: u32,
    ) -> Result<Vec<(u32, i64)>, ImapError> {
        let mailbox = &self.cfg.mailbox;
        let retried = {
            let mut conn = self.conn().await?;
            attempts::unfinished(&mut conn, mailbox, uid_validity, batch).await?
        };
        if batch.len() > 1 && !retried {
            let bodies = fetch_many(s, batch).await?;
            let store = self.pipeline.store();
            let mut tx = store.begin_write().await?;
            for (uid, _) in &bodies {
                attempts::begin(&mut tx, mailbox, uid_validity, *uid, Utc::now()).await?;
            }
            tx.commit().await?;
            for (_, raw) in &bodies {
                failpoint_on_marker(raw);
            }
            let uids: Vec<u32> = bodies.iter().map(|(uid, _)| *uid).collect();
            let items = bodies
                .into_iter()
                .map(|(uid, raw)| (raw, self.origin(uid_validity, uid)))
                .collect();
            // Each message's attempt ends in the commit that stores it.
            match self.pipeline.ingest_batch(items, Utc::now()).await {
                Ok(outcomes) => {
                    for &uid in &uids {
                        self.note_survived((uid_validity, uid), true);
                    }
                    return Ok(uids
                        .into_iter()
                        .zip(outcomes.iter().map(|o| o.message_row))
                        .collect());
                }
                Err(e) => {
                    tracing::warn!(error = %e, n = uids.len(), "a batch could not be stored whole; its messages are stored one at a time");
                    // Not a death: the batch's attempts do not count against its messages.
                    let mut conn = self.conn().await?;
                    for &uid in &uids {
                        attempts::end(&mut conn, mailbox, uid_validity, uid, false).await?;
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(batch.len());
        for &uid in batch {
            let Some(raw) = fetch(s, uid).await? else {
                continue; // expunged by someone else meanwhile
            };
            let origin = self.origin(uid_validity, uid);
            out.push((
                uid,
                self.ingest_counted(raw, &origin, uid_validity, uid).await?,
            ));
        }
        Ok(out)
    }

    fn origin(&self, uid_validity: u32, uid: u32) -> Origin {
        Origin::Imap {
            mailbox: self.cfg.mailbox.clone(),
            uid_validity,
            uid,
        }
    }

    /// Moves stored messages to the processed folder (one UID MOVE per batch where the
    /// server has MOVE) and records that they were moved.
    async fn move_stored(
        &self,
        s: &mut ImapSession,
        stored: &[(u32, i64)],
        uid_validity: u32,
        feats: Features,
    ) -> Result<(), ImapError> {
        if stored.is_empty() {
            return Ok(());
        }
        if feats.mv {
            for chunk in stored.chunks(BATCH_MAX) {
                let set = uid_set(chunk.iter().map(|(uid, _)| *uid));
                timed(s.uid_mv(&set, &self.cfg.processed_mailbox)).await?;
            }
        } else {
            for (uid, _) in stored {
                self.move_to_processed(s, *uid, uid_validity, feats).await?;
            }
        }
        let mut tx = self.pipeline.store().begin_write().await?;
        for (_, row) in stored {
            messages::mark_moved(&mut tx, *row, Utc::now()).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Most messages fetched and stored together.
const BATCH_MAX: usize = 100;
/// Most bytes of messages fetched and stored together (one larger message goes alone).
const BATCH_MAX_BYTES: u64 = 8 << 20;
/// UIDs per UID FETCH of sizes (the command line stays well under servers' limits).
const SIZES_PER_COMMAND: usize = 500;

/// `1,2,7`.
fn uid_set(uids: impl Iterator<Item = u32>) -> String {
    uids.map(|u| u.to_string()).collect::<Vec<_>>().join(",")
}

/// Each message's size (RFC822.SIZE), to keep a batch's bytes bounded.
async fn sizes(
    s: &mut ImapSession,
    uids: &[u32],
) -> Result<std::collections::HashMap<u32, u64>, ImapError> {
    let mut out = std::collections::HashMap::with_capacity(uids.len());
    for chunk in uids.chunks(SIZES_PER_COMMAND) {
        let set = uid_set(chunk.iter().copied());
        let fetched = timed(async {
            s.uid_fetch(&set, "(UID RFC822.SIZE)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        for f in fetched {
            if let (Some(uid), Some(size)) = (f.uid, f.size) {
                out.insert(uid, u64::from(size));
            }
        }
    }
    Ok(out)
}

/// The UIDs in order, cut into batches of at most [`BATCH_MAX`] messages and
/// [`BATCH_MAX_BYTES`] (a message of unknown size counts as the whole budget).
fn batches(uids: &[u32], sizes: &std::collections::HashMap<u32, u64>) -> Vec<Vec<u32>> {
    let mut out: Vec<Vec<u32>> = Vec::new();
    let mut bytes = 0u64;
    for &uid in uids {
        let size = sizes.get(&uid).copied().unwrap_or(BATCH_MAX_BYTES);
        match out.last_mut() {
            Some(b) if b.len() < BATCH_MAX && bytes + size <= BATCH_MAX_BYTES => {
                b.push(uid);
                bytes += size;
            }
            _ => {
                out.push(vec![uid]);
                bytes = size;
            }
        }
    }
    out
}

/// Empties the queue of unsolicited responses; true when one of them announced new
/// mail (EXISTS or RECENT).
fn take_announcements(s: &mut ImapSession) -> bool {
    let mut announced = false;
    while let Ok(r) = s.unsolicited_responses.try_recv() {
        announced |= matches!(
            r,
            async_imap::types::UnsolicitedResponse::Exists(_)
                | async_imap::types::UnsolicitedResponse::Recent(_)
        );
    }
    announced
}

/// The messages of `uids` in one UID FETCH, in UID order (one expunged meanwhile is
/// left out).
async fn fetch_many(s: &mut ImapSession, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
    let set = uid_set(uids.iter().copied());
    let fetched = timed(async {
        s.uid_fetch(&set, "(UID BODY.PEEK[])")
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    let mut out: Vec<(u32, Vec<u8>)> = fetched
        .iter()
        .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
        .filter(|(uid, _)| uids.contains(uid))
        .collect();
    out.sort_by_key(|(uid, _)| *uid);
    out.dedup_by_key(|(uid, _)| *uid);
    Ok(out)
}

async fn fetch(s: &mut ImapSession, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
    Ok(fetch_many(s, &[uid]).await?.pop().map(|(_, raw)| raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_bounded_by_count_and_bytes() {
        let uids: Vec<u32> = (1..=250).collect();
        let small: std::collections::HashMap<u32, u64> = uids.iter().map(|u| (*u, 1_000)).collect();
        let b = batches(&uids, &small);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [100, 100, 50]);
        assert_eq!(b.concat(), uids, "every UID once, in order");
        // Large messages: as many as fit in the byte budget; one over it goes alone.
        let mut sizes = small.clone();
        sizes.insert(3, BATCH_MAX_BYTES + 1);
        for u in 10..=13 {
            sizes.insert(u, 3 << 20);
        }
        let b = batches(&uids[..20], &sizes);
        assert_eq!(b[0], [1, 2]);
        assert_eq!(b[1], [3]);
        assert!(b
            .iter()
            .all(|x| x.len() == 1 || x.iter().map(|u| sizes[u]).sum::<u64>() <= BATCH_MAX_BYTES));
        assert_eq!(b.concat(), uids[..20].to_vec());
        // A size the server did not give counts as the whole budget.
        let b = batches(&[1, 2, 3], &std::collections::HashMap::new());
        assert_eq!(b, [vec![1], vec![2], vec![3]]);
    }

    #[test]
    fn a_uid_set_is_comma_separated() {
        assert_eq!(uid_set([4, 9, 10].into_iter()), "4,9,10");
    }
}
