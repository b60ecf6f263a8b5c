//! Web accounts, their sessions and API tokens, and the audit trail of the web UI.
//!
//! Secrets never reach the database in the clear: passwords as argon2 PHC strings,
//! session ids and API tokens as their SHA-256.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

use super::{parse_ts, ts, StoreError};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and changes cases.
    Analyst,
    /// Reads only.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "analyst" => Ok(Role::Analyst),
            "viewer" => Ok(Role::Viewer),
            other => Err(StoreError::Invalid(format!(
                "'{other}' is not a role (analyst or viewer)"
            ))),
        }
    }
}

/// An account, without its password hash.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
}

type UserTuple = (i64, String, String, bool);

fn user_from(t: UserTuple) -> Result<User, StoreError> {
    Ok(User {
        id: t.0,
        name: t.1,
        role: t.2.parse()?,
        disabled: t.3,
    })
}

/// Lower-case hex SHA-256, the form secrets are looked up by.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Account names: 1–64 of letters, digits, `.`, `_`, `-`, `@`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

pub async fn add(
    conn: &mut SqliteConnection,
    name: &str,
    role: Role,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    if !valid_name(name) {
        return Err(StoreError::Invalid(format!(
            "'{name}' is not an account name (letters, digits, . _ - @; at most 64)"
        )));
    }
    let exists: Option<i64> = sqlx::query_scalar("select id from users where name = ?")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_some() {
        return Err(StoreError::Invalid(format!(
            "an account named '{name}' exists already (use `user passwd`)"
        )));
    }
    Ok(sqlx::query_scalar(
        "insert into users (name, role, password_hash, created_at, updated_at) values (?, ?, ?, ?, ?) returning id",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(password_hash)
    .bind(ts(now))
    .bind(ts(now))
    .fetch_one(&mut *conn)
    .await?)
}

/// The account and its password hash, for a login.
pub async fn for_login(
    conn: &mut SqliteConnection,
    name: &str,
) -> Result<Option<(User, String)>, StoreError> {
    let row: Option<(i64, String, String, bool, String)> =
        sqlx::query_as("select id, name, role, disabled, password_hash from users where name = ?")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    match row {
        Some((id, name, role, disabled, hash)) => {
            Ok(Some((user_from((id, name, role, disabled))?, hash)))
        }
        None => Ok(None),
    }
}

pub async fn set_password(
    conn: &mut SqliteConnection,
    name: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let done = sqlx::query("update users set password_hash = ?, updated_at = ? where name = ?")
        .bind(password_hash)
        .bind(ts(now))
        .bind(name)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Invalid(format!("no account named '{name}'")));
    }
    // A new password ends every session of the old one.
    sqlx::query("delete from web_sessions where user_id = (select id from users where name = ?)")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Disables an account and ends its sessions and tokens.
