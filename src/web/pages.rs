//! The HTML pages: queue, case, quarantine, outbound review; downloads; the field edit
//! and held-mail decisions.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::auth::{PageUser, Who};
use super::render::safe_body_in_budget;
use super::{render, AppState, WebError};
use crate::domain::TrackingId;
use crate::store::queue::{self, QueueFilter};
use crate::store::users;
use crate::store::{cases, messages, outbox};

pub(super) fn who_ctx(who: &Who) -> minijinja::Value {
    minijinja::context! {
        name => who.user.name,
        role => who.user.role.as_str(),
        analyst => who.user.role == users::Role::Analyst,
        csrf => who.csrf,
    }
}

async fn conn(state: &AppState) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, WebError> {
    Ok(state.store.acquire().await?)
}

fn tracking_id(s: &str) -> Result<TrackingId, WebError> {
    s.parse().map_err(|_| WebError::NotFound)
}

/// `?a=b&c=d` for the pagination links, keeping the filters.
fn query_string(f: &QueueFilter, page: i64) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("agency", &f.agency),
        ("category", &f.category),
        ("status", &f.status),
        ("severity", &f.severity),
        ("assignee", &f.assignee),
        ("needs_info", &f.needs_info),
        ("unverified", &f.unverified),
        ("q", &f.q),
        ("tag", &f.tag),
        ("view", &f.view),
        ("sort", &f.sort),
        ("dir", &f.dir),
        ("from", &f.from),
        ("to", &f.to),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", percent_encode(v)));
        }
    }
    parts.push(format!("page={page}"));
    format!("?{}", parts.join("&"))
}

pub(super) fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn queue(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Query(f): Query<QueueFilter>,
    Query(q): Query<CaseQuery>,
) -> Result<Html<String>, WebError> {
    let now = Utc::now();
    let mut f = super::scoped(f, &who, &state.config, now);
    // The default tab: what needs an analyst now (open cases, most urgent first).
    f.view = Some(f.view_key().to_string());
    let mut c = conn(&state).await?;
    let views = queue::view_counts(&mut c, &f).await?;
    let page = queue::search(&mut c, &f, queue::PER_PAGE).await?;
    let pages = (page.total + page.per_page - 1) / page.per_page;
    let prev = (page.page > 1).then(|| query_string(&f, page.page - 1));
    let next = (page.page < pages).then(|| query_string(&f, page.page + 1));
    // Each column header sorts by it; again reverses it.
    let sorted = f.sorted_by();
    let sort_links: std::collections::BTreeMap<&str, serde_json::Value> = queue::SORTS
        .iter()
        .map(|(key, _, desc_first)| {
            let here = sorted.filter(|(k, _)| k == key);
            let desc = here.map_or(*desc_first, |(_, d)| !d);
            let mut g = f.clone();
            g.sort = Some(key.to_string());
            g.dir = Some(if desc { "desc" } else { "asc" }.to_string());
            let arrow = here.map_or("", |(_, d)| if d { " ▼" } else { " ▲" });
            (
                *key,
                serde_json::json!({ "href": format!("/cases{}", query_string(&g, 1)), "arrow": arrow }),
            )
        })
        .collect();
    let (newest, _) = queue::newer_than(&mut c, i64::MAX).await?;
    let saved = queue::saved_views(&mut c, &who.user.name).await?;
    let ids: Vec<i64> = page.cases.iter().map(|r| r.case.id).collect();
    let tags = queue::tags_of(&mut c, &ids).await?;
    let row_tags: Vec<Vec<String>> = ids
        .iter()
        .map(|id| tags.get(id).cloned().unwrap_or_default())
        .collect();
    let all_tags = queue::all_tags(&mut c).await?;
    let summary = queue::cases_by_status(&mut c).await?;
    let rows: Vec<&crate::store::cases::CaseRow> = page.cases.iter().map(|r| &r.case).collect();
    let timers = super::timer_views(
        &super::timers_of(&mut c, &state.config, &rows, now).await?,
        now,
    );
    let options = minijinja::context! {
        agency => queue::distinct(&mut c, "agency").await?,
        category => queue::distinct(&mut c, "category").await?,
        status => queue::distinct(&mut c, "status").await?,
        severity => queue::distinct(&mut c, "severity").await?,
        assignee => queue::distinct(&mut c, "assignee").await?,
    };
    render(
        "queue.html",
        minijinja::context! {
            who => who_ctx(&who),
            page => page,
            pages => pages,
            prev => prev,
            next => next,
            csv_query => query_string(&f, 1),
            filter => f,
            options => options,
            summary => summary,
            views => views,
            view => f.view_key(),
            timers => timers,
            done => q.done(),
            back => format!("/cases{}", query_string(&f, page.page)),
            sort_links => sort_links,
            bad_dates => f.bad_dates(),
            newest => newest,
            poll_ms => state.config.web.queue_refresh_seconds.clamp(1, 3600) * 1000,
            saved => saved,
            row_tags => row_tags,
            all_tags => all_tags,
            analysts => users::analyst_names(&mut c).await?,
            statuses => crate::domain::Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        },
    )
}

