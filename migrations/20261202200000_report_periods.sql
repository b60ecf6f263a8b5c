-- The routine trends report: one row per report period queued, so a period's report is
-- never queued twice (across restarts and a second process alike).
create table report_periods (
    -- week | month
    period text not null,
    -- the period's first instant, RFC 3339 UTC text
    start text not null,
    outbox_id integer references outbox (id),
    created_at text not null,
    primary key (period, start)
);
