//! Intake: one message in, one transaction out. IMAP, the MTA pipe and `demo` all call
//! [`Pipeline::ingest`], so they behave the same.

mod conversation;
pub mod imap;

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::America::New_York;
use serde::Serialize;
use sqlx::SqliteConnection;

use crate::config::Config;
use crate::domain::{subject_tags, EmailAddress, MessageKind, TrackingId};
use crate::extract::fields::AgencyEntry;
use crate::extract::report::{self, Analysis};
use crate::extract::{bounds, content_hash, InboundEmail};
use crate::notify::Notifier;
use crate::outbound::{self, Outgoing, QueueError};
use crate::routing::DirectoryHandle;
use crate::store::messages::{self, NewMessage, Origin};
use crate::store::{self, cases, NewEvent, Store, StoreError};
use crate::store::{notices, outbox};

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
        let raw: &[u8] = &raw;
        let email = &analysis.email;
        let class = &analysis.class;
        let hash = content_hash(raw);

        let mut tx = self.store.begin_write().await?;
        if let Some((row, case_id)) =
            stored_before(&mut tx, origin, email.message_id.as_deref(), &hash).await?
        {
            let tracking = match case_id {
                Some(id) => cases::tracking_id(&mut tx, id).await?,
                None => None,
            };
            tx.commit().await?;
            return Ok(self.duplicate(row, tracking, class.kind));
        }

        // A bounce of our own mail names our Message-ID in the returned headers.
        let bounced = if class.kind == MessageKind::Bounce {
            bounced_outbox(&mut tx, raw, &self.config.soc_address()).await?
        } else {
            None
        };
        let mut matched = self.match_case(&mut tx, email).await?;
        if matched.is_none() {
            matched = bounced
                .as_ref()
                .map(|(case_id, _)| (*case_id, "bounced message"));
        }
        let outcome = match (class.kind, matched) {
            // A tag of ours that matches no case: answered exactly like a stranger's reply
            // to a real case (a neutral receipt), so the answer never tells whether a
            // tracking ID exists. The analyst finds it in the quarantine.
            (MessageKind::Report, None) if analysis.tracking_id.is_some() => {
                let row = store_message(
                    &mut tx,
                    None,
                    MessageKind::Reply,
                    origin,
                    &analysis,
                    &hash,
                    raw,
                    now,
                )
                .await?;
                let tag = analysis.tracking_id.clone().unwrap_or_default();
                messages::set_quarantine_reason(
                    &mut tx,
                    row,
                    &format!("refers to {tag}, which matches no case"),
                )
                .await?;
                let receipt = self
                    .neutral_receipt(&mut tx, None, row, &analysis, now)
                    .await?;
                IngestOutcome {
                    message_row: row,
                    duplicate: false,
                    kind: MessageKind::Reply,
                    tracking_id: None,
                    new_case: false,
                    acknowledgement: receipt,
                    note: Some(format!(
                        "quarantined: refers to {tag}, which matches no case"
                    )),
                }
            }
            (MessageKind::Report, None) => {
                self.open_case(&mut tx, raw, origin, &analysis, &hash, now)
                    .await?
            }
            (kind, Some((case_id, how))) => {
                let kind = if kind == MessageKind::Report {
                    MessageKind::Reply
                } else {
                    kind
                };
                let outcome = self
                    .attach(
                        &mut tx, case_id, how, kind, raw, origin, &analysis, &hash, now,
                    )
                    .await?;
                if let Some((bounced_case, recipient)) =
                    bounced.as_ref().filter(|(c, _)| *c == case_id)
                {
                    mark_undeliverable(&mut tx, *bounced_case, recipient, outcome.message_row, now)
                        .await?;
                }
                outcome
            }
            (kind, None) => {
                let row =
                    store_message(&mut tx, None, kind, origin, &analysis, &hash, raw, now).await?;
                IngestOutcome {
                    message_row: row,
                    duplicate: false,
                    kind,
                    tracking_id: None,
                    new_case: false,
                    acknowledgement: None,
                    note: Some(format!(
                        "quarantined: {}",
                        class.reason.as_deref().unwrap_or("not a report")
                    )),
                }
            }
        };
        tx.commit().await?;
        tracing::info!(
            row = outcome.message_row,
            kind = %outcome.kind,
            case = outcome.tracking_id.as_deref().unwrap_or("-"),
            new_case = outcome.new_case,
            ack = outcome.acknowledgement.is_some(),
            "message stored"
        );
        Ok(outcome)
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

    /// Known Message-ID in In-Reply-To/References first, then the subject tag; a
    /// merged case's mail goes to the case it was merged into.
    async fn match_case(
        &self,
        conn: &mut SqliteConnection,
        email: &InboundEmail,
    ) -> Result<Option<(i64, &'static str)>, StoreError> {
        Ok(match self.match_case_direct(conn, email).await? {
            Some((id, how)) => Some((cases::resolve_merged(conn, id).await?, how)),
            None => None,
        })
    }

    async fn match_case_direct(
        &self,
        conn: &mut SqliteConnection,
        email: &InboundEmail,
    ) -> Result<Option<(i64, &'static str)>, StoreError> {
        let mut refs = email.in_reply_to.clone();
        refs.extend(email.references.iter().rev().cloned());
        if let Some(id) = messages::case_for_message_ids(conn, &refs).await? {
            // An answer to our SCIO thread or an escalation notice is for the analysts,
            // not a reporter's reply.
            let ours = notices::any_to_officials(conn, &refs).await?;
            return Ok(Some((id, if ours { "scio_thread" } else { "references" })));
        }
        for tid in subject_tags(&email.subject, &self.config.gateway.tracking_prefix) {
            if let Some(c) = cases::by_tracking_id(conn, &tid).await? {
                return Ok(Some((c.id, "subject_tag")));
            }
        }
        Ok(None)
    }

    async fn open_case(
        &self,
        tx: &mut SqliteConnection,
        raw: &[u8],
        origin: &Origin,
        analysis: &Analysis,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        let email = &analysis.email;
        let year = now.with_timezone(&New_York).year();
        let tid = cases::next_tracking_id(tx, &self.config.gateway.tracking_prefix, year).await?;
        let reporter = email.reply_address();
        let case_id = cases::insert(
            tx,
            cases::NewCase {
                tracking_id: &tid,
                subject: &email.subject,
                reporter_email: reporter.map(|r| r.address.as_str()),
                reporter_name: email.from.as_ref().and_then(|f| f.name.as_deref()),
                now,
            },
        )
        .await?;
        let row = store_message(
            tx,
            Some(case_id),
            MessageKind::Report,
            origin,
            analysis,
            hash,
            raw,
            now,
        )
        .await?;
        cases::set_analysis(tx, case_id, row, analysis).await?;
        self.add_participants(tx, case_id, email, now).await?;
        store::record_event(
            tx,
            NewEvent {
                message_row_id: Some(row),
                ..NewEvent::system(
                    case_id,
                    now,
                    "case_opened",
                    serde_json::json!({
                        "tracking_id": tid.to_string(),
                        "subject": email.subject,
                        "from": email.from.as_ref().map(|f| f.address.to_string()),
                        "origin": origin.label(),
                        "category": analysis.category,
                        "category_reasons": analysis.category_reasons,
                        "severity_suggested": analysis.severity_suggested,
                        "severity_reasons": analysis.severity_reasons,
                        "missing": analysis.missing,
                        "notes": analysis.notes,
                    }),
                )
            },
        )
        .await?;

        // Officials told of this case are also told when its sender could not be
        // authenticated (only when sender authentication is configured at all).
        if let Some(reason) = self.unauthenticated_report(email) {
            message_event(
                tx,
                case_id,
                row,
                now,
                "sender_not_authenticated",
                serde_json::json!({ "reason": reason }),
            )
            .await?;
        }
        let (ack, note) = self
            .acknowledge(tx, case_id, row, &tid, analysis, now)
            .await?;
        // The SCIO thread, reported flags and their escalations.
        self.notifier.after_report(tx, case_id, row, now).await?;
        Ok(IngestOutcome {
            message_row: row,
            duplicate: false,
            kind: MessageKind::Report,
            tracking_id: Some(tid.to_string()),
            new_case: true,
            acknowledgement: ack,
            note,
        })
    }

    /// Enqueues the acknowledgement, or records why there is none.
    async fn acknowledge(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        row: i64,
        tid: &TrackingId,
        analysis: &Analysis,
        now: DateTime<Utc>,
    ) -> Result<(Option<i64>, Option<String>), StoreError> {
        let email = &analysis.email;
        let class = &analysis.class;
        let Some(to) = email.reply_address().filter(|_| class.acknowledge) else {
            let why = class
                .reason
                .clone()
                .unwrap_or_else(|| "no address to answer".into());
            return suppress(tx, Some(case_id), row, now, why).await;
        };
        let limit = self.config.gateway.ack_rate_limit_per_hour as i64;
        let recent =
            outbox::count_recent(tx, to.address.as_str(), "ack", now - Duration::hours(1)).await?;
        if recent >= limit {
            let why = format!(
                "rate limit: {recent} acknowledgements to {} in the last hour (limit {limit}, [gateway] ack_rate_limit_per_hour)",
                to.address
            );
            return suppress(tx, Some(case_id), row, now, why).await;
        }

        let ctx = serde_json::json!({
            "tracking_id": tid.to_string(),
            "original_subject": if email.subject.is_empty() { "(no subject)" } else { email.subject.as_str() },
            "reporter_name": email.from.as_ref().and_then(|f| f.name.clone()),
            "received_at": crate::outbound::template::local_time(now),
            "soc_name": self.config.gateway.name,
            "missing": missing_items(&analysis.missing),
            "missing_block": crate::extract::fields::fill_in_block(
                &analysis.missing.iter().map(String::as_str).collect::<Vec<_>>()
            ),
        });
        self.enqueue_answer(
            tx,
            Answer {
                case_id: Some(case_id),
                row,
                kind: "ack",
                template: "ack",
                ctx,
                to,
                email,
                queued_event: "ack_queued",
            },
            now,
        )
        .await
    }

    /// Renders, composes and enqueues one answer to `email`, threaded under it; held for
    /// review when the recipient is outside the allowed domains. A template or address
    /// problem is recorded on the case instead of failing the intake.
    async fn enqueue_answer(
        &self,
        tx: &mut SqliteConnection,
        a: Answer<'_>,
        now: DateTime<Utc>,
    ) -> Result<(Option<i64>, Option<String>), StoreError> {
        let Answer {
            case_id,
            row,
            kind,
            template,
            ctx,
            to,
            email,
            queued_event,
        } = a;
        let rendered = match self.notifier.templates().render(template, &ctx) {
            Ok(r) => r,
            Err(e) => {
                return suppress(
                    tx,
                    case_id,
                    row,
                    now,
                    format!("{kind} could not be rendered: {e}"),
                )
                .await
            }
        };
        // A receipt reveals nothing about any case: no tag in its Message-ID and no
        // thread ancestry beyond the sender's own message.
        let neutral = kind == "receipt";
        let tag = ctx
            .get("tracking_id")
            .and_then(|t| t.as_str())
            .filter(|_| !neutral)
            .unwrap_or("soc");
        let mut references = if neutral {
            Vec::new()
        } else {
            email.references.clone()
        };
        if let Some(mid) = &email.message_id {
            if !references.contains(mid) {
                references.push(mid.clone());
            }
        }
        let hold = self
            .notifier
            .disclosure()
            .hold_for(tx, case_id, &to.address)
            .await?;
        let recipients = [(to.name.clone(), to.address.clone())];
        let outgoing = Outgoing {
            case_id,
            kind,
            id_tag: &format!("{kind}.{tag}"),
            to: &recipients,
            in_reply_to: email.message_id.as_deref(),
            references: &references,
            auto_submitted: "auto-replied",
            hold_reason: hold.as_deref(),
            caused_by_message: Some(row),
        };
        let (outbox_id, message_id) =
            match outbound::enqueue(tx, &self.config, &outgoing, &rendered, now).await {
                Ok(queued) => queued,
                Err(QueueError::Store(e)) => return Err(e),
                Err(QueueError::Compose(e)) => {
                    return suppress(
                        tx,
                        case_id,
                        row,
                        now,
                        format!("{kind} could not be built: {e}"),
                    )
                    .await
                }
            };
        if let Some(case_id) = case_id {
            store::record_event(
                tx,
                NewEvent {
                    message_row_id: Some(row),
                    outbox_id: Some(outbox_id),
                    ..NewEvent::system(
                        case_id,
                        now,
                        if hold.is_some() {
                            "outbound_held"
                        } else {
                            queued_event
                        },
                        serde_json::json!({
                            "kind": kind,
                            "to": to.address.to_string(),
                            "message_id": message_id,
                            "hold_reason": hold,
                        }),
                    )
                },
            )
            .await?;
        }
        Ok((Some(outbox_id), hold))
    }

    /// Adds a message to an existing case (a reply, or an auto-reply/bounce about it).
    #[allow(clippy::too_many_arguments)]
    async fn attach(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        how: &str,
        kind: MessageKind,
        raw: &[u8],
        origin: &Origin,
        analysis: &Analysis,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        let email = &analysis.email;
        let class = &analysis.class;
        let row = store_message(tx, Some(case_id), kind, origin, analysis, hash, raw, now).await?;
        let from = email.from.as_ref().map(|f| f.address.to_string());
        let reporter = cases::reporter_email(tx, case_id).await?;
        let from_reporter = match (&from, &reporter) {
            (Some(f), Some(r)) => f.eq_ignore_ascii_case(r),
            _ => false,
        };
        store::record_event(
            tx,
            NewEvent {
                case_id,
                at: now,
                actor: &match &from {
                    Some(f) => format!("sender:{f}"),
                    None => "sender:unknown".into(),
                },
                kind: match kind {
                    MessageKind::Reply => "correspondence_received",
                    MessageKind::Bounce => "bounce_received",
                    _ => "auto_reply_received",
                },
                detail: serde_json::json!({
                    "matched_by": how,
                    "from": from,
                    "from_reporter": from_reporter,
                    "subject": email.subject,
                    "reason": class.reason,
                }),
                message_row_id: Some(row),
                outbox_id: None,
            },
        )
        .await?;
        cases::touch(tx, case_id, now).await?;
        let (answer, note) = if kind == MessageKind::Reply && how == "scio_thread" {
            cases::flag_for_review(tx, case_id).await?;
            (
                None,
                "an answer in the SCIO thread or to an escalation notice: for the analysts to read; no automatic answer, no field changed".to_string(),
            )
        } else if kind == MessageKind::Reply {
            let (id, note) = self.handle_reply(tx, case_id, row, analysis, now).await?;
            (
                id,
                format!("added to an existing case (matched by {how}); {note}"),
            )
        } else {
            (
                None,
                format!("added to an existing case (matched by {how}); no automatic answer"),
            )
        };
        Ok(IngestOutcome {
            message_row: row,
            duplicate: false,
            kind,
            tracking_id: cases::tracking_id(tx, case_id).await?,
            new_case: false,
            acknowledgement: answer,
            note: Some(note),
        })
    }

    fn recipient_allowed(&self, a: &EmailAddress) -> bool {
        self.notifier.disclosure().allowed_without_case(a)
    }
}

