//! Automatic answers to an inbound message (acknowledgement, follow-up, reminder,
//! neutral receipt): rendered, threaded under the message answered, checked against the
//! disclosure rule, queued through the outbox, and recorded on the case.

use chrono::{DateTime, Duration, Utc};
use sqlx::SqliteConnection;

use super::Pipeline;
use crate::domain::{EventKind, OutboxKind};
use crate::extract::report::Analysis;
use crate::extract::InboundEmail;
use crate::outbound::{self, Outgoing, QueueError};
use crate::store::{self, outbox, StoreError};

/// One automatic answer to an inbound message.
pub(super) struct Answer<'a> {
    /// `None` for an answer that belongs to no case (a receipt for an unknown tag).
    pub(super) case_id: Option<i64>,
    pub(super) row: i64,
    /// Outbox kind: `ack`, `followup`, `receipt`.
    pub(super) kind: OutboxKind,
    pub(super) template: &'static str,
    pub(super) ctx: serde_json::Value,
    pub(super) to: &'a crate::extract::Mailbox,
    /// The message answered (threading headers come from it).
    pub(super) email: &'a InboundEmail,
    pub(super) queued_event: EventKind,
}

impl Pipeline {
    /// Renders, composes and enqueues one answer to `email`, threaded under it; held for
    /// review when the recipient is outside the allowed domains. A template or address
    /// problem is recorded on the case instead of failing the intake.
    pub(super) async fn enqueue_answer(
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
        let neutral = kind == OutboxKind::Receipt;
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
        let record = outbound::Record {
            actor: "system",
            queued: queued_event,
            detail: serde_json::json!({
                "kind": kind,
                "to": to.address.to_string(),
                "hold_reason": hold,
            }),
        };
        let outbox_id =
            match outbound::enqueue_recorded(tx, &self.config, &outgoing, &rendered, record, now)
                .await
            {
                Ok((id, _)) => id,
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
        Ok((Some(outbox_id), hold))
    }

    /// A receipt that says nothing about any case, rate-limited per sender.
    pub(super) async fn neutral_receipt(
        &self,
        tx: &mut SqliteConnection,
        case_id: Option<i64>,
        row: i64,
        analysis: &Analysis,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let email = &analysis.email;
        let Some(to) = email.reply_address().filter(|_| analysis.class.acknowledge) else {
            return Ok(None);
        };
        let limit = self.config.gateway.ack_rate_limit_per_hour as i64;
        if outbox::count_recent(tx, to.address.as_str(), "receipt", now - Duration::hours(1))
            .await?
            >= limit
        {
            return Ok(None);
        }
        let ctx = serde_json::json!({ "soc_name": self.config.gateway.name });
        let (id, _) = self
            .enqueue_answer(
                tx,
                Answer {
                    case_id,
                    row,
                    kind: OutboxKind::Receipt,
                    template: "receipt",
                    ctx,
                    to,
                    email,
                    queued_event: EventKind::ReceiptQueued,
                },
                now,
            )
            .await?;
        Ok(id)
    }
}

/// Records that a case got no acknowledgement, and why.
pub(super) async fn suppress(
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
    store::record_message_event(
        tx,
        case_id,
        row,
        now,
        EventKind::AckSuppressed,
        serde_json::json!({ "reason": reason }),
    )
    .await?;
    Ok((None, Some(reason)))
}
