//! The outbox worker: leases due messages and hands them to SMTP (or the file
//! transport of the embedded default), with exponential back-off on temporary failures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use lettre::{AsyncFileTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use tokio::sync::watch;

use super::smtp::{SmtpClient, SmtpFailure};
use crate::config::{Config, OutboxConfig, Security, SmtpConfig};
use crate::domain::EventKind;
use crate::policy::Disclosure;
use crate::store::{self, outbox, NewEvent, Store, StoreError};

/// Setting up the transport failed (bad CA file, bad TLS settings).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot read [smtp] ca_file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("SMTP TLS setup failed: {0}")]
    Tls(lettre::transport::smtp::Error),
    #[error("cannot create outbox directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
}

/// Where outbound mail goes.
#[derive(Clone)]
pub enum Transport {
    Smtp(SmtpClient),
    /// One `.eml` per message in a directory (embedded default, no mail server).
    File(AsyncFileTransport<Tokio1Executor>, std::path::PathBuf),
}

/// The result of one delivery attempt.
#[derive(Debug)]
pub enum Delivery {
    Accepted(String),
    /// A 4xx for this message: try again later.
    Temporary(String),
    /// The server could not be reached or stopped answering: try again later, and
    /// at once after the next message that gets through.
    Unreachable(String),
    /// 5xx: the server refused it for good.
    Permanent(String),
    /// Not attempted: a recipient fails the disclosure rule; back to review.
    Held(String),
    /// Sent to some recipients, refused for the others (not retried).
    Partial {
        accepted: String,
        refused: String,
    },
}

impl Transport {
    pub fn from_config(config: &Config) -> Result<Self, TransportError> {
        match &config.smtp {
            Some(smtp) => Ok(Transport::Smtp(smtp_client(smtp)?)),
            None => Ok(Self::files(config.outbox_dir())?),
        }
    }

    /// The file transport into `dir` (created if missing).
    pub fn files(dir: std::path::PathBuf) -> Result<Self, TransportError> {
        std::fs::create_dir_all(&dir).map_err(|source| TransportError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(Transport::File(AsyncFileTransport::new(&dir), dir))
    }

    pub async fn deliver(&self, envelope: &Envelope, raw: &[u8]) -> Delivery {
        match self {
            Transport::Smtp(client) => match client.send(envelope, raw).await {
                Ok(accepted) => {
                    let reply = accepted.reply.clone();
                    accepted.keep();
                    Delivery::Accepted(reply)
                }
                Err(SmtpFailure::Permanent(e)) => Delivery::Permanent(e),
                Err(SmtpFailure::Temporary(e)) => Delivery::Temporary(e),
                Err(SmtpFailure::Unreachable(e)) => Delivery::Unreachable(e),
            },
            Transport::File(t, dir) => match t.send_raw(envelope, raw).await {
                Ok(id) => Delivery::Accepted(format!(
                    "written to {}",
                    dir.join(format!("{id}.eml")).display()
                )),
                Err(e) => Delivery::Temporary(format!("cannot write to {}: {e}", dir.display())),
            },
        }
    }

    /// Connects and says hello (for `check-config`), within the SMTP time limits.
    pub async fn test_connection(&self) -> Result<(), String> {
        match self {
            Transport::Smtp(client) => client.test_connection().await,
            Transport::File(_, dir) => {
                if dir.is_dir() {
                    Ok(())
                } else {
                    Err(format!("{} is not a directory", dir.display()))
                }
            }
        }
    }
}

fn smtp_client(smtp: &SmtpConfig) -> Result<SmtpClient, TransportError> {
    let tls_params = || -> Result<TlsParameters, TransportError> {
        let mut b = TlsParameters::builder(smtp.host.clone());
        if let Some(path) = &smtp.ca_file {
            let pem = std::fs::read(path).map_err(|source| TransportError::CaFile {
                path: path.display().to_string(),
                source,
            })?;
            b = b.add_root_certificate(Certificate::from_pem(&pem).map_err(TransportError::Tls)?);
        }
        b.build_rustls().map_err(TransportError::Tls)
    };
    let tls = match smtp.security {
        Security::Tls | Security::Starttls => Some(tls_params()?),
        Security::None => None,
    };
    let credentials = match (&smtp.username, &smtp.password) {
        (Some(user), Some(pass)) => Some(Credentials::new(
            user.clone(),
            pass.expose_secret().to_string(),
        )),
        _ => None,
    };
    let client = SmtpClient::new(
        &smtp.host,
        smtp.port(),
        smtp.security,
        tls,
        credentials,
        StdDuration::from_secs(smtp.timeout_secs),
    );
    Ok(match (&smtp.oauth2, &smtp.username) {
        (Some(o), Some(user)) => client.with_oauth2(user, crate::oauth2::shared(o)),
        _ => client,
    })
}

/// What one worker step did.
#[derive(Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// Nothing is due now.
    Idle,
    Sent {
        outbox_id: i64,
    },
    Retry {
        outbox_id: i64,
    },
    /// Deferred because the SMTP server could not be reached or stopped answering.
    Unreachable {
        outbox_id: i64,
        error: String,
    },
    Failed {
        outbox_id: i64,
    },
    /// Put back into review: a recipient fails the disclosure rule.
    Held {
        outbox_id: i64,
    },
}

