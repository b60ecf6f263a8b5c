//! The SCIO thread: one thread per case, each update a reply in it; the first message
//! ("New incident") opens it, within the new-case notice limits.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::describe::label;
use super::{Change, Mail, Notifier, NotifyError, Sent};
use crate::domain::{EventKind, OutboxKind};
use crate::outbound::template::local_time as local;
use crate::outbound::{Record, Rendered};
use crate::routing::{Audience, Contact};
use crate::store::outbox::{self, NoticeScope};
use crate::store::{self, cases, notices, parse_ts, NewEvent};

impl Notifier {
    /// The next SCIO-thread message as it would be sent now, without queueing it (the
    /// web UI's preview). `Err(reason)` when the case has no audience.
    pub async fn preview(
        &self,
        conn: &mut SqliteConnection,
        case_id: i64,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Result<(Vec<Contact>, Rendered), String>, NotifyError> {
        Ok(self
            .draft(conn, case_id, change, now)
            .await?
            .map(|d| (d.audience.to, d.rendered)))
    }

    /// Renders the next message of the thread and works out its threading headers.
    async fn draft(
        &self,
        conn: &mut SqliteConnection,
        case_id: i64,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Result<Draft, String>, NotifyError> {
        let snap = self.snapshot(conn, case_id).await?;
        let mut audience = match self.audience(&snap.row) {
            Ok(a) => a,
            Err(why) => return Ok(Err(why)),
        };
        // Leadership, once told of a major incident or data loss, is kept apprised in
        // the thread from then on.
        if notices::leadership_told(conn, case_id).await? {
            let dir = self.directory.get();
            let before = audience.to.len();
            for c in &dir.lists.leadership {
                if !audience
                    .to
                    .iter()
                    .any(|x| x.address.same_mailbox(&c.address))
                {
                    audience.to.push(c.clone());
                }
            }
            if audience.to.len() > before {
                audience
                    .via
                    .push_str("; leadership, kept apprised after the escalation");
            }
        }
        let thread = notices::scio_thread(conn, case_id).await?;
        let mut ctx = self.context(&snap, now);
        ctx["changes"] = serde_json::json!(change.lines);
        ctx["message"] = serde_json::json!(change.message);
        ctx["via"] = serde_json::json!(audience.via);
        ctx["agency"] = serde_json::json!(audience.agency);
        ctx["description"] = serde_json::json!(snap.description);
        let (kind, subject, in_reply_to, references) = match thread.first() {
            None => (
                OutboxKind::ScioNew,
                format!(
                    "[{}] New incident: {} – {}",
                    snap.row.tracking_id,
                    audience.agency,
                    label(snap.row.category.as_deref().unwrap_or("unclassified"))
                ),
                None,
                Vec::new(),
            ),
            Some(root) => {
                let root_subject = &root.subject;
                let last = thread.last().map(|t| t.message_id.clone());
                ctx["last_update"] = serde_json::json!(thread
                    .last()
                    .and_then(|t| parse_ts(&t.created_at))
                    .map(local)
                    .unwrap_or_default());
                (
                    OutboxKind::ScioUpdate,
                    format!("Re: {root_subject}"),
                    last,
                    thread_references(
                        &thread
                            .iter()
                            .map(|t| t.message_id.clone())
                            .collect::<Vec<_>>(),
                    ),
                )
            }
        };
        ctx["subject"] = serde_json::json!(subject);
        let rendered =
            self.templates
                .render(kind.as_str(), &ctx)
                .map_err(|e| NotifyError::Compose {
                    what: "SCIO update",
                    reason: e.to_string(),
                })?;
        Ok(Ok(Draft {
            tracking_id: snap.row.tracking_id.clone(),
            kind,
            audience,
            rendered,
            in_reply_to,
            references,
        }))
    }

    /// Queues the next message of the case's SCIO thread: the first one ("New
    /// incident") when the thread does not exist yet, else a reply to the last one.
    pub async fn scio_update(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Sent, NotifyError> {
        let draft = match self.draft(tx, case_id, change, now).await? {
            Ok(d) => d,
            Err(why) => return Ok(Sent::NoAudience(why)),
        };
        let Draft {
            tracking_id,
            kind,
            audience,
            rendered,
            in_reply_to,
            references,
        } = draft;
        let spec = Mail {
            case_id,
            tracking_id: &tracking_id,
            kind,
            to: &audience.to,
            in_reply_to: in_reply_to.as_deref(),
            references: &references,
            hold_reason: None,
        };
        let record = Record {
            actor: &change.actor,
            queued: EventKind::ScioUpdateQueued,
            detail: serde_json::json!({
                "kind": kind,
                "to": audience.to.iter().map(|c| c.address.to_string()).collect::<Vec<_>>(),
                "cause": change.cause,
                "changes": change.lines,
                "message": change.message,
            }),
        };
        let outbox_id = self.queue(tx, &spec, &rendered, record, now).await?;

        // Copies for extra recipients: the same text, sent or held per the rule.
        let mut copies = Vec::new();
        let mut held = 0;
        for cc in &change.cc {
            if audience.to.iter().any(|c| c.address.same_mailbox(cc)) {
                continue;
            }
            let hold = self.disclosure.hold_for(tx, Some(case_id), cc).await?;
            let to = [Contact {
                name: None,
                address: cc.clone(),
            }];
            let spec = Mail {
                case_id,
                tracking_id: &tracking_id,
                kind: OutboxKind::ScioCopy,
                to: &to,
                in_reply_to: in_reply_to.as_deref(),
                references: &references,
                hold_reason: hold.as_deref(),
            };
            let record = Record {
                actor: &change.actor,
                queued: EventKind::ScioCopyQueued,
                detail: serde_json::json!({
                    "kind": OutboxKind::ScioCopy,
                    "to": cc.to_string(),
                    "hold_reason": hold,
                }),
            };
            let id = self.queue(tx, &spec, &rendered, record, now).await?;
            copies.push(id);
            held += usize::from(hold.is_some());
        }
        Ok(Sent::Queued {
            outbox_id,
            copies,
            held,
        })
    }

    /// Opens the SCIO thread when the case has an audience and no thread yet (a new
    /// case; an agency learned later). Records once why a case has no audience.
    pub async fn open_thread(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, NotifyError> {
        if notices::has_scio_thread(tx, case_id).await? {
            return Ok(None);
        }
        if actor == "system" {
            if let Some(reason) = self.new_case_notice_limited(tx, case_id, now).await? {
                let first = store::record_once(
                    tx,
                    NewEvent::because(case_id, now, EventKind::ScioNoticeRateLimited, &reason),
                )
                .await?;
                if first {
                    tracing::warn!(case_id, %reason, "new-incident notice not sent");
                    cases::flag_for_review(tx, case_id).await?;
                }
                return Ok(None);
            }
        }
        let change = Change {
            cause: "case_opened".into(),
            actor: actor.to_string(),
            ..Change::default()
        };
        match self.scio_update(tx, case_id, &change, now).await? {
            Sent::Queued { outbox_id, .. } => Ok(Some(outbox_id)),
            Sent::NoAudience(why) => {
                store::record_once(
                    tx,
                    NewEvent::because(case_id, now, EventKind::ScioUnrouted, &why),
                )
                .await?;
                Ok(None)
            }
        }
    }

    /// Why a report must not open its SCIO thread by itself now: too many "New
    /// incident" notices in the last hour for the same reporter address or the same
    /// agency (a mail loop, a flood, or someone aiming our notices at officials).
    async fn new_case_notice_limited(
        &self,
        conn: &mut SqliteConnection,
        case_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, NotifyError> {
        let (reporter, agency) = cases::reporter_and_agency(conn, case_id).await?;
        let since = now - chrono::Duration::hours(1);
        let u = &self.config.updates;
        if let Some(r) = reporter {
            let n = outbox::new_case_notices_since(conn, NoticeScope::Reporter(&r), since).await?;
            if n >= u.new_case_notices_per_sender_per_hour as i64 {
                return Ok(Some(format!(
                    "{n} new-incident notices for reports from {r} in the last hour ([updates] new_case_notices_per_sender_per_hour); an analyst decides whether to notify"
                )));
            }
        }
        if let Some(a) = agency {
            let n = outbox::new_case_notices_since(conn, NoticeScope::Agency(&a), since).await?;
            if n >= u.new_case_notices_per_agency_per_hour as i64 {
                return Ok(Some(format!(
                    "{n} new-incident notices for {a} in the last hour ([updates] new_case_notices_per_agency_per_hour); an analyst decides whether to notify"
                )));
            }
        }
        Ok(None)
    }
}

/// The next SCIO-thread message, rendered, before it is queued.
struct Draft {
    tracking_id: String,
    kind: OutboxKind,
    audience: Audience,
    rendered: Rendered,
    in_reply_to: Option<String>,
    references: Vec<String>,
}

/// References for the next message of a thread: the root and the most recent ones
/// (RFC 5322 §3.6.4 lets a long chain be trimmed from the middle).
fn thread_references(ids: &[String]) -> Vec<String> {
    const KEEP: usize = 20;
    if ids.len() <= KEEP {
        return ids.to_vec();
    }
    let mut out = vec![ids[0].clone()];
    out.extend_from_slice(&ids[ids.len() - (KEEP - 1)..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_threads_keep_the_root_and_the_latest() {
        let ids: Vec<String> = (0..30).map(|i| format!("m{i}@x")).collect();
        let r = thread_references(&ids);
        assert_eq!(r.len(), 20);
        assert_eq!(r[0], "m0@x");
        assert_eq!(r[1], "m11@x");
        assert_eq!(r.last().unwrap(), "m29@x");
        assert_eq!(thread_references(&ids[..3]), ids[..3].to_vec());
    }
}
