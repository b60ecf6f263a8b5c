//! Inbound messages: raw bytes kept as evidence, dedupe lookups, IMAP checkpoints.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::SqliteConnection;

use super::{ts, StoreError};
use crate::extract::InboundEmail;

/// Where a message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Imap {
        mailbox: String,
        uid_validity: u32,
        uid: u32,
    },
    Pipe,
    Demo,
}

impl Origin {
    pub fn label(&self) -> &'static str {
        match self {
            Origin::Imap { .. } => "imap",
            Origin::Pipe => "pipe",
            Origin::Demo => "demo",
        }
    }
}

/// A stored message, without its raw bytes.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MessageRow {
    pub id: i64,
    pub case_id: Option<i64>,
    pub kind: String,
    pub quarantine_reason: Option<String>,
    pub origin: String,
    pub message_id: Option<String>,
    pub from_addr: Option<String>,
    pub subject: Option<String>,
    pub sent_date: Option<String>,
    pub size: i64,
    pub received_at: String,
    pub moved_at: Option<String>,
    pub parse_notes_json: String,
    pub attachments_json: String,
    /// An analyst's "not an incident" on a quarantined message: when, who, why.
    pub dismissed_at: Option<String>,
    pub dismissed_by: Option<String>,
    pub dismiss_note: Option<String>,
}

pub const MESSAGE_COLUMNS: &str = "id, case_id, kind, quarantine_reason, origin, message_id, from_addr, subject, sent_date, size, received_at, (select moved_at from message_moves where message_row_id = messages.id) as moved_at, parse_notes_json, attachments_json, dismissed_at, dismissed_by, dismiss_note";

/// The row of a message already seen at this IMAP position.
pub async fn find_by_uid(
    conn: &mut SqliteConnection,
    mailbox: &str,
    uid_validity: u32,
    uid: u32,
) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "select id from messages where mailbox = ? and uid_validity = ? and uid = ?",
    )
    .bind(mailbox)
    .bind(uid_validity as i64)
    .bind(uid as i64)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The row of the same message (same Message-ID and content) stored before.