/// What `GET /cases/newer?after=N` is asked.
#[derive(Debug, Deserialize)]
pub struct Newer {
    #[serde(default)]
    after: i64,
}

/// `GET /cases/newer?after=N`: how many cases arrived after case id N, and the newest
/// id, for the queue page's "2 new cases" notice. Polled; answers 304 while nothing
/// changed (`ETag` / `If-None-Match`).
pub async fn newer_cases(
    State(state): State<AppState>,
    PageUser(_who): PageUser,
    Query(q): Query<Newer>,
    headers: axum::http::HeaderMap,
) -> Result<Response, WebError> {
    let mut c = conn(&state).await?;
    let (newest, new) = queue::newer_than(&mut c, q.after).await?;
    let etag = format!("\"{newest}-{}\"", q.after);
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        [
            (header::ETAG, etag),
            (header::CACHE_CONTROL, "no-cache".to_string()),
        ],
        axum::Json(serde_json::json!({ "newest": newest, "new": new })),
    )
        .into_response())
}

/// A field as the case page shows it.
#[derive(Debug, Serialize)]
struct FieldView {
    name: String,
    /// The name as people read it.
    label: String,
    value: String,
    part: String,
    line: i64,
    text: String,
    message: Option<i64>,
    by_analyst: bool,
    /// The edit control: `yesno`, `choice` (with `choices`), `datetime`, `list`,
    /// `number` or `text`.
    editor: &'static str,
    choices: Vec<&'static str>,
    /// The `datetime` editor's value: America/New_York, `YYYY-MM-DDTHH:MM`.
    local: String,
    /// The `list` editor's items.
    items: Vec<String>,
}

/// The yes/no/unknown fields (incident-fields.md).
const YES_NO: [&str; 4] = [
    "personal_information",
    "law_enforcement_contacted",
    "external_communications",
    "is_ongoing",
];
const YES_NO_CHOICES: [&str; 3] = ["yes", "no", "unknown"];
const IMPACT_CHOICES: [&str; 4] = ["none", "low", "medium", "high"];

/// The edit control a field gets, by its name and its value.
fn editor_of(name: &str, value: &serde_json::Value) -> (&'static str, Vec<&'static str>) {
    match name {
        n if YES_NO.contains(&n) => ("yesno", YES_NO_CHOICES.to_vec()),
        "functional_impact" => ("choice", IMPACT_CHOICES.to_vec()),
        "detected_at" | "occurred_at" => ("datetime", Vec::new()),
        "users_affected" | "records_affected" => ("number", Vec::new()),
        "systems_affected" => ("list", Vec::new()),
        _ if value.is_array() => ("list", Vec::new()),
        _ => ("text", Vec::new()),
    }
}

