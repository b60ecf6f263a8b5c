//! A report of a suspect message the SOC already has a case for (a phishing campaign
//! reported by many staff): it joins that case instead of opening one. Its reporter
//! becomes a participant and is acknowledged once with the campaign's tracking ID, its
//! indicators join the case's, and an agency new to the campaign has its SCIO told once.

use chrono::{DateTime, Duration, Utc};
use sqlx::SqliteConnection;

use super::answer::suppress;
use super::new_case::{CampaignAck, Reported};
use super::persist::store_message;
use super::{Incoming, IngestOutcome, Pipeline};
use crate::domain::{EventKind, MessageKind, TrackingId};
use crate::extract::report::Analysis;
use crate::notify::CampaignNotice;
use crate::store::{self, campaigns, cases, sharing, StoreError};

/// What a later reporter of a closed campaign is told when no analyst wrote an answer.
const CLOSED_ANSWER: &str =
    "Delete the message without opening its links or attachments. Nothing else is needed from you.";

impl Pipeline {
    /// The open or recent case whose suspect message this report forwards too: one
    /// that saw one of its fingerprints within `[gateway] campaign_window_hours`.
    pub(super) async fn campaign_of(
        &self,
        tx: &mut SqliteConnection,
        analysis: &Analysis,
        now: DateTime<Utc>,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let hours = self.config.gateway.campaign_window_hours;
        if hours == 0 || analysis.fingerprints.is_empty() {
            return Ok(None);
        }
        let since = now - Duration::hours(i64::from(hours));
        Ok(
            match campaigns::find(tx, &analysis.fingerprints, since).await? {
                Some((id, f)) => Some((cases::resolve_merged(tx, id).await?, f)),
                None => None,
            },
        )
    }

    /// Adds the report to the campaign case `case_id` (matched by `fingerprint`).
    pub(super) async fn join_campaign(
        &self,
        tx: &mut SqliteConnection,
        case_id: i64,
        fingerprint: &str,
        m: &Incoming<'_>,
    ) -> Result<IngestOutcome, StoreError> {
        let (analysis, now) = (m.analysis, m.now);
        let email = &analysis.email;
        let row = store_message(tx, Some(case_id), MessageKind::Report, m).await?;
        let reporter = email.reply_address().map(|r| r.address.as_str());
        let agency = analysis
            .fields
            .get("agency")
            .and_then(|f| f.value.as_str())
            .map(str::trim)
            .filter(|a| !a.is_empty());
        let acked_before = match reporter {
            Some(r) => campaigns::acknowledged(tx, case_id, r).await?,
            None => false,
        };
        let new_agency = match agency {
            Some(a) => !campaigns::agency_seen(tx, case_id, a).await?,
            None => false,
        };
        campaigns::record_report(
            tx,
            campaigns::NewReport {
                case_id,
                message_row: row,
                reporter,
                agency,
                fingerprints: &analysis.fingerprints,
                now,
                opens: false,
            },
        )
        .await?;
        // Later reporters are not participants of the case: it is the first report's
        // (their reply cannot change its fields or route it elsewhere, and case details
        // never go to them by that right). They are in `case_reports`, and what they
        // write back is kept for the analysts (see `replies`).
        // What this report says that the campaign's flags may not: for an analyst.
        let raised: Vec<String> = [
            "personal_information",
            "law_enforcement_contacted",
            "external_communications",
        ]
        .into_iter()
        .filter(|f| {
            analysis
                .fields
                .get(*f)
                .is_some_and(|v| v.value.as_str() == Some("yes"))
        })
        .map(String::from)
        .chain(analysis.escalations.iter().map(|e| e.reason.clone()))
        .collect();
        if !raised.is_empty() {
            cases::flag_for_review(tx, case_id).await?;
        }
        let unauthenticated = self
            .record_unauthenticated(tx, case_id, row, email, now)
            .await?;
        // The case lists every report's indicators.
        let mut iocs = sharing::indicators(tx, case_id).await?;
        let before = iocs.pairs().len();
        iocs.merge(analysis.iocs.clone());
        if iocs.pairs().len() != before {
            sharing::set_indicators(tx, case_id, &iocs).await?;
        }
        let summary = campaigns::summary(tx, case_id, 0).await?;
        store::record_message_event(
            tx,
            case_id,
            row,
            now,
            EventKind::CampaignReportAdded,
            serde_json::json!({
                "from": email.from.as_ref().map(|f| f.address.to_string()),
                "agency": agency,
                "subject": email.subject,
                "matched_by": crate::extract::campaign::describe(fingerprint),
                "reports": summary.reports,
                "people": summary.people,
                "agencies": summary.agencies.len(),
                "category": analysis.category,
                "raised": raised,
                "sender_not_authenticated": unauthenticated,
            }),
        )
        .await?;
        cases::touch(tx, case_id, now).await?;

        let row_of_case = cases::by_id(tx, case_id)
            .await?
            .ok_or_else(|| StoreError::NoSuchCase(format!("#{case_id}")))?;
        let tid: TrackingId = row_of_case
            .tracking_id
            .parse()
            .map_err(|e| StoreError::Corrupt {
                table: "cases",
                key: case_id.to_string(),
                what: format!("tracking ID: {e}"),
            })?;
        let (ack, note) = if acked_before {
            let why = format!(
                "{} was acknowledged for this campaign before",
                reporter.unwrap_or("the sender")
            );
            suppress(tx, Some(case_id), row, now, why).await?
        } else {
            let known = summary
                .answer
                .clone()
                .or_else(|| (!row_of_case.status.is_open()).then(|| CLOSED_ANSWER.to_string()));
            let campaign = CampaignAck {
                reports: summary.reports,
                known,
            };
            let report = Reported {
                case_id,
                row,
                tid: &tid,
            };
            self.acknowledge(tx, report, analysis, Some(&campaign), now)
                .await?
        };
        // The agency a report names is told only when the sender is authenticated (or
        // authentication is not configured): an agency's name in a forged report must
        // not bring its SCIO a notice.
        if let (true, Some(agency), None) = (new_agency, agency, &unauthenticated) {
            let suspect = analysis.evidence.iter().find_map(|e| e.subject.as_deref());
            let notice = CampaignNotice {
                agency,
                message_row: row,
                suspect_subject: suspect,
                campaign: &summary,
            };
            self.notifier
                .campaign_agency(tx, case_id, &notice, now)
                .await?;
        }
        Ok(IngestOutcome {
            message_row: row,
            duplicate: false,
            kind: MessageKind::Report,
            tracking_id: Some(tid.to_string()),
            new_case: false,
            acknowledgement: ack,
            note: Some(match note {
                Some(n) => format!(
                    "joined campaign {tid} ({} reports; matched by {}); {n}",
                    summary.reports,
                    crate::extract::campaign::describe(fingerprint)
                ),
                None => format!(
                    "joined campaign {tid} ({} reports; matched by {})",
                    summary.reports,
                    crate::extract::campaign::describe(fingerprint)
                ),
            }),
        })
    }
}
