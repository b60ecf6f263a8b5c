//! What analysts do to a case, from the CLI or the web UI. Each action is one write
//! transaction: the change, its event, and the mail it causes (SCIO update,
//! escalation notices) are committed together or not at all.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::SqliteConnection;

use crate::domain::{EmailAddress, EventKind, Flag, Priority, Severity, Status, Tlp, TrackingId};
use crate::export::{self, Format, Scope, Sharer};
use crate::notify::{describe, Change, Notifier, NotifyError, Sent};
use crate::store::cases::{self, Attribute, CaseRow};
use crate::store::queue::QueueFilter;
use crate::store::sharing::{self, Narrow};
use crate::store::users::{self, AuditEntry};
use crate::store::{self, outbox, NewEvent, Store, StoreError};

/// What an action did, for the CLI and the web UI to show.
/// Why an analyst's action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The action is not allowed in the case's state, or its input is not usable: the
    /// message says which and what to do instead.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ActionError {
    /// True when retrying later may succeed (the database was busy or unreachable).
    pub fn is_transient(&self) -> bool {
        match self {
            ActionError::Store(e) => e.is_transient(),
            ActionError::Notify(e) => e.is_transient(),
            ActionError::Refused(_) => false,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Outcome {
    pub tracking_id: String,
    /// One line for people.
    pub summary: String,
    /// Outbox rows queued (SCIO update, copies, escalation notices).
    pub queued: Vec<i64>,
    /// Why no SCIO update went, when one would have.
    pub scio_note: Option<String>,
}

/// Resolving or closing a case: to which status, how it ended, and whether the
/// reporter is told.
#[derive(Debug, Clone, Copy)]
pub struct Closing<'a> {
    pub status: Status,
    pub resolution: &'a str,
    pub tell_reporter: bool,
}

/// What merging one case would send (see [`Actions::preview_merge`]).
pub struct MergePreview {
    pub tracking_id: String,
    pub reporter: Result<crate::notify::ReporterMail, String>,
    /// The line to the merged case's own SCIO thread, when it has one.
    pub into_line: Option<String>,
    /// The line to the surviving case's SCIO thread, when it has one.
    pub from_line: Option<String>,
}

/// Whether opening a case from a quarantined message of `kind` acknowledges its sender
/// unless the analyst says otherwise: mail that machines send (bounces, auto-replies,
/// bulk) is not answered unless asked; an unparseable message has no one to answer.
pub fn acknowledge_by_default(kind: &str) -> bool {
    kind == "report" || kind == "reply"
}

/// The line a merged case's own SCIO thread gets.
fn merged_into_line(into: &str) -> String {
    format!("Merged into {into}: this case's updates continue on that case's thread.")
}

/// The line the surviving case's SCIO thread gets for each case merged in.
fn merged_from_line(source: &CaseRow) -> String {
    format!(
        "{} ({}) was merged into this case.",
        source.tracking_id, source.subject
    )
}

/// What closing would send (see [`Actions::preview_close`]).
pub struct ClosePreview {
    pub scio: Result<(Vec<crate::routing::Contact>, crate::outbound::Rendered), String>,
    pub reporter: Result<crate::notify::ReporterMail, String>,
}

/// The resolution, trimmed; refused when the status is not an end or there is none.
fn closing_resolution<'a>(c: &Closing<'a>) -> Result<&'a str, ActionError> {
    if !matches!(c.status, Status::Resolved | Status::Closed) {
        return Err(ActionError::Refused(format!(
            "'{}' does not end a case: close it as resolved or closed",
            c.status.as_str()
        )));
    }
    let r = c.resolution.trim();
    if r.is_empty() {
        return Err(ActionError::Refused(
            "a resolution is needed: say what was found and what was done".into(),
        ));
    }
    if r.chars().count() > 4000 {
        return Err(ActionError::Refused(
            "the resolution is longer than 4,000 characters: shorten it, and put the detail in a note".into(),
        ));
    }
    Ok(r)
}

/// The SCIO update's content when `case` moves to `status` with `resolution`.
fn closing_change(
    case: &CaseRow,
    status: Status,
    resolution: &str,
    actor: &str,
) -> Result<Change, ActionError> {
    if case.status == status {
        return Err(ActionError::Refused(format!(
            "the case is already {}",
            status.as_str()
        )));
    }
    case.status
        .can_move_to(status)
        .map_err(ActionError::Refused)?;
    let detail = serde_json::json!({ "old": case.status.as_str(), "new": status.as_str() });
    Ok(Change {
        lines: describe(EventKind::StatusChanged.as_str(), &detail)
            .into_iter()
            .collect(),
        message: Some(format!("**Resolution:** {resolution}")),
        cause: EventKind::CaseClosed.as_str().into(),
        actor: actor.to_string(),
        ..Change::default()
    })
}

/// Analyst actions on cases.
#[derive(Clone)]
pub struct Actions {
    store: Store,
    notifier: Notifier,
}

impl Actions {
    pub fn new(store: Store, notifier: Notifier) -> Self {
        Self { store, notifier }
    }

    /// Actions over the configured directory, read now (the CLI; the web UI's tests).
    pub fn open(
        store: Store,
        config: std::sync::Arc<crate::config::Config>,
    ) -> Result<Self, crate::routing::DirectoryError> {
        let directory = crate::routing::DirectoryHandle::open(config.gateway.directory.clone())?;
        Ok(Self::new(store, Notifier::new(config, directory)))
    }

    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Moves the case through its lifecycle; the SCIO thread hears of it.
    pub async fn set_status(
        &self,
        id: &TrackingId,
        status: Status,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        self.set(
            id,
            Attribute::Status,
            Some(status.as_str()),
            Some(status),
            by,
            now,
        )
        .await
    }

    /// Sets the severity; the SCIO thread hears of it, and the rhythm follows it.
    pub async fn set_severity(
        &self,
        id: &TrackingId,
        severity: Severity,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        self.set(
            id,
            Attribute::Severity,
            Some(severity.as_str()),
            None,
            by,
            now,
        )
        .await
    }

    pub async fn set_priority(
        &self,
        id: &TrackingId,
        priority: Priority,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        self.set(
            id,
            Attribute::Priority,
            Some(priority.as_str()),
            None,
            by,
            now,
        )
        .await
    }

    /// Assigns the case to an analyst (`None`: unassigns).
    pub async fn assign(
        &self,
        id: &TrackingId,
        assignee: Option<&str>,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let assignee = assignee.map(str::trim).filter(|a| !a.is_empty());
        self.set(id, Attribute::Assignee, assignee, None, by, now)
            .await
    }

