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
use crate::store::{self, cases, messages, outbox, StoreError};

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
        if let Some(reason) = self.unauthenticated_report(email) {
            store::record_message_event(
                tx,
                case_id,
                row,
                now,
                EventKind::SenderNotAuthenticated,
                serde_json::json!({ "reason": reason }),
            )
            .await?;
        }
        let (ack, note) = self
            .acknowledge(tx, case_id, row, &tid, analysis, now)
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
        case_id: i64,
        row: i64,
        tid: &TrackingId,
        analysis: &Analysis,
        now: DateTime<Utc>,
    ) -> Result<(Option<i64>, Option<String>), StoreError> {
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

        let ctx = serde_json::json!({
            "tracking_id": tid.to_string(),
            "original_subject": if email.subject.is_empty() { "(no subject)" } else { email.subject.as_str() },
            "reporter_name": reporter_name(analysis),
            "received_at": crate::outbound::template::local_time(now),
            "soc_name": self.config.gateway.name,
            "soc_phone": self.config.gateway.phone,
            "missing": missing_items(&analysis.missing),
            "missing_block": crate::extract::fields::fill_in_block(
                &analysis.missing.iter().map(String::as_str).collect::<Vec<_>>()
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
