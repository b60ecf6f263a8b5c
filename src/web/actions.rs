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
    // Back where the form was, saying what was done there.
    let at = if action.ends_with("_indicator") {
        "indicators"
    } else if action == "campaign_answer" || action == "split_report" {
        "campaign"
    } else {
        "actions"
    };
    Ok(Redirect::to(&format!(
        "/cases/{}?done={}&at={at}#{at}",
        out.tracking_id,
        super::pages::percent_encode(&out.summary)
    ))
    .into_response())
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
        "clear_review" => a.clear_review(tid, i.message, by, now).await?,
        "tag" => a.set_tag(tid, &parse(v)?, i.on, by, now).await?,
        "link" => a.link(tid, &parse(v)?, by, now).await?,
        "merge" => a.merge(tid, &parse(v)?, by, now).await?,
        "update" => a.update(tid, i.message, &i.cc, by, now).await?,
        "add_indicator" => a.add_indicator(tid, i.kind, v, by, now).await?,
        "remove_indicator" | "restore_indicator" => {
            let removing = action == "remove_indicator";
            a.set_indicator_removed(tid, i.kind, v, removing, i.message, by, now)
                .await?
        }
        "tlp" => a.set_tlp(tid, parse(v)?, by, now).await?,
        "campaign_answer" => a.set_campaign_answer(tid, i.message, by, now).await?,
        "split_report" => {
            let row = v.trim_start_matches('#').parse().map_err(|_| {
                WebError::BadRequest(format!("'{v}' is not a message number (e.g. 1234)"))
            })?;
            a.split_report(tid, row, i.on, by, now).await?
        }
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
        undo_for: Some(chrono::Duration::seconds(
            state.web.undo_seconds.min(600) as i64
        )),
    };
    let out = state.actions.triage(&tid, &t, by(&who), Utc::now()).await?;
    tracing::info!(user = %who.user.name, case = %tid, summary = %out.summary, "case triaged in the web UI");
    let mut done = out.summary.clone();
    if let Some(n) = &out.scio_note {
        done.push_str(&format!(" ({n})"));
    }
    if state.web.undo_seconds > 0 && !out.queued.is_empty() {
        done.push_str(&format!(
            ". Its mail leaves in {} s unless you undo",
            state.web.undo_seconds.min(600)
        ));
    }
    Ok(Redirect::to(&format!(
        "/cases/{}?done={}#actions",
        out.tracking_id,
        super::pages::percent_encode(&done)
    ))
    .into_response())
}

/// `POST /cases/{tid}/undo/{event}`: takes the analyst's triage back within its
/// window; back to the case with what was undone (or why not).
pub async fn undo(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Path((tid, event)): Path<(String, i64)>,
    Form(f): Form<super::auth::CsrfForm>,
) -> Result<Response, WebError> {
    who.may_change(&f.csrf)?;
    let tid: TrackingId = tid.parse().map_err(|_| WebError::NotFound)?;
    let out = state
        .actions
        .undo_triage(&tid, event, by(&who), Utc::now())
        .await?;
    tracing::info!(user = %who.user.name, case = %tid, summary = %out.summary, "triage undone in the web UI");
    Ok(Redirect::to(&format!(
        "/cases/{}?done={}#actions",
        out.tracking_id,
        super::pages::percent_encode(&out.summary)
    ))
    .into_response())
}

/// The most cases one bulk action takes (a page of the queue is 50).
const BULK_MAX: usize = 200;

/// `back` as posted by the queue: a queue address of our own, else the queue.
fn queue_back(back: &str) -> String {
    // Printable ASCII only: it goes into a Location header (the queue's own links are
    // percent-encoded), and never elsewhere.
    let ok = back == "/cases"
        || (back.starts_with("/cases?")
            && back.len() <= 2000
            && back
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'#' | b'\\')));
    if ok {
        back.to_string()
    } else {
        "/cases".to_string()
    }
}

/// `back` as posted by the queue or a case page (its merge form): that case's page,
/// else as [`queue_back`].
fn bulk_back(back: &str) -> String {
    match back.strip_prefix("/cases/") {
        Some(t) if t.parse::<TrackingId>().is_ok() => back.to_string(),
        _ => queue_back(back),
    }
}

