-- The dashboard's aggregates read cases by creation time and events by kind; these
-- indexes cover what they read, so a query never walks the cases' large JSON columns
-- (stored before the columns it needs) for every case.
create index cases_stats on cases (created_at, merged_into, category, agency, status, severity, severity_suggested);
create index events_kind on events (kind, case_id, at, actor);
