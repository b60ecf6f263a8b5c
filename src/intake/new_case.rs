//! A new case: its tracking ID, the stored report and its reading, its participants,
//! the acknowledgement that asks only for what is missing, and the notices it causes.

use chrono::{DateTime, Duration, Utc};
use sqlx::SqliteConnection;

use chrono::Datelike;
use chrono_tz::America::New_York;

use super::answer::{suppress, Answer};
use super::persist::store_message;
use super::{Incoming, IngestOutcome, Pipeline};
use crate::domain::{EventKind, MessageKind, OutboxKind, TrackingId};
use crate::extract::report::Analysis;
use crate::store::{self, campaigns, cases, messages, outbox, StoreError};

/// The report an acknowledgement answers: its case, its message row, the case's ID.
pub(super) struct Reported<'a> {
    pub(super) case_id: i64,
    pub(super) row: i64,
    pub(super) tid: &'a TrackingId,
}

/// What the acknowledgement of a report that joined a campaign says besides the usual.
pub(super) struct CampaignAck {
    /// How many reports the campaign has, this one included.
    pub(super) reports: i64,
    /// The analyst's answer for later reporters (or the SOC's words for a closed case).
    pub(super) known: Option<String>,
}

impl Pipeline {
    /// Opens a case from a message: a new one (`stored` none: its row is written
    /// here) or one already stored in the quarantine (`stored`: its row, which joins
    /// the case as its report).
    pub(super) async fn open_case(
        &self,
        tx: &mut SqliteConnection,
        m: &Incoming<'_>,
        stored: Option<i64>,
    ) -> Result<IngestOutcome, StoreError> {
        let (analysis, origin, now) = (m.analysis, m.origin, m.now);
        let email = &analysis.email;
        let year = now.with_timezone(&New_York).year();
        let tid = cases::next_tracking_id(tx, &self.config.gateway.tracking_prefix, year).await?;
        let reporter = email.reply_address();
        let case_id = cases::insert(
            tx,
            cases::NewCase {
                tracking_id: &tid,
                subject: &email.subject,
                reporter_email: reporter.map(|r| r.address.as_str()),
                reporter_name: reporter_name(analysis),
                now,
            },
        )
        .await?;
        let row = match stored {
            None => store_message(tx, Some(case_id), MessageKind::Report, m).await?,
            Some(row) => {
                if !messages::adopt(tx, row, case_id, MessageKind::Report.as_str()).await? {
                    return Err(StoreError::Invalid(format!(
                        "message #{row} is not in the quarantine any more (another analyst acted on it); reload the page"
                    )));
                }
                row
            }
        };
        cases::set_analysis(tx, case_id, row, analysis).await?;
        self.add_participants(tx, case_id, email, now).await?;
        campaigns::record_report(
            tx,
            campaigns::NewReport {
                case_id,
                message_row: row,
                reporter: reporter.map(|r| r.address.as_str()),
                agency: analysis.fields.get("agency").and_then(|f| f.value.as_str()),
                // A report split out of a campaign, or opened from the quarantine,
                // stands alone: it does not draw later reports of its message away
                // from the campaign they belong to.
                fingerprints: if stored.is_none() {
                    &analysis.fingerprints
                } else {
                    &[]
                },
                now,
                opens: true,
            },
        )
        .await?;
        store::record_message_event(
            tx,
            case_id,
            row,
            now,
            EventKind::CaseOpened,
            serde_json::json!({
                "tracking_id": tid.to_string(),
                "subject": email.subject,
                "from": email.from.as_ref().map(|f| f.address.to_string()),
                "origin": origin.label(),
                "category": analysis.category,
                "category_reasons": analysis.category_reasons,
                "severity_suggested": analysis.severity_suggested,
                "severity_reasons": analysis.severity_reasons,
                "missing": analysis.missing,
                "notes": analysis.notes,
            }),
        )
        .await?;

        // Officials told of this case are also told when its sender could not be
        // authenticated (only when sender authentication is configured at all).
        self.record_unauthenticated(tx, case_id, row, email, now)
            .await?;
        let (ack, note) = self
            .acknowledge(
                tx,
                Reported {
                    case_id,
                    row,
                    tid: &tid,
                },
                analysis,
                None,
                now,
            )
            .await?;
        // The SCIO thread, reported flags and their escalations.
        self.notifier.after_report(tx, case_id, row, now).await?;
        Ok(IngestOutcome {
            message_row: row,
            duplicate: false,
            kind: MessageKind::Report,
            tracking_id: Some(tid.to_string()),
            new_case: true,
            acknowledgement: ack,
            note,
        })
    }

