//! Aggregates behind the dashboard and the trends report: one query per aggregate,
//! grouped in SQL. Weeks are ISO weeks in UTC, named by their Monday (`2026-11-30`).
//! Every aggregate counts cases created in `[from, to)` that were not merged into
//! another case (a merged case's messages belong to the case that absorbed it).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::SqliteConnection;

use super::{ts, StoreError};

/// The Monday (UTC) of the week of a stored timestamp column, as `YYYY-MM-DD`.
/// `weekday 0` moves a date forward to the next Sunday (or keeps a Sunday).
const WEEK: &str = "date(c.created_at, 'weekday 0', '-6 days')";

/// The cases counted: created in the range and not merged away.
const COUNTED: &str = "c.created_at >= ?1 and c.created_at < ?2 and c.merged_into is null";

/// One count in a group: `(week or key, group, cases)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Count {
    pub key: String,
    pub group: String,
    pub n: i64,
}

/// Cases opened per week and category (no category: `uncategorised`).
pub async fn weekly_by_category(
    conn: &mut SqliteConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Count>, StoreError> {
    weekly_by(conn, "coalesce(c.category, 'uncategorised')", from, to).await
}

/// Cases opened per week and agency (no agency: `unknown`).
pub async fn weekly_by_agency(
    conn: &mut SqliteConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Count>, StoreError> {
    weekly_by(conn, "coalesce(c.agency, 'unknown')", from, to).await
}

async fn weekly_by(
    conn: &mut SqliteConnection,
    group: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Count>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {WEEK} as key, {group} as \"group\", count(*) as n from cases c
         where {COUNTED} group by 1, 2 order by 1, 2"
    ))
    .bind(ts(from))
    .bind(ts(to))
    .fetch_all(&mut *conn)
    .await?)
}

/// Age buckets of open cases, youngest first.
pub const AGE_BUCKETS: &[&str] = &["under 1 day", "1-7 days", "7-30 days", "over 30 days"];

/// Cases open at `now` (status neither resolved nor closed, not merged), by severity
/// (the analyst's, else the suggested one, else `unset`) and age bucket
/// ([`AGE_BUCKETS`]: age = `now` − the case's creation). Not limited to a range: what
/// is open now, whenever it was opened.
pub async fn open_by_severity_age(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
) -> Result<Vec<Count>, StoreError> {
    Ok(sqlx::query_as(
        "select coalesce(c.severity, c.severity_suggested, 'unset') as key,
            case when julianday(?1) - julianday(c.created_at) < 1 then 'under 1 day'
                 when julianday(?1) - julianday(c.created_at) < 7 then '1-7 days'
                 when julianday(?1) - julianday(c.created_at) < 30 then '7-30 days'
                 else 'over 30 days' end as \"group\",
            count(*) as n
         from cases c
         where c.status not in ('resolved', 'closed') and c.merged_into is null
           and c.created_at <= ?1
         group by 1, 2 order by 1, 2",
    )
    .bind(ts(now))
    .fetch_all(&mut *conn)
    .await?)
}

/// The spread of one delay over the cases of one week, in seconds. Percentiles are
/// nearest-rank: the value at rank ⌈p·n⌉ of the n values in order (the median of an
/// even count is the lower middle value; the p90 of fewer than 10 values is the largest).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Timing {
    pub week: String,
    /// Cases with the delay known.
    pub n: i64,
    pub median_secs: f64,
    pub p90_secs: f64,
}

/// Median and p90 per week of `delays`, a query of `(week, secs)`.
async fn percentiles(
    conn: &mut SqliteConnection,
    delays: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Timing>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "with d as ({delays}),
         r as (select week, secs,
                 row_number() over (partition by week order by secs) as rn,
                 count(*) over (partition by week) as n
               from d)
         select week, n,
            max(case when rn = (n * 50 + 99) / 100 then secs end) as median_secs,
            max(case when rn = (n * 90 + 99) / 100 then secs end) as p90_secs
         from r group by week, n order by week"
    ))
    .bind(ts(from))
    .bind(ts(to))
    .fetch_all(&mut *conn)
    .await?)
}

