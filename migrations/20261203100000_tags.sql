-- Tags analysts put on cases ("campaign-invoice-2026", "vendor:crestline"), one row
-- per case and tag; the queue filters by them.
create table case_tags (
    case_id integer not null references cases (id),
    tag text not null,
    added_at text not null,
    added_by text not null,
    primary key (case_id, tag)
);
create index case_tags_by_tag on case_tags (tag, case_id);