/// A stored time as the `datetime-local` control shows it (America/New_York).
fn local_input(v: &serde_json::Value) -> String {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| {
            t.with_timezone(&chrono_tz::America::New_York)
                .format("%Y-%m-%dT%H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// What a typed editor posted, as the value to store: a `datetime-local` time (New
/// York) with its offset, yes/no/unknown and the impact levels checked, a number, the
/// list's kept items and the ones added (comma or line separated).
fn typed_value(
    editor: &str,
    field: &str,
    form: &std::collections::HashMap<String, String>,
) -> Result<serde_json::Value, String> {
    use chrono::TimeZone;
    let value = form.get("value").map(|v| v.trim()).unwrap_or("");
    match editor {
        "datetime" => {
            let naive = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
                .map_err(|_| format!("'{value}' is not a date and time; pick one in the control (YYYY-MM-DD HH:MM)"))?;
            let t = chrono_tz::America::New_York
                .from_local_datetime(&naive)
                .earliest()
                .ok_or_else(|| {
                    format!("{value} does not exist in New York (the clocks skip it)")
                })?;
            Ok(serde_json::Value::String(t.fixed_offset().to_rfc3339()))
        }
        "yesno" | "choice" => {
            let allowed: &[&str] = if editor == "yesno" {
                &YES_NO_CHOICES
            } else {
                &IMPACT_CHOICES
            };
            if allowed.contains(&value) {
                Ok(serde_json::Value::String(value.to_string()))
            } else {
                Err(format!("{field} is one of {}", allowed.join(", ")))
            }
        }
        "number" => value
            .replace(',', "")
            .parse::<u64>()
            .map(serde_json::Value::from)
            .map_err(|_| format!("{field} is a whole number (e.g. 40)")),
        "list" => {
            let mut kept: Vec<(usize, &str)> = form
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("keep_")?.parse().ok()?, v.as_str())))
                .collect();
            kept.sort();
            let mut items: Vec<String> = kept
                .into_iter()
                .map(|(_, v)| v.trim().to_string())
                .collect();
            let added = form.get("add").map(String::as_str).unwrap_or("");
            for a in added
                .split([',', '\n', ';'])
                .map(str::trim)
                .filter(|a| !a.is_empty())
            {
                if !items.iter().any(|i| i == a) {
                    items.push(a.to_string());
                }
            }
            items.retain(|i| !i.is_empty());
            if items.len() > 200 {
                return Err(format!("{field} keeps at most 200 items"));
            }
            Ok(serde_json::Value::from(items))
        }
        _ => Err(format!("'{editor}' is not an editor")),
    }
}

fn display_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn field_views(fields: &serde_json::Value) -> Vec<FieldView> {
    let Some(map) = fields.as_object() else {
        return Vec::new();
    };
    map.iter()
        .map(|(name, f)| {
            let src = &f["source"];
            let part = src["part"].as_str().unwrap_or("").to_string();
            let (editor, choices) = editor_of(name, &f["value"]);
            let items = match &f["value"] {
                serde_json::Value::Array(a) => a.iter().map(display_value).collect(),
                _ => Vec::new(),
            };
            FieldView {
                editor,
                choices,
                local: local_input(&f["value"]),
                items,
                name: name.clone(),
                label: crate::extract::fields::human_label(name),
                value: display_value(&f["value"]),
                by_analyst: part == "analyst",
                part,
                line: src["line"].as_i64().unwrap_or(0),
                text: src["text"].as_str().unwrap_or("").to_string(),
                message: src["message"].as_i64(),
            }
        })
        .collect()
}

/// One entry of the case's timeline.
#[derive(Debug, Serialize)]
struct TimelineEntry {
    at: String,
    /// event | inbound | outbound
    what: &'static str,
    title: String,
    /// The event kind (`severity_changed`), for events.
    kind: String,
    actor: String,
    detail: Vec<(String, String)>,
    message: Option<i64>,
}

impl TimelineEntry {
    /// Same instant: the message that caused it, then the events, then the mail queued.
    fn rank(&self) -> u8 {
        match self.what {
            "inbound" => 0,
            "event" => 1,
            _ => 2,
        }
    }
}

/// One action and what it caused: the entries of one instant (one transaction), led by
/// the message that came in, else the analyst's own step, else the first entry.
#[derive(Debug, Serialize)]
struct TimelineGroup {
    lead: TimelineEntry,
    rest: Vec<TimelineEntry>,
}

/// The events that name a whole step (its other events are what it did).
const STEPS: [&str; 6] = [
    "case_triaged",
    "case_closed",
    "triage_undone",
    "opened_from_quarantine",
    "case_merged",
    "merged_into",
];

/// The sorted timeline as groups of one instant each.
fn group_timeline(entries: Vec<TimelineEntry>) -> Vec<TimelineGroup> {
    let mut runs: Vec<Vec<TimelineEntry>> = Vec::new();
    for e in entries {
        match runs.last_mut() {
            Some(run) if run[0].at == e.at => run.push(e),
            _ => runs.push(vec![e]),
        }
    }
    runs.into_iter()
        .map(|mut run| {
            let lead = run
                .iter()
                .position(|e| e.what == "inbound")
                .or_else(|| run.iter().position(|e| STEPS.contains(&e.kind.as_str())))
                .or_else(|| run.iter().position(|e| e.actor.starts_with("analyst:")))
                .unwrap_or(0);
            let lead = run.remove(lead);
            TimelineGroup { lead, rest: run }
        })
        .collect()
}

