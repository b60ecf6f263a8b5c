//! What sharing with partners reads and writes: indicators marked as removed, the TLP
//! of a case, and the cases of an export.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::cases::CaseRow;
use super::queue::{QueueFilter, QueueRow};
use super::{ts, StoreError};
use crate::domain::Tlp;
use crate::extract::iocs::Iocs;

/// Marks an indicator of the case as removed; false when it was already.
pub async fn remove_indicator(
    conn: &mut SqliteConnection,
    case_id: i64,
    kind: &str,
    value: &str,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "insert or ignore into case_indicator_removals (case_id, kind, value, removed_by, removed_at, reason)
         values (?, ?, ?, ?, ?, ?)",
    )
    .bind(case_id)
    .bind(kind)
    .bind(value)
    .bind(by)
    .bind(ts(now))
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    // An export's `modified` follows the change, so a partner takes the new version.
    super::cases::touch(conn, case_id, now).await?;
    Ok(done.rows_affected() > 0)
}

/// Takes the mark off; false when the indicator was not marked.
pub async fn restore_indicator(
    conn: &mut SqliteConnection,
    case_id: i64,
    kind: &str,
    value: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "delete from case_indicator_removals where case_id = ? and kind = ? and value = ?",
    )
    .bind(case_id)
    .bind(kind)
    .bind(value)
    .execute(&mut *conn)
    .await?;
    // An export's `modified` follows the change, so a partner takes the new version.
    super::cases::touch(conn, case_id, now).await?;
    Ok(done.rows_affected() > 0)
}

/// The (kind, value) pairs marked as removed on the case.
pub async fn removed_indicators(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<BTreeSet<(String, String)>, StoreError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("select kind, value from case_indicator_removals where case_id = ?")
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Who removed each of the case's removed indicators, and why: `(kind, value)` →
/// `(analyst, reason)`.
pub async fn removal_notes(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<std::collections::HashMap<(String, String), (String, String)>, StoreError> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "select kind, value, removed_by, reason from case_indicator_removals where case_id = ?",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(k, v, by, why)| ((k, v), (by, why)))
        .collect())
}

/// The case's TLP as set by an analyst (`None`: the configured default applies).
pub async fn tlp(conn: &mut SqliteConnection, case_id: i64) -> Result<Option<Tlp>, StoreError> {
    let v: Option<String> = sqlx::query_scalar("select tlp from cases where id = ?")
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?
        .flatten();
    decode_tlp(case_id, v)
}

fn decode_tlp(case_id: i64, stored: Option<String>) -> Result<Option<Tlp>, StoreError> {
    stored
        .map(|t| {
            t.parse()
                .map_err(|e: crate::domain::DomainError| StoreError::Corrupt {
                    table: "cases",
                    key: case_id.to_string(),
                    what: e.to_string(),
                })
        })
        .transpose()
}

/// A stored JSON column of `cases`, decoded; `Corrupt` when it does not.
fn decode<T: serde::de::DeserializeOwned>(
    key: impl ToString,
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        table: "cases",
        key: key.to_string(),
        what: format!("{column}: {e}"),
    })
}

/// Sets the case's TLP; returns the one it had.
pub async fn set_tlp(
    conn: &mut SqliteConnection,
    case_id: i64,
    tlp: Tlp,
    now: DateTime<Utc>,
) -> Result<Option<Tlp>, StoreError> {
    let old = self::tlp(conn, case_id).await?;
    sqlx::query("update cases set tlp = ? where id = ?")
        .bind(tlp.as_str())
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    // An export's `modified` follows the change, so a partner takes the new version.
    super::cases::touch(conn, case_id, now).await?;
    Ok(old)
}

/// One case as an export reads it.
#[derive(Debug, Clone)]
pub struct SharedCase {
    pub case: CaseRow,
    /// `None`: the configured default.
    pub tlp: Option<Tlp>,
    /// The case's indicators with those marked as removed taken out.
    pub iocs: Iocs,
    /// The extracted fields (`{name: {value, source}}`), for the reporter's details.
    pub fields: serde_json::Value,
}

/// The case's indicators as extracted (removed ones included).
pub async fn indicators(conn: &mut SqliteConnection, case_id: i64) -> Result<Iocs, StoreError> {
    let iocs: String = sqlx::query_scalar("select iocs_json from cases where id = ?")
        .bind(case_id)
        .fetch_one(&mut *conn)
        .await?;
    decode(case_id, "iocs_json", &iocs)
}