/// One automatic answer to an inbound message.
struct Answer<'a> {
    /// `None` for an answer that belongs to no case (a receipt for an unknown tag).
    case_id: Option<i64>,
    row: i64,
    /// Outbox kind: `ack`, `followup`, `receipt`.
    kind: &'static str,
    template: &'static str,
    ctx: serde_json::Value,
    to: &'a crate::extract::Mailbox,
    /// The message answered (threading headers come from it).
    email: &'a InboundEmail,
    queued_event: &'static str,
}

/// Inserts one inbound message with its reading and its attachments.
#[allow(clippy::too_many_arguments)]
async fn store_message(
    tx: &mut SqliteConnection,
    case_id: Option<i64>,
    kind: MessageKind,
    origin: &Origin,
    analysis: &Analysis,
    hash: &str,
    raw: &[u8],
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let row = messages::insert(
        tx,
        NewMessage {
            case_id,
            kind: kind.as_str(),
            quarantine_reason: analysis.class.reason.as_deref(),
            origin,
            email: &analysis.email,
            content_hash: hash,
            raw,
            analysis: Some(analysis),
            now,
        },
    )
    .await?;
    messages::insert_attachments(tx, row, &analysis.attachments, now).await?;
    Ok(row)
}

/// The missing fields that the fill-in block asks for, with why each matters.
fn missing_items(missing: &[String]) -> Vec<serde_json::Value> {
    missing
        .iter()
        .filter_map(|m| {
            let block = crate::extract::fields::fill_in_block(&[m.as_str()]);
            let label = block.trim().trim_end_matches(':').trim_end_matches(" (yes/no/unknown)").to_string();
            (!label.is_empty()).then(|| {
                serde_json::json!({ "label": label, "why": crate::extract::fields::why_it_matters(m) })
            })
        })
        .collect()
}

