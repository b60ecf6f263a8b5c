//! Mail about a case to people other than the reporter: the SCIO thread (one thread
//! per case, each update a reply in it), the periodic status updates, escalation
//! notices, and the disclosure rule every such message passes.
//!
//! Everything here runs inside the caller's write transaction, so a change and the
//! mail it causes are committed together (design invariant 2).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use crate::config::Config;
use crate::domain::{EmailAddress, EventKind, Flag, OutboxKind, Severity, Status};
use crate::outbound::template::local_time as local;
use crate::outbound::{Outgoing, QueueError, Rendered, Templates};
use crate::policy::Disclosure;
use crate::routing::{Audience, Contact, DirectoryHandle};
use crate::store::cases::{self, CaseRow};
use crate::store::notices;
use crate::store::outbox::{self, NoticeScope};
use crate::store::{self, parse_ts, NewEvent, Store, StoreError};

/// Why a notice could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The template or the message could not be built: a defect to fix, not a state of
    /// the case. Intake records it on the case and carries on.
    #[error("the {what} could not be written: {reason}")]
    Compose { what: &'static str, reason: String },
}

impl NotifyError {
    pub fn is_transient(&self) -> bool {
        matches!(self, NotifyError::Store(e) if e.is_transient())
    }
}

/// Why an escalation notice goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    MajorIncident,
    DataLoss,
    LawEnforcement,
    ExternalCommunications,
}

impl Cause {
    pub fn as_str(&self) -> &'static str {
        match self {
            Cause::MajorIncident => "major_incident",
            Cause::DataLoss => "data_loss",
            Cause::LawEnforcement => "law_enforcement",
            Cause::ExternalCommunications => "external_communications",
        }
    }
}

/// What an SCIO update says besides the case's current state.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// One line per change ("Status: triage → investigating").
    pub lines: Vec<String>,
    /// An analyst's written update (Markdown).
    pub message: Option<String>,
    /// Extra recipients of this one update (a copy outside the thread's audience).
    pub cc: Vec<EmailAddress>,
    /// `periodic` for the rhythm, else the event kind that caused it.
    pub cause: String,
    pub actor: String,
}

/// What happened to an SCIO update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Queued for the thread; copies for `cc` queued as listed, `held` of them held.
    Queued {
        outbox_id: i64,
        copies: Vec<i64>,
        held: usize,
    },
    /// Nobody to send it to: the reason.
    NoAudience(String),
}

/// Composes and queues notifications; shared by intake, the CLI and the web UI.
#[derive(Clone)]
pub struct Notifier {
    config: Arc<Config>,
    templates: Arc<Templates>,
    directory: DirectoryHandle,
    disclosure: Disclosure,
}

/// The case as notifications describe it.
struct Snapshot {
    row: CaseRow,
    status: Status,
    severity: Option<Severity>,
    severity_suggested: bool,
    flags: Vec<Flag>,
    description: Option<String>,
    /// Why the report's sender could not be authenticated, when it could not.
    sender_unverified: Option<String>,
}

impl Notifier {
    pub fn new(config: Arc<Config>, directory: DirectoryHandle) -> Self {
        Self {
            disclosure: Disclosure::new(config.clone(), directory.clone()),
            config,
            templates: Arc::new(Templates::new()),
            directory,
        }
    }

    /// The email templates (compiled once, shared with intake's answers).
    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// The disclosure rule every notice passes (shared with intake and the worker).
    pub fn disclosure(&self) -> &Disclosure {
        &self.disclosure
    }

    /// Who hears of a case: its agency's audience, else (a report from a vendor) the
    /// audience of the one agency the vendor serves.
    fn audience(&self, row: &CaseRow) -> Result<Audience, String> {
        let dir = self.directory.get();
        if let Some(agency) = row.agency.as_deref() {
            return dir.audience(agency).ok_or_else(|| {
                format!(
                    "agency '{agency}' is not in the directory, or has no SCIO, CIO or ISO there"
                )
            });
        }
        let vendor_agency = row
            .reporter_email
            .as_deref()
            .and_then(|r| EmailAddress::parse(r).ok())
            .and_then(|r| dir.agency_served_by(&r).map(|a| a.name.clone()));
        match vendor_agency {
            Some(a) => dir
                .audience(&a)
                .ok_or_else(|| format!("agency '{a}' has no SCIO, CIO or ISO in the directory")),
            None => Err(
                "the case has no agency yet: set it (agency field) to open the SCIO thread".into(),
            ),
        }
    }

