-- Campaigns: every report that opened or joined a case, with who sent it and from
-- which agency ("reported by N people in M agencies", reports per minute), and the
-- fingerprints of the suspect message each report forwarded, by which later reports
-- of the same phish join the case.
create table case_reports (
    message_row integer primary key references messages(id),
    case_id integer not null references cases(id),
    reporter text,
    agency text,
    received_at text not null
);
create index case_reports_case on case_reports(case_id, received_at);
create index case_reports_reporter on case_reports(case_id, reporter);
create index case_reports_agency on case_reports(case_id, agency collate nocase);

create table case_fingerprints (
    fingerprint text not null,
    case_id integer not null references cases(id),
    message_row integer not null references messages(id),
    seen_at text not null,
    primary key (fingerprint, message_row)
);
create index case_fingerprints_recent on case_fingerprints(fingerprint, seen_at);
create index case_fingerprints_case on case_fingerprints(case_id);

-- What later reporters of a handled campaign are told ("we know; delete it").
alter table cases add column campaign_answer text;
alter table cases add column report_count integer not null default 1;
