//! Aggregate views over the store: the dashboard's charts and the routine trends
//! report (weekly and monthly, by mail through the outbox). Aggregates only: counts,
//! categories, agencies, timings and tracking IDs; never a reporter, subject or body.
//! Every query is in `store::stats`; this module shapes its results into charts.

pub mod chart;
pub mod png;
pub mod trends;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

use crate::routing::Directory;
use crate::store::stats::{self, Completeness, Count, SharedIndicator, Timing, AGE_BUCKETS};
use crate::store::{Store, StoreError};
use chart::{Chart, Series};

pub use trends::{Period, Reporter};

/// Why a dashboard or report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] crate::outbound::QueueError),
    #[error(transparent)]
    Template(#[from] crate::outbound::TemplateError),
    #[error("chart image could not be encoded: {0}")]
    Image(#[from] std::io::Error),
    /// A range the caller asked for that cannot be shown (with what to do instead).
    #[error("{0}")]
    Range(String),
}

/// Longest range shown (weeks): a chart of more columns says nothing.
pub const MAX_WEEKS: i64 = 106;

/// The cases counted: created in `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// The Monday (UTC) of `t`'s ISO week.
pub fn monday(t: DateTime<Utc>) -> NaiveDate {
    let d = t.date_naive();
    d - Duration::days(d.weekday().num_days_from_monday() as i64)
}

impl Range {
    /// The default: the 12 weeks up to and including today (UTC), from a Monday.
    pub fn last_weeks(now: DateTime<Utc>, weeks: i64) -> Range {
        let to = midnight(now.date_naive() + Duration::days(1));
        let from = midnight(monday(now) - Duration::weeks(weeks - 1));
        Range { from, to }
    }

    /// From the first day to the last day inclusive (`YYYY-MM-DD`, UTC), as a form
    /// gives them.
    pub fn from_dates(from: &str, to: &str) -> Result<Range, ReportError> {
        let day = |s: &str, what: &str| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| ReportError::Range(format!("{what} '{s}' is not a date (YYYY-MM-DD)")))
        };
        let (f, t) = (day(from, "from")?, day(to, "to")?);
        if t < f {
            return Err(ReportError::Range(format!(
                "to ({t}) is before from ({f}): give the earlier day first"
            )));
        }
        let r = Range {
            from: midnight(f),
            to: midnight(t + Duration::days(1)),
        };
        if r.to - r.from > Duration::weeks(MAX_WEEKS) {
            return Err(ReportError::Range(format!(
                "at most {MAX_WEEKS} weeks can be shown at once: choose a shorter range"
            )));
        }
        Ok(r)
    }

    /// The Mondays of every week the range touches, as `YYYY-MM-DD`.
    pub fn weeks(&self) -> Vec<String> {
        let last = monday(self.to - Duration::milliseconds(1));
        let mut d = monday(self.from);
        let mut out = Vec::new();
        while d <= last && out.len() < MAX_WEEKS as usize + 1 {
            out.push(d.format("%Y-%m-%d").to_string());
            d += Duration::weeks(1);
        }
        out
    }

    /// The last day of the range (inclusive), `YYYY-MM-DD`.
    pub fn last_day(&self) -> String {
        (self.to - Duration::milliseconds(1))
            .date_naive()
            .format("%Y-%m-%d")
            .to_string()
    }
}

/// Everything the dashboard shows.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub range: Range,
    pub charts: Vec<Chart>,
    pub indicators: Vec<SharedIndicator>,
    pub completeness: Completeness,
    /// Cases opened in the range.
    pub total: i64,
}

/// Counts `(week, group, n)` as one series per group over `keys`, groups ordered by
/// their totals (largest first).
fn pivot(keys: &[String], counts: &[(String, String, i64)]) -> Vec<Series> {
    let mut groups: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (key, group, n) in counts {
        if let Some(i) = keys.iter().position(|k| k == key) {
            groups
                .entry(group.as_str())
                .or_insert_with(|| vec![0.0; keys.len()])[i] += *n as f64;
        }
    }
    let mut series: Vec<Series> = groups
        .into_iter()
        .map(|(name, values)| Series {
            name: name.to_string(),
            values,
        })
        .collect();
    series.sort_by(|a, b| {
        let (ta, tb): (f64, f64) = (a.values.iter().sum(), b.values.iter().sum());
        tb.total_cmp(&ta).then_with(|| a.name.cmp(&b.name))
    });
    series
}

