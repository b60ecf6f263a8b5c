//! Reminders: open cases still missing required fields whose participants have been
//! silent since our last request.

use chrono::{DateTime, Duration, Utc};

use super::answer::Answer;
use super::Pipeline;
use crate::domain::{EventKind, OutboxKind};
use crate::extract::fields;
use crate::store::{self, cases, messages, StoreError};

impl Pipeline {
    /// Sends the reminders due at `now`: open cases still missing required fields whose
    /// participants have been silent since our last request for `after_hours` (a
    /// stranger's message does not count as an answer), at most `max`
    /// per case; never when the first message got no answer (auto-replies, bounces,
    /// rate limits) or the reporter's address is undeliverable. Returns how many.
    pub async fn send_reminders(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let cfg = &self.config.reminders;
        if cfg.max == 0 {
            return Ok(0);
        }
        let cutoff = store::ts(now - Duration::hours(cfg.after_hours as i64));
        // The candidates from a read; each reminder in its own short write transaction
        // that checks again that it is still due (another run may have sent it).
        let candidates = {
            let mut conn = self.store.acquire().await?;
            cases::reminders_due(&mut conn, &cutoff, None).await?
        };
        let mut sent = 0;
        for candidate in candidates {
            if candidate.reminders_sent >= cfg.max as i64 {
                continue;
            }
            let mut tx = self.store.begin_write().await?;
            let Some(c) = cases::reminders_due(&mut tx, &cutoff, Some(candidate.case_id))
                .await?
                .pop()
            else {
                continue;
            };
            let (case_id, count) = (c.case_id, c.reminders_sent);
            if count >= cfg.max as i64 {
                continue;
            }
            let Some(row) = messages::first_report(&mut tx, case_id).await? else {
                continue;
            };
            let Some(raw) = messages::raw(&mut tx, row).await? else {
                continue;
            };
            let email = crate::extract::parse_inbound(&raw);
            let Some(to) = email.reply_address() else {
                continue;
            };
            let names: Vec<&str> = c.missing.iter().map(String::as_str).collect();
            let ctx = serde_json::json!({
                "tracking_id": c.tracking_id,
                "original_subject": if c.subject.is_empty() { "your report" } else { &c.subject },
                "reporter_name": c.reporter_name,
                "soc_name": self.config.gateway.name,
                "missing_block": fields::fill_in_block(&names),
                "number": count + 1,
                "max": cfg.max,
            });
            let (id, _) = self
                .enqueue_answer(
                    &mut tx,
                    Answer {
                        case_id: Some(case_id),
                        row,
                        kind: OutboxKind::Reminder,
                        template: "reminder",
                        ctx,
                        to,
                        email: &email,
                        queued_event: EventKind::ReminderQueued,
                    },
                    now,
                )
                .await?;
            tx.commit().await?;
            sent += usize::from(id.is_some());
        }
        Ok(sent)
    }
}
