//! Intake progress per IMAP message (mailbox, UIDVALIDITY, UID) that must survive the
//! process dying in the middle: attempts, counted before the work starts and cleared
//! when it is done (migrations/20261201000003), and copies to the processed folder on
//! servers without MOVE (migrations/20261201000004).

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{ts, StoreError};

/// Counts one more attempt at this message and returns how many have been started,
/// this one included.
pub async fn begin(
    conn: &mut SqliteConnection,
    mailbox: &str,
    uid_validity: u32,
    uid: u32,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "insert into intake_attempts (mailbox, uid_validity, uid, attempts, first_at, last_at)
         values (?1, ?2, ?3, 1, ?4, ?4)
         on conflict (mailbox, uid_validity, uid)
         do update set attempts = attempts + 1, last_at = excluded.last_at
         returning attempts",
    )
    .bind(mailbox)
    .bind(uid_validity as i64)
    .bind(uid as i64)
    .bind(ts(now))
    .fetch_one(&mut *conn)
    .await?;
    Ok(n)
}

/// Whether any of these messages has an attempt that did not end (the process died
/// while reading it, or while reading the batch it was in).
pub async fn unfinished(
    conn: &mut SqliteConnection,
    mailbox: &str,
    uid_validity: u32,
    uids: &[u32],
) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "select count(*) from intake_attempts, json_each(?3) j
          where mailbox = ?1 and uid_validity = ?2 and uid = j.value and attempts > 0",
    )
    .bind(mailbox)
    .bind(uid_validity as i64)
    .bind(serde_json::to_string(uids).unwrap_or_else(|_| "[]".into()))
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// The attempt ended without the process dying (stored, or refused with an error that
/// says nothing about the message, such as the database being unavailable): it does
/// not count against the message.
pub async fn end(
    conn: &mut SqliteConnection,
    mailbox: &str,
    uid_validity: u32,
    uid: u32,
    stored: bool,
) -> Result<(), StoreError> {
    let sql = if stored {
        "delete from intake_attempts where mailbox = ? and uid_validity = ? and uid = ?"
    } else {
        "update intake_attempts set attempts = max(attempts - 1, 0)
         where mailbox = ? and uid_validity = ? and uid = ?"
    };
    sqlx::query(sql)
        .bind(mailbox)
        .bind(uid_validity as i64)
        .bind(uid as i64)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// True when this message was already copied to the processed folder (no MOVE).
pub async fn was_copied(
    conn: &mut SqliteConnection,
    mailbox: &str,
    uid_validity: u32,
    uid: u32,
) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "select count(*) from imap_copied where mailbox = ? and uid_validity = ? and uid = ?",
    )
    .bind(mailbox)
    .bind(uid_validity as i64)
    .bind(uid as i64)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// Records that this message is now in the processed folder too.
pub async fn mark_copied(
    conn: &mut SqliteConnection,
    mailbox: &str,
    uid_validity: u32,
    uid: u32,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into imap_copied (mailbox, uid_validity, uid, copied_at) values (?, ?, ?, ?)
         on conflict do nothing",
    )
    .bind(mailbox)
    .bind(uid_validity as i64)
    .bind(uid as i64)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
