//! Intake: one message in, one transaction out. IMAP, the MTA pipe and `demo` all call
//! [`Pipeline::ingest`], so they behave the same.

mod answer;
mod attach;
mod campaign;
mod decide;
pub mod imap;
mod matching;
mod new_case;
mod persist;
mod reminders;
mod replies;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::SqliteConnection;

use crate::config::Config;
use crate::domain::{EmailAddress, MessageKind};
use crate::extract::fields::AgencyEntry;
use crate::extract::report::{self, Analysis};
use crate::extract::{bounds, content_hash, InboundEmail};
use crate::notify::Notifier;
use crate::routing::DirectoryHandle;
use crate::store::messages::{self, NewMessage, Origin};
use crate::store::{cases, Store, StoreError};
use attach::mark_undeliverable;
use decide::{decide, Decision};
use matching::{bounced_outbox, stored_before};
use persist::store_message;

/// What happened to one message.
#[derive(Debug, Clone, Serialize)]
pub struct IngestOutcome {
    /// The `messages` row holding the raw bytes.
    pub message_row: i64,
    /// The message had been stored before; nothing new was written.
    pub duplicate: bool,
    pub kind: MessageKind,
    pub tracking_id: Option<String>,
    pub new_case: bool,
    /// The acknowledgement's outbox row, when one was enqueued (pending or held).
    pub acknowledgement: Option<i64>,
    /// Why no acknowledgement was enqueued, when none was.
    pub note: Option<String>,
}

/// The intake pipeline: parse, classify, match, store, enqueue.
#[derive(Clone)]
pub struct Pipeline {
    store: Store,
    config: Arc<Config>,
    own: Arc<Vec<EmailAddress>>,
    /// The directory in use (reloaded on SIGHUP or change by the service).
    directory: DirectoryHandle,
    notifier: Notifier,
}

impl Pipeline {
    /// Builds the pipeline; reads the directory file when one is configured.
    pub fn new(store: Store, config: Arc<Config>) -> Result<Self, crate::routing::DirectoryError> {
        let directory = DirectoryHandle::open(config.gateway.directory.clone())?;
        Ok(Self::with_directory(store, config, directory))
    }

    /// Builds the pipeline around a directory shared with the rest of the service.
    pub fn with_directory(store: Store, config: Arc<Config>, directory: DirectoryHandle) -> Self {
        Self {
            own: Arc::new(config.own_addresses()),
            notifier: Notifier::new(config.clone(), directory.clone()),
            store,
            config,
            directory,
        }
    }

    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Reads a message without storing it (`parse`, and the first step of `ingest`).
    pub fn analyze(&self, raw: &[u8]) -> Analysis {
        let dir = self.directory.get();
        analyze_with(raw, &self.own, &dir.agencies, &self.config)
    }

    /// [`Pipeline::analyze`] on the blocking pool, within `[gateway]
    /// analysis_timeout_secs`. Past the budget (or if the analysis panicked) the message
    /// is read from its headers only, with a "not analysed" note; the abandoned reading
    /// runs to its end in the background, bounded by the pre-scan of the analysis.
    pub async fn analyze_in_budget(&self, raw: Arc<Vec<u8>>) -> Analysis {
        let secs = self.config.gateway.analysis_timeout_secs;
        let (pipeline, bytes) = (self.clone(), raw.clone());
        let why = match bounds::in_budget(secs, move || pipeline.analyze(&bytes)).await {
            Ok(analysis) => return analysis,
            Err(why) => why,
        };
        let reason =
            format!("the analysis stopped: {why} (the budget is [gateway] analysis_timeout_secs)");
        let dir = self.directory.get();
        report::analyze_headers(&raw, &self.options(&dir.agencies), &reason)
    }

