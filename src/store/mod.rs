//! Storage through sqlx on SQLite: one module per aggregate, SQL beside the code using it.

pub mod attempts;
pub mod campaigns;
pub mod cases;
pub mod feed;
pub mod messages;
pub mod notices;
pub mod outbox;
pub mod queue;
pub mod sharing;
pub mod stats;
pub mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};

use crate::domain::EventKind;

/// A storage failure. `Unavailable` means "try again later" (exit 75 in pipe mode).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable at {url}: {source}; check [database] url and that the directory is writable")]
    Unavailable { url: String, source: sqlx::Error },
    /// A URL this build cannot open (it is never taken as a file name).
    #[error("{0}")]
    Unsupported(String),
    #[error("database schema migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored row that does not read back. It is reported, never replaced.
    #[error("stored data is corrupt: {table} {key}: {what}; the row is left as it is (repair or restore it)")]
    Corrupt {
        table: &'static str,
        /// The row's id (or key).
        key: String,
        what: String,
    },
    #[error("no case {0}")]
    NoSuchCase(String),
    /// A value the store cannot take (an unknown field name, account, or row).
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    /// True when retrying later may succeed (locked, unreachable, I/O).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable { .. } => true,
            StoreError::Db(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
                ) || e
                    .as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c == "5" || c == "6" || c == "10" || c == "14" || c == "13")
            }
            _ => false,
        }
    }
}

/// The database handle shared by intake, the outbox worker and the CLI.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// Woken at each commit of a write transaction of this process (the outbox
    /// worker waits on it instead of polling alone).
    committed: std::sync::Arc<tokio::sync::Notify>,
}

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let unavailable = |source| StoreError::Unavailable {
            url: url.to_string(),
            source,
        };
        crate::config::check_database_url(url).map_err(StoreError::Unsupported)?;
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(unavailable)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(parent) = Path::new(opts.get_filename()).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| unavailable(sqlx::Error::Io(e)))?;
            }
        }
        let file = opts.get_filename().display().to_string();
        let lock_path =
            (!file.is_empty() && file != ":memory:").then(|| format!("{file}.migrate-lock"));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(15))
            // After a write error (disk full, I/O) SQLite may already have rolled the
            // transaction back; sqlx's own rollback then fails and the connection keeps
            // thinking a transaction is open, so every later BEGIN on it fails. Such a
            // connection is closed instead of going back to the pool (the ping first
            // lets a pending rollback of a dropped transaction finish).
            .after_release(|conn, _| {
                Box::pin(async move {
                    use sqlx::Connection;
                    if conn.ping().await.is_err() {
                        return Ok(false);
                    }
                    let healthy = !conn.is_in_transaction();
                    if !healthy {
                        tracing::warn!(
                            "database connection left in a failed transaction; closing it"
                        );
                    }
                    Ok(healthy)
                })
            })
            .connect_with(opts)
            .await
            .map_err(unavailable)?;
        // Two processes opening a new database at once (`run` starting while a CLI
        // command runs) would both apply the first migration: sqlx takes no lock on
        // SQLite, so a file lock beside the database serialises them.
        let lock = match lock_path {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| unavailable(sqlx::Error::Io(e)))?;
                let locked = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                    .await
                    .map_err(|e| unavailable(sqlx::Error::Io(std::io::Error::other(e))))?
                    .map_err(|e| unavailable(sqlx::Error::Io(e)))?;
                Some(locked)
            }
            None => None,
        };
        let migrated = MIGRATOR.run(&pool).await;
        drop(lock);
        migrated?;
        Ok(Self {
            pool,
            committed: std::sync::Arc::default(),
        })
    }

    /// A connection for reads (and single statements outside a transaction).
    pub async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// Whether the database answers (the health check).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query_scalar::<_, i64>("select 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }

    /// A write transaction that takes the write lock at once, so two writers queue on
    /// `busy_timeout` instead of failing when a read upgrades to a write.
    pub async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        Ok(WriteTx(
            self.pool.begin_with("BEGIN IMMEDIATE").await?,
            self.committed.clone(),
        ))
    }

    /// Notified after each commit of a write transaction in this process: what may
    /// have queued mail. Register interest (`Notified::enable`) before looking, so a
    /// commit in between is not missed.
    pub fn commits(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.committed.clone()
    }
}

/// A write transaction: used as a connection by the store's functions, committed with
/// [`WriteTx::commit`]; dropped without commit, it rolls back.
pub struct WriteTx(
    sqlx::Transaction<'static, sqlx::Sqlite>,
    std::sync::Arc<tokio::sync::Notify>,
);

impl WriteTx {
    pub async fn commit(self) -> Result<(), StoreError> {
        self.0.commit().await?;
        self.1.notify_waiters();
        Ok(())
    }
}

impl std::ops::Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.0
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.0
    }
}

/// Timestamps are stored as RFC 3339 UTC text with milliseconds: they sort as text.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One entry for a case's history.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub case_id: i64,
    pub at: DateTime<Utc>,
    /// `system`, `reporter:<address>`, `analyst:<name>`.
    pub actor: &'a str,
    pub kind: EventKind,
    pub detail: serde_json::Value,
    pub message_row_id: Option<i64>,
    pub outbox_id: Option<i64>,
}

impl<'a> NewEvent<'a> {
    /// An event the gateway records by itself (actor `system`), tied to no message or
    /// outbound mail; set those with struct-update syntax where they apply.
    pub fn system(
        case_id: i64,
        at: DateTime<Utc>,
        kind: EventKind,
        detail: serde_json::Value,
    ) -> Self {
        Self {
            case_id,
            at,
            actor: "system",
            kind,
            detail,
            message_row_id: None,
            outbox_id: None,
        }
    }
}