/// What the reporter said happened (the description field), cut to a screenful, for
/// the top of the case page.
fn reporter_words(d: &cases::CaseDetail) -> Option<String> {
    let text = d.fields.get("description")?.get("value")?.as_str()?.trim();
    if text.is_empty() {
        return None;
    }
    let mut cut: String = text.chars().take(1200).collect();
    if cut.len() < text.len() {
        cut.push_str(" …");
    }
    Some(cut)
}

/// An event kind as a title: "SCIO update queued" for `scio_update_queued`.
fn event_title(kind: &str) -> String {
    let t = crate::notify::label(kind);
    let t = t
        .strip_prefix("Ack ")
        .map(|rest| format!("Acknowledgement {rest}"))
        .unwrap_or(t);
    t.replacen("Scio ", "SCIO ", 1).replacen("Soc ", "SOC ", 1)
}

/// An inbound message in the timeline, as a sentence: "Report from a@b.gov".
fn inbound_title(kind: &str, from: Option<&str>) -> String {
    let what = match kind {
        "report" => "Report",
        "reply" => "Reply",
        "auto_reply" => "Automatic reply",
        "bounce" => "Bounce (our mail was not delivered)",
        "bulk" => "Bulk mail",
        other => {
            return format!(
                "{} from {}",
                crate::notify::label(other),
                from.unwrap_or("an unknown sender")
            )
        }
    };
    format!("{what} from {}", from.unwrap_or("an unknown sender"))
}

/// An outbound message in the timeline, as a sentence: "Acknowledgement to a@b.gov:
/// sent".
fn outbound_title(kind: &str, to: &str, status: &str) -> String {
    let what = match kind {
        "ack" => "Acknowledgement".to_string(),
        "followup" => "Follow-up".to_string(),
        "reminder" => "Reminder for missing details".to_string(),
        "receipt" => "Receipt".to_string(),
        "scio_new" => "New-incident notice to the SCIO thread".to_string(),
        "scio_update" => "SCIO status update".to_string(),
        "scio_copy" => "Copy of an SCIO update".to_string(),
        "escalation" => "Escalation notice".to_string(),
        "soc_notice" => "SOC notice".to_string(),
        "closure" => "Closing message".to_string(),
        other => crate::notify::label(other),
    };
    let state = match status {
        "pending" => "queued",
        "held" => "held for review",
        "in_doubt" => "sent? (the server's answer was lost)",
        other => other,
    };
    format!("{what} to {to}: {state}")
}

/// An event's detail as `key: value` lines.
fn detail_lines(detail: &serde_json::Value) -> Vec<(String, String)> {
    match detail {
        serde_json::Value::Object(o) => o
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), display_value(v)))
            .collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![(String::new(), display_value(other))],
    }
}

/// The case page's query: `done` is the confirmation of the action just taken.
#[derive(Debug, Default, Deserialize)]
pub struct CaseQuery {
    #[serde(default)]
    done: Option<String>,
    /// The section the action was taken in (`indicators`; else the actions).
    #[serde(default)]
    at: Option<String>,
}

impl CaseQuery {
    /// The confirmation to show, cut to a sane length (it comes from the address bar).
    fn done(&self) -> Option<String> {
        self.done
            .as_deref()
            .map(|d| d.chars().take(600).collect::<String>())
            .filter(|d| !d.trim().is_empty())
    }
}