fn triples(counts: Vec<Count>) -> Vec<(String, String, i64)> {
    counts.into_iter().map(|c| (c.key, c.group, c.n)).collect()
}

/// The secretariat an agency belongs to in the directory: its id, "outside a
/// secretariat" for an agency with its own CIO, "unknown" otherwise.
pub fn secretariat_of(dir: &Directory, agency: &str) -> String {
    match dir.agency(agency) {
        Some(a) => a
            .secretariat
            .clone()
            .unwrap_or_else(|| "outside a secretariat".into()),
        None => "unknown".into(),
    }
}

fn weekly_chart(
    id: &'static str,
    title: &str,
    keys: &[String],
    counts: &[(String, String, i64)],
    note: &str,
) -> Chart {
    Chart {
        id,
        title: title.into(),
        unit: "cases".into(),
        key_header: "Week (Monday, UTC)".into(),
        keys: keys.to_vec(),
        key_labels: vec![],
        series: pivot(keys, counts),
        table_only: vec![],
        stacked: true,
        decimals: 0,
        table_decimals: 0,
        note: note.into(),
    }
}

fn timing_chart(id: &'static str, title: &str, keys: &[String], t: &[Timing], note: &str) -> Chart {
    let at = |f: &dyn Fn(&Timing) -> f64| -> Vec<f64> {
        keys.iter()
            .map(|k| t.iter().find(|x| &x.week == k).map_or(0.0, f))
            .collect()
    };
    Chart {
        id,
        title: title.into(),
        unit: "minutes".into(),
        key_header: "Week (Monday, UTC)".into(),
        keys: keys.to_vec(),
        key_labels: vec![],
        series: vec![
            Series {
                name: "median".into(),
                values: at(&|x| x.median_secs / 60.0),
            },
            Series {
                name: "p90".into(),
                values: at(&|x| x.p90_secs / 60.0),
            },
        ],
        table_only: vec![Series {
            name: "cases".into(),
            values: at(&|x| x.n as f64),
        }],
        stacked: false,
        decimals: 1,
        table_decimals: 0,
        note: note.into(),
    }
}

/// The open-cases chart: severities as columns, age buckets stacked.
fn open_chart(counts: Vec<Count>) -> Chart {
    let order = ["critical", "high", "medium", "low", "unset"];
    let mut keys: Vec<String> = order
        .iter()
        .filter(|s| counts.iter().any(|c| c.key == **s))
        .map(|s| s.to_string())
        .collect();
    for c in &counts {
        if !keys.contains(&c.key) {
            keys.push(c.key.clone());
        }
    }
    let series = AGE_BUCKETS
        .iter()
        .map(|b| Series {
            name: b.to_string(),
            values: keys
                .iter()
                .map(|k| {
                    counts
                        .iter()
                        .filter(|c| &c.key == k && c.group == *b)
                        .map(|c| c.n as f64)
                        .sum()
                })
                .collect(),
        })
        .collect();
    Chart {
        id: "open",
        title: "Open cases by severity and age".into(),
        unit: "cases".into(),
        key_header: "Severity".into(),
        keys,
        key_labels: vec![],
        series,
        table_only: vec![],
        stacked: true,
        decimals: 0,
        table_decimals: 0,
        note: "Cases open now (status neither resolved nor closed), whenever opened; severity is the analyst's, else the suggested one, else unset; age is now minus the case's opening.".into(),
    }
}

fn completeness_chart(c: &Completeness) -> Chart {
    let rows = [
        ("on_arrival", "complete on arrival", c.on_arrival),
        (
            "after_answer",
            "complete after the reporter's answer",
            c.after_answer,
        ),
        ("by_analyst", "completed by an analyst", c.by_analyst),
        ("incomplete", "still incomplete", c.incomplete),
    ];
    let total: i64 = rows.iter().map(|r| r.2).sum();
    let share = |n: i64| {
        if total == 0 {
            0.0
        } else {
            n as f64 * 100.0 / total as f64
        }
    };
    Chart {
        id: "complete",
        title: "Reports complete on arrival and after the reporter's answer".into(),
        unit: "cases".into(),
        key_header: "Report".into(),
        keys: rows.iter().map(|r| r.0.to_string()).collect(),
        key_labels: rows.iter().map(|r| r.1.to_string()).collect(),
        series: vec![Series {
            name: "cases".into(),
            values: rows.iter().map(|r| r.2 as f64).collect(),
        }],
        table_only: vec![Series {
            name: "share %".into(),
            values: rows.iter().map(|r| share(r.2)).collect(),
        }],
        stacked: false,
        decimals: 0,
        table_decimals: 1,
        note: "Cases opened in the range. Complete on arrival: no required detail missing when the case was opened. After the reporter's answer: details were missing, none are now, and the reporter wrote back. By an analyst: none missing now, no answer. Still incomplete: details still missing.".into(),
    }
}