    /// One attribute change in its own transaction; `moving_to` is checked against
    /// the lifecycle first.
    async fn set(
        &self,
        id: &TrackingId,
        attr: Attribute,
        value: Option<&str>,
        moving_to: Option<Status>,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let mut tx = self.store.begin_write().await?;
        let case = load(&mut tx, id).await?;
        if let Some(to) = moving_to {
            let current = case.status;
            current.can_move_to(to).map_err(ActionError::Refused)?;
        }
        let out = self
            .change_attribute(&mut tx, &case, attr, value, by, now)
            .await?;
        commit_audited(
            tx,
            by,
            attr.event().as_str(),
            Some(case.id),
            serde_json::json!({ "value": value, "summary": out.summary }),
            now,
        )
        .await?;
        Ok(out)
    }

    /// Triage in one step: severity, priority, assignee, status and an optional note
    /// to the SCIO thread, in ONE transaction. Each changed attribute records its own
    /// event (as the single actions do) and one `case_triaged` event lists them all;
    /// at most one SCIO update is queued, carrying every change and the note.
    /// Values equal to the current ones are left alone; nothing to change is refused.
    pub async fn triage(
        &self,
        id: &TrackingId,
        t: &Triage,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let actor = by.actor();
        let note = t.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
        let mut tx = self.store.begin_write().await?;
        let case = load(&mut tx, id).await?;
        let assignee = t
            .assignee
            .as_ref()
            .map(|a| a.as_deref().map(str::trim).filter(|a| !a.is_empty()));
        let mut wanted: Vec<(Attribute, Option<&str>)> = Vec::new();
        if let Some(s) = t.severity {
            if case.severity.as_deref() != Some(s.as_str()) {
                wanted.push((Attribute::Severity, Some(s.as_str())));
            }
        }
        if let Some(p) = t.priority {
            if case.priority.as_deref() != Some(p.as_str()) {
                wanted.push((Attribute::Priority, Some(p.as_str())));
            }
        }
        if let Some(a) = assignee {
            if case.assignee.as_deref() != a {
                if let Some(name) = a {
                    if !users::analyst_names(&mut tx)
                        .await?
                        .iter()
                        .any(|n| n == name)
                    {
                        return Err(ActionError::Refused(format!(
                            "'{name}' is not an analyst account: pick one from the list"
                        )));
                    }
                }
                wanted.push((Attribute::Assignee, a));
            }
        }
        if let Some(s) = t.status {
            if case.status != s {
                case.status.can_move_to(s).map_err(ActionError::Refused)?;
                wanted.push((Attribute::Status, Some(s.as_str())));
            }
        }
        if wanted.is_empty() && note.is_none() {
            return Err(ActionError::Refused(
                "nothing to triage: every value is the current one and there is no note".into(),
            ));
        }
        let mut lines = Vec::new();
        let mut changes = Vec::new();
        let mut shown = Vec::new();
        for (attr, value) in &wanted {
            let old = cases::set_attribute(&mut tx, case.id, *attr, *value, &actor, now).await?;
            let old_raw = old.clone();
            let shown_old = shown_old(&case, *attr, old);
            let detail = serde_json::json!({ "old": shown_old, "new": value });
            if matches!(attr, Attribute::Status | Attribute::Severity) {
                lines.extend(describe(attr.event().as_str(), &detail));
            }
            let name = attr_name(*attr);
            shown.push(format!("{name} {}", value.unwrap_or("unassigned")));
            changes.push(serde_json::json!({ "attribute": name, "old": shown_old, "was": old_raw, "new": value }));
            if *attr == Attribute::Severity && *value == Some(Severity::Critical.as_str()) {
                store::record_event(
                    &mut tx,
                    NewEvent::system(case.id, now, EventKind::MajorIncidentSuggested, serde_json::json!({
                        "reason": "severity is critical; declare it with: case flag <ID> major_incident",
                    })),
                )
                .await?;
            }
        }
        let mut queued = Vec::new();
        let mut scio_note = None;
        if !lines.is_empty() || note.is_some() {
            let change = Change {
                lines,
                message: note.map(str::to_string),
                cause: EventKind::CaseTriaged.as_str().into(),
                actor: actor.clone(),
                ..Change::default()
            };
            match self
                .notifier
                .scio_update(&mut tx, case.id, &change, now)
                .await?
            {
                Sent::Queued { outbox_id, .. } => queued.push(outbox_id),
                Sent::NoAudience(why) => scio_note = Some(format!("no SCIO update: {why}")),
            }
        }
        let scio_updates = queued.len();
        // The SOC's own notices, as for the single changes: on-call once the severity
        // reaches the threshold, the assignee once.
        for (attr, value) in &wanted {
            match (attr, value) {
                (Attribute::Severity, _) => {
                    queued.extend(self.notifier.soc_new_case(&mut tx, case.id, now).await?)
                }
                (Attribute::Assignee, Some(name)) => queued.extend(
                    self.notifier
                        .soc_assigned(&mut tx, case.id, name, &actor, now)
                        .await?,
                ),
                _ => {}
            }
        }
        if note.is_some() {
            shown.push("note to the SCIO".into());
        }
        let undo_until = t
            .undo_for
            .filter(|d| *d > chrono::Duration::zero())
            .map(|d| now + d);
        // Everything this triage wrote to the outbox: the SCIO update, the SOC's mail
        // and its chat posts; held for the undo window, and what an undo withdraws.
        let written = outbox::written_at(&mut tx, case.id, now).await?;
        if let Some(until) = undo_until {
            outbox::hold_until(&mut tx, &written, until).await?;
        }
        let detail = serde_json::json!({
            "changes": changes, "note": note, "outbox": written,
            "undo_until": undo_until.map(store::ts),
        });
        commit_recorded(tx, case.id, by, EventKind::CaseTriaged, detail, now).await?;
        Ok(Outcome {
            tracking_id: case.tracking_id,
            summary: format!(
                "Triaged: {} — {} SCIO update queued",
                shown.join(", "),
                scio_updates
            ),
            queued,
            scio_note,
        })
    }