pub async fn case(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Path(tid): Path<String>,
    Query(q): Query<CaseQuery>,
) -> Result<Html<String>, WebError> {
    let tid = tracking_id(&tid)?;
    let mut c = conn(&state).await?;
    let d = cases::detail(&mut c, &tid).await?;
    // A campaign's later reports are listed in its panel, not each in full: the page
    // of a case reported by 2,000 people stays a page.
    let campaign = &d.campaign;
    let folded: std::collections::HashSet<i64> =
        crate::store::campaigns::later_reports(&mut c, d.case.id, CAMPAIGN_SHOWN_IN_FULL)
            .await?
            .into_iter()
            .collect();
    // The acknowledgements of folded reports, and what their sending recorded, are
    // folded with them (the first ones stay, as the first reports do).
    let hidden_outbox: std::collections::HashSet<i64> = if folded.is_empty() {
        Default::default()
    } else {
        d.outbox
            .iter()
            .filter(|o| o.kind == crate::domain::OutboxKind::Ack.as_str())
            .skip(CAMPAIGN_SHOWN_IN_FULL as usize)
            .map(|o| o.id)
            .collect()
    };
    let mut timeline: Vec<TimelineEntry> = Vec::new();
    for e in &d.events {
        if e.row.message_row_id.is_some_and(|m| folded.contains(&m))
            || e.row.outbox_id.is_some_and(|o| hidden_outbox.contains(&o))
        {
            continue;
        }
        timeline.push(TimelineEntry {
            at: e.row.at.clone(),
            what: "event",
            title: crate::notify::describe(&e.row.kind, &e.detail)
                .unwrap_or_else(|| event_title(&e.row.kind)),
            kind: e.row.kind.clone(),
            actor: e.row.actor.clone(),
            detail: detail_lines(&e.detail),
            message: e.row.message_row_id,
        });
    }
    let mut bodies = Vec::new();
    let shown: Vec<i64> = d
        .messages
        .iter()
        .map(|m| m.id)
        .filter(|id| !folded.contains(id))
        .collect();
    let mut raws = messages::inline_raws(&mut c, &shown).await?;
    for m in &d.messages {
        if folded.contains(&m.id) {
            continue;
        }
        timeline.push(TimelineEntry {
            at: m.received_at.clone(),
            what: "inbound",
            title: inbound_title(&m.kind, m.from_addr.as_deref()),
            kind: String::new(),
            actor: m.from_addr.clone().unwrap_or_default(),
            detail: vec![("subject".into(), m.subject.clone().unwrap_or_default())],
            message: Some(m.id),
        });
        let raw = match raws.remove(&m.id) {
            Some(raw) => raw,
            None => messages::raw(&mut c, m.id).await?.unwrap_or_default(),
        };
        let notes: Vec<String> = serde_json::from_str(&m.parse_notes_json).unwrap_or_default();
        let body = safe_body_in_budget(raw, state.config.gateway.analysis_timeout_secs).await;
        bodies.push(minijinja::context! { message => m, body => body, notes => notes });
    }
    for o in d.outbox.iter().filter(|o| !hidden_outbox.contains(&o.id)) {
        timeline.push(TimelineEntry {
            at: o.created_at.clone(),
            what: "outbound",
            title: outbound_title(&o.kind, &o.recipient, &o.status),
            kind: String::new(),
            actor: "gateway".into(),
            detail: vec![("subject".into(), o.subject.clone())],
            message: None,
        });
    }
    timeline.sort_by(|a, b| a.at.cmp(&b.at).then(a.rank().cmp(&b.rank())));
    let timeline = group_timeline(timeline);
    let folded_reports = folded.len();
    let removed = crate::store::sharing::removed_indicators(&mut c, d.case.id).await?;
    let listed: Vec<(String, String, bool)> = d
        .iocs
        .as_object()
        .map(|o| {
            o.iter()
                .flat_map(|(kind, vals)| {
                    vals.as_array()
                        .into_iter()
                        .flatten()
                        .map(move |v| (kind.clone(), display_value(v)))
                })
                .map(|(k, v)| {
                    let gone = removed.contains(&(k.clone(), v.clone()));
                    (k, v, gone)
                })
                .collect()
        })
        .unwrap_or_default();
    // Each indicator with the other cases it appears in (linked to a search for it).
    let notes = crate::store::sharing::removal_notes(&mut c, d.case.id).await?;
    let mut iocs = Vec::with_capacity(listed.len());
    for (kind, value, gone) in listed {
        let seen = queue::other_cases_mentioning(&mut c, &value, d.case.id).await?;
        let search = format!("/cases?view=all&q={}", percent_encode(&value));
        let note = notes
            .get(&(kind.clone(), value.clone()))
            .map(|(by, why)| {
                if why.is_empty() {
                    format!("by {by}")
                } else {
                    format!("by {by}: {why}")
                }
            })
            .unwrap_or_default();
        iocs.push((kind, value, gone, seen, search, note));
    }
    let tlp = crate::store::sharing::tlp(&mut c, d.case.id).await?;
    let missing: Vec<String> = serde_json::from_value(d.missing.clone()).unwrap_or_default();
    let analysts = users::analyst_names(&mut c).await?;
    let done = q.done();
    let mut attachments = Vec::with_capacity(d.attachments.len());
    for a in &d.attachments {
        let preview = preview_kind(a);
        // A text attachment's first lines, shown as text (escaped), never rendered.
        let text = if preview == "text" && a.size <= TEXT_PREVIEW_MAX_BYTES {
            messages::attachment_data(&mut c, &a.sha256)
                .await?
                .map(|b| text_excerpt(&b))
        } else if preview == "pdf" && a.size <= crate::extract::pdf::MAX_INPUT as i64 {
            match messages::attachment_data(&mut c, &a.sha256).await? {
                Some(b) => Some(pdf_excerpt(b, state.config.gateway.analysis_timeout_secs).await),
                None => None,
            }
        } else {
            None
        };
        attachments.push(minijinja::context! { a => a, preview => preview, text => text });
    }
    let now = chrono::Utc::now();
    // The analyst's own triage still within its undo window, if any.
    let undo = if who.user.role == users::Role::Analyst {
        state
            .actions
            .undoable_triage(&tid, super::actions::by(&who), now)
            .await?
            .map(|(event, until)| {
                minijinja::context! {
                    event => event,
                    until => crate::store::ts(until),
                    seconds => (until - now).num_seconds().max(1),
                }
            })
    } else {
        None
    };
    let timers = super::timer_views(
        &super::timers_of(&mut c, &state.config, &[&d.case], now).await?,
        now,
    )
    .pop();
    render(
        "case.html",
        minijinja::context! {
            who => who_ctx(&who),
            timers => timers,
            case => d.case,
            fields => field_views(&d.fields),
            missing => missing,
            iocs => iocs,
            tlp => tlp.unwrap_or(state.config.sharing.default_tlp).as_str(),
            tlp_is_default => tlp.is_none(),
            analysts => analysts,
            done => done,
            ioc_kinds => crate::extract::iocs::KINDS,
            done_at => match q.at.as_deref() { Some("indicators") => "indicators", Some("campaign") => "campaign", _ => "actions" },
            undo => undo,
            tlps => crate::domain::Tlp::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            assessment => d.assessment,
            attachments => attachments,
            bodies => bodies,
            campaign => (campaign.reports > 1).then(|| campaign_view(campaign)),
            folded_reports => folded_reports,
            outbox => d.outbox,
            timeline => timeline,
            flags => d.flags,
            tags => cases::tags(&mut c, d.case.id).await?,
            reporter_words => reporter_words(&d),
            report_message => d.messages.iter().find(|m| m.kind == "report").map(|m| m.id),
            links => d.links,
            merged_into => d.merged_into,
            all_flags => crate::domain::Flag::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            statuses => crate::domain::Status::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            severities => crate::domain::Severity::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            priorities => crate::domain::Priority::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        },
    )
}