    async fn snapshot(
        &self,
        conn: &mut SqliteConnection,
        case_id: i64,
    ) -> Result<Snapshot, NotifyError> {
        let row = cases::by_id(conn, case_id)
            .await?
            .ok_or_else(|| StoreError::NoSuchCase(format!("#{case_id}")))?;
        let flags = cases::flags(conn, case_id).await?;
        let description = cases::fields(conn, case_id)
            .await?
            .get("description")
            .and_then(|f| f.value.as_str())
            .map(first_lines);
        let severity = row
            .severity
            .as_deref()
            .or(row.severity_suggested.as_deref())
            .and_then(|s| s.parse().ok());
        let sender_unverified =
            store::first_event_text(conn, case_id, EventKind::SenderNotAuthenticated, "reason")
                .await?;
        Ok(Snapshot {
            sender_unverified,
            status: row.status,
            severity_suggested: row.severity.is_none() && severity.is_some(),
            severity,
            flags,
            description,
            row,
        })
    }

    /// The template context every notice shares.
    fn context(&self, s: &Snapshot, now: DateTime<Utc>) -> serde_json::Value {
        let interval = self.config.updates.interval(s.severity);
        serde_json::json!({
            "tracking_id": s.row.tracking_id,
            "agency": s.row.agency.clone().unwrap_or_else(|| "agency not yet known".into()),
            "category": label(s.row.category.as_deref().unwrap_or("unclassified")),
            "severity": s.severity.map(|x| x.as_str()).unwrap_or("not yet assessed"),
            "severity_suggested": s.severity_suggested,
            "priority": s.row.priority.clone().unwrap_or_else(|| "not set".into()),
            "status": s.status.as_str(),
            "open": s.status.is_open(),
            "flags": s.flags.iter().map(|f| label(f.as_str())).collect::<Vec<_>>().join(", "),
            "reported_at": parse_ts(&s.row.created_at).map(local).unwrap_or_default(),
            "reporter": s.row.reporter_email,
            "sender_unverified": s.sender_unverified,
            "banner": self.config.updates.banner,
            "soc_name": self.config.gateway.name,
            "interval": human_interval(interval),
            "next_update": local(now + interval),
        })
    }

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
        let outbox_id = self.queue(tx, &spec, &rendered, now).await?;
        store::record_event(
            tx,
            NewEvent {
                case_id,
                at: now,
                actor: &change.actor,
                kind: EventKind::ScioUpdateQueued,
                detail: serde_json::json!({
                    "kind": kind,
                    "to": audience.to.iter().map(|c| c.address.to_string()).collect::<Vec<_>>(),
                    "cause": change.cause,
                    "changes": change.lines,
                    "message": change.message,
                }),
                message_row_id: None,
                outbox_id: Some(outbox_id),
            },
        )
        .await?;

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
            let id = self.queue(tx, &spec, &rendered, now).await?;
            store::record_event(
                tx,
                NewEvent {
                    case_id,
                    at: now,
                    actor: &change.actor,
                    kind: if hold.is_some() {
                        EventKind::OutboundHeld
                    } else {
                        EventKind::ScioCopyQueued
                    },
                    detail: serde_json::json!({
                        "kind": "scio_copy",
                        "to": cc.to_string(),
                        "hold_reason": hold,
                    }),
                    message_row_id: None,
                    outbox_id: Some(id),
                },
            )
            .await?;
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
                if store::count_events(tx, case_id, EventKind::ScioNoticeRateLimited).await? == 0 {
                    tracing::warn!(case_id, %reason, "new-incident notice not sent");
                    store::record_event(
                        tx,
                        NewEvent::system(
                            case_id,
                            now,
                            EventKind::ScioNoticeRateLimited,
                            serde_json::json!({ "reason": reason }),
                        ),
                    )
                    .await?;
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
                let told = store::count_events(tx, case_id, EventKind::ScioUnrouted).await?;
                if told == 0 {
                    store::record_event(
                        tx,
                        NewEvent::system(
                            case_id,
                            now,
                            EventKind::ScioUnrouted,
                            serde_json::json!({ "reason": why }),
                        ),
                    )
                    .await?;
                }
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

    /// Queues every escalation notice the case's state calls for and that has not
    /// gone out yet for this case and cause. Returns the outbox rows queued.
    pub async fn escalate(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, NotifyError> {
        let snap = self.snapshot(tx, case_id).await?;
        let dir = self.directory.get();
        let mut causes = Vec::new();
        if snap.flags.contains(&Flag::MajorIncident) {
            causes.push(Cause::MajorIncident);
        }
        if snap.flags.contains(&Flag::PersonalInformation)
            || snap.row.category.as_deref() == Some("data_exposure")
        {
            causes.push(Cause::DataLoss);
        }
        if snap.flags.contains(&Flag::LawEnforcementContacted) {
            causes.push(Cause::LawEnforcement);
        }
        if snap.flags.contains(&Flag::ExternalCommunications) {
            causes.push(Cause::ExternalCommunications);
        }
        let done = notices::escalation_causes(tx, case_id).await?;
        let mut queued = Vec::new();
        for cause in causes {
            if done.iter().any(|d| d == cause.as_str()) {
                continue;
            }
            let (list_name, to, template, headline, reason, action) = match cause {
                Cause::MajorIncident => (
                    "leadership",
                    &dir.lists.leadership,
                    "major_incident",
                    "Major incident declared",
                    "The SOC has declared a major incident.",
                    "",
                ),
                Cause::DataLoss => (
                    "leadership",
                    &dir.lists.leadership,
                    "escalation",
                    "Personal information or data loss",
                    "Personal information may be involved, or Commonwealth data may have been lost or exposed. Leadership is kept informed of breaches and data loss.",
                    "Legal review of M.G.L. c. 93H notice obligations may be needed; the SOC will confirm the facts in the SCIO thread.",
                ),
                Cause::LawEnforcement => (
                    "soc_oncall",
                    &dir.lists.soc_oncall,
                    "escalation",
                    "Law enforcement contacted",
                    "The case records that law enforcement has been contacted.",
                    "SOC on-call: confirm which agency and contact, and coordinate further communication with law enforcement through the SOC.",
                ),
                Cause::ExternalCommunications => (
                    "soc_oncall",
                    &dir.lists.soc_oncall,
                    "escalation",
                    "External communications reported",
                    "The case records that something was communicated outside the agency (vendors, press, the public or other governments).",
                    "SOC on-call: find out what was said and to whom; nothing further goes out without the SOC's consent.",
                ),
            };
            if to.is_empty() {
                store::record_event(
                    tx,
                    NewEvent::system(
                        case_id,
                        now,
                        EventKind::EscalationUnrouted,
                        serde_json::json!({
                            "cause": cause.as_str(),
                            "reason": format!("the directory has no [lists] {list_name} addresses"),
                        }),
                    ),
                )
                .await?;
                continue;
            }
            let mut ctx = self.context(&snap, now);
            ctx["headline"] = serde_json::json!(headline);
            ctx["reason"] = serde_json::json!(reason);
            ctx["action"] = serde_json::json!(action);
            let rendered =
                self.templates
                    .render(template, &ctx)
                    .map_err(|e| NotifyError::Compose {
                        what: "escalation notice",
                        reason: e.to_string(),
                    })?;
            let spec = Mail {
                case_id,
                tracking_id: &snap.row.tracking_id,
                kind: OutboxKind::Escalation,
                to,
                in_reply_to: None,
                references: &[],
                hold_reason: None,
            };
            let id = self.queue(tx, &spec, &rendered, now).await?;
            notices::record_escalation(tx, case_id, cause.as_str(), id, now).await?;
            store::record_event(
                tx,
                NewEvent {
                    case_id,
                    at: now,
                    actor,
                    kind: EventKind::EscalationQueued,
                    detail: serde_json::json!({
                        "cause": cause.as_str(),
                        "list": list_name,
                        "to": to.iter().map(|c| c.address.to_string()).collect::<Vec<_>>(),
                    }),
                    message_row_id: None,
                    outbox_id: Some(id),
                },
            )
            .await?;
            queued.push(id);
        }
        Ok(queued)
    }

    /// After a report or a verified reply changed the case's fields: flags the
    /// reporter answered "yes" to are set, the SCIO thread opens when the agency is now
    /// known, and the escalations the new state calls for are queued. A notice that
    /// cannot be written is recorded on the case (`notification_failed`) and does not
    /// fail the intake: the message is stored whatever happens to the mail about it.
    pub async fn after_report(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        message_row: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self.after_report_inner(tx, case_id, message_row, now).await {
            Err(e @ NotifyError::Compose { .. }) => {
                let reason = e.to_string();
                tracing::error!(case_id, %reason, "notification could not be written");
                store::record_event(
                    tx,
                    NewEvent {
                        message_row_id: Some(message_row),
                        ..NewEvent::system(
                            case_id,
                            now,
                            EventKind::NotificationFailed,
                            serde_json::json!({ "reason": reason }),
                        )
                    },
                )
                .await?;
                Ok(())
            }
            Err(NotifyError::Store(e)) => Err(e),
            Ok(()) => Ok(()),
        }
    }

    async fn after_report_inner(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        message_row: i64,
        now: DateTime<Utc>,
    ) -> Result<(), NotifyError> {
        let fields = cases::fields(tx, case_id).await?;
        for flag in [
            Flag::PersonalInformation,
            Flag::LawEnforcementContacted,
            Flag::ExternalCommunications,
        ] {
            let Some(field) = fields.get(flag.as_str()) else {
                continue;
            };
            // An analyst who cleared a flag has the last word over later email.
            if field.value.as_str() == Some("yes")
                && !cases::flag_cleared_by_analyst(tx, case_id, flag).await?
            {
                cases::set_flag(
                    tx,
                    case_id,
                    flag,
                    true,
                    "system",
                    serde_json::json!({
                        "reason": "the reporter answered yes",
                        "source": field.source,
                        "message_row": message_row,
                    }),
                    now,
                )
                .await?;
            }
        }
        self.open_thread(tx, case_id, "system", now).await?;
        self.escalate(tx, case_id, "system", now).await?;
        Ok(())
    }

    /// Queues the periodic status updates due at `now`: every open case whose SCIO
    /// thread has been quiet for its severity's interval. Reads the schedule from the
    /// outbox in one write transaction, so a restart or a second run sends nothing twice.
    pub async fn periodic(&self, store: &Store, now: DateTime<Utc>) -> Result<usize, NotifyError> {
        let mut tx = store.begin_write().await?;
        let rows = notices::open_threads(&mut tx).await?;
        let mut queued = 0;
        for row in rows {
            let case_id = row.case_id;
            let Some(last) = parse_ts(&row.last_message_at) else {
                continue;
            };
            let severity = row
                .severity
                .or(row.severity_suggested)
                .and_then(|s| s.parse().ok());
            if last + self.config.updates.interval(severity) > now {
                continue;
            }
            let lines = changes_since(&mut tx, case_id, &store::ts(last)).await?;
            let change = Change {
                lines,
                cause: "periodic".into(),
                actor: "system".into(),
                ..Change::default()
            };
            match self.scio_update(&mut tx, case_id, &change, now).await {
                Ok(Sent::Queued { .. }) => queued += 1,
                Ok(Sent::NoAudience(_)) => {}
                // One case's broken update must not hold back the others'.
                Err(e @ NotifyError::Compose { .. }) => {
                    let reason = e.to_string();
                    tracing::error!(case_id, %reason, "periodic update could not be written")
                }
                Err(e) => return Err(e),
            }
        }
        tx.commit().await?;
        Ok(queued)
    }

    /// Composes one message and writes its outbox row.
    async fn queue(
        &self,
        tx: &mut SqliteConnection,
        m: &Mail<'_>,
        rendered: &Rendered,
        now: DateTime<Utc>,
    ) -> Result<i64, NotifyError> {
        let to: Vec<(Option<String>, EmailAddress)> =
            m.to.iter()
                .map(|c| (c.name.clone(), c.address.clone()))
                .collect();
        let outgoing = Outgoing {
            case_id: Some(m.case_id),
            kind: m.kind,
            id_tag: &format!("{}.{}", m.kind, m.tracking_id),
            to: &to,
            in_reply_to: m.in_reply_to,
            references: m.references,
            auto_submitted: "auto-generated",
            hold_reason: m.hold_reason,
            caused_by_message: None,
        };
        match crate::outbound::enqueue(tx, &self.config, &outgoing, rendered, now).await {
            Ok((id, _)) => Ok(id),
            Err(QueueError::Store(e)) => Err(e.into()),
            Err(QueueError::Compose(e)) => Err(NotifyError::Compose {
                what: "message",
                reason: e.to_string(),
            }),
        }
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

/// One message to compose.
struct Mail<'a> {
    case_id: i64,
    tracking_id: &'a str,
    kind: OutboxKind,
    to: &'a [Contact],
    in_reply_to: Option<&'a str>,
    references: &'a [String],
    hold_reason: Option<&'a str>,
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

/// What an SCIO reader should hear about the events since `since`.
async fn changes_since(
    conn: &mut SqliteConnection,
    case_id: i64,
    since: &str,
) -> Result<Vec<String>, NotifyError> {
    let events = store::events_since(conn, case_id, since).await?;
    let mut lines = Vec::new();
    let mut fields = Vec::new();
    let mut replies = 0;
    for (kind, d) in events {
        match kind.as_str() {
            "field_changed" => {
                if let Some(f) = d["field"].as_str() {
                    let f = label(f);
                    if !fields.contains(&f) {
                        fields.push(f);
                    }
                }
            }
            "correspondence_received" => replies += 1,
            _ => lines.extend(describe(&kind, &d)),
        }
    }
    if !fields.is_empty() {
        lines.push(format!("Details recorded: {}", fields.join(", ")));
    }
    if replies > 0 {
        lines.push(format!("{replies} new message(s) received on the case"));
    }
    Ok(lines)
}

/// One line for an event an SCIO should hear about; `None` for internal ones (notes,
/// mail bookkeeping).
pub fn describe(kind: &str, d: &serde_json::Value) -> Option<String> {
    let s = |k: &str| d[k].as_str().map(label).unwrap_or_else(|| "none".into());
    match kind {
        "status_changed" => Some(format!("Status: {} → {}", s("old"), s("new"))),
        "severity_changed" => Some(format!("Severity: {} → {}", s("old"), s("new"))),
        "priority_changed" => Some(format!("Priority: {} → {}", s("old"), s("new"))),
        "flag_set" => Some(format!("Flag set: {}", s("flag"))),
        "flag_cleared" => Some(format!("Flag cleared: {}", s("flag"))),
        "scio_update_queued" if d["message"].is_string() => {
            Some("The SOC wrote an update (above in this thread)".into())
        }
        _ => None,
    }
}

/// "data_exposure" → "Data exposure"; "p2" stays.
pub fn label(s: &str) -> String {
    let t = s.replace('_', " ");
    let mut c = t.chars();
    match c.next() {
        Some(f) if t.len() > 2 => f.to_uppercase().collect::<String>() + c.as_str(),
        _ => t,
    }
}

fn human_interval(d: chrono::Duration) -> String {
    let h = d.num_hours();
    if h % 24 == 0 && h >= 48 {
        format!("{} days", h / 24)
    } else if h == 1 {
        "hour".into()
    } else {
        format!("{h} hours")
    }
}

/// The first lines of a report, at most 12 lines or 1,200 characters.
fn first_lines(s: &str) -> String {
    let mut out = String::new();
    for (i, line) in s.lines().enumerate() {
        if i >= 12 || out.len() + line.len() > 1200 {
            out.push_str("[…]\n");
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string()
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

    #[test]
    fn labels_and_descriptions() {
        assert_eq!(label("data_exposure"), "Data exposure");
        assert_eq!(label("p2"), "p2");
        let d = serde_json::json!({"old": "triage", "new": "investigating"});
        assert_eq!(
            describe("status_changed", &d).unwrap(),
            "Status: Triage → Investigating"
        );
        assert!(describe("note_added", &serde_json::json!({"text": "internal"})).is_none());
        assert_eq!(human_interval(chrono::Duration::hours(168)), "7 days");
        assert_eq!(human_interval(chrono::Duration::hours(4)), "4 hours");
        assert_eq!(human_interval(chrono::Duration::hours(24)), "24 hours");
    }
}