/// Time to acknowledgement per week of opening: from the case's creation to the
/// `sent_at` of its first acknowledgement (`ack` outbox row with status `sent`). Cases
/// whose acknowledgement was not sent (suppressed, held, pending) are not counted.
pub async fn time_to_ack(
    conn: &mut SqliteConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Timing>, StoreError> {
    percentiles(
        conn,
        &format!(
            "select {WEEK} as week,
                (julianday(min(o.sent_at)) - julianday(c.created_at)) * 86400.0 as secs
             from cases c join outbox o on o.case_id = c.id
             where {COUNTED} and o.kind = 'ack' and o.status = 'sent' and o.sent_at is not null
             group by c.id"
        ),
        from,
        to,
    )
    .await
}

/// Time to triage per week of opening: from the case's creation to its first event
/// by an analyst (`analyst:<name>`) that changes its status, severity or assignee.
/// Cases no analyst has touched so are not counted.
pub async fn time_to_triage(
    conn: &mut SqliteConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Timing>, StoreError> {
    percentiles(
        conn,
        &format!(
            "select {WEEK} as week,
                (julianday(min(e.at)) - julianday(c.created_at)) * 86400.0 as secs
             from cases c join events e on e.case_id = c.id
             where {COUNTED} and e.actor like 'analyst:%'
               and e.kind in ('status_changed', 'severity_changed', 'assignee_changed')
             group by c.id"
        ),
        from,
        to,
    )
    .await
}

/// An indicator found in several cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SharedIndicator {
    /// `domains`, `ipv4`, `urls`, … (the key in the case's indicators).
    pub kind: String,
    pub value: String,
    pub cases: i64,
}

/// Indicators found in more than one of the counted cases, most cases first (then by
/// kind and value), at most `limit`.
pub async fn shared_indicators(
    conn: &mut SqliteConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<SharedIndicator>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select k.key as kind, v.value as value, count(distinct c.id) as cases
         from cases c, json_each(c.iocs_json) k, json_each(k.value) v
         where {COUNTED} and json_valid(c.iocs_json) and k.type = 'array'
         group by 1, 2 having count(distinct c.id) > 1
         order by 3 desc, 1, 2 limit ?3"
    ))
    .bind(ts(from))
    .bind(ts(to))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// How complete the counted cases' reports were.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Completeness {
    /// No required detail missing when the case was opened (`case_opened`'s `missing`).
    pub on_arrival: i64,
    /// Details missing at opening, none now, and the reporter answered
    /// (a `correspondence_received` event).
    pub after_answer: i64,
    /// Details missing at opening, none now, with no answer from the reporter (an
    /// analyst filled them in).
    pub by_analyst: i64,
    /// Required details still missing.
    pub incomplete: i64,
}

pub async fn completeness(
    conn: &mut SqliteConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Completeness, StoreError> {
    Ok(sqlx::query_as(&format!(
        "with s as (
            select
              coalesce((select json_array_length(e.detail_json, '$.missing') from events e
                        where e.case_id = c.id and e.kind = 'case_opened'
                        order by e.id limit 1), 0) as at_open,
              coalesce(json_array_length(c.missing_json), 0) as now_missing,
              exists (select 1 from events e where e.case_id = c.id
                      and e.kind = 'correspondence_received') as answered
            from cases c where {COUNTED})
         select
            coalesce(sum(at_open = 0 and now_missing = 0), 0) as on_arrival,
            coalesce(sum(at_open > 0 and now_missing = 0 and answered), 0) as after_answer,
            coalesce(sum(at_open > 0 and now_missing = 0 and not answered), 0) as by_analyst,
            coalesce(sum(now_missing > 0), 0) as incomplete
         from s"
    ))
    .bind(ts(from))
    .bind(ts(to))
    .fetch_one(&mut *conn)
    .await?)
}