impl NewEvent<'static> {
    /// A system event whose detail is only why it happened (`{"reason": …}`).
    pub fn because(case_id: i64, at: DateTime<Utc>, kind: EventKind, reason: &str) -> Self {
        Self::system(case_id, at, kind, serde_json::json!({ "reason": reason }))
    }
}

/// Appends one event to a case's history.
pub async fn record_event(
    conn: &mut SqliteConnection,
    ev: NewEvent<'_>,
) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar::<_, i64>(
        "insert into events (case_id, at, actor, kind, detail_json, message_row_id, outbox_id)
         values (?, ?, ?, ?, ?, ?, ?) returning id",
    )
    .bind(ev.case_id)
    .bind(ts(ev.at))
    .bind(ev.actor)
    .bind(ev.kind.as_str())
    .bind(ev.detail.to_string())
    .bind(ev.message_row_id)
    .bind(ev.outbox_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Appends one event of the gateway's own (actor `system`), caused by the stored
/// message `row`.
pub async fn record_message_event(
    conn: &mut SqliteConnection,
    case_id: i64,
    row: i64,
    at: DateTime<Utc>,
    kind: EventKind,
    detail: serde_json::Value,
) -> Result<i64, StoreError> {
    record_event(
        conn,
        NewEvent {
            message_row_id: Some(row),
            ..NewEvent::system(case_id, at, kind, detail)
        },
    )
    .await
}

/// Appends `ev` unless the case already has an event of its kind (a condition told
/// once, such as "no SCIO in the directory"). True when it was recorded.
pub async fn record_once(
    conn: &mut SqliteConnection,
    ev: NewEvent<'_>,
) -> Result<bool, StoreError> {
    if count_events(conn, ev.case_id, ev.kind).await? > 0 {
        return Ok(false);
    }
    record_event(conn, ev).await?;
    Ok(true)
}

/// How many events of `kind` the case has.
pub async fn count_events(
    conn: &mut SqliteConnection,
    case_id: i64,
    kind: EventKind,
) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("select count(*) from events where case_id = ? and kind = ?")
            .bind(case_id)
            .bind(kind.as_str())
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Whether the case has an event of `kind` whose detail has `key` = `value` (a
/// notice told once per case and recipient, say).
pub async fn has_event_with(
    conn: &mut SqliteConnection,
    case_id: i64,
    kind: EventKind,
    key: &str,
    value: &str,
) -> Result<bool, StoreError> {
    event_with(conn, (case_id, kind, key, value), false).await
}

/// As [`has_event_with`], leaving out events whose outbox row was dropped (a notice an
/// undo withdrew, or an analyst dropped, was never sent: it may be sent again).
pub async fn has_sent_event_with(
    conn: &mut SqliteConnection,
    case_id: i64,
    kind: EventKind,
    key: &str,
    value: &str,
) -> Result<bool, StoreError> {
    event_with(conn, (case_id, kind, key, value), true).await
}

async fn event_with(
    conn: &mut SqliteConnection,
    (case_id, kind, key, value): (i64, EventKind, &str, &str),
    sent_only: bool,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar::<_, i64>(
        "select exists(select 1 from events e where e.case_id = ? and e.kind = ?
         and json_extract(e.detail_json, '$.' || ?) = ?
         and not (? and exists (select 1 from outbox o
                                 where o.id = e.outbox_id and o.status = 'dropped')))",
    )
    .bind(case_id)
    .bind(kind.as_str())
    .bind(key)
    .bind(value)
    .bind(sent_only)
    .fetch_one(&mut *conn)
    .await?
        == 1)
}

/// A text value from the detail of the case's first event of `kind`.
pub async fn first_event_text(
    conn: &mut SqliteConnection,
    case_id: i64,
    kind: EventKind,
    key: &str,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "select json_extract(detail_json, '$.' || ?) from events
         where case_id = ? and kind = ? order by id limit 1",
    )
    .bind(key)
    .bind(case_id)
    .bind(kind.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .flatten())
}

/// The kind and detail of each of the case's events after `since` (stored timestamp
/// text), oldest first. A detail that does not decode is `Corrupt`.
pub async fn events_since(
    conn: &mut SqliteConnection,
    case_id: i64,
    since: &str,
) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "select id, kind, detail_json from events where case_id = ? and at > ? order by id",
    )
    .bind(case_id)
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(id, kind, detail)| {
            let d = serde_json::from_str(&detail).map_err(|e| StoreError::Corrupt {
                table: "events",
                key: format!("#{id}"),
                what: format!("detail_json does not decode ({e})"),
            })?;
            Ok((kind, d))
        })
        .collect()
}

/// One event of a case: its actor, kind and detail (`None`: no such event on that case).
pub async fn event_of_case(
    conn: &mut SqliteConnection,
    case_id: i64,
    event_id: i64,
) -> Result<Option<(String, String, serde_json::Value)>, StoreError> {
    let row: Option<(String, String, String)> =
        sqlx::query_as("select actor, kind, detail_json from events where id = ? and case_id = ?")
            .bind(event_id)
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|(actor, kind, d)| {
        let detail = serde_json::from_str(&d).unwrap_or(serde_json::Value::Null);
        (actor, kind, detail)
    }))
}

/// The newest event of `kind` on the case by `actor`: its id and detail.
pub async fn last_event_by(
    conn: &mut SqliteConnection,
    case_id: i64,
    kind: EventKind,
    actor: &str,
) -> Result<Option<(i64, serde_json::Value)>, StoreError> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "select id, detail_json from events where case_id = ? and kind = ? and actor = ?
         order by id desc limit 1",
    )
    .bind(case_id)
    .bind(kind.as_str())
    .bind(actor)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(id, d)| {
        (
            id,
            serde_json::from_str(&d).unwrap_or(serde_json::Value::Null),
        )
    }))
}