/// `POST /cases/bulk`: one action on every case ticked in the queue: assign, set the
/// status, merge into one (after a confirmation page), or download them as CSV. Each
/// change runs the same audited action as on the case page; a case that refuses (a
/// closed case cannot be reopened to `new`, say) is named and the others go on.
pub async fn bulk(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    };
    who.may_change(get("csrf"))?;
    let mut tids: Vec<TrackingId> = Vec::new();
    for (_, v) in pairs.iter().filter(|(k, _)| k == "case") {
        let t: TrackingId = v.trim().parse().map_err(|_| {
            let shown: String = v.trim().chars().take(40).collect();
            WebError::BadRequest(format!("'{shown}' is not a tracking ID."))
        })?;
        if !tids.contains(&t) {
            tids.push(t);
        }
    }
    if tids.is_empty() {
        return Err(WebError::BadRequest(
            "No case is selected: tick the cases in the queue's first column, then choose the action.".into(),
        ));
    }
    if tids.len() > BULK_MAX {
        return Err(WebError::BadRequest(format!(
            "{} cases are selected; one bulk action takes at most {BULK_MAX}. Narrow the queue first.",
            tids.len()
        )));
    }
    let back = bulk_back(get("back"));
    let action = get("action");
    let (name, value, targets, what) = match action {
        "assign" => {
            let a = get("assignee");
            let what = if a.is_empty() {
                "Unassigned".to_string()
            } else {
                format!("Assigned to {a}:")
            };
            ("assign", a.to_string(), tids.clone(), what)
        }
        "status" => {
            let s: crate::domain::Status = parse(get("status"))?;
            (
                "status",
                s.as_str().to_string(),
                tids.clone(),
                format!("Status {s}:"),
            )
        }
        "merge" => {
            let into: TrackingId = match get("into") {
                "" => tids[0].clone(),
                t => parse(t)?,
            };
            let others: Vec<TrackingId> = tids.iter().filter(|t| **t != into).cloned().collect();
            if others.is_empty() {
                return Err(WebError::BadRequest(
                    "Merging needs at least two cases: tick the duplicates and the case they go into.".into(),
                ));
            }
            if get("confirm") != "yes" {
                return merge_confirmation(&state, &who, &into, &others, &back).await;
            }
            (
                "merge",
                into.to_string(),
                others,
                format!("Merged into {into}:"),
            )
        }
        "tag" => {
            let tag: crate::domain::Tag = parse(get("tag"))?;
            (
                "tag",
                tag.to_string(),
                tids.clone(),
                format!("Tagged {tag}:"),
            )
        }
        "export" => {
            let out = state
                .actions
                .export(
                    &crate::export::Scope::Selected(tids),
                    crate::export::Format::Csv,
                    by(&who),
                    Utc::now(),
                )
                .await?;
            return Ok(super::pages::download(
                out.body.into_bytes(),
                out.content_type,
                &out.file_name,
            ));
        }
        _ => return Err(WebError::BadRequest(
            "Choose what to do with the selected cases: assign, set status, merge, tag or export."
                .into(),
        )),
    };
    let mut done = Vec::new();
    let mut refused = Vec::new();
    for t in &targets {
        let input = Input {
            value: &value,
            // A bulk tag adds it.
            on: name == "tag",
            message: "",
            cc: Vec::new(),
            kind: "",
        };
        match perform(&state.actions, t, name, &input, by(&who)).await {
            Ok(_) => done.push(t.to_string()),
            Err(WebError::BadRequest(m)) => refused.push(format!("{t}: {m}")),
            Err(WebError::NotFound) => refused.push(format!("{t}: no such case")),
            Err(e) => return Err(e),
        }
    }
    tracing::info!(user = %who.user.name, action = %name, cases = done.len(), refused = refused.len(), "bulk action in the web UI");
    let mut msg = format!("{what} {} case(s)", done.len());
    if !done.is_empty() {
        msg.push_str(&format!(" ({})", done.join(", ")));
    }
    msg.push('.');
    if !refused.is_empty() {
        msg.push_str(&format!(" Not changed: {}.", refused.join("; ")));
    }
    let sep = if back.contains('?') { '&' } else { '?' };
    let anchor = if back.starts_with("/cases/") {
        "actions"
    } else {
        "queue"
    };
    Ok(Redirect::to(&format!(
        "{back}{sep}done={}#{anchor}",
        super::pages::percent_encode(&msg)
    ))
    .into_response())
}

