//! Writing an inbound message: the message row with its reading and attachments, and
//! the events the gateway records about it.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::Incoming;
use crate::domain::{EventKind, MessageKind};
use crate::store::messages::{self, NewMessage};
use crate::store::{self, NewEvent, StoreError};

/// Inserts one inbound message with its reading and its attachments.
pub(super) async fn store_message(
    tx: &mut SqliteConnection,
    case_id: Option<i64>,
    kind: MessageKind,
    m: &Incoming<'_>,
) -> Result<i64, StoreError> {
    let row = messages::insert(
        tx,
        NewMessage {
            case_id,
            kind: kind.as_str(),
            quarantine_reason: m.analysis.class.reason.as_deref(),
            origin: m.origin,
            email: &m.analysis.email,
            content_hash: m.hash,
            raw: m.raw,
            analysis: Some(m.analysis),
            now: m.now,
        },
    )
    .await?;
    messages::insert_attachments(tx, row, &m.analysis.attachments, m.now).await?;
    Ok(row)
}

/// An event of the gateway's own on `case_id`, caused by the stored message `row`.
pub(super) async fn message_event(
    tx: &mut SqliteConnection,
    case_id: i64,
    row: i64,
    now: DateTime<Utc>,
    kind: EventKind,
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
