//! The review queue: cases filtered and searched, in the order analysts work them;
//! and the counts behind `/metrics`.

use serde::{Deserialize, Serialize};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::cases::CaseRow;
use super::StoreError;

/// What the queue is narrowed to. Empty strings count as "any".
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct QueueFilter {
    pub agency: Option<String>,
    pub category: Option<String>,
    pub status: Option<String>,
    pub severity: Option<String>,
    pub assignee: Option<String>,
    /// Only cases with required details still missing.
    pub needs_info: Option<String>,
    /// Only cases with unverified correspondence (or another reason to look).
    pub unverified: Option<String>,
    /// Words searched in subjects, bodies, fields and indicators.
    pub q: Option<String>,
    /// Only cases with this tag.
    pub tag: Option<String>,
    /// The queue view (tab): `needs`, `mine`, `unassigned`, `closed`, `all`; none given: all
    /// cases (the `/cases` page asks for `needs` when none is given).
    pub view: Option<String>,
    /// 1-based.
    pub page: Option<i64>,
    /// The column to sort by (one of [`SORTS`]); none: the view's own order.
    pub sort: Option<String>,
    /// `asc` or `desc`; none: the column's natural direction.
    pub dir: Option<String>,
    /// Reported on or after this day (`2026-11-30`, America/New_York).
    pub from: Option<String>,
    /// Reported on or before this day (the whole day included).
    pub to: Option<String>,
    /// The logged-in analyst, for the `mine` view; set by the web layer, never from the query.
    #[serde(skip)]
    pub me: Option<String>,
    /// The SOC's clocks now, for the `overdue` view; set by the web layer.
    #[serde(skip)]
    pub cutoffs: Option<Cutoffs>,
}

/// When the clocks run out, by effective severity: a case reported before
/// `triage[s]` and still untriaged, or whose SCIO thread last spoke before
/// `update[s]`, is overdue. Order: critical, high, medium (also: no severity), low.
/// Times as stored ([`super::ts`]), so they compare as text.
#[derive(Debug, Clone, Default)]
pub struct Cutoffs {
    pub triage: [String; 4],
    pub update: [String; 4],
}

/// The queue tabs, in the order shown: (key, label).
pub const VIEWS: [(&str, &str); 7] = [
    ("needs", "Needs me now"),
    ("mine", "Mine"),
    ("unassigned", "Unassigned"),
    ("overdue", "Overdue"),
    ("waiting", "Waiting on reporter"),
    ("closed", "Closed"),
    ("all", "All"),
];

/// The columns the queue sorts by: (key, SQL, descending first). Nulls sort last
/// either way.
pub const SORTS: [(&str, &str, bool); 10] = [
    ("priority", "coalesce(c.priority, 'p9')", false),
    ("case", "c.id", false),
    ("status", "c.status", false),
    ("severity", SEVERITY_RANK, false),
    ("category", "c.category", false),
    ("agency", "c.agency", false),
    ("subject", "c.subject", false),
    ("missing", "c.missing_count", true),
    ("assignee", "c.assignee", false),
    ("received", "c.created_at", true),
];

/// Open: neither resolved/closed nor merged into another case.
const OPEN: &str = "(c.status not in ('resolved', 'closed') and c.merged_into is null)";

/// The effective severity (the analyst's, else the suggested one) as a rank, critical first.
const SEVERITY_RANK: &str = "case coalesce(c.severity, c.severity_suggested) \
    when 'critical' then 0 when 'high' then 1 when 'medium' then 2 when 'low' then 3 else 4 end";

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn flag(v: &Option<String>) -> bool {
    matches!(given(v), Some("1" | "true" | "on" | "yes"))
}

/// A searched word as a full-text query: one quoted phrase (FTS5's own syntax taken
/// literally), its last token a prefix. `10.0.0.5` is the phrase "10 0 0 5*", an address
/// or a tracking ID likewise. A word without a letter or digit (`--`) finds nothing to
/// match and is left out.
fn fts_phrase(word: &str) -> Option<String> {
    word.chars()
        .any(char::is_alphanumeric)
        .then(|| format!("\"{}\"*", word.replace('"', "\"\"")))
}

/// One page of the queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueuePage {
    pub cases: Vec<QueueRow>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// A queue line: the case and how many required details are missing.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct QueueRow {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub case: CaseRow,
    pub missing_count: i64,
    /// How many reports the case has (more than one: a campaign).
    pub report_count: i64,
}

