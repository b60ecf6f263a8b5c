//! The outbox: mail written in the transaction that caused it, leased and sent by the worker.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::SqliteConnection;

use super::{ts, StoreError};
use crate::domain::{EventKind, OutboxKind, OutboxStatus};

/// A fully composed outbound message; its bytes never change after enqueueing.
#[derive(Debug, Clone)]
pub struct NewOutbound<'a> {
    pub case_id: Option<i64>,
    pub kind: OutboxKind,
    pub message_id: &'a str,
    pub from_addr: &'a str,
    pub recipients: &'a [String],
    pub subject: &'a str,
    pub raw: &'a [u8],
    /// `Some(reason)`: held for an analyst instead of sent.
    pub hold_reason: Option<&'a str>,
    pub caused_by_message: Option<i64>,
    pub now: DateTime<Utc>,
}

pub async fn enqueue(conn: &mut SqliteConnection, m: NewOutbound<'_>) -> Result<i64, StoreError> {
    let status = if m.hold_reason.is_some() {
        OutboxStatus::Held
    } else {
        OutboxStatus::Pending
    };
    let recipient = m
        .recipients
        .first()
        .map(|r| r.to_lowercase())
        .unwrap_or_default();
    Ok(sqlx::query_scalar(
        "insert into outbox (case_id, kind, message_id, from_addr, recipient, to_json, subject, raw,
            status, hold_reason, next_attempt_at, created_at, caused_by_message)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id",
    )
    .bind(m.case_id)
    .bind(m.kind)
    .bind(m.message_id)
    .bind(m.from_addr)
    .bind(recipient)
    .bind(serde_json::to_string(m.recipients).unwrap_or_else(|_| "[]".into()))
    .bind(m.subject)
    .bind(m.raw)
    .bind(status.as_str())
    .bind(m.hold_reason)
    // Due at once, even when the cause was dated ahead (a schedule run with `--now`).
    .bind(ts(m.now.min(Utc::now())))
    .bind(ts(m.now))
    .bind(m.caused_by_message)
    .fetch_one(&mut *conn)
    .await?)
}

/// How many messages of `kind` went (or will go) to `recipient` since `since`.
pub async fn count_recent(
    conn: &mut SqliteConnection,
    recipient: &str,
    kind: &str,
    since: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "select count(*) from outbox where recipient = ? and kind = ? and created_at >= ? and status != 'dropped'",
    )
    .bind(recipient.to_lowercase())
    .bind(kind)
    .bind(ts(since))
    .fetch_one(&mut *conn)
    .await?)
}

/// An outbox row as listed (without its bytes).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub case_id: Option<i64>,
    pub kind: String,
    pub message_id: String,
    /// The envelope sender it goes out with (its VERP address; bounces come back there).
    pub envelope_from: String,
    pub recipient: String,
    pub subject: String,
    pub status: String,
    pub hold_reason: Option<String>,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

const COLUMNS: &str = "id, case_id, kind, message_id, from_addr as envelope_from, recipient, subject, status, hold_reason, attempts, next_attempt_at, last_error, created_at, sent_at";

pub async fn for_case(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from outbox where case_id = ? order by id"
    ))
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn list(
    conn: &mut SqliteConnection,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from outbox where (? is null or status = ?) order by id desc limit ?"
    ))
    .bind(status)
    .bind(status)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// A message leased for sending.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Leased {
    pub id: i64,
    pub case_id: Option<i64>,
    /// What it is (`webhook` rows are posted, not mailed).
    pub kind: String,
    pub message_id: String,
    pub from_addr: String,
    pub to_json: String,
    pub raw: Vec<u8>,
    pub attempts: i64,
    pub created_at: String,
    /// The analyst who released it from review, if it was held.
    pub released_by: Option<String>,
}

impl Leased {
    pub fn recipients(&self) -> Vec<String> {
        serde_json::from_str(&self.to_json).unwrap_or_default()
    }
}

/// Leases the oldest due pending message for `lease`; a crashed sender's lease expires
/// and the message is sent again with the same bytes and Message-ID.
/// The longest an interrupted send waits for the sent-folder search.
pub const IN_DOUBT_MAX_WAIT: Duration = Duration::minutes(15);

