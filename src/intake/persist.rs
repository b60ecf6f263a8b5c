//! Writing an inbound message: the message row with its reading and attachments.

use sqlx::SqliteConnection;

use super::Incoming;
use crate::domain::MessageKind;
use crate::store::messages::{self, NewMessage};
use crate::store::StoreError;

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
