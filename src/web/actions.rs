//! The case page's action forms: status, severity, priority, assignee, flags, an
//! update to the SCIO thread (with a preview of the email), an internal note, link and
//! merge. Each runs the same [`crate::actions::Actions`] code as the CLI, in one
//! transaction with its event and audit row; analysts only, CSRF-checked.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use serde::Deserialize;

use super::auth::{PageUser, Who};
use super::render::sanitize_html;
use super::{render, AppState, WebError};
use crate::actions::By;
use crate::domain::{EmailAddress, TrackingId};

/// Every action form posts a subset of these.
#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    /// status, severity, priority, assignee, flag name, other case.
    #[serde(default)]
    value: String,
    /// Flags: "on" sets, anything else clears.
    #[serde(default)]
    on: String,
    /// Update and note text.
    #[serde(default)]
    message: String,
    /// Update copies: addresses separated by commas, semicolons or spaces.
    #[serde(default)]
    cc: String,
    /// Update: "preview" shows the email, "send" queues it.
    #[serde(default)]
    step: String,
    /// Indicator removal: the indicator's kind (`value` is the indicator).
    #[serde(default)]
    kind: String,
}

pub(super) fn by(who: &Who) -> By<'_> {
    By {
        name: &who.user.name,
        ip: Some(&who.ip),
    }
}

fn parse<T: std::str::FromStr<Err = crate::domain::DomainError>>(v: &str) -> Result<T, WebError> {
    v.parse::<T>()
        .map_err(|e| WebError::BadRequest(e.to_string()))
}

/// `POST /cases/{tid}/actions/{action}`.
pub async fn act(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Path((tid, action)): Path<(String, String)>,
    Form(f): Form<ActionForm>,
) -> Result<Response, WebError> {
    who.may_change(&f.csrf)?;
    let tid: TrackingId = tid.parse().map_err(|_| WebError::NotFound)?;
    let cc =
        f.cc.split([',', ';', ' ', '\n'])
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| EmailAddress::parse(c).map_err(|e| WebError::BadRequest(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
    if action == "update" && f.step != "send" {
        return preview(&state, &who, &tid, &f, &cc).await;
    }
    let input = Input {
        value: &f.value,
        on: f.on == "on",
        message: &f.message,
        cc,
        kind: &f.kind,
    };
    let out = perform(&state.actions, &tid, &action, &input, by(&who)).await?;
    tracing::info!(user = %who.user.name, case = %tid, action = %action, summary = %out.summary, "case action in the web UI");
    Ok(Redirect::to(&format!("/cases/{}#timeline", out.tracking_id)).into_response())
}

/// What an action request carries (a form or a JSON body).
pub struct Input<'a> {
    /// status, severity, priority, assignee, flag name, other case.
    pub value: &'a str,
    /// Flags: set (true) or clear.
    pub on: bool,
    /// Update and note text.
    pub message: &'a str,
    pub cc: Vec<EmailAddress>,
    /// Indicator removal: the indicator's kind.
    pub kind: &'a str,
}

/// Runs one named action; the web form and the JSON API share it.
pub async fn perform(
    a: &crate::actions::Actions,
    tid: &TrackingId,
    action: &str,
    i: &Input<'_>,
    by: By<'_>,
) -> Result<crate::actions::Outcome, WebError> {
    let now = Utc::now();
    let v = i.value.trim();
    Ok(match action {
        "status" => a.set_status(tid, parse(v)?, by, now).await?,
        "severity" => a.set_severity(tid, parse(v)?, by, now).await?,
        "priority" => a.set_priority(tid, parse(v)?, by, now).await?,
        "assign" => a.assign(tid, Some(v), by, now).await?,
        "flag" => a.set_flag(tid, parse(v)?, i.on, by, now).await?,
        "note" => a.note(tid, i.message, by, now).await?,
        "link" => a.link(tid, &parse(v)?, by, now).await?,
        "merge" => a.merge(tid, &parse(v)?, by, now).await?,
        "update" => a.update(tid, i.message, &i.cc, by, now).await?,
        "remove_indicator" | "restore_indicator" => {
            a.set_indicator_removed(tid, i.kind, v, action == "remove_indicator", by, now)
                .await?
        }
        "tlp" => a.set_tlp(tid, parse(v)?, by, now).await?,
        _ => return Err(WebError::NotFound),
    })
}

/// The update as the SCIO thread would receive it, with Send and Edit.
async fn preview(
    state: &AppState,
    who: &Who,
    tid: &TrackingId,
    f: &ActionForm,
    cc: &[EmailAddress],
) -> Result<Response, WebError> {
    if f.message.trim().is_empty() {
        return Err(WebError::BadRequest(
            "The update is empty: write what the SCIO should know.".into(),
        ));
    }
    let (to, rendered) = state
        .actions
        .preview_update(tid, &f.message, Utc::now())
        .await?;
    // Our own rendering, yet the analyst's Markdown may carry links: sanitised the
    // same way as inbound mail before it is shown.
    let (html, _) = sanitize_html(&rendered.html);
    let to: Vec<String> = to.iter().map(|c| c.address.to_string()).collect();
    let cc: Vec<String> = cc.iter().map(|c| c.to_string()).collect();
    Ok(render(
        "update_preview.html",
        minijinja::context! {
            who => super::pages::who_ctx(who),
            tracking_id => tid.to_string(),
            to => to,
            cc => cc,
            cc_raw => f.cc,
            subject => rendered.subject,
            text => rendered.text,
            html => html,
            message => f.message,
        },
    )?
    .into_response())
}

/// The case page's triage form: every field posted together.
#[derive(Debug, Default, Deserialize)]
pub struct TriageForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    priority: String,
    /// An analyst's name, or empty for unassigned.
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    note: String,
}

fn opt<T: std::str::FromStr<Err = crate::domain::DomainError>>(
    v: &str,
) -> Result<Option<T>, WebError> {
    match v.trim() {
        "" => Ok(None),
        v => parse(v).map(Some),
    }
}

/// `POST /cases/{tid}/triage`: one transaction, at most one SCIO update; back to the
/// form with what was done.
pub async fn triage(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Path(tid): Path<String>,
    Form(f): Form<TriageForm>,
) -> Result<Response, WebError> {
    who.may_change(&f.csrf)?;
    let tid: TrackingId = tid.parse().map_err(|_| WebError::NotFound)?;
    let t = crate::actions::Triage {
        severity: opt(&f.severity)?,
        priority: opt(&f.priority)?,
        assignee: Some(Some(f.assignee.trim().to_string()).filter(|a| !a.is_empty())),
        status: opt(&f.status)?,
        note: Some(f.note.clone()),
    };
    let out = state.actions.triage(&tid, &t, by(&who), Utc::now()).await?;
    tracing::info!(user = %who.user.name, case = %tid, summary = %out.summary, "case triaged in the web UI");
    let mut done = out.summary.clone();
    if let Some(n) = &out.scio_note {
        done.push_str(&format!(" ({n})"));
    }
    Ok(Redirect::to(&format!(
        "/cases/{}?done={}#actions",
        out.tracking_id,
        super::pages::percent_encode(&done)
    ))
    .into_response())
}
