//! Cases: tracking-ID allocation, creation, listing and the full view of one case.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::SqliteConnection;

use super::messages::{self, MessageRow};
use super::outbox::{self, OutboxRow};
use super::{ts, StoreError};
use crate::domain::fields::{FieldValue, Fields, Source};
use crate::domain::{EmailAddress, EventKind, Flag, Status, TrackingId};

/// Takes the next number of `prefix` for `year`. Numbers only grow, so none is reused.
pub async fn next_tracking_id(
    conn: &mut SqliteConnection,
    prefix: &str,
    year: i32,
) -> Result<TrackingId, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "insert into tracking_sequences (prefix, year, last) values (?, ?, 1)
         on conflict (prefix, year) do update set last = last + 1
         returning last",
    )
    .bind(prefix)
    .bind(year)
    .fetch_one(&mut *conn)
    .await?;
    TrackingId::new(prefix, year, seq).map_err(|e| StoreError::Corrupt {
        table: "tracking_sequences",
        key: format!("{prefix}/{year}"),
        what: format!("sequence exhausted: {e}"),
    })
}

/// What a new case starts with.
pub struct NewCase<'a> {
    pub tracking_id: &'a TrackingId,
    pub subject: &'a str,
    pub reporter_email: Option<&'a str>,
    pub reporter_name: Option<&'a str>,
    pub now: DateTime<Utc>,
}

pub async fn insert(conn: &mut SqliteConnection, c: NewCase<'_>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "insert into cases (tracking_id, subject, reporter_email, reporter_name, created_at, updated_at)
         values (?, ?, ?, ?, ?, ?) returning id",
    )
    .bind(c.tracking_id.to_string())
    .bind(c.subject)
    .bind(c.reporter_email)
    .bind(c.reporter_name)
    .bind(ts(c.now))
    .bind(ts(c.now))
    .fetch_one(&mut *conn)
    .await?)
}

