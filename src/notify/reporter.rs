//! The one message an analyst sends the reporter: the case is resolved or closed, and
//! how. It answers the report (joins the reporter's thread), passes the disclosure
//! rule like every other message, and is recorded on the case.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{Mail, Notifier, NotifyError};
use crate::domain::{EmailAddress, EventKind, OutboxKind, Status};
use crate::outbound::template::local_time as local;
use crate::outbound::{Record, Rendered};
use crate::routing::Contact;
use crate::store::{notices, parse_ts};

/// The closing message, rendered, and to whom; `Err` says why there is nobody to tell.
pub struct Closure {
    pub to: Contact,
    pub rendered: Rendered,
    /// Why it would be held for review instead of sent, if it would.
    pub hold: Option<String>,
}

impl Notifier {
    /// The closing message to the reporter of `case_id` as it would be sent, with
    /// `status` (resolved or closed) and the analyst's `resolution` (Markdown).
    pub async fn closure_draft(
        &self,
        conn: &mut SqliteConnection,
        case_id: i64,
        status: Status,
        resolution: &str,
    ) -> Result<Result<Closure, String>, NotifyError> {
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
        let (word, verb) = match status {
            Status::Resolved => ("Resolved", "resolved"),
            _ => ("Closed", "closed"),
        };
        let ctx = serde_json::json!({
            "tracking_id": snap.row.tracking_id,
            "original_subject": snap.row.subject,
            "reporter_name": snap.row.reporter_name,
            "reported_at": parse_ts(&snap.row.created_at).map(local).unwrap_or_default(),
            "status_word": word,
            "status_verb": verb,
            "resolution": resolution.trim(),
            "soc_name": self.config.gateway.name,
            "soc_phone": self.config.gateway.phone,
        });
        let rendered =
            self.templates
                .render("closure", &ctx)
                .map_err(|e| NotifyError::Compose {
                    what: "closing message",
                    reason: e.to_string(),
                })?;
        let hold = self
            .disclosure
            .hold_for(conn, Some(case_id), &address)
            .await?;
        Ok(Ok(Closure {
            to: Contact {
                name: snap.row.reporter_name.clone(),
                address,
            },
            rendered,
            hold,
        }))
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
        let tracking_id = self.snapshot(tx, case_id).await?.row.tracking_id;
        let report = notices::report_message_id(tx, case_id).await?;
        let references: Vec<String> = report.iter().cloned().collect();
        let to = [draft.to.clone()];
        let spec = Mail {
            case_id,
            tracking_id: &tracking_id,
            kind: OutboxKind::Closure,
            to: &to,
            in_reply_to: report.as_deref(),
            references: &references,
            hold_reason: draft.hold.as_deref(),
        };
        let record = Record {
            actor,
            queued: EventKind::ClosureQueued,
            detail: serde_json::json!({
                "kind": OutboxKind::Closure,
                "to": draft.to.address.to_string(),
                "status": status,
                "hold_reason": draft.hold,
            }),
        };
        Ok(Ok(self
            .queue(tx, &spec, &draft.rendered, record, now)
            .await?))
    }
}
