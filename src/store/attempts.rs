//! Intake attempts per IMAP message (mailbox, UIDVALIDITY, UID): counted before the
//! work starts and cleared when it is done, so the count survives the process dying in
//! the middle (see migrations/20261201000003_intake_attempts.sql).

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