/// The page that asks before a bulk merge: which cases go into which.
async fn merge_confirmation(
    state: &AppState,
    who: &Who,
    into: &TrackingId,
    others: &[TrackingId],
    back: &str,
) -> Result<Response, WebError> {
    let mut c = state.store.acquire().await?;
    let mut rows = Vec::new();
    for t in std::iter::once(into).chain(others) {
        let case = crate::store::cases::by_tracking_id(&mut c, t)
            .await?
            .ok_or(WebError::NotFound)?;
        rows.push(case);
    }
    drop(c);
    // The words each message would carry, as they would be sent.
    let previews: Vec<minijinja::Value> = state
        .actions
        .preview_merge(into, others)
        .await?
        .into_iter()
        .map(|p| {
            let (reporter, reporter_why) = match p.reporter {
                Ok(m) => (
                    Some(minijinja::context! {
                        to => m.to.address.to_string(),
                        subject => m.rendered.subject,
                        text => m.rendered.text,
                        hold => m.hold,
                    }),
                    None,
                ),
                Err(why) => (None, Some(why)),
            };
            minijinja::context! {
                tracking_id => p.tracking_id, reporter => reporter, reporter_why => reporter_why,
                into_line => p.into_line, from_line => p.from_line,
            }
        })
        .collect();
    Ok(render(
        "bulk_merge.html",
        minijinja::context! {
            who => super::pages::who_ctx(who),
            into => rows[0],
            others => rows[1..],
            previews => previews,
            back => back,
        },
    )?
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::{bulk_back, queue_back};

    #[test]
    fn bulk_goes_back_only_to_a_queue_address_that_fits_a_header() {
        assert_eq!(queue_back("/cases"), "/cases");
        assert_eq!(
            queue_back("/cases?view=all&q=p%C3%A9&page=2"),
            "/cases?view=all&q=p%C3%A9&page=2"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/cases",
            "/cases/../login",
            "/cases?q=a\r\nSet-Cookie: x=1",
            "/cases?q=\u{1}",
            "/cases?q=a b",
            "/cases?q=pé",
            "/cases?#x",
            "",
        ] {
            assert_eq!(queue_back(bad), "/cases", "{bad:?}");
            assert_eq!(bulk_back(bad), "/cases", "{bad:?}");
        }
        assert_eq!(queue_back("/cases/SOC-2026-000001"), "/cases");
        assert_eq!(
            bulk_back("/cases/SOC-2026-000001"),
            "/cases/SOC-2026-000001"
        );
        for bad in [
            "/cases/../login",
            "/cases/SOC-2026-000001/x",
            "/cases/SOC-2026-000001?a",
        ] {
            assert_eq!(bulk_back(bad), "/cases", "{bad:?}");
        }
    }
}

/// The form that saves the queue as it is filtered now under a name.
#[derive(Debug, Deserialize)]
pub struct SaveViewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// The queue address, `/cases?…`.
    #[serde(default)]
    back: String,
}

/// `POST /views`: saves the queue's current filters as one of the analyst's own views
/// (the same name again replaces it). Audited.
pub async fn save_view(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Form(form): Form<SaveViewForm>,
) -> Result<Response, WebError> {
    who.may_change(&form.csrf)?;
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(WebError::BadRequest(
            "A saved view needs a name of 1 to 60 characters (letters, digits, spaces, punctuation)."
                .into(),
        ));
    }
    let back = queue_back(form.back.trim());
    // Only the filters: the page number and a confirmation are not part of a view.
    let query: String = back
        .strip_prefix("/cases")
        .unwrap_or("")
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page=") && !p.starts_with("done="))
        .collect::<Vec<_>>()
        .join("&");
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    let now = Utc::now();
    let mut tx = state.store.begin_write().await?;
    if !crate::store::queue::save_view(&mut tx, &who.user.name, name, &query, now).await? {
        return Err(WebError::BadRequest(format!(
            "You keep {} saved views already; delete one first.",
            crate::store::queue::SAVED_VIEWS_MAX
        )));
    }
    audit_view(&mut tx, &who, "save_view", name, &query, now).await?;
    tx.commit().await?;
    let msg = format!("Saved the view '{name}'.");
    let sep = if query.is_empty() { '?' } else { '&' };
    Ok(Redirect::to(&format!(
        "/cases{query}{sep}done={}",
        super::pages::percent_encode(&msg)
    ))
    .into_response())
}

/// `POST /views/{id}/delete`: deletes one of the analyst's own saved views. Audited.
pub async fn delete_view(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Path(id): Path<i64>,
    Form(form): Form<super::auth::CsrfForm>,
) -> Result<Response, WebError> {
    who.may_change(&form.csrf)?;
    let now = Utc::now();
    let mut tx = state.store.begin_write().await?;
    let Some(gone) = crate::store::queue::delete_view(&mut tx, &who.user.name, id).await? else {
        return Err(WebError::NotFound);
    };
    audit_view(&mut tx, &who, "delete_view", &gone.name, &gone.query, now).await?;
    tx.commit().await?;
    let msg = format!("Deleted the view '{}'.", gone.name);
    Ok(Redirect::to(&format!(
        "/cases?done={}",
        super::pages::percent_encode(&msg)
    ))
    .into_response())
}

async fn audit_view(
    conn: &mut sqlx::SqliteConnection,
    who: &Who,
    action: &str,
    name: &str,
    query: &str,
    at: chrono::DateTime<Utc>,
) -> Result<(), WebError> {
    crate::store::users::audit(
        conn,
        crate::store::users::AuditEntry {
            at,
            username: &who.user.name,
            action,
            ip: Some(&who.ip),
            case_id: None,
            detail: serde_json::json!({ "name": name, "query": query }),
        },
    )
    .await?;
    Ok(())
}

