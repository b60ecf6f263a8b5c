//! Downloads of exports: a case as STIX 2.1 or MISP (case page), the filtered queue as
//! CSV (queue page), and the same under `/api/v1` with the cases of a period. Each runs
//! the audited [`crate::actions::Actions::export`]. STIX and MISP are sharing with
//! partners, so analysts only; the CSV is the queue every account sees.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;

use super::api::ApiError;
use super::auth::{ApiUser, PageUser, Who};
use super::{AppState, WebError};
use crate::export::{Format, Scope};
use crate::store::queue::QueueFilter;
use crate::store::users::Role;

async fn run(
    state: &AppState,
    who: &Who,
    scope: Scope,
    format: Format,
) -> Result<Response, WebError> {
    if format != Format::Csv && who.user.role != Role::Analyst {
        return Err(WebError::Forbidden(
            "Sharing exports (STIX, MISP) are for analysts; your account is a viewer.".into(),
        ));
    }
    let out = state
        .actions
        .export(&scope, format, super::actions::by(who), Utc::now())
        .await?;
    tracing::info!(user = %who.user.name, format = %format, file = %out.file_name, cases = out.cases, "export downloaded");
    Ok(super::pages::download(
        out.body.into_bytes(),
        out.content_type,
        &out.file_name,
    ))
}

fn format(s: &str) -> Result<Format, WebError> {
    s.strip_suffix(".json")
        .unwrap_or(s)
        .parse()
        .map_err(|_| WebError::NotFound)
}

fn case_scope(tid: &str) -> Result<Scope, WebError> {
    Ok(Scope::Case(tid.parse().map_err(|_| WebError::NotFound)?))
}

/// `GET /cases.csv?…`: the queue with the page's filters (every page).
pub async fn queue_csv(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Query(f): Query<QueueFilter>,
) -> Result<Response, WebError> {
    let f = super::scoped(f, &who, &state.config, Utc::now());
    run(&state, &who, Scope::Queue(Box::new(f)), Format::Csv).await
}

/// `GET /cases/{tid}/export/{stix|misp|csv}`.
pub async fn case(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Path((tid, f)): Path<(String, String)>,
) -> Result<Response, WebError> {
    run(&state, &who, case_scope(&tid)?, format(&f)?).await
}

/// `GET /api/v1/cases.csv?…`.
pub async fn api_queue_csv(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Query(f): Query<QueueFilter>,
) -> Result<Response, ApiError> {
    let f = super::scoped(f, &who, &state.config, Utc::now());
    Ok(run(&state, &who, Scope::Queue(Box::new(f)), Format::Csv).await?)
}

/// `GET /api/v1/cases/{tid}/export/{stix|misp|csv}`.
pub async fn api_case(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path((tid, f)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(run(&state, &who, case_scope(&tid)?, format(&f)?).await?)
}

#[derive(Debug, Deserialize)]
pub struct Period {
    since: String,
    until: String,
}

/// `GET /api/v1/export/{stix|misp|csv}?since=2026-03-01&until=2026-03-31`.
pub async fn api_period(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(f): Path<String>,
    Query(p): Query<Period>,
) -> Result<Response, ApiError> {
    let scope = Scope::period(&p.since, &p.until).map_err(WebError::BadRequest)?;
    Ok(run(&state, &who, scope, format(&f)?).await?)
}
