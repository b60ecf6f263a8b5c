//! The SOC's own notices, so the SOC hears of a case before or with the SCIO: a new
//! case at or above `[soc] notify_new_case_at` to the directory's `soc_oncall` list,
//! and an assignment to the analyst assigned. Each is sent once (per case, and per
//! case and assignee) and recorded as an event, in the caller's transaction.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{Mail, Notifier, NotifyError, Snapshot};
use crate::domain::{EmailAddress, EventKind, OutboxKind};
use crate::outbound::Record;
use crate::routing::Contact;
use crate::store::queue::{self, QueueFilter};
use crate::store::{self, cases, notices, outbox, parse_ts, NewEvent, Store, StoreError};

/// The two notices, as recorded in the events' `notice`.
const NEW_CASE: &str = "new_case";
const ASSIGNED: &str = "assigned";
const ANSWERED: &str = "answered";
const OVERDUE: &str = "overdue";

/// How long after a clock ran out its notice is still sent.
const OVERDUE_NOTICE_WITHIN: chrono::Duration = chrono::Duration::hours(24);

impl Notifier {
    /// Tells on-call of a case whose severity has reached the configured threshold,
    /// once per case. Returns the outbox row when one was queued.
    pub async fn soc_new_case(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, NotifyError> {
        let Some(threshold) = self.config.soc.new_case_threshold() else {
            return Ok(None);
        };
        let snap = self.snapshot(tx, case_id).await?;
        if !snap.status.is_open() || snap.severity.is_none_or(|s| s.rank() < threshold.rank()) {
            return Ok(None);
        }
        for kind in [EventKind::SocNoticeQueued, EventKind::SocNoticeUnrouted] {
            if store::has_sent_event_with(tx, case_id, kind, "notice", NEW_CASE).await? {
                return Ok(None);
            }
        }
        let severity = snap.severity.map(|s| s.as_str()).unwrap_or("unknown");
        let reason = format!(
            "A new case of severity {severity}{} was reported. Triage it within {}.",
            if snap.severity_suggested {
                " (suggested)"
            } else {
                ""
            },
            crate::sla::span(self.config.soc.triage_within(snap.severity).num_seconds()),
        );
        let headline = "New case for the SOC";
        let to = self.directory.get().lists.soc_oncall.clone();
        if to.is_empty() {
            // No mail, but the chat still hears of it.
            let why = "the directory has no [lists] soc_oncall addresses";
            let detail = serde_json::json!({ "notice": NEW_CASE, "reason": why });
            self.unrouted(tx, case_id, detail, now).await?;
            let notice = serde_json::json!({ "notice": NEW_CASE });
            self.soc_webhook(tx, &snap, (headline, &reason), notice, now)
                .await?;
            return Ok(None);
        }
        let id = self
            .soc_mail(
                tx,
                &snap,
                &to,
                (headline, &reason),
                serde_json::json!({ "notice": NEW_CASE }),
                "system",
                now,
            )
            .await?;
        Ok(Some(id))
    }

    /// Tells an analyst that `actor` assigned them the case, once per case and
    /// assignee; nothing when they assigned it to themselves.
    pub async fn soc_assigned(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        assignee: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, NotifyError> {
        let own = actor == assignee || actor.strip_prefix("analyst:") == Some(assignee);
        if !self.config.soc.notify_assignee || own {
            return Ok(None);
        }
        for kind in [EventKind::SocNoticeQueued, EventKind::SocNoticeUnrouted] {
            if store::has_sent_event_with(tx, case_id, kind, "assignee", assignee).await? {
                return Ok(None);
            }
        }
        let Some(address) = self.assignee_address(assignee) else {
            let reason = format!(
                "account '{assignee}' is not an address and [soc] assignee_domain is empty"
            );
            let detail =
                serde_json::json!({ "notice": ASSIGNED, "assignee": assignee, "reason": reason });
            self.unrouted(tx, case_id, detail, now).await?;
            return Ok(None);
        };
        let snap = self.snapshot(tx, case_id).await?;
        let to = [Contact {
            name: None,
            address,
        }];
        let reason = format!(
            "{actor} assigned this case to you ({assignee}). The SCIO's next status update is due within {}.",
            super::human_interval(self.config.updates.interval(snap.severity)),
        );
        let id = self
            .soc_mail(
                tx,
                &snap,
                &to,
                ("Case assigned to you", &reason),
                serde_json::json!({ "notice": ASSIGNED, "assignee": assignee }),
                actor,
                now,
            )
            .await?;
        Ok(Some(id))
    }

    /// Tells whoever works the case that a participant's verified answer arrived
    /// (message row `message_row`; `changed`: the fields it filled), once per answer:
    /// the assignee, or on-call for an unassigned case at or above the new-case
    /// threshold. A notice that cannot be written is recorded on the case.
    pub async fn soc_answered(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        message_row: i64,
        changed: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let r = self
            .soc_answered_inner(tx, case_id, message_row, changed, now)
            .await;
        super::recorded(tx, case_id, message_row, now, r).await
    }

    async fn soc_answered_inner(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        message_row: i64,
        changed: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), NotifyError> {
        if !self.config.soc.notify_answers {
            return Ok(());
        }
        let row = message_row.to_string();
        if store::has_sent_event_with(tx, case_id, EventKind::SocNoticeQueued, "answer", &row)
            .await?
        {
            return Ok(());
        }
        let snap = self.snapshot(tx, case_id).await?;
        if !snap.status.is_open() {
            return Ok(());
        }
        let to: Vec<Contact> = match snap.row.assignee.as_deref() {
            Some(a) => match self.assignee_address(a) {
                Some(address) => vec![Contact {
                    name: None,
                    address,
                }],
                None => return Ok(()),
            },
            None => {
                let urgent = self
                    .config
                    .soc
                    .new_case_threshold()
                    .is_some_and(|t| snap.severity.is_some_and(|s| s.rank() >= t.rank()));
                if !urgent {
                    return Ok(());
                }
                self.directory.get().lists.soc_oncall.clone()
            }
        };
        if to.is_empty() {
            return Ok(());
        }
        let filled = if changed.is_empty() {
            "It changed no field; read it on the case page.".to_string()
        } else {
            format!(
                "It filled in: {}.",
                changed
                    .iter()
                    .map(|f| super::label(f))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let reason =
            format!("The reporter answered on this case (message #{message_row}). {filled}");
        self.soc_mail(
            tx,
            &snap,
            &to,
            ("The reporter answered", &reason),
            serde_json::json!({ "notice": ANSWERED, "answer": row }),
            "system",
            now,
        )
        .await?;
        Ok(())
    }

    /// Tells whoever works each open case whose clock has run out at `now`: untriaged
    /// past its triage time, or its SCIO thread quiet past its update interval (the
    /// periodic update could not be queued). Once per case and clock running out (a
    /// new due time is a new notice); each in its own short transaction. Returns how
    /// many notices were queued.
    pub async fn soc_overdue(
        &self,
        store: &Store,
        now: DateTime<Utc>,
    ) -> Result<usize, NotifyError> {
        if !self.config.soc.notify_overdue {
            return Ok(0);
        }
        let filter = QueueFilter {
            view: Some("overdue".into()),
            cutoffs: Some(crate::sla::cutoffs(&self.config, now)),
            ..QueueFilter::default()
        };
        let candidates: Vec<i64> = {
            let mut conn = store.acquire().await?;
            queue::search(&mut conn, &filter, 1_000)
                .await?
                .cases
                .into_iter()
                .map(|r| r.case.id)
                .collect()
        };
        let mut queued = 0;
        for case_id in candidates {
            // Most overdue cases were told already: a read finds that without taking
            // the write lock intake needs.
            let due = {
                let mut conn = store.acquire().await?;
                self.clocks_to_tell(&mut conn, case_id, now).await?
            };
            if due.is_empty() {
                continue;
            }
            let mut tx = store.begin_write().await?;
            match self.soc_overdue_case(&mut tx, case_id, now).await {
                Ok(n) => {
                    tx.commit().await?;
                    queued += n;
                }
                // One case's notice that cannot be written must not hold back the others'.
                Err(e @ NotifyError::Compose { .. }) => {
                    let reason = e.to_string();
                    tracing::error!(case_id, %reason, "overdue notice could not be written")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(queued)
    }

    /// The clocks of the case that ran out within the last day and nobody was told of
    /// yet: (clock, when it ran out, the notice's key). A clock that ran out longer ago
    /// is left to the Overdue view: a first run must not mail on-call about every old
    /// case at once.
    async fn clocks_to_tell(
        &self,
        conn: &mut SqliteConnection,
        case_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<(&'static str, DateTime<Utc>, String)>, NotifyError> {
        let Some(row) = cases::by_id(conn, case_id).await? else {
            return Ok(Vec::new());
        };
        let spoke = notices::threads_last_spoke(conn, &[case_id]).await?;
        let t = crate::sla::timers(
            &self.config,
            &row,
            spoke.get(&case_id).map(String::as_str),
            now,
        );
        let mut out = Vec::new();
        for (clock, due, overdue) in [
            ("triage", t.triage_due_at, t.triage_overdue),
            ("update", t.update_due_at, t.update_overdue),
        ] {
            let Some(due) = due.filter(|d| overdue && now - *d <= OVERDUE_NOTICE_WITHIN) else {
                continue;
            };
            let key = format!("{clock}:{}", store::ts(due));
            let mut told = false;
            for kind in [EventKind::SocNoticeQueued, EventKind::SocNoticeUnrouted] {
                told |= store::has_sent_event_with(conn, case_id, kind, OVERDUE, &key).await?;
            }
            if !told {
                out.push((clock, due, key));
            }
        }
        Ok(out)
    }

    async fn soc_overdue_case(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        now: DateTime<Utc>,
    ) -> Result<usize, NotifyError> {
        // Asked again in the write transaction: another run may have told them.
        let due = self.clocks_to_tell(tx, case_id, now).await?;
        let snap = self.snapshot(tx, case_id).await?;
        let mut queued = 0;
        for (clock, due, key) in due {
            let late = crate::sla::span((now - due).num_seconds());
            let (headline, reason) = if clock == "triage" {
                (
                    "Triage is overdue",
                    format!(
                        "Nobody has triaged this case (set its severity, assignee or status) and its triage time ran out {late} ago, at {}.",
                        super::local(due)
                    ),
                )
            } else {
                (
                    "SCIO update overdue",
                    format!(
                        "The SCIO thread has heard nothing for longer than the update interval: the update was due {late} ago, at {}, and none could be queued. Send one from the case page.",
                        super::local(due)
                    ),
                )
            };
            let to: Vec<Contact> = match snap.row.assignee.as_deref() {
                Some(a) => self
                    .assignee_address(a)
                    .map(|address| {
                        vec![Contact {
                            name: None,
                            address,
                        }]
                    })
                    .unwrap_or_default(),
                None => self.directory.get().lists.soc_oncall.clone(),
            };
            if to.is_empty() {
                let why = match snap.row.assignee.as_deref() {
                    Some(a) => format!(
                        "account '{a}' is not an address and [soc] assignee_domain is empty"
                    ),
                    None => "the directory has no [lists] soc_oncall addresses".into(),
                };
                let detail = serde_json::json!({ "notice": OVERDUE, OVERDUE: key, "reason": why });
                self.unrouted(tx, case_id, detail, now).await?;
                // No mail, but the chat still hears of it.
                let notice = serde_json::json!({ "notice": OVERDUE, OVERDUE: key });
                self.soc_webhook(tx, &snap, (headline, &reason), notice, now)
                    .await?;
                continue;
            }
            self.soc_mail(
                tx,
                &snap,
                &to,
                (headline, &reason),
                serde_json::json!({ "notice": OVERDUE, OVERDUE: key }),
                "system",
                now,
            )
            .await?;
            queued += 1;
        }
        Ok(queued)
    }

    fn assignee_address(&self, account: &str) -> Option<EmailAddress> {
        if let Ok(a) = EmailAddress::parse(account) {
            return Some(a);
        }
        let domain = self.config.soc.assignee_domain.trim();
        (!domain.is_empty())
            .then(|| EmailAddress::parse(&format!("{account}@{domain}")).ok())
            .flatten()
    }

    /// Queues one notice; `detail` (an object: `notice`, maybe `assignee`) is recorded
    /// with the recipients on its `soc_notice_queued` event.
    #[allow(clippy::too_many_arguments)]
    async fn soc_mail(
        &self,
        tx: &mut SqliteConnection,
        snap: &Snapshot,
        to: &[Contact],
        (headline, reason): (&str, &str),
        mut detail: serde_json::Value,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, NotifyError> {
        let mut ctx = self.context(snap, now);
        ctx["headline"] = serde_json::json!(headline);
        ctx["reason"] = serde_json::json!(reason);
        ctx["description"] = serde_json::json!(snap.description);
        ctx["triage_due"] = serde_json::json!(parse_ts(&snap.row.created_at)
            .map(|t| super::local(t + self.config.soc.triage_within(snap.severity)))
            .unwrap_or_default());
        let rendered =
            self.templates
                .render("soc_notice", &ctx)
                .map_err(|e| NotifyError::Compose {
                    what: "SOC notice",
                    reason: e.to_string(),
                })?;
        let spec = Mail {
            case_id: snap.row.id,
            tracking_id: &snap.row.tracking_id,
            kind: OutboxKind::SocNotice,
            to,
            in_reply_to: None,
            references: &[],
            hold_reason: None,
        };
        let notice = detail.clone();
        let record = Record {
            actor,
            queued: EventKind::SocNoticeQueued,
            detail: {
                detail["to"] = to.iter().map(|c| c.address.to_string()).collect();
                detail
            },
        };
        let id = self.queue(tx, &spec, &rendered, record, now).await?;
        self.soc_webhook(tx, snap, (headline, reason), notice, now)
            .await?;
        Ok(id)
    }

    /// The same notice to the SOC's chat webhook, when `[soc] webhook_url` is set: one
    /// `webhook` outbox row (posted by the worker) and a `webhook_queued` event. The
    /// text is ours but for the agency, which is cut to plain words, so nothing from a
    /// message becomes a link or markup in the chat.
    async fn soc_webhook(
        &self,
        tx: &mut SqliteConnection,
        snap: &Snapshot,
        (headline, reason): (&str, &str),
        mut detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), NotifyError> {
        if self.config.soc.webhook_url.is_none() {
            return Ok(());
        }
        let text = webhook_text(snap, headline, reason);
        let body = serde_json::json!({ "text": text }).to_string();
        let message_id = format!(
            "webhook.{}.{}",
            snap.row.tracking_id,
            uuid::Uuid::new_v4().simple()
        );
        let id = outbox::enqueue(
            tx,
            outbox::NewOutbound {
                case_id: Some(snap.row.id),
                kind: OutboxKind::Webhook,
                message_id: &message_id,
                from_addr: "",
                recipients: &["webhook".to_string()],
                subject: headline,
                raw: body.as_bytes(),
                hold_reason: None,
                caused_by_message: None,
                now,
            },
        )
        .await?;
        detail["outbox_id"] = serde_json::json!(id);
        let mut ev = NewEvent::system(snap.row.id, now, EventKind::WebhookQueued, detail);
        ev.outbox_id = Some(id);
        store::record_event(tx, ev).await?;
        Ok(())
    }

    async fn unrouted(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), NotifyError> {
        let ev = NewEvent::system(case_id, now, EventKind::SocNoticeUnrouted, detail);
        store::record_event(tx, ev).await?;
        Ok(())
    }
}

/// The chat line of a SOC notice: "[SOC-2026-000012] New case for the SOC: Department
/// of Revenue, phishing, critical (suggested). <reason>". The agency (read from the
/// report) keeps letters, digits, spaces and `,'-` only, so no name in it becomes a link
/// (no dots) or markup; `&`, `<` and `>` never reach the chat unescaped.
fn webhook_text(snap: &Snapshot, headline: &str, reason: &str) -> String {
    let agency: String = snap
        .row
        .agency
        .as_deref()
        .unwrap_or("agency not yet known")
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | ',' | '\'' | '-'))
        .take(120)
        .collect();
    let severity = match (snap.severity, snap.severity_suggested) {
        (Some(s), true) => format!("{} (suggested)", s.as_str()),
        (Some(s), false) => s.as_str().to_string(),
        (None, _) => "severity not yet assessed".into(),
    };
    let category = super::label(snap.row.category.as_deref().unwrap_or("unclassified"));
    let text = format!(
        "[{}] {headline}: {}, {category}, {severity}. {reason}",
        snap.row.tracking_id,
        agency.trim()
    );
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