/// The sender of the outbox.
pub struct Worker {
    store: Store,
    transport: Transport,
    settings: OutboxConfig,
    /// The disclosure rule, checked again at send time (the directory may have changed,
    /// or a code path may have queued without checking). `None`: no check (tests).
    guard: Option<Disclosure>,
    /// A message whose earlier send was interrupted waits for the sent-folder search
    /// (`[imap] sent_mailbox`, done by intake) instead of going out again at once.
    hold_in_doubt: bool,
    /// A send found the server unreachable since the last one that got through (at
    /// start: messages of an earlier run may be waiting for it).
    server_down: AtomicBool,
    /// The message each sender has in hand, if any (its lease is given up if the send
    /// is abandoned at shutdown).
    in_hand: std::sync::Mutex<Vec<Option<i64>>>,
    /// Where `webhook` rows are posted (`[soc] webhook_url`).
    webhook: Option<Webhook>,
}

/// The SOC's chat webhook: its URL (a secret) and a CA file to trust besides the
/// public roots.
#[derive(Clone)]
pub struct Webhook {
    pub url: secrecy::SecretString,
    pub ca_file: Option<std::path::PathBuf>,
}

/// How long a webhook may take to answer.
const WEBHOOK_TIMEOUT: StdDuration = StdDuration::from_secs(20);

impl Worker {
    pub fn new(store: Store, transport: Transport, settings: OutboxConfig) -> Self {
        Self {
            store,
            transport,
            settings,
            guard: None,
            hold_in_doubt: false,
            server_down: AtomicBool::new(true),
            in_hand: std::sync::Mutex::new(vec![None; MAX_SENDERS]),
            webhook: None,
        }
    }

    /// Posts `webhook` rows to this webhook (none: they fail, saying it is not set).
    pub fn with_webhook(mut self, webhook: Option<Webhook>) -> Self {
        self.webhook = webhook;
        self
    }

    /// Holds interrupted sends for the sent-folder search (see `hold_in_doubt`).
    pub fn holding_in_doubt(mut self, hold: bool) -> Self {
        self.hold_in_doubt = hold;
        self
    }

    /// Checks every recipient against the disclosure rule before sending; a message an
    /// analyst did not release goes back to review instead of out.
    pub fn with_guard(mut self, guard: Disclosure) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Sends at most one due message. Tests and `demo` drive this directly.
    pub async fn send_next(&self) -> Result<StepOutcome, StoreError> {
        self.send_next_as(0).await
    }

    /// How many messages go out at once (`[outbox] senders`).
    fn senders(&self) -> usize {
        self.settings.senders.clamp(1, MAX_SENDERS)
    }

