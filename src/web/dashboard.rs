//! `/dashboard`: the charts over a date range (analysts and viewers), each beside the
//! table of its numbers. Charts are SVG made on the server: no script, no style
//! attribute, so the page's CSP holds.

use axum::extract::{Query, State};
use axum::response::Html;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::auth::PageUser;
use super::pages::who_ctx;
use super::{render, AppState, WebError};
use crate::reports::{self, Range, ReportError};

/// The form: first and last day, `YYYY-MM-DD` (UTC); empty: the last 12 weeks.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DashboardQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl From<ReportError> for WebError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Store(e) => WebError::Store(e),
            // A range the form cannot show; the dashboard makes no mail or image.
            other => WebError::BadRequest(other.to_string()),
        }
    }
}

#[derive(Serialize)]
struct ChartView {
    id: &'static str,
    title: String,
    note: String,
    empty: bool,
    svg: String,
    table: String,
}

pub async fn dashboard(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Query(q): Query<DashboardQuery>,
) -> Result<Html<String>, WebError> {
    let now = Utc::now();
    let default = Range::last_weeks(now, 12);
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let range = match (given(&q.from), given(&q.to)) {
        (None, None) => default,
        (from, to) => Range::from_dates(
            &from.unwrap_or_else(|| default.from.format("%Y-%m-%d").to_string()),
            &to.unwrap_or_else(|| default.last_day()),
        )?,
    };
    let dir = state.actions.notifier().disclosure().directory().get();
    let d = reports::dashboard(&state.store, &dir, range, now).await?;
    let charts: Vec<ChartView> = d
        .charts
        .iter()
        .map(|c| ChartView {
            id: c.id,
            title: c.title.clone(),
            note: c.note.clone(),
            empty: c.is_empty(),
            svg: c.svg(),
            table: c.table_html(),
        })
        .collect();
    render(
        "dashboard.html",
        minijinja::context! {
            who => who_ctx(&who),
            from => d.range.from.format("%Y-%m-%d").to_string(),
            to => d.range.last_day(),
            total => d.total,
            charts => charts,
        },
    )
}
