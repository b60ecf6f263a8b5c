//! The case events as a feed for the SIEM (`crate::siem`): read in sequence order
//! (`events.id`) after a sink's cursor, and the cursors themselves
//! (migrations/20261202300000).

use chrono::{DateTime, Utc};

use super::{ts, Store, StoreError};

/// One case event as the feed hands it on. `detail` is the stored JSON text as it is,
/// so a row that does not decode still goes out (the sink says so) instead of
/// stopping the feed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FeedEvent {
    pub seq: i64,
    pub at: String,
    pub case_id: i64,
    pub tracking_id: String,
    pub actor: String,
    pub kind: String,
    pub detail: String,
    pub message_row_id: Option<i64>,
    pub outbox_id: Option<i64>,
}

impl Store {
    /// Up to `limit` events after `after`, oldest first.
    pub async fn feed_after(&self, after: i64, limit: u32) -> Result<Vec<FeedEvent>, StoreError> {
        Ok(sqlx::query_as(
            "select e.id as seq, e.at, e.case_id, c.tracking_id, e.actor, e.kind,
                    e.detail_json as detail, e.message_row_id, e.outbox_id
             from events e join cases c on c.id = e.case_id
             where e.id > ? order by e.id limit ?",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The newest event's sequence number (0 when there is none).
    pub async fn last_event_seq(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar::<_, Option<i64>>("select max(id) from events")
                .fetch_one(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    /// Where `sink` stands, if it has ever handed anything on.
    pub async fn feed_cursor(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("select last_seq from feed_cursors where sink = ?")
                .bind(sink)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Every sink's cursor, by name.
    pub async fn feed_cursors(&self) -> Result<Vec<(String, i64, String)>, StoreError> {
        Ok(
            sqlx::query_as("select sink, last_seq, updated_at from feed_cursors order by sink")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Records that `sink` has handed on every event up to `seq`.
    pub async fn set_feed_cursor(
        &self,
        sink: &str,
        seq: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into feed_cursors (sink, last_seq, updated_at) values (?1, ?2, ?3)
             on conflict (sink) do update set last_seq = excluded.last_seq,
                                              updated_at = excluded.updated_at",
        )
        .bind(sink)
        .bind(seq)
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
