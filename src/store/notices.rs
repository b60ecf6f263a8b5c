//! The SCIO thread and the escalations, as the outbox and `case_escalations` record
//! them: what notify reads to chain a thread, keep leadership apprised, send each
//! escalation once, and find the threads whose periodic update is due.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{ts, StoreError};

/// Outbox kinds of the SCIO thread, in the order they chain.
pub const SCIO_KINDS: &str = "'scio_new', 'scio_update'";

/// One message of a case's SCIO thread.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ThreadMessage {
    pub message_id: String,
    pub subject: String,
    pub created_at: String,
}

/// The case's SCIO thread so far, oldest first (dropped messages are not part of it).
pub async fn scio_thread(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<Vec<ThreadMessage>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select message_id, subject, created_at from outbox
         where case_id = ? and kind in ({SCIO_KINDS}) and status != 'dropped' order by id"
    ))
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Whether the case's SCIO thread has been opened.
pub async fn has_scio_thread(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(&format!(
        "select count(*) from outbox where case_id = ? and kind in ({SCIO_KINDS}) and status != 'dropped'"
    ))
    .bind(case_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// Whether any of `message_ids` is mail of ours to officials (the SCIO thread, a copy
/// of an update, an escalation notice): an answer to it is for the analysts.
pub async fn any_to_officials(
    conn: &mut SqliteConnection,
    message_ids: &[String],
) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(&format!(
        "select count(*) from outbox, json_each(?) j
         where message_id = j.value and kind in ({SCIO_KINDS}, 'scio_copy', 'scio_campaign', 'escalation')"
    ))
    .bind(serde_json::to_string(message_ids).unwrap_or_else(|_| "[]".into()))
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// Whether leadership was sent a major-incident or data-loss notice for the case.
pub async fn leadership_told(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "select count(*) from case_escalations
         where case_id = ? and cause in ('major_incident', 'data_loss') and outbox_id is not null",
    )
    .bind(case_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// The causes the case was already escalated for.
pub async fn escalation_causes(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<Vec<String>, StoreError> {
    Ok(
        sqlx::query_scalar("select cause from case_escalations where case_id = ?")
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// Records that the case was escalated for `cause` by the outbox row `outbox_id`.
pub async fn record_escalation(
    conn: &mut SqliteConnection,
    case_id: i64,
    cause: &str,
    outbox_id: i64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("insert into case_escalations (case_id, cause, outbox_id, at) values (?, ?, ?, ?)")
        .bind(case_id)
        .bind(cause)
        .bind(outbox_id)
        .bind(ts(at))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// An open case with an SCIO thread, and when the thread last spoke.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenThread {
    pub case_id: i64,
    pub severity: Option<String>,
    pub severity_suggested: Option<String>,
    pub last_message_at: String,
}

/// Every open case's SCIO thread with the time of its latest message (with `only`,
/// that case's).
pub async fn open_threads(
    conn: &mut SqliteConnection,
    only: Option<i64>,
) -> Result<Vec<OpenThread>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select c.id as case_id, c.severity, c.severity_suggested, max(o.created_at) as last_message_at
         from cases c join outbox o on o.case_id = c.id
         where o.kind in ({SCIO_KINDS}) and o.status != 'dropped'
           and c.status not in ('resolved', 'closed')
           and (? is null or c.id = ?)
         group by c.id order by c.id"
    ))
    .bind(only)
    .bind(only)
    .fetch_all(&mut *conn)
    .await?)
}

/// When each of `case_ids`' SCIO threads last spoke (cases without a thread are
/// absent): the base of the "next SCIO update due" timer.
pub async fn threads_last_spoke(
    conn: &mut SqliteConnection,
    case_ids: &[i64],
) -> Result<std::collections::HashMap<i64, String>, StoreError> {
    if case_ids.is_empty() {
        return Ok(Default::default());
    }
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
        "select o.case_id, max(o.created_at) from outbox o
         where o.kind in ({SCIO_KINDS}) and o.status != 'dropped' and o.case_id in ("
    ));
    let mut ids = qb.separated(", ");
    for id in case_ids {
        ids.push_bind(*id);
    }
    qb.push(") group by o.case_id");
    let rows: Vec<(i64, String)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    Ok(rows.into_iter().collect())
}

/// The Message-ID of the report that opened the case (what a message to the reporter
/// answers, so it joins their thread), when it had one.
pub async fn report_message_id(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "select message_id from messages where case_id = ? and kind = 'report'
           and message_id is not null order by id limit 1",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?
    .flatten())
}