/// The case and recipient of one of our messages that this bounce reports as failed:
/// the bounce must have been delivered to that message's own envelope sender (its VERP
/// address) and name that message's recipient as a failed one. A bounce that only
/// quotes our Message-ID may be forged by anyone who saw the message.
async fn bounced_outbox(
    tx: &mut SqliteConnection,
    raw: &[u8],
    soc: &EmailAddress,
) -> Result<Option<(i64, String)>, StoreError> {
    use crate::extract::dsn;
    let failed = dsn::failed_recipients(raw);
    if failed.is_empty() {
        return Ok(None);
    }
    for to in dsn::delivery_addresses(raw).iter().take(20) {
        if dsn::verp_token(to, soc).is_none() {
            continue;
        }
        let Some((Some(case_id), recipients)) = outbox::by_envelope_sender(tx, to).await? else {
            continue;
        };
        if let Some(r) = recipients
            .iter()
            .find(|r| failed.contains(&r.to_ascii_lowercase()))
        {
            return Ok(Some((case_id, r.clone())));
        }
    }
    Ok(None)
}

/// Our mail to the case's reporter bounced: no more automatic mail to that address.
async fn mark_undeliverable(
    tx: &mut SqliteConnection,
    case_id: i64,
    recipient: &str,
    row: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if cases::mark_reporter_undeliverable(tx, case_id, recipient).await? {
        message_event(
            tx,
            case_id,
            row,
            now,
            "reporter_undeliverable",
            serde_json::json!({ "address": recipient }),
        )
        .await?;
    }
    Ok(())
}

