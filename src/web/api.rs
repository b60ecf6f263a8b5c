//! The JSON API under `/api/v1` (cases, events, messages; case actions by bearer
//! token), `/healthz` and `/metrics`.

use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;

use super::auth::ApiUser;
use super::AppState;
use crate::actions::ActionError;
use crate::domain::TrackingId;
use crate::notify::NotifyError;
use crate::store::queue::{self, QueueFilter};
use crate::store::{cases, StoreError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cases", get(list))
        .route("/cases/{tid}", get(one))
        .route("/cases/{tid}/events", get(events))
        .route("/cases/{tid}/messages", get(messages))
        .route("/cases/{tid}/actions/{action}", post(act))
        .route("/cases.csv", get(super::export::api_queue_csv))
        .route("/cases/{tid}/export/{format}", get(super::export::api_case))
        .route("/export/{format}", get(super::export::api_period))
}

/// A case action as JSON: `{"value": "critical"}`, `{"value": "major_incident",
/// "on": true}`, `{"message": "…", "cc": ["…"]}`.
#[derive(Debug, Default, Deserialize)]
struct ActBody {
    #[serde(default)]
    value: String,
    #[serde(default)]
    on: Option<bool>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    cc: Vec<String>,
    #[serde(default)]
    kind: String,
}

