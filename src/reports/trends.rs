//! The routine trends report: for each week (Monday 00:00 UTC) and calendar month
//! once it is over, one mail to `[reports] recipients` through the outbox, with the
//! charts as inline PNG images and the whole report as an HTML attachment. A period's
//! report is queued once: `report_periods` holds a unique (period, start), claimed in
//! the transaction that writes the outbox row, so a restart or a second process never
//! queues it again.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::chart::{colour, escape, Chart};
use super::{dashboard, midnight, monday, png, Range, ReportError};
use crate::config::Config;
use crate::domain::{EmailAddress, OutboxKind};
use crate::outbound::{enqueue_with, Extras, Outgoing, Part, Rendered, Templates};
use crate::policy::Disclosure;
use crate::routing::{Contact, DirectoryHandle};
use crate::store::{stats, Store};

/// Weeks of history in the report's charts.
pub const TREND_WEEKS: i64 = 12;

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Week,
    Month,
}

impl std::str::FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "week" | "weekly" => Ok(Period::Week),
            "month" | "monthly" => Ok(Period::Month),
            other => Err(format!("period '{other}' is neither week nor month")),
        }
    }
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Period::Week => "Weekly",
            Period::Month => "Monthly",
        }
    }

    /// The last period that is over at `at`: `[start, end)`.
    pub fn last_complete(self, at: DateTime<Utc>) -> Range {
        match self {
            Period::Week => {
                let end = midnight(monday(at));
                Range {
                    from: end - Duration::weeks(1),
                    to: end,
                }
            }
            Period::Month => {
                let d = at.date_naive();
                let first = NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d);
                let prev = first
                    .pred_opt()
                    .and_then(|p| NaiveDate::from_ymd_opt(p.year(), p.month(), 1))
                    .unwrap_or(first);
                Range {
                    from: midnight(prev),
                    to: midnight(first),
                }
            }
        }
    }
}

/// One period's report, ready to queue or to preview.
#[derive(Debug, Clone)]
pub struct TrendsMail {
    pub period: Period,
    pub range: Range,
    pub rendered: Rendered,
    /// The inline PNG charts and the HTML attachment.
    pub extras: Extras,
    /// The attachment's file name and text (the whole report).
    pub file_name: String,
    pub document: String,
}

/// What [`Reporter::queue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    /// The outbox row.
    Queued(i64),
    /// This period's report was queued before.
    AlreadyQueued,
    /// No `[reports] recipients`.
    NoRecipients,
}

#[derive(Serialize)]
struct Line {
    name: String,
    n: i64,
}

/// Lines of `(name, n)` summed by name, largest first.
fn lines(items: impl IntoIterator<Item = (String, i64)>) -> Vec<Line> {
    let mut m: BTreeMap<String, i64> = BTreeMap::new();
    for (k, n) in items {
        *m.entry(k).or_default() += n;
    }
    let mut v: Vec<Line> = m.into_iter().map(|(name, n)| Line { name, n }).collect();
    v.sort_by(|a, b| b.n.cmp(&a.n).then_with(|| a.name.cmp(&b.name)));
    v
}

fn series_totals(c: Option<&Chart>) -> Vec<(String, i64)> {
    c.map(|c| {
        c.series
            .iter()
            .map(|s| (s.name.clone(), s.values.iter().sum::<f64>() as i64))
            .collect()
    })
    .unwrap_or_default()
}

/// Builds and queues the trends reports.
#[derive(Clone)]
pub struct Reporter {
    store: Store,
    config: Arc<Config>,
    directory: DirectoryHandle,
    disclosure: Disclosure,
    templates: Arc<Templates>,
}

impl Reporter {
    pub fn new(store: Store, config: Arc<Config>, directory: DirectoryHandle) -> Self {
        Self {
            disclosure: Disclosure::new(config.clone(), directory.clone()),
            store,
            config,
            directory,
            templates: Arc::new(Templates::new()),
        }
    }