pub async fn find_duplicate(
    conn: &mut SqliteConnection,
    message_id: Option<&str>,
    content_hash: &str,
) -> Result<Option<(i64, Option<i64>)>, StoreError> {
    Ok(sqlx::query_as(
        "select id, case_id from messages where coalesce(message_id, '') = ? and content_hash = ?",
    )
    .bind(message_id.unwrap_or(""))
    .bind(content_hash)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Records the IMAP position of a message first stored through another path (or
/// before a UIDVALIDITY change), so the next poll recognises it by UID.
pub async fn remember_uid(
    conn: &mut SqliteConnection,
    row: i64,
    origin: &Origin,
) -> Result<(), StoreError> {
    if let Origin::Imap {
        mailbox,
        uid_validity,
        uid,
    } = origin
    {
        sqlx::query(
            "update messages set mailbox = ?, uid_validity = ?, uid = ? where id = ?
             and not exists (select 1 from messages where mailbox = ? and uid_validity = ? and uid = ?)",
        )
        .bind(mailbox)
        .bind(*uid_validity as i64)
        .bind(*uid as i64)
        .bind(row)
        .bind(mailbox)
        .bind(*uid_validity as i64)
        .bind(*uid as i64)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Everything needed to insert one inbound message.
pub struct NewMessage<'a> {
    pub case_id: Option<i64>,
    pub kind: &'a str,
    pub quarantine_reason: Option<&'a str>,
    pub origin: &'a Origin,
    pub email: &'a InboundEmail,
    pub content_hash: &'a str,
    pub raw: &'a [u8],
    /// The reading of the message, stored beside it.
    pub analysis: Option<&'a crate::extract::report::Analysis>,
    pub now: DateTime<Utc>,
}

/// At most this much of one text goes into a message's search document…
const SEARCH_PIECE_CHARS: usize = 20_000;
/// …and at most this much in all.
const SEARCH_BODY_CHARS: usize = 65_536;

/// What the queue's search reads of a message: subject, sender, the reporter's own
/// text, forwarded or attached evidence, indicators, attachment names and hashes.
fn search_body(e: &InboundEmail, a: Option<&crate::extract::report::Analysis>) -> String {
    let mut body = String::new();
    let mut chars = 0usize;
    let mut add = |s: &str| {
        let left = SEARCH_BODY_CHARS.saturating_sub(chars);
        if left > 1 && !s.trim().is_empty() {
            if chars > 0 {
                body.push(' ');
                chars += 1;
            }
            for c in s.chars().take(SEARCH_PIECE_CHARS.min(left - 1)) {
                body.push(c);
                chars += 1;
            }
        }
    };
    add(&e.subject);
    if let Some(f) = &e.from {
        add(f.address.as_str());
    }
    if let Some(a) = a {
        add(&a.note);
        for ev in &a.evidence {
            add(ev.from.as_deref().unwrap_or(""));
            add(ev.subject.as_deref().unwrap_or(""));
            add(&ev.text);
        }
        for (_, v) in a.iocs.pairs() {
            add(v);
        }
        for att in &a.attachments {
            add(att.name.as_deref().unwrap_or(""));
            add(&att.sha256);
        }
    }
    body
}

pub async fn insert(conn: &mut SqliteConnection, m: NewMessage<'_>) -> Result<i64, StoreError> {
    let (mailbox, uidv, uid) = match m.origin {
        Origin::Imap {
            mailbox,
            uid_validity,
            uid,
        } => (
            Some(mailbox.as_str()),
            Some(*uid_validity as i64),
            Some(*uid as i64),
        ),
        _ => (None, None, None),
    };
    let e = m.email;
    let chunked = m.raw.len() > RAW_CHUNK;
    let chunks: Vec<&[u8]> = if chunked {
        m.raw.chunks(RAW_CHUNK).collect()
    } else {
        Vec::new()
    };
    let id: i64 = sqlx::query_scalar(
        "insert into messages (case_id, kind, quarantine_reason, origin, mailbox, uid_validity, uid,
            message_id, content_hash, from_addr, subject, sent_date, in_reply_to, references_json,
            parse_notes_json, attachments_json, size, raw, received_at, analysis_json, raw_chunks,
            search_body)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id",
    )
    .bind(m.case_id)
    .bind(m.kind)
    .bind(m.quarantine_reason)
    .bind(m.origin.label())
    .bind(mailbox)
    .bind(uidv)
    .bind(uid)
    .bind(e.message_id.as_deref())
    .bind(m.content_hash)
    .bind(e.from.as_ref().map(|f| f.address.to_string()))
    .bind(&e.subject)
    .bind(e.date.map(|d| d.to_rfc3339()))
    .bind(e.in_reply_to.first())
    .bind(serde_json::to_string(&e.references).unwrap_or_else(|_| "[]".into()))
    .bind(serde_json::to_string(&m.analysis.map(|a| &a.notes).unwrap_or(&e.parse_notes)).unwrap_or_else(|_| "[]".into()))
    .bind(serde_json::to_string(&e.attachments).unwrap_or_else(|_| "[]".into()))
    .bind(m.raw.len() as i64)
    .bind(if chunked { &[][..] } else { m.raw })
    .bind(ts(m.now))
    .bind(m.analysis.and_then(|a| serde_json::to_string(a).ok()))
    .bind(if chunked { chunks.len() as i64 } else { 0 })
    .bind(search_body(e, m.analysis))
    .fetch_one(&mut *conn)
    .await?;
    if chunked {
        for (seq, data) in chunks.iter().enumerate() {
            sqlx::query(
                "insert into message_raw_chunks (message_row_id, seq, data) values (?, ?, ?)",
            )
            .bind(id)
            .bind(seq as i64)
            .bind(*data)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(id)
}

/// Raw messages larger than this are stored in chunks of this size.
const RAW_CHUNK: usize = 1024 * 1024;

/// Records a message's attachments; kept bytes are stored once per SHA-256.
pub async fn insert_attachments(
    conn: &mut SqliteConnection,
    row: i64,
    attachments: &[crate::extract::report::Attachment],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for a in attachments {
        if a.kept {
            let chunks: Vec<&[u8]> = if a.data.len() > RAW_CHUNK {
                a.data.chunks(RAW_CHUNK).collect()
            } else {
                Vec::new()
            };
            let inserted = sqlx::query(
                "insert into attachment_blobs (sha256, size, data, created_at, chunks) values (?, ?, ?, ?, ?)
                 on conflict (sha256) do nothing",
            )
            .bind(&a.sha256)
            .bind(a.size as i64)
            .bind(if chunks.is_empty() { &a.data[..] } else { &[][..] })
            .bind(ts(now))
            .bind(chunks.len() as i64)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if inserted > 0 {
                for (seq, data) in chunks.iter().enumerate() {
                    sqlx::query(
                        "insert into attachment_blob_chunks (sha256, seq, data) values (?, ?, ?)",
                    )
                    .bind(&a.sha256)
                    .bind(seq as i64)
                    .bind(*data)
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        sqlx::query(
            "insert into message_attachments (message_row_id, name, media_type, size, sha256, kept, container)
             values (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(row)
        .bind(a.name.as_deref())
        .bind(&a.media_type)
        .bind(a.size as i64)
        .bind(&a.sha256)
        .bind(a.kept)
        .bind(&a.from)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// An attachment as listed for a case.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AttachmentRow {
    pub message_row_id: i64,
    pub name: Option<String>,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
    pub kept: bool,
    pub container: String,
}

pub async fn attachments_for_case(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<Vec<AttachmentRow>, StoreError> {
    Ok(sqlx::query_as(
        "select a.message_row_id, a.name, a.media_type, a.size, a.sha256, a.kept, a.container
         from message_attachments a join messages m on m.id = a.message_row_id
         where m.case_id = ? order by a.id",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Notes that the message left the intake folder. A row of its own: updating
/// `messages` would make SQLite write the whole row, raw bytes and all, once more.
pub async fn mark_moved(
    conn: &mut SqliteConnection,
    row: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into message_moves (message_row_id, moved_at) values (?, ?)
         on conflict (message_row_id) do nothing",
    )
    .bind(row)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The row of the case's first report.
pub async fn first_report(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "select id from messages where case_id = ? and kind = 'report' order by id limit 1",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Says why a stored message belongs to no case (shown in the quarantine list).
pub async fn set_quarantine_reason(
    conn: &mut SqliteConnection,
    row: i64,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query("update messages set quarantine_reason = ? where id = ?")
        .bind(reason)
        .bind(row)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The case a set of Message-IDs belongs to: any message we sent or received for it.
pub async fn case_for_message_ids(
    conn: &mut SqliteConnection,
    ids: &[String],
) -> Result<Option<i64>, StoreError> {
    // Newest reference first (In-Reply-To, then References from the end), our own
    // mail before a stored message with the same Message-ID: one query for all.
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    Ok(sqlx::query_scalar(
        "select case_id from (
             select j.key as pos, 0 as src,
                    (select o.case_id from outbox o
                     where o.message_id = j.value and o.case_id is not null limit 1) as case_id
             from json_each(?1) j
             union all
             select j.key, 1,
                    (select m.case_id from messages m
                     where m.message_id = j.value and m.case_id is not null limit 1)
             from json_each(?1) j
         ) where case_id is not null order by pos, src limit 1",
    )
    .bind(ids)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Messages that belong to no case (bounces, auto-replies, bulk, unparseable), newest
/// first: those still to look at, or (`dismissed`) those an analyst called not an
/// incident.
pub async fn quarantine(
    conn: &mut SqliteConnection,
    limit: i64,
    dismissed: bool,
) -> Result<Vec<MessageRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {MESSAGE_COLUMNS} from messages where case_id is null
           and (dismissed_at is not null) = ? order by id desc limit ?"
    ))
    .bind(dismissed)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// How many quarantined messages are still to look at, and how many were dismissed.
pub async fn quarantine_counts(conn: &mut SqliteConnection) -> Result<(i64, i64), StoreError> {
    Ok(sqlx::query_as(
        "select coalesce(sum(dismissed_at is null), 0), coalesce(sum(dismissed_at is not null), 0)
           from messages where case_id is null",
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// One stored message, without its raw bytes.
pub async fn by_id(
    conn: &mut SqliteConnection,
    row: i64,
) -> Result<Option<MessageRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {MESSAGE_COLUMNS} from messages where id = ?"
    ))
    .bind(row)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Where a stored message came from, as intake saw it.
pub async fn origin(conn: &mut SqliteConnection, row: i64) -> Result<Option<Origin>, StoreError> {
    /// origin label, mailbox, UIDVALIDITY, UID.
    type Where = (String, Option<String>, Option<i64>, Option<i64>);
    let got: Option<Where> =
        sqlx::query_as("select origin, mailbox, uid_validity, uid from messages where id = ?")
            .bind(row)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(got.map(
        |(label, mailbox, uidv, uid)| match (label.as_str(), mailbox, uidv, uid) {
            ("imap", Some(mailbox), Some(v), Some(u)) => Origin::Imap {
                mailbox,
                uid_validity: v as u32,
                uid: u as u32,
            },
            ("demo", ..) => Origin::Demo,
            _ => Origin::Pipe,
        },
    ))
}

/// Makes a quarantined message the report of case `case_id` (an analyst opened a case
/// from it). False when it is no longer in the quarantine.
pub async fn adopt(
    conn: &mut SqliteConnection,
    row: i64,
    case_id: i64,
    kind: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "update messages set case_id = ?, kind = ?, quarantine_reason = null,
                dismissed_at = null, dismissed_by = null, dismiss_note = null
          where id = ? and case_id is null",
    )
    .bind(case_id)
    .bind(kind)
    .bind(row)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An analyst's "not an incident" on a quarantined message (kept, off the open list).
/// False when it is not in the quarantine or was dismissed already.
pub async fn dismiss(
    conn: &mut SqliteConnection,
    row: i64,
    by: &str,
    note: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "update messages set dismissed_at = ?, dismissed_by = ?, dismiss_note = ?
          where id = ? and case_id is null and dismissed_at is null",
    )
    .bind(super::ts(now))
    .bind(by)
    .bind(note)
    .bind(row)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A message attached to a case but from someone not verified as its participant.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct UnverifiedRow {
    pub id: i64,
    pub tracking_id: String,
    pub from_addr: Option<String>,
    pub subject: Option<String>,
    pub received_at: String,
    pub reason: Option<String>,
}

/// Unverified correspondence on cases, newest first (the quarantine's second list).
pub async fn unverified(
    conn: &mut SqliteConnection,
    limit: i64,
) -> Result<Vec<UnverifiedRow>, StoreError> {
    Ok(sqlx::query_as(
        "select m.id, c.tracking_id, m.from_addr, m.subject, m.received_at,
                json_extract(e.detail_json, '$.reason') as reason
         from events e join messages m on m.id = e.message_row_id join cases c on c.id = e.case_id
         where e.kind = 'unverified_correspondence' order by m.id desc limit ?",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn for_case(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<Vec<MessageRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {MESSAGE_COLUMNS} from messages where case_id = ? order by id"
    ))
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// A kept attachment's bytes, by SHA-256.
pub async fn attachment_data(
    conn: &mut SqliteConnection,
    sha256: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let head = sqlx::query_as("select data, chunks, size from attachment_blobs where sha256 = ?")
        .bind(sha256)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(head) = head else { return Ok(None) };
    let chunks =
        sqlx::query_scalar("select data from attachment_blob_chunks where sha256 = ? order by seq")
            .bind(sha256);
    assemble(conn, head, chunks, ("attachment_blobs", sha256))
        .await
        .map(Some)
}

/// The message's bytes as received (from its chunks, when it was stored in chunks).
pub async fn raw(conn: &mut SqliteConnection, row: i64) -> Result<Option<Vec<u8>>, StoreError> {
    let head = sqlx::query_as("select raw, raw_chunks, size from messages where id = ?")
        .bind(row)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(head) = head else { return Ok(None) };
    let chunks = sqlx::query_scalar(
        "select data from message_raw_chunks where message_row_id = ? order by seq",
    )
    .bind(row);
    assemble(conn, head, chunks, ("messages", &format!("#{row}")))
        .await
        .map(Some)
}

/// Bytes stored inline, or in `chunks` pieces that `query` reads in order.
async fn assemble<'q>(
    conn: &mut SqliteConnection,
    (inline, chunks, size): (Vec<u8>, i64, i64),
    query: sqlx::query::QueryScalar<'q, sqlx::Sqlite, Vec<u8>, sqlx::sqlite::SqliteArguments<'q>>,
    (table, key): (&'static str, &str),
) -> Result<Vec<u8>, StoreError> {
    if chunks == 0 {
        return Ok(inline);
    }
    let parts = query.fetch_all(&mut *conn).await?;
    if parts.len() as i64 != chunks {
        return Err(StoreError::Corrupt {
            table,
            key: key.to_string(),
            what: format!("should have {chunks} stored chunk(s), has {}", parts.len()),
        });
    }
    let mut out = Vec::with_capacity(size.max(0) as usize);
    for p in parts {
        out.extend_from_slice(&p);
    }
    Ok(out)
}

/// The bytes of these messages stored inline (up to one chunk each), by row, in one
/// query (the case page, for the messages it shows). A message stored in chunks is left out, to be read alone with
/// [`raw`], so the page never holds more than one large message at a time.
pub async fn inline_raws(
    conn: &mut SqliteConnection,
    rows: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<u8>>, StoreError> {
    let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "select m.id, m.raw from messages m, json_each(?) j where m.id = j.value and m.raw_chunks = 0",
    )
    .bind(serde_json::to_string(rows).unwrap_or_else(|_| "[]".into()))
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Records what intake last saw of a folder; returns the previous UIDVALIDITY if it changed.
pub async fn checkpoint(
    conn: &mut SqliteConnection,
    mailbox: &str,
    uid_validity: u32,
    last_uid: u32,
    now: DateTime<Utc>,
) -> Result<Option<u32>, StoreError> {
    let prev: Option<(i64, i64)> =
        sqlx::query_as("select uid_validity, last_uid from imap_state where mailbox = ?")
            .bind(mailbox)
            .fetch_optional(&mut *conn)
            .await?;
    let changed = prev
        .filter(|(v, _)| *v != uid_validity as i64)
        .map(|(v, _)| v as u32);
    let last = match prev {
        Some((v, l)) if v == uid_validity as i64 => l.max(last_uid as i64),
        _ => last_uid as i64,
    };
    sqlx::query(
        "insert into imap_state (mailbox, uid_validity, last_uid, last_poll_at) values (?, ?, ?, ?)
         on conflict (mailbox) do update set uid_validity = excluded.uid_validity,
             last_uid = excluded.last_uid, last_poll_at = excluded.last_poll_at",
    )
    .bind(mailbox)
    .bind(uid_validity as i64)
    .bind(last)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::InboundEmail;

    /// Stores `raw` as a report from the pipe (on `case_id`), with `hash` as its content hash.
    async fn insert_raw(
        conn: &mut SqliteConnection,
        case_id: Option<i64>,
        raw: &[u8],
        hash: &str,
    ) -> i64 {
        insert(
            conn,
            NewMessage {
                case_id,
                kind: "report",
                quarantine_reason: None,
                origin: &Origin::Pipe,
                email: &InboundEmail::default(),
                content_hash: hash,
                raw,
                analysis: None,
                now: Utc::now(),
            },
        )
        .await
        .expect("insert")
    }

    /// The newest reference that names a case wins, in one query however many there are.
    #[tokio::test]
    async fn the_newest_known_reference_names_the_case() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = crate::store::Store::connect(&url).await.expect("store");
        let mut conn = store.acquire().await.expect("conn");
        let now = Utc::now();
        let mut case_of = Vec::new();
        for (n, mid) in [(1, "old@x"), (2, "new@x")] {
            let (case, _) = crate::store::cases::insert_for_test(&mut conn, n).await;
            let email = InboundEmail {
                message_id: Some(mid.into()),
                ..InboundEmail::default()
            };
            insert(
                &mut conn,
                NewMessage {
                    case_id: Some(case),
                    kind: "report",
                    quarantine_reason: None,
                    origin: &Origin::Pipe,
                    email: &email,
                    content_hash: mid,
                    raw: b"x",
                    analysis: None,
                    now,
                },
            )
            .await
            .expect("insert");
            case_of.push(case);
        }
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let newest_first = ids(&["new@x", "old@x"]);
        let with_unknown = ids(&["unknown@x", "old@x", "new@x"]);
        let mut many: Vec<String> = (0..5000).map(|i| format!("{i}@nowhere")).collect();
        many.push("new@x".into());
        for (refs, want) in [
            (newest_first, Some(case_of[1])),
            (with_unknown, Some(case_of[0])),
            (many, Some(case_of[1])),
            (Vec::new(), None),
        ] {
            let got = case_for_message_ids(&mut conn, &refs).await.expect("query");
            assert_eq!(got, want, "{:?}", &refs[..refs.len().min(3)]);
        }
    }

    /// The case page reads a case's inline messages at once; chunked ones are read alone.
    #[tokio::test]
    async fn a_cases_inline_messages_come_back_together_byte_for_byte() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = crate::store::Store::connect(&url).await.expect("store");
        let mut conn = store.acquire().await.expect("conn");
        let (case, _) = crate::store::cases::insert_for_test(&mut conn, 3).await;
        let mut inline = std::collections::HashMap::new();
        let mut chunked = Vec::new();
        for len in [10, 3 * RAW_CHUNK + 17, RAW_CHUNK] {
            let raw: Vec<u8> = (0..len).map(|i| (i * 13 % 251) as u8).collect();
            let row = insert_raw(&mut conn, Some(case), &raw, &format!("h{len}")).await;
            if len > RAW_CHUNK {
                chunked.push((row, raw));
            } else {
                inline.insert(row, raw);
            }
        }
        let rows: Vec<i64> = for_case(&mut conn, case)
            .await
            .expect("rows")
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(inline_raws(&mut conn, &rows).await.expect("raws"), inline);
        for (row, raw) in chunked {
            assert_eq!(super::raw(&mut conn, row).await.expect("raw"), Some(raw));
        }
    }

    #[tokio::test]
    async fn marking_a_message_moved_does_not_write_its_bytes_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = crate::store::Store::connect(&url).await.expect("store");
        let raw = vec![b'x'; 4 << 20];
        let mut conn = store.acquire().await.expect("conn");
        let origin = Origin::Imap {
            mailbox: "INBOX".into(),
            uid_validity: 1,
            uid: 7,
        };
        let row = insert(
            &mut conn,
            NewMessage {
                case_id: None,
                kind: "report",
                quarantine_reason: None,
                origin: &origin,
                email: &InboundEmail::default(),
                content_hash: "h",
                raw: &raw,
                analysis: None,
                now: Utc::now(),
            },
        )
        .await
        .expect("insert");
        let before = freelist(&mut conn).await;
        mark_moved(&mut conn, row, Utc::now()).await.expect("moved");
        mark_moved(&mut conn, row, Utc::now())
            .await
            .expect("moved twice");
        // A rewritten row would leave its old 4 MB of pages on the free list.
        assert_eq!(freelist(&mut conn).await, before);
        let listed = quarantine(&mut conn, 10, false).await.expect("list");
        assert!(listed[0].moved_at.is_some());
    }

    #[tokio::test]
    async fn large_messages_and_attachments_come_back_byte_for_byte() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = crate::store::Store::connect(&url).await.expect("store");
        let mut conn = store.acquire().await.expect("conn");
        for len in [10, RAW_CHUNK, RAW_CHUNK + 1, 3 * RAW_CHUNK + 17] {
            let raw: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let row = insert_raw(&mut conn, None, &raw, &format!("h{len}")).await;
            assert_eq!(
                super::raw(&mut conn, row).await.expect("raw"),
                Some(raw.clone())
            );
            let att = crate::extract::report::Attachment {
                name: None,
                media_type: "application/octet-stream".into(),
                size: raw.len(),
                sha256: format!("s{len}"),
                kept: true,
                from: "message".into(),
                data: raw.clone(),
            };
            insert_attachments(&mut conn, row, std::slice::from_ref(&att), Utc::now())
                .await
                .expect("attachments");
            assert_eq!(
                attachment_data(&mut conn, &att.sha256).await.expect("data"),
                Some(raw)
            );
        }
    }

    async fn freelist(c: &mut SqliteConnection) -> i64 {
        sqlx::query_scalar("pragma freelist_count")
            .fetch_one(c)
            .await
            .expect("freelist")
    }
}