/// `POST /api/v1/cases/{id}/actions/{action}`: the case page's actions for
/// integrations. Bearer tokens of analysts only (a browser session would need CSRF).
async fn act(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path((id, action)): Path<(String, String)>,
    Json(body): Json<ActBody>,
) -> Result<Json<crate::actions::Outcome>, ApiError> {
    if who.csrf.is_some() {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "changes through the API need a bearer token (incident-gateway user token NAME); in a browser, use the case page".into(),
        ));
    }
    if who.user.role != crate::store::users::Role::Analyst {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "this token's account is a viewer: it can read, not change".into(),
        ));
    }
    let id = tid(&id)?;
    let cc = body
        .cc
        .iter()
        .map(|c| crate::domain::EmailAddress::parse(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let input = super::actions::Input {
        value: &body.value,
        on: body.on.unwrap_or(true),
        message: &body.message,
        cc,
        kind: &body.kind,
    };
    let out = super::actions::perform(
        &state.actions,
        &id,
        &action,
        &input,
        super::actions::by(&who),
    )
    .await?;
    tracing::info!(user = %who.user.name, case = %id, action = %action, "case action through the API");
    Ok(Json(out))
}

impl From<super::WebError> for ApiError {
    fn from(e: super::WebError) -> Self {
        use super::WebError;
        match e {
            WebError::NotFound => ApiError(StatusCode::NOT_FOUND, "not found".into()),
            WebError::Forbidden(m) => ApiError(StatusCode::FORBIDDEN, m),
            WebError::BadRequest(m) => ApiError(StatusCode::BAD_REQUEST, m),
            WebError::TooManyRequests(m) => ApiError(StatusCode::TOO_MANY_REQUESTS, m),
            WebError::Store(s) => s.into(),
            WebError::Template(t) => {
                tracing::error!(error = %t, "API request failed");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

/// An API failure, as `{"error": "..."}`.
pub struct ApiError(StatusCode, String);

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchCase(id) => ApiError(StatusCode::NOT_FOUND, format!("no case {id}")),
            StoreError::Invalid(m) => ApiError(StatusCode::BAD_REQUEST, m),
            e if e.is_transient() => {
                tracing::error!(error = %e, "API request failed: database unavailable");
                ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database unavailable; retry later".into(),
                )
            }
            e => {
                tracing::error!(error = %e, "API request failed");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

impl From<ActionError> for ApiError {
    fn from(e: ActionError) -> Self {
        match e {
            ActionError::Refused(m) => ApiError(StatusCode::BAD_REQUEST, m),
            ActionError::Notify(e @ NotifyError::Compose { .. }) => {
                ApiError(StatusCode::BAD_REQUEST, e.to_string())
            }
            ActionError::Notify(NotifyError::Store(e)) | ActionError::Store(e) => e.into(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn tid(s: &str) -> Result<TrackingId, ApiError> {
    s.parse()
        .map_err(|e: crate::domain::DomainError| ApiError(StatusCode::NOT_FOUND, e.to_string()))
}

async fn list(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Query(f): Query<QueueFilter>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = Utc::now();
    let f = super::scoped(f, &who, &state.config, now);
    let mut c = state.store.acquire().await?;
    let page = queue::search(&mut c, &f, queue::PER_PAGE).await?;
    let rows: Vec<&cases::CaseRow> = page.cases.iter().map(|r| &r.case).collect();
    let timers = super::timers_of(&mut c, &state.config, &rows, now).await?;
    let mut out = serde_json::to_value(&page)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if let Some(list) = out["cases"].as_array_mut() {
        for (v, t) in list.iter_mut().zip(timers) {
            v["timers"] = serde_json::json!(t);
        }
    }
    Ok(Json(out))
}

async fn one(
    State(state): State<AppState>,
    ApiUser(_who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = tid(&id)?;
    let mut c = state.store.acquire().await?;
    let detail = cases::detail(&mut c, &id).await?;
    let timers = super::timers_of(&mut c, &state.config, &[&detail.case], Utc::now()).await?;
    let mut out = serde_json::to_value(&detail)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    out["timers"] = serde_json::json!(timers.first());
    Ok(Json(out))
}

async fn events(
    State(state): State<AppState>,
    ApiUser(_who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<cases::EventView>>, ApiError> {
    let id = tid(&id)?;
    let mut c = state.store.acquire().await?;
    Ok(Json(cases::detail(&mut c, &id).await?.events))
}

async fn messages(
    State(state): State<AppState>,
    ApiUser(_who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = tid(&id)?;
    let mut c = state.store.acquire().await?;
    let d = cases::detail(&mut c, &id).await?;
    Ok(Json(serde_json::json!({
        "inbound": d.messages,
        "outbound": d.outbox,
    })))
}

/// 200 `ok` when the database answers.
/// `ok` when the database answers and every task of `run` is running (one line per
/// task follows); 503 when the database does not answer or a task is down.
pub async fn healthz(State(state): State<AppState>) -> Response {
    if let Err(e) = state.store.ping().await {
        tracing::error!(error = %e, "health check: database unreachable");
        return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response();
    }
    let tasks = state.health.snapshot();
    let down = tasks
        .iter()
        .filter(|(_, t)| t.state != crate::health::TaskState::Running)
        .count();
    let mut body = String::from(if down == 0 { "ok\n" } else { "degraded\n" });
    for (name, t) in &tasks {
        let _ = write!(
            body,
            "task {name}: {}, {} restart(s)",
            t.state.as_str(),
            t.restarts
        );
        if let Some(e) = &t.last_error {
            let _ = write!(body, "; last error: {}", e.replace('\n', " "));
        }
        body.push('\n');
    }
    let status = if down == 0 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body).into_response()
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family: HELP and TYPE lines, then one sample per labelled value.
fn family(
    out: &mut String,
    name: &str,
    help: &str,
    kind: &str,
    label_name: &str,
    samples: impl IntoIterator<Item = (String, i64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (value, n) in samples {
        let _ = writeln!(out, "{name}{{{label_name}=\"{}\"}} {n}", label(&value));
    }
}

/// Prometheus text format (0.0.4).
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut c = state.store.acquire().await?;
    let m = queue::metrics(&mut c).await?;
    let mut out = String::new();
    family(
        &mut out,
        "igw_messages_ingested_total",
        "Inbound messages stored, by kind.",
        "counter",
        "kind",
        m.messages_by_kind,
    );
    family(
        &mut out,
        "igw_cases",
        "Cases, by status.",
        "gauge",
        "status",
        m.cases_by_status,
    );
    family(
        &mut out,
        "igw_outbox_messages",
        "Outbound messages, by status.",
        "gauge",
        "status",
        m.outbox_by_status,
    );
    family(
        &mut out,
        "igw_imap_last_poll_timestamp_seconds",
        "Unix time of the last successful IMAP poll, by folder.",
        "gauge",
        "mailbox",
        m.last_poll.into_iter().filter_map(|(mailbox, at)| {
            crate::store::parse_ts(&at).map(|t| (mailbox, t.timestamp()))
        }),
    );
    let last_event = state.store.last_event_seq().await?;
    let cursors = state.store.feed_cursors().await?;
    family(
        &mut out,
        "igw_siem_waiting_events",
        "Case events not yet handed on to the SIEM, by sink ([siem]).",
        "gauge",
        "sink",
        cursors
            .into_iter()
            .map(|(sink, seq, _)| (sink, (last_event - seq).max(0))),
    );
    let tasks = state.health.snapshot();
    family(
        &mut out,
        "igw_task_up",
        "1 while the task of `run` is running, 0 while it waits to be restarted or has stopped.",
        "gauge",
        "task",
        tasks.iter().map(|(name, t)| {
            (
                name.to_string(),
                i64::from(t.state == crate::health::TaskState::Running),
            )
        }),
    );
    family(
        &mut out,
        "igw_task_restarts_total",
        "Times the task stopped unexpectedly and was started again.",
        "counter",
        "task",
        tasks
            .iter()
            .map(|(name, t)| (name.to_string(), t.restarts as i64)),
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