    /// [`Worker::send_next`] by sender `slot`.
    async fn send_next_as(&self, slot: usize) -> Result<StepOutcome, StoreError> {
        let now = Utc::now();
        let lease = Duration::seconds(self.settings.lease_secs.clamp(1, 86_400) as i64);
        let leased = {
            let mut conn = self.store.acquire().await?;
            outbox::lease_next(&mut conn, now, lease, self.hold_in_doubt).await?
        };
        let Some(m) = leased else {
            return Ok(StepOutcome::Idle);
        };
        self.set_in_hand(slot, Some(m.id));
        let outcome = self.send_leased(&m).await;
        self.set_in_hand(slot, None);
        outcome
    }

    fn set_in_hand(&self, slot: usize, id: Option<i64>) {
        if let Ok(mut g) = self.in_hand.lock() {
            if let Some(s) = g.get_mut(slot) {
                *s = id;
            }
        }
    }

    fn in_hand(&self, slot: usize) -> Option<i64> {
        self.in_hand
            .lock()
            .ok()
            .and_then(|g| g.get(slot).copied().flatten())
    }

    async fn send_leased(&self, m: &outbox::Leased) -> Result<StepOutcome, StoreError> {
        if m.kind == crate::domain::OutboxKind::Webhook.as_str() {
            let delivery = self.post_webhook(m).await;
            return self.finish(m, delivery).await;
        }
        let recipients = m.recipients();
        if let Some(reason) = self.refused_recipient(m, &recipients).await? {
            return self.finish(m, Delivery::Held(reason)).await;
        }
        let envelope = match build_envelope(&m.from_addr, &recipients) {
            Ok(e) => e,
            Err(why) => {
                self.finish(m, Delivery::Permanent(why)).await?;
                return Ok(StepOutcome::Failed { outbox_id: m.id });
            }
        };
        let mut delivery = self.transport.deliver(&envelope, &m.raw).await;
        if let (Delivery::Permanent(err), true) = (&delivery, recipients.len() > 1) {
            // One refused address (a stale ISO in the directory) must not stop the rest
            // of the thread's audience: the same bytes go to each recipient alone.
            delivery = self.deliver_one_by_one(m, &recipients, err).await;
        }
        self.finish(m, delivery).await
    }

    /// Posts a `webhook` row's JSON. A failure to connect, a 429 or a 5xx is tried again
    /// later (not as the mail server being down); another 4xx is a refusal for good.
    /// The URL never appears in what is logged or stored, only its host.
    async fn post_webhook(&self, m: &outbox::Leased) -> Delivery {
        let Some(hook) = &self.webhook else {
            return Delivery::Permanent(
                "[soc] webhook_url is not set (any more); the notice was not posted".into(),
            );
        };
        let posted = tokio::time::timeout(
            WEBHOOK_TIMEOUT,
            crate::http::post(
                hook.url.expose_secret(),
                hook.ca_file.as_deref(),
                "application/json",
                m.raw.clone(),
            ),
        )
        .await;
        match posted {
            Err(_) => Delivery::Temporary(format!(
                "the webhook did not answer within {} s",
                WEBHOOK_TIMEOUT.as_secs()
            )),
            Ok(Err(e)) => Delivery::Temporary(format!("webhook: {e}")),
            Ok(Ok(reply)) => match reply.status {
                200..=299 => Delivery::Accepted(format!("webhook answered HTTP {}", reply.status)),
                429 | 500..=599 => {
                    Delivery::Temporary(format!("webhook answered HTTP {}", reply.status))
                }
                other => Delivery::Permanent(format!("webhook refused it: HTTP {other}")),
            },
        }
    }

