//! Mail about a case: the SCIO thread (`thread`), escalation notices (`escalation`),
//! the periodic status updates (`periodic`), the SOC's own notices (`soc`), the
//! messages an analyst's close or merge sends the reporter (`reporter`), and events in words
//! (`describe`). Answers to the reporter's own mail are intake's. Every message passes the disclosure rule (`policy`)
//! enters the outbox through `outbound::enqueue_recorded`, with its event.
//!
//! Everything here runs inside the caller's write transaction, so a change and the
//! mail it causes are committed together (design invariant 2).

mod campaign;
mod describe;
mod escalation;
mod periodic;
mod reporter;
mod soc;
mod thread;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use crate::config::Config;
use crate::domain::{EmailAddress, EventKind, Flag, OutboxKind, Severity, Status};
use crate::outbound::template::local_time as local;
use crate::outbound::{Outgoing, QueueError, Record, Rendered, Templates};
use crate::policy::Disclosure;
use crate::routing::{Audience, Contact, DirectoryHandle};
use crate::store::cases::{self, CaseRow};
use crate::store::{self, parse_ts, StoreError};

pub use campaign::CampaignNotice;
pub use describe::{describe, label};
use describe::{first_lines, human_interval};
pub use escalation::Cause;
pub use reporter::ReporterMail;

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
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configuration and the live directory this notifier works with (for a
    /// pipeline built beside it).
    pub fn parts(&self) -> (Arc<Config>, DirectoryHandle) {
        (self.config.clone(), self.directory.clone())
    }

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

    /// Composes one message, writes its outbox row and records `record` on the case.
    async fn queue(
        &self,
        tx: &mut SqliteConnection,
        m: &Mail<'_>,
        rendered: &Rendered,
        record: Record<'_>,
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
        match crate::outbound::enqueue_recorded(tx, &self.config, &outgoing, rendered, record, now)
            .await
        {
            Ok((id, _)) => Ok(id),
            Err(QueueError::Store(e)) => Err(e.into()),
            Err(QueueError::Compose(e)) => Err(NotifyError::Compose {
                what: "message",
                reason: e.to_string(),
            }),
        }
    }
}

/// A notice caused by message `message_row` that could not be written (a template or
/// address defect) is recorded on the case as `notification_failed` instead of failing
/// the intake; a database error still fails it.
async fn recorded(
    tx: &mut SqliteConnection,
    case_id: i64,
    message_row: i64,
    now: DateTime<Utc>,
    r: Result<(), NotifyError>,
) -> Result<(), StoreError> {
    match r {
        Err(e @ NotifyError::Compose { .. }) => {
            let reason = e.to_string();
            tracing::error!(case_id, %reason, "notification could not be written");
            store::record_message_event(
                tx,
                case_id,
                message_row,
                now,
                EventKind::NotificationFailed,
                serde_json::json!({ "reason": reason }),
            )
            .await?;
            Ok(())
        }
        Err(NotifyError::Store(e)) => Err(e),
        Ok(()) => Ok(()),
    }
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