/// Reports of a campaign shown in full (body and timeline entry); later ones are
/// folded into the campaign panel.
const CAMPAIGN_SHOWN_IN_FULL: i64 = 10;

/// The campaign panel: counts, agencies, reports per minute (as bars), the reports.
fn campaign_view(c: &crate::store::campaigns::Summary) -> minijinja::Value {
    let peak = c
        .per_minute
        .iter()
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(1)
        .max(1);
    let minutes: Vec<minijinja::Value> = c
        .per_minute
        .iter()
        .map(|(minute, n)| {
            let local = crate::store::parse_ts(&format!("{minute}:00Z"))
                .map(crate::outbound::template::local_time)
                .unwrap_or_else(|| minute.clone());
            minijinja::context! { minute => local, n => n, width => (n * 100 / peak).max(1) }
        })
        .collect();
    minijinja::context! {
        reports => c.reports,
        people => c.people,
        agencies => c.agencies,
        agency_count => c.agencies.len(),
        minutes => minutes,
        list => c.list,
        unlisted => c.reports - c.list.len() as i64,
        answer => c.answer,
        first_row => c.first_row,
    }
}

/// `POST /cases/{tid}/fields`: `csrf`, `field`, `value`; a typed editor adds `editor`
/// (see [`typed_value`]) and, for a list, `keep_N` and `add`.
pub async fn set_field(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Path(tid): Path<String>,
    Form(f): Form<std::collections::HashMap<String, String>>,
) -> Result<Response, WebError> {
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    who.may_change(get("csrf"))?;
    let tid = tracking_id(&tid)?;
    let field = get("field").trim().to_string();
    let editor = get("editor");
    let value = if editor.is_empty() || editor == "text" {
        let raw = get("value").trim();
        if raw.is_empty() {
            return Err(WebError::BadRequest(format!(
                "Give a value for {field}: an empty value is not saved."
            )));
        }
        // As `case set-field`: a JSON value when it parses as one, text otherwise.
        serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.to_string()))
    } else {
        typed_value(editor, &field, &f).map_err(WebError::BadRequest)?
    };
    state
        .actions
        .set_field(&tid, &field, value, super::actions::by(&who), Utc::now())
        .await?;
    tracing::info!(user = %who.user.name, case = %tid, field = %field, "field set in the web UI");
    Ok(Redirect::to(&format!("/cases/{tid}#fields")).into_response())
}

