//! The periodic status updates: every open case whose SCIO thread has been quiet for
//! its severity's interval hears what changed since.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::describe::{describe, label};
use super::{Change, Notifier, NotifyError, Sent};
use crate::store::{self, notices, parse_ts, Store};

impl Notifier {
    /// Queues the periodic status updates due at `now`: every open case whose SCIO
    /// thread has been quiet for its severity's interval. The schedule is the outbox
    /// itself, read again in each update's transaction, so a restart or a second run
    /// sends nothing twice.
    pub async fn periodic(&self, store: &Store, now: DateTime<Utc>) -> Result<usize, NotifyError> {
        // The candidates from a read; each update in its own short write transaction
        // that checks again that it is still due (another run may have sent it).
        let candidates = {
            let mut conn = store.acquire().await?;
            notices::open_threads(&mut conn, None).await?
        };
        let mut queued = 0;
        for candidate in candidates {
            if self.update_due(&candidate, now).is_none() {
                continue;
            }
            let case_id = candidate.case_id;
            let mut tx = store.begin_write().await?;
            let Some(row) = notices::open_threads(&mut tx, Some(case_id)).await?.pop() else {
                continue;
            };
            let Some(last) = self.update_due(&row, now) else {
                continue;
            };
            let lines = changes_since(&mut tx, case_id, &store::ts(last)).await?;
            let change = Change {
                lines,
                cause: "periodic".into(),
                actor: "system".into(),
                ..Change::default()
            };
            match self.scio_update(&mut tx, case_id, &change, now).await {
                Ok(Sent::Queued { .. }) => {
                    tx.commit().await?;
                    queued += 1;
                }
                Ok(Sent::NoAudience(_)) => {}
                // One case's broken update must not hold back the others'.
                Err(e @ NotifyError::Compose { .. }) => {
                    let reason = e.to_string();
                    tracing::error!(case_id, %reason, "periodic update could not be written")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(queued)
    }

    /// When the thread last spoke, if it has been quiet for its severity's interval at
    /// `now` (an update is due).
    fn update_due(&self, t: &notices::OpenThread, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let severity = t
            .severity
            .as_deref()
            .or(t.severity_suggested.as_deref())
            .and_then(|s| s.parse().ok());
        parse_ts(&t.last_message_at)
            .filter(|last| *last + self.config.updates.interval(severity) <= now)
    }
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