pub async fn lease_next(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
    lease: Duration,
    hold_in_doubt: bool,
) -> Result<Option<Leased>, StoreError> {
    // With `hold_in_doubt`, a message whose earlier lease ran out unfinished waits for
    // `in_doubt`/`settle_doubt` (the sent-folder search) instead of going out again;
    // if that search cannot be made (IMAP down, no such folder), it goes again after
    // IN_DOUBT_MAX_WAIT all the same: a second copy is better than none.
    Ok(sqlx::query_as(
        "update outbox set lease_until = ?1
         where id = (
            select id from outbox o
            where status = 'pending' and next_attempt_at <= ?2
              and (lease_until is null or (lease_until <= ?2
                   and (?3 = 0 or doubt_checked = 1 or lease_until <= ?4)))
              -- Not while an earlier message to the same recipients is in flight
              -- (several senders): a thread arrives in order.
              and not exists (select 1 from outbox b
                   where b.status = 'pending' and b.lease_until > ?2
                     and b.to_json = o.to_json and b.id < o.id)
            order by next_attempt_at, id limit 1)
         returning id, case_id, kind, message_id, from_addr, to_json, raw, attempts, created_at, released_by",
    )
    .bind(ts(now + lease))
    .bind(ts(now))
    .bind(hold_in_doubt)
    .bind(ts(now - IN_DOUBT_MAX_WAIT))
    .fetch_optional(&mut *conn)
    .await?)
}

/// Messages whose sender died mid-send and that nobody has looked for yet: their lease
/// ran out with no outcome recorded. `(id, message_id)`.
pub async fn in_doubt(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "select id, message_id from outbox
         where status = 'pending' and lease_until is not null and lease_until <= ? and doubt_checked = 0
         order by id limit 200",
    )
    .bind(ts(now))
    .fetch_all(&mut *conn)
    .await?)
}

/// When the next lease still running (after `now`) runs out, if one is.
pub async fn next_lease_end(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let t: Option<String> = sqlx::query_scalar(
        "select min(lease_until) from outbox where status = 'pending' and lease_until > ? and doubt_checked = 0",
    )
    .bind(ts(now))
    .fetch_one(&mut *conn)
    .await?;
    Ok(t.as_deref().and_then(super::parse_ts))
}

/// The outcome of looking for an in-doubt message in the sent folder: found, it was
/// accepted and is marked sent (an event on its case); not found, it may go again.
pub async fn settle_doubt(
    conn: &mut SqliteConnection,
    id: i64,
    found: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if !found {
        sqlx::query("update outbox set doubt_checked = 1 where id = ? and status = 'pending'")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        return Ok(());
    }
    mark_sent(conn, id, now).await?;
    let row: Option<(Option<i64>, String)> =
        sqlx::query_as("select case_id, message_id from outbox where id = ?")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((Some(case_id), message_id)) = row {
        super::record_event(
            conn,
            super::NewEvent {
                case_id,
                at: now,
                actor: "system",
                kind: EventKind::OutboundConfirmed,
                detail: serde_json::json!({
                    "message_id": message_id,
                    "reason": "the sender stopped mid-send; the message was found in the sent folder, so it was accepted and is not sent again",
                }),
                message_row_id: None,
                outbox_id: Some(id),
            },
        )
        .await?;
    }
    Ok(())
}

/// The earliest time a pending message becomes due (for the worker's sleep).
pub async fn next_due(conn: &mut SqliteConnection) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "select min(max(next_attempt_at, coalesce(lease_until, ''))) from outbox where status = 'pending'",
    )
    .fetch_one(&mut *conn)
    .await?)
}

pub async fn mark_sent(
    conn: &mut SqliteConnection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "update outbox set status = 'sent', sent_at = ?, attempts = attempts + 1, lease_until = null, last_error = null where id = ?",
    )
    .bind(ts(now))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Defers a message to `next_attempt`; `unreachable`: because the server could not be