    fn options<'a>(&'a self, agencies: &'a [AgencyEntry]) -> report::Options<'a> {
        options(&self.own, agencies, &self.config)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stores `raw` and everything derived from it in one transaction. Returns only
    /// after the commit; an `Err` means nothing was written and the caller must keep
    /// the message where it is (IMAP) or ask the MTA to retry (pipe).
    pub async fn ingest(&self, raw: &[u8], origin: &Origin) -> Result<IngestOutcome, StoreError> {
        self.ingest_at(raw.to_vec(), origin, Utc::now()).await
    }

    /// [`Pipeline::ingest`] of bytes the caller gives up (no copy of the message).
    pub async fn ingest_owned(
        &self,
        raw: Vec<u8>,
        origin: &Origin,
    ) -> Result<IngestOutcome, StoreError> {
        self.ingest_at(raw, origin, Utc::now()).await
    }

    pub async fn ingest_at(
        &self,
        raw: Vec<u8>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        let raw = Arc::new(raw);
        let analysis = self.analyze_in_budget(raw.clone()).await;
        let mut tx = self.store.begin_write().await?;
        let outcome = self
            .ingest_in(&mut tx, &raw, origin, &analysis, now)
            .await?;
        tx.commit().await?;
        log_stored(&outcome);
        Ok(outcome)
    }

    /// A batch of messages (a burst waiting in the mailbox): read in parallel on the
    /// blocking pool (as many at once as the machine has cores), then stored in one
    /// transaction, each message exactly as [`Pipeline::ingest`] stores it. An IMAP
    /// message's intake attempt (`store::attempts`) ends in that same commit. All or
    /// nothing: an `Err` means nothing of the batch was written.
    pub async fn ingest_batch(
        &self,
        items: Vec<(Vec<u8>, Origin)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        use futures::StreamExt;
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        let items: Vec<(Arc<Vec<u8>>, Origin)> =
            items.into_iter().map(|(r, o)| (Arc::new(r), o)).collect();
        let started = std::time::Instant::now();
        let readings: Vec<_> = items
            .iter()
            .map(|(raw, _)| {
                let (pipeline, raw) = (self.clone(), raw.clone());
                async move { pipeline.analyze_in_budget(raw).await }
            })
            .collect();
        let analyses: Vec<Analysis> = futures::stream::iter(readings)
            .buffered(parallel)
            .collect()
            .await;
        let read = started.elapsed();
        let mut tx = self.store.begin_write().await?;
        let mut out = Vec::with_capacity(items.len());
        for ((raw, origin), analysis) in items.iter().zip(&analyses) {
            let outcome = self.ingest_in(&mut tx, raw, origin, analysis, now).await?;
            if let Origin::Imap {
                mailbox,
                uid_validity,
                uid,
            } = origin
            {
                crate::store::attempts::end(&mut tx, mailbox, *uid_validity, *uid, true).await?;
            }
            out.push(outcome);
        }
        tx.commit().await?;
        for o in &out {
            log_stored(o);
        }
        tracing::debug!(
            n = out.len(),
            read_ms = read.as_millis() as u64,
            stored_ms = (started.elapsed() - read).as_millis() as u64,
            "batch stored"
        );
        Ok(out)
    }

    /// Stores `raw` and what `analysis` read from it in the caller's transaction.
    async fn ingest_in(
        &self,
        tx: &mut SqliteConnection,
        raw: &[u8],
        origin: &Origin,
        analysis: &Analysis,
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        let email = &analysis.email;
        let class = &analysis.class;
        let hash = content_hash(raw);
        if let Some((row, case_id)) =
            stored_before(tx, origin, email.message_id.as_deref(), &hash).await?
        {
            let tracking = match case_id {
                Some(id) => cases::tracking_id(tx, id).await?,
                None => None,
            };
            return Ok(self.duplicate(row, tracking, class.kind));
        }

        // Match: a bounce of our own mail by its VERP address, then the case the
        // threading headers or the subject tag name.
        let bounced = if class.kind == MessageKind::Bounce {
            bounced_outbox(tx, raw, &self.config.soc_address()).await?
        } else {
            None
        };
        let matched = self.match_case(tx, email).await?;
        // Decide, then persist and answer.
        let m = Incoming {
            raw,
            origin,
            analysis,
            hash: &hash,
            now,
        };
        Ok(
            match decide(
                class.kind,
                analysis.tracking_id.as_deref(),
                matched,
                bounced.as_ref(),
            ) {
                Decision::NewCase => match self.campaign_of(tx, analysis, now).await? {
                    Some((case_id, fingerprint)) => {
                        self.join_campaign(tx, case_id, &fingerprint, &m).await?
                    }
                    None => self.open_case(tx, &m, None).await?,
                },
                Decision::UnknownTag { tag } => self.quarantine_unknown_tag(tx, &m, &tag).await?,
                Decision::Attach {
                    case_id,
                    how,
                    kind,
                    bounced,
                } => {
                    let outcome = self.attach(tx, case_id, how, kind, &m).await?;
                    if let Some(recipient) = bounced {
                        mark_undeliverable(tx, case_id, &recipient, outcome.message_row, now)
                            .await?;
                    }
                    outcome
                }
                Decision::Quarantine { kind } => quarantine(tx, kind, &m).await?,
            },
        )
    }

    /// A report carrying a tag of ours that matches no case: kept in the quarantine and
    /// answered with a neutral receipt, as a stranger's reply to a real case would be.
    async fn quarantine_unknown_tag(
        &self,
        tx: &mut SqliteConnection,
        m: &Incoming<'_>,
        tag: &str,
    ) -> Result<IngestOutcome, StoreError> {
        let row = store_message(tx, None, MessageKind::Reply, m).await?;
        let reason = format!("refers to {tag}, which matches no case");
        messages::set_quarantine_reason(tx, row, &reason).await?;
        let receipt = self
            .neutral_receipt(tx, None, row, m.analysis, m.now)
            .await?;
        Ok(IngestOutcome {
            message_row: row,
            duplicate: false,
            kind: MessageKind::Reply,
            tracking_id: None,
            new_case: false,
            acknowledgement: receipt,
            note: Some(format!("quarantined: {reason}")),
        })
    }

    /// Stores a message that intake could not get through (a poison message): its raw
    /// bytes, as unparseable, quarantined with `reason`; nothing is read from it, so
    /// whatever stopped intake before cannot stop it again.
    pub async fn ingest_unread(
        &self,
        raw: &[u8],
        origin: &Origin,
        reason: &str,
    ) -> Result<IngestOutcome, StoreError> {
        let now = Utc::now();
        let hash = content_hash(raw);
        let mut tx = self.store.begin_write().await?;
        if let Some((row, _)) = stored_before(&mut tx, origin, None, &hash).await? {
            tx.commit().await?;
            return Ok(self.duplicate(row, None, MessageKind::Unparseable));
        }
        let email = InboundEmail {
            parse_notes: vec![reason.to_string()],
            ..InboundEmail::default()
        };
        let row = messages::insert(
            &mut tx,
            NewMessage {
                case_id: None,
                kind: MessageKind::Unparseable.as_str(),
                quarantine_reason: Some(reason),
                origin,
                email: &email,
                content_hash: &hash,
                raw,
                analysis: None,
                now,
            },
        )
        .await?;
        tx.commit().await?;
        tracing::error!(row, %reason, "message stored unread and quarantined");
        Ok(IngestOutcome {
            message_row: row,
            duplicate: false,
            kind: MessageKind::Unparseable,
            tracking_id: None,
            new_case: false,
            acknowledgement: None,
            note: Some(format!("quarantined: {reason}")),
        })
    }

    /// Opens a case from a message in the quarantine, as if it had arrived as a report
    /// now: read again, its case, participants, acknowledgement (only when
    /// `acknowledge`, and never to one of our own addresses) and notices. Returns the
    /// transaction uncommitted, so the caller records who decided it in the same commit.
    ///
    /// `split_from`: the campaign case the message is a report of; it leaves that case
    /// (an analyst split it out) in the same transaction.
    pub async fn open_stored(
        &self,
        row: i64,
        acknowledge: bool,
        split_from: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(crate::store::WriteTx, IngestOutcome), StoreError> {
        let (raw, origin) = {
            let mut conn = self.store.acquire().await?;
            let raw = messages::raw(&mut conn, row).await?;
            let origin = messages::origin(&mut conn, row).await?;
            match (raw, origin) {
                (Some(raw), Some(origin)) => (Arc::new(raw), origin),
                _ => return Err(StoreError::Invalid(format!("there is no message #{row}"))),
            }
        };
        let mut analysis = self.analyze_in_budget(raw.clone()).await;
        let ours = analysis
            .email
            .reply_address()
            .is_some_and(|a| self.own.contains(&a.address));
        analysis.class.kind = MessageKind::Report;
        analysis.class.acknowledge = acknowledge && !ours;
        analysis.class.reason = match (acknowledge, ours) {
            (_, true) => Some("the sender is one of our own addresses".into()),
            (false, _) => Some(
                "an analyst opened the case from the quarantine and chose not to acknowledge the sender"
                    .into(),
            ),
            (true, false) => None,
        };
        let hash = content_hash(&raw);
        let mut tx = self.store.begin_write().await?;
        if let Some(case_id) = split_from {
            if !crate::store::campaigns::split_out(&mut tx, case_id, row).await? {
                return Err(StoreError::Invalid(format!(
                    "message #{row} is not a report of this case any more (another analyst acted on it); reload the page"
                )));
            }
        }
        let m = Incoming {
            raw: &raw,
            origin: &origin,
            analysis: &analysis,
            hash: &hash,
            now,
        };
        let outcome = self.open_case(&mut tx, &m, Some(row)).await?;
        Ok((tx, outcome))
    }

    fn duplicate(&self, row: i64, tracking_id: Option<String>, kind: MessageKind) -> IngestOutcome {
        IngestOutcome {
            message_row: row,
            duplicate: true,
            kind,
            tracking_id,
            new_case: false,
            acknowledgement: None,
            note: Some("already stored: same message seen before".into()),
        }
    }

    fn recipient_allowed(&self, a: &EmailAddress) -> bool {
        self.notifier.disclosure().allowed_without_case(a)
    }
}

fn log_stored(outcome: &IngestOutcome) {
    if outcome.duplicate {
        return;
    }
    tracing::info!(
        row = outcome.message_row,
        kind = %outcome.kind,
        case = outcome.tracking_id.as_deref().unwrap_or("-"),
        new_case = outcome.new_case,
        ack = outcome.acknowledgement.is_some(),
        "message stored"
    );
}

/// One inbound message as the stages after analysis see it.
pub(super) struct Incoming<'a> {
    pub(super) raw: &'a [u8],
    pub(super) origin: &'a Origin,
    pub(super) analysis: &'a Analysis,
    /// The content hash (duplicate detection).
    pub(super) hash: &'a str,
    pub(super) now: DateTime<Utc>,
}

/// Not a report and about no case: stored in the quarantine with the reason.
async fn quarantine(
    tx: &mut SqliteConnection,
    kind: MessageKind,
    m: &Incoming<'_>,
) -> Result<IngestOutcome, StoreError> {
    let row = store_message(tx, None, kind, m).await?;
    Ok(IngestOutcome {
        message_row: row,
        duplicate: false,
        kind,
        tracking_id: None,
        new_case: false,
        acknowledgement: None,
        note: Some(format!(
            "quarantined: {}",
            m.analysis.class.reason.as_deref().unwrap_or("not a report")
        )),
    })
}

fn options<'a>(
    own: &'a [EmailAddress],
    agencies: &'a [AgencyEntry],
    config: &'a Config,
) -> report::Options<'a> {
    report::Options {
        own,
        agencies,
        tracking_prefix: &config.gateway.tracking_prefix,
        max_part_bytes: config.gateway.max_attachment_bytes,
    }
}

/// The analysis as intake runs it: messages over `max_message_bytes`, or shaped to
/// make parsing too costly, are read from their headers only (and say so).
pub fn analyze_with(
    raw: &[u8],
    own: &[EmailAddress],
    agencies: &[AgencyEntry],
    config: &Config,
) -> Analysis {
    let opts = options(own, agencies, config);
    let limit = config.gateway.max_message_bytes;
    if raw.len() <= limit {
        return report::analyze(raw, &opts);
    }
    let reason = format!(
        "the message of {} bytes is over the {limit} byte limit ([gateway] max_message_bytes)",
        raw.len()
    );
    report::analyze_headers(raw, &opts, &reason)
}
