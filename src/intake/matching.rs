//! Matching: which case a message belongs to (our Message-IDs in its threading
//! headers, then a subject tag; a bounce by its VERP address and failed recipient),
//! and whether it was stored before.

use sqlx::SqliteConnection;

use super::Pipeline;
use crate::domain::{subject_tags, EmailAddress};
use crate::extract::InboundEmail;
use crate::store::messages::{self, Origin};
use crate::store::{cases, notices, outbox, StoreError};

impl Pipeline {
    /// Known Message-ID in In-Reply-To/References first, then the subject tag; a
    /// merged case's mail goes to the case it was merged into.
    pub(super) async fn match_case(
        &self,
        conn: &mut SqliteConnection,
        email: &InboundEmail,
    ) -> Result<Option<(i64, &'static str)>, StoreError> {
        Ok(match self.match_case_direct(conn, email).await? {
            Some((id, how)) => Some((cases::resolve_merged(conn, id).await?, how)),
            None => None,
        })
    }

    pub(super) async fn match_case_direct(
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
}

/// The case and recipient of one of our messages that this bounce reports as failed:
/// the bounce must have been delivered to that message's own envelope sender (its VERP
/// address) and name that message's recipient as a failed one. A bounce that only
/// quotes our Message-ID may be forged by anyone who saw the message.
pub(super) async fn bounced_outbox(
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

/// The row (and case) of this message when it was stored before: by its IMAP UID, or
/// by Message-ID and content (then its new UID is remembered).
pub(super) async fn stored_before(
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