    /// After a permanent refusal of a multi-recipient send: each recipient separately.
    /// Sent when at least one accepted; the refused ones are named in the result.
    async fn deliver_one_by_one(
        &self,
        m: &outbox::Leased,
        recipients: &[String],
        first_error: &str,
    ) -> Delivery {
        let mut accepted = Vec::new();
        let mut refused = Vec::new();
        let mut temporary = false;
        let mut unreachable = false;
        for r in recipients {
            let result = match build_envelope(&m.from_addr, std::slice::from_ref(r)) {
                Ok(env) => self.transport.deliver(&env, &m.raw).await,
                Err(why) => Delivery::Permanent(why),
            };
            match result {
                Delivery::Accepted(_) | Delivery::Partial { .. } => accepted.push(r.as_str()),
                Delivery::Temporary(e) => {
                    temporary = true;
                    refused.push(format!("{r} (temporary: {e})"));
                }
                Delivery::Unreachable(e) => {
                    unreachable = true;
                    refused.push(format!("{r} (temporary: {e})"));
                }
                Delivery::Permanent(e) | Delivery::Held(e) => refused.push(format!("{r} ({e})")),
            }
        }
        if accepted.is_empty() {
            let all = format!("{first_error}; one by one: {}", refused.join("; "));
            return if unreachable {
                Delivery::Unreachable(all)
            } else if temporary {
                Delivery::Temporary(all)
            } else {
                Delivery::Permanent(all)
            };
        }
        Delivery::Partial {
            accepted: accepted.join(", "),
            refused: refused.join("; "),
        }
    }

    /// Why a leased message must not go out now, if it must not.
    async fn refused_recipient(
        &self,
        m: &outbox::Leased,
        recipients: &[String],
    ) -> Result<Option<String>, StoreError> {
        let Some(guard) = &self.guard else {
            return Ok(None);
        };
        if m.released_by.is_some() {
            return Ok(None);
        }
        // The database is asked only about addresses the configuration alone does
        // not allow (verified participants): most sends need no query.
        let mut conn = None;
        for r in recipients {
            let address = crate::domain::EmailAddress::parse(r).ok();
            let allowed = match &address {
                Some(a) if guard.allowed_without_case(a) => true,
                Some(a) => {
                    let c = match &mut conn {
                        Some(c) => c,
                        None => conn.insert(self.store.acquire().await?),
                    };
                    guard.allowed(c, m.case_id, a).await?
                }
                None => false,
            };
            if !allowed {
                let why = address
                    .as_ref()
                    .and_then(|a| a.routing_concern())
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default();
                return Ok(Some(format!(
                    "{r} is not an allowed recipient at send time{why} (allowed domains, directory, verified participants); an analyst must release it"
                )));
            }
        }
        Ok(None)
    }