impl QueueFilter {
    /// The view asked for; anything unknown is the default, "needs me now".
    pub fn view_key(&self) -> &'static str {
        let asked = given(&self.view).unwrap_or("needs");
        VIEWS
            .iter()
            .map(|(k, _)| *k)
            .find(|k| *k == asked)
            .unwrap_or("needs")
    }

    pub(super) fn push_where(&self, qb: &mut QueryBuilder<'_, Sqlite>) {
        qb.push(" where 1 = 1");
        // No view (the API, an old link): every case, as before.
        let view = given(&self.view).map_or("all", |_| self.view_key());
        qb.push(" and ");
        self.push_view(qb, view);
        for (bound, end_of_day, op) in [(&self.from, false, ">="), (&self.to, true, "<")] {
            if let Some(t) = given(bound).and_then(|d| day_start(d, end_of_day)) {
                qb.push(format!(" and c.created_at {op} "));
                qb.push_bind(t);
            }
        }
        for (col, v) in [
            ("agency", &self.agency),
            ("category", &self.category),
            ("status", &self.status),
            ("severity", &self.severity),
            ("assignee", &self.assignee),
        ] {
            if let Some(v) = given(v) {
                if v == "none" && matches!(col, "assignee" | "severity") {
                    qb.push(format!(" and c.{col} is null"));
                } else if col == "severity" {
                    // The severity the queue shows: the analyst's, else the suggested one
                    // ("none" above: not yet set by an analyst).
                    qb.push(" and coalesce(c.severity, c.severity_suggested) = ");
                    qb.push_bind(v.to_string());
                } else {
                    qb.push(format!(" and c.{col} = "));
                    qb.push_bind(v.to_string());
                }
            }
        }
        if flag(&self.needs_info) {
            qb.push(" and c.missing_count > 0");
        }
        if flag(&self.unverified) {
            qb.push(" and c.needs_review = 1");
        }
        if let Some(t) = given(&self.tag) {
            qb.push(" and c.id in (select t.case_id from case_tags t where t.tag = ");
            qb.push_bind(t.to_lowercase());
            qb.push(")");
        }
        if let Some(q) = given(&self.q) {
            // Every word must appear somewhere in the case or one of its messages: as a
            // word or the start of one ("pass" finds "password"), accents and case aside.
            for phrase in q.split_whitespace().filter_map(fts_phrase).take(8) {
                qb.push(
                    " and c.id in (select case when s.rowid < 0 then -s.rowid \
                     else (select m.case_id from messages m where m.id = s.rowid) end \
                     from search_text s where search_text match ",
                );
                qb.push_bind(phrase);
                qb.push(")");
            }
        }
    }

    /// The condition of one view (a boolean SQL expression over `c`).
    fn push_view(&self, qb: &mut QueryBuilder<'_, Sqlite>, view: &str) {
        match view {
            "mine" => {
                qb.push(format!("({OPEN} and c.assignee = "));
                qb.push_bind(self.me.clone().unwrap_or_default());
                qb.push(")");
            }
            "unassigned" => {
                qb.push(format!("({OPEN} and c.assignee is null)"));
            }
            "overdue" => {
                // Without the clocks (a caller that gave none) nothing is overdue.
                let Some(cut) = &self.cutoffs else {
                    qb.push("0");
                    return;
                };
                let by_severity = |qb: &mut QueryBuilder<'_, Sqlite>, at: &[String; 4]| {
                    qb.push(
                        " <= case coalesce(c.severity, c.severity_suggested) when 'critical' then ",
                    );
                    qb.push_bind(at[0].clone());
                    qb.push(" when 'high' then ");
                    qb.push_bind(at[1].clone());
                    qb.push(" when 'low' then ");
                    qb.push_bind(at[3].clone());
                    qb.push(" else ");
                    qb.push_bind(at[2].clone());
                    qb.push(" end");
                };
                qb.push(format!(
                    "({OPEN} and ((c.status = 'new' and c.severity is null and c.assignee is null \
                     and c.created_at"
                ));
                by_severity(qb, &cut.triage);
                qb.push(") or c.last_scio_at");
                by_severity(qb, &cut.update);
                qb.push("))");
            }
            "waiting" => {
                // Details are still missing and the SOC spoke last: the acknowledgement,
                // a follow-up or a reminder is no older than anything the case received
                // (an answer queued with the message it answers carries the same time).
                qb.push(format!(
                    "({OPEN} and c.missing_count > 0 \
                     and c.last_asked_at >= coalesce(c.last_received_at, ''))"
                ));
            }
            "closed" => {
                qb.push(format!("(not {OPEN})"));
            }
            "all" => {
                qb.push("1");
            }
            _ => {
                qb.push(OPEN);
            }
        }
    }

    /// The order of the page: the column asked for, else the view's own (most urgent
    /// first; the closed view most recently changed first); the case id last, so pages
    /// never overlap.
    fn order(&self) -> String {
        let Some((key, desc)) = self.sorted_by() else {
            return if given(&self.view).is_some() && self.view_key() == "closed" {
                "c.updated_at desc, c.id desc".into()
            } else {
                format!("coalesce(c.priority, 'p9'), {SEVERITY_RANK}, c.created_at, c.id")
            };
        };
        let sql = SORTS
            .iter()
            .find(|(k, ..)| *k == key)
            .map_or("c.id", |(_, sql, _)| *sql);
        let dir = if desc { "desc" } else { "asc" };
        format!("{sql} is null, {sql} {dir}, c.id {dir}")
    }

    /// The sort in force, as (key, descending), for the column headers; `None`: the
    /// view's own order.
    pub fn sorted_by(&self) -> Option<(&'static str, bool)> {
        let (key, _, desc_first) =
            given(&self.sort).and_then(|k| SORTS.iter().find(|(key, ..)| *key == k))?;
        let desc = match given(&self.dir) {
            Some("asc") => false,
            Some("desc") => true,
            _ => *desc_first,
        };
        Some((key, desc))
    }

    /// The date bounds that could not be read, for the page to say so.
    pub fn bad_dates(&self) -> Vec<String> {
        [&self.from, &self.to]
            .into_iter()
            .filter_map(given)
            .filter(|d| day_start(d, false).is_none())
            .map(str::to_string)
            .collect()
    }
}