/// The case page's form that resolves or closes a case.
#[derive(Debug, Default, Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    resolution: String,
    /// "on" tells the reporter.
    #[serde(default)]
    tell_reporter: String,
    /// "send" closes; anything else previews.
    #[serde(default)]
    step: String,
}

/// `POST /cases/{tid}/close`: first a preview of the SCIO update and the reporter's
/// message; then (`step=send`) the status, both messages and a `case_closed` event.
pub async fn close(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Path(tid): Path<String>,
    Form(f): Form<CloseForm>,
) -> Result<Response, WebError> {
    who.may_change(&f.csrf)?;
    let tid: TrackingId = tid.parse().map_err(|_| WebError::NotFound)?;
    let status = parse(f.status.trim())?;
    let closing = crate::actions::Closing {
        status,
        resolution: &f.resolution,
        tell_reporter: f.tell_reporter == "on",
    };
    if f.step != "send" {
        let p = state
            .actions
            .preview_close(&tid, &closing, Utc::now())
            .await?;
        let (scio, scio_why) = match p.scio {
            Ok((to, r)) => (
                Some(minijinja::context! {
                    to => to.iter().map(|c| c.address.to_string()).collect::<Vec<_>>(),
                    subject => r.subject,
                    text => r.text,
                }),
                None,
            ),
            Err(why) => (None, Some(why)),
        };
        let (reporter, reporter_why) = match p.reporter {
            Ok(c) => (
                Some(minijinja::context! {
                    to => c.to.address.to_string(),
                    subject => c.rendered.subject,
                    text => c.rendered.text,
                    hold => c.hold,
                }),
                None,
            ),
            Err(why) => (None, Some(why)),
        };
        return Ok(render(
            "close_preview.html",
            minijinja::context! {
                who => super::pages::who_ctx(&who),
                tracking_id => tid.to_string(),
                status => status.as_str(),
                resolution => f.resolution,
                tell_reporter => closing.tell_reporter,
                scio => scio,
                scio_why => scio_why,
                reporter => reporter,
                reporter_why => reporter_why,
            },
        )?
        .into_response());
    }
    let out = state
        .actions
        .close(&tid, &closing, by(&who), Utc::now())
        .await?;
    tracing::info!(user = %who.user.name, case = %tid, summary = %out.summary, "case closed in the web UI");
    Ok(Redirect::to(&format!(
        "/cases/{}?done={}#actions",
        out.tracking_id,
        super::pages::percent_encode(&out.summary)
    ))
    .into_response())
}

/// The quarantine's decision forms.
#[derive(Debug, Default, Deserialize)]
pub struct QuarantineForm {
    #[serde(default)]
    csrf: String,
    /// "on": acknowledge the sender with the new tracking ID.
    #[serde(default)]
    acknowledge: String,
    /// Why it is not an incident.
    #[serde(default)]
    note: String,
}

/// `POST /messages/{id}/open-case`: a case from a quarantined message; the case page
/// follows, saying so.
pub async fn open_quarantined(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<QuarantineForm>,
) -> Result<Response, WebError> {
    who.may_change(&f.csrf)?;
    let opened = state
        .actions
        .open_from_quarantine(id, f.acknowledge == "on", by(&who), Utc::now())
        .await
        .map(|(tid, acked)| {
            let done = format!(
                "Case {tid} opened from message #{id}; {}.",
                if acked {
                    "the sender's acknowledgement is queued"
                } else {
                    "the sender was not told"
                }
            );
            format!("/cases/{tid}?done={}", super::pages::percent_encode(&done))
        });
    decided(&state, &who, id, opened).await
}

/// `POST /messages/{id}/dismiss`: "not an incident"; back to the quarantine.
pub async fn dismiss_quarantined(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<QuarantineForm>,
) -> Result<Response, WebError> {
    who.may_change(&f.csrf)?;
    let dismissed = state
        .actions
        .dismiss_quarantined(id, &f.note, by(&who), Utc::now())
        .await
        .map(|()| "/quarantine".to_string());
    decided(&state, &who, id, dismissed).await
}

/// A quarantine decision's answer: on to `Ok`'s page, or the message page again with
/// why it was refused (409).
async fn decided(
    state: &AppState,
    who: &Who,
    id: i64,
    r: Result<String, crate::actions::ActionError>,
) -> Result<Response, WebError> {
    match r {
        Ok(to) => Ok(Redirect::to(&to).into_response()),
        Err(crate::actions::ActionError::Refused(why)) => Ok((
            axum::http::StatusCode::CONFLICT,
            super::pages::message_page(state, who, id, Some(why)).await?,
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}
