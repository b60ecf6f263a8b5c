//! A message about an existing case: a reply (read by `replies`), an auto-reply, or
//! a bounce of our mail (which marks the reporter's address undeliverable).

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::persist::store_message;
use super::{Incoming, IngestOutcome, Pipeline};
use crate::domain::{EventKind, MessageKind};
use crate::store::{self, cases, NewEvent, StoreError};

impl Pipeline {
    /// Adds a message to an existing case (a reply, or an auto-reply/bounce about it).
    pub(super) async fn attach(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        how: &str,
        kind: MessageKind,
        m: &Incoming<'_>,
    ) -> Result<IngestOutcome, StoreError> {
        let (analysis, now) = (m.analysis, m.now);
        let email = &analysis.email;
        let class = &analysis.class;
        let row = store_message(tx, Some(case_id), kind, m).await?;
        let from = email.from.as_ref().map(|f| f.address.to_string());
        let (reporter, _) = cases::reporter_and_agency(tx, case_id).await?;
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
                    MessageKind::Reply => EventKind::CorrespondenceReceived,
                    MessageKind::Bounce => EventKind::BounceReceived,
                    _ => EventKind::AutoReplyReceived,
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
}

/// Our mail to the case's reporter bounced: no more automatic mail to that address.
pub(super) async fn mark_undeliverable(
    tx: &mut SqliteConnection,
    case_id: i64,
    recipient: &str,
    row: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if cases::mark_reporter_undeliverable(tx, case_id, recipient).await? {
        store::record_message_event(
            tx,
            case_id,
            row,
            now,
            EventKind::ReporterUndeliverable,
            serde_json::json!({ "address": recipient }),
        )
        .await?;
    }
    Ok(())
}