/// The start of day `d` (`YYYY-MM-DD`) in America/New_York, or of the day after it, as
/// stored; `None` when `d` is not such a date.
fn day_start(d: &str, next: bool) -> Option<String> {
    use chrono::TimeZone;
    let day = chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok()?;
    let day = if next { day.succ_opt()? } else { day };
    let local = chrono_tz::America::New_York
        .from_local_datetime(&day.and_hms_opt(0, 0, 0)?)
        .earliest()?;
    Some(super::ts(local.with_timezone(&chrono::Utc)))
}

pub const PER_PAGE: i64 = 50;

/// How many cases each view holds (other filters not applied), in [`VIEWS`] order;
/// `f` gives who "mine" is and the clocks.
pub async fn view_counts(
    conn: &mut SqliteConnection,
    f: &QueueFilter,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    let mut qb = QueryBuilder::<Sqlite>::new("select ");
    for (i, (key, _)) in VIEWS.iter().enumerate() {
        if i > 0 {
            qb.push(", ");
        }
        qb.push("coalesce(sum(");
        f.push_view(&mut qb, key);
        qb.push("), 0)");
    }
    qb.push(" from cases c");
    let row = qb.build().fetch_one(&mut *conn).await?;
    let mut out = Vec::with_capacity(VIEWS.len());
    for (i, (k, l)) in VIEWS.iter().enumerate() {
        out.push((k.to_string(), l.to_string(), row.try_get::<i64, _>(i)?));
    }
    Ok(out)
}

/// Cases matching `f`: most urgent priority first, then the most severe (the analyst's
/// severity, else the suggested one), then oldest first.
pub async fn search(
    conn: &mut SqliteConnection,
    f: &QueueFilter,
    per_page: i64,
) -> Result<QueuePage, StoreError> {
    let page = f.page.unwrap_or(1).clamp(1, 100_000);
    // The page's case ids and the number of matches in one pass (a search runs once),
    // from the narrow `cases_queue` index alone; then those rows in full (their JSON
    // columns are large and stored before most others).
    let order = f.order();
    let mut qb = QueryBuilder::<Sqlite>::new(
        "select c.id, c.tracking_id, c.status, c.severity, c.severity_suggested, c.priority,
            c.category, c.agency, c.assignee, c.reporter_email, c.reporter_name, c.subject,
            c.created_at, c.updated_at, c.reporter_undeliverable, c.needs_review,
            c.missing_count, c.report_count, p.total
         from (select c.id as pid, count(*) over () as total from cases c",
    );
    f.push_where(&mut qb);
    qb.push(format!(" order by {order} limit "));
    qb.push_bind(per_page);
    qb.push(" offset ");
    qb.push_bind((page - 1) * per_page);
    qb.push(format!(") p join cases c on c.id = p.pid order by {order}"));
    let rows: Vec<PageRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let total = match rows.first() {
        Some(r) => r.total,
        None if page == 1 => 0,
        // Past the last page: the count alone.
        None => {
            let mut count = QueryBuilder::<Sqlite>::new("select count(*) from cases c");
            f.push_where(&mut count);
            count.build_query_scalar().fetch_one(&mut *conn).await?
        }
    };
    Ok(QueuePage {
        cases: rows.into_iter().map(|r| r.row).collect(),
        total,
        page,
        per_page,
    })
}

/// A page's row and how many rows all pages hold.
#[derive(sqlx::FromRow)]
struct PageRow {
    #[sqlx(flatten)]
    row: QueueRow,
    total: i64,
}

/// A queue view an analyst saved: a name and the queue's query string (`?view=…&…`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SavedView {
    pub id: i64,
    pub name: String,
    pub query: String,
}