/// reached (see [`release_backoff`]), not because of this message.
pub async fn mark_retry(
    conn: &mut SqliteConnection,
    id: i64,
    error: &str,
    next_attempt: DateTime<Utc>,
    unreachable: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "update outbox set attempts = attempts + 1, last_error = ?, next_attempt_at = ?, lease_until = null, deferred_unreachable = ? where id = ?",
    )
    .bind(error)
    .bind(ts(next_attempt))
    .bind(unreachable)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Gives up the lease of a message whose send was abandoned (shutdown while the
/// server had not answered): the next start sends it again at once, same bytes.
/// Ends the lease of a send abandoned mid-way now, leaving it in doubt (the server may
/// have accepted it): the sent-folder search decides whether it goes again.
pub async fn expire_lease(
    conn: &mut SqliteConnection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "update outbox set lease_until = ?, doubt_checked = 0 where id = ? and status = 'pending' and lease_until is not null",
    )
    .bind(ts(now))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn release_lease(conn: &mut SqliteConnection, id: i64) -> Result<(), StoreError> {
    sqlx::query("update outbox set lease_until = null where id = ? and status = 'pending'")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The server accepts mail again: every pending message deferred because it could not
/// be reached is due now, instead of each waiting out its own back-off. Returns how many.
pub async fn release_backoff(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "update outbox set next_attempt_at = ?, deferred_unreachable = 0
         where status = 'pending' and deferred_unreachable = 1 and next_attempt_at > ?",
    )
    .bind(ts(now))
    .bind(ts(now))
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

pub async fn mark_failed(
    conn: &mut SqliteConnection,
    id: i64,
    error: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "update outbox set status = 'failed', attempts = attempts + 1, last_error = ?, lease_until = null where id = ?",
    )
    .bind(error)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Puts a leased message back into review instead of sending it.
pub async fn hold(conn: &mut SqliteConnection, id: i64, reason: &str) -> Result<(), StoreError> {
    sqlx::query(
        "update outbox set status = 'held', hold_reason = ?, lease_until = null where id = ?",
    )
    .bind(reason)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Moves a held message to `pending` (release) or `dropped` (drop), recording who
/// decided. Returns its case.
pub async fn decide_held(
    conn: &mut SqliteConnection,
    id: i64,
    release: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let row: Option<(Option<i64>, String)> =
        sqlx::query_as("select case_id, status from outbox where id = ?")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((case_id, status)) = row else {
        return Err(StoreError::Invalid(format!("no outbound message #{id}")));
    };
    if status != OutboxStatus::Held.as_str() {
        return Err(StoreError::Invalid(format!(
            "outbound message #{id} is {status}, not held: only held messages can be released or dropped"
        )));
    }
    let new_status = if release {
        OutboxStatus::Pending
    } else {
        OutboxStatus::Dropped
    };
    sqlx::query("update outbox set status = ?, next_attempt_at = ?, released_by = ? where id = ?")
        .bind(new_status.as_str())
        .bind(ts(now))
        .bind(release.then_some(by))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(case_id)
}

/// The case and recipients of the outbound message sent with this envelope sender.
pub async fn by_envelope_sender(
    conn: &mut SqliteConnection,
    envelope_from: &str,
) -> Result<Option<(Option<i64>, Vec<String>)>, StoreError> {
    let found: Option<(Option<i64>, String)> =
        sqlx::query_as("select case_id, to_json from outbox where from_addr = ?")
            .bind(envelope_from)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(found.map(|(case, to)| (case, serde_json::from_str(&to).unwrap_or_default())))
}

/// Who a "New incident" notice is counted against.
#[derive(Debug, Clone, Copy)]
pub enum NoticeScope<'a> {
    Reporter(&'a str),
    Agency(&'a str),
}

/// "New incident" notices queued since `since` for cases of this reporter or agency.
pub async fn new_case_notices_since(
    conn: &mut SqliteConnection,
    scope: NoticeScope<'_>,
    since: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let (column, value) = match scope {
        NoticeScope::Reporter(r) => ("lower(c.reporter_email)", r.to_lowercase()),
        NoticeScope::Agency(a) => ("c.agency", a.to_string()),
    };
    // `column` is one of the two above, never input.
    Ok(sqlx::query_scalar(&format!(
        "select count(*) from outbox o join cases c on c.id = o.case_id
         where o.kind = 'scio_new' and o.status != 'dropped' and o.created_at >= ?
         and {column} = ?"
    ))
    .bind(ts(since))
    .bind(value)
    .fetch_one(&mut *conn)
    .await?)
}

/// Notes a problem with a row that does not change its status (a partial refusal).
pub async fn set_last_error(
    conn: &mut SqliteConnection,
    id: i64,
    note: &str,
) -> Result<(), StoreError> {
    sqlx::query("update outbox set last_error = ? where id = ?")
        .bind(note)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The message bytes of outbox row `id`, as they go (or went) out.
pub async fn raw(conn: &mut SqliteConnection, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(sqlx::query_scalar("select raw from outbox where id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Holds pending rows back until `until` (an action's undo window): the worker sends
/// none of them before.
pub async fn hold_until(
    conn: &mut SqliteConnection,
    ids: &[i64],
    until: DateTime<Utc>,
) -> Result<(), StoreError> {
    for id in ids {
        sqlx::query("update outbox set next_attempt_at = max(next_attempt_at, ?) where id = ? and status = 'pending'")
            .bind(ts(until))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Drops rows an undo takes back, all or none: each must still be pending, never
/// tried and not being sent (no live lease) at `now`. Returns false, changing
/// nothing, when one of them is past that.
pub async fn withdraw(
    conn: &mut SqliteConnection,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut dropped = 0;
    for id in ids {
        dropped += sqlx::query(
            "update outbox set status = 'dropped', last_error = 'withdrawn: the action was undone'
              where id = ? and status = 'pending' and attempts = 0
                and (lease_until is null or lease_until <= ?)",
        )
        .bind(id)
        .bind(ts(now))
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(dropped == ids.len() as u64)
}

/// The rows written for the case at `now` (by one action's transaction): what an undo
/// of that action takes back.
pub async fn written_at(
    conn: &mut SqliteConnection,
    case_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    Ok(
        sqlx::query_scalar(
            "select id from outbox where case_id = ? and created_at = ? order by id",
        )
        .bind(case_id)
        .bind(ts(now))
        .fetch_all(&mut *conn)
        .await?,
    )
}