/// A file name safe inside a quoted header parameter, plus its RFC 5987 form.
fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '(' | ')') {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    let ascii = if ascii.trim().is_empty() {
        "attachment.bin".to_string()
    } else {
        ascii
    };
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        percent_encode(name)
    )
}

pub(super) fn download(bytes: Vec<u8>, content_type: &'static str, name: &str) -> Response {
    let mut res = (StatusCode::OK, bytes).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&disposition(name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    } else {
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment"),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// A kept attachment of this case (only of this case, by its hash) and its bytes.
async fn case_attachment(
    state: &AppState,
    tid: &str,
    sha256: &str,
) -> Result<(messages::AttachmentRow, Vec<u8>), WebError> {
    let tid = tracking_id(tid)?;
    let mut c = conn(state).await?;
    let case = cases::by_tracking_id(&mut c, &tid)
        .await?
        .ok_or(WebError::NotFound)?;
    let att = messages::attachments_for_case(&mut c, case.id)
        .await?
        .into_iter()
        .find(|a| a.sha256 == sha256 && a.kept)
        .ok_or(WebError::NotFound)?;
    let data = messages::attachment_data(&mut c, &att.sha256)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok((att, data))
}

pub async fn attachment(
    State(state): State<AppState>,
    PageUser(_who): PageUser,
    Path((tid, sha256)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (att, data) = case_attachment(&state, &tid, &sha256).await?;
    Ok(download(
        data,
        "application/octet-stream",
        att.name.as_deref().unwrap_or("attachment.bin"),
    ))
}

/// The image type the bytes themselves are (PNG, JPEG, GIF, WebP), whatever the sender
/// claimed; anything else (SVG, which can carry script, included) is not previewed.
pub(super) fn image_type(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// What the case page can show of an attachment without opening it.
pub(super) fn preview_kind(a: &messages::AttachmentRow) -> &'static str {
    let t = a.media_type.to_ascii_lowercase();
    if !a.kept {
        ""
    } else if matches!(
        t.as_str(),
        "image/png" | "image/jpeg" | "image/jpg" | "image/gif" | "image/webp"
    ) {
        "image"
    } else if t.starts_with("text/") && t != "text/html" {
        "text"
    } else if t == "application/pdf" {
        "pdf"
    } else {
        ""
    }
}

/// Text attachments up to this size get their first lines shown on the case page.
const TEXT_PREVIEW_MAX_BYTES: i64 = 1 << 20;

/// The first 40 lines (at most 4,000 characters) of a text attachment.
fn text_excerpt(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(16_384)]);
    let mut out: String = s.lines().take(40).collect::<Vec<_>>().join("\n");
    if out.chars().count() > 4000 {
        out = out.chars().take(4000).collect();
    }
    out
}

/// A PDF attachment's first page as text (read on the blocking pool, within the
/// analysis budget), or why it cannot be shown.
async fn pdf_excerpt(b: Vec<u8>, secs: u64) -> String {
    let read =
        crate::extract::bounds::in_budget(secs, move || crate::extract::pdf::first_page_text(&b))
            .await;
    match read {
        Ok(Ok(text)) => text,
        Ok(Err(why)) => format!("(No preview: {why}.)"),
        Err(why) => format!("(No preview: reading it failed: {why}.)"),
    }
}

/// The most of an image the preview serves; larger ones are downloaded.
const PREVIEW_MAX: usize = 16 << 20;

/// `GET /cases/{tid}/attachments/{sha256}/preview`: an image shown inline, only when its
/// bytes are a PNG, JPEG, GIF or WebP; served with its sniffed type, `nosniff` and a
/// sandboxing policy, so nothing in it runs even when opened on its own.
pub async fn attachment_preview(
    State(state): State<AppState>,
    PageUser(_who): PageUser,
    Path((tid, sha256)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (_, data) = case_attachment(&state, &tid, &sha256).await?;
    let Some(kind) = image_type(&data).filter(|_| data.len() <= PREVIEW_MAX) else {
        return Err(WebError::BadRequest(
            "This attachment has no preview (it is not a PNG, JPEG, GIF or WebP image, or it is over 16 MB): download it instead.".into(),
        ));
    };
    let mut res = (StatusCode::OK, data).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    Ok(res)
}

pub async fn raw_message(
    State(state): State<AppState>,
    PageUser(_who): PageUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let mut c = conn(&state).await?;
    let raw = messages::raw(&mut c, id).await?.ok_or(WebError::NotFound)?;
    Ok(download(
        raw,
        "message/rfc822",
        &format!("message-{id}.eml"),
    ))
}

/// `/quarantine?dismissed=1` lists what analysts called not an incident.
#[derive(Debug, Default, Deserialize)]
pub struct QuarantineQuery {
    #[serde(default)]
    dismissed: Option<String>,
}

pub async fn quarantine(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Query(q): Query<QuarantineQuery>,
) -> Result<Html<String>, WebError> {
    let dismissed = q
        .dismissed
        .as_deref()
        .is_some_and(|d| !d.is_empty() && d != "0");
    let mut c = conn(&state).await?;
    let rows = messages::quarantine(&mut c, 200, dismissed).await?;
    let counts = messages::quarantine_counts(&mut c).await?;
    let unverified = messages::unverified(&mut c, 200).await?;
    render(
        "quarantine.html",
        minijinja::context! {
            who => who_ctx(&who), messages => rows, unverified => unverified,
            dismissed => dismissed, counts => [counts.0, counts.1],
        },
    )
}

/// `GET /messages/{id}`: one stored message read safely (headers, the sanitised body,
/// its attachments), and for analysts the quarantine's decisions on it.
pub async fn message(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    message_page(&state, &who, id, None).await
}

/// The message page, with `error` (a refused decision) shown above the decisions.
pub(super) async fn message_page(
    state: &AppState,
    who: &Who,
    id: i64,
    error: Option<String>,
) -> Result<Html<String>, WebError> {
    let mut c = conn(state).await?;
    let m = messages::by_id(&mut c, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let case_tid = match m.case_id {
        Some(case_id) => cases::tracking_id(&mut c, case_id).await?,
        None => None,
    };
    let raw = messages::raw(&mut c, id).await?.unwrap_or_default();
    drop(c);
    let body = safe_body_in_budget(raw, state.config.gateway.analysis_timeout_secs).await;
    let notes: Vec<String> = serde_json::from_str(&m.parse_notes_json).unwrap_or_default();
    let attachments: serde_json::Value =
        serde_json::from_str(&m.attachments_json).unwrap_or_default();
    let ackable = crate::actions::acknowledge_by_default(&m.kind);
    render(
        "message.html",
        minijinja::context! {
            who => who_ctx(who), b => minijinja::context! { body => body }, notes => notes,
            attachments => attachments, case_tid => case_tid, ackable => ackable,
            error => error, m => m,
        },
    )
}

pub async fn outbound(
    State(state): State<AppState>,
    PageUser(who): PageUser,
) -> Result<Html<String>, WebError> {
    let mut c = conn(&state).await?;
    let rows = outbox::list(&mut c, Some("held"), 200).await?;
    // Every held message's case, in one query.
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.case_id).collect();
    let tracking = cases::tracking_ids(&mut c, &ids).await?;
    let items: Vec<minijinja::Value> = rows
        .into_iter()
        .map(|r| {
            let t = r.case_id.and_then(|id| tracking.get(&id).cloned());
            minijinja::context! { row => r, tracking_id => t }
        })
        .collect();
    render(
        "outbound.html",
        minijinja::context! { who => who_ctx(&who), items => items },
    )
}

/// `POST /outbound/{id}/release` and `/outbound/{id}/drop`: an analyst's decision on
/// held mail.
pub async fn decide_held(
    State(state): State<AppState>,
    PageUser(who): PageUser,
    Path((id, decision)): Path<(i64, String)>,
    Form(f): Form<super::auth::CsrfForm>,
) -> Result<Response, WebError> {
    who.may_change(&f.csrf)?;
    let release = match decision.as_str() {
        "release" => true,
        "drop" => false,
        _ => return Err(WebError::NotFound),
    };
    state
        .actions
        .decide_held(id, release, super::actions::by(&who), Utc::now())
        .await?;
    tracing::info!(user = %who.user.name, outbox = id, release, "held mail decided in the web UI");
    Ok(Redirect::to("/outbound").into_response())
}