/// How many views one analyst may keep.
pub const SAVED_VIEWS_MAX: i64 = 30;

/// The views `username` saved, by name.
pub async fn saved_views(
    conn: &mut SqliteConnection,
    username: &str,
) -> Result<Vec<SavedView>, StoreError> {
    Ok(sqlx::query_as(
        "select id, name, query from saved_views where username = ? order by name, id",
    )
    .bind(username)
    .fetch_all(&mut *conn)
    .await?)
}

/// Saves (or, under the same name, replaces) a view of `username`'s; `false` when
/// the analyst already keeps [`SAVED_VIEWS_MAX`] others.
pub async fn save_view(
    conn: &mut SqliteConnection,
    username: &str,
    name: &str,
    query: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, StoreError> {
    let others: i64 =
        sqlx::query_scalar("select count(*) from saved_views where username = ? and name != ?")
            .bind(username)
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
    if others >= SAVED_VIEWS_MAX {
        return Ok(false);
    }
    sqlx::query(
        "insert into saved_views (username, name, query, created_at) values (?, ?, ?, ?)
         on conflict (username, name) do update set query = excluded.query",
    )
    .bind(username)
    .bind(name)
    .bind(query)
    .bind(super::ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Deletes one of `username`'s views; the view deleted, `None` when it was not theirs
/// (or is gone).
pub async fn delete_view(
    conn: &mut SqliteConnection,
    username: &str,
    id: i64,
) -> Result<Option<SavedView>, StoreError> {
    Ok(sqlx::query_as(
        "delete from saved_views where username = ? and id = ? returning id, name, query",
    )
    .bind(username)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The newest case id and how many cases are newer than `after`: what the queue
/// page polls to say "2 new cases".
pub async fn newer_than(conn: &mut SqliteConnection, after: i64) -> Result<(i64, i64), StoreError> {
    Ok(sqlx::query_as(
        "select (select coalesce(max(id), 0) from cases), (select count(*) from cases where id > ?)",
    )
    .bind(after)
    .fetch_one(&mut *conn)
    .await?)
}

/// How many cases other than `case_id` mention `value` (an indicator) anywhere the
/// search reads: as the same run of words, whole (`10.0.0.5` does not count
/// `10.0.0.50`).
pub async fn other_cases_mentioning(
    conn: &mut SqliteConnection,
    value: &str,
    case_id: i64,
) -> Result<i64, StoreError> {
    let Some(phrase) = fts_phrase(value) else {
        return Ok(0);
    };
    let exact = phrase.trim_end_matches('*').to_string();
    Ok(sqlx::query_scalar(
        "select count(distinct case_id) from (
            select case when s.rowid < 0 then -s.rowid
                   else (select m.case_id from messages m where m.id = s.rowid) end as case_id
              from search_text s where search_text match ?)
          where case_id is not null and case_id != ?",
    )
    .bind(exact)
    .bind(case_id)
    .fetch_one(&mut *conn)
    .await?)
}

/// The tags of each of `case_ids`, in order.
pub async fn tags_of(
    conn: &mut SqliteConnection,
    case_ids: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<String>>, StoreError> {
    let mut out: std::collections::HashMap<i64, Vec<String>> = Default::default();
    if case_ids.is_empty() {
        return Ok(out);
    }
    let mut qb =
        QueryBuilder::<Sqlite>::new("select case_id, tag from case_tags where case_id in (");
    let mut ids = qb.separated(", ");
    for id in case_ids {
        ids.push_bind(*id);
    }
    qb.push(") order by case_id, tag");
    let rows: Vec<(i64, String)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    for (id, tag) in rows {
        out.entry(id).or_default().push(tag);
    }
    Ok(out)
}

/// Every tag in use, with how many cases carry it, for the filter menu.
pub async fn all_tags(conn: &mut SqliteConnection) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(
        sqlx::query_as("select tag, count(*) from case_tags group by tag order by tag")
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// Distinct values of a case column, for the filter menus.
pub async fn distinct(
    conn: &mut SqliteConnection,
    column: &'static str,
) -> Result<Vec<String>, StoreError> {
    debug_assert!(matches!(
        column,
        "agency" | "category" | "status" | "severity" | "assignee"
    ));
    Ok(sqlx::query_scalar(&format!(
        "select distinct {column} from cases where {column} is not null order by {column}"
    ))
    .fetch_all(&mut *conn)
    .await?)
}

/// The numbers `/metrics` exposes.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub messages_by_kind: Vec<(String, i64)>,
    pub cases_by_status: Vec<(String, i64)>,
    pub outbox_by_status: Vec<(String, i64)>,
    /// Per IMAP folder: the time of the last successful poll.
    pub last_poll: Vec<(String, String)>,
}

/// How many cases are in each status.
pub async fn cases_by_status(
    conn: &mut SqliteConnection,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(
        sqlx::query_as("select status, count(*) from cases group by status order by status")
            .fetch_all(&mut *conn)
            .await?,
    )
}

pub async fn metrics(conn: &mut SqliteConnection) -> Result<Metrics, StoreError> {
    Ok(Metrics {
        messages_by_kind: sqlx::query_as(
            "select kind, count(*) from messages group by kind order by kind",
        )
        .fetch_all(&mut *conn)
        .await?,
        cases_by_status: cases_by_status(conn).await?,
        outbox_by_status: sqlx::query_as(
            "select status, count(*) from outbox group by status order by status",
        )
        .fetch_all(&mut *conn)
        .await?,
        last_poll: sqlx::query_as("select mailbox, last_poll_at from imap_state order by mailbox")
            .fetch_all(&mut *conn)
            .await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_searched_word_is_one_literal_phrase_with_a_prefix() {
        assert_eq!(fts_phrase("ransom").as_deref(), Some("\"ransom\"*"));
        assert_eq!(
            fts_phrase("a\"OR\"b").as_deref(),
            Some("\"a\"\"OR\"\"b\"*"),
            "a quote cannot end the phrase"
        );
        assert_eq!(fts_phrase("--"), None);
        assert_eq!(fts_phrase("\"*"), None);
        assert_eq!(fts_phrase("café").as_deref(), Some("\"café\"*"));
    }

    #[test]
    fn days_are_new_york_days() {
        // EST (UTC-5) in December, EDT (UTC-4) in July.
        assert_eq!(
            day_start("2026-12-01", false).as_deref(),
            Some("2026-12-01T05:00:00.000Z")
        );
        assert_eq!(
            day_start("2026-12-01", true).as_deref(),
            Some("2026-12-02T05:00:00.000Z")
        );
        assert_eq!(
            day_start("2026-07-04", false).as_deref(),
            Some("2026-07-04T04:00:00.000Z")
        );
        for bad in ["2026-02-30", "12/01/2026", "", "2026-12-01T00:00"] {
            assert_eq!(day_start(bad, false), None, "{bad}");
        }
        let f = QueueFilter {
            from: Some("yesterday".into()),
            to: Some("2026-12-01".into()),
            ..Default::default()
        };
        assert_eq!(f.bad_dates(), vec!["yesterday".to_string()]);
    }

    #[test]
    fn only_known_columns_sort_and_the_closed_view_is_newest_first() {
        let f = |sort: &str, dir: &str, view: &str| QueueFilter {
            sort: Some(sort.into()),
            dir: Some(dir.into()),
            view: Some(view.into()),
            ..Default::default()
        };
        assert_eq!(
            f("received", "", "all").sorted_by(),
            Some(("received", true))
        );
        assert_eq!(
            f("received", "asc", "all").sorted_by(),
            Some(("received", false))
        );
        assert_eq!(f("agency", "", "all").sorted_by(), Some(("agency", false)));
        assert_eq!(f("id; drop table cases", "desc", "all").sorted_by(), None);
        assert!(f("nope", "", "closed")
            .order()
            .starts_with("c.updated_at desc"));
        assert!(f("", "", "needs")
            .order()
            .starts_with("coalesce(c.priority"));
        assert_eq!(
            f("agency", "desc", "all").order(),
            "c.agency is null, c.agency desc, c.id desc"
        );
    }
}