/// Stores the reading of the case's first report on the case.
pub async fn set_analysis(
    conn: &mut SqliteConnection,
    case_id: i64,
    message_row: i64,
    a: &crate::extract::report::Analysis,
) -> Result<(), StoreError> {
    // Each value's source names the message it was read from, too.
    let mut fields = a.fields.clone();
    for v in fields.values_mut() {
        v.source.message = Some(message_row);
    }
    let fields = serde_json::to_value(&fields).unwrap_or_default();
    let agency = a
        .fields
        .get("agency")
        .and_then(|f| f.value.as_str())
        .map(String::from);
    let assessment = serde_json::json!({
        "category_reasons": a.category_reasons,
        "severity_reasons": a.severity_reasons,
        "severity_provisional": a.severity_provisional,
        "priority": a.priority,
        "major_incident_suggested": a.major_incident_suggested,
        "evidence": a.evidence.iter().map(|e| serde_json::json!({
            "origin": e.origin, "from": e.from, "subject": e.subject, "date": e.date,
        })).collect::<Vec<_>>(),
    });
    sqlx::query(
        "update cases set category = ?, severity_suggested = ?, priority = ?, agency = ?,
            fields_json = ?, missing_json = ?, iocs_json = ?, assessment_json = ? where id = ?",
    )
    .bind(&a.category)
    .bind(&a.severity_suggested)
    .bind(&a.priority)
    .bind(agency)
    .bind(fields.to_string())
    .bind(serde_json::to_string(&a.missing).unwrap_or_else(|_| "[]".into()))
    .bind(serde_json::to_string(&a.iocs).unwrap_or_else(|_| "{}".into()))
    .bind(assessment.to_string())
    .bind(case_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An analyst sets a field by hand; later email never overwrites it silently.
pub async fn set_field_by_analyst(
    conn: &mut SqliteConnection,
    id: &TrackingId,
    field: &str,
    value: serde_json::Value,
    analyst: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if field.is_empty() || !field.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(StoreError::Invalid(format!(
            "'{field}' is not a field name (e.g. reporter_phone)"
        )));
    }
    let case = by_tracking_id(conn, id)
        .await?
        .ok_or_else(|| StoreError::NoSuchCase(id.to_string()))?;
    let mut fields = fields(conn, case.id).await?;
    let old = fields.get(field).map(|f| f.value.clone());
    fields.insert(
        field.to_string(),
        FieldValue {
            value: value.clone(),
            source: Source {
                part: "analyst".into(),
                line: 0,
                text: format!("set by {analyst}"),
                message: None,
            },
        },
    );
    let missing: Vec<&str> = crate::extract::rules::missing(&fields, true);
    // The agency column mirrors the agency field (queue filters, SCIO routing).
    let agency = value.as_str().map(str::trim).filter(|a| !a.is_empty());
    sqlx::query(
        "update cases set fields_json = ?, missing_json = ?,
            agency = case when ? then ? else agency end, updated_at = ? where id = ?",
    )
    .bind(serde_json::to_string(&fields).unwrap_or_else(|_| "{}".into()))
    .bind(serde_json::to_string(&missing).unwrap_or_else(|_| "[]".into()))
    .bind(field == "agency")
    .bind(agency)
    .bind(ts(now))
    .bind(case.id)
    .execute(&mut *conn)
    .await?;
    crate::store::record_event(
        conn,
        crate::store::NewEvent {
            case_id: case.id,
            at: now,
            actor: &format!("analyst:{analyst}"),
            kind: EventKind::FieldChanged,
            detail: serde_json::json!({ "field": field, "old": old, "new": value }),
            message_row_id: None,
            outbox_id: None,
        },
    )
    .await?;
    Ok(())
}

/// One line of the case list.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CaseRow {
    pub id: i64,
    pub tracking_id: String,
    pub status: Status,
    pub severity: Option<String>,
    pub severity_suggested: Option<String>,
    pub priority: Option<String>,
    pub category: Option<String>,
    pub agency: Option<String>,
    pub assignee: Option<String>,
    pub reporter_email: Option<String>,
    pub reporter_name: Option<String>,
    pub subject: String,
    pub created_at: String,
    pub updated_at: String,
    /// Our mail to the reporter bounced.
    pub reporter_undeliverable: bool,
    /// Unverified correspondence or another reason for an analyst to look.
    pub needs_review: bool,
}

pub(super) const CASE_COLUMNS: &str = "id, tracking_id, status, severity, severity_suggested, priority, category, agency, assignee, reporter_email, reporter_name, subject, created_at, updated_at, reporter_undeliverable, needs_review";