    /// The triage `by` made last on the case that can still be undone at `now`: its
    /// event id and the end of its window.
    pub async fn undoable_triage(
        &self,
        id: &TrackingId,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<(i64, DateTime<Utc>)>, ActionError> {
        let mut conn = self.store.acquire().await?;
        let case = load(&mut conn, id).await?;
        let Some((event, d)) =
            store::last_event_by(&mut conn, case.id, EventKind::CaseTriaged, &by.actor()).await?
        else {
            return Ok(None);
        };
        let open = undo_window(&mut conn, case.id, event, &d).await?;
        Ok(open.filter(|u| *u > now).map(|u| (event, u)))
    }

    /// Takes a triage back within its window, while nothing it queued has gone out:
    /// each value it changed returns to what it was (each its own event, as any
    /// change), the mail it queued is withdrawn, and a `triage_undone` event says so.
    /// Refused once the window is over, when a value has changed again since, or when
    /// its mail is already on its way.
    pub async fn undo_triage(
        &self,
        id: &TrackingId,
        event_id: i64,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let actor = by.actor();
        let mut tx = self.store.begin_write().await?;
        let case = load(&mut tx, id).await?;
        let refused = |why: &str| Err(ActionError::Refused(format!("cannot undo: {why}")));
        let Some((by_actor, kind, d)) = store::event_of_case(&mut tx, case.id, event_id).await?
        else {
            return refused("there is no such triage on this case");
        };
        if kind != EventKind::CaseTriaged.as_str() || by_actor != actor {
            return refused("only your own triage can be undone");
        }
        let key = event_id.to_string();
        if store::has_event_with(&mut tx, case.id, EventKind::TriageUndone, "event", &key).await? {
            return refused("it was undone already");
        }
        let until = d["undo_until"].as_str().and_then(store::parse_ts);
        if until.is_none_or(|u| u <= now) {
            return refused("the few seconds to undo it are over; change the values instead");
        }
        let queued: Vec<i64> = d["outbox"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_i64())
            .collect();
        if !outbox::withdraw(&mut tx, &queued, now).await? {
            return refused("its mail is already being sent");
        }
        let mut restored = Vec::new();
        let changes = d["changes"].as_array().cloned().unwrap_or_default();
        for c in changes.iter().rev() {
            let attr = match c["attribute"].as_str() {
                Some("status") => Attribute::Status,
                Some("severity") => Attribute::Severity,
                Some("priority") => Attribute::Priority,
                Some("assignee") => Attribute::Assignee,
                _ => continue,
            };
            let (now_value, was) = (c["new"].as_str(), c["was"].as_str());
            if current(&case, attr) != now_value {
                return refused(&format!(
                    "its {} has been changed again since",
                    attr_name(attr)
                ));
            }
            cases::set_attribute(&mut tx, case.id, attr, was, &actor, now).await?;
            restored.push(format!(
                "{} back to {}",
                attr_name(attr),
                was.unwrap_or("unset")
            ));
        }
        let detail = serde_json::json!({
            "event": key, "restored": restored, "withdrawn": queued,
        });
        commit_recorded(tx, case.id, by, EventKind::TriageUndone, detail, now).await?;
        let summary = if restored.is_empty() {
            format!("Undone: {} message(s) withdrawn", queued.len())
        } else {
            format!(
                "Undone: {}; {} message(s) withdrawn",
                restored.join(", "),
                queued.len()
            )
        };
        Ok(Outcome {
            tracking_id: case.tracking_id,
            summary,
            queued: Vec::new(),
            scio_note: None,
        })
    }

    /// Resolves or closes the case with the analyst's resolution, in ONE transaction:
    /// the status change (its own event), one SCIO update carrying the resolution and,
    /// when `tell_reporter`, one closing message to the reporter; a `case_closed` event
    /// lists what was queued.
    pub async fn close(
        &self,
        id: &TrackingId,
        c: &Closing<'_>,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let resolution = closing_resolution(c)?;
        let actor = by.actor();
        let mut tx = self.store.begin_write().await?;
        let case = load(&mut tx, id).await?;
        let change = closing_change(&case, c.status, resolution, &actor)?;
        cases::set_attribute(
            &mut tx,
            case.id,
            Attribute::Status,
            Some(c.status.as_str()),
            &actor,
            now,
        )
        .await?;
        let mut queued = Vec::new();
        let scio_note = match self
            .notifier
            .scio_update(&mut tx, case.id, &change, now)
            .await?
        {
            Sent::Queued { outbox_id, .. } => {
                queued.push(outbox_id);
                None
            }
            Sent::NoAudience(why) => Some(format!("no SCIO update: {why}")),
        };
        let reporter = if c.tell_reporter {
            self.notifier
                .reporter_closure(&mut tx, case.id, c.status, resolution, &actor, now)
                .await?
        } else {
            Err("not asked to".to_string())
        };
        let reporter_note = match &reporter {
            Ok(row) => {
                queued.push(*row);
                "the reporter is told".to_string()
            }
            Err(why) => format!("the reporter is not told ({why})"),
        };
        let detail = serde_json::json!({
            "status": c.status,
            "old": case.status,
            "resolution": resolution,
            "outbox": queued,
            "reporter_told": reporter.is_ok(),
            "reporter_note": reporter.as_ref().err(),
            "scio_note": scio_note,
        });
        commit_recorded(tx, case.id, by, EventKind::CaseClosed, detail, now).await?;
        let scio = if scio_note.is_none() {
            "1 SCIO update queued"
        } else {
            "no SCIO update"
        };
        Ok(Outcome {
            tracking_id: case.tracking_id,
            summary: format!("{}: {scio}; {reporter_note}", c.status.as_str()),
            queued,
            scio_note,
        })
    }

    /// The messages [`Actions::close`] would send, rendered, without changing anything:
    /// the SCIO update (or why there is none) and the reporter's (or why not).
    pub async fn preview_close(
        &self,
        id: &TrackingId,
        c: &Closing<'_>,
        now: DateTime<Utc>,
    ) -> Result<ClosePreview, ActionError> {
        let resolution = closing_resolution(c)?;
        let mut conn = self.store.acquire().await?;
        let case = load(&mut conn, id).await?;
        let change = closing_change(&case, c.status, resolution, "")?;
        let scio = self
            .notifier
            .preview(&mut conn, case.id, &change, now)
            .await?;
        let reporter = if c.tell_reporter {
            self.notifier
                .closure_draft(&mut conn, case.id, c.status, resolution)
                .await?
        } else {
            Err("not asked to".to_string())
        };
        Ok(ClosePreview { scio, reporter })
    }

    /// Sets or clears a flag; setting one may queue its escalation notice (once per
    /// case and cause, however often the flag is set).
    pub async fn set_flag(
        &self,
        id: &TrackingId,
        flag: Flag,
        on: bool,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let actor = by.actor();
        let mut tx = self.store.begin_write().await?;
        let case = load(&mut tx, id).await?;
        let changed = cases::set_flag(
            &mut tx,
            case.id,
            flag,
            on,
            &actor,
            serde_json::json!({}),
            now,
        )
        .await?;
        if !changed {
            return Err(ActionError::Refused(format!(
                "{flag} is already {}",
                if on { "set" } else { "clear" }
            )));
        }
        let queued = if on {
            self.notifier
                .escalate(&mut tx, case.id, &actor, now)
                .await?
        } else {
            self.notifier
                .withdraw(&mut tx, case.id, flag, &actor, now)
                .await?
                .into_iter()
                .collect()
        };
        commit_audited(
            tx,
            by,
            if on { "flag_set" } else { "flag_cleared" },
            Some(case.id),
            serde_json::json!({ "flag": flag.as_str() }),
            now,
        )
        .await?;
        Ok(Outcome {
            tracking_id: case.tracking_id,
            summary: format!(
                "{flag} {}; {} escalation notice(s) queued",
                if on { "set" } else { "cleared" },
                queued.len()
            ),
            queued,
            scio_note: None,
        })
    }

    /// An analyst's written update to the SCIO thread, with optional copies to
    /// `cc` (each held for review unless the disclosure rule allows it).
    pub async fn update(
        &self,
        id: &TrackingId,
        message: &str,
        cc: &[EmailAddress],
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let message = message.trim();
        if message.is_empty() {
            return Err(ActionError::Refused(
                "the update is empty: write what the SCIO should know".into(),
            ));
        }
        let mut tx = self.store.begin_write().await?;
        let case = load(&mut tx, id).await?;
        let change = Change {
            lines: Vec::new(),
            message: Some(message.to_string()),
            cc: cc.to_vec(),
            cause: "analyst_update".into(),
            actor: by.actor(),
        };
        let (queued, held) = match self
            .notifier
            .scio_update(&mut tx, case.id, &change, now)
            .await?
        {
            Sent::Queued {
                outbox_id,
                copies,
                held,
            } => {
                let mut all = vec![outbox_id];
                all.extend(copies);
                (all, held)
            }
            // The analyst's text must not vanish: refuse, and say how to fix it.
            Sent::NoAudience(why) => {
                return Err(ActionError::Refused(format!(
                    "no SCIO thread for {}: {why}",
                    case.tracking_id
                )))
            }
        };
        commit_audited(tx, by, "scio_update", Some(case.id), serde_json::json!({ "outbox": queued, "cc": cc.iter().map(|c| c.to_string()).collect::<Vec<_>>() }), now).await?;
        Ok(Outcome {
            tracking_id: case.tracking_id,
            summary: format!(
                "update queued to the SCIO thread{}",
                if held > 0 {
                    format!("; {held} copy(ies) held for review (outbound list --status held)")
                } else {
                    String::new()
                }
            ),
            queued,
            scio_note: None,
        })
    }

    /// The SCIO update `message` would send now, rendered, with its recipients;
    /// nothing is queued or recorded.
    pub async fn preview_update(
        &self,
        id: &TrackingId,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<(Vec<crate::routing::Contact>, crate::outbound::Rendered), ActionError> {
        let mut conn = self.store.acquire().await?;
        let case = load(&mut conn, id).await?;
        let change = Change {
            message: Some(message.trim().to_string()),
            cause: "analyst_update".into(),
            ..Change::default()
        };
        self.notifier
            .preview(&mut conn, case.id, &change, now)
            .await?
            .map_err(|why| ActionError::Refused(format!("no SCIO thread for {id}: {why}")))
    }

    /// Sets a field by hand; later email never overwrites it silently. Setting the
    /// agency names who hears of the case: the SCIO thread opens if it had none.
    pub async fn set_field(
        &self,
        id: &TrackingId,
        field: &str,
        value: serde_json::Value,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let mut tx = self.store.begin_write().await?;
        cases::set_field_by_analyst(&mut tx, id, field, value.clone(), by.name, now).await?;
        let case = load(&mut tx, id).await?;
        let actor = by.actor();
        let mut queued: Vec<i64> = self
            .notifier
            .open_thread(&mut tx, case.id, &actor, now)
            .await?
            .into_iter()
            .collect();
        queued.extend(
            self.notifier
                .escalate(&mut tx, case.id, &actor, now)
                .await?,
        );
        commit_audited(
            tx,
            by,
            "field_changed",
            Some(case.id),
            serde_json::json!({ "field": field, "new": value }),
            now,
        )
        .await?;
        Ok(Outcome {
            tracking_id: case.tracking_id,
            summary: format!("{field} set"),
            queued,
            scio_note: None,
        })
    }

    /// An internal note: recorded on the case, never mailed.
    /// Adds (`on`) or removes a tag.
    pub async fn set_tag(
        &self,
        id: &TrackingId,
        tag: &crate::domain::Tag,
        on: bool,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let mut tx = self.store.begin_write().await?;
        let case = load(&mut tx, id).await?;
        if !cases::set_tag(&mut tx, case.id, tag, on, by.name, now).await? {
            return Err(ActionError::Refused(format!(
                "{} {} tagged {tag}",
                case.tracking_id,
                if on { "is already" } else { "is not" }
            )));
        }
        let kind = if on {
            EventKind::TagAdded
        } else {
            EventKind::TagRemoved
        };
        let detail = serde_json::json!({ "tag": tag.as_str() });
        commit_recorded(tx, case.id, by, kind, detail, now).await?;
        Ok(Outcome {
            tracking_id: case.tracking_id,
            summary: format!("{} {tag}", if on { "Tagged" } else { "Untagged" }),
            queued: Vec::new(),
            scio_note: None,
        })
    }

    /// Clears the case's review flag (unverified correspondence, a bounce to the
    /// reporter) once an analyst has looked, with what they concluded.
    pub async fn clear_review(
        &self,
        id: &TrackingId,
        conclusion: &str,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let conclusion = conclusion.trim();
        let mut tx = self.store.begin_write().await?;
        let case = load(&mut tx, id).await?;
        if !cases::clear_review(&mut tx, case.id).await? {
            return Err(ActionError::Refused(format!(
                "{} is not flagged for review",
                case.tracking_id
            )));
        }
        let detail = serde_json::json!({
            "conclusion": (!conclusion.is_empty()).then_some(conclusion),
        });
        commit_recorded(tx, case.id, by, EventKind::ReviewCleared, detail, now).await?;
        Ok(Outcome {
            tracking_id: case.tracking_id,
            summary: "Review flag cleared".into(),
            queued: Vec::new(),
            scio_note: None,
        })
    }

    pub async fn note(
        &self,
        id: &TrackingId,
        text: &str,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ActionError::Refused("the note is empty".into()));
        }
        let mut tx = self.store.begin_write().await?;
        let case = load(&mut tx, id).await?;
        store::record_event(
            &mut tx,
            NewEvent {
                case_id: case.id,
                at: now,
                actor: &by.actor(),
                kind: EventKind::NoteAdded,
                detail: serde_json::json!({ "text": text }),
                message_row_id: None,
                outbox_id: None,
            },
        )
        .await?;
        commit_audited(
            tx,
            by,
            "note_added",
            Some(case.id),
            serde_json::json!({}),
            now,
        )
        .await?;
        Ok(Outcome {
            tracking_id: case.tracking_id,
            summary: "internal note recorded (not sent to anyone)".into(),
            queued: Vec::new(),
            scio_note: None,
        })
    }