/// The row (and case) of this message when it was stored before: by its IMAP UID, or
/// by Message-ID and content (then its new UID is remembered).
async fn stored_before(
    tx: &mut SqliteConnection,
    origin: &Origin,
    message_id: Option<&str>,
    hash: &str,
) -> Result<Option<(i64, Option<i64>)>, StoreError> {
    if let Origin::Imap {
        mailbox,
        uid_validity,
        uid,
    } = origin
    {
        if let Some(row) = messages::find_by_uid(tx, mailbox, *uid_validity, *uid).await? {
            return Ok(Some((row, None)));
        }
    }
    let found = messages::find_duplicate(tx, message_id, hash).await?;
    if let Some((row, _)) = found {
        messages::remember_uid(tx, row, origin).await?;
    }
    Ok(found)
}

/// An event of the gateway's own on `case_id`, caused by the stored message `row`.
async fn message_event(
    tx: &mut SqliteConnection,
    case_id: i64,
    row: i64,
    now: DateTime<Utc>,
    kind: &str,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    store::record_event(
        tx,
        NewEvent {
            message_row_id: Some(row),
            ..NewEvent::system(case_id, now, kind, detail)
        },
    )
    .await?;
    Ok(())
}

/// Records that a case got no acknowledgement, and why.
async fn suppress(
    tx: &mut SqliteConnection,
    case_id: Option<i64>,
    row: i64,
    now: DateTime<Utc>,
    reason: String,
) -> Result<(Option<i64>, Option<String>), StoreError> {
    let Some(case_id) = case_id else {
        tracing::warn!(row, %reason, "no automatic answer");
        return Ok((None, Some(reason)));
    };
    store::record_event(
        tx,
        NewEvent {
            message_row_id: Some(row),
            ..NewEvent::system(
                case_id,
                now,
                "ack_suppressed",
                serde_json::json!({ "reason": reason }),
            )
        },
    )
    .await?;
    Ok((None, Some(reason)))
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
