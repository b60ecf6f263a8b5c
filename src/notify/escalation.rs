//! Escalation notices (major incident, data loss, law enforcement, external
//! communications), each sent once per case to its list; and what a report or a
//! verified reply changes: the flags the reporter answered yes to, the thread, the
//! escalations.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{Mail, Notifier, NotifyError};
use crate::domain::{EventKind, Flag, OutboxKind};
use crate::outbound::Record;
use crate::store::{self, cases, notices, NewEvent, StoreError};

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

impl Notifier {
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
            let (list_name, to, template, headline, reason, action) = notice_of(cause, &dir);
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
            let record = Record {
                actor,
                queued: EventKind::EscalationQueued,
                detail: serde_json::json!({
                    "cause": cause.as_str(),
                    "list": list_name,
                    "to": to.iter().map(|c| c.address.to_string()).collect::<Vec<_>>(),
                }),
            };
            let id = self.queue(tx, &spec, &rendered, record, now).await?;
            notices::record_escalation(tx, case_id, cause.as_str(), id, now).await?;
            queued.push(id);
        }
        Ok(queued)
    }

    /// After an analyst cleared `flag`: when its escalation notice went out, the same
    /// list is told it is withdrawn (once per case and cause), so leadership does not
    /// keep acting on a notice the SOC no longer stands by. Returns the outbox row.
    pub async fn withdraw(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        flag: Flag,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, NotifyError> {
        let snap = self.snapshot(tx, case_id).await?;
        let cause = match flag {
            Flag::MajorIncident => Cause::MajorIncident,
            // Data loss stands while the category says so.
            Flag::PersonalInformation if snap.row.category.as_deref() != Some("data_exposure") => {
                Cause::DataLoss
            }
            Flag::LawEnforcementContacted => Cause::LawEnforcement,
            Flag::ExternalCommunications => Cause::ExternalCommunications,
            _ => return Ok(None),
        };
        let sent = notices::escalation_causes(tx, case_id).await?;
        if !sent.iter().any(|c| c == cause.as_str())
            || store::has_event_with(
                tx,
                case_id,
                EventKind::EscalationQueued,
                "withdrawn",
                cause.as_str(),
            )
            .await?
        {
            return Ok(None);
        }
        let dir = self.directory.get();
        let (list_name, to, _, headline, _, _) = notice_of(cause, &dir);
        if to.is_empty() {
            return Ok(None);
        }
        let mut ctx = self.context(&snap, now);
        ctx["headline"] = serde_json::json!(format!("Withdrawn: {headline}"));
        ctx["reason"] = serde_json::json!(format!(
            "The SOC has withdrawn its earlier notice \"{headline}\" on this case: an analyst ({actor}) cleared it. Disregard that notice; the SCIO thread carries the current state."
        ));
        ctx["action"] = serde_json::json!("");
        let rendered =
            self.templates
                .render("escalation", &ctx)
                .map_err(|e| NotifyError::Compose {
                    what: "escalation withdrawal",
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
        let record = Record {
            actor,
            queued: EventKind::EscalationQueued,
            detail: serde_json::json!({
                "withdrawn": cause.as_str(),
                "list": list_name,
                "to": to.iter().map(|c| c.address.to_string()).collect::<Vec<_>>(),
            }),
        };
        Ok(Some(self.queue(tx, &spec, &rendered, record, now).await?))
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
        let r = self.after_report_inner(tx, case_id, message_row, now).await;
        super::recorded(tx, case_id, message_row, now, r).await
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
        self.soc_new_case(tx, case_id, now).await?;
        Ok(())
    }
}

/// The list, template and words of a cause's notice.
fn notice_of(
    cause: Cause,
    dir: &crate::routing::Directory,
) -> (
    &'static str,
    &[crate::routing::Contact],
    &'static str,
    &'static str,
    &'static str,
    &'static str,
) {
    match cause {
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
    }
}
