//! A campaign reaching another agency: that agency's SCIO hears of it once (the case's
//! own agency has the SCIO thread).

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{Mail, Notifier, NotifyError};
use crate::domain::{EventKind, OutboxKind};
use crate::outbound::template::local_time as local;
use crate::outbound::Record;
use crate::store::{campaigns, StoreError};

/// What the notice to another agency's SCIO tells besides the case.
pub struct CampaignNotice<'a> {
    /// The agency as the report names it.
    pub agency: &'a str,
    /// The report that brought the agency in.
    pub message_row: i64,
    /// The suspect message's subject, as the report forwarded it.
    pub suspect_subject: Option<&'a str>,
    /// The campaign as it stands with this report (`store::campaigns::summary`).
    pub campaign: &'a campaigns::Summary,
}

impl Notifier {
    /// Tells the SCIO of an agency whose staff reported a campaign the SOC already
    /// tracks, once per agency (the caller checks that the agency is new to the case).
    /// An agency with no SCIO in the directory is recorded on the case, not mailed.
    pub async fn campaign_agency(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        n: &CampaignNotice<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        match self.campaign_agency_inner(tx, case_id, n, now).await {
            Ok(id) => Ok(id),
            Err(e) => super::recorded(tx, case_id, n.message_row, now, Err(e))
                .await
                .map(|()| None),
        }
    }

    async fn campaign_agency_inner(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        n: &CampaignNotice<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, NotifyError> {
        let Some(audience) = self.directory.get().audience(n.agency) else {
            crate::store::record_message_event(
                tx,
                case_id,
                n.message_row,
                now,
                EventKind::ScioUnrouted,
                serde_json::json!({ "reason": format!(
                    "agency '{}' reported the campaign but is not in the directory, or has no SCIO, CIO or ISO there",
                    n.agency
                ) }),
            )
            .await?;
            return Ok(None);
        };
        let snap = self.snapshot(tx, case_id).await?;
        let summary = n.campaign;
        let mut ctx = self.context(&snap, now);
        ctx["agency"] = serde_json::json!(audience.agency);
        ctx["via"] = serde_json::json!(audience.via);
        ctx["first_report"] = serde_json::json!(local(now));
        ctx["reports"] = serde_json::json!(summary.reports);
        ctx["agency_count"] = serde_json::json!(summary.agencies.len());
        ctx["suspect_subject"] = serde_json::json!(n.suspect_subject);
        ctx["message"] = serde_json::json!(summary.answer);
        let rendered =
            self.templates
                .render("scio_campaign", &ctx)
                .map_err(|e| NotifyError::Compose {
                    what: "campaign notice",
                    reason: e.to_string(),
                })?;
        let spec = Mail {
            case_id,
            tracking_id: &snap.row.tracking_id,
            kind: OutboxKind::ScioCampaign,
            to: &audience.to,
            in_reply_to: None,
            references: &[],
            hold_reason: None,
        };
        let record = Record {
            actor: "system",
            queued: EventKind::ScioCampaignQueued,
            detail: serde_json::json!({
                "kind": OutboxKind::ScioCampaign,
                "agency": audience.agency,
                "to": audience.to.iter().map(|c| c.address.to_string()).collect::<Vec<_>>(),
                "message_row": n.message_row,
            }),
        };
        Ok(Some(self.queue(tx, &spec, &rendered, record, now).await?))
    }
}