/// Adds an indicator an analyst found (`kind` as in `Iocs::pairs`); false when the case
/// lists it already.
pub async fn add_indicator(
    conn: &mut SqliteConnection,
    case_id: i64,
    kind: &str,
    value: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut iocs = indicators(conn, case_id).await?;
    if !iocs.insert(kind, value) {
        return Ok(false);
    }
    set_indicators(conn, case_id, &iocs).await?;
    // An export's `modified` follows the change, so a partner takes the new version.
    super::cases::touch(conn, case_id, now).await?;
    Ok(true)
}

/// Replaces the case's indicator list (the caller touches the case).
pub async fn set_indicators(
    conn: &mut SqliteConnection,
    case_id: i64,
    iocs: &Iocs,
) -> Result<(), StoreError> {
    sqlx::query("update cases set iocs_json = ? where id = ?")
        .bind(serde_json::to_string(iocs).unwrap_or_else(|_| "{}".into()))
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The case with its shareable indicators.
pub async fn shared_case(
    conn: &mut SqliteConnection,
    case: CaseRow,
) -> Result<SharedCase, StoreError> {
    // The three columns an export needs, in one read.
    let (iocs, fields, tlp): (String, String, Option<String>) =
        sqlx::query_as("select iocs_json, fields_json, tlp from cases where id = ?")
            .bind(case.id)
            .fetch_one(&mut *conn)
            .await?;
    let mut iocs: Iocs = decode(case.id, "iocs_json", &iocs)?;
    let fields = decode(&case.tracking_id, "fields_json", &fields)?;
    let removed = removed_indicators(conn, case.id).await?;
    iocs.retain(|kind, value| !removed.contains(&(kind.to_string(), value.to_string())));
    Ok(SharedCase {
        tlp: decode_tlp(case.id, tlp)?,
        iocs,
        fields,
        case,
    })
}

/// Cases opened in `[since, until)`, oldest first.
pub async fn cases_opened_between(
    conn: &mut SqliteConnection,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<CaseRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {} from cases where created_at >= ? and created_at < ? order by created_at, id",
        super::cases::CASE_COLUMNS
    ))
    .bind(ts(since))
    .bind(ts(until))
    .fetch_all(&mut *conn)
    .await?)
}

/// A queue line with its timers, for the CSV export.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimedRow {
    #[sqlx(flatten)]
    pub row: QueueRow,
    /// The latest message from the reporter's address.
    pub last_reporter_message_at: Option<String>,
    /// When the acknowledgement to the reporter went out.
    pub acknowledged_at: Option<String>,
}

/// What a CSV export narrows the queue to besides its filter.
#[derive(Debug, Clone, Default)]
pub struct Narrow {
    /// Cases opened in `[since, until)`.
    pub opened: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub case_id: Option<i64>,
    /// Only these cases (the queue's selection).
    pub tracking_ids: Option<Vec<String>>,
}

/// Every case the filter matches (no paging, at most `limit`), in queue order.
pub async fn queue_with_timers(
    conn: &mut SqliteConnection,
    f: &QueueFilter,
    narrow: &Narrow,
    limit: i64,
) -> Result<Vec<TimedRow>, StoreError> {
    let mut qb = QueryBuilder::<Sqlite>::new(
        "select c.id, c.tracking_id, c.status, c.severity, c.severity_suggested, c.priority,
            c.category, c.agency, c.assignee, c.reporter_email, c.reporter_name, c.subject,
            c.created_at, c.updated_at, c.reporter_undeliverable, c.needs_review,
            c.missing_count, c.report_count,
            (select max(m.received_at) from messages m
              where m.case_id = c.id and lower(m.from_addr) = lower(c.reporter_email))
              as last_reporter_message_at,
            (select min(o.sent_at) from outbox o where o.case_id = c.id and o.kind = 'ack')
              as acknowledged_at
         from cases c",
    );
    f.push_where(&mut qb);
    if let Some((since, until)) = narrow.opened {
        qb.push(" and c.created_at >= ");
        qb.push_bind(ts(since));
        qb.push(" and c.created_at < ");
        qb.push_bind(ts(until));
    }
    if let Some(id) = narrow.case_id {
        qb.push(" and c.id = ");
        qb.push_bind(id);
    }
    if let Some(tids) = &narrow.tracking_ids {
        qb.push(" and c.tracking_id in (");
        let mut list = qb.separated(", ");
        for t in tids {
            list.push_bind(t.clone());
        }
        // An empty selection matches nothing.
        if tids.is_empty() {
            list.push("null");
        }
        list.push_unseparated(")");
    }
    qb.push(" order by coalesce(c.priority, 'p9'), c.created_at, c.id limit ");
    qb.push_bind(limit);
    Ok(qb.build_query_as().fetch_all(&mut *conn).await?)
}