    /// Links two related cases; each records the link.
    pub async fn link(
        &self,
        id: &TrackingId,
        other: &TrackingId,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let actor = by.actor();
        let mut tx = self.store.begin_write().await?;
        let (a, b) = (load(&mut tx, id).await?, load(&mut tx, other).await?);
        if a.id == b.id {
            return Err(ActionError::Refused(
                "a case cannot be linked to itself".into(),
            ));
        }
        if !cases::link(&mut tx, a.id, b.id, &actor, now).await? {
            return Err(ActionError::Refused(format!(
                "{} and {} are linked already",
                a.tracking_id, b.tracking_id
            )));
        }
        for (x, y) in [(&a, &b), (&b, &a)] {
            store::record_event(
                &mut tx,
                NewEvent {
                    case_id: x.id,
                    at: now,
                    actor: &actor,
                    kind: EventKind::CaseLinked,
                    detail: serde_json::json!({ "other": y.tracking_id }),
                    message_row_id: None,
                    outbox_id: None,
                },
            )
            .await?;
        }
        commit_audited(
            tx,
            by,
            "case_linked",
            Some(a.id),
            serde_json::json!({ "other": b.tracking_id }),
            now,
        )
        .await?;
        Ok(Outcome {
            tracking_id: a.tracking_id.clone(),
            summary: format!("linked with {}", b.tracking_id),
            queued: Vec::new(),
            scio_note: None,
        })
    }