    async fn finish(
        &self,
        m: &outbox::Leased,
        delivery: Delivery,
    ) -> Result<StepOutcome, StoreError> {
        let now = Utc::now();
        let unreachable = matches!(delivery, Delivery::Unreachable(_));
        let accepted = matches!(delivery, Delivery::Accepted(_) | Delivery::Partial { .. });
        let mut tx = self.store.begin_write().await?;
        let (outcome, kind, detail) = match delivery {
            Delivery::Accepted(resp) => {
                outbox::mark_sent(&mut tx, m.id, now).await?;
                tracing::info!(outbox_id = m.id, message_id = %m.message_id, %resp, "outbound mail accepted");
                (
                    StepOutcome::Sent { outbox_id: m.id },
                    EventKind::OutboundSent,
                    serde_json::json!({"message_id": m.message_id, "server": resp}),
                )
            }
            Delivery::Temporary(err) | Delivery::Unreachable(err) => {
                let age = now - store::parse_ts(&m.created_at).unwrap_or(now);
                if age > Duration::hours(self.settings.give_up_after_hours as i64) {
                    let why = format!(
                        "gave up after {} attempts over {}h: {err}",
                        m.attempts + 1,
                        age.num_hours()
                    );
                    outbox::mark_failed(&mut tx, m.id, &why).await?;
                    tracing::error!(outbox_id = m.id, error = %why, "outbound mail failed");
                    (
                        StepOutcome::Failed { outbox_id: m.id },
                        EventKind::OutboundFailed,
                        serde_json::json!({"message_id": m.message_id, "error": why}),
                    )
                } else {
                    let delay = backoff(&self.settings, m.attempts as u32);
                    outbox::mark_retry(&mut tx, m.id, &err, now + delay, unreachable).await?;
                    tracing::warn!(outbox_id = m.id, attempt = m.attempts + 1, retry_in_s = delay.num_seconds(), error = %err, "outbound mail deferred");
                    tx.commit().await?;
                    if unreachable {
                        self.server_down.store(true, Ordering::SeqCst);
                        return Ok(StepOutcome::Unreachable {
                            outbox_id: m.id,
                            error: err,
                        });
                    }
                    return Ok(StepOutcome::Retry { outbox_id: m.id });
                }
            }
            Delivery::Partial { accepted, refused } => {
                outbox::mark_sent(&mut tx, m.id, now).await?;
                let note = format!("refused for {refused}");
                outbox::set_last_error(&mut tx, m.id, &note).await?;
                tracing::warn!(outbox_id = m.id, %accepted, %refused, "outbound mail partly refused");
                (
                    StepOutcome::Sent { outbox_id: m.id },
                    EventKind::OutboundPartlyRefused,
                    serde_json::json!({"message_id": m.message_id, "accepted": accepted, "refused": refused}),
                )
            }
            Delivery::Held(reason) => {
                outbox::hold(&mut tx, m.id, &reason).await?;
                tracing::warn!(outbox_id = m.id, %reason, "outbound mail held at send time");
                (
                    StepOutcome::Held { outbox_id: m.id },
                    EventKind::OutboundHeld,
                    serde_json::json!({"message_id": m.message_id, "hold_reason": reason}),
                )
            }
            Delivery::Permanent(err) => {
                outbox::mark_failed(&mut tx, m.id, &err).await?;
                tracing::error!(outbox_id = m.id, error = %err, "outbound mail refused");
                (
                    StepOutcome::Failed { outbox_id: m.id },
                    EventKind::OutboundFailed,
                    serde_json::json!({"message_id": m.message_id, "error": err}),
                )
            }
        };
        if let Some(case_id) = m.case_id {
            store::record_event(
                &mut tx,
                NewEvent {
                    case_id,
                    at: now,
                    actor: "system",
                    kind,
                    detail,
                    message_row_id: None,
                    outbox_id: Some(m.id),
                },
            )
            .await?;
        }
        tx.commit().await?;
        if accepted && self.server_down.swap(false, Ordering::SeqCst) {
            self.release_backoff().await?;
        }
        Ok(outcome)
    }

    /// Gives up the lease of an abandoned send, so the next start need not wait it out.
    /// Where interrupted sends are looked up in the sent folder, it is left in doubt for
    /// that search instead (the server may have accepted it before going silent).
    async fn abandon(&self, id: i64) {
        let released = async {
            let mut conn = self.store.acquire().await?;
            if self.hold_in_doubt {
                outbox::expire_lease(&mut conn, id, Utc::now()).await
            } else {
                outbox::release_lease(&mut conn, id).await
            }
        };
        if let Err(e) = released.await {
            tracing::warn!(outbox_id = id, error = %e, "cannot give up the lease; the message goes again when it expires");
        }
    }

    /// The server accepted mail: what waited for it to come back is due now.
    async fn release_backoff(&self) -> Result<(), StoreError> {
        let mut tx = self.store.begin_write().await?;
        let n = outbox::release_backoff(&mut tx, Utc::now()).await?;
        tx.commit().await?;
        if n > 0 {
            tracing::info!(released = n, "SMTP server accepts mail again; messages deferred while it was unreachable are due now");
        }
        Ok(())
    }