    /// The report of the last `period` over at `at`.
    pub async fn build(
        &self,
        period: Period,
        at: DateTime<Utc>,
    ) -> Result<TrendsMail, ReportError> {
        let range = period.last_complete(at);
        let dir = self.directory.get();
        // Open cases as of `at`, or now when the clock is driven ahead.
        let now = at.min(Utc::now());
        let current = dashboard(&self.store, &dir, range, now).await?;
        let trend = Range {
            from: midnight(
                monday(range.to - Duration::milliseconds(1)) - Duration::weeks(TREND_WEEKS - 1),
            ),
            to: range.to,
        };
        let history = dashboard(&self.store, &dir, trend, now).await?;
        let (agencies, majors) = {
            let mut conn = self.store.acquire().await?;
            (
                stats::weekly_by_agency(&mut conn, range.from, range.to).await?,
                stats::major_incidents(&mut conn, range.from, range.to).await?,
            )
        };
        let chart = |d: &super::Dashboard, id: &str| d.charts.iter().find(|c| c.id == id).cloned();
        let start = range.from.format("%Y-%m-%d").to_string();
        let title = format!(
            "{} trends report: {} to {}",
            period.label(),
            start,
            range.last_day()
        );
        let rendered = self.templates.render(
            "trends",
            minijinja::context! {
                title => title,
                banner => self.config.updates.banner,
                period_label => period.label(),
                start => start,
                last_day => range.last_day(),
                trend_weeks => TREND_WEEKS,
                total => current.total,
                categories => lines(series_totals(chart(&current, "by-category").as_ref())),
                secretariats => lines(series_totals(chart(&current, "by-secretariat").as_ref())),
                agencies => lines(agencies.into_iter().map(|c| (c.group, c.n))).into_iter().take(15).collect::<Vec<_>>(),
                complete => current.completeness,
                majors => majors,
                soc_name => self.config.gateway.name,
            },
        )?;
        // Indicator values are left out: an address among them could be a person's.
        let charts: Vec<Chart> = ["by-category", "by-secretariat", "open", "ack", "triage"]
            .iter()
            .filter_map(|id| chart(&history, id))
            .chain(chart(&current, "complete"))
            .collect();
        let mut html = rendered.html.clone();
        let mut text = rendered.text.clone();
        let mut doc_body = rendered.html.clone();
        let mut inline = Vec::new();
        for (i, c) in charts.iter().enumerate() {
            let cid = format!("chart-{}-{i}@trends", c.id);
            inline.push(Part {
                name: cid.clone(),
                media_type: "image/png",
                bytes: png::render(c)?,
            });
            let head = format!("<h2>{}</h2>", escape(&c.title));
            let legend = legend_html(c);
            let note = format!("<p><small>{}</small></p>", escape(&c.note));
            let _ = write!(
                html,
                r#"{head}<p><img src="cid:{cid}" alt="{alt}" width="{w}" height="{h}"></p>{legend}{table}{note}"#,
                alt = escape(&c.title),
                w = png::WIDTH,
                h = png::HEIGHT,
                table = c.table_html(),
            );
            let _ = write!(doc_body, "{head}{}{}{note}", c.svg(), c.table_html());
            text.push('\n');
            text.push_str(&c.table_text());
        }
        let document = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head><body>{doc_body}</body></html>\n",
            escape(&rendered.subject)
        );
        let file_name = format!("trends-{}-{start}.html", period.as_str());
        let extras = Extras {
            inline,
            attachments: vec![Part {
                name: file_name.clone(),
                media_type: "text/html; charset=utf-8",
                bytes: document.clone().into_bytes(),
            }],
        };
        Ok(TrendsMail {
            period,
            range,
            rendered: Rendered {
                subject: rendered.subject,
                text,
                html,
            },
            extras,
            file_name,
            document,
        })
    }

    fn recipients(&self) -> Vec<(Option<String>, EmailAddress)> {
        self.config
            .reports
            .recipients
            .iter()
            .filter_map(|r| Contact::parse(r))
            .map(|c| (c.name, c.address))
            .collect()
    }

    /// Queues the report of the last `period` over at `at`, unless it was queued before.
    /// A recipient outside the disclosure rule holds it for an analyst.
    pub async fn queue(&self, period: Period, at: DateTime<Utc>) -> Result<Queued, ReportError> {
        let to = self.recipients();
        if to.is_empty() {
            return Ok(Queued::NoRecipients);
        }
        let range = period.last_complete(at);
        {
            let mut conn = self.store.acquire().await?;
            if stats::report_period_claimed(&mut conn, period.as_str(), range.from).await? {
                return Ok(Queued::AlreadyQueued);
            }
        }
        let mail = self.build(period, at).await?;
        let hold = to
            .iter()
            .find(|(_, a)| !self.disclosure.allowed_without_case(a))
            .map(|(_, a)| crate::policy::hold_reason(a));
        let tag = format!("trends.{}.{}", period.as_str(), range.from.format("%Y%m%d"));
        let mut tx = self.store.begin_write().await?;
        if !stats::claim_report_period(&mut tx, period.as_str(), range.from, at).await? {
            return Ok(Queued::AlreadyQueued);
        }
        // No case: nothing to record on a case's history (enqueue_recorded would record
        // nothing either); the period row is the record.
        let (id, _) = enqueue_with(
            &mut tx,
            &self.config,
            &Outgoing {
                case_id: None,
                kind: OutboxKind::TrendsReport,
                id_tag: &tag,
                to: &to,
                in_reply_to: None,
                references: &[],
                auto_submitted: "auto-generated",
                hold_reason: hold.as_deref(),
                caused_by_message: None,
            },
            &mail.rendered,
            &mail.extras,
            at,
        )
        .await?;
        stats::set_report_outbox(&mut tx, period.as_str(), range.from, id).await?;
        tx.commit().await?;
        tracing::info!(period = period.as_str(), start = %range.from, outbox_id = id, "trends report queued");
        Ok(Queued::Queued(id))
    }

    /// The scheduler's step: every enabled report whose period is over at `at` and not
    /// yet queued. How many were queued.
    pub async fn send_due(&self, at: DateTime<Utc>) -> Result<usize, ReportError> {
        let mut n = 0;
        for (on, period) in [
            (self.config.reports.weekly, Period::Week),
            (self.config.reports.monthly, Period::Month),
        ] {
            if on && matches!(self.queue(period, at).await?, Queued::Queued(_)) {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// The series' colours and names, beside the image (the PNG has no text).
fn legend_html(c: &Chart) -> String {
    let mut s = String::from("<p>");
    for (i, serie) in c.series.iter().enumerate() {
        let (r, g, b) = colour(i);
        let _ = write!(
            s,
            r#"<span style="display:inline-block;width:10px;height:10px;background:#{r:02x}{g:02x}{b:02x}"></span> {} &nbsp; "#,
            escape(&serie.name)
        );
    }
    s.push_str("</p>");
    s
}
