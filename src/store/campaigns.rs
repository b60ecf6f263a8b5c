//! Campaigns: the reports of a case (one, or the many staff who reported the same
//! phish), the fingerprints by which a later report finds its campaign, and the answer
//! an analyst wrote for later reporters.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::SqliteConnection;

use super::{ts, StoreError};

/// One report as it joins its case.
pub struct NewReport<'a> {
    pub case_id: i64,
    pub message_row: i64,
    pub reporter: Option<&'a str>,
    pub agency: Option<&'a str>,
    pub fingerprints: &'a [String],
    pub now: DateTime<Utc>,
    /// The report that opened the case (else it joins one and is counted on it).
    pub opens: bool,
}

/// Records a report of a case and its fingerprints; counts it on the case when it is
/// not the case's first.
pub async fn record_report(
    conn: &mut SqliteConnection,
    r: NewReport<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into case_reports (message_row, case_id, reporter, agency, received_at)
         values (?, ?, ?, ?, ?) on conflict (message_row) do nothing",
    )
    .bind(r.message_row)
    .bind(r.case_id)
    .bind(r.reporter.map(str::to_ascii_lowercase))
    .bind(r.agency.map(str::trim).filter(|a| !a.is_empty()))
    .bind(ts(r.now))
    .execute(&mut *conn)
    .await?;
    for f in r.fingerprints {
        sqlx::query(
            "insert into case_fingerprints (fingerprint, case_id, message_row, seen_at)
             values (?, ?, ?, ?) on conflict do nothing",
        )
        .bind(f)
        .bind(r.case_id)
        .bind(r.message_row)
        .bind(ts(r.now))
        .execute(&mut *conn)
        .await?;
    }
    if !r.opens {
        sqlx::query("update cases set report_count = report_count + 1 where id = ?")
            .bind(r.case_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The case a report with these fingerprints belongs to: the one that saw one of them
/// most recently, at or after `since`. Returns the case and the fingerprint matched.
pub async fn find(
    conn: &mut SqliteConnection,
    fingerprints: &[String],
    since: DateTime<Utc>,
) -> Result<Option<(i64, String)>, StoreError> {
    let mut best: Option<(String, i64, String)> = None;
    for f in fingerprints {
        let found: Option<(i64, String)> = sqlx::query_as(
            "select case_id, seen_at from case_fingerprints
              where fingerprint = ? and seen_at >= ? order by seen_at desc limit 1",
        )
        .bind(f)
        .bind(ts(since))
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((case_id, seen)) = found {
            if best.as_ref().is_none_or(|(b, _, _)| seen > *b) {
                best = Some((seen, case_id, f.clone()));
            }
        }
    }
    Ok(best.map(|(_, case_id, f)| (case_id, f)))
}

/// Whether `address` was acknowledged on this case already (an acknowledgement queued
/// to it and not dropped): a reporter of a campaign is answered once.
pub async fn acknowledged(
    conn: &mut SqliteConnection,
    case_id: i64,
    address: &str,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar::<_, i64>(
        "select count(*) from outbox
          where case_id = ? and kind = 'ack' and status != 'dropped' and recipient = ?",
    )
    .bind(case_id)
    .bind(address.to_ascii_lowercase())
    .fetch_one(&mut *conn)
    .await?
        > 0)
}

/// Whether `address` reported in this case already.
pub async fn reporter_seen(
    conn: &mut SqliteConnection,
    case_id: i64,
    address: &str,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar::<_, i64>(
        "select count(*) from case_reports where case_id = ? and reporter = ?",
    )
    .bind(case_id)
    .bind(address.to_ascii_lowercase())
    .fetch_one(&mut *conn)
    .await?
        > 0)
}

/// Whether someone of `agency` reported in this case already, or it is the case's own.
pub async fn agency_seen(
    conn: &mut SqliteConnection,
    case_id: i64,
    agency: &str,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar::<_, i64>(
        "select (select count(*) from case_reports where case_id = ?1 and agency = ?2 collate nocase)
              + (select count(*) from cases where id = ?1 and agency = ?2 collate nocase)",
    )
    .bind(case_id)
    .bind(agency)
    .fetch_one(&mut *conn)
    .await?
        > 0)
}

/// The answer later reporters of this campaign get, when an analyst wrote one.
pub async fn answer(
    conn: &mut SqliteConnection,
    case_id: i64,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar::<_, Option<String>>("select campaign_answer from cases where id = ?")
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?
            .flatten()
            .filter(|a| !a.trim().is_empty()),
    )
}