    /// Enqueues the acknowledgement, or records why there is none.
    pub(super) async fn acknowledge(
        &self,
        tx: &mut SqliteConnection,
        report: Reported<'_>,
        analysis: &Analysis,
        campaign: Option<&CampaignAck>,
        now: DateTime<Utc>,
    ) -> Result<(Option<i64>, Option<String>), StoreError> {
        let Reported { case_id, row, tid } = report;
        let email = &analysis.email;
        let class = &analysis.class;
        let Some(to) = email.reply_address().filter(|_| class.acknowledge) else {
            let why = class
                .reason
                .clone()
                .unwrap_or_else(|| "no address to answer".into());
            return suppress(tx, Some(case_id), row, now, why).await;
        };
        let limit = self.config.gateway.ack_rate_limit_per_hour as i64;
        let recent =
            outbox::count_recent(tx, to.address.as_str(), "ack", now - Duration::hours(1)).await?;
        if recent >= limit {
            let why = format!(
                "rate limit: {recent} acknowledgements to {} in the last hour (limit {limit}, [gateway] ack_rate_limit_per_hour)",
                to.address
            );
            return suppress(tx, Some(case_id), row, now, why).await;
        }

        // A campaign's later reporter is not asked for the case's details: the case
        // is the first report's, and what they saw is in their own message.
        let missing: &[String] = if campaign.is_some() {
            &[]
        } else {
            &analysis.missing
        };
        let ctx = serde_json::json!({
            "campaign_reports": campaign.map(|c| c.reports),
            "message": campaign.and_then(|c| c.known.as_deref()),
            "tracking_id": tid.to_string(),
            "original_subject": if email.subject.is_empty() { "(no subject)" } else { email.subject.as_str() },
            "reporter_name": reporter_name(analysis),
            "received_at": crate::outbound::template::local_time(now),
            "soc_name": self.config.gateway.name,
            "soc_phone": self.config.gateway.phone,
            "missing": missing_items(missing),
            "missing_block": crate::extract::fields::fill_in_block(
                &missing.iter().map(String::as_str).collect::<Vec<_>>()
            ),
        });
        self.enqueue_answer(
            tx,
            Answer {
                case_id: Some(case_id),
                row,
                kind: OutboxKind::Ack,
                template: "ack",
                ctx,
                to,
                email,
                queued_event: EventKind::AckQueued,
            },
            now,
        )
        .await
    }
}

/// The missing fields that the fill-in block asks for, with why each matters.
fn missing_items(missing: &[String]) -> Vec<serde_json::Value> {
    missing
        .iter()
        .filter_map(|m| {
            let block = crate::extract::fields::fill_in_block(&[m.as_str()]);
            let label = block.trim().trim_end_matches(':').trim_end_matches(" (yes/no/unknown)").to_string();
            (!label.is_empty()).then(|| {
                serde_json::json!({ "label": label, "why": crate::extract::fields::why_it_matters(m) })
            })
        })
        .collect()
}

/// The reporter's name as the report gives it: the name read from it ("O'Brien, Kevin
/// (DCF)" in a directory-style display name is "Kevin O'Brien"), else the display name.
fn reporter_name(analysis: &Analysis) -> Option<&str> {
    analysis
        .fields
        .get("reporter_name")
        .and_then(|f| f.value.as_str())
        .or_else(|| analysis.email.from.as_ref().and_then(|f| f.name.as_deref()))
}