pub async fn list(conn: &mut SqliteConnection, limit: i64) -> Result<Vec<CaseRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {CASE_COLUMNS} from cases order by id desc limit ?"
    ))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn by_tracking_id(
    conn: &mut SqliteConnection,
    id: &TrackingId,
) -> Result<Option<CaseRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {CASE_COLUMNS} from cases where tracking_id = ?"
    ))
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn by_id(conn: &mut SqliteConnection, id: i64) -> Result<Option<CaseRow>, StoreError> {
    Ok(
        sqlx::query_as(&format!("select {CASE_COLUMNS} from cases where id = ?"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// The case's flags, in a stable order.
pub async fn flags(conn: &mut SqliteConnection, case_id: i64) -> Result<Vec<Flag>, StoreError> {
    let names: Vec<String> =
        sqlx::query_scalar("select flag from case_flags where case_id = ? order by flag")
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(names.iter().filter_map(|n| n.parse().ok()).collect())
}

/// The case's tags, in order.
pub async fn tags(conn: &mut SqliteConnection, case_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(
        sqlx::query_scalar("select tag from case_tags where case_id = ? order by tag")
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// Adds (`on`) or removes a tag; whether anything changed.
pub async fn set_tag(
    conn: &mut SqliteConnection,
    case_id: i64,
    tag: &crate::domain::Tag,
    on: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let q = if on {
        sqlx::query(
            "insert into case_tags (case_id, tag, added_at, added_by) values (?, ?, ?, ?)
             on conflict do nothing",
        )
        .bind(case_id)
        .bind(tag.as_str())
        .bind(ts(now))
        .bind(by)
    } else {
        sqlx::query("delete from case_tags where case_id = ? and tag = ?")
            .bind(case_id)
            .bind(tag.as_str())
    };
    Ok(q.execute(&mut *conn).await?.rows_affected() > 0)
}

/// Sets or clears a flag; records `flag_set` / `flag_cleared` when it changed.
/// Returns whether it changed.
pub async fn set_flag(
    conn: &mut SqliteConnection,
    case_id: i64,
    flag: Flag,
    on: bool,
    actor: &str,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let changed = if on {
        sqlx::query(
            "insert into case_flags (case_id, flag, set_at, set_by) values (?, ?, ?, ?)
             on conflict (case_id, flag) do nothing",
        )
        .bind(case_id)
        .bind(flag.as_str())
        .bind(ts(now))
        .bind(actor)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    } else {
        sqlx::query("delete from case_flags where case_id = ? and flag = ?")
            .bind(case_id)
            .bind(flag.as_str())
            .execute(&mut *conn)
            .await?
            .rows_affected()
    } > 0;
    if changed {
        let mut detail = detail;
        detail["flag"] = serde_json::json!(flag.as_str());
        touch(conn, case_id, now).await?;
        crate::store::record_event(
            conn,
            crate::store::NewEvent {
                case_id,
                at: now,
                actor,
                kind: if on {
                    EventKind::FlagSet
                } else {
                    EventKind::FlagCleared
                },
                detail,
                message_row_id: None,
                outbox_id: None,
            },
        )
        .await?;
    }
    Ok(changed)
}

/// A case attribute an analyst sets directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    Status,
    Severity,
    Priority,
    Assignee,
}

impl Attribute {
    fn column(&self) -> &'static str {
        match self {
            Attribute::Status => "status",
            Attribute::Severity => "severity",
            Attribute::Priority => "priority",
            Attribute::Assignee => "assignee",
        }
    }

    /// The event recorded when it changes.
    pub fn event(&self) -> EventKind {
        match self {
            Attribute::Status => EventKind::StatusChanged,
            Attribute::Severity => EventKind::SeverityChanged,
            Attribute::Priority => EventKind::PriorityChanged,
            Attribute::Assignee => EventKind::AssigneeChanged,
        }
    }
}

/// Sets one attribute and records the change as an event (old, new). Returns the old
/// value; refuses a value equal to the current one.
pub async fn set_attribute(
    conn: &mut SqliteConnection,
    case_id: i64,
    attr: Attribute,
    value: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let col = attr.column();
    let old: Option<String> = sqlx::query_scalar(&format!("select {col} from cases where id = ?"))
        .bind(case_id)
        .fetch_one(&mut *conn)
        .await?;
    if old.as_deref() == value {
        return Err(StoreError::Invalid(format!(
            "{col} is already {}",
            value.unwrap_or("unset")
        )));
    }
    sqlx::query(&format!(
        "update cases set {col} = ?, updated_at = ? where id = ?"
    ))
    .bind(value)
    .bind(ts(now))
    .bind(case_id)
    .execute(&mut *conn)
    .await?;
    crate::store::record_event(
        conn,
        crate::store::NewEvent {
            case_id,
            at: now,
            actor,
            kind: attr.event(),
            detail: serde_json::json!({ "old": old, "new": value }),
            message_row_id: None,
            outbox_id: None,
        },
    )
    .await?;
    Ok(old)
}

/// The case a merged case now lives in (itself when not merged).
pub async fn resolve_merged(conn: &mut SqliteConnection, id: i64) -> Result<i64, StoreError> {
    let mut current = id;
    for _ in 0..16 {
        let next: Option<i64> = sqlx::query_scalar("select merged_into from cases where id = ?")
            .bind(current)
            .fetch_optional(&mut *conn)
            .await?
            .flatten();
        match next {
            Some(n) if n != current => current = n,
            _ => return Ok(current),
        }
    }
    Err(StoreError::Corrupt {
        table: "cases",
        key: format!("#{id}"),
        what: "merged in a loop of more than 16 cases".into(),
    })
}

/// Links two cases (both directions). Returns false when they were linked already.
pub async fn link(
    conn: &mut SqliteConnection,
    a: i64,
    b: i64,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut added = 0;
    for (x, y) in [(a, b), (b, a)] {
        added += sqlx::query(
            "insert into case_links (case_id, other_id, created_at, created_by) values (?, ?, ?, ?)
             on conflict (case_id, other_id) do nothing",
        )
        .bind(x)
        .bind(y)
        .bind(ts(now))
        .bind(actor)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(added > 0)
}

/// Tracking IDs of the cases linked to `case_id`.
pub async fn links(conn: &mut SqliteConnection, case_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "select c.tracking_id from case_links l join cases c on c.id = l.other_id
         where l.case_id = ? order by c.id",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Moves `source`'s messages and participants to `target` and marks `source` merged
/// (closed). Returns how many messages moved.
pub async fn merge(
    conn: &mut SqliteConnection,
    source: i64,
    target: i64,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let moved = sqlx::query("update messages set case_id = ? where case_id = ?")
        .bind(target)
        .bind(source)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    sqlx::query(
        "insert into case_participants (case_id, address, role, added_at, verified_at)
         select ?, address, role, added_at, verified_at from case_participants where case_id = ?
         on conflict (case_id, address) do nothing",
    )
    .bind(target)
    .bind(source)
    .execute(&mut *conn)
    .await?;
    super::campaigns::merge(conn, source, target).await?;
    sqlx::query("update cases set merged_into = ?, status = 'closed', updated_at = ? where id = ?")
        .bind(target)
        .bind(ts(now))
        .bind(source)
        .execute(&mut *conn)
        .await?;
    touch(conn, target, now).await?;
    Ok(moved)
}

/// One entry of a case's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub kind: String,
    #[serde(skip)]
    pub detail_json: String,
    pub message_row_id: Option<i64>,
    pub outbox_id: Option<i64>,
}

impl EventRow {
    pub fn detail(&self) -> serde_json::Value {
        serde_json::from_str(&self.detail_json).unwrap_or(serde_json::Value::Null)
    }
}

/// Everything about one case, for `case show`.
#[derive(Debug, Clone, Serialize)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub case: CaseRow,
    pub fields: serde_json::Value,
    pub missing: serde_json::Value,
    pub iocs: serde_json::Value,
    pub assessment: serde_json::Value,
    pub flags: Vec<Flag>,
    /// Tracking IDs of linked cases.
    pub links: Vec<String>,
    /// The case this one was merged into.
    pub merged_into: Option<String>,
    pub attachments: Vec<messages::AttachmentRow>,
    pub messages: Vec<MessageRow>,
    pub events: Vec<EventView>,
    pub outbox: Vec<OutboxRow>,
    /// Its reports: one, or the many of a campaign (the first 200 listed).
    pub campaign: super::campaigns::Summary,
}

/// An event with its detail decoded, as shown to people and tools.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    #[serde(flatten)]
    pub row: EventRow,
    pub detail: serde_json::Value,
}

/// Everything about one case, read in one transaction: one consistent moment, never a
/// case row from before a commit beside events from after it.
pub async fn detail(
    conn: &mut SqliteConnection,
    id: &TrackingId,
) -> Result<CaseDetail, StoreError> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let d = detail_in(&mut tx, id).await;
    tx.rollback().await?;
    d
}

async fn detail_in(conn: &mut SqliteConnection, id: &TrackingId) -> Result<CaseDetail, StoreError> {
    let case = by_tracking_id(conn, id)
        .await?
        .ok_or_else(|| StoreError::NoSuchCase(id.to_string()))?;
    let (fields, missing, iocs, assessment): (String, String, String, String) = sqlx::query_as(
        "select fields_json, missing_json, iocs_json, assessment_json from cases where id = ?",
    )
    .bind(case.id)
    .fetch_one(&mut *conn)
    .await?;
    let events: Vec<EventRow> = sqlx::query_as(
        "select id, at, actor, kind, detail_json, message_row_id, outbox_id from events where case_id = ? order by id",
    )
    .bind(case.id)
    .fetch_all(&mut *conn)
    .await?;
    let parse = |s: &str| serde_json::from_str(s).unwrap_or(serde_json::Value::Null);
    Ok(CaseDetail {
        fields: parse(&fields),
        missing: parse(&missing),
        iocs: parse(&iocs),
        assessment: parse(&assessment),
        flags: flags(conn, case.id).await?,
        links: links(conn, case.id).await?,
        merged_into: sqlx::query_scalar(
            "select t.tracking_id from cases c join cases t on t.id = c.merged_into where c.id = ?",
        )
        .bind(case.id)
        .fetch_optional(&mut *conn)
        .await?,
        attachments: messages::attachments_for_case(conn, case.id).await?,
        messages: messages::for_case(conn, case.id).await?,
        events: events
            .into_iter()
            .map(|row| EventView {
                detail: row.detail(),
                row,
            })
            .collect(),
        outbox: outbox::for_case(conn, case.id).await?,
        campaign: super::campaigns::summary(conn, case.id, 200).await?,
        case,
    })
}

/// Counts cases and messages (for `demo` and tests).
pub async fn counts(conn: &mut SqliteConnection) -> Result<(i64, i64), StoreError> {
    Ok(
        sqlx::query_as("select (select count(*) from cases), (select count(*) from messages)")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Whether `address` is a recorded participant of the case, and the case's agency.
pub async fn participant_and_agency(
    conn: &mut SqliteConnection,
    case_id: i64,
    address: &str,
) -> Result<(bool, Option<String>), StoreError> {
    let (listed, agency): (i64, Option<String>) = sqlx::query_as(
        "select (select count(*) from case_participants where case_id = ?1 and address = ?2),
                agency
         from cases where id = ?1",
    )
    .bind(case_id)
    .bind(address)
    .fetch_one(&mut *conn)
    .await?;
    Ok((listed > 0, agency))
}

/// The case's reporter address (lower-cased) and agency.
pub async fn reporter_and_agency(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<(Option<String>, Option<String>), StoreError> {
    Ok(
        sqlx::query_as("select lower(reporter_email), agency from cases where id = ?")
            .bind(case_id)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Whether `address` took part in the case with mail that passed verification.
pub async fn is_verified_participant(
    conn: &mut SqliteConnection,
    case_id: i64,
    address: &EmailAddress,
) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "select count(*) from case_participants
         where case_id = ? and address = ? and verified_at is not null",
    )
    .bind(case_id)
    .bind(address.as_str().to_lowercase())
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// Clears the review flag once an analyst has looked; `false` when it was not set.
pub async fn clear_review(conn: &mut SqliteConnection, case_id: i64) -> Result<bool, StoreError> {
    let n = sqlx::query("update cases set needs_review = 0 where id = ? and needs_review = 1")
        .bind(case_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// Flags the case for an analyst's review.
pub async fn flag_for_review(conn: &mut SqliteConnection, case_id: i64) -> Result<(), StoreError> {
    sqlx::query("update cases set needs_review = 1 where id = ?")
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The case's fields. A stored value that does not decode is `Corrupt` (never read as
/// empty, which a later write would store over the real fields).
pub async fn fields(conn: &mut SqliteConnection, case_id: i64) -> Result<Fields, StoreError> {
    let json: Option<String> = sqlx::query_scalar("select fields_json from cases where id = ?")
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?;
    let json = json.ok_or_else(|| StoreError::NoSuchCase(format!("#{case_id}")))?;
    decode_fields(case_id, &json)
}

fn decode_fields(case_id: i64, json: &str) -> Result<Fields, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        table: "cases",
        key: format!("#{case_id}"),
        what: format!("fields_json does not decode ({e})"),
    })
}

/// What a reply is read against: the case's fields, tracking ID and reporter's name.
pub async fn reply_context(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<(Fields, String, Option<String>), StoreError> {
    let row: Option<(String, String, Option<String>)> =
        sqlx::query_as("select fields_json, tracking_id, reporter_name from cases where id = ?")
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?;
    let (json, tracking_id, reporter_name) =
        row.ok_or_else(|| StoreError::NoSuchCase(format!("#{case_id}")))?;
    Ok((decode_fields(case_id, &json)?, tracking_id, reporter_name))
}

/// Stores the fields a reply completed, what is still missing, and the agency when the
/// fields name one.
pub async fn update_fields(
    conn: &mut SqliteConnection,
    case_id: i64,
    fields: &Fields,
    missing: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let agency = fields
        .get("agency")
        .and_then(|f| f.value.as_str())
        .map(String::from);
    sqlx::query("update cases set fields_json = ?, missing_json = ?, agency = coalesce(?, agency), updated_at = ? where id = ?")
        .bind(serde_json::to_string(fields).unwrap_or_else(|_| "{}".into()))
        .bind(serde_json::to_string(missing).unwrap_or_else(|_| "[]".into()))
        .bind(agency)
        .bind(ts(now))
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Whether an analyst cleared `flag` on the case (their word stands over later email).
pub async fn flag_cleared_by_analyst(
    conn: &mut SqliteConnection,
    case_id: i64,
    flag: Flag,
) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "select count(*) from events where case_id = ? and kind = 'flag_cleared'
         and actor like 'analyst:%' and json_extract(detail_json, '$.flag') = ?",
    )
    .bind(case_id)
    .bind(flag.as_str())
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// The case's tracking ID, if the case exists.
pub async fn tracking_id(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("select tracking_id from cases where id = ?")
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Tracking IDs of many cases at once.
pub async fn tracking_ids(
    conn: &mut SqliteConnection,
    case_ids: &[i64],
) -> Result<std::collections::HashMap<i64, String>, StoreError> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "select id, tracking_id from cases where id in (select value from json_each(?))",
    )
    .bind(serde_json::to_string(case_ids).unwrap_or_else(|_| "[]".into()))
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Marks the case as changed now.
pub async fn touch(
    conn: &mut SqliteConnection,
    case_id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("update cases set updated_at = ? where id = ?")
        .bind(ts(now))
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records that our mail to the reporter bounced, once: true when this call set it
/// (the bounced address is the case's reporter and was not marked yet).
pub async fn mark_reporter_undeliverable(
    conn: &mut SqliteConnection,
    case_id: i64,
    recipient: &str,
) -> Result<bool, StoreError> {
    let changed = sqlx::query(
        "update cases set reporter_undeliverable = 1, needs_review = 1
         where id = ? and lower(reporter_email) = lower(?) and reporter_undeliverable = 0",
    )
    .bind(case_id)
    .bind(recipient)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(changed > 0)
}

/// Adds people to the case (unverified); those already listed stay as they are.
pub async fn add_participants(
    conn: &mut SqliteConnection,
    case_id: i64,
    people: &[(String, &str)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for (address, role) in people {
        sqlx::query(
            "insert into case_participants (case_id, address, role, added_at) values (?, ?, ?, ?)
             on conflict (case_id, address) do nothing",
        )
        .bind(case_id)
        .bind(address)
        .bind(role)
        .bind(ts(now))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records that `address` wrote to the case with mail that passed verification (from
/// then on it may receive case details).
pub async fn verify_participant(
    conn: &mut SqliteConnection,
    case_id: i64,
    address: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into case_participants (case_id, address, role, added_at, verified_at)
         values (?, ?, 'directory', ?, ?)
         on conflict (case_id, address) do update set verified_at = coalesce(verified_at, excluded.verified_at)",
    )
    .bind(case_id)
    .bind(address)
    .bind(ts(now))
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An open case still missing required fields whose participants have been silent
/// since our last request (see `intake::reminders`).
#[derive(Debug, Clone)]
pub struct QuietCase {
    pub case_id: i64,
    pub tracking_id: String,
    pub missing: Vec<String>,
    pub reporter_name: Option<String>,
    pub subject: String,
    pub reminders_sent: i64,
}

/// Open cases missing required fields whose last request (acknowledgement, follow-up
/// or reminder) is at or before `cutoff` and that no participant answered since; with
/// `only`, that one case if it still is.
pub async fn reminders_due(
    conn: &mut SqliteConnection,
    cutoff: &str,
    only: Option<i64>,
) -> Result<Vec<QuietCase>, StoreError> {
    let rows: Vec<(i64, String, String, Option<String>, String, i64)> = sqlx::query_as(
        "select c.id as case_id, c.tracking_id, c.missing_json, c.reporter_name, c.subject,
                        (select count(*) from outbox r where r.case_id = c.id and r.kind = 'reminder') as reminders_sent
                 from cases c
                 where c.missing_json != '[]' and c.status not in ('resolved', 'closed')
                   and c.reporter_undeliverable = 0
                   and exists (select 1 from outbox o where o.case_id = c.id and o.kind in ('ack', 'followup', 'reminder') and o.status != 'dropped')
                   and (select max(o.created_at) from outbox o where o.case_id = c.id
                          and o.kind in ('ack', 'followup', 'reminder') and o.status != 'dropped') <= ?
                   and not exists (select 1 from messages m where m.case_id = c.id and m.kind = 'reply'
                          and lower(m.from_addr) in (select p.address from case_participants p where p.case_id = c.id)
                          and m.received_at > (select max(o.created_at) from outbox o where o.case_id = c.id
                          and o.kind in ('ack', 'followup', 'reminder')))
               and (? is null or c.id = ?)",
    )
    .bind(cutoff)
    .bind(only)
    .bind(only)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(
            |(case_id, tracking_id, missing, reporter_name, subject, reminders_sent)| {
                let missing = serde_json::from_str(&missing).map_err(|e| StoreError::Corrupt {
                    table: "cases",
                    key: format!("#{case_id}"),
                    what: format!("missing_json does not decode ({e})"),
                })?;
                Ok(QuietCase {
                    case_id,
                    tracking_id,
                    missing,
                    reporter_name,
                    subject,
                    reminders_sent,
                })
            },
        )
        .collect()
}

/// A bare case with tracking ID `SOC-2026-<n>`, for tests of the store's users.
#[cfg(test)]
pub async fn insert_for_test(conn: &mut SqliteConnection, n: i64) -> (i64, TrackingId) {
    let tid = TrackingId::new("SOC", 2026, n).expect("tracking id");
    let id = insert(
        conn,
        NewCase {
            tracking_id: &tid,
            subject: "s",
            reporter_email: Some("r@agency.test"),
            reporter_name: None,
            now: Utc::now(),
        },
    )
    .await
    .expect("insert case");
    (id, tid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// A case whose stored fields do not decode is reported, and left as it was: an
    /// analyst's edit (or a reply) must not store an empty field set over it.
    #[tokio::test]
    async fn a_corrupt_field_set_is_an_error_and_stays_as_it_was() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/t.db", tmp.path().display()))
            .await
            .unwrap();
        let mut conn = store.acquire().await.unwrap();
        let now = Utc::now();
        let (id, tid) = insert_for_test(&mut conn, 7).await;
        let broken = r#"{"agency": {"value": "DOR", "source": "#;
        sqlx::query("update cases set fields_json = ? where id = ?")
            .bind(broken)
            .bind(id)
            .execute(&mut *conn)
            .await
            .unwrap();

        let err = set_field_by_analyst(&mut conn, &tid, "reporter_phone", "x".into(), "ann", now)
            .await
            .unwrap_err();
        match &err {
            StoreError::Corrupt { table, key, .. } => {
                assert_eq!((*table, key.as_str()), ("cases", format!("#{id}").as_str()))
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert!(err.to_string().contains("left as it is"), "{err}");
        assert!(matches!(
            reply_context(&mut conn, id).await,
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            fields(&mut conn, id).await,
            Err(StoreError::Corrupt { .. })
        ));
        let stored: String = sqlx::query_scalar("select fields_json from cases where id = ?")
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(stored, broken);
    }
}