fn indicator_chart(ind: &[SharedIndicator]) -> Chart {
    Chart {
        id: "indicators",
        title: "Indicators seen in more than one case".into(),
        unit: "cases".into(),
        key_header: "Indicator".into(),
        keys: (1..=ind.len()).map(|i| format!("#{i}")).collect(),
        key_labels: ind
            .iter()
            .enumerate()
            .map(|(i, x)| format!("#{} {}: {}", i + 1, x.kind, x.value))
            .collect(),
        series: vec![Series {
            name: "cases".into(),
            values: ind.iter().map(|x| x.cases as f64).collect(),
        }],
        table_only: vec![],
        stacked: false,
        decimals: 0,
        table_decimals: 0,
        note: "Indicators (as read from the reports) found in two or more cases opened in the range, most cases first; at most 15.".into(),
    }
}

/// The dashboard over `range`; open cases as of `now`.
pub async fn dashboard(
    store: &Store,
    dir: &Directory,
    range: Range,
    now: DateTime<Utc>,
) -> Result<Dashboard, ReportError> {
    let (from, to) = (range.from, range.to);
    let keys = range.weeks();
    // Three read connections at once (SQLite in WAL mode reads in parallel): the
    // costliest aggregates on their own, the cheap ones together.
    let (counts, (ack, triage, open), (indicators, completeness)) = tokio::try_join!(
        async {
            let mut c = store.acquire().await?;
            let cat = stats::weekly_by_category(&mut c, from, to).await?;
            let agency = stats::weekly_by_agency(&mut c, from, to).await?;
            Ok::<_, StoreError>((cat, agency))
        },
        async {
            let mut c = store.acquire().await?;
            let ack = stats::time_to_ack(&mut c, from, to).await?;
            let triage = stats::time_to_triage(&mut c, from, to).await?;
            let open = stats::open_by_severity_age(&mut c, now).await?;
            Ok::<_, StoreError>((ack, triage, open))
        },
        async {
            let mut c = store.acquire().await?;
            let ind = stats::shared_indicators(&mut c, from, to, 15).await?;
            let complete = stats::completeness(&mut c, from, to).await?;
            Ok::<_, StoreError>((ind, complete))
        },
    )?;
    let (by_category, by_agency) = counts;
    let by_category = triples(by_category);
    let by_secretariat: Vec<(String, String, i64)> = by_agency
        .into_iter()
        .map(|c| {
            let s = if c.group == "unknown" {
                "unknown".into()
            } else {
                secretariat_of(dir, &c.group)
            };
            (c.key, s, c.n)
        })
        .collect();
    let total = by_category.iter().map(|c| c.2).sum();
    let charts = vec![
        weekly_chart(
            "by-category",
            "Cases opened per week by category",
            &keys,
            &by_category,
            "Cases opened in the week (not merged into another case), by the category the gateway or an analyst gave them.",
        ),
        weekly_chart(
            "by-secretariat",
            "Cases opened per week by secretariat",
            &keys,
            &by_secretariat,
            "The case's agency's secretariat in the directory; 'unknown': no agency recognised, or one the directory does not list.",
        ),
        open_chart(open),
        timing_chart(
            "ack",
            "Time to acknowledgement",
            &keys,
            &ack,
            "From the case's opening to the moment its acknowledgement was sent (the outbox row's sent time), per week of opening; cases whose acknowledgement was not sent are not counted. Median and p90 are nearest-rank.",
        ),
        timing_chart(
            "triage",
            "Time to triage",
            &keys,
            &triage,
            "From the case's opening to the first change of its status, severity or assignee by an analyst, per week of opening; cases no analyst has triaged are not counted. Median and p90 are nearest-rank.",
        ),
        indicator_chart(&indicators),
        completeness_chart(&completeness),
    ];
    Ok(Dashboard {
        range,
        charts,
        indicators,
        completeness,
        total,
    })
}

#[cfg(test)]
mod tests;
