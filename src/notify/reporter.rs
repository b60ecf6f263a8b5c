//! The messages an analyst's action sends the reporter: the case is resolved or closed
//! (and how), or their report now lives on in another case. Each answers the report
//! (joins the reporter's thread), passes the disclosure rule like every other message,
//! and is recorded on the case.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{Mail, Notifier, NotifyError};
use crate::domain::{EmailAddress, EventKind, OutboxKind, Status};
use crate::outbound::template::local_time as local;
use crate::outbound::{Record, Rendered};
use crate::routing::Contact;
use crate::store::{notices, parse_ts};

/// A message to the reporter, rendered, and to whom.
pub struct ReporterMail {
    /// The case's tracking ID (the message's Message-ID carries it).
    pub tracking_id: String,
    pub to: Contact,
    pub rendered: Rendered,
    /// Why it would be held for review instead of sent, if it would.
    pub hold: Option<String>,
}

impl Notifier {
    /// The closing message to the reporter of `case_id` as it would be sent, with
    /// `status` (resolved or closed) and the analyst's `resolution`; `Err` says why
    /// nobody would be told.
    pub async fn closure_draft(
        &self,
        conn: &mut SqliteConnection,
        case_id: i64,
        status: Status,
        resolution: &str,
    ) -> Result<Result<ReporterMail, String>, NotifyError> {
        let (word, verb) = match status {
            Status::Resolved => ("Resolved", "resolved"),
            _ => ("Closed", "closed"),
        };
        let extra = serde_json::json!({
            "status_word": word,
            "status_verb": verb,
            "resolution": resolution.trim(),
        });
        self.reporter_draft(conn, case_id, "closure", extra).await
    }

    /// Queues the closing message (see [`Notifier::closure_draft`]); the outbox row,
    /// or why nobody was told.
    pub async fn reporter_closure(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        status: Status,
        resolution: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<i64, String>, NotifyError> {
        let draft = match self.closure_draft(tx, case_id, status, resolution).await? {
            Ok(d) => d,
            Err(why) => return Ok(Err(why)),
        };
        let detail = serde_json::json!({ "status": status });
        self.reporter_queue(tx, case_id, OutboxKind::Closure, draft, detail, actor, now)
            .await
            .map(Ok)
    }

    /// Tells the reporter of `case_id` (before it is merged) that their report now
    /// lives on in case `into`, whose tracking ID to keep in the subject.
    pub async fn reporter_merged(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        into: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<i64, String>, NotifyError> {
        let draft = match self.merged_draft(tx, case_id, into).await? {
            Ok(d) => d,
            Err(why) => return Ok(Err(why)),
        };
        let detail = serde_json::json!({ "into": into });
        self.reporter_queue(
            tx,
            case_id,
            OutboxKind::MergeNotice,
            draft,
            detail,
            actor,
            now,
        )
        .await
        .map(Ok)
    }

    /// The message [`Notifier::reporter_merged`] would send, rendered; `Err` says why
    /// nobody would be told.
    pub async fn merged_draft(
        &self,
        conn: &mut SqliteConnection,
        case_id: i64,
        into: &str,
    ) -> Result<Result<ReporterMail, String>, NotifyError> {
        let extra = serde_json::json!({ "into": into });
        self.reporter_draft(conn, case_id, "merged", extra).await
    }

    /// Renders `template` for the reporter of `case_id`, with the context every such
    /// message shares and `extra`.
    async fn reporter_draft(
        &self,
        conn: &mut SqliteConnection,
        case_id: i64,
        template: &'static str,
        extra: serde_json::Value,
    ) -> Result<Result<ReporterMail, String>, NotifyError> {
        let snap = self.snapshot(conn, case_id).await?;
        let Some(address) = snap
            .row
            .reporter_email
            .as_deref()
            .and_then(|a| EmailAddress::parse(a).ok())
        else {
            return Ok(Err("the case has no reporter address".into()));
        };
        if snap.row.reporter_undeliverable {
            return Ok(Err(format!(
                "mail to the reporter ({address}) bounced; tell them another way"
            )));
        }
        let mut ctx = serde_json::json!({
            "tracking_id": snap.row.tracking_id,
            "original_subject": snap.row.subject,
            "reporter_name": snap.row.reporter_name,
            "reported_at": parse_ts(&snap.row.created_at).map(local).unwrap_or_default(),
            "soc_name": self.config.gateway.name,
            "soc_phone": self.config.gateway.phone,
        });
        if let (Some(c), Some(e)) = (ctx.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        let rendered = self
            .templates
            .render(template, &ctx)
            .map_err(|e| NotifyError::Compose {
                what: "message to the reporter",
                reason: e.to_string(),
            })?;
        let hold = self
            .disclosure
            .hold_for(conn, Some(case_id), &address)
            .await?;
        Ok(Ok(ReporterMail {
            tracking_id: snap.row.tracking_id.clone(),
            to: Contact {
                name: snap.row.reporter_name.clone(),
                address,
            },
            rendered,
            hold,
        }))
    }

    /// Queues `draft` as an answer to the case's report, recorded as `<kind>_queued`.
    #[allow(clippy::too_many_arguments)]
    async fn reporter_queue(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        kind: OutboxKind,
        draft: ReporterMail,
        mut detail: serde_json::Value,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, NotifyError> {
        let report = notices::report_message_id(tx, case_id).await?;
        let references: Vec<String> = report.iter().cloned().collect();
        let to = [draft.to.clone()];
        let spec = Mail {
            case_id,
            tracking_id: &draft.tracking_id,
            kind,
            to: &to,
            in_reply_to: report.as_deref(),
            references: &references,
            hold_reason: draft.hold.as_deref(),
        };
        detail["kind"] = serde_json::json!(kind);
        detail["to"] = serde_json::json!(draft.to.address.to_string());
        detail["hold_reason"] = serde_json::json!(draft.hold);
        let queued = match kind {
            OutboxKind::MergeNotice => EventKind::MergeNoticeQueued,
            _ => EventKind::ClosureQueued,
        };
        let record = Record {
            actor,
            queued,
            detail,
        };
        self.queue(tx, &spec, &draft.rendered, record, now).await
    }
}