/// Tracking IDs of cases flagged as major incidents during `[from, to)` (the flag's
/// `set_at`), in order.
pub async fn major_incidents(
    conn: &mut SqliteConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "select c.tracking_id from cases c join case_flags f on f.case_id = c.id
         where f.flag = 'major_incident' and f.set_at >= ?1 and f.set_at < ?2
         order by c.tracking_id",
    )
    .bind(ts(from))
    .bind(ts(to))
    .fetch_all(&mut *conn)
    .await?)
}

/// Whether the trends report of `(period, start)` was queued already.
pub async fn report_period_claimed(
    conn: &mut SqliteConnection,
    period: &str,
    start: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar::<_, i64>(
        "select count(*) from report_periods where period = ? and start = ?",
    )
    .bind(period)
    .bind(ts(start))
    .fetch_one(&mut *conn)
    .await?
        > 0)
}

/// Claims the trends report of `(period, start)`: true when this call took it (the
/// caller then queues the report in the same transaction), false when it was taken.
pub async fn claim_report_period(
    conn: &mut SqliteConnection,
    period: &str,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "insert into report_periods (period, start, created_at) values (?, ?, ?)
         on conflict (period, start) do nothing",
    )
    .bind(period)
    .bind(ts(start))
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the outbox row that carries a claimed period's report.
pub async fn set_report_outbox(
    conn: &mut SqliteConnection,
    period: &str,
    start: DateTime<Utc>,
    outbox_id: i64,
) -> Result<(), StoreError> {
    sqlx::query("update report_periods set outbox_id = ? where period = ? and start = ?")
        .bind(outbox_id)
        .bind(period)
        .bind(ts(start))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Rows for the aggregates' unit tests (`crate::reports`), written as intake and the
/// outbox would leave them.
#[cfg(test)]
pub mod fixture {
    use chrono::{DateTime, Utc};
    use sqlx::SqliteConnection;

    use crate::store::ts;

    /// A case opened at `at` (Department of Revenue), with an acknowledgement sent at
    /// `acked` if given.
    pub async fn case(
        conn: &mut SqliteConnection,
        n: i64,
        at: DateTime<Utc>,
        category: &str,
        acked: Option<DateTime<Utc>>,
    ) -> i64 {
        let id: i64 = sqlx::query_scalar(
            "insert into cases (tracking_id, subject, category, agency, created_at, updated_at)
             values (?, 's', ?, 'Department of Revenue', ?, ?) returning id",
        )
        .bind(format!("SOC-2026-{n:06}"))
        .bind(category)
        .bind(ts(at))
        .bind(ts(at))
        .fetch_one(&mut *conn)
        .await
        .expect("insert case");
        if let Some(sent) = acked {
            sqlx::query(
                "insert into outbox (case_id, kind, message_id, from_addr, recipient, to_json, subject,
                    raw, status, next_attempt_at, created_at, sent_at)
                 values (?, 'ack', ?, 'soc@mass.gov', 'r@agency.test', '[]', 's', x'00', 'sent', ?, ?, ?)",
            )
            .bind(id)
            .bind(format!("ack.{n}@mass.gov"))
            .bind(ts(at))
            .bind(ts(at))
            .bind(ts(sent))
            .execute(&mut *conn)
            .await
            .expect("insert ack");
        }
        id
    }

    pub async fn set_iocs_and_missing(
        conn: &mut SqliteConnection,
        id: i64,
        iocs: &str,
        missing: &str,
    ) {
        sqlx::query("update cases set iocs_json = ?, missing_json = ? where id = ?")
            .bind(iocs)
            .bind(missing)
            .bind(id)
            .execute(&mut *conn)
            .await
            .expect("update case");
    }

    pub async fn event(
        conn: &mut SqliteConnection,
        case_id: i64,
        at: DateTime<Utc>,
        actor: &str,
        kind: &str,
        detail: &str,
    ) {
        sqlx::query(
            "insert into events (case_id, at, actor, kind, detail_json) values (?, ?, ?, ?, ?)",
        )
        .bind(case_id)
        .bind(ts(at))
        .bind(actor)
        .bind(kind)
        .bind(detail)
        .execute(&mut *conn)
        .await
        .expect("insert event");
    }
}