    /// Merges `id` into `into`: its messages and participants move, it is closed and
    /// points to `into`, and later mail about it lands on `into`. Both record it.
    pub async fn merge(
        &self,
        id: &TrackingId,
        into: &TrackingId,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let actor = by.actor();
        let mut tx = self.store.begin_write().await?;
        let (source, target) = (load(&mut tx, id).await?, load(&mut tx, into).await?);
        if source.id == target.id {
            return Err(ActionError::Refused(
                "a case cannot be merged into itself".into(),
            ));
        }
        if cases::resolve_merged(&mut tx, source.id).await? != source.id {
            return Err(ActionError::Refused(format!(
                "{} is merged already",
                source.tracking_id
            )));
        }
        if cases::resolve_merged(&mut tx, target.id).await? != target.id {
            return Err(ActionError::Refused(format!(
                "{} was merged into another case; merge into that one",
                target.tracking_id
            )));
        }
        // Before the merge moves its messages: the merged case's reporter (an answer to
        // their report) and its own SCIO thread, if it has one, hear where it went.
        let mut queued = Vec::new();
        let reporter = self
            .notifier
            .reporter_merged(&mut tx, source.id, &target.tracking_id, &actor, now)
            .await?;
        let reporter_note = match &reporter {
            Ok(row) => {
                queued.push(*row);
                "the reporter is told".to_string()
            }
            Err(why) => format!("the reporter is not told ({why})"),
        };
        let into_line = merged_into_line(&target.tracking_id);
        let mut scio_updates = self
            .merge_line(
                &mut tx,
                source.id,
                &into_line,
                EventKind::MergedInto,
                &actor,
                now,
                &mut queued,
            )
            .await?;
        let moved = cases::merge(&mut tx, source.id, target.id, now).await?;
        let from_line = merged_from_line(&source);
        scio_updates += self
            .merge_line(
                &mut tx,
                target.id,
                &from_line,
                EventKind::MergedFrom,
                &actor,
                now,
                &mut queued,
            )
            .await?;
        for (case_id, kind, other) in [
            (source.id, EventKind::MergedInto, &target.tracking_id),
            (target.id, EventKind::MergedFrom, &source.tracking_id),
        ] {
            store::record_event(
                &mut tx,
                NewEvent {
                    case_id,
                    at: now,
                    actor: &actor,
                    kind,
                    detail: serde_json::json!({
                        "other": other,
                        "messages_moved": moved,
                        "old_status": source.status,
                    }),
                    message_row_id: None,
                    outbox_id: None,
                },
            )
            .await?;
        }
        commit_audited(
            tx,
            by,
            "case_merged",
            Some(source.id),
            serde_json::json!({
                "into": target.tracking_id,
                "messages_moved": moved,
                "outbox": queued,
                "reporter_told": reporter.is_ok(),
            }),
            now,
        )
        .await?;
        Ok(Outcome {
            tracking_id: source.tracking_id.clone(),
            summary: format!(
                "merged into {} ({moved} message(s) moved; {} is closed; {reporter_note}; {scio_updates} SCIO update(s) queued)",
                target.tracking_id, source.tracking_id
            ),
            queued,
            scio_note: None,
        })
    }

    /// What merging each of `others` into `into` would send, without changing
    /// anything: per case, the message to its reporter (or why none) and the line to
    /// each SCIO thread that exists.
    pub async fn preview_merge(
        &self,
        into: &TrackingId,
        others: &[TrackingId],
    ) -> Result<Vec<MergePreview>, ActionError> {
        let mut conn = self.store.acquire().await?;
        let target = load(&mut conn, into).await?;
        let target_thread = !store::notices::scio_thread(&mut conn, target.id)
            .await?
            .is_empty();
        let mut out = Vec::with_capacity(others.len());
        for id in others {
            let source = load(&mut conn, id).await?;
            let reporter = self
                .notifier
                .merged_draft(&mut conn, source.id, &target.tracking_id)
                .await?;
            let own_thread = !store::notices::scio_thread(&mut conn, source.id)
                .await?
                .is_empty();
            out.push(MergePreview {
                into_line: own_thread.then(|| merged_into_line(&target.tracking_id)),
                from_line: target_thread.then(|| merged_from_line(&source)),
                tracking_id: source.tracking_id,
                reporter,
            });
        }
        Ok(out)
    }

    /// One line to a merged case's SCIO thread, when the case has a thread (a merge
    /// never opens one); how many updates were queued.
    #[allow(clippy::too_many_arguments)]
    async fn merge_line(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        line: &str,
        cause: EventKind,
        actor: &str,
        now: DateTime<Utc>,
        queued: &mut Vec<i64>,
    ) -> Result<usize, ActionError> {
        if store::notices::scio_thread(tx, case_id).await?.is_empty() {
            return Ok(0);
        }
        let change = Change {
            lines: vec![line.to_string()],
            cause: cause.as_str().into(),
            actor: actor.to_string(),
            ..Change::default()
        };
        Ok(
            match self.notifier.scio_update(tx, case_id, &change, now).await? {
                Sent::Queued { outbox_id, .. } => {
                    queued.push(outbox_id);
                    1
                }
                Sent::NoAudience(_) => 0,
            },
        )
    }