pub async fn disable(
    conn: &mut SqliteConnection,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let id: Option<i64> = sqlx::query_scalar("select id from users where name = ?")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(id) = id else {
        return Err(StoreError::Invalid(format!("no account named '{name}'")));
    };
    sqlx::query("update users set disabled = 1, updated_at = ? where id = ?")
        .bind(ts(now))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("delete from web_sessions where user_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("delete from api_tokens where user_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Stores a new API token (by its hash) for an enabled account.
pub async fn add_token(
    conn: &mut SqliteConnection,
    name: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let id: Option<i64> =
        sqlx::query_scalar("select id from users where name = ? and disabled = 0")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(id) = id else {
        return Err(StoreError::Invalid(format!(
            "no enabled account named '{name}'"
        )));
    };
    sqlx::query("insert into api_tokens (user_id, token_sha256, created_at) values (?, ?, ?)")
        .bind(id)
        .bind(sha256_hex(token))
        .bind(ts(now))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The enabled account a bearer token belongs to.
pub async fn by_token(
    conn: &mut SqliteConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<User>, StoreError> {
    let hash = sha256_hex(token);
    let row: Option<UserTuple> = sqlx::query_as(
        "select u.id, u.name, u.role, u.disabled from api_tokens t join users u on u.id = t.user_id
         where t.token_sha256 = ? and u.disabled = 0",
    )
    .bind(&hash)
    .fetch_optional(&mut *conn)
    .await?;
    if row.is_some() {
        sqlx::query("update api_tokens set last_used_at = ? where token_sha256 = ?")
            .bind(ts(now))
            .bind(&hash)
            .execute(&mut *conn)
            .await?;
    }
    row.map(user_from).transpose()
}

/// A live session: its account and its CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
}

pub async fn create_session(
    conn: &mut SqliteConnection,
    session_id: &str,
    user_id: i64,
    csrf_token: &str,
    now: DateTime<Utc>,
    absolute: Duration,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into web_sessions (id_sha256, user_id, csrf_token, created_at, last_seen_at, expires_at)
         values (?, ?, ?, ?, ?, ?)",
    )
    .bind(sha256_hex(session_id))
    .bind(user_id)
    .bind(csrf_token)
    .bind(ts(now))
    .bind(ts(now))
    .bind(ts(now + absolute))
    .execute(&mut *conn)
    .await?;
    // Expired sessions of anyone are of no use: sweep them here.
    sqlx::query("delete from web_sessions where expires_at <= ?")
        .bind(ts(now))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The session for a cookie value, if it is neither idle too long nor past its end,
/// and its account is enabled; touches it (restarts its idle clock) when `touch`: a
/// page's own background poll does not, so an open tab does not keep a session alive.
pub async fn session(
    conn: &mut SqliteConnection,
    session_id: &str,
    now: DateTime<Utc>,
    idle: Duration,
    touch: bool,
) -> Result<Option<Session>, StoreError> {
    let hash = sha256_hex(session_id);
    let row: Option<(i64, String, String, bool, String, String, String)> = sqlx::query_as(
        "select u.id, u.name, u.role, u.disabled, s.csrf_token, s.last_seen_at, s.expires_at
         from web_sessions s join users u on u.id = s.user_id where s.id_sha256 = ?",
    )
    .bind(&hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, name, role, disabled, csrf_token, last_seen, expires)) = row else {
        return Ok(None);
    };
    let alive = !disabled
        && parse_ts(&expires).is_some_and(|e| e > now)
        && parse_ts(&last_seen).is_some_and(|l| l + idle > now);
    if !alive {
        delete_session(conn, session_id).await?;
        return Ok(None);
    }
    if touch {
        sqlx::query("update web_sessions set last_seen_at = ? where id_sha256 = ?")
            .bind(ts(now))
            .bind(&hash)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Some(Session {
        user: user_from((id, name, role, disabled))?,
        csrf_token,
    }))
}

pub async fn delete_session(
    conn: &mut SqliteConnection,
    session_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("delete from web_sessions where id_sha256 = ?")
        .bind(sha256_hex(session_id))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One line of the audit trail.
pub struct AuditEntry<'a> {
    pub at: DateTime<Utc>,
    pub username: &'a str,
    pub action: &'a str,
    pub ip: Option<&'a str>,
    pub case_id: Option<i64>,
    pub detail: serde_json::Value,
}

pub async fn audit(conn: &mut SqliteConnection, e: AuditEntry<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "insert into audit (at, username, action, ip, case_id, detail_json) values (?, ?, ?, ?, ?, ?)",
    )
    .bind(ts(e.at))
    .bind(e.username)
    .bind(e.action)
    .bind(e.ip)
    .bind(e.case_id)
    .bind(e.detail.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Failed (or in-flight) logins since `since` for this account name and for this
/// address, and the time of the oldest of each (when the window starts to free up).
#[derive(Debug, Clone, Default)]
pub struct Failures {
    pub by_name: i64,
    pub by_name_oldest: Option<DateTime<Utc>>,
    pub by_ip: i64,
    pub by_ip_oldest: Option<DateTime<Utc>>,
}

/// Counts the attempts since `since` that count against the limit (failed, or still
/// being checked) and, when both counts are under their limits, reserves one more for
/// this login. Run it in a write transaction: the count and the reservation are then
/// one step, so parallel guesses cannot all pass the count. `Err` carries the counts
/// when the limit is reached.
pub async fn reserve_login_attempt(
    conn: &mut SqliteConnection,
    username: &str,
    ip: &str,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
    max_by_name: i64,
    max_by_ip: i64,
) -> Result<Result<i64, Failures>, StoreError> {
    // A pending attempt older than this is one whose process died mid-check.
    let stale = ts(now - chrono::Duration::minutes(2));
    let counted = "(outcome = 'failed' or (outcome = 'pending' and at > ?3)) and at > ?2";
    let (by_name, name_oldest): (i64, Option<String>) = sqlx::query_as(&format!(
        "select count(*), min(at) from login_attempts where username = ?1 and {counted}"
    ))
    .bind(username)
    .bind(ts(since))
    .bind(&stale)
    .fetch_one(&mut *conn)
    .await?;
    let (by_ip, ip_oldest): (i64, Option<String>) = sqlx::query_as(&format!(
        "select count(*), min(at) from login_attempts where ip = ?1 and {counted}"
    ))
    .bind(ip)
    .bind(ts(since))
    .bind(&stale)
    .fetch_one(&mut *conn)
    .await?;
    if by_name >= max_by_name || by_ip >= max_by_ip {
        return Ok(Err(Failures {
            by_name,
            by_name_oldest: name_oldest.as_deref().and_then(parse_ts),
            by_ip,
            by_ip_oldest: ip_oldest.as_deref().and_then(parse_ts),
        }));
    }
    let id = sqlx::query("insert into login_attempts (username, ip, at) values (?, ?, ?)")
        .bind(username)
        .bind(ip)
        .bind(ts(now))
        .execute(&mut *conn)
        .await?
        .last_insert_rowid();
    // Old rows are of no use to the limiter.
    sqlx::query("delete from login_attempts where at < ?")
        .bind(ts(now - chrono::Duration::days(2)))
        .execute(&mut *conn)
        .await?;
    Ok(Ok(id))
}

/// Records how a reserved attempt ended.
pub async fn finish_login_attempt(
    conn: &mut SqliteConnection,
    id: i64,
    ok: bool,
) -> Result<(), StoreError> {
    sqlx::query("update login_attempts set outcome = ? where id = ?")
        .bind(if ok { "ok" } else { "failed" })
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Recent audit entries (newest first), for tests and review.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub username: String,
    pub action: String,
    pub ip: Option<String>,
    pub case_id: Option<i64>,
    pub detail_json: String,
}

pub async fn audit_log(
    conn: &mut SqliteConnection,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    Ok(sqlx::query_as(
        "select id, at, username, action, ip, case_id, detail_json from audit order by id desc limit ?",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Names of the enabled analyst accounts, sorted: who a case may be assigned to.
pub async fn analyst_names(conn: &mut SqliteConnection) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "select name from users where role = 'analyst' and not disabled order by name",
    )
    .fetch_all(&mut *conn)
    .await?)
}