    /// Sends until nothing is due (for `demo` and `outbound flush`), or until the
    /// server turns out unreachable: the rest then waits, instead of each message
    /// waiting out the time limit in turn. `[outbox] senders` send at once.
    pub async fn drain(&self) -> Result<Vec<StepOutcome>, StoreError> {
        let down = AtomicBool::new(false);
        let runs = (0..self.senders()).map(|slot| {
            let down = &down;
            async move {
                let mut out = Vec::new();
                while !down.load(Ordering::SeqCst) {
                    match self.send_next_as(slot).await? {
                        StepOutcome::Idle => break,
                        o @ StepOutcome::Unreachable { .. } => {
                            down.store(true, Ordering::SeqCst);
                            out.push(o);
                        }
                        o => out.push(o),
                    }
                }
                Ok::<_, StoreError>(out)
            }
        });
        let mut out = Vec::new();
        for r in futures::future::join_all(runs).await {
            out.extend(r?);
        }
        Ok(out)
    }

    /// Runs until `shutdown` turns true, `[outbox] senders` sends at a time. Each
    /// sender wakes when a write in this process commits (what may have queued mail)
    /// and at least every `poll_interval_ms` (mail queued by another process). The
    /// sends in hand get a few seconds to finish; one still waiting for a server after
    /// that is abandoned (its lease expires and it goes again later, with the same
    /// Message-ID).
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let runs = (0..self.senders()).map(|slot| self.run_sender(slot, shutdown.clone()));
        futures::future::join_all(runs).await;
        tracing::info!("outbox worker stopped");
    }

    async fn run_sender(&self, slot: usize, mut shutdown: watch::Receiver<bool>) {
        const GRACE: StdDuration = StdDuration::from_secs(5);
        let idle = StdDuration::from_millis(self.settings.poll_interval_ms.max(50));
        let commits = self.store.commits();
        let mut failures = 0u32;
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Interest in the next commit before looking, so one in between counts.
            let committed = commits.notified();
            tokio::pin!(committed);
            committed.as_mut().enable();
            let step = self.send_next_as(slot);
            tokio::pin!(step);
            let result = tokio::select! {
                r = &mut step => r,
                _ = shutdown.changed() => match tokio::time::timeout(GRACE, &mut step).await {
                    Ok(r) => r,
                    Err(_) => {
                        let id = self.in_hand(slot);
                        tracing::warn!(outbox_id = ?id, grace_s = GRACE.as_secs(), "shutdown: the send in hand did not finish in time and is abandoned; it is sent again at the next start, with the same Message-ID");
                        if let Some(id) = id {
                            self.abandon(id).await;
                        }
                        break;
                    }
                },
            };
            let (wait, on_commit) = match result {
                Ok(StepOutcome::Idle) => {
                    failures = 0;
                    (idle, true)
                }
                // The server is down: new mail does not change that.
                Ok(StepOutcome::Unreachable { .. }) => {
                    failures = 0;
                    (idle, false)
                }
                Ok(_) => {
                    failures = 0;
                    (StdDuration::ZERO, false)
                }
                Err(e) => {
                    failures += 1;
                    tracing::error!(error = %e, "outbox worker cannot reach the database; retrying");
                    (StdDuration::from_secs(1u64 << failures.min(5)), false)
                }
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut committed, if on_commit => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// The most senders one worker runs.
const MAX_SENDERS: usize = 16;

/// Delay before attempt `attempts + 1`: base × 2^attempts, capped.
pub fn backoff(s: &OutboxConfig, attempts: u32) -> Duration {
    let secs = s.retry_base_secs.saturating_mul(1u64 << attempts.min(20));
    Duration::seconds(secs.min(s.retry_max_secs).max(1) as i64)
}

fn build_envelope(from: &str, to: &[String]) -> Result<Envelope, String> {
    let from = from
        .parse()
        .map_err(|e| format!("bad sender address {from}: {e}"))?;
    let to = to
        .iter()
        .map(|t| {
            t.parse()
                .map_err(|e| format!("bad recipient address {t}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(from), to).map_err(|e| format!("bad envelope: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let s = OutboxConfig {
            retry_base_secs: 2,
            retry_max_secs: 60,
            ..OutboxConfig::default()
        };
        let d: Vec<i64> = (0..7).map(|a| backoff(&s, a).num_seconds()).collect();
        assert_eq!(d, vec![2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff(&s, 200).num_seconds(), 60);
    }
}