    /// Releases (sends) or drops a held outbound message; an event either way.
    pub async fn decide_held(
        &self,
        outbox_id: i64,
        release: bool,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, ActionError> {
        let mut tx = self.store.begin_write().await?;
        let case_id = outbox::decide_held(&mut tx, outbox_id, release, by.name, now).await?;
        if let Some(case_id) = case_id {
            store::record_event(
                &mut tx,
                NewEvent {
                    case_id,
                    at: now,
                    actor: &by.actor(),
                    kind: if release {
                        EventKind::OutboundReleased
                    } else {
                        EventKind::OutboundDropped
                    },
                    detail: serde_json::json!({ "outbox_id": outbox_id }),
                    message_row_id: None,
                    outbox_id: Some(outbox_id),
                },
            )
            .await?;
        }
        commit_audited(
            tx,
            by,
            if release {
                "outbound_released"
            } else {
                "outbound_dropped"
            },
            case_id,
            serde_json::json!({ "outbox_id": outbox_id }),
            now,
        )
        .await?;
        Ok(case_id)
    }

    /// Opens a case from a message in the quarantine (an analyst judged it a report):
    /// it is read again as a report and joins the new case, the sender is acknowledged
    /// when `acknowledge`, the SCIO and SOC notices follow as for any new report.
    /// Returns the new case's tracking ID and whether an acknowledgement was queued.
    pub async fn open_from_quarantine(
        &self,
        row: i64,
        acknowledge: bool,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<(String, bool), ActionError> {
        {
            let mut conn = self.store.acquire().await?;
            let m = store::messages::by_id(&mut conn, row)
                .await?
                .ok_or_else(|| ActionError::Refused(format!("there is no message #{row}")))?;
            if let Some(case_id) = m.case_id {
                let tid = cases::tracking_id(&mut conn, case_id)
                    .await?
                    .unwrap_or_default();
                return Err(ActionError::Refused(format!(
                    "message #{row} already belongs to case {tid}"
                )));
            }
        }
        let (tx, outcome, case_id) = self.open_stored(row, acknowledge, None, now).await?;
        let tid = outcome.tracking_id.clone().unwrap_or_default();
        let detail = serde_json::json!({
            "message_row": row,
            "acknowledged": outcome.acknowledgement.is_some(),
            "note": outcome.note,
        });
        commit_recorded(
            tx,
            case_id,
            by,
            EventKind::OpenedFromQuarantine,
            detail,
            now,
        )
        .await?;
        tracing::info!(row, case = %tid, by = by.name, "case opened from the quarantine");
        Ok((tid, outcome.acknowledgement.is_some()))
    }

    /// Opens a case from a stored message (see `Pipeline::open_stored`): the open
    /// transaction, what intake did, and the new case.
    async fn open_stored(
        &self,
        row: i64,
        acknowledge: bool,
        split_from: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(crate::store::WriteTx, crate::intake::IngestOutcome, i64), ActionError> {
        let (config, directory) = self.notifier.parts();
        let pipeline =
            crate::intake::Pipeline::with_directory(self.store.clone(), config, directory);
        let (mut tx, outcome) = match pipeline
            .open_stored(row, acknowledge, split_from, now)
            .await
        {
            Ok(got) => got,
            Err(StoreError::Invalid(why)) => return Err(ActionError::Refused(why)),
            Err(e) => return Err(e.into()),
        };
        let case_id = store::messages::by_id(&mut tx, row)
            .await?
            .and_then(|m| m.case_id)
            .ok_or_else(|| StoreError::Invalid(format!("message #{row} joined no case")))?;
        Ok((tx, outcome, case_id))
    }

    /// Splits a report out of a campaign case: it opens a case of its own (read again,
    /// its reporter acknowledged with the new tracking ID only when `acknowledge`), and
    /// both cases record it. The campaign's first report is the campaign and stays.
    pub async fn split_report(
        &self,
        id: &TrackingId,
        row: i64,
        acknowledge: bool,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let campaign = {
            let mut conn = self.store.acquire().await?;
            let case = load(&mut conn, id).await?;
            let summary = store::campaigns::summary(&mut conn, case.id, 1).await?;
            if summary.first_row == Some(row) {
                return Err(ActionError::Refused(format!(
                    "message #{row} is the first report of {}: the campaign's own; split out a later report",
                    case.tracking_id
                )));
            }
            case
        };
        let (mut tx, outcome, case_id) = self
            .open_stored(row, acknowledge, Some(campaign.id), now)
            .await?;
        let new_tid = outcome.tracking_id.clone().unwrap_or_default();
        analyst_event(
            &mut tx,
            case_id,
            by,
            EventKind::SplitFrom,
            serde_json::json!({ "message_row": row, "from": campaign.tracking_id }),
            now,
        )
        .await?;
        cases::touch(&mut tx, campaign.id, now).await?;
        let detail = serde_json::json!({
            "message_row": row,
            "to": new_tid,
            "acknowledged": outcome.acknowledgement.is_some(),
        });
        commit_recorded(tx, campaign.id, by, EventKind::ReportSplitOut, detail, now).await?;
        tracing::info!(row, from = %campaign.tracking_id, to = %new_tid, by = by.name, "report split out of a campaign");
        Ok(Outcome {
            tracking_id: campaign.tracking_id,
            summary: format!(
                "message #{row} split out: it is case {new_tid} now{}",
                if outcome.acknowledgement.is_some() {
                    "; its reporter is told the new tracking ID"
                } else {
                    ""
                }
            ),
            queued: outcome.acknowledgement.into_iter().collect(),
            scio_note: None,
        })
    }

    /// Sets what later reporters of a campaign are told ("we know, here is what to
    /// do"); empty clears it (they get the usual acknowledgement again).
    pub async fn set_campaign_answer(
        &self,
        id: &TrackingId,
        text: &str,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let text = text.trim();
        if text.chars().count() > 4_000 {
            return Err(ActionError::Refused(
                "the answer is over 4,000 characters; shorten it".into(),
            ));
        }
        let mut tx = self.store.begin_write().await?;
        let case = load(&mut tx, id).await?;
        let old = store::campaigns::set_answer(&mut tx, case.id, text).await?;
        if old.as_deref() == Some(text) || (old.is_none() && text.is_empty()) {
            return Err(ActionError::Refused(
                "the campaign's answer is that already".into(),
            ));
        }
        let detail = serde_json::json!({ "old": old, "new": (!text.is_empty()).then_some(text) });
        commit_recorded(tx, case.id, by, EventKind::CampaignAnswerSet, detail, now).await?;
        Ok(Outcome {
            tracking_id: case.tracking_id,
            summary: if text.is_empty() {
                "campaign answer cleared: later reporters get the usual acknowledgement".into()
            } else {
                "campaign answer saved: later reporters of this message are told it".into()
            },
            queued: Vec::new(),
            scio_note: None,
        })
    }

    /// "Not an incident": a quarantined message leaves the open list, kept, with who
    /// decided and why (audited).
    pub async fn dismiss_quarantined(
        &self,
        row: i64,
        note: &str,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), ActionError> {
        let note = note.trim();
        if note.chars().count() > 2_000 {
            return Err(ActionError::Refused(
                "the reason is over 2,000 characters; shorten it".into(),
            ));
        }
        let mut tx = self.store.begin_write().await?;
        if !store::messages::dismiss(&mut tx, row, by.name, note, now).await? {
            return Err(ActionError::Refused(format!(
                "message #{row} is not in the quarantine's open list (it belongs to a case, was dismissed already, or does not exist)"
            )));
        }
        let detail = serde_json::json!({ "message_row": row, "note": note });
        commit_audited(tx, by, "quarantine_dismissed", None, detail, now).await
    }

    /// Marks an indicator of the case as removed (a false positive, e.g. a Microsoft
    /// link) or restores it: a removed one stays on the case page and is in no export.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_indicator_removed(
        &self,
        id: &TrackingId,
        kind: &str,
        value: &str,
        removed: bool,
        reason: &str,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let (kind, value, reason) = (kind.trim(), value.trim(), reason.trim());
        if reason.chars().count() > 500 {
            return Err(ActionError::Refused(
                "the reason is over 500 characters; shorten it".into(),
            ));
        }
        let mut tx = self.store.begin_write().await?;
        let case = load(&mut tx, id).await?;
        let known = sharing::indicators(&mut tx, case.id).await?;
        if !known.pairs().contains(&(kind, value)) {
            return Err(ActionError::Refused(format!(
                "{} has no {kind} indicator '{value}'",
                case.tracking_id
            )));
        }
        let changed = if removed {
            sharing::remove_indicator(&mut tx, case.id, kind, value, by.name, reason, now).await?
        } else {
            sharing::restore_indicator(&mut tx, case.id, kind, value, now).await?
        };
        if !changed {
            return Err(ActionError::Refused(format!(
                "{kind} '{value}' is {} already",
                if removed { "removed" } else { "not removed" }
            )));
        }
        let mut detail = serde_json::json!({ "kind": kind, "value": value });
        if removed && !reason.is_empty() {
            detail["reason"] = serde_json::json!(reason);
        }
        let event = if removed {
            EventKind::IndicatorRemoved
        } else {
            EventKind::IndicatorRestored
        };
        commit_recorded(tx, case.id, by, event, detail, now).await?;
        Ok(Outcome {
            tracking_id: case.tracking_id,
            summary: format!(
                "{kind} {value} {}",
                if removed {
                    "removed: no export carries it"
                } else {
                    "restored: exports carry it again"
                }
            ),
            queued: Vec::new(),
            scio_note: None,
        })
    }

    /// Adds an indicator the analyst found (typed as they have it, defanged or not;
    /// `kind` empty: the kind the text is): on the case page and in exports.
    pub async fn add_indicator(
        &self,
        id: &TrackingId,
        kind: &str,
        text: &str,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let kind = kind.trim();
        let Some((kind, value)) = crate::extract::iocs::typed(kind, text) else {
            let what = if kind.is_empty() {
                "an indicator"
            } else {
                kind
            };
            return Err(ActionError::Refused(format!(
                "'{}' is not {what} (an address, domain, URL, email address, MD5/SHA-1/SHA-256 hash or CVE; well-known service domains are never indicators)",
                text.trim().chars().take(200).collect::<String>()
            )));
        };
        let mut tx = self.store.begin_write().await?;
        let case = load(&mut tx, id).await?;
        if !sharing::add_indicator(&mut tx, case.id, kind, &value, now).await? {
            return Err(ActionError::Refused(format!(
                "{} lists {kind} '{value}' already (restore it if it was removed)",
                case.tracking_id
            )));
        }
        let detail = serde_json::json!({ "kind": kind, "value": value });
        commit_recorded(tx, case.id, by, EventKind::IndicatorAdded, detail, now).await?;
        Ok(Outcome {
            tracking_id: case.tracking_id,
            summary: format!("{kind} {value} added: exports carry it"),
            queued: Vec::new(),
            scio_note: None,
        })
    }

    /// Sets the TLP the case is shared under.
    pub async fn set_tlp(
        &self,
        id: &TrackingId,
        tlp: Tlp,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let mut tx = self.store.begin_write().await?;
        let case = load(&mut tx, id).await?;
        let default = self.notifier.config().sharing.default_tlp;
        let old = sharing::set_tlp(&mut tx, case.id, tlp, now).await?;
        let shown_old = old.map_or_else(|| format!("{default} (default)"), |t| t.to_string());
        let detail = serde_json::json!({ "old": shown_old, "new": tlp.as_str() });
        commit_recorded(tx, case.id, by, EventKind::TlpChanged, detail, now).await?;
        Ok(Outcome {
            tracking_id: case.tracking_id,
            summary: format!("TLP: {shown_old} → {tlp}"),
            queued: Vec::new(),
            scio_note: None,
        })
    }

    /// Exports cases for a partner (STIX 2.1, MISP) or the queue as CSV. Audited: each
    /// case exported records it in its timeline, and the audit trail says who exported
    /// what in which format.
    pub async fn export(
        &self,
        scope: &Scope,
        format: Format,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Exported, ActionError> {
        let config = self.notifier.config();
        let identity = match config.sharing.identity_name.trim() {
            "" => config.gateway.name.as_str(),
            name => name,
        };
        let sharer = Sharer {
            identity,
            default_tlp: config.sharing.default_tlp,
        };
        let mut tx = self.store.begin_write().await?;
        // The audit row names the case when one case is exported.
        let one_case = match scope {
            Scope::Case(t) => Some(load(&mut tx, t).await?.id),
            _ => None,
        };
        let (body, case_ids) = if format == Format::Csv {
            let (filter, narrow) = match scope {
                Scope::Queue(f) => ((**f).clone(), Narrow::default()),
                Scope::Selected(t) => (
                    QueueFilter::default(),
                    Narrow {
                        tracking_ids: Some(t.iter().map(|t| t.to_string()).collect()),
                        ..Narrow::default()
                    },
                ),
                Scope::Case(_) => (
                    QueueFilter::default(),
                    Narrow {
                        case_id: one_case,
                        ..Narrow::default()
                    },
                ),
                Scope::Opened { since, until } => (
                    QueueFilter::default(),
                    Narrow {
                        opened: Some((*since, *until)),
                        ..Narrow::default()
                    },
                ),
            };
            let rows = sharing::queue_with_timers(&mut tx, &filter, &narrow, MAX_EXPORT).await?;
            // A CSV of the whole queue is audited once, not in every case's timeline.
            (export::csv::queue(&rows, now), Vec::new())
        } else {
            let rows = match scope {
                Scope::Case(t) => vec![load(&mut tx, t).await?],
                Scope::Opened { since, until } => {
                    sharing::cases_opened_between(&mut tx, *since, *until).await?
                }
                Scope::Queue(_) | Scope::Selected(_) => {
                    return Err(ActionError::Refused(format!(
                        "{format} exports a case or the cases of a period (--case, or --since and --until)"
                    )))
                }
            };
            let mut shared = Vec::with_capacity(rows.len());
            for row in rows {
                shared.push(sharing::shared_case(&mut tx, row).await?);
            }
            let doc = match format {
                Format::Stix => export::stix::bundle(&sharer, &shared),
                _ => export::misp::events(&sharer, &shared, matches!(scope, Scope::Case(_))),
            };
            let ids: Vec<(i64, usize)> = shared
                .iter()
                .map(|c| (c.case.id, export::shareable(c).len()))
                .collect();
            (format!("{doc:#}\n"), ids)
        };
        for (case_id, indicators) in &case_ids {
            let detail = serde_json::json!({ "format": format.as_str(), "indicators": indicators });
            analyst_event(&mut tx, *case_id, by, EventKind::CaseExported, detail, now).await?;
        }
        let mut detail = scope.describe();
        detail["format"] = serde_json::json!(format.as_str());
        detail["cases"] = serde_json::json!(case_ids.len());
        detail["bytes"] = serde_json::json!(body.len());
        commit_audited(tx, by, "export", one_case, detail, now).await?;
        Ok(Exported {
            file_name: scope.file_name(format),
            content_type: format.content_type(),
            cases: case_ids.len(),
            body,
        })
    }

    /// Sets an attribute, records it, and (for status and severity) writes to the
    /// SCIO thread.
    async fn change_attribute(
        &self,
        tx: &mut SqliteConnection,
        case: &CaseRow,
        attr: Attribute,
        value: Option<&str>,
        by: By<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ActionError> {
        let actor = by.actor();
        let old = cases::set_attribute(tx, case.id, attr, value, &actor, now).await?;
        let shown_old = shown_old(case, attr, old.clone());
        let detail = serde_json::json!({ "old": shown_old, "new": value });
        let mut queued = Vec::new();
        let mut scio_note = None;
        if matches!(attr, Attribute::Status | Attribute::Severity) {
            let change = Change {
                lines: describe(attr.event().as_str(), &detail)
                    .into_iter()
                    .collect(),
                cause: attr.event().as_str().into(),
                actor: actor.clone(),
                ..Change::default()
            };
            match self.notifier.scio_update(tx, case.id, &change, now).await? {
                Sent::Queued { outbox_id, .. } => queued.push(outbox_id),
                Sent::NoAudience(why) => scio_note = Some(format!("no SCIO update: {why}")),
            }
        }
        if attr == Attribute::Severity {
            // A case raised to the on-call threshold is announced to the SOC once.
            queued.extend(self.notifier.soc_new_case(tx, case.id, now).await?);
        }
        if let (Attribute::Assignee, Some(assignee)) = (attr, value) {
            queued.extend(
                self.notifier
                    .soc_assigned(tx, case.id, assignee, &actor, now)
                    .await?,
            );
        }
        if attr == Attribute::Severity && value == Some(Severity::Critical.as_str()) {
            // The Directive: a major incident is suggested when severity is critical.
            store::record_event(
                tx,
                NewEvent::system(case.id, now, EventKind::MajorIncidentSuggested, serde_json::json!({
                        "reason": "severity is critical; declare it with: case flag <ID> major_incident",
                    })),
            )
            .await?;
        }
        Ok(Outcome {
            tracking_id: case.tracking_id.clone(),
            summary: format!(
                "{}: {} → {}",
                match attr {
                    Attribute::Status => "status",
                    Attribute::Severity => "severity",
                    Attribute::Priority => "priority",
                    Attribute::Assignee => "assignee",
                },
                old.as_deref().unwrap_or("none"),
                value.unwrap_or("none")
            ),
            queued,
            scio_note,
        })
    }
}

/// What one triage sets; `None` leaves the attribute as it is. `assignee:
/// Some(None)` unassigns.
#[derive(Debug, Clone, Default)]
pub struct Triage {
    pub severity: Option<Severity>,
    pub priority: Option<Priority>,
    pub assignee: Option<Option<String>>,
    pub status: Option<Status>,
    /// Written to the SCIO thread with the changes.
    pub note: Option<String>,
    /// The undo window: what the triage queues waits this long, and
    /// [`Actions::undo_triage`] can take it all back until then (`None`: no undo).
    pub undo_for: Option<chrono::Duration>,
}

fn attr_name(attr: Attribute) -> &'static str {
    match attr {
        Attribute::Status => "status",
        Attribute::Severity => "severity",
        Attribute::Priority => "priority",
        Attribute::Assignee => "assignee",
    }
}

/// Most cases in one export.
const MAX_EXPORT: i64 = 100_000;

/// An export, ready to write or download.
#[derive(Debug, Clone)]
pub struct Exported {
    pub body: String,
    pub content_type: &'static str,
    pub file_name: String,
    /// Cases exported to a partner (0 for CSV, which is no sharing of indicators).
    pub cases: usize,
}

/// Who acts, and from where: the actor of the case's events and the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct By<'a> {
    pub name: &'a str,
    /// The client address (web UI, API); `None` on the command line.
    pub ip: Option<&'a str>,
}

impl<'a> By<'a> {
    pub fn cli(name: &'a str) -> Self {
        Self { name, ip: None }
    }

    /// `analyst:<name>`.
    pub fn actor(&self) -> String {
        format!("analyst:{}", self.name)
    }
}

/// The old value as people read it: until an analyst sets one, the severity in force
/// is the suggested one.
fn shown_old(case: &CaseRow, attr: Attribute, old: Option<String>) -> Option<String> {
    match (&old, attr) {
        (None, Attribute::Severity) => case
            .severity_suggested
            .as_ref()
            .map(|s| format!("{s} (suggested)")),
        _ => old,
    }
}

/// An event on the case by the analyst acting.
async fn analyst_event(
    tx: &mut SqliteConnection,
    case_id: i64,
    by: By<'_>,
    kind: EventKind,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    store::record_event(
        tx,
        NewEvent {
            case_id,
            at: now,
            actor: &by.actor(),
            kind,
            detail,
            message_row_id: None,
            outbox_id: None,
        },
    )
    .await
}

/// Records the action as the case's event of `kind` and in the audit trail (under
/// the event kind's name), then commits it with everything it did.
async fn commit_recorded(
    mut tx: crate::store::WriteTx,
    case_id: i64,
    by: By<'_>,
    kind: EventKind,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), ActionError> {
    analyst_event(&mut tx, case_id, by, kind, detail.clone(), now).await?;
    commit_audited(tx, by, kind.as_str(), Some(case_id), detail, now).await
}

/// Records the action in the audit trail, then commits it with everything it did.
async fn commit_audited(
    mut tx: crate::store::WriteTx,
    by: By<'_>,
    action: &str,
    case_id: Option<i64>,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), ActionError> {
    users::audit(
        &mut tx,
        AuditEntry {
            at: now,
            username: by.name,
            action,
            ip: by.ip,
            case_id,
            detail,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn load(conn: &mut SqliteConnection, id: &TrackingId) -> Result<CaseRow, ActionError> {
    Ok(cases::by_tracking_id(conn, id)
        .await?
        .ok_or_else(|| StoreError::NoSuchCase(id.to_string()))?)
}

/// The case's value of `attr` as stored.
fn current(case: &CaseRow, attr: Attribute) -> Option<&str> {
    match attr {
        Attribute::Status => Some(case.status.as_str()),
        Attribute::Severity => case.severity.as_deref(),
        Attribute::Priority => case.priority.as_deref(),
        Attribute::Assignee => case.assignee.as_deref(),
    }
}

/// The end of a triage's undo window (its event `event` with detail `d`), unless it
/// had none or was undone already.
async fn undo_window(
    conn: &mut sqlx::SqliteConnection,
    case_id: i64,
    event: i64,
    d: &serde_json::Value,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let Some(until) = d["undo_until"].as_str().and_then(store::parse_ts) else {
        return Ok(None);
    };
    let key = event.to_string();
    let undone =
        store::has_event_with(conn, case_id, EventKind::TriageUndone, "event", &key).await?;
    Ok((!undone).then_some(until))
}
