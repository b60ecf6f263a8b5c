//! The periodic status updates: every open case whose SCIO thread has been quiet for
//! its severity's interval hears what changed since.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::describe::{describe, label};
use super::{Change, Notifier, NotifyError, Sent};
use crate::store::{self, notices, parse_ts, Store};

impl Notifier {
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