/// Sets (or, empty, clears) the answer for later reporters. Returns the old one.
pub async fn set_answer(
    conn: &mut SqliteConnection,
    case_id: i64,
    text: &str,
) -> Result<Option<String>, StoreError> {
    let old = answer(conn, case_id).await?;
    let text = text.trim();
    sqlx::query("update cases set campaign_answer = ? where id = ?")
        .bind((!text.is_empty()).then_some(text))
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    Ok(old)
}

/// One report of a case, for its page.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ReportRow {
    pub message_row: i64,
    pub reporter: Option<String>,
    pub agency: Option<String>,
    pub received_at: String,
    pub subject: Option<String>,
}

/// What the case page shows of a campaign.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub reports: i64,
    pub people: i64,
    /// Each agency and how many of its people reported, most first.
    pub agencies: Vec<(String, i64)>,
    /// Reports per minute (`YYYY-MM-DDTHH:MM`, UTC), in order.
    pub per_minute: Vec<(String, i64)>,
    /// The first reports (at most `limit`), oldest first.
    pub list: Vec<ReportRow>,
    pub answer: Option<String>,
    /// The first report's message row (it cannot be split out).
    pub first_row: Option<i64>,
}

/// The campaign's counts, agencies, reports per minute and first reports.
pub async fn summary(
    conn: &mut SqliteConnection,
    case_id: i64,
    limit: i64,
) -> Result<Summary, StoreError> {
    let (reports, people): (i64, i64) = sqlx::query_as(
        "select count(*), count(distinct coalesce(reporter, 'row ' || message_row))
           from case_reports where case_id = ?",
    )
    .bind(case_id)
    .fetch_one(&mut *conn)
    .await?;
    let agencies: Vec<(String, i64)> = sqlx::query_as(
        "select coalesce(agency, 'agency not known'), count(distinct coalesce(reporter, 'row ' || message_row))
           from case_reports where case_id = ? group by 1 order by 2 desc, 1 limit 100",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    let per_minute: Vec<(String, i64)> = sqlx::query_as(
        "select substr(received_at, 1, 16), count(*) from case_reports
          where case_id = ? group by 1 order by 1 limit 1440",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    let list: Vec<ReportRow> = sqlx::query_as(
        "select r.message_row, r.reporter, r.agency, r.received_at, m.subject
           from case_reports r left join messages m on m.id = r.message_row
          where r.case_id = ? order by r.received_at, r.message_row limit ?",
    )
    .bind(case_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Summary {
        reports,
        people,
        agencies,
        per_minute,
        first_row: list.first().map(|r| r.message_row),
        list,
        answer: answer(conn, case_id).await?,
    })
}

/// The message rows of the case's reports after its first `skip`, oldest first.
pub async fn later_reports(
    conn: &mut SqliteConnection,
    case_id: i64,
    skip: i64,
) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "select message_row from case_reports where case_id = ?
          order by received_at, message_row limit -1 offset ?",
    )
    .bind(case_id)
    .bind(skip)
    .fetch_all(&mut *conn)
    .await?)
}

/// Takes a report out of its campaign (an analyst split it out): its report row and
/// fingerprints go, and the message leaves the case. False when it is not a report of
/// this case.
pub async fn split_out(
    conn: &mut SqliteConnection,
    case_id: i64,
    message_row: i64,
) -> Result<bool, StoreError> {
    let gone = sqlx::query("delete from case_reports where case_id = ? and message_row = ?")
        .bind(case_id)
        .bind(message_row)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if gone == 0 {
        return Ok(false);
    }
    sqlx::query("delete from case_fingerprints where message_row = ?")
        .bind(message_row)
        .execute(&mut *conn)
        .await?;
    sqlx::query("update cases set report_count = max(report_count - 1, 1) where id = ?")
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("update messages set case_id = null where id = ? and case_id = ?")
        .bind(message_row)
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// A merge moves the reports and fingerprints of `source` to `target`.
pub async fn merge(
    conn: &mut SqliteConnection,
    source: i64,
    target: i64,
) -> Result<(), StoreError> {
    for table in ["case_reports", "case_fingerprints"] {
        sqlx::query(&format!("update {table} set case_id = ? where case_id = ?"))
            .bind(target)
            .bind(source)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "update cases set report_count = max(1, (select count(*) from case_reports where case_id = ?1))
          where id = ?1",
    )
    .bind(target)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
