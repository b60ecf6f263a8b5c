//! The review queue: cases filtered and searched, in the order analysts work them;
//! and the counts behind `/metrics`.

use serde::{Deserialize, Serialize};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

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
    /// The queue view (tab): `needs`, `mine`, `unassigned`, `closed`, `all`; none given: all
    /// cases (the `/cases` page asks for `needs` when none is given).
    pub view: Option<String>,
    /// 1-based.
    pub page: Option<i64>,
    /// The logged-in analyst, for the `mine` view; set by the web layer, never from the query.
    #[serde(skip)]
    pub me: Option<String>,
}

/// The queue tabs, in the order shown: (key, label).
pub const VIEWS: [(&str, &str); 5] = [
    ("needs", "Needs me now"),
    ("mine", "Mine"),
    ("unassigned", "Unassigned"),
    ("closed", "Closed"),
    ("all", "All"),
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

/// `%text%` with LIKE's own wildcards taken literally (`escape '\'`).
fn like_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
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
        let view = given(&self.view).map(|_| self.view_key());
        match view.unwrap_or("all") {
            "mine" => {
                qb.push(format!(" and {OPEN} and c.assignee = "));
                qb.push_bind(self.me.clone().unwrap_or_default());
            }
            "unassigned" => {
                qb.push(format!(" and {OPEN} and c.assignee is null"));
            }
            "closed" => {
                qb.push(format!(" and not {OPEN}"));
            }
            "all" => {}
            _ => {
                qb.push(format!(" and {OPEN}"));
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
            qb.push(" and json_array_length(c.missing_json) > 0");
        }
        if flag(&self.unverified) {
            qb.push(" and c.needs_review = 1");
        }
        if let Some(q) = given(&self.q) {
            // Every word must appear somewhere in the case or one of its messages.
            for word in q.split_whitespace().take(8) {
                let p = like_pattern(word);
                qb.push(" and (c.tracking_id like ");
                qb.push_bind(p.clone());
                qb.push(" escape '\\' or c.subject like ");
                qb.push_bind(p.clone());
                qb.push(" escape '\\' or c.fields_json like ");
                qb.push_bind(p.clone());
                qb.push(" escape '\\' or c.iocs_json like ");
                qb.push_bind(p.clone());
                qb.push(" escape '\\' or exists (select 1 from messages m where m.case_id = c.id and (m.subject like ");
                qb.push_bind(p.clone());
                qb.push(" escape '\\' or m.analysis_json like ");
                qb.push_bind(p);
                qb.push(" escape '\\')))");
            }
        }
    }
}

pub const PER_PAGE: i64 = 50;

/// How many cases each view holds (other filters not applied), in [`VIEWS`] order.
pub async fn view_counts(
    conn: &mut SqliteConnection,
    me: &str,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    let (needs, mine, unassigned, closed, all): (i64, i64, i64, i64, i64) =
        sqlx::query_as(&format!(
            "select coalesce(sum({OPEN}), 0),
            coalesce(sum({OPEN} and c.assignee = ?1), 0),
            coalesce(sum({OPEN} and c.assignee is null), 0),
            coalesce(sum(not {OPEN}), 0),
            count(*)
         from cases c"
        ))
        .bind(me)
        .fetch_one(&mut *conn)
        .await?;
    Ok(VIEWS
        .iter()
        .zip([needs, mine, unassigned, closed, all])
        .map(|((k, l), n)| (k.to_string(), l.to_string(), n))
        .collect())
}

/// Cases matching `f`: most urgent priority first, then the most severe (the analyst's
/// severity, else the suggested one), then oldest first.
pub async fn search(
    conn: &mut SqliteConnection,
    f: &QueueFilter,
    per_page: i64,
) -> Result<QueuePage, StoreError> {
    let page = f.page.unwrap_or(1).clamp(1, 100_000);
    let mut count = QueryBuilder::<Sqlite>::new("select count(*) from cases c");
    f.push_where(&mut count);
    let total: i64 = count.build_query_scalar().fetch_one(&mut *conn).await?;

    let mut qb = QueryBuilder::<Sqlite>::new(
        "select c.id, c.tracking_id, c.status, c.severity, c.severity_suggested, c.priority,
            c.category, c.agency, c.assignee, c.reporter_email, c.reporter_name, c.subject,
            c.created_at, c.updated_at, c.reporter_undeliverable, c.needs_review,
            coalesce(json_array_length(c.missing_json), 0) as missing_count
         from cases c",
    );
    f.push_where(&mut qb);
    qb.push(format!(
        " order by coalesce(c.priority, 'p9'), {SEVERITY_RANK}, c.created_at, c.id limit "
    ));
    qb.push_bind(per_page);
    qb.push(" offset ");
    qb.push_bind((page - 1) * per_page);
    let cases = qb.build_query_as().fetch_all(&mut *conn).await?;
    Ok(QueuePage {
        cases,
        total,
        page,
        per_page,
    })
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
