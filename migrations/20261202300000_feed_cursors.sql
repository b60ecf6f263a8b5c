-- The SIEM feed (src/siem.rs): per sink, the last event (events.id, the feed's
-- sequence number) it has handed on. Events are only ever appended, and SQLite commits
-- them in id order, so "every event after the cursor" misses none.
create table feed_cursors (
    sink text primary key,
    last_seq integer not null,
    updated_at text not null
);
